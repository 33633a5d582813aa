"""Kaplan-Meier survival of many windows of one ordered sample at once (survivalROC's engine).

:func:`windowed_km` gives ``S(t)`` of every subset ``{subjects lo_w .. hi_w - 1}``
of a fixed order (for survivalROC: the subjects sorted by marker; NNE windows
of neighbouring marker values, or the suffixes ``{marker > c}`` of the KM
method), at one or several times, in about the summed window sizes: one
sweep over the subjects in decreasing time order updates integer risk
counts of the windows holding each subject (contiguous slices of a chain of
windows), and the smaller of the two groups (events or censorings) adds
``log(1 - 1/m)`` from a table; the other group's sum telescopes. Used by
:mod:`npc_lib.stats.tdroc`.

Ties: the product-limit factor of ``d`` tied events among ``m`` at risk,
``1 - d/m``, is the product of ``1 - 1/m_i`` over the tied events taken one at
a time in a strict order (by time, events before censorings), so every
subject can be handled on its own.
"""

from __future__ import annotations

__all__ = ["windowed_km"]

import numpy as np


def _time_order_ranks(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Ranks of a strict total order: by time, events before censorings at a tie.

    With this order the product-limit factor of ``d`` tied events among ``m``
    at risk, ``1 - d/m``, equals the product of ``1 - 1/m_i`` over the tied
    events taken one at a time, ``m_i`` = subjects ranked at or after ``i``.
    """
    order = np.lexsort((~event, time))
    rank = np.empty(time.size, dtype=np.int64)
    rank[order] = np.arange(time.size)
    return rank


def _split_regular(lo: np.ndarray, hi: np.ndarray, slack: float):
    """Windows sorted by ``(hi, lo)``; mark those whose ``lo`` stays within ``slack``
    of the running maximum (the rest, e.g. wide windows in a sparse tail, are
    handled in a further pass)."""
    order = np.lexsort((lo, hi))
    w_lo = lo[order]
    regular = w_lo >= np.maximum.accumulate(w_lo) - slack
    return order[regular], order[~regular]


def _split_nested(lo: np.ndarray, hi: np.ndarray):
    """Windows sorted by ``(hi, -lo)``; mark a chain of nested windows (``lo`` at its
    running minimum), e.g. the windows that widen both ways in a sparse tail."""
    order = np.lexsort((-lo, hi))
    w_lo = lo[order]
    nested = w_lo <= np.minimum.accumulate(w_lo)
    return order[nested], order[~nested]


def _slices(pos, w_lo, w_hi, kind: str, n_first: int = 0):
    """For each subject position: windows ``[a, c)`` hold it, ``[c, b)`` may (mask ``lo <= p``).

    ``"regular"`` chain (``hi`` and, up to a slack, ``lo`` increasing): from the
    first window with ``hi > p`` to the running maximum of ``lo`` passing ``p``
    (plain), then to the last window with ``lo <= p`` (masked). ``"nested"``
    chain (``hi`` increasing, ``lo`` decreasing): every window from the first
    with ``hi > p`` and ``lo <= p`` on holds ``p``. ``"pair"``: a nested chain
    (the first ``n_first`` windows) followed by a second one in *decreasing*
    size, so the windows holding ``p`` (a suffix of the first, a prefix of the
    second) form one plain slice.
    """
    if kind == "pair":
        a, end, _ = _slices(pos, w_lo[:n_first], w_hi[:n_first], "nested")
        lo2, hi2 = w_lo[n_first:][::-1], w_hi[n_first:][::-1]
        a2, end2, _ = _slices(pos, lo2, hi2, "nested")
        b = n_first + (end2 - a2)
        return a, b, b
    first = np.searchsorted(w_hi, pos, side="right")
    if kind == "nested":
        a = np.maximum(first, np.searchsorted(-w_lo, -pos, side="left"))
        end = np.full(pos.size, w_lo.size)
        return a, end, end
    prefix_max_lo = np.maximum.accumulate(w_lo)
    suffix_min_lo = np.minimum.accumulate(w_lo[::-1])[::-1]
    core = np.maximum(np.searchsorted(prefix_max_lo, pos, side="right"), first)
    last = np.maximum(np.searchsorted(suffix_min_lo, pos, side="right"), core)
    return first, core, last


def _sweep_windows(pos, gather, stage, m_start, w_lo, w_hi, n_times, table, kind="regular", n_first=0):
    """One sweep (see :func:`windowed_km`) over a chain of windows sorted by ``hi``.

    Every subject adds one to the risk counts of the windows holding it; a
    subject flagged in ``gather`` also adds ``table[m]`` (``log(1 - 1/m)``
    from a table, risk counts being integers; ``table[0] = 0`` for windows
    masked out) to the sums of every time it is at or before (rows
    ``stage..n_times-1`` of the result ``(n_times, W)``, times increasing).
    """
    first, core, last = _slices(pos, w_lo, w_hi, kind, n_first)
    keep = last > first  # subjects in at least one window of this sweep
    first, core, last, pos = first[keep], core[keep], last[keep], pos[keep]
    gather = np.asarray(gather, dtype=bool)[keep].tolist()
    stage = np.asarray(stage)[keep].tolist()
    m = m_start.astype(np.int64)
    acc = np.zeros((n_times, w_lo.size))
    for a, c, b, p, ev, j in zip(first.tolist(), core.tolist(), last.tolist(), pos.tolist(), gather, stage):
        if a < c:
            seg = m[a:c]
            seg += 1
            if ev:
                acc[j:, a:c] += table[seg]
        if c < b:
            inside = w_lo[c:b] <= p
            seg = m[c:b]
            seg += inside
            if ev:
                acc[j:, c:b] += table[seg * inside]
    return acc


def _telescoped(time, early, ts, pos, is_event, stage, late_prefix, lo, hi):
    """Sum of ``log(1 - 1/m)`` over *all* subjects at or before each ``t_j`` in each window.

    In sweep order those subjects come last, with risk counts ``m = M + 1 ..
    top`` (``top`` = window size counting the subjects beyond ``max(t)``), so the
    sum telescopes to ``log(max(M, 1)) - log(top)``, the term of ``m = 1``
    left out; where the subject counted with ``m = 1`` is an event, ``S = 0``.
    """
    out = np.zeros((ts.size, lo.size))
    late = late_prefix[hi] - late_prefix[lo]
    key = np.full(time.size + 1, pos.size, dtype=np.int64)  # sweep index (late: after all)
    key[pos] = np.arange(pos.size)
    pref_all = np.concatenate([[0], np.cumsum(early)])
    n_early = pref_all[hi] - pref_all[lo]
    top = late + n_early
    for j, t in enumerate(ts):
        pref = np.concatenate([[0], np.cumsum(early & (time <= t))])
        s_j = pref[hi] - pref[lo]
        before = top - s_j
        with np.errstate(divide="ignore"):
            tele = np.where(s_j > 0, np.log(np.maximum(before, 1)) - np.log(np.maximum(top, 1)), 0.0)
        first_m1 = np.flatnonzero((before == 0) & (s_j > 0))
        if first_m1.size:  # the subject met first (smallest sweep index) has m = 1
            bounds = np.stack([lo[first_m1], hi[first_m1]], axis=1).ravel()
            k = np.minimum.reduceat(key, bounds)[::2]
            dead = is_event[k] & (stage[k] <= j)
            tele[first_m1[dead]] = -np.inf
        out[j] = tele
    return out


def windowed_km(time: np.ndarray, event: np.ndarray, t, lo: np.ndarray, hi: np.ndarray):
    """Kaplan-Meier ``S(t)`` of every subset ``{subjects lo_w .. hi_w - 1}`` (a fixed order).

    Parameters
    ----------
    time : numpy.ndarray of float, shape (n,)
        Follow-up times, in the fixed order of the subjects (validated by the caller).
    event : numpy.ndarray of bool, shape (n,)
    t : float or numpy.ndarray, shape (m,)
        One time, or increasing times (one sweep serves them all).
    lo, hi : numpy.ndarray of int, shape (W,)
        Window ``w`` is subjects ``lo[w] .. hi[w] - 1`` (``0 <= lo <= hi <= n``).

    Returns
    -------
    numpy.ndarray
        ``S_w(t)``: shape ``(W,)`` for one time, ``(m, W)`` for several (1 for
        an empty window).

    Notes
    -----
    Sweep the subjects followed to ``max(t)`` or less in decreasing time order
    (events before censorings at a tie): each adds one to the risk count
    ``m_w`` of every window holding it, and an event adds ``log(1 - 1/m_w)``
    to the log-survival at every ``t`` it is not after; subjects beyond
    ``max(t)`` only start the counts. (When the sweep reaches the subjects at
    or before a smaller ``t``, the counts are exactly those a sweep for that
    ``t`` alone would start from, so one sweep serves all times.) With more
    events than censorings the censorings' terms are summed instead and
    subtracted from the telescoping sum over everyone. The windows are split
    into chains whose members holding a subject form a slice: regular chains
    (``hi`` and ``lo`` increasing, a mask ``lo <= p`` at the end of the slice
    where ``lo`` jitters) and pairs of nested chains (the windows survivalROC
    widens both ways and then shrinks in a sparse tail); each round takes the
    longer, and after 3 rounds the rest is swept once with masks. Each step is
    a few contiguous slice operations, so the total work is about the sum of
    the window sizes.

    Examples
    --------
    >>> time = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> event = np.array([True, True, False, True, False])
    >>> windowed_km(time, event, 3.5, np.array([0, 1, 2]), np.array([5, 5, 5])).round(4).tolist()
    [0.6, 0.75, 1.0]
    >>> windowed_km(time, event, np.array([1.5, 4.5]), np.array([0]), np.array([5])).round(4).tolist()
    [[0.8], [0.3]]
    """
    ts = np.atleast_1d(np.asarray(t, dtype=float))
    early = time <= ts[-1]
    late_prefix = np.concatenate([[0], np.cumsum(~early)])
    pos = np.flatnonzero(early)
    rank = _time_order_ranks(time[pos], event[pos])
    pos = pos[np.argsort(-rank)]  # latest first
    is_event = event[pos]
    stage = np.searchsorted(ts, time[pos], side="left")  # first time index with t >= T
    with np.errstate(divide="ignore"):  # log(1 - 1/1) = -inf: S = 0
        table = np.concatenate([[0.0], np.log1p(-1.0 / np.arange(1, time.size + 1, dtype=float))])
    # fewer censorings than events: sum the censorings' terms and subtract them from the
    # telescoping sum over everyone (sum_{m=a..b} log(1 - 1/m) = log(a - 1) - log(b))
    complement = 2 * int(is_event.sum()) > pos.size
    if complement:
        table[1] = 0.0  # m = 1 is left out of both sums (handled below)
    log_s = np.zeros((ts.size, lo.size))
    todo = np.arange(lo.size)
    rounds = 0
    while todo.size:
        widths = hi[todo] - lo[todo]
        rounds += 1
        slack = np.inf if rounds > 3 else max(1.0, 0.1 * float(np.median(widths)))
        chain, rest = _split_regular(lo[todo], hi[todo], slack)
        kind, n_first = "regular", 0
        if rounds <= 3:
            n_chain, n_rest = _split_nested(lo[todo], hi[todo])
            if n_chain.size > chain.size or (rounds > 1 and n_chain.size > rest.size):
                kind, chain, rest = "nested", n_chain, n_rest
                if rest.size:  # a second nested chain, in decreasing size, shares the sweep
                    n2, rest2 = _split_nested(lo[todo[rest]], hi[todo[rest]])
                    kind, n_first = "pair", chain.size
                    chain, rest = np.concatenate([chain, rest[n2][::-1]]), rest[rest2]
        idx = todo[chain]
        w_lo, w_hi = lo[idx], hi[idx]
        m_start = late_prefix[w_hi] - late_prefix[w_lo]
        gather = ~is_event if complement else is_event
        log_s[:, idx] = _sweep_windows(pos, gather, stage, m_start, w_lo, w_hi, ts.size, table, kind, n_first)
        todo = todo[rest]
    if complement:
        log_s = _telescoped(time, early, ts, pos, is_event, stage, late_prefix, lo, hi) - log_s
    surv = np.exp(log_s)
    return surv[0] if np.ndim(t) == 0 else surv

