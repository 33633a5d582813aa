"""Guarded per-model performance tables (npc_lib.stats.performance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cohort_factory import survival_frame

from npc_lib.stats import (calibration_curve, compare_concordance, concordance_index, decision_curve,
                           hazard_ratio, kaplan_meier, logrank_test, time_dependent_roc)
from npc_lib.stats.performance import (calibration_at, compare_models, concordance_table, decision_curve_table,
                                       time_dependent_roc_table)


def _cohort(n=200, seed=0, follow_up=80.0):
    return survival_frame(n, seed, follow_up)


@pytest.fixture(scope="module")
def cohort():
    return _cohort()


# --------------------------------------------------------------------------- discrimination


def test_concordance_table_agrees_with_concordance_index(cohort):
    tab = concordance_table(cohort.time, cohort.event, {"lp": cohort.lp, "a": cohort.a})
    for name in ("lp", "a"):
        r = concordance_index(cohort.time, cohort.event, cohort[name])
        row = tab.set_index("model").loc[name]
        assert row.c_index == pytest.approx(r.c_index) and row.lower == pytest.approx(r.lower)
        assert row.p_value == pytest.approx(r.p_value) and row.note == ""
    assert tab.events.iloc[0] == cohort.event.sum()


def test_concordance_table_constant_and_length_errors(cohort):
    tab = concordance_table(cohort.time, cohort.event, {"null": np.zeros(len(cohort))})
    assert np.isnan(tab.c_index.iloc[0]) and tab.note.iloc[0] == "risk is constant"
    with pytest.raises(ValueError, match=r"scores\['x'\]: length 3 differs"):
        concordance_table(cohort.time, cohort.event, {"x": [1, 2, 3]})
    with pytest.raises(ValueError, match="non-empty mapping"):
        concordance_table(cohort.time, cohort.event, {})


def test_compare_models_agrees_with_survcomp_port(cohort):
    r = compare_models(cohort.time, cohort.event, cohort.lp, cohort.b)
    ref = compare_concordance(cohort.time, cohort.event, cohort.lp, cohort.b)
    assert r["p_value"] == pytest.approx(ref.p_value) and r["c_new"] == pytest.approx(ref.c1)
    assert r["p_two_sided"] == pytest.approx(2 * min(ref.p_value, 1 - ref.p_value))
    assert r["note"] == ""


def test_time_dependent_roc_table_matches_and_flags_undefined(cohort):
    scores = {"lp": cohort.lp, "noise": cohort.noise}
    tab, curves = time_dependent_roc_table(cohort.time, cohort.event, scores, [36.0, 500.0])
    ref = time_dependent_roc(cohort.time, cohort.event, cohort.lp, 36.0)
    row = tab[(tab.model == "lp") & (tab.time == 36.0)].iloc[0]
    assert row.auc == pytest.approx(ref.auc) and row.cases == int(((cohort.time < 36) & (cohort.event == 1)).sum())
    assert tab[tab.time == 500.0].auc.isna().all()
    assert tab[tab.time == 500.0].note.str.contains("no controls").all()
    assert set(curves[36.0]) == {"lp", "noise"} and curves[500.0] == {}
    assert tab.set_index(["model", "time"]).loc[("lp", 36.0), "auc"] > tab.set_index(["model", "time"]).loc[
        ("noise", 36.0), "auc"]


# --------------------------------------------------------------------------- calibration, decision curves


def test_calibration_at_uses_n_over_groups(cohort):
    pred = np.exp(-np.exp(cohort.lp) * 36.0 / 60.0)
    cal, note = calibration_at(cohort.time, cohort.event, pred, 36.0, groups=4)
    ref = calibration_curve(cohort.time, cohort.event, pred, 36.0, m=len(cohort) // 4)
    assert note == "" and len(cal.table) == 4
    pd.testing.assert_frame_equal(cal.table, ref.table)


def test_calibration_at_falls_back_to_fewer_groups_and_reports_undefined():
    t = np.arange(1.0, 13.0)
    e = np.array([1, 0] * 6)
    pred = np.array([0.9] * 9 + [0.5, 0.4, 0.3])   # tied predictions merge quantile cuts
    cal, note = calibration_at(t, e, pred, 6.0, groups=6)
    assert cal is not None and "groups instead of 6" in note
    none, why = calibration_at(t, e, pred, 60.0, groups=3)
    assert none is None and "beyond the last follow-up" in why
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        calibration_at(t, e, pred, 6.0, groups=0)


def test_decision_curve_table_long_form(cohort):
    risk = 1 - np.exp(-np.exp(cohort.lp) * 36.0 / 60.0)
    th = [0.05, 0.1, 0.2]
    tab, note = decision_curve_table(cohort.time, cohort.event, {"m": risk}, 36.0, th)
    ref = decision_curve(cohort.time, cohort.event, risk, 36.0, th)
    assert note == "" and list(tab.model.unique()) == ["m", "Treat all", "Treat none"]
    assert np.allclose(tab[tab.model == "m"].net_benefit, ref.net_benefit)
    assert np.allclose(tab[tab.model == "Treat all"].net_benefit, ref.treat_all)
    empty, why = decision_curve_table(cohort.time, cohort.event, {"m": risk}, 1e4, th)
    assert empty.empty and "beyond" in why


def test_tables_reject_bad_survival_data(cohort):
    with pytest.raises(ValueError, match="time contains NaN"):
        concordance_table([1.0, np.nan], [1, 0], {"x": [1, 2]})


def test_tables_without_events_give_notes():
    tab = concordance_table([1, 2, 3], [0, 0, 0], {"x": [3, 2, 1]})
    assert np.isnan(tab.c_index.iloc[0]) and tab.note.iloc[0] == "event has no events"
