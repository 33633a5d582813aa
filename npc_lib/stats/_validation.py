"""Input validators shared by every statistics module: one set of rules for survival data.

Every public statistic of :mod:`npc_lib.stats` checks its arrays here, so the
rules (and the error messages, which name the argument) are the same
everywhere:

* ``time``: numeric, 1-dimensional, finite, non-negative (any unit);
* ``event``: same length, 0/1 or boolean (1 = event), no NaN; at least
  ``min_events`` events (default 1; 0 for summaries that work without one,
  such as the reverse Kaplan-Meier of the follow-up or a plotted curve);
* a per-subject score (``risk``, ``marker``): numeric, same length, finite,
  not constant unless allowed;
* a probability per subject: in ``[0, 1]``;
* evaluation times: finite, non-negative, optionally increasing and not past
  the end of follow-up.

Errors are ``ValueError("<argument> ...")``: ``"time contains NaN or
infinite values"``, ``"time and event lengths differ: 3 vs 2"``, ``"event has
no events"``, ``"risk is constant"``, ...
"""

from __future__ import annotations

__all__ = [
    "check_survival",
    "check_columns",
    "check_group01",
    "check_marker",
    "check_probability",
    "check_times",
    "check_time_point",
    "check_alpha",
    "check_number",
]

import numpy as np


def _as_float_1d(values, name: str) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {x.shape}")
    return x


def check_survival(time, event, *, name_time: str = "time", name_event: str = "event",
                   min_events: int = 1, min_n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Validate right-censored survival data.

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times (any unit), finite and non-negative.
    event : array-like of 0/1 or bool, shape (n,)
        1/True = event, 0/False = censored.
    name_time, name_event : str
        Argument names used in error messages (e.g. ``"duration_col 't'"``).
    min_events : int, default 1
        Fewest events accepted (0: data without events are fine).
    min_n : int, default 1
        Fewest subjects accepted.

    Returns
    -------
    time : numpy.ndarray of float64, shape (n,)
    event : numpy.ndarray of bool, shape (n,)

    Raises
    ------
    ValueError
        Naming the argument: non-numeric, not 1-d, lengths differ, too few
        subjects, NaN/inf or negative time, event not 0/1, too few events.

    Examples
    --------
    >>> t, e = check_survival([3, 1.5, 2], [1, 0, True])
    >>> t.tolist(), e.tolist()
    ([3.0, 1.5, 2.0], [True, False, True])
    >>> check_survival([1, 2], [0, 0])
    Traceback (most recent call last):
    ...
    ValueError: event has no events
    """
    t = _as_float_1d(time, name_time)
    e = np.asarray(event)
    if e.dtype == object:
        try:
            e = e.astype(float)
        except (TypeError, ValueError):
            raise ValueError(f"{name_event} must be 0/1 or boolean") from None
    if e.ndim != 1:
        raise ValueError(f"{name_event} must be 1-dimensional, got shape {e.shape}")
    if t.shape != e.shape:
        raise ValueError(f"{name_time} and {name_event} lengths differ: {t.size} vs {e.size}")
    if t.size == 0:
        raise ValueError(f"{name_time} is empty")
    if t.size < min_n:
        raise ValueError(f"{name_time} needs at least {min_n} subjects, got {t.size}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name_time} contains NaN or infinite values")
    if np.any(t < 0):
        raise ValueError(f"{name_time} contains negative values")
    if e.dtype != bool:
        try:
            ef = e.astype(float)
        except (TypeError, ValueError):
            raise ValueError(f"{name_event} must be 0/1 or boolean") from None
        if np.any(np.isnan(ef)):
            raise ValueError(f"{name_event} contains NaN")
        if not np.all((ef == 0) | (ef == 1)):
            raise ValueError(f"{name_event} must be 0/1 or boolean")
        e = ef == 1
    if min_events > 0 and int(e.sum()) < min_events:
        raise ValueError(f"{name_event} has no events" if min_events == 1
                         else f"{name_event} has {int(e.sum())} events, fewer than {min_events}")
    return t, e


def check_marker(marker, n: int, name: str = "risk", *, allow_constant: bool = False) -> np.ndarray:
    """Validate a per-subject score (e.g. a risk score, higher = worse) of length ``n``.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)

    Examples
    --------
    >>> check_marker([0.2, 1.5, -1], 3).tolist()
    [0.2, 1.5, -1.0]
    >>> check_marker([1, 1], 2, "marker")
    Traceback (most recent call last):
    ...
    ValueError: marker is constant
    """
    x = _as_float_1d(marker, name)
    if x.size != n:
        raise ValueError(f"{name} length {x.size} differs from time length {n}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if not allow_constant and x.size and np.all(x == x[0]):
        raise ValueError(f"{name} is constant")
    return x


def check_probability(values, n: int, name: str) -> np.ndarray:
    """Validate one probability per subject (length ``n``, finite, in ``[0, 1]``).

    Examples
    --------
    >>> check_probability([0, 0.5, 1], 3, "predicted_survival").tolist()
    [0.0, 0.5, 1.0]
    """
    p = _as_float_1d(values, name)
    if p.size != n:
        raise ValueError(f"{name} length {p.size} differs from time length {n}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"{name} must lie in [0, 1]")
    return p


def check_times(times, t_max: float | None = None, *, name: str = "times",
                increasing: bool = False) -> np.ndarray:
    """Validate evaluation times: a number or a 1-d sequence, finite, non-negative.

    Parameters
    ----------
    times : float or array-like, shape (m,)
    t_max : float, optional
        Largest allowed time (e.g. the last follow-up time).
    name : str
        Argument name for messages.
    increasing : bool
        Require a non-decreasing order.

    Returns
    -------
    numpy.ndarray of float64, shape (m,)

    Examples
    --------
    >>> check_times(12).tolist(), check_times([36, 60], t_max=80).tolist()
    ([12.0], [36.0, 60.0])
    """
    try:
        ts = np.atleast_1d(np.asarray(times, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    if ts.ndim != 1 or ts.size == 0:
        raise ValueError(f"{name} must be a number or a 1-d sequence of numbers")
    if not np.all(np.isfinite(ts)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if np.any(ts < 0):
        raise ValueError(f"{name} contains negative values")
    if increasing and np.any(np.diff(ts) < 0):
        raise ValueError(f"{name} must be sorted in increasing order")
    if t_max is not None and np.any(ts > t_max):
        raise ValueError(f"{name}={ts[ts > t_max][0]:g} is beyond the last follow-up time ({t_max:g})")
    return ts


def check_time_point(t, time: np.ndarray, name: str = "t") -> float:
    """Validate one horizon ``0 < t <= max(time)`` (a fixed-time statistic needs follow-up to ``t``).

    Examples
    --------
    >>> check_time_point(36, [10, 50, 80])
    36.0
    """
    try:
        t = float(t)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {t}")
    last = float(np.max(time))
    if t > last:
        raise ValueError(f"{name}={t:g} is beyond the last follow-up time ({last:g})")
    return t


def check_number(value, name: str) -> float:
    """One finite number (not a bool, not a string); errors name ``name``.

    >>> check_number(3, "scale")
    3.0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{name}: not a finite number ({value})")
    return float(value)


def check_alpha(alpha, name: str = "alpha") -> float:
    """Validate a level in ``(0, 1)``.

    Examples
    --------
    >>> check_alpha(0.05)
    0.05
    """
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if not 0.0 < a < 1.0:
        raise ValueError(f"{name} must lie in (0, 1), got {a}")
    return a


def check_group01(group, n: int, name: str = "group") -> np.ndarray:
    """0/1 (or boolean) risk group of length ``n``; returns bool (True = high risk)."""
    g = np.asarray(group)
    if g.dtype == object:
        try:
            g = g.astype(float)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be 0/1 or boolean (1 = high risk)") from None
    g = g.ravel()
    if g.size != n:
        raise ValueError(f"{name} length {g.size} differs from time length {n}")
    if g.dtype != bool:
        gf = g.astype(float)
        if np.any(np.isnan(gf)) or not np.all((gf == 0) | (gf == 1)):
            raise ValueError(f"{name} must be 0/1 or boolean (1 = high risk)")
        g = gf == 1
    return g


def check_columns(df, columns, name: str = "df"):
    """``df`` if it is a DataFrame holding every one of ``columns`` (errors name the missing ones)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    return df
