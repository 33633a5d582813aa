"""Tests for npc_lib.stats.kaplan_meier against R's survfit/survdiff/coxph (risk_groups section)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats.kaplan_meier import KaplanMeier, hazard_ratio, kaplan_meier, logrank_test

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
        (lambda: logrank_test([1, 2, 3], [0, 0, 0], [0, 1, 1]), "event has no events"),
        (lambda: KaplanMeier.fit([1, 2], [1, 0], tie_order="random"), "tie_order must be one of"),
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


# --------------------------------------------------------------------------- KaplanMeier variants


def _tied_sample(seed: int, n: int = 120):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 25, n).astype(float), rng.random(n) < 0.55


def _naive_km(time, event, reverse, tie_order):
    """Subject-by-subject product limit: the counted status leaves in the stated order."""
    counted = ~event if reverse else event
    first = "censored_first" if reverse else "events_first"
    out = []
    s = 1.0
    for u in np.unique(time):
        at = time == u
        n = np.sum(time >= u)
        d = np.sum(at & counted)
        other = np.sum(at & ~counted)
        m = n if tie_order == first else n - other
        if d:
            s *= 1.0 - d / m
        out.append(s)
    return np.array(out)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("tie_order", ["events_first", "censored_first"])
def test_kaplan_meier_fit_matches_naive_tie_orders(reverse, tie_order):
    time, event = _tied_sample(1)
    km = KaplanMeier.fit(time, event, reverse=reverse, tie_order=tie_order)
    np.testing.assert_allclose(km.survival, _naive_km(time, event, reverse, tie_order), rtol=1e-12)
    assert km.n_event.sum() == (np.sum(~event) if reverse else np.sum(event))


@pytest.mark.parametrize("reverse", [False, True])
def test_kaplan_meier_fit_matches_sksurv(reverse):
    from sksurv.nonparametric import kaplan_meier_estimator

    time, event = _tied_sample(2)
    x, s = kaplan_meier_estimator(event, time, reverse=reverse)   # reverse: prodlim's censoring KM
    km = KaplanMeier.fit(time, event, reverse=reverse)
    np.testing.assert_allclose(km.time, x)
    np.testing.assert_allclose(km.survival, s, rtol=1e-12)


def test_kaplan_meier_reverse_prodlim_order_at_a_tie():
    # t = 2: one event and one censoring; prodlim removes the event first: G = 1 - 1/(4 - 1)
    g = KaplanMeier.fit([1, 2, 2, 3, 4], [1, 1, 0, 1, 0], reverse=True)
    assert g.survival[1] == pytest.approx(2 / 3)
    naive = KaplanMeier.fit([1, 2, 2, 3, 4], [1, 1, 0, 1, 0], reverse=True, tie_order="censored_first")
    assert naive.survival[1] == pytest.approx(3 / 4)


def test_kaplan_meier_left_and_right_limits():
    km = KaplanMeier.fit([2, 4, 4, 6], [1, 1, 0, 1])
    s_right = km.survival_at([0, 2, 3, 4, 6, 7])
    s_left = km.survival_at([0, 2, 3, 4, 6, 7], left=True)
    np.testing.assert_allclose(s_right, [1, 0.75, 0.75, 0.5, 0, 0])
    np.testing.assert_allclose(s_left, [1, 1, 0.75, 0.75, 0.5, 0])
    assert km.var_log_at([1.0]).tolist() == [0.0] and np.isinf(km.var_log_at([6.0])[0])
    assert km.n_risk_at([0, 2, 4.5, 6, 7]).tolist() == [4, 4, 1, 1, 0]


def test_kaplan_meier_greenwood_matches_summary_se():
    d, _, _ = _load("lung")
    km = KaplanMeier.fit(d["time"], d["status"])
    tab = kaplan_meier(d["time"], d["status"], [100, 300, 500])
    np.testing.assert_allclose(tab["se"], tab["survival"] * np.sqrt(km.var_log_at([100, 300, 500])), rtol=1e-12)


def test_kaplan_meier_without_events_is_one():
    tab = kaplan_meier([1, 2, 3], [0, 0, 0], times=[0, 2, 5])
    assert tab["survival"].tolist() == [1.0, 1.0, 1.0] and tab["se"].tolist() == [0.0, 0.0, 0.0]


def test_kaplan_meier_quantile_as_r():
    # survfit median of 1..4 all events: S(2) = 0.5 exactly -> (2 + 3) / 2, as quantile.survfit
    assert KaplanMeier.fit([1, 2, 3, 4], [1, 1, 1, 1]).quantile(0.5) == 2.5
    assert KaplanMeier.fit([1, 2, 3, 4, 5], [1, 1, 1, 1, 1]).quantile(0.5) == 3.0
    assert np.isnan(KaplanMeier.fit([1, 2, 3], [1, 0, 0]).quantile(0.5))
    with pytest.raises(ValueError, match="p must lie in"):
        KaplanMeier.fit([1, 2], [1, 1]).quantile(1.0)
