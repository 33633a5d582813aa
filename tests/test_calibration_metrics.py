"""calibration_metrics (Austin et al. 2020, rcs method) against R (rms::rcs + coxph + survfit)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats import calibration_metrics, fit_cox
from npc_lib.stats.calibration_metrics import _rcs_basis, rcspline_knots

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_calibration_metrics_equal_r(ds):
    ref = json.loads((DATA / f"{ds}_extra.json").read_text())
    d = pd.read_csv(DATA / f"{ds}.csv")
    fit = fit_cox(d, "time", "status", ref["fixed_covariates"])
    for key, r in ref["calibration_rcs"].items():
        t = r["t"]
        risk = 1 - fit.predict_survival(d, [t])[:, 0]
        np.testing.assert_allclose(risk[:5], ref["calibration_hare"][key]["predicted_first5"], rtol=1e-8)
        m = calibration_metrics(d.time, d.status, risk, t)
        np.testing.assert_allclose(m.knots, r["knots"], rtol=1e-6)
        for k in ("ici", "e50", "e90", "emax"):
            assert getattr(m, k) == pytest.approx(r[k], rel=1e-6), k
        observed = np.empty(len(d))
        observed[m.order] = m.observed
        np.testing.assert_allclose(observed[:5], r["observed_first5"], rtol=1e-6)
        np.testing.assert_array_equal(m.predicted, np.sort(risk))


def _naive_basis(x, k):
    """Stone & Koo restricted cubic spline written out term by term (unscaled), then
    rescaled by (k_last - k_first)^2 as rms::rcs (norm = 2)."""
    cube = lambda v: max(v, 0.0) ** 3  # noqa: E731
    out = []
    for xi in x:
        row = [xi]
        for j in range(len(k) - 2):
            term = (cube(xi - k[j])
                    - cube(xi - k[-2]) * (k[-1] - k[j]) / (k[-1] - k[-2])
                    + cube(xi - k[-1]) * (k[-2] - k[j]) / (k[-1] - k[-2]))
            row.append(term / (k[-1] - k[0]) ** 2)
        out.append(row)
    return np.array(out)


def test_rcs_basis_matches_naive():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    for k in (np.array([-1.0, 0.1, 1.2]), np.array([-1.5, -0.5, 0.0, 0.7, 1.4])):
        np.testing.assert_allclose(_rcs_basis(x, k), _naive_basis(x, k), rtol=1e-12, atol=1e-14)


def test_rcspline_knots_quantiles_and_small_n_rule():
    x = np.random.default_rng(1).normal(size=150)
    np.testing.assert_allclose(rcspline_knots(x), np.quantile(x, [0.1, 0.5, 0.9]))
    y = x[:60]
    ys = np.sort(y)
    np.testing.assert_allclose(rcspline_knots(y), [ys[4], np.median(y), ys[-5]])
    np.testing.assert_allclose(rcspline_knots(x, nk=5), np.quantile(x, [0.05, 0.275, 0.5, 0.725, 0.95]))


def test_rcspline_knots_heavy_tie_at_an_end():
    # Hmisc: >= 5 % at the lowest value (and no interior value that frequent): the next
    # value up becomes the first knot, the other two are the 0.5 and 0.9 quantiles of the
    # values above it
    x = np.concatenate([np.zeros(20), np.arange(1.0, 181.0)])
    rest = x[x > 1.0]
    expected = np.concatenate([[1.0], np.quantile(rest, [0.5, 0.9])])
    np.testing.assert_allclose(rcspline_knots(x), expected)


def test_rcspline_knots_few_unique_values_warns():
    with pytest.warns(RuntimeWarning, match="unique values"):
        k = rcspline_knots(np.repeat([1.0, 2.0, 3.0, 4.0, 5.0], 5))
    np.testing.assert_array_equal(k, [2.0, 3.0, 4.0])


def test_calibration_metrics_perfect_model_beats_miscalibrated():
    rng = np.random.default_rng(3)
    n = 1500
    x = rng.normal(size=n)
    t_ev, t_c = rng.exponential(np.exp(-x)), rng.exponential(3.0, n)
    time, event = np.minimum(t_ev, t_c), t_ev <= t_c
    true = 1 - np.exp(-np.exp(x) * 0.8)
    good = calibration_metrics(time, event, true, 0.8)
    under = calibration_metrics(time, event, 1 - np.exp(-np.exp(x) * 0.8 * 0.4), 0.8)
    assert good.ici < 0.03 < under.ici
    assert good.e50 <= good.e90 <= good.emax
    assert np.all(np.diff(good.predicted) >= 0) and good.observed.shape == (n,)


@pytest.mark.parametrize("kwargs, match", [
    (dict(time=[1, np.nan, 3, 4, 5, 6, 7], t=3), "time"),
    (dict(time=[1, -2, 3, 4, 5, 6, 7], t=3), "time"),
    (dict(event=[0] * 7, t=3), "event"),
    (dict(predicted_risk=[.1, .2, .3], t=3), "predicted_risk"),
    (dict(predicted_risk=[.1, .2, .3, .4, .5, .6, 1.0], t=3), "predicted_risk"),
    (dict(predicted_risk=[.1, .2, np.nan, .4, .5, .6, .7], t=3), "predicted_risk"),
    (dict(t=99), "t"),
    (dict(t=3, method="hare"), "hare"),
    (dict(t=3, method="loess"), "method"),
])
def test_calibration_metrics_bad_input_raises(kwargs, match):
    args = dict(time=[1, 2, 3, 4, 5, 6, 7], event=[1, 0, 1, 1, 0, 1, 1],
                predicted_risk=[.1, .2, .3, .4, .5, .6, .7])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        calibration_metrics(**args)


def test_calibration_metrics_match_naive_pipeline_with_ties():
    # Efron-type baseline (survfit.coxph) by loops over the risk sets, at the fitted beta
    rng = np.random.default_rng(6)
    n = 150
    x = rng.normal(size=n)
    time = np.ceil(rng.exponential(8 * np.exp(-x)))  # tied times
    event = rng.uniform(size=n) < 0.7
    risk = np.round(1 - np.exp(-0.1 * np.exp(0.9 * x) * 6), 3)  # tied predictions
    t = 6.0
    m = calibration_metrics(time, event, risk, t)
    cll = np.log(-np.log(1 - risk))
    basis = _naive_basis(cll, rcspline_knots(cll))
    d = pd.DataFrame(basis, columns=["b0", "b1"]).assign(time=time, event=event.astype(int))
    beta = fit_cox(d, "time", "event", ["b0", "b1"]).params.to_numpy()
    lp = basis @ beta
    H = 0.0
    for s in np.unique(time[event & (time <= t)]):
        at, dead = time >= s, event & (time == s)
        s0, d0, k = np.exp(lp[at]).sum(), np.exp(lp[dead]).sum(), dead.sum()
        H += sum(1 / (s0 - r / k * d0) for r in range(k))
    observed = 1 - np.exp(-H * np.exp(lp))
    err = np.abs(risk - observed)
    assert m.ici == pytest.approx(err.mean(), rel=1e-10)
    assert m.e50 == pytest.approx(np.median(err), rel=1e-10)
    assert m.e90 == pytest.approx(np.quantile(err, 0.9), rel=1e-10)
    assert m.emax == pytest.approx(err.max(), rel=1e-10)
