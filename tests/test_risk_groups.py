"""Tests for npc_lib.stats.risk_groups (cut-off fitted on training, applied unchanged)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npc_lib.stats.kaplan_meier import logrank_test
from npc_lib.stats.risk_groups import RiskCutoff, logrank_statistics

DATA = Path(__file__).parent / "data"


@functools.lru_cache(maxsize=None)
def _load(ds: str):
    d = pd.read_csv(DATA / f"{ds}.csv")
    dv = pd.read_csv(DATA / f"{ds}_derived.csv")
    return d["time"].to_numpy(), d["status"].to_numpy(), dv


def _naive_maxstat(time, event, risk, min_group):
    best = (None, -np.inf)
    for c in np.unique(risk)[:-1]:
        g = (risk > c).astype(int)
        if min(g.mean(), 1 - g.mean()) < min_group:
            continue
        chi2 = logrank_test(time, event, g).chi2
        if chi2 > best[1]:
            best = (c, chi2)
    return best


@pytest.mark.parametrize("ds", ["lung", "veteran"])
def test_median_rule_reproduces_r_high_risk(ds):
    time, event, dv = _load(ds)
    for col in ("lp_efron_uncentered", "lp_efron_meancentered", "nomogram_total_points"):
        cut = RiskCutoff.fit(time, event, dv[col], method="median")
        np.testing.assert_array_equal(cut.predict(dv[col]), dv["high_risk"])
    lr = logrank_test(time, event, dv["high_risk"])
    assert RiskCutoff.fit(time, event, dv["lp_efron_uncentered"], method="median").statistic == pytest.approx(lr.chi2)


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("min_group", [0.1, 0.2, 0.3])
def test_maxstat_picks_argmax_of_naive_loop(ds, min_group):
    time, event, dv = _load(ds)
    risk = dv["lp_efron_uncentered"].to_numpy()
    cut = RiskCutoff.fit(time, event, risk, method="maxstat", min_group=min_group)
    want_cut, want_chi2 = _naive_maxstat(time, event, risk, min_group)
    assert cut.cutoff == want_cut
    assert cut.statistic == pytest.approx(want_chi2, rel=1e-10)
    share = cut.predict(risk).mean()
    assert min_group <= share <= 1 - min_group
    assert cut.candidates["share_high"].between(min_group, 1 - min_group).all()


def test_logrank_statistics_equal_logrank_test_with_ties():
    rng = np.random.default_rng(2)
    time = np.ceil(rng.exponential(10, 150))
    event = rng.random(150) < 0.6
    risk = np.round(rng.normal(size=150), 1)                    # tied risk values
    cuts = np.array([-1.0, -0.3, 0.0, 0.45, 1.2])
    got = logrank_statistics(time, event, risk, cuts)
    want = [logrank_test(time, event, (risk > c).astype(int)).chi2 for c in cuts]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert np.isnan(logrank_statistics(time, event, risk, [risk.max()])[0])   # one group empty


def test_cutoff_fitted_on_training_is_applied_unchanged():
    rng = np.random.default_rng(4)
    risk = rng.normal(size=400)
    time = rng.exponential(np.exp(-1.5 * (risk > 0.3)))
    event = rng.random(400) < 0.8
    train, test = slice(0, 250), slice(250, 400)
    cut = RiskCutoff.fit(time[train], event[train], risk[train])
    frozen = cut.cutoff
    groups = cut.predict(risk[test])
    assert cut.cutoff == frozen                                   # predict does not refit
    np.testing.assert_array_equal(groups, (risk[test] > frozen).astype(int))
    assert frozen in set(risk[train])                             # chosen among training values only
    refit = RiskCutoff.fit(time[test], event[test], risk[test])
    assert refit.cutoff != frozen


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), a=st.floats(0.1, 10), b=st.floats(-5, 5))
def test_maxstat_groups_invariant_to_monotone_transform(seed, a, b):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=60)
    time = rng.exponential(np.exp(-risk))
    event = rng.random(60) < 0.7
    event[0] = True
    g1 = RiskCutoff.fit(time, event, risk).predict(risk)
    z = np.exp(a * risk + b)
    g2 = RiskCutoff.fit(time, event, z).predict(z)
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "optimal"}, "method must be one of"),
        ({"min_group": 0.5}, r"min_group must be in \[0, 0.5\)"),
        ({"risk": [1.0, 2.0]}, "risk length 2 differs"),
        ({"risk": [1.0, np.nan, 2.0, 3.0, 4.0]}, "risk contains NaN"),
        ({"risk": [1.0] * 5}, "risk is constant"),
        ({"time": [1, 2, -3, 4, 5]}, "time contains negative"),
        ({"event": [0] * 5}, "event has no events"),
    ],
)
def test_risk_cutoff_rejects_bad_input(kwargs, match):
    args = {"time": [1, 2, 3, 4, 5], "event": [1, 1, 0, 1, 1], "risk": [0.1, 0.5, 0.2, 0.9, 0.3]} | kwargs
    with pytest.raises(ValueError, match=match):
        RiskCutoff.fit(**args)
    with pytest.raises(ValueError, match="risk contains NaN"):
        RiskCutoff(cutoff=0.0, method="median", min_group=0.2, statistic=1.0).predict([np.nan])


@pytest.mark.parametrize("method", ["maxstat", "median"])
def test_risk_cutoff_midpoint_keeps_the_training_split(method):
    rng = np.random.default_rng(3)
    risk = rng.normal(size=101)
    time = rng.exponential(np.exp(-risk))
    event = (rng.uniform(size=101) < 0.7).astype(int)
    at = RiskCutoff.fit(time, event, risk, method=method)
    mid = RiskCutoff.fit(time, event, risk, method=method, midpoint=True)
    assert (at.predict(risk) == mid.predict(risk)).all() and mid.statistic == at.statistic
    assert not np.isin(mid.cutoff, risk)
    below, above = risk[risk <= at.cutoff].max(), risk[risk > at.cutoff].min()
    assert mid.cutoff == pytest.approx((below + above) / 2)
