"""brier_score / integrated_brier_score against riskRegression::Score (R) and naive loops."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats import brier_score, fit_cox, integrated_brier_score

DATA = Path(__file__).parent / "data"


def _r_case(ds):
    ref = json.loads((DATA / f"{ds}_extra.json").read_text())
    d = pd.read_csv(DATA / f"{ds}.csv")
    fit = fit_cox(d, "time", "status", ref["fixed_covariates"])
    return d, fit, ref


def _naive_brier(time, event, surv_t, t):
    """riskRegression's Brier.survival + getInfluenceFunctionBrierKMCensoringTerm as literal loops."""
    order = np.lexsort((~event, time))
    T, E, risk = time[order], event[order], 1 - surv_t[order]
    n = T.size

    def g(s, strict):  # prodlim reverse KM, events leave first at a tie
        val = 1.0
        for u in np.unique(T[~E]):
            if u < s or (u == s and not strict):
                val *= 1 - np.sum((T == u) & ~E) / (np.sum(T >= u) - np.sum((T == u) & E))
        return val

    res = np.zeros(n)
    for i in range(n):
        if T[i] <= t and E[i]:
            res[i] = (1 - risk[i]) ** 2 / g(T[i], strict=True)
        elif T[i] > t:
            res[i] = risk[i] ** 2 / g(t, strict=False)
    # getInfluenceFunctionKM
    utime = np.unique(T)
    atrisk = np.array([np.sum(T >= u) for u in utime], float)
    cens = np.array([np.sum((T == u) & ~E) for u in utime], float)
    mc = np.cumsum(cens / atrisk * n / atrisk)
    sindex = np.searchsorted(utime, T)
    first_hit = np.sum(T <= t) - 1
    icpart2 = sum(res[i] for i in range(n) if E[i] and T[i] <= t)
    icpart = sum(res[i] for i in range(n) if T[i] > t) / n
    icpart1 = 0.0
    k = 0
    while k < n and T[k] == T[0]:
        if T[k] <= t and E[k]:
            icpart2 -= res[k]
        k += 1
    upper_tie = k - 1
    term = np.zeros(n)
    for i in range(n):
        j = first_hit if i > first_hit else i
        if j == -1:
            fihat = 0.0
        elif utime[sindex[j]] < T[i]:
            fihat = -mc[sindex[j]]
        else:
            fihat = (not E[i]) * n / atrisk[sindex[i]] - mc[sindex[i]]
        term[i] = (icpart1 + fihat * icpart2) / n + icpart * fihat
        if upper_tie == i:
            k = i + 1
            while k < n and T[k] == T[i + 1]:
                if T[k] <= t and E[k]:
                    icpart1 -= res[k] * mc[sindex[i]]
                    icpart2 -= res[k]
                k += 1
            upper_tie = k - 1
    infl = res - res.mean() + term
    return res.mean(), np.std(infl, ddof=1) / np.sqrt(n)


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_brier_score_equals_r(ds):
    d, fit, ref = _r_case(ds)
    times = ref["times"]
    b = brier_score(d.time, d.status, fit.predict_survival(d, times), times)
    sc = pd.DataFrame(ref["score"]["brier"])
    cox, null = sc[sc.model == "cox"], sc[sc.model == "Null model"]
    assert b.time.tolist() == [float(t) for t in times]
    np.testing.assert_allclose(b.brier, cox.brier, rtol=1e-6)
    np.testing.assert_allclose(b.se, cox.se, rtol=1e-4)
    np.testing.assert_allclose(b.brier_null, null.brier, rtol=1e-6)
    np.testing.assert_allclose(b.se_null, null.se, rtol=1e-4)
    np.testing.assert_allclose(b.ipa, cox.ipa, rtol=1e-6)


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_brier_score_grid_and_ibs_equal_r(ds):
    d, fit, ref = _r_case(ds)
    g = ref["ibs_grid"]
    grid = np.array(g["grid"])
    surv = fit.predict_survival(d, grid)
    b = brier_score(d.time, d.status, surv, grid)
    np.testing.assert_allclose(b.brier, g["brier_cox"], rtol=1e-6)
    np.testing.assert_allclose(b.brier_null, g["brier_null"], rtol=1e-6)
    assert integrated_brier_score(d.time, d.status, surv, grid) == pytest.approx(g["ibs_cox"], rel=1e-6)
    # riskRegression's ibs on the two report times
    times = ref["times"]
    sc = pd.DataFrame(ref["score"]["brier"])
    ibs_r = sc[sc.model == "cox"].ibs.iloc[-1]
    assert integrated_brier_score(d.time, d.status, fit.predict_survival(d, times), times) == \
        pytest.approx(ibs_r, rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_brier_score_matches_naive_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 60
    time = rng.integers(1, 12, n).astype(float)  # tied times, death/censoring ties
    event = rng.uniform(size=n) < 0.6
    times = [3.0, 6.0, 11.0]
    surv = rng.uniform(0.05, 0.95, size=(n, 3))
    got = brier_score(time, event, surv, times)
    for j, t in enumerate(times):
        b, se = _naive_brier(time, event, surv[:, j], t)
        assert got.brier[j] == pytest.approx(b, rel=1e-12)
        assert got.se[j] == pytest.approx(se, rel=1e-10)


def test_brier_score_null_model_has_zero_ipa():
    rng = np.random.default_rng(4)
    time = rng.exponential(size=150)
    event = rng.uniform(size=150) < 0.7
    from npc_lib.stats.kaplan_meier import KaplanMeier

    s = KaplanMeier.fit(time, event).survival_at([0.5, 1.0])
    b = brier_score(time, event, np.tile(s, (150, 1)), [0.5, 1.0])
    np.testing.assert_allclose(b.brier, b.brier_null, rtol=1e-14)
    np.testing.assert_allclose(b.ipa, 0.0, atol=1e-14)


def test_integrated_brier_score_is_left_step_sum():
    rng = np.random.default_rng(5)
    time = rng.exponential(size=100)
    event = rng.uniform(size=100) < 0.7
    grid = np.array([0.2, 0.5, 0.9])
    surv = rng.uniform(0.1, 0.9, size=(100, 3))
    b = brier_score(time, event, surv, grid).brier.to_numpy()
    expected = (b[0] * 0.3 + b[1] * 0.4) / 0.9
    assert integrated_brier_score(time, event, surv, grid) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("kwargs, match", [
    (dict(time=[1, np.nan, 3, 4], event=[1, 0, 1, 1], surv=[[.5]] * 4, times=[2]), "time"),
    (dict(time=[1, -2, 3, 4], event=[1, 0, 1, 1], surv=[[.5]] * 4, times=[2]), "time"),
    (dict(time=[1, 2, 3, 4], event=[0, 0, 0, 0], surv=[[.5]] * 4, times=[2]), "event"),
    (dict(time=[1, 2, 3, 4], event=[1, 0, 1, 1], surv=[[.5]] * 3, times=[2]), "surv"),
    (dict(time=[1, 2, 3, 4], event=[1, 0, 1, 1], surv=[[.5, .4]] * 4, times=[2]), "surv"),
    (dict(time=[1, 2, 3, 4], event=[1, 0, 1, 1], surv=[[np.nan]] * 4, times=[2]), "surv"),
    (dict(time=[1, 2, 3, 4], event=[1, 0, 1, 1], surv=[[1.5]] * 4, times=[2]), "surv"),
    (dict(time=[1, 2, 3, 4], event=[1, 0, 1, 1], surv=[[.5]] * 4, times=[9]), "times"),
    (dict(time=[1, 2, 3, 4], event=[1, 0, 1, 1], surv=[[.5]] * 4, times=[-1]), "times"),
])
def test_brier_score_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        brier_score(**kwargs)
    with pytest.raises(ValueError, match=match):
        integrated_brier_score(**kwargs)


def test_integrated_brier_score_needs_increasing_times():
    with pytest.raises(ValueError, match="times"):
        integrated_brier_score([1, 2, 3, 4], [1, 0, 1, 1], [[.5, .5]] * 4, [3, 2])
