"""Tests of npc_lib.stats.prediction_performance and its plot."""

import numpy as np
import pytest

from npc_lib.plots.smoothed_calibration import plot_smoothed_calibration
from npc_lib.stats import brier_score, calibration_metrics, integrated_brier_score, weighted_concordance
from npc_lib.stats.prediction_performance import prediction_performance


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=250)
    te, tc = rng.exponential(40 * np.exp(-x)), rng.uniform(20, 90, 250)
    t, e = np.minimum(te, tc), (te <= tc).astype(int)
    grid = np.linspace(60 / 10, 60, 10)
    surv = lambda ts: np.exp(-np.outer(np.exp(x), np.asarray(ts) / 40))  # the true S(t | x)
    return t, e, x, surv, grid


def test_prediction_performance_equals_the_single_measures(data):
    t, e, x, surv, grid = data
    p = prediction_performance(t, e, x, surv([36, 60]), [36, 60], grid_surv=surv(grid), grid=grid, n_boot=30)
    est = p.table.set_index("measure")["estimate"]
    assert est["Uno's C"] == pytest.approx(weighted_concordance(t, e, x, timewt="n/G2", ymax=60).c_index)
    b = brier_score(t, e, surv([36, 60]), [36, 60])
    assert est["Brier at 36"] == pytest.approx(b.brier[0]) and est["IPA at 60"] == pytest.approx(b.ipa[1])
    assert est["integrated Brier to 60"] == pytest.approx(integrated_brier_score(t, e, surv(grid), grid))
    assert est["ICI at 60"] == pytest.approx(calibration_metrics(t, e, 1 - surv([60])[:, 0], 60).ici)
    assert (p.table["lower"] <= p.table["upper"]).all()  # percentile CIs; a biased measure may lie outside
    assert set(p.curves) == {36.0, 60.0}


def test_prediction_performance_deterministic_and_seeded(data):
    t, e, x, surv, _ = data
    a = prediction_performance(t, e, x, surv([36, 60]), [36, 60], n_boot=15, seed=3)
    b = prediction_performance(t, e, x, surv([36, 60]), [36, 60], n_boot=15, seed=3)
    c = prediction_performance(t, e, x, surv([36, 60]), [36, 60], n_boot=15, seed=4)
    assert a.table.equals(b.table) and not a.table.equals(c.table)


def test_prediction_performance_bad_input(data):
    t, e, x, surv, grid = data
    with pytest.raises(ValueError, match=r"surv must have shape \(250, 2\)"):
        prediction_performance(t, e, x, surv([36]), [36, 60])
    with pytest.raises(ValueError, match="grid must end at the last of times"):
        prediction_performance(t, e, x, surv([36, 60]), [36, 60], grid=[10, 50], grid_surv=surv([10, 50]))
    with pytest.raises(ValueError, match="risk"):
        prediction_performance(t, e, np.full(250, np.nan), surv([36, 60]), [36, 60])


def test_plot_smoothed_calibration(data):
    t, e, x, surv, _ = data
    p = prediction_performance(t, e, x, surv([36, 60]), [36, 60], n_boot=5)
    fig = plot_smoothed_calibration({f"{k:g} months": c for k, c in p.curves.items()})
    assert fig.data[0].name.startswith("36 months (ICI ") and fig.data[-1].name == "perfect calibration"
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_smoothed_calibration({})


def test_percentile_bootstrap_ci_ignores_undefined_components():
    from npc_lib.stats import percentile_bootstrap_ci

    calls = iter(range(10_000))

    def metric(x):
        k = next(calls)
        return np.array([x.mean(), np.nan if k % 3 == 1 else x.max()])

    ci = percentile_bootstrap_ci(metric, np.arange(50.0), n_boot=60, seed=2)
    assert np.all(np.isfinite(ci.lower)) and np.all(np.isfinite(ci.upper))
    assert ci.n_failed == 0 and ci.replicates.shape == (60, 2)
