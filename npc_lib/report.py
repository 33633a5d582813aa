"""The book's number formatting: p-values, estimates with intervals, counts, paper-vs-ours tables.

Every chapter and figure formats numbers through these functions, so a
p-value or an interval reads the same everywhere:

* :func:`format_p`: ``"<0.001"`` below ``10**-digits``, else ``digits``
  decimals (3 by default, as the paper's Tables 2-3; 2 for Table 1);
  ``"NA"`` when undefined;
* :func:`format_ci`: ``"0.771 (0.715-0.827)"``; no interval when it is
  undefined, ``"NA"`` when the value is;
* :func:`count_percent`, :func:`median_range`, :func:`beside_paper`.

This module is a leaf: it imports nothing of :mod:`npc_lib`.
"""

from __future__ import annotations

__all__ = ["format_p", "format_ci", "count_percent", "median_range", "beside_paper"]

import math
from typing import Iterable

import pandas as pd


def _undefined(x) -> bool:
    try:
        return x is None or not math.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def format_p(p, digits: int = 3, *, prefix: bool = False, na: str = "NA") -> str:
    """A p-value as printed in the paper: ``"<0.001"`` when tiny, else ``digits`` decimals.

    Parameters
    ----------
    p : float or None
    digits : int, default 3
        Decimals; values below ``10**-digits`` print as ``"<0.001"`` (3), ``"<0.01"`` (2).
    prefix : bool
        Prepend ``"p="`` (``"p<0.001"`` for tiny values), for figure annotations.
    na : str
        Text for an undefined p (None, NaN, infinite).

    Examples
    --------
    >>> format_p(0.00012), format_p(0.0183), format_p(0.05), format_p(float("nan"))
    ('<0.001', '0.018', '0.050', 'NA')
    >>> format_p(0.7777, 2), format_p(0.004, 2), format_p(0.0123, prefix=True)
    ('0.78', '<0.01', 'p=0.012')
    """
    digits = int(digits)
    if digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits}")
    if _undefined(p):
        return na
    p = float(p)
    floor = 10.0 ** -digits
    text = f"<{floor:.{digits}f}" if p < floor else f"{p:.{digits}f}"
    if prefix:
        return "p" + text if text.startswith("<") else "p=" + text
    return text


def format_ci(value, lower, upper, digits: int = 3, *, na: str = "NA") -> str:
    """``"0.771 (0.715-0.827)"``; ``na`` when the value is undefined, no interval when it is.

    Examples
    --------
    >>> format_ci(0.7714, 0.715, 0.8269), format_ci(0.6, float("nan"), float("nan"))
    ('0.771 (0.715-0.827)', '0.600')
    >>> format_ci(6.123, 3.72, 10.07, 2)
    '6.12 (3.72-10.07)'
    """
    if _undefined(value):
        return na
    if _undefined(lower) or _undefined(upper):
        return f"{float(value):.{digits}f}"
    return f"{float(value):.{digits}f} ({float(lower):.{digits}f}-{float(upper):.{digits}f})"


def count_percent(count: int, percent: float) -> str:
    """``"81 (18.1%)"``.

    Examples
    --------
    >>> count_percent(81, 18.12)
    '81 (18.1%)'
    """
    return f"{int(count)} ({percent:.1f}%)"


def median_range(median: float, low: float, high: float, digits: int = 2) -> str:
    """``"5.46 (4.52-6.52)"`` (median with a range or an interquartile range).

    Examples
    --------
    >>> median_range(5.456, 4.52, 6.5)
    '5.46 (4.52-6.50)'
    """
    return f"{median:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def beside_paper(rows: Iterable[tuple[str, str, str]], *, ours: str = "this run") -> pd.DataFrame:
    """A two-column table, the paper's value beside ours, one row per quantity.

    Parameters
    ----------
    rows : iterable of (quantity, paper, ours)
        Already formatted strings.

    Examples
    --------
    >>> beside_paper([("C-index", "0.771", "0.780")]).loc["C-index", "paper"]
    '0.771'
    """
    rows = list(rows)
    if any(len(r) != 3 for r in rows):
        raise ValueError("rows: each row must be (quantity, paper, ours)")
    return pd.DataFrame([r[1:] for r in rows], index=[r[0] for r in rows], columns=["paper", ours])
