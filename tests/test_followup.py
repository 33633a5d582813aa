"""Median follow-up (reverse Kaplan-Meier) and event tables (npc_lib.stats.followup)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats.followup import event_table, median_follow_up


def _naive_reverse_km_quantile(t, e, p):
    """Censorings as events, events still at risk (survfit(Surv(t, 1 - e))), quantile.survfit."""
    cens = ~e
    times = np.unique(t)
    s, curve = 1.0, []
    for u in times:
        d = np.sum((t == u) & cens)
        s *= 1.0 - d / np.sum(t >= u)
        curve.append(s)
    curve = np.array(curve)
    hit = np.flatnonzero(curve <= 1 - p + 1e-12)
    if hit.size == 0:
        return np.nan
    i = hit[0]
    if abs(curve[i] - (1 - p)) < 1e-12:
        later = [j for j in range(i + 1, times.size) if np.sum((t == times[j]) & cens) > 0]
        if later:
            return (times[i] + times[later[0]]) / 2
    return times[i]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_median_follow_up_matches_naive_reverse_km(seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 30, 90).astype(float)
    e = rng.random(90) < 0.4
    fu = median_follow_up(t, e)
    want = [_naive_reverse_km_quantile(t, e, p) for p in (0.5, 0.25, 0.75)]
    np.testing.assert_allclose([fu.median, fu.q1, fu.q3], want)


def test_median_follow_up_tie_order_prodlim():
    # t = 2 holds an event and a censoring. prodlim removes the event first:
    # G(2) = 0.75 * (1 - 1/2) = 0.375 < 0.5, median 2. survfit keeps it at risk:
    # G(2) = 0.75 * (1 - 1/3) = 0.5 exactly, so the median is (2 + 3) / 2.
    t, e = [1, 2, 2, 3], [0, 1, 0, 0]
    assert median_follow_up(t, e, tie_order="events_first").median == 2.0
    assert median_follow_up(t, e).median == 2.5


def test_median_follow_up_rejects_bad_input():
    with pytest.raises(ValueError, match="time contains negative"):
        median_follow_up([1, -1], [0, 0])
    with pytest.raises(ValueError, match="event must be 0/1"):
        median_follow_up([1, 2], [0, 3])


def test_event_table_counts_per_group():
    d = pd.DataFrame({"t": [1, 2, 3, 4, 5], "e": [1, 0, 1, 1, 0]})
    tab = event_table(d, {"dfs": ("t", "e")}, ["a", "a", "b", "b", "b"])
    assert tab["events"].tolist() == [1, 2] and tab["percent"].round(1).tolist() == [50.0, 66.7]
    with pytest.raises(ValueError, match="column 'x' of 'os' not in df"):
        event_table(d, {"os": ("x", "e")})
