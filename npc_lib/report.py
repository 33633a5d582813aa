"""Small formatters for putting the paper's numbers beside ours in the book."""

from __future__ import annotations

__all__ = ["count_percent", "median_range", "beside_paper"]

from typing import Iterable

import pandas as pd


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
