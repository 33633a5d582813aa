"""weighted_concordance against survival::concordance (R) and a naive O(n^2) version."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats import fit_cox, weighted_concordance

DATA = Path(__file__).parent / "data"


def _r_case(ds):
    ref = json.loads((DATA / f"{ds}_extra.json").read_text())
    d = pd.read_csv(DATA / f"{ds}.csv")
    lp = fit_cox(d, "time", "status", ref["fixed_covariates"]).linear_predictor(d)
    return d, lp, ref


def _naive(time, event, risk, timewt="n", ymax=None):
    """Literal pair loops: KM curves by hand, every comparable pair, per-subject counts."""
    time, event, risk = np.asarray(time, float), np.asarray(event, bool), np.asarray(risk, float)
    n = time.size

    def s_minus(t):  # Kaplan-Meier S(t-)
        s = 1.0
        for u in np.unique(time[event]):
            if u < t:
                s *= 1 - np.sum(event & (time == u)) / np.sum(time >= u)
        return s

    def g_minus(t):  # censoring KM G(t-), deaths leave first at a tie
        g = 1.0
        for u in np.unique(time[~event]):
            if u < t:
                g *= 1 - np.sum(~event & (time == u)) / (np.sum(time >= u) - np.sum(event & (time == u)))
        return g

    def weight(t):
        if timewt == "n" or event.sum() < 2:
            return 1.0
        nr = np.sum(time >= t)
        return {"S": n * s_minus(t) / nr, "S/G": n * s_minus(t) / (g_minus(t) * nr),
                "n/G2": 1 / g_minus(t) ** 2}[timewt]

    ck, dk, tk = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        if not event[i]:
            continue
        w = 0.0 if (ymax is not None and time[i] > ymax) else weight(time[i])
        for j in range(n):
            if time[j] > time[i] or (time[j] == time[i] and not event[j]):
                kind = ck if risk[i] > risk[j] else dk if risk[i] < risk[j] else tk
                kind[i] += w
                kind[j] += w
    c, d, t = ck.sum() / 2, dk.sum() / 2, tk.sum() / 2
    npair = c + d + t
    somers = (c - d) / npair
    dfbeta = ((ck - dk) - (ck + dk + tk) * somers) / (2 * npair)
    return (c + t / 2) / npair, np.sqrt(np.sum(dfbeta**2))


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("timewt", ["n", "S", "S/G", "n/G2"])
def test_weighted_concordance_equals_r(ds, timewt):
    d, lp, ref = _r_case(ds)
    r = ref["concordance_timewt"][timewt]
    full = weighted_concordance(d.time, d.status, lp, timewt=timewt)
    trunc = weighted_concordance(d.time, d.status, lp, timewt=timewt, ymax=r["ymax"])
    assert full.c_index == pytest.approx(r["c"], rel=1e-6)
    assert full.se == pytest.approx(r["se"], rel=1e-4)
    assert trunc.c_index == pytest.approx(r["c_ymax"], rel=1e-6)
    assert trunc.se == pytest.approx(r["se_ymax"], rel=1e-4)


@pytest.mark.parametrize("timewt", ["n", "S", "S/G", "n/G2"])
@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_concordance_matches_naive_with_ties(timewt, seed):
    rng = np.random.default_rng(seed)
    n = 70
    time = rng.integers(1, 15, n).astype(float)  # many tied times, death/censoring ties
    event = rng.uniform(size=n) < 0.6
    risk = rng.integers(0, 8, n).astype(float)  # many tied risks
    for ymax in (None, 9.0):
        got = weighted_concordance(time, event, risk, timewt=timewt, ymax=ymax)
        c, se = _naive(time, event, risk, timewt, ymax)
        assert got.c_index == pytest.approx(c, rel=1e-12)
        assert got.se == pytest.approx(se, rel=1e-10)


def test_weighted_concordance_s_over_g_equals_uno():
    rng = np.random.default_rng(3)
    time = rng.integers(1, 30, 200).astype(float)
    event = rng.uniform(size=200) < 0.5
    risk = rng.normal(size=200)
    a = weighted_concordance(time, event, risk, timewt="S/G")
    b = weighted_concordance(time, event, risk, timewt="n/G2")
    assert a.c_index == pytest.approx(b.c_index, rel=1e-12)


def test_weighted_concordance_perfect_and_reversed():
    time = np.arange(1.0, 11.0)
    event = np.ones(10, bool)
    assert weighted_concordance(time, event, -time).c_index == 1.0
    assert weighted_concordance(time, event, time).c_index == 0.0


def test_weighted_concordance_merges_near_tied_times():
    time = np.array([1.0, 2.0, 2.0 + 1e-12, 3.0, 4.0])
    event = np.array([1, 1, 0, 1, 0])
    risk = np.array([5.0, 3.0, 4.0, 2.0, 1.0])
    a = weighted_concordance(time, event, risk)
    b = weighted_concordance(np.array([1.0, 2.0, 2.0, 3.0, 4.0]), event, risk)
    assert a.c_index == b.c_index and a.n_pairs == b.n_pairs


@pytest.mark.parametrize("kwargs, match", [
    (dict(time=[1, np.nan, 3], event=[1, 0, 1], risk=[1, 2, 3]), "time"),
    (dict(time=[1, -2, 3], event=[1, 0, 1], risk=[1, 2, 3]), "time"),
    (dict(time=[1, 2, 3], event=[1, 0], risk=[1, 2, 3]), "event"),
    (dict(time=[1, 2, 3], event=[0, 0, 0], risk=[1, 2, 3]), "event"),
    (dict(time=[1, 2, 3], event=[1, 0, 1], risk=[1, 2]), "risk"),
    (dict(time=[1, 2, 3], event=[1, 0, 1], risk=[1, np.nan, 2]), "risk"),
    (dict(time=[1, 2, 3], event=[1, 0, 1], risk=[1, 2, 3], timewt="G"), "timewt"),
    (dict(time=[1, 2, 3], event=[1, 0, 1], risk=[1, 2, 3], ymax=0.5), "ymax"),
])
def test_weighted_concordance_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        weighted_concordance(**kwargs)
