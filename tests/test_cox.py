"""Tests for npc_lib.stats.cox against R's survival::coxph (tests/data, R_ORACLE_README.md)."""

from __future__ import annotations

import functools
import json
import time as _time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npc_lib.stats.cox import CoxConvergenceWarning, CoxResult, fit_cox, univariate_cox

DATA = Path(__file__).parent / "data"
RTOL = 1e-6


@functools.lru_cache(maxsize=None)
def _load(ds: str):
    return (pd.read_csv(DATA / f"{ds}.csv"), json.loads((DATA / f"{ds}.json").read_text()),
            pd.read_csv(DATA / f"{ds}_derived.csv"))


def _naive_loglik(beta, t, e, X, ties):
    """Efron/Breslow log partial likelihood by explicit loops over event times."""
    eta = X @ beta
    ll = 0.0
    for tk in np.unique(t[e == 1]):
        dead = (t == tk) & (e == 1)
        d = int(dead.sum())
        ll += eta[dead].sum()
        s_risk, s_dead = np.exp(eta[t >= tk]).sum(), np.exp(eta[dead]).sum()
        for r in range(d):
            ll -= np.log(s_risk - (r / d if ties == "efron" else 0.0) * s_dead)
    return ll


def _tied_data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = np.ceil(rng.exponential(5 * np.exp(-X @ [0.8, -0.5, 0.0])))   # many ties
    e = (rng.random(n) < 0.75).astype(int)
    e[0] = 1
    d = pd.DataFrame(X, columns=["a", "b", "c"])
    d["t"], d["e"] = t, e
    return d


# --------------------------------------------------------------------------- against R


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_fit_cox_matches_r_coxph(ds, ties):
    d, J, _ = _load(ds)
    R = J["cox"][ties]
    cov = R["covariates"]
    r = fit_cox(d, "time", "status", cov, ties=ties)
    s = r.summary
    for ours, theirs in [("coef", "coef"), ("se", "se"), ("z", "z"), ("p", "p_wald"), ("hr", "hr"),
                         ("hr_lower", "hr_lower95"), ("hr_upper", "hr_upper95")]:
        np.testing.assert_allclose(s[ours].to_numpy(), [R[theirs][c] for c in cov], rtol=RTOL, err_msg=ours)
    np.testing.assert_allclose([r.loglik, r.loglik_null, r.aic, r.bic],
                               [R["loglik"], R["loglik_null"], R["AIC"], R["BIC_nevent"]], rtol=RTOL)
    for ours, theirs in [(r.lr_test, R["lr_test"]), (r.wald_test, R["wald_test"]), (r.score_test, R["score_test"])]:
        np.testing.assert_allclose([ours["chi2"], ours["p"]], [theirs["chisq"], theirs["p"]], rtol=RTOL)
        assert ours["df"] == theirs["df"]
    np.testing.assert_allclose(r.means.to_numpy(), [R["means"][c] for c in cov], rtol=1e-12)
    assert (r.n, r.n_events) == (R["n"], R["nevent"])
    assert r.converged and r.ties == ties and list(r.summary.index) == cov


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_linear_predictor_matches_r_uncentred_and_survival_centring(ds):
    d, J, dv = _load(ds)
    for ties in ("efron", "breslow"):
        r = fit_cox(d, "time", "status", J["fixed_covariates"], ties=ties)
        lp = r.linear_predictor(d)
        if ties == "efron":
            np.testing.assert_allclose(lp, dv["lp_efron_uncentered"], rtol=RTOL, atol=1e-9)
            np.testing.assert_allclose(lp - lp.mean(), dv["lp_efron_meancentered"], atol=1e-8)
        # predict(type="lp") centres at fit$means (0 for binary covariates)
        np.testing.assert_allclose(lp - r.means.to_numpy() @ r.params.to_numpy(),
                                   dv[f"lp_{ties}_survival_predict"], atol=1e-8)


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_baseline_survival_matches_survfit_and_rms(ds):
    d, J, _ = _load(ds)
    rms = J["rms"]
    nom = rms["nomogram"]
    r = fit_cox(d, "time", "status", J["fixed_covariates"])
    np.testing.assert_allclose(r.baseline_survival([365, 730], lp=rms["center"]),
                               nom["baseline_surv_rms_at_lp_centered_0"], rtol=RTOL)
    np.testing.assert_allclose(r.baseline_survival([365, 730], lp=nom["coxph_means_lp_uncentered"]),
                               nom["baseline_surv_survfit_at_coxph_means"], rtol=RTOL)
    g = nom["grid"]
    for t in (365, 730):
        got = np.array([r.baseline_survival([t], lp=lp)[0] for lp in g["lp_uncentered"]])
        np.testing.assert_allclose(got, g[f"S{t}_survfit"], rtol=RTOL)


def test_fit_cox_matches_lifelines_efron():
    from lifelines import CoxPHFitter

    d, J, _ = _load("lung")
    cov = J["fixed_covariates"]
    cph = CoxPHFitter().fit(d[["time", "status", *cov]], "time", "status")
    r = fit_cox(d, "time", "status", cov)
    np.testing.assert_allclose(r.params.to_numpy(), cph.params_[cov].to_numpy(), rtol=1e-4)  # lifelines stops earlier
    np.testing.assert_allclose(r.loglik, cph.log_likelihood_, rtol=1e-8)


# --------------------------------------------------------------------------- against a naive version


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_fit_cox_maximises_naive_partial_likelihood(ties):
    d = _tied_data()
    X, t, e = d[["a", "b", "c"]].to_numpy(), d["t"].to_numpy(), d["e"].to_numpy()
    r = fit_cox(d, "t", "e", ["a", "b", "c"], ties=ties)
    beta = r.params.to_numpy()
    assert r.loglik == pytest.approx(_naive_loglik(beta, t, e, X, ties), rel=1e-12)
    assert r.loglik_null == pytest.approx(_naive_loglik(np.zeros(3), t, e, X, ties), rel=1e-12)
    h = 1e-4
    grad = np.zeros(3)
    hess = np.zeros((3, 3))
    f = functools.partial(_naive_loglik, t=t, e=e, X=X, ties=ties)
    for i in range(3):
        ei = np.eye(3)[i] * h
        grad[i] = (f(beta + ei) - f(beta - ei)) / (2 * h)
        for j in range(3):
            ej = np.eye(3)[j] * h
            hess[i, j] = (f(beta + ei + ej) - f(beta + ei - ej) - f(beta - ei + ej) + f(beta - ei - ej)) / (4 * h * h)
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)
    np.testing.assert_allclose(r.cov.to_numpy(), np.linalg.inv(-hess), rtol=1e-4)


def test_fit_cox_efron_equals_breslow_without_ties():
    d = _tied_data()
    d["t"] = d["t"] + np.arange(len(d)) * 1e-3   # break all ties
    a = fit_cox(d, "t", "e", ["a", "b"], ties="efron")
    b = fit_cox(d, "t", "e", ["a", "b"], ties="breslow")
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-13)


@settings(max_examples=20, deadline=None)
@given(shift=st.floats(-50, 50), scale=st.floats(0.1, 10), seed=st.integers(0, 10_000))
def test_fit_cox_invariances(shift, scale, seed):
    d = _tied_data(seed % 7, n=40)
    base = fit_cox(d, "t", "e", ["a", "b"])
    moved = d.assign(a=d["a"] * scale + shift, t=np.exp(d["t"] / 10))   # affine x, monotone time
    r = fit_cox(moved, "t", "e", ["a", "b"])
    np.testing.assert_allclose(r.params.to_numpy(), base.params.to_numpy() / [scale, 1.0], rtol=1e-7, atol=1e-10)
    assert r.loglik == pytest.approx(base.loglik, rel=1e-9)


def test_predict_survival_is_baseline_power():
    d = _tied_data()
    r = fit_cox(d, "t", "e", ["a", "b"])
    times = [0.5, 2, 5, 100]
    S = r.predict_survival(d.iloc[:4], times)
    assert S.shape == (4, 4)
    lp = r.linear_predictor(d.iloc[:4])
    np.testing.assert_allclose(S, r.baseline_survival(times)[None, :] ** np.exp(lp)[:, None], rtol=1e-12)
    np.testing.assert_allclose(S[:, 0], 1.0)                       # before the first event
    assert np.all(np.diff(S, axis=1) <= 0)                          # non-increasing in t
    assert np.all(np.diff(r.baseline_survival(np.linspace(0, 30, 50))) <= 0)


def test_univariate_cox_rows_equal_single_fits():
    d, J, _ = _load("lung")
    cov = J["stepwise_start_covariates"]
    u = univariate_cox(d, "time", "status", cov)
    assert list(u.index) == cov
    assert list(u.columns) == ["n", "n_events", "coef", "se", "hr", "hr_lower", "hr_upper", "p"]
    for c in cov:
        s = fit_cox(d, "time", "status", [c]).summary.loc[c]
        np.testing.assert_allclose(u.loc[c, ["coef", "se", "hr", "hr_lower", "hr_upper", "p"]].to_numpy(float),
                                   s[["coef", "se", "hr", "hr_lower", "hr_upper", "p"]].to_numpy(float), rtol=1e-12)
    assert (u["n"] == 210).all() and (u["n_events"] == 148).all()


def test_fit_cox_null_model():
    d = _tied_data()
    r = fit_cox(d, "t", "e", [])
    assert isinstance(r, CoxResult) and r.covariates == ()
    assert r.loglik == r.loglik_null and r.aic == -2 * r.loglik_null
    assert r.summary.empty


def test_fit_cox_fast_on_large_data():
    rng = np.random.default_rng(0)
    n, p = 10_000, 10
    X = rng.normal(size=(n, p))
    d = pd.DataFrame(X, columns=[f"x{i}" for i in range(p)])
    d["t"] = np.round(rng.exponential(np.exp(-X @ np.linspace(-0.5, 0.5, p))), 2)
    d["e"] = rng.random(n) < 0.7
    start = _time.perf_counter()
    r = fit_cox(d, "t", "e", [f"x{i}" for i in range(p)])
    assert _time.perf_counter() - start < 1.0
    np.testing.assert_allclose(r.params.to_numpy(), np.linspace(-0.5, 0.5, p), atol=0.06)


def test_fit_cox_warns_on_infinite_coefficient():
    d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1] * 6, "x": [1, 1, 1, 0, 0, 0]})
    with pytest.warns(CoxConvergenceWarning, match="infinite"):
        fit_cox(d, "t", "e", ["x"])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.assign(a=np.where(d.index == 3, np.nan, d["a"])), "covariates contain NaN"),
        (lambda d: d.assign(t=np.where(d.index == 3, np.nan, d["t"])), "duration_col 't' contains NaN"),
        (lambda d: d.assign(t=-d["t"]), "duration_col 't' contains negative"),
        (lambda d: d.assign(e=0), "event_col 'e' has no events"),
        (lambda d: d.assign(e=2), "event_col 'e' must be 0/1"),
        (lambda d: d.assign(a=1.0), r"covariates are constant: \['a'\]"),
    ],
)
def test_fit_cox_rejects_bad_input(change, match):
    with pytest.raises(ValueError, match=match):
        fit_cox(change(_tied_data()), "t", "e", ["a", "b"])


def test_fit_cox_rejects_bad_arguments():
    d = _tied_data()
    with pytest.raises(ValueError, match="ties must be one of"):
        fit_cox(d, "t", "e", ["a"], ties="exact")
    with pytest.raises(ValueError, match=r"covariates not in df: \['zz'\]"):
        fit_cox(d, "t", "e", ["a", "zz"])
    with pytest.raises(ValueError, match="duration_col 'time' is not a column"):
        fit_cox(d, "time", "e", ["a"])
    with pytest.raises(ValueError, match="event_col 'status' is not a column"):
        fit_cox(d, "t", "status", ["a"])
    with pytest.raises(ValueError, match="df must be a pandas DataFrame"):
        fit_cox(d.to_numpy(), "t", "e", ["a"])
    with pytest.raises(ValueError, match="covariates is empty"):
        univariate_cox(d, "t", "e", [])
    r = fit_cox(d, "t", "e", ["a"])
    with pytest.raises(ValueError, match="times contains negative values"):
        r.baseline_survival([-1.0])


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_fit_cox_matches_scikit_survival(ties):
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    d = pd.read_csv(Path(__file__).parent / "data" / "veteran.csv")
    cov = ["trt_test", "karno", "diagtime", "age", "prior", "cell_smallcell", "cell_adeno", "cell_large"]
    peer = CoxPHSurvivalAnalysis(ties=ties, tol=1e-12, n_iter=200).fit(
        d[cov].astype(float), Surv.from_arrays(d["status"] == 1, d["time"]))
    ours = fit_cox(d, "time", "status", cov, ties=ties)
    np.testing.assert_allclose(ours.params.to_numpy(), peer.coef_, rtol=1e-7, atol=1e-10)


def test_fit_cox_singular_information_flags_the_column_instead_of_failing():
    from npc_lib.stats.cox import CoxConvergenceWarning

    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    d = pd.DataFrame({"t": rng.exponential(np.exp(-x)), "e": 1, "x": x, "x2": 2 * x})  # x2 aliased with x
    with pytest.warns(CoxConvergenceWarning, match=r"information matrix singular for covariates \['x2'\]"):
        fit = fit_cox(d, "t", "e", ["x", "x2"])
    assert np.isnan(fit.summary.loc["x2", "se"]) and np.isfinite(fit.summary.loc["x", "se"])
    # the kept block is the inverse information of the model without the aliased column
    alone = fit_cox(d, "t", "e", ["x"])
    assert fit.summary.loc["x", "se"] == pytest.approx(alone.summary.loc["x", "se"], rel=1e-6)
    assert fit.loglik == pytest.approx(alone.loglik, rel=1e-9)  # same fitted linear predictor
