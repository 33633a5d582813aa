"""Baseline for the NNE speed-up (issue 9): ``time_dependent_auc(method="nne")`` as it was
before the one-sweep-for-all-times version, copied verbatim from ``npc_lib/stats/tdroc.py``
(commit d84cbde). :func:`nne_auc_reference` returns the AUC and the pooled Kaplan-Meier
``S(t)`` at each time, one full windowed sweep per time. Used by ``bench_stats.py`` (old vs
new side by side) and by ``tests/test_tdroc.py`` (identical results).
"""

from __future__ import annotations

import numpy as np


def _km_at(time: np.ndarray, event: np.ndarray, t: float) -> tuple[float, float]:
    """Kaplan-Meier ``S(t)`` and Greenwood's ``var(log S(t)) = sum d / (n (n - d))``.

    Shared private helper (survivalROC's ``s.pooled``, rms ``groupkm``,
    decision curves). Works without events (``S = 1``); ``var`` is ``inf``
    once ``S`` reaches 0.
    """
    u, inv = np.unique(time, return_inverse=True)
    keep = u <= t
    d = np.bincount(inv, weights=event.astype(float), minlength=u.size)[keep]
    n_risk = np.cumsum(np.bincount(inv, minlength=u.size)[::-1])[::-1][keep].astype(float)
    with np.errstate(divide="ignore"):
        var_log = float(np.sum(np.where(d > 0, d / (n_risk * (n_risk - d)), 0.0)))
    return float(np.prod(1.0 - d / n_risk)), var_log


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


def _sweep_windows(pos, is_event, m_start, w_lo, w_hi):
    """One sweep (see :func:`_windowed_km`) over windows sorted by ``hi``.

    For a subject at ``p`` the windows from the first with ``hi > p`` up to
    the running maximum of ``lo`` passing ``p`` all hold it (plain slice);
    from there to the last window with ``lo <= p`` a mask is needed.
    """
    prefix_max_lo = np.maximum.accumulate(w_lo)
    suffix_min_lo = np.minimum.accumulate(w_lo[::-1])[::-1]
    first = np.searchsorted(w_hi, pos, side="right")
    core = np.maximum(np.searchsorted(prefix_max_lo, pos, side="right"), first)
    last = np.maximum(np.searchsorted(suffix_min_lo, pos, side="right"), core)
    keep = last > first  # subjects in at least one window of this sweep
    first, core, last, pos = first[keep], core[keep], last[keep], pos[keep]
    is_event = np.asarray(is_event, dtype=bool)[keep].tolist()
    m = m_start.copy()
    acc = np.zeros(w_lo.size)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf: S = 0
        for a, c, b, p, ev in zip(first.tolist(), core.tolist(), last.tolist(), pos.tolist(), is_event):
            if a < c:
                seg = m[a:c]
                seg += 1.0
                if ev:
                    acc[a:c] += np.log1p(-1.0 / seg)
            if c < b:
                inside = w_lo[c:b] <= p
                seg = m[c:b]
                seg += inside
                if ev:
                    acc[c:b] += np.where(inside, np.log1p(-1.0 / seg), 0.0)
    return acc


def _windowed_km(time: np.ndarray, event: np.ndarray, t: float, lo: np.ndarray, hi: np.ndarray):
    """Kaplan-Meier ``S(t)`` of every subset ``{subjects lo_w .. hi_w - 1}`` (a fixed order).

    Sweep the subjects followed to ``t`` or less in decreasing time order
    (events before censorings at a tie): each adds one to the risk count
    ``m_w`` of every window holding it and, if an event, ``log(1 - 1/m_w)``
    to their log-survival; subjects beyond ``t`` only start the counts.
    Windows are kept sorted by ``hi``, so those holding a subject at ``p``
    lie in one slice, from the first with ``hi > p`` to the last with
    ``lo <= p``; where ``lo`` is not monotone a mask ``lo <= p`` drops the
    others at the end of the slice. Windows whose ``lo`` falls far below
    that of earlier ones (which would stretch every slice; e.g. the wide
    windows survivalROC makes in the upper tail) go to further sweeps (at
    most 3 splits, then one masked sweep of the rest). Each step is a few
    contiguous slice operations, so the total work is about the sum of the
    window sizes.
    """
    early = time <= t
    late_prefix = np.concatenate([[0], np.cumsum(~early)])
    pos = np.flatnonzero(early)
    rank = _time_order_ranks(time[pos], event[pos])
    pos = pos[np.argsort(-rank)]  # latest first
    is_event = event[pos].tolist()
    log_s = np.zeros(lo.size)
    todo = np.arange(lo.size)
    sweeps = 0
    while todo.size:
        widths = hi[todo] - lo[todo]
        # after a few splits, sweep the remainder once with masks
        sweeps += 1
        slack = np.inf if sweeps > 3 else max(1.0, 0.1 * float(np.median(widths)))
        regular, todo_next = _split_regular(lo[todo], hi[todo], slack)
        idx = todo[regular]
        w_lo, w_hi = lo[idx], hi[idx]
        m_start = (late_prefix[w_hi] - late_prefix[w_lo]).astype(float)
        log_s[idx] = _sweep_windows(pos, is_event, m_start, w_lo, w_hi)
        todo = todo[todo_next]
    return np.exp(log_s)


def _nne_windows(xs: np.ndarray, ux: np.ndarray, span: float):
    """Window ``[lo, hi)`` in sorted-marker order for every unique marker value.

    survivalROC 1.0.3.1 (R, window="symmetric"): ``ddd = sort(x - u)``,
    ``index1 = #(ddd < 0) + 1 + trunc(n span + 0.5)`` capped at ``n``,
    ``lambda = ddd[index1]``; the window is ``-lambda <= x - u <= lambda``,
    compared in floating point exactly as R does (``x - u`` is monotone in
    ``x``, so the window is a contiguous run of the sorted markers; a start
    from ``searchsorted`` is moved over whole tie groups until R's test holds).
    """
    n = xs.size
    half = int(np.trunc(n * span + 0.5))
    first = np.searchsorted(xs, ux, side="left")
    idx1 = np.minimum(first + half, n - 1)
    lam = xs[idx1] - ux
    hi = np.searchsorted(xs, xs[idx1], side="right")  # exclusive; all of these qualify
    while True:
        grow = hi < n
        grow[grow] = (xs[hi[grow]] - ux[grow]) <= lam[grow]
        if not grow.any():
            break
        hi[grow] = np.searchsorted(xs, xs[hi[grow]], side="right")
    lo = np.minimum(np.searchsorted(xs, ux - lam, side="left"), first)
    while True:
        shrink = (xs[lo] - ux) < -lam
        if not shrink.any():
            break
        lo[shrink] = np.searchsorted(xs, xs[lo[shrink]], side="right")
    while True:
        grow = lo > 0
        grow[grow] = (xs[lo[grow] - 1] - ux[grow]) >= -lam[grow]
        if not grow.any():
            break
        lo[grow] = np.searchsorted(xs, xs[lo[grow] - 1], side="left")
    return lo, hi


def _nne_conditional_survival(time, event, marker, t, span):
    """survivalROC's ``S(t | x)`` for every unique marker value (vectorised NNE)."""
    order = np.argsort(marker, kind="stable")
    xs = marker[order]
    ux = np.unique(xs)
    lo, hi = _nne_windows(xs, ux, span)
    win, win_inv = np.unique(np.stack([lo, hi]), axis=1, return_inverse=True)  # shared windows
    surv = _windowed_km(time[order], event[order], t, win[0], win[1])
    return ux, surv[np.asarray(win_inv).ravel()]


def _roc_from_conditional(surv_u, count_u, n, s_marg):
    """survivalROC NNE: TP/FP at cuts ``marker > u_c`` (u ascending), last cut (0, 0)."""
    p1 = (n - np.cumsum(count_u)) / n
    sx = (np.sum(surv_u * count_u) - np.cumsum(surv_u * count_u)) / n
    tp = (p1 - sx) / (1.0 - s_marg)
    fp = sx / s_marg
    tp[-1] = fp[-1] = 0.0  # survivalROC sets the last cut to (0, 0) exactly
    return tp, fp


def nne_auc_reference(time, event, marker, times, span=None):
    """survivalROC NNE AUC at each of ``times`` (old implementation); list of ``(auc, survival)``.

    Inputs must already be valid (float time, bool event, float marker), as after
    ``time_dependent_auc``'s checks.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    marker = np.asarray(marker, dtype=float)
    n = time.size
    span = 0.25 * n ** (-0.2) if span is None else float(span)
    out = []
    for t in np.atleast_1d(np.asarray(times, dtype=float)):
        t = float(t)
        s_pooled = _km_at(time, event, t)[0]
        ux, xrank = np.unique(marker, return_inverse=True)
        count_u = np.bincount(xrank, minlength=ux.size).astype(float)
        _, surv_u = _nne_conditional_survival(time, event, marker, t, span)
        s_marg = float(np.sum(surv_u * count_u) / n)
        tp, fp = _roc_from_conditional(surv_u, count_u, n, s_marg)
        fpr = np.concatenate([[1.0], fp])[::-1]
        tpr = np.concatenate([[1.0], tp])[::-1]
        out.append((float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)), s_pooled))
    return out
