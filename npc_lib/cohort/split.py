"""Random training/test split of a cohort (analysis A1).

The paper divided its 638 patients into a training (n = 447) and a test
(n = 191) cohort "by computer-generated random numbers": a plain random split,
not stratified by outcome. :func:`split_cohort` does the same, reproducibly:
the result depends only on the set of patient ids and the seed.
"""

from __future__ import annotations

__all__ = [
    "COHORT_LABELS",
    "PAPER_TRAIN_FRACTION",
    "split_cohort",
    "n_train_for",
    "read_split",
    "write_split",
]

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from npc_lib._io import write_csv

#: allowed values of the ``cohort`` column
COHORT_LABELS: tuple[str, str] = ("train", "test")

#: the paper's training share: 447 of 638 patients
PAPER_TRAIN_FRACTION = 447 / 638

_COLUMNS = ["patient_id", "cohort"]


def _check_fraction(train_fraction: float) -> float:
    f = float(train_fraction)
    if not 0.0 < f < 1.0:
        raise ValueError(f"train_fraction must be strictly between 0 and 1, got {train_fraction!r}")
    return f


def _check_ids(patient_ids: Iterable[str]) -> list[str]:
    if isinstance(patient_ids, str):
        raise ValueError("patient_ids must be a sequence of ids, not a single string")
    ids = [str(p) for p in patient_ids]
    seen: set[str] = set()
    for pid in ids:
        if pid in seen:
            raise ValueError(f"patient_ids: duplicate patient_id {pid!r}")
        seen.add(pid)
    return ids


def _check_split(df: pd.DataFrame, source: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{source}: expected a DataFrame, got {type(df).__name__}")
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; expected {_COLUMNS}")
    out = df[_COLUMNS].reset_index(drop=True)
    for col in _COLUMNS:
        na = out[col].isna().to_numpy()
        if na.any():
            raise ValueError(f"{source}: field {col}: missing value in row {int(np.flatnonzero(na)[0]) + 1}")
    out = out.astype({"patient_id": str, "cohort": str})
    bad = ~out["cohort"].isin(COHORT_LABELS)
    if bad.any():
        row = out[bad].iloc[0]
        raise ValueError(
            f"{source}: patient {row['patient_id']}, field cohort: unknown cohort label "
            f"{row['cohort']!r} (allowed: {', '.join(COHORT_LABELS)})"
        )
    dup = out["patient_id"].duplicated()
    if dup.any():
        pid = out.loc[dup, "patient_id"].iloc[0]
        raise ValueError(f"{source}: patient {pid}, field patient_id: duplicate patient_id")
    return out


def n_train_for(n: int, train_fraction: float = PAPER_TRAIN_FRACTION) -> int:
    """Size of the training cohort: ``n * train_fraction`` rounded half up.

    >>> n_train_for(638)
    447
    >>> n_train_for(10, 0.25)
    3
    """
    f = _check_fraction(train_fraction)
    # the tiny epsilon absorbs float error in fractions such as 447/638
    return int(np.floor(n * f + 0.5 + 1e-9))


def split_cohort(patient_ids: Iterable[str], *, train_fraction: float = PAPER_TRAIN_FRACTION,
                 seed: int = 2020) -> pd.DataFrame:
    """Assign each patient at random to the training or the test cohort.

    Parameters
    ----------
    patient_ids : iterable of str
        Distinct patient identifiers (any order).
    train_fraction : float
        Share of patients in the training cohort, in (0, 1); the training
        cohort has :func:`n_train_for` ``(n, train_fraction)`` patients
        (447 of 638 by default, as in the paper).
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    DataFrame
        Columns ``patient_id`` (sorted) and ``cohort`` (``"train"`` or
        ``"test"``), one row per patient.

    Notes
    -----
    Plain (unstratified) random split, as the paper's "computer-generated
    random numbers". The ids are sorted before the permutation, so the result
    depends only on the set of ids and the seed, not on their order.

    Examples
    --------
    >>> s = split_cohort([f"P{i:03d}" for i in range(638)], seed=1)
    >>> s["cohort"].value_counts().to_dict()
    {'train': 447, 'test': 191}
    >>> s.equals(split_cohort([f"P{i:03d}" for i in reversed(range(638))], seed=1))
    True
    """
    ids = sorted(_check_ids(patient_ids))
    n = len(ids)
    n_train = n_train_for(n, train_fraction)
    if n_train < 1 or n_train > n - 1:
        raise ValueError(
            f"patient_ids: {n} patients with train_fraction={train_fraction} give "
            f"{n_train} training and {n - n_train} test patients; both must be >= 1"
        )
    order = np.random.default_rng(seed).permutation(n)
    cohort = np.full(n, COHORT_LABELS[1], dtype=object)
    cohort[order[:n_train]] = COHORT_LABELS[0]
    return pd.DataFrame({"patient_id": ids, "cohort": cohort})


def write_split(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Validate a split table and write it as CSV, atomically.

    Raises
    ------
    ValueError
        Missing ``patient_id``/``cohort`` column or value, unknown cohort
        label, or duplicate patient id.
    """
    out = _check_split(df, "df")
    return write_csv(out, path)


def read_split(path: str | os.PathLike, *, patient_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Read and validate a split written by :func:`write_split`.

    Parameters
    ----------
    path : path-like
        CSV with columns ``patient_id`` and ``cohort``.
    patient_ids : iterable of str, optional
        If given, the split must cover exactly these patients.

    Returns
    -------
    DataFrame
        Columns ``patient_id`` and ``cohort`` (str), in file order.

    Raises
    ------
    ValueError
        Unknown cohort label, duplicate or missing patient id, or (with
        ``patient_ids``) patients missing from or unknown to the split; the
        message names the file and the patient.
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    df = _check_split(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]), str(path))
    if patient_ids is not None:
        expected = set(_check_ids(patient_ids))
        got = set(df["patient_id"])
        if expected - got:
            pid = sorted(expected - got)[0]
            raise ValueError(f"{path}: patient {pid}, field patient_id: patient missing from the split "
                             f"({len(expected - got)} in all)")
        if got - expected:
            pid = sorted(got - expected)[0]
            raise ValueError(f"{path}: patient {pid}, field patient_id: patient not in the cohort "
                             f"({len(got - expected)} in all)")
    return df
