"""Tests for npc_lib.stats.calibration against rms calibrate(cmethod="KM") and simulations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from npc_lib.stats import calibration_curve
from npc_lib.stats.calibration import _cut2, _rms_cuts

DATA = Path(__file__).parent / "data"


def _load(ds: str):
    ref = json.loads((DATA / f"{ds}.json").read_text())
    df = pd.read_csv(DATA / f"{ds}.csv")
    der = pd.read_csv(DATA / f"{ds}_derived.csv")
    # rms: S(u | x) = S0(u) ** exp(X'beta - center), S0 from Survival(cph) at lp = 0
    s0 = ref["rms"]["nomogram"]["baseline_surv_rms_at_lp_centered_0"][0]
    pred = s0 ** np.exp(der.lp_cph_centered.to_numpy())
    return ref["rms"]["calibrate"], df.time.to_numpy(float), df.status.to_numpy(), pred


def _simulate(seed: int, n: int, optimism: float = 1.0):
    rng = np.random.default_rng(seed)
    lp = rng.normal(size=n)
    t_event = rng.exponential(1.0 / np.exp(lp))
    t_cens = rng.uniform(0.0, 6.0, size=n)
    time = np.minimum(t_event, t_cens)
    event = t_event <= t_cens
    pred = np.exp(-np.exp(lp) * 1.0 * optimism)   # optimism = 1: the true S(1 | lp)
    return time, event, pred


# --------------------------------------------------------------------------- rms reference


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_calibration_curve_matches_rms_calibrate(ds):
    cal_ref, time, event, pred = _load(ds)
    res = calibration_curve(time, event, pred, cal_ref["u"], m=cal_ref["m"])
    table = cal_ref["table"]
    assert len(res.table) == len(table["KM"])
    np.testing.assert_allclose(res.table.mean_predicted, table["mean.predicted"], rtol=1e-9)
    km_ref = np.array(table["KM"], dtype=float)
    np.testing.assert_allclose(res.table.km, km_ref, rtol=1e-9, atol=1e-15)
    se_ref = np.array([np.nan if v is None else v for v in table["std.err"]], dtype=float)
    np.testing.assert_allclose(res.table.std_err, se_ref, rtol=1e-9)   # NaN where R has NA
    np.testing.assert_allclose(res.table.index_orig, table["index.orig"], rtol=1e-9, atol=1e-15)
    # R's "n" column counts successful bootstrap repetitions (<= B), not subjects
    assert max(table["n"]) <= cal_ref["B"]
    assert res.table.n.sum() == time.size


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_calibration_curve_with_fit_cox_predictions_matches_rms(ds):
    # end to end: our Cox fit (efron) -> S(u | x) -> rms calibrate's apparent columns
    from npc_lib.stats import fit_cox

    cal_ref, time, event, _ = _load(ds)
    ref = json.loads((DATA / f"{ds}.json").read_text())
    df = pd.read_csv(DATA / f"{ds}.csv")
    fit = fit_cox(df, "time", "status", ref["fixed_covariates"], ties="efron")
    pred = np.asarray(fit.predict_survival(df, [cal_ref["u"]])).ravel()
    res = calibration_curve(time, event, pred, cal_ref["u"], m=cal_ref["m"])
    np.testing.assert_allclose(res.table.mean_predicted, cal_ref["table"]["mean.predicted"], rtol=1e-6)
    np.testing.assert_allclose(res.table.km, np.array(cal_ref["table"]["KM"], float), rtol=1e-9)


def test_calibration_curve_lung_groups_have_m_subjects():
    cal_ref, time, event, pred = _load("lung")
    res = calibration_curve(time, event, pred, cal_ref["u"], m=cal_ref["m"])
    assert res.table.n.tolist() == [42] * 5       # 210 subjects, m = 42, distinct predictions
    assert res.table.events.sum() == int(np.sum(event))


def test_rms_cuts_are_type7_quantiles_padded_with_0_and_1():
    pred = np.array([0.2, 0.9, 0.5, 0.4, 0.7, 0.1])
    cuts = _rms_cuts(pred, m=2)                    # g = 3 groups
    expected = np.quantile(np.r_[0, 1, pred], [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(cuts, expected)
    assert cuts[0] == 0.0 and cuts[-1] == 1.0


def test_cut2_left_closed_intervals_last_closed():
    x = np.array([0.1, 0.2, 0.3, 0.4, 1.0])
    code, cuts = _cut2(x, np.array([0.0, 0.2, 0.4, 1.0]))
    assert code.tolist() == [0, 1, 1, 2, 2]
    np.testing.assert_array_equal(cuts, [0.0, 0.2, 0.4, 1.0])


def test_cut2_extends_cuts_to_data_range():
    code, cuts = _cut2(np.array([0.5, 0.6, 0.95]), np.array([0.55, 0.9]))
    assert cuts.tolist() == [0.5, 0.55, 0.9, 0.95]
    assert code.tolist() == [0, 1, 2]


def test_calibration_curve_explicit_cuts():
    time, event, pred = _simulate(3, 400)
    res = calibration_curve(time, event, pred, 1.0, cuts=[0, 0.3, 0.6, 1])
    assert res.table.shape[0] == 3
    in_first = pred < 0.3
    assert res.table.n[0] == in_first.sum()
    assert res.table.mean_predicted[0] == pytest.approx(pred[in_first].mean())


def test_calibration_curve_interval_and_index():
    cal_ref, time, event, pred = _load("lung")
    t = calibration_curve(time, event, pred, 365, m=42).table
    z = sps.norm.isf(0.025)
    np.testing.assert_allclose(t.lower, t.km * np.exp(-z * t.std_err))
    np.testing.assert_allclose(t.upper, np.minimum(1, t.km * np.exp(z * t.std_err)))
    np.testing.assert_allclose(t.index_orig, t.km - t.mean_predicted)


# --------------------------------------------------------------------------- D'Agostino-Nam


def test_calibration_test_dagostino_nam_formula():
    cal_ref, time, event, pred = _load("lung")
    res = calibration_curve(time, event, pred, 365, m=42, test="dn")
    t = res.table
    p = 1 - t.mean_predicted
    chi2 = np.sum(t.n * (t.km - t.mean_predicted) ** 2 / (p * (1 - p)))
    assert res.test.method == "D'Agostino-Nam"
    assert res.test.statistic == pytest.approx(chi2, rel=1e-12)
    assert res.test.df == 4
    assert res.test.p_value == pytest.approx(sps.chi2.sf(chi2, 4), rel=1e-12)


def test_calibration_test_gnd_formula_uses_greenwood_variance():
    cal_ref, time, event, pred = _load("lung")
    res = calibration_curve(time, event, pred, 365, m=42)
    t = res.table
    chi2 = np.sum((t.km - t.mean_predicted) ** 2 / (t.km * t.std_err) ** 2)
    assert res.test.method == "Greenwood-Nam-D'Agostino"
    assert res.test.statistic == pytest.approx(chi2, rel=1e-12)
    assert res.test.p_value == pytest.approx(sps.chi2.sf(chi2, 4), rel=1e-12)


def test_calibration_test_gnd_drops_groups_with_km_zero():
    cal_ref, time, event, pred = _load("veteran")     # two groups with KM = 0 at 365 days
    res = calibration_curve(time, event, pred, 365, m=27)
    assert (res.table.km == 0).sum() == 2
    assert res.test.df == 2


@pytest.mark.parametrize("test", ["gnd", "dn"])
def test_calibration_test_calibrated_model_not_rejected(test):
    time, event, pred = _simulate(2024, 3000)
    res = calibration_curve(time, event, pred, 1.0, m=300, test=test)
    usable = res.table.km.between(0, 1, inclusive="neither") if test == "gnd" else res.table.km.notna()
    assert res.test.df == usable.sum() - 1 >= 8
    assert res.test.p_value > 0.05
    assert np.all(np.abs(res.table.index_orig) < 0.06)


@pytest.mark.parametrize("test", ["gnd", "dn"])
def test_calibration_test_miscalibrated_model_rejected(test):
    time, event, pred = _simulate(2024, 3000, optimism=0.5)   # predicts too much survival
    res = calibration_curve(time, event, pred, 1.0, m=300, test=test)
    assert res.test.p_value < 1e-6
    assert np.all(res.table.index_orig < 0)


def test_calibration_test_skips_groups_beyond_follow_up():
    time = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], float)
    event = np.array([1, 0, 1, 0, 0, 1, 0, 1, 0, 0], bool)
    pred = np.array([.05, .1, .15, .2, .25, .6, .65, .7, .75, .8])
    # the low group's follow-up (1..5, last censored) ends before t = 7: no KM there (R: NA)
    res = calibration_curve(time, event, pred, 7.0, cuts=[0, 0.5, 1])
    assert np.isnan(res.table.km[0]) and not np.isnan(res.table.km[1])
    assert res.test.df == 0 and np.isnan(res.test.statistic)
    # ending on an event, KM has reached 0 and is carried forward (groupkm)
    event[4] = True
    res = calibration_curve(time, event, pred, 7.0, cuts=[0, 0.5, 1])
    assert res.table.km[0] == 0.0 and np.isnan(res.table.std_err[0])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("pred,t,m,match", [
    ([0.5, 1.2, 0.3, 0.4], 2.0, 1, "predicted_survival must lie in"),
    ([0.5, np.nan, 0.3, 0.4], 2.0, 1, "predicted_survival contains NaN"),
    ([0.5, 0.3, 0.4], 2.0, 1, "predicted_survival length"),
    ([0.5, 0.2, 0.3, 0.4], 9.0, 1, "beyond the last follow-up"),
    ([0.5, 0.2, 0.3, 0.4], -1.0, 1, "t must be a positive"),
    ([0.5, 0.2, 0.3, 0.4], 2.0, 0, "m must be a positive integer"),
])
def test_calibration_curve_bad_input_raises(pred, t, m, match):
    with pytest.raises(ValueError, match=match):
        calibration_curve([1, 2, 3, 4], [1, 0, 1, 0], pred, t, m=m)


def test_calibration_curve_bad_test_raises():
    with pytest.raises(ValueError, match="test must be one of"):
        calibration_curve([1, 2, 3, 4], [1, 0, 1, 0], [.5, .2, .3, .4], 2.0, m=1, test="hl")


def test_calibration_curve_tied_cuts_raise():
    with pytest.raises(ValueError, match="tied quantile cut points"):
        calibration_curve(np.arange(1, 11), np.ones(10), np.full(10, 0.5), 5.0, m=2)
