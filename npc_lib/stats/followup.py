"""Follow-up and event summaries: reverse Kaplan-Meier median follow-up, event tables."""

from __future__ import annotations

__all__ = ["FollowUp", "median_follow_up", "event_table"]

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ._validation import check_survival
from .kaplan_meier import KaplanMeier


@dataclass(frozen=True)
class FollowUp:
    """Median follow-up with interquartile range (same unit as the times)."""

    median: float
    q1: float
    q3: float


def median_follow_up(time, event, *, tie_order: str = "censored_first") -> FollowUp:
    """Median follow-up by the reverse Kaplan-Meier method (censorings as events).

    Parameters
    ----------
    time : array_like, shape (n,)
        Follow-up times (any unit, e.g. months).
    event : array_like, shape (n,)
        1 = event, 0 = censored. Reversed internally: a censoring is the
        "event" of the follow-up distribution.
    tie_order : {"censored_first", "events_first"}
        At a time with both an event and a censoring: ``"censored_first"``
        (default) keeps the event in the risk set of the censoring, as
        ``survfit(Surv(time, 1 - event) ~ 1)``; ``"events_first"`` removes
        it first, as ``prodlim(..., reverse = TRUE)``. See
        :class:`npc_lib.stats.kaplan_meier.KaplanMeier`.

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
    t, e = check_survival(time, event, min_events=0)
    g = KaplanMeier.fit(t, e, reverse=True, tie_order=tie_order)
    return FollowUp(*(g.quantile(p) for p in (0.5, 0.25, 0.75)))


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
