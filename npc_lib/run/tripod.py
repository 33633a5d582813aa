"""The TRIPOD+AI checklist of the book: where each of the 52 sub-items is answered.

The checklist is a data file of the package (``npc_lib/data/tripod_ai.csv``:
``item, section, topic, status, where``), written in our own short wording
of Collins *et al.*, BMJ 2024;385:e078378; :func:`tripod_checklist` reads and
checks it for chapter 13.
"""

from __future__ import annotations

__all__ = ["TRIPOD_FILE", "STATUSES", "tripod_checklist"]

from importlib import resources

import pandas as pd

#: the checklist file inside the package
TRIPOD_FILE = "tripod_ai.csv"
#: how the book answers a sub-item
STATUSES = ("answered", "partly", "not applicable")
_COLUMNS = ["item", "section", "topic", "status", "where"]


def tripod_checklist() -> pd.DataFrame:
    """The 52 sub-items of TRIPOD+AI (27 items) with this book's answer to each.

    Returns
    -------
    DataFrame
        ``item`` ("1", "3a", ...), ``section``, ``topic``, ``status`` (one of
        :data:`STATUSES`), ``where`` (the chapters that answer it, or why it
        does not apply).

    Examples
    --------
    >>> t = tripod_checklist()
    >>> len(t), t["item"].str.extract(r"^(\\d+)")[0].nunique()
    (52, 27)
    """
    with resources.files("npc_lib").joinpath("data", TRIPOD_FILE).open(encoding="utf-8") as f:
        table = pd.read_csv(f, dtype=str, keep_default_na=False)
    problems = []
    if list(table.columns) != _COLUMNS:
        problems.append(f"columns {list(table.columns)}, expected {_COLUMNS}")
    else:
        if not table["item"].is_unique:
            problems.append(f"items listed twice: {sorted(table.loc[table['item'].duplicated(), 'item'])}")
        bad = sorted(set(table["status"]) - set(STATUSES))
        if bad:
            problems.append(f"unknown status(es) {bad}; known: {', '.join(STATUSES)}")
        empty = table.loc[(table[_COLUMNS] == "").any(axis=1), "item"].tolist()
        if empty:
            problems.append(f"empty field(s) in item(s) {empty}")
    if problems:
        raise ValueError(f"npc_lib/data/{TRIPOD_FILE}: " + "; ".join(problems))
    return table
