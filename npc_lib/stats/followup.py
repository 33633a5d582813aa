"""Follow-up and event summaries: reverse Kaplan-Meier median follow-up, event tables."""

from __future__ import annotations

__all__ = ["FollowUp", "median_follow_up", "event_table"]

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd


def _check_survival(time, event) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float)
    e = np.asarray(event)
    if t.ndim != 1 or e.ndim != 1:
        raise ValueError("time, event: expected 1-D arrays")
    if t.shape != e.shape:
        raise ValueError(f"time, event: lengths differ ({t.size} vs {e.size})")
    if t.size == 0:
        raise ValueError("time: empty")
    if not np.all(np.isfinite(t)):
        raise ValueError("time: contains NaN or infinite values")
    if np.any(t < 0):
        raise ValueError("time: negative values")
    if not np.isin(e, (0, 1, True, False)).all():
        raise ValueError("event: values must be 0/1 or boolean")
    return t, e.astype(bool)


@dataclass(frozen=True)
class FollowUp:
    """Median follow-up with interquartile range (same unit as the times)."""

    median: float
    q1: float
    q3: float


def _km_quantile(t: np.ndarray, d: np.ndarray, p: float) -> float:
    """Smallest time at which the KM survival of (t, d) is <= 1 - p (as R's quantile.survfit)."""
    order = np.argsort(t, kind="mergesort")
    t, d = t[order], d[order]
    uniq, idx = np.unique(t, return_index=True)
    n_at_risk = t.size - idx
    deaths = np.add.reduceat(d.astype(float), idx)
    surv = np.cumprod(1.0 - deaths / n_at_risk)
    target = 1.0 - p
    below = np.flatnonzero(surv <= target + 1e-12)
    if below.size == 0:
        return float("nan")
    i = below[0]
    # R averages with the next event time when survival hits the target exactly
    if abs(surv[i] - target) < 1e-12:
        later = np.flatnonzero((deaths > 0) & (np.arange(uniq.size) > i))
        if later.size:
            return float((uniq[i] + uniq[later[0]]) / 2)
    return float(uniq[i])


def median_follow_up(time, event) -> FollowUp:
    """Median follow-up by the reverse Kaplan-Meier method (censorings as events).

    Parameters
    ----------
    time : array_like, shape (n,)
        Follow-up times (any unit, e.g. months).
    event : array_like, shape (n,)
        1 = event, 0 = censored. Reversed internally: a censoring is the
        "event" of the follow-up distribution.

    Returns
    -------
    FollowUp
        ``median``, ``q1`` and ``q3`` of the reverse-KM follow-up distribution.

    References
    ----------
    Schemper M, Smith TL. A note on quantifying follow-up in studies of
    failure time. Control Clin Trials 1996;17:343-6.

    Examples
    --------
    >>> fu = median_follow_up([1, 2, 3, 4, 5], [0, 0, 0, 0, 0])
    >>> fu.median, fu.q1, fu.q3
    (3.0, 2.0, 4.0)
    """
    t, e = _check_survival(time, event)
    return FollowUp(*(_km_quantile(t, ~e, p) for p in (0.5, 0.25, 0.75)))


def event_table(
    df: pd.DataFrame,
    endpoints: Mapping[str, tuple[str, str]],
    group: Sequence | pd.Series | None = None,
) -> pd.DataFrame:
    """Events per endpoint (and group): ``n``, ``events``, ``percent``.

    Parameters
    ----------
    df : DataFrame
        One row per subject.
    endpoints : mapping
        ``{label: (time_column, event_column)}``.
    group : array_like, optional
        Group label per row (e.g. ``train``/``test``); ``None`` = everyone.

    Examples
    --------
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 0, 1, 1]})
    >>> event_table(d, {"dfs": ("t", "e")}, ["a", "a", "b", "b"])["events"].tolist()
    [1, 2]
    """
    if group is None:
        group = np.repeat("all", len(df))
    group = np.asarray(group)
    if group.shape[0] != len(df):
        raise ValueError(f"group: length {group.shape[0]} differs from df ({len(df)} rows)")
    rows = []
    for label, (tcol, ecol) in endpoints.items():
        for col in (tcol, ecol):
            if col not in df.columns:
                raise ValueError(f"endpoints: column {col!r} of {label!r} not in df")
        for g in pd.unique(group):
            sel = group == g
            ev = int(np.asarray(df.loc[sel, ecol]).astype(int).sum())
            n = int(sel.sum())
            rows.append({"endpoint": label, "group": g, "n": n, "events": ev, "percent": 100.0 * ev / n})
    return pd.DataFrame(rows)
