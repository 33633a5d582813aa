"""Tests for npc_lib.stats.concordance against R survcomp and a naive transcription."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from npc_lib.stats import compare_concordance, concordance_index
from npc_lib.stats.concordance import _count_dominated, _survcomp_counts

DATA = Path(__file__).parent / "data"
RTOL = 1e-9


def _load(ds: str):
    ref = json.loads((DATA / f"{ds}.json").read_text())
    df = pd.read_csv(DATA / f"{ds}.csv")
    der = pd.read_csv(DATA / f"{ds}_derived.csv")
    return ref, df, der


def _survcomp_naive(time, event, x, outx=True, alpha=0.05):
    """O(n^2) transcription of survcomp 1.45.1 concordance.index(method="noether").

    C loop of concordanceIndexC (weights 1, one stratum); with outx=FALSE a
    tie in x adds 1/2 to both ch and dh (survcomp 1.45.1, see module doc).
    """
    n = len(time)
    ch = np.zeros(n)
    dh = np.zeros(n)
    for h in range(n):
        for j in range(n):
            if time[h] < time[j] and event[h] == 1:
                if x[h] > x[j]:
                    ch[h] += 1
                elif x[h] < x[j]:
                    dh[h] += 1
                elif not outx:
                    ch[h] += 0.5
                    dh[h] += 0.5
            if time[h] > time[j] and event[j] == 1:
                if x[h] < x[j]:
                    ch[h] += 1
                elif x[h] > x[j]:
                    dh[h] += 1
                elif not outx:
                    ch[h] += 0.5
                    dh[h] += 0.5
    N = n
    pc = ch.sum() / (N * (N - 1))
    pd_ = dh.sum() / (N * (N - 1))
    cindex = pc / (pc + pd_)
    pcc = np.sum(ch * (ch - 1)) / (N * (N - 1) * (N - 2))
    pdd = np.sum(dh * (dh - 1)) / (N * (N - 1) * (N - 2))
    pcd = np.sum(ch * dh) / (N * (N - 1) * (N - 2))
    varp = 4 / (pc + pd_) ** 4 * (pd_**2 * pcc - 2 * pc * pd_ * pcd + pc**2 * pdd)
    se = np.sqrt(varp / N)
    ci = sps.norm.isf(alpha / 2) * se
    p = 2 * sps.norm.cdf((cindex - 0.5) / se) if cindex < 0.5 else 2 * sps.norm.sf((cindex - 0.5) / se)
    return dict(c=cindex, se=se, lower=max(cindex - ci, 0), upper=min(cindex + ci, 1), p=p,
                pairs=ch.sum() + dh.sum(), ch=ch, dh=dh)


def _usable(time, event, risk) -> bool:
    later = time[None, :] > time[:, None]
    untied = risk[None, :] != risk[:, None]
    return bool((later & untied & event[:, None]).any())


def _random_tied(seed: int, n: int):
    rng = np.random.default_rng(seed)
    time = rng.integers(0, 12, n).astype(float)       # many tied times
    event = rng.random(n) < 0.6
    event[0] = True
    risk = rng.integers(0, 6, n).astype(float)        # many tied markers
    risk[:2] = [0.0, 5.0]
    return time, event, risk


# --------------------------------------------------------------------------- R survcomp


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("key,column,outx", [
    ("survcomp_noether_fixed", "lp_efron_uncentered", True),
    ("survcomp_noether_fixed_outx_FALSE", "lp_efron_uncentered", False),
    ("survcomp_noether_selected", "lp_selected_model", True),
    ("survcomp_noether_single", "lp_single_model", True),
])
def test_concordance_index_matches_survcomp(ds, key, column, outx):
    ref, df, der = _load(ds)
    r_ref = ref["cindex"][key]
    r = concordance_index(df.time, df.status, der[column], outx=outx)
    assert r.c_index == pytest.approx(r_ref["c_index"], rel=RTOL)
    assert r.se == pytest.approx(r_ref["se"], rel=RTOL)
    assert r.lower == pytest.approx(r_ref["lower"], rel=RTOL)
    assert r.upper == pytest.approx(r_ref["upper"], rel=RTOL)
    assert r.p_value == pytest.approx(r_ref["p_value"], rel=1e-6)
    assert r.n_pairs == r_ref["comparable_pairs"]
    assert r.n == r_ref["n"]


def test_concordance_index_outx_false_differs_on_veteran_ties():
    # veteran has two risk-tied comparable pairs: outx=FALSE counts them 1/2
    ref, df, der = _load("veteran")
    a = concordance_index(df.time, df.status, der.lp_efron_uncentered, outx=True)
    b = concordance_index(df.time, df.status, der.lp_efron_uncentered, outx=False)
    assert b.n_pairs - a.n_pairs == 4
    assert b.c_index != a.c_index


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("name,column", [("fixed_vs_selected", "lp_selected_model"),
                                         ("fixed_vs_single", "lp_single_model")])
def test_compare_concordance_matches_cindex_comp(ds, name, column):
    ref, df, der = _load(ds)
    r_ref = ref["cindex"]["survcomp_cindex_comp"][name]
    k = compare_concordance(df.time, df.status, der.lp_efron_uncentered, der[column])
    assert k.c1 == pytest.approx(r_ref["cindex1"], rel=RTOL)
    assert k.c2 == pytest.approx(r_ref["cindex2"], rel=RTOL)
    assert k.r == pytest.approx(r_ref["spearman_r"], rel=RTOL)
    assert k.p_value == pytest.approx(r_ref["p_value"], rel=1e-8)
    assert k.df == len(df) - 1


def test_compare_concordance_formula_by_hand():
    time, event, risk = _random_tied(3, 80)
    risk2 = risk + np.random.default_rng(4).normal(scale=2.0, size=80)
    k = compare_concordance(time, event, risk, risk2)
    c1 = concordance_index(time, event, risk)
    c2 = concordance_index(time, event, risk2)
    r = sps.spearmanr(risk, risk2).statistic
    stat = (c1.c_index - c2.c_index) / np.sqrt(c1.se**2 + c2.se**2 - 2 * r * c1.se * c2.se)
    assert k.statistic == pytest.approx(stat, rel=1e-12)
    assert k.p_value == pytest.approx(sps.t.sf(stat, 79), rel=1e-12)


def test_compare_concordance_identical_ranks_gives_p_one():
    time, event, risk = _random_tied(5, 50)
    k = compare_concordance(time, event, risk, 3 * risk + 1)
    assert k.p_value == 1.0 and np.isnan(k.statistic)


# --------------------------------------------------------------------------- naive transcription


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("outx", [True, False])
def test_concordance_index_matches_naive_with_ties(seed, outx):
    time, event, risk = _random_tied(seed, 40 + 7 * seed)
    naive = _survcomp_naive(time, event, risk, outx=outx)
    ch, dh = _survcomp_counts(time, event, risk, outx)
    np.testing.assert_array_equal(ch, naive["ch"])
    np.testing.assert_array_equal(dh, naive["dh"])
    r = concordance_index(time, event, risk, outx=outx)
    assert r.c_index == pytest.approx(naive["c"], rel=1e-12)
    assert r.se == pytest.approx(naive["se"], rel=1e-10)
    assert r.lower == pytest.approx(naive["lower"], rel=1e-10)
    assert r.upper == pytest.approx(naive["upper"], rel=1e-10)
    assert r.p_value == pytest.approx(naive["p"], rel=1e-8)
    assert r.n_pairs == naive["pairs"]


def test_concordance_index_equals_lifelines_without_ties():
    # no tied times or risks: survcomp's pairs are Harrell's, so C agrees with lifelines
    from lifelines.utils import concordance_index as lifelines_cindex

    rng = np.random.default_rng(21)
    x = rng.normal(size=500)
    t_event = rng.exponential(np.exp(-x))
    t_cens = rng.exponential(2.0, size=500)
    time, event = np.minimum(t_event, t_cens), t_event <= t_cens
    r = concordance_index(time, event, x)
    assert r.c_index == pytest.approx(lifelines_cindex(time, -x, event), rel=1e-12)


def test_count_dominated_matches_brute_force():
    rng = np.random.default_rng(11)
    pp, pv = rng.integers(0, 9, 70), rng.integers(0, 7, 70)
    qp, qv = rng.integers(0, 9, 55), rng.integers(0, 7, 55)
    brute = ((pp[None, :] < qp[:, None]) & (pv[None, :] < qv[:, None])).sum(axis=1)
    np.testing.assert_array_equal(_count_dominated(pp, pv, qp, qv), brute)


def test_concordance_index_large_n_runs_and_is_sane():
    rng = np.random.default_rng(0)
    n = 20_000
    x = rng.normal(size=n)
    t_event = rng.exponential(np.exp(-x))
    t_cens = rng.exponential(2.0, size=n)
    r = concordance_index(np.minimum(t_event, t_cens), t_event <= t_cens, x)
    assert 0.6 < r.c_index < 0.8 and 0 < r.se < 0.01 and r.p_value < 1e-10


# --------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=5, max_value=40))
def test_concordance_index_reversed_risk_mirrors(seed, n):
    time, event, risk = _random_tied(seed, n)
    assume(_usable(time, event, risk))
    a = concordance_index(time, event, risk)
    b = concordance_index(time, event, -risk)
    assert b.c_index == pytest.approx(1.0 - a.c_index, abs=1e-12)
    assert a.n_pairs == b.n_pairs
    if np.isfinite(a.se):
        assert b.se == pytest.approx(a.se, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=5, max_value=40))
def test_concordance_index_invariant_to_order_and_monotone_transform(seed, n):
    time, event, risk = _random_tied(seed, n)
    assume(_usable(time, event, risk))
    perm = np.random.default_rng(seed + 1).permutation(n)
    a = concordance_index(time, event, risk)
    b = concordance_index(time[perm], event[perm], np.exp(risk[perm]) * 3 - 1)
    assert b.c_index == pytest.approx(a.c_index, rel=1e-12)
    assert b.n_pairs == a.n_pairs


def test_concordance_index_p_value_two_sided_below_half():
    time, event, risk = _random_tied(2, 60)
    a = concordance_index(time, event, risk)
    b = concordance_index(time, event, -risk)
    assert b.p_value == pytest.approx(a.p_value, rel=1e-9)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("time,event,risk,match", [
    ([1, 2, np.nan], [1, 0, 1], [1, 2, 3], "time contains NaN"),
    ([1, -2, 3], [1, 0, 1], [1, 2, 3], "time contains negative"),
    ([1, 2, 3], [1, 0], [1, 2, 3], "lengths differ"),
    ([1, 2, 3], [0, 0, 0], [1, 2, 3], "event has no events"),
    ([1, 2, 3], [1, 2, 1], [1, 2, 3], "event must be 0/1"),
    ([1, 2, 3], [1, 0, 1], [1, 2], "risk length"),
    ([1, 2, 3], [1, 0, 1], [1, np.nan, 3], "risk contains NaN"),
    ([1, 2, 3], [1, 0, 1], [2, 2, 2], "risk is constant"),
    ([1, 1, 1], [1, 1, 1], [1, 2, 3], "no comparable pair"),
])
def test_concordance_index_bad_input_raises(time, event, risk, match):
    with pytest.raises(ValueError, match=match):
        concordance_index(time, event, risk)


def test_compare_concordance_bad_second_risk_raises():
    with pytest.raises(ValueError, match="risk2 is constant"):
        compare_concordance([1, 2, 3, 4], [1, 1, 0, 1], [1, 2, 3, 4], [1, 1, 1, 1])


def test_concordance_index_bad_alpha_raises():
    with pytest.raises(ValueError, match="alpha"):
        concordance_index([1, 2, 3, 4], [1, 1, 0, 1], [4, 3, 2, 1], alpha=1.5)


def test_concordance_index_matches_scikit_survival_without_ties():
    from sksurv.metrics import concordance_index_censored

    rng = np.random.default_rng(11)
    time = rng.exponential(50.0, 300)
    event = rng.random(300) < 0.6
    risk = rng.normal(size=300)
    c_peer = concordance_index_censored(event, time, risk)[0]   # Harrell's C; equal to survcomp without ties
    assert concordance_index(time, event, risk).c_index == pytest.approx(c_peer, rel=1e-12)
