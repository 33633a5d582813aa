"""Tests for npc_lib.stats.tdroc against R (survivalROC, timeROC) and naive transcriptions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npc_lib.stats import time_dependent_auc, time_dependent_roc
from npc_lib.stats.tdroc import _nne_conditional_survival, _nne_windows
from npc_lib.stats.windowed_km import windowed_km as _windowed_km

DATA = Path(__file__).parent / "data"
RTOL = 1e-9


def _load(ds: str):
    ref = json.loads((DATA / f"{ds}.json").read_text())
    df = pd.read_csv(DATA / f"{ds}.csv")
    der = pd.read_csv(DATA / f"{ds}_derived.csv")
    return ref, df.time.to_numpy(float), df.status.to_numpy(), der.lp_efron_uncentered.to_numpy()


# --------------------------------------------------------------------------- naive transcriptions


def _survival_roc_naive(times, status, x, predict_time, method, span):
    """Loop-for-loop transcription of survivalROC 1.0.3.1 (entry = 0, symmetric window).

    The NNE window index is ``index0 + trunc(n * span + 0.5)`` (1.0.3.1; it
    reproduces the R reference AUC to 1e-15, the 1.0.0 ``trunc(n*span/2)`` does not).
    """
    times, status, x = (np.asarray(a, float) for a in (times, status, x))
    cut_values = np.unique(x)
    ncuts = cut_values.size
    s0 = 1.0
    for tj in np.unique(times)[np.unique(times) <= predict_time]:
        n = np.sum(times >= tj)
        d = np.sum((times == tj) & (status == 1))
        if n > 0:
            s0 *= 1 - d / n
    s_pooled = s0
    roc = np.full((ncuts, 2), np.nan)
    roc[-1] = [0.0, 1.0]
    if method == "KM":
        for c in range(ncuts - 1):
            sub = x > cut_values[c]
            t0, c0 = times[sub], status[sub]
            s0 = 1.0
            for tj in np.unique(t0)[np.unique(t0) <= predict_time]:
                n = np.sum(t0 >= tj)
                d = np.sum((t0 == tj) & (c0 == 1))
                if n > 0:
                    s0 *= 1 - d / n
            p0 = np.mean(sub)
            roc[c] = [(1 - s0) * p0 / (1 - s_pooled), 1 - s0 * p0 / s_pooled]
    else:
        xu = np.unique(x)
        s_tx = np.zeros(xu.size)
        t_eval = np.unique(times[status == 1])
        t_eval = t_eval[t_eval <= predict_time]
        n_all = x.size
        for j, u in enumerate(xu):
            ddd = np.sort(x - u)
            index0 = np.sum(ddd < 0) + 1
            index1 = min(index0 + int(np.trunc(n_all * span + 0.5)), n_all)
            lam = ddd[index1 - 1]
            wt = ((x - u) <= lam) & ((x - u) >= 0)
            lam = abs(ddd[index1 - 1])
            wt |= ((x - u) >= -lam) & ((x - u) <= 0)
            s0 = 1.0
            for tk in t_eval:
                n = np.sum(wt & (times >= tk))
                d = np.sum(wt & (times == tk) & (status == 1))
                if n > 0:
                    s0 *= 1 - d / n
            s_tx[j] = s0
        s_all = s_tx[np.searchsorted(xu, x)]
        s_marg = s_all.sum() / n_all
        for c in range(ncuts - 1):
            p1 = np.sum(x > cut_values[c]) / n_all
            sx = np.sum(s_all[x > cut_values[c]]) / n_all
            roc[c] = [(p1 - sx) / (1 - s_marg), 1 - sx / s_marg]
    fp = 1 - np.concatenate([[0.0], roc[:, 1]])
    tp = np.concatenate([[1.0], roc[:, 0]])
    auc = np.sum((fp[:-1] - fp[1:]) * (tp[:-1] + tp[1:]) / 2)
    return dict(TP=tp, FP=fp, AUC=auc, Survival=s_pooled)


def _timeroc_naive(T, delta, marker, t):
    """Transcription of timeROC 0.4 (marginal weights, iid=TRUE), with its O(n^2) matrices."""
    o = np.argsort(T, kind="stable")
    T, delta, marker = np.asarray(T, float)[o], np.asarray(delta)[o].astype(int), np.asarray(marker, float)[o]
    n = T.size
    # prodlim reverse Kaplan-Meier (events leave before censorings at a tie)
    ut = np.unique(T)
    g, g_at = 1.0, {}
    for s in ut:
        at_risk = np.sum(T >= s) - np.sum((T == s) & (delta == 1))
        c = np.sum((T == s) & (delta == 0))
        if at_risk > 0:
            g *= 1 - c / at_risk
        g_at[s] = g
    g_minus = np.array([1.0 if s == ut[0] else g_at[ut[ut < s][-1]] for s in T])
    g_t = g_at[ut[ut <= t][-1]]
    cases = (T < t) & (delta == 1)
    ctrl = T > t
    wc = np.where(cases, 1 / (g_minus * n), 0.0)
    wk = np.where(ctrl, 1 / (g_t * n), 0.0)
    f01, st_ = wc.sum(), wk.sum()
    om = np.argsort(-marker, kind="stable")
    first = ~pd.Series(marker[om]).duplicated().to_numpy()
    first = np.concatenate([first, [True]])  # R recycles the logical index
    tp = (np.concatenate([[0], np.cumsum(wc[om])]) / f01)[first]
    fp = (np.concatenate([[0], np.cumsum(wk[om])]) / st_)[first]
    auc = np.sum(np.diff(fp) * (tp[:-1] + tp[1:]) / 2)
    # Compute.iid.KM
    cens = (delta == 0).astype(float)
    lam_c = cens / np.arange(n, 0, -1)
    big_l = np.cumsum(lam_c)
    hat_mc = np.empty((n, n))
    for i in range(n):
        hat_mc[:, i] = cens[i] * (T[i] <= T) - np.concatenate([big_l[: i + 1], np.repeat(big_l[i], n - i - 1)])
    d_mc = np.vstack([hat_mc[:1], np.diff(hat_mc, axis=0)])
    at_risk_prob = np.concatenate([[1.0], 1 - np.arange(1, n) / n])
    mat_int = np.cumsum(d_mc / at_risk_prob[:, None], axis=0)
    # compute_iid_decomposition_survival
    wi, wj = np.flatnonzero(cases), np.flatnonzero(ctrl)
    h = np.zeros((wj.size, wi.size))
    for col, i in enumerate(wi):
        h[:, col] = ((marker[i] > marker[wj]) + 0.5 * (marker[i] == marker[wj])) * wc[i] * wk[wj] * n * n
    h_star = h.sum() / n**2
    dit = (T <= t) * (delta == 1) * wc * n
    tsup = ctrl / (ctrl.sum() / n)
    col_sums = np.zeros(n)
    col_sums[wi] = h.sum(axis=0)
    row_sums = np.zeros(n)
    row_sums[wj] = h.sum(axis=1)
    les_k = np.empty(n)
    for k in range(n):
        term1 = np.sum(h.T * (1 + mat_int[wi, k])[:, None]) / n
        term3 = np.sum(h_star * (tsup + (dit * (1 + mat_int[:, k]) - f01) / f01))
        les_k[k] = (term1 - term3) / (f01 * st_)
    les_j = (row_sums - n * h_star) / (f01 * st_)
    les_i = (col_sums - n * h_star * (tsup + (dit - f01) / f01)) / (f01 * st_)
    iid = (les_k + les_j + les_i) / n
    return dict(AUC=auc, se=np.std(iid, ddof=1) / np.sqrt(n), survProb=st_,
                cases=int(cases.sum()), survivors=int(ctrl.sum()))


def _random_data(seed: int, n: int, decimals: bool):
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 15, n).astype(float)
    event = rng.random(n) < 0.6
    event[:2] = True
    time[:2] = [1.0, 2.0]
    time[2] = 14.0
    marker = np.round(rng.normal(size=n), 1) if decimals else rng.integers(0, 6, n).astype(float)
    marker[:2] = [-3.0, 3.0]
    return time, event, marker


# --------------------------------------------------------------------------- R reference


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("method,key", [("nne", "survivalROC_NNE"), ("km", "survivalROC_KM"),
                                        ("marginal", "timeROC_marginal")])
def test_time_dependent_auc_matches_r(ds, method, key):
    ref, time, event, lp = _load(ds)
    r_ref = ref["td_auc"][key]
    res = time_dependent_auc(time, event, lp, r_ref["times"], method=method)
    np.testing.assert_allclose(res.auc, r_ref["AUC"], rtol=RTOL)
    surv_ref = r_ref["Survival"] if "Survival" in r_ref else r_ref["survProb"]
    np.testing.assert_allclose(res.survival, surv_ref, rtol=RTOL)


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_time_dependent_auc_marginal_inference_matches_timeroc(ds):
    ref, time, event, lp = _load(ds)
    r_ref = ref["td_auc"]["timeROC_marginal"]
    res = time_dependent_auc(time, event, lp, r_ref["times"], method="marginal")
    np.testing.assert_allclose(res.se, r_ref["se_iid"], rtol=RTOL)
    np.testing.assert_allclose(res.lower, r_ref["ci95_lower_normal"], rtol=RTOL)
    np.testing.assert_allclose(res.upper, r_ref["ci95_upper_normal"], rtol=RTOL)
    np.testing.assert_allclose(np.round(100 * res.lower, 2), r_ref["confint_timeROC_pct_rounded"]["lower"])
    np.testing.assert_allclose(np.round(100 * res.upper, 2), r_ref["confint_timeROC_pct_rounded"]["upper"])
    assert res.cases.tolist() == r_ref["cases"]
    assert res.controls.tolist() == r_ref["survivors"]
    assert res.censored.tolist() == r_ref["censored_before_t"]


def test_time_dependent_auc_nne_default_span_is_survivalroc_setting():
    ref, time, event, lp = _load("lung")
    r_ref = ref["td_auc"]["survivalROC_NNE"]
    default = time_dependent_auc(time, event, lp, r_ref["times"], method="nne")
    explicit = time_dependent_auc(time, event, lp, r_ref["times"], method="nne", span=r_ref["span"])
    np.testing.assert_array_equal(default.auc, explicit.auc)


# --------------------------------------------------------------------------- naive transcriptions


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("method", ["NNE", "KM"])
def test_time_dependent_roc_matches_naive_survivalroc(seed, method):
    time, event, marker = _random_data(seed, 25 + 6 * seed, decimals=bool(seed % 2))
    span = [0.05, 0.1, 0.25, 0.5, 1.0, 0.3][seed]
    t = float(np.median(time))
    naive = _survival_roc_naive(time, event, marker, t, method, span)
    roc = time_dependent_roc(time, event, marker, t, method=method.lower(), span=span)
    assert roc.auc == pytest.approx(naive["AUC"], abs=1e-12)
    np.testing.assert_allclose(roc.fpr, naive["FP"][::-1], atol=1e-12)
    np.testing.assert_allclose(roc.tpr, naive["TP"][::-1], atol=1e-12)
    assert roc.survival == pytest.approx(naive["Survival"], abs=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_time_dependent_auc_marginal_matches_naive_timeroc(seed):
    time, event, marker = _random_data(seed, 30 + 5 * seed, decimals=bool(seed % 2))
    t = float(np.median(time)) + 0.5 * (seed % 2)   # on and off the observed times
    naive = _timeroc_naive(time, event, marker, t)
    res = time_dependent_auc(time, event, marker, [t], method="marginal")
    assert res.auc[0] == pytest.approx(naive["AUC"], rel=1e-10)
    assert res.se[0] == pytest.approx(naive["se"], rel=1e-9)
    assert res.survival[0] == pytest.approx(naive["survProb"], rel=1e-12)
    assert res.cases[0] == naive["cases"] and res.controls[0] == naive["survivors"]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("t", [3.0, 6.0, 10.0])
def test_windowed_km_matches_direct_kaplan_meier(seed, t):
    # arbitrary (non-nested, jittering, empty) windows; t = 10 leaves no late subject
    rng = np.random.default_rng(seed)
    n = 60
    time = rng.integers(1, 10, n).astype(float)
    event = rng.random(n) < 0.5
    lo = rng.integers(0, n + 1, 80)
    hi = np.minimum(n, lo + rng.integers(0, 30, 80))
    got = _windowed_km(time, event, t, lo, hi)
    for w in range(80):
        tt, ee = time[lo[w]:hi[w]], event[lo[w]:hi[w]]
        s = 1.0
        for u in np.unique(tt[tt <= t]):
            s *= 1 - np.sum((tt == u) & ee) / np.sum(tt >= u)
        assert got[w] == pytest.approx(s, abs=1e-13)


def test_nne_windows_and_conditional_survival_match_direct_at_moderate_n():
    # n = 1500 exercises the multi-sweep path (wide upper-tail windows, jittering lo)
    rng = np.random.default_rng(8)
    n = 1500
    x = np.round(rng.normal(size=n), 2)
    time = np.round(rng.exponential(np.exp(-x)), 2)
    event = rng.random(n) < 0.7
    span, t = 0.25 * n ** -0.2, 0.6
    xs = np.sort(x)
    ux = np.unique(xs)
    lo, hi = _nne_windows(xs, ux, span)
    order = np.argsort(x, kind="stable")
    ts, es = time[order], event[order]
    _, surv = _nne_conditional_survival(time, event, x, t, span)
    h = int(np.trunc(n * span + 0.5))
    for j in range(0, ux.size, 7):
        u = ux[j]
        ddd = np.sort(x - u)
        lam = abs(ddd[min(np.sum(ddd < 0) + h, n - 1)])
        inside = np.flatnonzero(((xs - u) >= -lam) & ((xs - u) <= lam))
        assert (lo[j], hi[j]) == (inside[0], inside[-1] + 1)
        tt, ee = ts[lo[j]:hi[j]], es[lo[j]:hi[j]]
        s = 1.0
        for v in np.unique(tt[ee & (tt <= t)]):
            s *= 1 - np.sum((tt == v) & ee) / np.sum(tt >= v)
        assert surv[j] == pytest.approx(s, rel=1e-11, abs=1e-14)


# --------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("method", ["nne", "km", "marginal"])
def test_time_dependent_roc_curve_shape(method):
    ref, time, event, lp = _load("lung")
    roc = time_dependent_roc(time, event, lp, 365, method=method)
    assert (roc.fpr[0], roc.tpr[0]) == (0.0, 0.0)
    assert roc.fpr[-1] == pytest.approx(1.0) and roc.tpr[-1] == pytest.approx(1.0)
    assert np.all(np.diff(roc.thresholds) < 0) and roc.thresholds[-1] == -np.inf
    assert roc.fpr.shape == roc.tpr.shape == roc.thresholds.shape
    trapezoid = np.sum(np.diff(roc.fpr) * (roc.tpr[1:] + roc.tpr[:-1]) / 2)
    assert roc.auc == pytest.approx(trapezoid, rel=1e-12)
    auc = time_dependent_auc(time, event, lp, 365, method=method).auc[0]
    assert roc.auc == pytest.approx(auc, rel=1e-14)


def test_time_dependent_roc_marginal_thresholds_classify_by_greater():
    time = np.array([1, 2, 3, 4, 5, 6, 7, 8], float)
    event = np.array([1, 1, 0, 1, 0, 1, 0, 0], bool)
    marker = np.array([8, 7, 1, 6, 2, 5, 3, 4], float)
    roc = time_dependent_roc(time, event, marker, 4.5, method="marginal")
    controls = time > 4.5
    for thr, fpr in zip(roc.thresholds, roc.fpr):
        assert fpr == pytest.approx(np.mean(marker[controls] > thr))


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=5000))
def test_time_dependent_auc_rank_methods_invariant_to_monotone_transform(seed):
    time, event, marker = _random_data(seed, 40, decimals=True)
    t = float(np.median(time))
    for method in ("km", "marginal"):
        a = time_dependent_auc(time, event, marker, t, method=method)
        b = time_dependent_auc(time, event, np.exp(marker) + 2.0, t, method=method)
        np.testing.assert_allclose(b.auc, a.auc, rtol=1e-12)
        np.testing.assert_allclose(b.se, a.se, rtol=1e-9)


def test_time_dependent_auc_perfect_marker_is_one():
    time = np.arange(1.0, 21.0)
    event = np.ones(20, bool)
    marker = -time
    for method in ("km", "marginal"):
        assert time_dependent_auc(time, event, marker, 10.5, method=method).auc[0] == pytest.approx(1.0)
    # NNE smooths S(t | x) over neighbouring markers, so it stays just below 1
    assert 0.95 < time_dependent_auc(time, event, marker, 10.5, method="nne").auc[0] < 1.0


def test_time_dependent_auc_nne_scales_to_large_n():
    rng = np.random.default_rng(0)
    n = 20_000
    x = rng.normal(size=n)
    t_event = rng.exponential(np.exp(-x))
    t_cens = rng.exponential(2.0, size=n)
    res = time_dependent_auc(np.minimum(t_event, t_cens), t_event <= t_cens, x, [0.5, 1.0])
    assert np.all((res.auc > 0.7) & (res.auc < 0.9))


# --------------------------------------------------------------------------- errors


def test_time_dependent_auc_bad_method_raises():
    with pytest.raises(ValueError, match="method must be one of"):
        time_dependent_auc([1, 2, 3], [1, 0, 1], [1, 2, 3], 2, method="uno")


@pytest.mark.parametrize("times,match", [(0.5, "before the first event"),
                                         (3.0, "beyond the end of follow-up"),
                                         ([1.5, np.nan], "times contains NaN")])
def test_time_dependent_auc_times_outside_follow_up_raise(times, match):
    with pytest.raises(ValueError, match=match):
        time_dependent_auc([1, 2, 3], [1, 0, 1], [3, 1, 2], times)


def test_time_dependent_auc_marginal_needs_event_strictly_before_t():
    with pytest.raises(ValueError, match="no event strictly before t"):
        time_dependent_auc([1, 2, 3], [1, 0, 1], [3, 1, 2], 1.0, method="marginal")
    # survivalROC counts the event at t itself
    assert np.isfinite(time_dependent_auc([1, 2, 3], [1, 0, 1], [3, 1, 2], 1.0, method="km").auc[0])


def test_time_dependent_roc_bad_marker_raises():
    with pytest.raises(ValueError, match="marker is constant"):
        time_dependent_roc([1, 2, 3, 4], [1, 0, 1, 0], [1, 1, 1, 1], 2.5)
    with pytest.raises(ValueError, match="marker length"):
        time_dependent_roc([1, 2, 3, 4], [1, 0, 1, 0], [1, 2, 3], 2.5)


def test_time_dependent_roc_bad_t_raises():
    with pytest.raises(ValueError, match="t must be a single number"):
        time_dependent_roc([1, 2, 3, 4], [1, 0, 1, 0], [1, 2, 3, 4], [2.5, 3.5])
    with pytest.raises(ValueError, match="span"):
        time_dependent_roc([1, 2, 3, 4], [1, 0, 1, 0], [1, 2, 3, 4], 2.5, span=-1)


# --------------------------------------------------------------------------- NNE speed-up (issue 9)


def _reference_module():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "_nne_reference.py"
    spec = importlib.util.spec_from_file_location("_nne_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("cens_scale", [2.0, 0.3])  # event-heavy (telescoped sums) / censoring-heavy
def test_time_dependent_auc_nne_equals_previous_implementation(cens_scale):
    ref = _reference_module()
    rng = np.random.default_rng(12)
    n = 4000
    x = np.round(rng.normal(size=n), 2)  # marker ties
    t_event = rng.exponential(np.exp(-x))
    t_cens = rng.exponential(cens_scale, size=n)
    time, event = np.round(np.minimum(t_event, t_cens), 2), t_event <= t_cens  # time ties
    times = [0.3, 0.5, 1.0]
    new = time_dependent_auc(time, event, x, times, method="nne")
    old = ref.nne_auc_reference(time, event, x, times)
    np.testing.assert_allclose(new.auc, [a for a, _ in old], rtol=0, atol=1e-13)
    np.testing.assert_allclose(new.survival, [s for _, s in old], rtol=0, atol=1e-14)


@pytest.mark.parametrize("event_share", [0.8, 0.3])
def test_windowed_km_several_times_equal_one_at_a_time(event_share):
    rng = np.random.default_rng(5)
    n = 300
    time = rng.integers(1, 20, n).astype(float)
    event = rng.random(n) < event_share
    lo = rng.integers(0, n, 200)
    hi = np.minimum(n, lo + rng.integers(0, 120, 200))
    ts = np.array([4.0, 9.0, 19.0])  # 19: no subject beyond the last time
    both = _windowed_km(time, event, ts, lo, hi)
    for j, t in enumerate(ts):
        np.testing.assert_allclose(both[j], _windowed_km(time, event, t, lo, hi), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("event_share", [0.8, 0.3])
def test_windowed_km_nested_and_tail_chains_match_direct(event_share):
    # windows that widen both ways then shrink (survivalROC's sparse tail), plus a sliding chain
    rng = np.random.default_rng(9)
    n = 400
    time = rng.integers(1, 25, n).astype(float)
    event = rng.random(n) < event_share
    grow_lo, grow_hi = np.arange(250, 150, -2), np.arange(260, 360, 2)
    shrink_lo, shrink_hi = np.arange(150, 390, 5), np.full(48, n)
    slide_lo = np.arange(0, 200, 3)
    lo = np.concatenate([slide_lo, grow_lo, shrink_lo])
    hi = np.concatenate([slide_lo + 40, grow_hi, shrink_hi])
    ts = np.array([6.0, 12.0])
    got = _windowed_km(time, event, ts, lo, hi)
    for w in range(lo.size):
        tt, ee = time[lo[w]:hi[w]], event[lo[w]:hi[w]]
        for j, t in enumerate(ts):
            s = 1.0
            for u in np.unique(tt[tt <= t]):
                s *= 1 - np.sum((tt == u) & ee) / np.sum(tt >= u)
            assert got[j, w] == pytest.approx(s, abs=1e-13)


def test_windowed_km_last_subject_rules_with_mostly_events():
    # mostly events: the telescoped path; no one beyond t, so the latest subject has m = 1
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    lo, hi = np.array([0, 0, 2]), np.array([6, 5, 6])
    dies_last = np.array([True, True, True, False, True, True])
    censored_last = np.array([True, True, True, True, True, False])
    s = _windowed_km(time, dies_last, 6.0, lo, hi)
    np.testing.assert_array_equal(s, [0.0, 0.0, 0.0])  # each window's latest subject dies (m = 1)
    c = _windowed_km(time, censored_last, 6.0, lo, hi)
    np.testing.assert_allclose(c, [1 / 6, 0.0, 0.25], rtol=1e-14)
