"""ORACLE ONLY: what the digital twin knows and a real cohort does not.

:func:`read_truth` reads the simulator's ``truth.csv`` (the true linear
predictors); :func:`true_dfs_survival` evaluates the exact DFS model the
outcomes were drawn from (:mod:`npc_lib.twin.outcomes`: a Weibull
proportional-hazards model in ``lp_total``). The book uses both only in
sections labelled *oracle*, to compare a model with the best possible one;
no analysis reads them.
"""

from __future__ import annotations

__all__ = ["read_truth", "read_centre", "true_dfs_survival", "true_dfs_risk"]

import os
from pathlib import Path

import numpy as np
import pandas as pd

from npc_lib.cohort import schema
from npc_lib.twin.outcomes import WEIBULL_SHAPE


def _check_lp_times(lp_total, times) -> tuple[np.ndarray, np.ndarray]:
    lp = np.asarray(lp_total, dtype=float)
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if lp.ndim != 1 or lp.size == 0 or not np.all(np.isfinite(lp)):
        raise ValueError(f"lp_total must be a non-empty 1-D array of finite numbers, got shape {lp.shape}")
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("times must be finite, non-negative months")
    return lp, t


def read_truth(cohort_dir: str | os.PathLike) -> pd.DataFrame | None:
    """The simulator's ``truth.csv`` (true linear predictors), or ``None`` if absent.

    A user's own cohort has no ``truth.csv``. Columns
    :data:`npc_lib.cohort.schema.TRUTH_COLUMNS` (higher = worse).
    """
    path = Path(cohort_dir) / schema.TRUTH_FILE
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype={"patient_id": str})
    missing = [c for c in schema.TRUTH_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    return df[list(schema.TRUTH_COLUMNS)]


def read_centre(cohort_dir: str | os.PathLike) -> str:
    """The twin centre a cohort was simulated at: ``"development"`` unless its folder says otherwise.

    A twin of another centre (``npc simulate --centre external``) holds
    ``twin_centre.json``; a development twin and a user's cohort do not.
    """
    from npc_lib._io import read_json
    from npc_lib.twin.centres import centre
    from npc_lib.twin.simulate import CENTRE_FILE

    path = Path(cohort_dir) / CENTRE_FILE
    if not path.is_file():
        return "development"
    data = read_json(path, "twin centre")
    name = data.get("centre") if isinstance(data, dict) else None
    try:
        return centre(name).name
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def true_dfs_survival(lp_total, times, centre: str = "development") -> np.ndarray:
    """The twin's exact DFS survival ``S(t | lp) = exp(-(t / lambda)^k e^lp)``.

    Parameters
    ----------
    lp_total : array_like, shape (n,)
        True linear predictors (``truth.csv``'s ``lp_total``; higher = worse).
    times : array_like, shape (m,)
        Months.
    centre : str
        The centre the patients come from (:mod:`npc_lib.twin.centres`): its
        baseline hazard (Weibull scale lambda) applies; the true risk model
        is the same at every centre.

    Returns
    -------
    ndarray, shape (n, m)
        Survival probabilities.

    Examples
    --------
    >>> true_dfs_survival([0.0], [0.0])
    array([[1.]])
    """
    from npc_lib.twin.centres import centre as _centre

    lp, t = _check_lp_times(lp_total, times)
    cumhaz0 = (t / _centre(centre).weibull_scale) ** WEIBULL_SHAPE
    return np.exp(-np.outer(np.exp(lp), cumhaz0))


def true_dfs_risk(lp_total, t: float, centre: str = "development") -> np.ndarray:
    """``P(T <= t | lp)``: one minus :func:`true_dfs_survival` at one time, shape (n,).

    Examples
    --------
    >>> bool(true_dfs_risk([2.0], 60.0)[0] > true_dfs_risk([0.0], 60.0)[0])
    True
    >>> bool(true_dfs_risk([0.0], 60.0, "external")[0] < true_dfs_risk([0.0], 60.0)[0])
    True
    """
    return 1.0 - true_dfs_survival(lp_total, [t], centre)[:, 0]
