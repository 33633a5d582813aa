"""proportional_hazards_test / scaled_schoenfeld_residuals against survival::cox.zph (R) and a
literal transcription of survival's C routine zph1 (O(n^2) risk-set loops)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from npc_lib.stats import fit_cox, proportional_hazards_test, scaled_schoenfeld_residuals

DATA = Path(__file__).parent / "data"


def _naive_zph(df, covs, transform, ties):
    """zph1 as loops over distinct death times with explicit risk sets."""
    time = df["t"].to_numpy(float)
    event = df["e"].to_numpy().astype(bool)
    X = df[covs].to_numpy(float)
    X = X - X.mean(axis=0)
    beta = fit_cox(df, "t", "e", covs, ties=ties).params.to_numpy()
    p = len(covs)
    if transform == "km":
        tt = np.empty(time.size)
        for i, s in enumerate(time):
            surv = 1.0
            for u in np.unique(time[event]):
                if u < s:
                    surv *= 1 - np.sum(event & (time == u)) / np.sum(time >= u)
            tt[i] = 1 - surv
    else:
        tt = time.copy()
    gt = tt - tt[event].mean()
    risk = np.exp(X @ beta)
    u = np.zeros(2 * p)
    imat = np.zeros((2 * p, 2 * p))
    order = np.argsort(time, kind="stable")
    schoen = {}
    for s in np.unique(time[event]):
        dead = np.flatnonzero(event & (time == s))
        at = time >= s
        later = at & ~(event & (time == s))
        d = dead.size
        g = gt[dead[0]]
        fr = [(k + 1) / d for k in range(d)] if ties == "efron" else [1.0] * d
        means = []
        for f in fr:
            wts = risk * later + f * risk * np.isin(np.arange(time.size), dead)
            den = wts.sum()
            m = (wts[:, None] * X).sum(0) / den
            v = (wts[:, None, None] * X[:, :, None] * X[:, None, :]).sum(0) / den - np.outer(m, m)
            means.append(m)
            z = np.concatenate([np.eye(p), g * np.eye(p)])
            imat += z @ v @ z.T
        for i in dead:
            u[:p] += X[i]
            u[p:] += g * X[i]
        u[:p] -= np.sum(means, axis=0)
        u[p:] -= g * np.sum(means, axis=0)
        for i in dead:
            schoen[i] = X[i] - np.mean(means, axis=0)
    chisq = []
    for j in range(p):
        sub = list(range(p)) + [p + j]
        uu = np.concatenate([np.zeros(p), u[p + j:p + j + 1]])
        chisq.append(uu @ np.linalg.solve(imat[np.ix_(sub, sub)], uu))
    uu = np.concatenate([np.zeros(p), u[p:]])
    chisq.append(uu @ np.linalg.solve(imat, uu))
    ev_order = [i for i in order if event[i]]
    vmean = imat[:p, :p] / event.sum()
    y = np.array([schoen[i] for i in ev_order]) @ np.linalg.inv(vmean) + beta
    return np.array(chisq), tt[ev_order], y


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("transform", ["km", "identity"])
def test_proportional_hazards_test_equals_r(ds, transform):
    ref = json.loads((DATA / f"{ds}_extra.json").read_text())
    d = pd.read_csv(DATA / f"{ds}.csv")
    z = proportional_hazards_test(d, "time", "status", ref["fixed_covariates"], transform=transform)
    r = ref["cox_zph"][transform]
    assert z.index.tolist() == r["covariate"]
    np.testing.assert_allclose(z.chisq, r["chisq"], rtol=1e-6)
    np.testing.assert_array_equal(z.df, r["df"])
    np.testing.assert_allclose(z.p, r["p"], rtol=1e-6)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("transform", ["km", "identity"])
def test_proportional_hazards_matches_naive_with_ties(ties, transform):
    rng = np.random.default_rng(7)
    n = 80
    d = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 2, n).astype(float)})
    d["t"] = np.ceil(rng.exponential(6 * np.exp(-0.5 * d.a - 0.4 * d.b)))  # many tied times
    d["e"] = (rng.uniform(size=n) < 0.7).astype(int)
    chisq, x, y = _naive_zph(d, ["a", "b"], transform, ties)
    z = proportional_hazards_test(d, "t", "e", ["a", "b"], transform=transform, ties=ties)
    np.testing.assert_allclose(z.chisq, chisq, rtol=1e-9)
    np.testing.assert_allclose(z.p, sps.chi2.sf(chisq, [1, 1, 2]), rtol=1e-8)
    r = scaled_schoenfeld_residuals(d, "t", "e", ["a", "b"], transform=transform, ties=ties)
    np.testing.assert_allclose(r.x, x, rtol=1e-12)
    np.testing.assert_allclose(r.y.to_numpy(), y, rtol=1e-9, atol=1e-9)
    assert r.time.tolist() == sorted(d.t[d.e == 1].tolist())
    assert list(r.y.columns) == ["a", "b"] and r.var.shape == (2, 2)


def test_proportional_hazards_detects_time_varying_effect():
    rng = np.random.default_rng(11)
    n = 600
    x = rng.integers(0, 2, n).astype(float)
    # hazard ratio 3 before t = 0.5, 1/3 after: strongly non-proportional
    u = rng.exponential(size=n)
    h1 = np.where(x == 1, 3.0, 1.0)
    h2 = np.where(x == 1, 1 / 3, 1.0)
    t = np.where(u < 0.5 * h1, u / h1, 0.5 + (u - 0.5 * h1) / h2)
    d = pd.DataFrame({"t": t, "e": 1, "x": x})
    assert proportional_hazards_test(d, "t", "e", ["x"]).loc["x", "p"] < 1e-6
    d["x"] = rng.integers(0, 2, n).astype(float)  # unrelated covariate: no evidence
    assert proportional_hazards_test(d, "t", "e", ["x"]).loc["x", "p"] > 1e-3


def test_proportional_hazards_log_and_rank_transforms():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"x": rng.normal(size=100)})
    d["t"], d["e"] = rng.exponential(np.exp(-d.x)), 1
    for tr in ("log", "rank"):
        z = proportional_hazards_test(d, "t", "e", ["x"], transform=tr)
        assert np.isfinite(z.chisq).all()
    r = scaled_schoenfeld_residuals(d, "t", "e", ["x"], transform="rank")
    np.testing.assert_allclose(r.x, sps.rankdata(d.t)[np.argsort(d.t)])


@pytest.mark.parametrize("kwargs, match", [
    (dict(covariates=["x"], transform="loglog"), "transform"),
    (dict(covariates=["x"], ties="exact"), "ties"),
    (dict(covariates=[]), "covariates"),
    (dict(covariates=["nope"]), "covariates"),
])
def test_proportional_hazards_bad_arguments_raise(kwargs, match):
    d = pd.DataFrame({"t": [1.0, 2, 3, 4, 5, 6], "e": [1, 1, 0, 1, 1, 0], "x": [3.0, 1, 2, 2, 0, 1]})
    with pytest.raises(ValueError, match=match):
        proportional_hazards_test(d, "t", "e", **kwargs)


@pytest.mark.parametrize("t, e, match", [
    ([1.0, np.nan, 3, 4, 5, 6], [1, 1, 0, 1, 1, 0], "duration_col"),
    ([1.0, -2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 0], "duration_col"),
    ([1.0, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0], "event_col"),
])
def test_proportional_hazards_bad_data_raise(t, e, match):
    d = pd.DataFrame({"t": t, "e": e, "x": [3.0, 1, 2, 2, 0, 1]})
    with pytest.raises(ValueError, match=match):
        scaled_schoenfeld_residuals(d, "t", "e", ["x"])


def test_proportional_hazards_treats_near_equal_times_as_ties():
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"t": np.ceil(rng.exponential(10, 120)), "x": rng.normal(size=120)})
    d["e"] = (rng.uniform(size=120) < 0.8).astype(int)
    jittered = d.assign(t=d.t * (1 + 1e-13 * rng.integers(0, 2, 120)))
    a = proportional_hazards_test(d, "t", "e", ["x"])
    b = proportional_hazards_test(jittered, "t", "e", ["x"])
    np.testing.assert_allclose(b.chisq, a.chisq, rtol=1e-10)
