"""Harrell's bootstrap optimism-corrected C-index of a Cox model.

For ``b = 1..B``: draw ``n`` subjects with replacement, refit the Cox model
on the bootstrap sample, and compute its C-index on that sample
(``C_boot``) and on the original data (``C_orig``). The optimism is the
mean of ``C_boot - C_orig``; the corrected C-index is the apparent one (the
model fitted and evaluated on all data) minus the optimism (rms
``validate(f, B)``, Dxy = 2 (C - 1/2)). Replicates whose fit fails
(a covariate constant in the sample, no events, no convergence) are
skipped and counted, as rms does.

The C-index is Harrell's C with higher risk = worse, by default
:func:`npc_lib.stats.concordance.concordance_index` (survcomp rules).

References
----------
Harrell FE, Lee KL, Mark DB. Multivariable prognostic models. Stat Med
1996;15:361-387. Efron B, Tibshirani R. An Introduction to the Bootstrap.
Chapman & Hall 1993 (ch. 17).
"""

from __future__ import annotations

__all__ = ["BootstrapCindexResult", "optimism_corrected_cindex"]

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .concordance import concordance_index
from .cox import CoxConvergenceWarning, check_frame, check_ties, fit_cox


def _harrell_c(time, event, risk) -> float:
    """Harrell's C of ``risk`` (higher = worse)."""
    return concordance_index(time, event, risk).c_index


@dataclass(frozen=True)
class BootstrapCindexResult:
    """Outcome of :func:`optimism_corrected_cindex`.

    ``apparent``: C of the full-data model on the full data; ``optimism``:
    mean over successful replicates of ``c_boot - c_orig``; ``corrected =
    apparent - optimism``; ``replicates``: DataFrame ``c_boot, c_orig,
    optimism`` (one row per successful replicate, in draw order);
    ``n_boot`` requested, ``n_failed`` skipped; ``seed``.
    """

    apparent: float
    optimism: float
    corrected: float
    replicates: pd.DataFrame
    n_boot: int
    n_failed: int
    seed: int


def optimism_corrected_cindex(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str],
    n_boot: int = 200,
    seed: int = 0,
    ties: str = "efron",
    cindex: Callable[[np.ndarray, np.ndarray, np.ndarray], float] | None = None,
) -> BootstrapCindexResult:
    """Bootstrap optimism-corrected C-index of ``fit_cox(df, ..., covariates)`` (Harrell).

    Parameters
    ----------
    df : pandas.DataFrame
    duration_col, event_col : str
    covariates : sequence of str
    n_boot : int
        Bootstrap replicates (200 as rms ``validate``).
    seed : int
        Seed of ``numpy.random.default_rng``; same inputs and seed, same numbers.
    ties : {"efron", "breslow"}
    cindex : callable ``(time, event, risk) -> float``, optional
        C-index with risk = higher is worse; default Harrell's C (survcomp rules).

    Returns
    -------
    BootstrapCindexResult

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = rng.normal(size=(120, 4))
    >>> d = pd.DataFrame(x, columns=list("abcd"))
    >>> d["t"], d["e"] = rng.exponential(np.exp(-x[:, 0])), 1
    >>> r = optimism_corrected_cindex(d, "t", "e", list("abcd"), n_boot=20, seed=1)
    >>> bool(r.corrected < r.apparent), len(r.replicates)
    (True, 20)
    """
    check_ties(ties)
    time, event, _, covariates = check_frame(df, duration_col, event_col, covariates)
    if not covariates:
        raise ValueError("covariates is empty")
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    cfun = _harrell_c if cindex is None else cindex
    full = fit_cox(df, duration_col, event_col, covariates, ties=ties)
    apparent = float(cfun(time, event, full.linear_predictor(df)))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(df), size=(int(n_boot), len(df)))
    rows, failed = [], 0
    for idx in draws:
        boot = df.iloc[idx]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", CoxConvergenceWarning)
                fit = fit_cox(boot, duration_col, event_col, covariates, ties=ties)
            c_boot = float(cfun(time[idx], event[idx], fit.linear_predictor(boot)))
            c_orig = float(cfun(time, event, fit.linear_predictor(df)))
        except (ValueError, CoxConvergenceWarning, np.linalg.LinAlgError):
            failed += 1
            continue
        rows.append((c_boot, c_orig, c_boot - c_orig))
    if not rows:
        raise ValueError("every bootstrap replicate failed (constant covariates or no events?)")
    reps = pd.DataFrame(rows, columns=["c_boot", "c_orig", "optimism"])
    optimism = float(reps["optimism"].mean())
    return BootstrapCindexResult(
        apparent=apparent, optimism=optimism, corrected=apparent - optimism,
        replicates=reps, n_boot=int(n_boot), n_failed=failed, seed=int(seed),
    )
