"""Tests for npc_lib.stats.decision_curve (net benefit from Kaplan-Meier at t)."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from npc_lib.stats import decision_curve


def _binary_net_benefit(time, risk, t, pt):
    """Vickers' binary formula: events by t are the positives (no censoring before t)."""
    n = len(time)
    treated = risk >= pt
    tp = np.sum(treated & (time <= t))
    fp = np.sum(treated & (time > t))
    return tp / n - fp / n * pt / (1 - pt)


def test_decision_curve_equals_binary_formula_without_censoring():
    rng = np.random.default_rng(0)
    n = 300
    risk = rng.uniform(size=n)
    time = rng.exponential(1.0 / (0.2 + risk))
    event = np.ones(n, bool)
    t = 1.5
    thresholds = np.linspace(0.0, 0.9, 19)
    dc = decision_curve(time, event, risk, t, thresholds)
    expected = [_binary_net_benefit(time, risk, t, pt) for pt in thresholds]
    np.testing.assert_allclose(dc.net_benefit, expected, atol=1e-12)
    prevalence = np.mean(time <= t)
    np.testing.assert_allclose(dc.treat_all, prevalence - (1 - prevalence) * thresholds / (1 - thresholds),
                               atol=1e-12)
    np.testing.assert_array_equal(dc.treat_none, 0.0)


def test_decision_curve_small_example_by_hand():
    # 8 patients, no censoring; t = 4.5: events by t are patients 1-4
    time = np.array([1, 2, 3, 4, 5, 6, 7, 8], float)
    event = np.ones(8, bool)
    risk = np.array([0.9, 0.3, 0.8, 0.2, 0.7, 0.1, 0.6, 0.05])
    dc = decision_curve(time, event, risk, 4.5, [0.25, 0.5])
    # pt = 0.25: treated {1,2,3,5,7}: TP = 3 (1,2,3), FP = 2 (5,7); NB = 3/8 - 2/8 * 1/3
    # pt = 0.5: treated {1,3,5,7}: TP = 2, FP = 2; NB = 2/8 - 2/8 * 1
    np.testing.assert_allclose(dc.net_benefit, [3 / 8 - 2 / 8 / 3, 0.0], atol=1e-15)
    np.testing.assert_allclose(dc.treat_all, [0.5 - 0.5 / 3, 0.0], atol=1e-15)
    assert dc.n_treated.tolist() == [5, 4]
    np.testing.assert_allclose(dc.tp_rate, [3 / 8, 2 / 8])
    np.testing.assert_allclose(dc.fp_rate, [2 / 8, 2 / 8])


def test_decision_curve_km_risk_among_treated_matches_lifelines():
    rng = np.random.default_rng(1)
    n = 400
    risk = rng.uniform(size=n)
    t_event = rng.exponential(1.0 / (0.2 + risk))
    t_cens = rng.uniform(0, 4, size=n)
    time, event = np.minimum(t_event, t_cens), t_event <= t_cens
    thresholds = [0.05, 0.2, 0.4, 0.6]
    dc = decision_curve(time, event, risk, 1.0, thresholds)
    for row, pt in zip(dc.itertuples(), thresholds):
        sel = risk >= pt
        km = KaplanMeierFitter().fit(time[sel], event[sel])
        s = float(km.survival_function_at_times(1.0).iloc[0])
        assert row.risk_treated == pytest.approx(1 - s, rel=1e-10)
        assert row.net_benefit == pytest.approx(
            (1 - s) * sel.mean() - s * sel.mean() * pt / (1 - pt), rel=1e-10)
    km_all = KaplanMeierFitter().fit(time, event)
    s_all = float(km_all.survival_function_at_times(1.0).iloc[0])
    np.testing.assert_allclose(dc.treat_all, (1 - s_all) - s_all * np.array(thresholds) / (1 - np.array(thresholds)))


def test_decision_curve_threshold_zero_equals_treat_all():
    rng = np.random.default_rng(2)
    time = rng.exponential(size=100)
    event = rng.random(100) < 0.7
    dc = decision_curve(time, event, rng.uniform(size=100), 0.8, [0.0])
    assert dc.net_benefit[0] == pytest.approx(dc.treat_all[0], rel=1e-12)
    assert dc.n_treated[0] == 100


def test_decision_curve_nobody_treated_gives_zero():
    dc = decision_curve([1, 2, 3, 4], [1, 0, 1, 0], [0.1, 0.2, 0.3, 0.4], 2.5, [0.9])
    assert dc.n_treated[0] == 0 and dc.net_benefit[0] == 0.0


def test_decision_curve_treated_followup_ending_before_t_is_nan():
    # the treated (highest risks) are all followed less than t, the last one censored
    time = [1, 2, 3, 4, 8, 9]
    event = [1, 1, 0, 0, 1, 0]
    risk = [0.9, 0.8, 0.7, 0.6, 0.2, 0.1]
    dc = decision_curve(time, event, risk, 5.0, [0.5, 0.15])
    assert np.isnan(dc.net_benefit[0]) and np.isfinite(dc.net_benefit[1])


@pytest.mark.parametrize("risk,t,thresholds,match", [
    ([0.1, 1.2, 0.3, 0.4], 2.0, [0.1], "predicted_risk_at_t must lie in"),
    ([0.1, 0.2, 0.3, 0.4], 2.0, [1.0], "thresholds must lie in"),
    ([0.1, 0.2, 0.3, 0.4], 2.0, [np.nan], "thresholds must lie in"),
    ([0.1, 0.2, 0.3, 0.4], 7.0, [0.1], "beyond the last follow-up"),
    ([0.1, 0.2, 0.3], 2.0, [0.1], "predicted_risk_at_t length"),
])
def test_decision_curve_bad_input_raises(risk, t, thresholds, match):
    with pytest.raises(ValueError, match=match):
        decision_curve([1, 2, 3, 4], [1, 0, 1, 0], risk, t, thresholds)
