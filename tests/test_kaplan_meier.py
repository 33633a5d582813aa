"""Tests for npc_lib.stats.kaplan_meier against R's survfit/survdiff/coxph (risk_groups section)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats.kaplan_meier import hazard_ratio, kaplan_meier, logrank_test

DATA = Path(__file__).parent / "data"
RTOL = 1e-6
KM_COLS = [("survival", "surv"), ("se", "std_err"), ("lower", "lower95"), ("upper", "upper95")]


@functools.lru_cache(maxsize=None)
def _load(ds: str):
    d = pd.read_csv(DATA / f"{ds}.csv")
    J = json.loads((DATA / f"{ds}.json").read_text())
    group = pd.read_csv(DATA / f"{ds}_derived.csv")["high_risk"].to_numpy()
    return d, J["risk_groups"], group


def _r_array(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("label", [0, 1, "all"])
def test_kaplan_meier_matches_r_summary_extend(ds, label):
    d, rg, group = _load(ds)
    if label == "all":
        mask, R = np.ones(len(d), bool), rg["km_overall"]["all"]
    else:
        mask, R = group == label, rg["km"][f"high_risk={label}"]
    km = kaplan_meier(d["time"][mask], d["status"][mask], R["time"])
    assert list(km.columns) == ["time", "survival", "se", "lower", "upper", "n_risk", "n_event", "beyond_last_time"]
    for ours, theirs in KM_COLS:
        want = _r_array(R[theirs])
        np.testing.assert_array_equal(np.isnan(km[ours]), np.isnan(want), err_msg=ours)   # NA where S = 0
        np.testing.assert_allclose(km[ours], want, rtol=RTOL, atol=1e-15, err_msg=ours)
    assert km["n_risk"].tolist() == R["n_risk"]
    assert km["n_event"].tolist() == R["n_event_since_prev_time"]
    flags = [f for f in R["beyond_last_time"] if f is not None]
    assert km["beyond_last_time"].tolist()[: len(flags)] == flags


def test_kaplan_meier_extend_carries_last_value():
    km = kaplan_meier([1, 2, 3, 4], [1, 0, 1, 0], times=[3.5, 4, 10, 100])
    assert km["beyond_last_time"].tolist() == [False, False, True, True]
    assert km["survival"].nunique() == 1 and km["se"].nunique() == 1
    assert km["n_risk"].tolist() == [1, 1, 0, 0]


def test_kaplan_meier_whole_curve_matches_lifelines():
    from lifelines import KaplanMeierFitter

    d, _, _ = _load("lung")
    km = kaplan_meier(d["time"], d["status"])
    kmf = KaplanMeierFitter().fit(d["time"], d["status"])
    sf = kmf.survival_function_.iloc[1:, 0]          # lifelines prepends t = 0
    np.testing.assert_allclose(km["time"], sf.index.to_numpy(float))
    np.testing.assert_allclose(km["survival"], sf.to_numpy(), rtol=1e-12)
    assert km["n_event"].sum() == d["status"].sum()
    assert np.all(np.diff(km["survival"]) <= 0)


def test_kaplan_meier_before_first_time_is_one():
    km = kaplan_meier([5, 6, 7], [1, 1, 0], times=[0, 4.9])
    assert km["survival"].tolist() == [1.0, 1.0] and km["se"].tolist() == [0.0, 0.0]
    assert km["lower"].tolist() == [1.0, 1.0] and km["upper"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_logrank_test_matches_r_survdiff(ds):
    d, rg, group = _load(ds)
    r = logrank_test(d["time"], d["status"], group)
    R = rg["logrank"]
    assert r.df == R["df"] == 1
    assert r.chi2 == pytest.approx(R["chisq"], rel=RTOL)
    assert r.p_value == pytest.approx(R["p"], rel=RTOL)
    np.testing.assert_allclose(r.observed.to_numpy(), list(R["observed"].values()))
    np.testing.assert_allclose(r.expected.to_numpy(), list(R["expected"].values()), rtol=RTOL)
    assert r.expected.sum() == pytest.approx(r.observed.sum())


def test_logrank_test_three_groups_matches_lifelines():
    from lifelines.statistics import multivariate_logrank_test

    d, _, _ = _load("veteran")
    g = np.where(d["cell_smallcell"] == 1, "small", np.where(d["cell_adeno"] == 1, "adeno", "other"))
    r = logrank_test(d["time"], d["status"], g)
    ll = multivariate_logrank_test(d["time"], g, d["status"])
    assert r.df == 2
    assert r.chi2 == pytest.approx(ll.test_statistic, rel=1e-10)
    assert r.p_value == pytest.approx(ll.p_value, rel=1e-8)
    assert list(r.observed.index) == ["adeno", "other", "small"]


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_hazard_ratio_matches_r_coxph(ds, ties):
    d, rg, group = _load(ds)
    r = hazard_ratio(d["time"], d["status"], group, ties=ties)
    R = rg["hr_high_vs_low"][ties]
    np.testing.assert_allclose([r.coef, r.se, r.hr, r.lower, r.upper, r.p_value, r.score_chi2],
                               [R["coef"], R["se"], R["hr"], R["lower95"], R["upper95"], R["p_wald"],
                                R["score_chisq"]], rtol=RTOL)
    assert r.logrank_p == pytest.approx(rg["logrank"]["p"], rel=RTOL)
    assert r.ties == ties


def test_hazard_ratio_accepts_boolean_group():
    d, _, group = _load("lung")
    a = hazard_ratio(d["time"], d["status"], group)
    b = hazard_ratio(d["time"], d["status"], group.astype(bool))
    assert a.hr == b.hr


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: kaplan_meier([1, 2, 3], [1, 0]), "time and event lengths differ"),
        (lambda: kaplan_meier([1, np.nan, 3], [1, 0, 1]), "time contains NaN"),
        (lambda: kaplan_meier([1, -2, 3], [1, 0, 1]), "time contains negative"),
        (lambda: kaplan_meier([1, 2, 3], [0, 0, 0]), "event has no events"),
        (lambda: kaplan_meier([1, 2, 3], [1, 0, 1], times=[3, 1]), "times must be sorted"),
        (lambda: logrank_test([1, 2, 3], [1, 0, 1], [1, 1, 1]), "group must have at least two levels"),
        (lambda: logrank_test([1, 2, 3], [1, 0, 1], [1, 0]), "group length 2 differs"),
        (lambda: hazard_ratio([1, 2, 3, 4], [1, 0, 1, 1], [0, 1, 2, 1]), "group must be 0/1"),
        (lambda: hazard_ratio([1, 2, 3, 4], [1, 0, 1, 1], [0, 1, 0, 1], ties="exact"), "ties must be one of"),
    ],
)
def test_survival_functions_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
