"""Run a statistic and keep its warnings (and, optionally, its ValueError) as notes.

On a small cohort a statistic can be undefined (a constant score, no event
before the horizon) and a Cox fit can sit at the edge of existence
(monotone likelihood). The book shows such cases as ``NaN`` with a note
saying why instead of a traceback or a wall of warnings:

* :func:`quietly`: run, record runtime warnings as notes (exceptions propagate);
* :func:`attempt`: as ``quietly``, and a ``ValueError`` or ``LinAlgError``
  becomes ``(None, [message])``;
* :func:`join_notes`: notes as one de-duplicated ``"; "``-separated string.
"""

from __future__ import annotations

__all__ = ["quietly", "attempt", "join_notes"]

import warnings
from typing import Any, Callable, Sequence

import numpy as np


def quietly(fn: Callable, *args, **kwargs) -> tuple[Any, list[str]]:
    """Call ``fn(*args, **kwargs)``; return ``(result, notes)`` with its runtime warnings as notes.

    Runtime warnings (Cox non-convergence, numpy overflow in a near-monotone
    likelihood) are recorded, de-duplicated in order, instead of printed.
    Exceptions propagate.

    >>> import warnings
    >>> quietly(lambda: warnings.warn("x", RuntimeWarning) or 3)
    (3, ['x'])
    """
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always", RuntimeWarning)
        result = fn(*args, **kwargs)
    notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)))
    return result, notes


def attempt(fn: Callable, *args, **kwargs) -> tuple[Any, list[str]]:
    """As :func:`quietly`, but a ``ValueError`` or ``LinAlgError`` gives ``(None, [message])``.

    >>> attempt(float, "not a number")
    (None, ["could not convert string to float: 'not a number'"])
    """
    try:
        return quietly(fn, *args, **kwargs)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return None, [str(exc)]


def join_notes(notes: Sequence[str]) -> str:
    """Non-empty notes, de-duplicated in order, joined by ``"; "``.

    >>> join_notes(["a", "", "b", "a"])
    'a; b'
    """
    return "; ".join(dict.fromkeys(n for n in notes if n))
