"""Tests for npc_lib.stats.endpoints against R (survfit/survdiff/coxph on lung and veteran) and naive versions."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats.endpoints import at_risk_table, compare_risk_groups, endpoint_table, km_curve_table
from npc_lib.stats.kaplan_meier import hazard_ratio, kaplan_meier, logrank_test

DATA = Path(__file__).parent / "data"
RTOL = 1e-6


@functools.lru_cache(maxsize=None)
def _load(ds: str):
    d = pd.read_csv(DATA / f"{ds}.csv")
    rg = json.loads((DATA / f"{ds}.json").read_text())["risk_groups"]
    group = pd.read_csv(DATA / f"{ds}_derived.csv")["high_risk"].to_numpy()
    return pd.DataFrame({"group": group, "os_time": d["time"], "os_event": d["status"]}), rg


def _r(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _twin_like(seed: int = 0, n: int = 240) -> pd.DataFrame:
    """Two cohorts, four endpoints from one latent risk, as the twin's clinical table."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    d = pd.DataFrame({"cohort": np.where(rng.random(n) < 0.7, "train", "test"), "group": (risk > 0.3).astype(int)})
    censor = rng.uniform(30, 90, n)
    for ep, scale in (("dfs", 80), ("os", 160), ("dmfs", 120), ("lrfs", 200)):
        t = rng.exponential(scale * np.exp(-0.9 * risk))
        d[f"{ep}_time"] = np.round(np.minimum(t, censor), 1)
        d[f"{ep}_event"] = (t <= censor).astype(int)
    return d


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_endpoint_table_matches_r(ds, ties):
    d, rg = _load(ds)
    times = rg["km"]["high_risk=0"]["time"]
    row = endpoint_table(d, ["os"], by=None, times=times, ties=ties).iloc[0]
    R = rg["hr_high_vs_low"][ties]
    for ours, theirs in (("coef", "coef"), ("se", "se"), ("hr", "hr"), ("hr_lower", "lower95"),
                         ("hr_upper", "upper95"), ("p", "p_wald")):
        assert row[ours] == pytest.approx(R[theirs], rel=RTOL), ours
    assert row["logrank_chi2"] == pytest.approx(rg["logrank"]["chisq"], rel=RTOL)
    assert row["logrank_p"] == pytest.approx(rg["logrank"]["p"], rel=RTOL)
    assert (row["n_low"], row["n_high"]) == (rg["n_low"], rg["n_high"])
    assert (row["events_low"], row["events_high"]) == (rg["events_low"], rg["events_high"])
    assert row["estimable"] and row["cohort"] == "all"
    for label, g in (("low", 0), ("high", 1)):
        K = rg["km"][f"high_risk={g}"]
        for i, t in enumerate(times):
            for ours, theirs in (("surv", "surv"), ("lower", "lower95"), ("upper", "upper95")):
                got = row[f"{ours}_{label}_{t:g}"]
                if K["beyond_last_time"][i]:                    # R carries the last value: we say NaN
                    assert np.isnan(got) and f"{label}-risk group followed < {t:g}" in row["note"]
                else:
                    assert got == pytest.approx(K[theirs][i], rel=RTOL), (label, t, ours)


def test_endpoint_table_rows_equal_per_subset_statistics():
    d = _twin_like()
    eps = ["os", "dmfs", "lrfs", "dfs"]
    tab = endpoint_table(d, eps, times=(36.0, 60.0))
    assert tab[["cohort", "endpoint"]].values.tolist() == [[c, e] for c in ("train", "test") for e in eps]
    for r in tab.itertuples():
        part = d[d.cohort == r.cohort]
        t, e, g = part[f"{r.endpoint}_time"], part[f"{r.endpoint}_event"], part["group"]
        hr = hazard_ratio(t, e, g)
        lr = logrank_test(t, e, g)
        assert (r.hr, r.hr_lower, r.hr_upper, r.p) == pytest.approx((hr.hr, hr.lower, hr.upper, hr.p_value))
        assert r.logrank_p == pytest.approx(lr.p_value)
        assert r.n == len(part) == r.n_low + r.n_high and r.events == int(e.sum()) == r.events_low + r.events_high
        km = kaplan_meier(t[g == 1], e[g == 1], [36.0, 60.0])
        assert (r.surv_high_36, r.lower_high_60) == pytest.approx((km.survival[0], km.lower[1]))
        one = compare_risk_groups(t, e, g, at=60.0)       # chapter 06's DFS contrast: the same numbers
        assert (r.hr, r.logrank_p, r.surv_low_60) == pytest.approx((one["hr"], one["logrank_p"], one["surv_low"]))


def test_endpoint_table_matches_lifelines():
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test as ll_logrank

    d = _twin_like(seed=3)
    r = endpoint_table(d, ["dmfs"], by=None).iloc[0]
    a, b = d[d.group == 1], d[d.group == 0]
    assert r.logrank_p == pytest.approx(ll_logrank(a.dmfs_time, b.dmfs_time, a.dmfs_event, b.dmfs_event).p_value,
                                        rel=1e-8)
    cph = CoxPHFitter().fit(d[["dmfs_time", "dmfs_event", "group"]], "dmfs_time", "dmfs_event")
    assert r.hr == pytest.approx(float(np.exp(cph.params_["group"])), rel=1e-5)


def test_compare_risk_groups_no_event_in_one_group_keeps_counts_and_logrank():
    r = compare_risk_groups([1, 2, 3, 4, 5, 6], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0])
    assert not r["estimable"] and np.isnan(r["hr"]) and np.isnan(r["p"])
    assert (r["n_high"], r["events_high"], r["n_low"], r["events_low"]) == (3, 2, 3, 0)
    assert np.isfinite(r["logrank_p"]) and "no event in the low-risk group" in r["note"]


def test_compare_risk_groups_empty_group_and_no_events():
    r = compare_risk_groups([1, 2, 3], [1, 0, 1], [1, 1, 1])
    assert not r["estimable"] and np.isnan(r["logrank_p"]) and "no patient in the low-risk group" in r["note"]
    r = compare_risk_groups([1, 2, 3, 4], [0, 0, 0, 0], [1, 0, 1, 0])
    assert r["events"] == 0 and np.isnan(r["hr"]) and np.isnan(r["logrank_p"]) and r["note"].startswith("no event")


def test_endpoint_table_without_events_gives_survival_one():
    d = _twin_like(seed=1, n=40)
    d["os_event"] = 0
    r = endpoint_table(d, ["os"], by=None, times=[12.0]).iloc[0]
    assert not r.estimable and r.events == 0
    assert (r.surv_low_12, r.lower_low_12, r.upper_high_12) == (1.0, 1.0, 1.0)


def test_km_curve_table_matches_kaplan_meier_and_counts():
    d = _twin_like(seed=2)
    k = km_curve_table(d, ["os", "lrfs"])
    assert set(k.group) == {"low", "high"} and set(k.cohort) == {"train", "test"}
    for (c, ep, g), part in k.groupby(["cohort", "endpoint", "group"]):
        sub = d[(d.cohort == c) & (d.group == (g == "high"))]
        assert part.time.iloc[0] == 0.0 and part.survival.iloc[0] == 1.0
        assert part.n_event.sum() == sub[f"{ep}_event"].sum()
        assert part.n_event.sum() + part.n_censor.sum() == len(sub)
        ref = kaplan_meier(sub[f"{ep}_time"], sub[f"{ep}_event"])
        np.testing.assert_allclose(part.survival.to_numpy()[-len(ref):], ref.survival)
        naive = [np.prod([1 - np.sum((sub[f"{ep}_time"] == u) & (sub[f"{ep}_event"] == 1))
                          / np.sum(sub[f"{ep}_time"] >= u) for u in np.unique(sub[f"{ep}_time"]) if u <= x])
                 for x in part.time]
        np.testing.assert_allclose(part.survival, naive)


def test_at_risk_table_equals_naive_count():
    d = _twin_like(seed=4)
    a = at_risk_table(d, ["dfs"], [0, 12, 24, 60])
    for r in a.itertuples():
        sub = d[(d.cohort == r.cohort) & (d.group == (r.group == "high"))]
        assert r.n_risk == int((sub.dfs_time >= r.time).sum())


def test_endpoint_table_bad_input_names_the_argument():
    d = _twin_like(n=30)
    with pytest.raises(ValueError, match="missing column"):
        endpoint_table(d, ["pfs"])
    with pytest.raises(ValueError, match="column 'group' must be 0/1"):
        endpoint_table(d.assign(group=2), ["os"])
    with pytest.raises(ValueError, match="ties"):
        endpoint_table(d, ["os"], ties="exact")
    with pytest.raises(ValueError, match="times must be sorted"):
        endpoint_table(d, ["os"], times=[60, 36])
    with pytest.raises(ValueError, match="column 'os_time' contains negative"):
        endpoint_table(d.assign(os_time=-1.0), ["os"])
    with pytest.raises(ValueError, match="endpoints is empty"):
        endpoint_table(d, [])


def test_compare_risk_groups_survival_at_a_time():
    t, e = [1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 0, 0]
    r = compare_risk_groups(t, e, [1, 1, 1, 0, 0, 0], at=2.5)
    assert np.isnan(r["hr"]) and r["surv_low"] == 1.0 and r["surv_high"] == pytest.approx(1 / 3)
    assert np.isfinite(r["logrank_p"]) and "no event in the low-risk group" in r["note"]
    empty = compare_risk_groups(t, e, [0] * 6, at=2.5)
    assert empty["n_high"] == 0 and np.isnan(empty["surv_high"]) and "no patient in the high-risk group" in empty["note"]
    assert np.isnan(compare_risk_groups(t, e, [1, 0, 1, 0, 1, 0], at=10)["surv_low"])  # past follow-up
    assert "surv_low" not in compare_risk_groups(t, e, [1, 0, 1, 0, 1, 0])
    none = compare_risk_groups([1, 2, 3, 4], [0, 0, 0, 0], [1, 0, 1, 0], at=2.0)
    assert none["surv_low"] == 1.0 and none["note"] == "no event: HR not estimable"
