"""Harrell's bootstrap optimism-corrected C-index of a Cox model; percentile bootstrap CIs.

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

__all__ = ["BootstrapCindexResult", "optimism_corrected_cindex", "BootstrapCI", "percentile_bootstrap_ci"]

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


# --------------------------------------------------------------------------- percentile CI


@dataclass(frozen=True)
class BootstrapCI:
    """Outcome of :func:`percentile_bootstrap_ci`.

    ``estimate``: the metric on all subjects (float, or array for a vector
    metric); ``lower``/``upper``: the ``alpha/2`` and ``1 - alpha/2`` quantiles of
    the replicates (NumPy's default linear interpolation, R's type 7), each
    component over its finite replicates (a vector metric may be undefined, NaN,
    in some resamples for one component only);
    ``replicates``: array ``(n_ok, k)`` in draw order; ``n_boot`` requested,
    ``n_failed`` resamples where the metric raised ``ValueError`` (e.g. no
    event, or a time beyond the resample's follow-up), ``seed``, ``alpha``.
    """

    estimate: float | np.ndarray
    lower: float | np.ndarray
    upper: float | np.ndarray
    replicates: np.ndarray
    n_boot: int
    n_failed: int
    seed: int
    alpha: float


def _nan_quantiles(reps: np.ndarray, qs) -> np.ndarray:
    """Quantiles of each column over its finite replicates (NaN where a column has none)."""
    out = np.full((len(qs), reps.shape[1]), np.nan)
    for j in range(reps.shape[1]):
        col = reps[:, j][np.isfinite(reps[:, j])]
        if col.size:
            out[:, j] = np.quantile(col, qs)
    return out


def percentile_bootstrap_ci(metric: Callable[..., float | np.ndarray], *arrays, n_boot: int = 1000,
                            seed: int = 0, alpha: float = 0.05) -> BootstrapCI:
    """Percentile bootstrap CI of a metric over patients, the predictions held fixed.

    Each replicate draws ``n`` patients with replacement (``numpy.random.default_rng(seed)``)
    and evaluates ``metric`` on the same rows of every array (e.g. ``time``,
    ``event`` and the model's predictions): the model is *not* refitted, so the
    interval reflects the sampling of the evaluation patients only (external or
    held-out validation), not model-building uncertainty (for that see
    :func:`optimism_corrected_cindex`).

    Parameters
    ----------
    metric : callable
        ``metric(*arrays_resampled) -> float or 1-d array`` (fixed length), e.g.
        ``lambda t, e, r: weighted_concordance(t, e, r, timewt="n/G2").c_index``.
    *arrays : array-like
        Each indexed along its first axis (length ``n``, one row per patient);
        2-d arrays such as predicted survival ``(n, m)`` are resampled by row.
    n_boot : int, default 1000
    seed : int, default 0
    alpha : float, default 0.05
        ``1 - alpha`` interval.

    Returns
    -------
    BootstrapCI

    Raises
    ------
    ValueError
        No arrays, lengths differ, ``n_boot`` not a positive integer, ``alpha``
        outside (0, 1), the metric fails on the full data or on every resample.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=300)
    >>> t = rng.exponential(np.exp(-x))
    >>> from npc_lib.stats.weighted_concordance import weighted_concordance
    >>> ci = percentile_bootstrap_ci(lambda t, e, r: weighted_concordance(t, e, r).c_index,
    ...                              t, np.ones(300), x, n_boot=200, seed=1)
    >>> bool(ci.lower < ci.estimate < ci.upper), ci.replicates.shape
    (True, (200, 1))
    """
    if not arrays:
        raise ValueError("arrays: give at least one array (e.g. time, event, predictions)")
    arrs = [np.asarray(a) for a in arrays]
    n = arrs[0].shape[0] if arrs[0].ndim else 0
    for i, a in enumerate(arrs):
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(f"arrays[{i}] must have {n} rows (one per patient), got shape {a.shape}")
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    estimate = np.atleast_1d(np.asarray(metric(*arrs), dtype=float))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(int(n_boot), n))
    reps, failed = [], 0
    for idx in draws:
        try:
            value = np.atleast_1d(np.asarray(metric(*[a[idx] for a in arrs]), dtype=float))
        except ValueError:
            failed += 1
            continue
        if value.shape != estimate.shape:
            raise ValueError(f"metric returned shape {value.shape} on a resample, {estimate.shape} on all data")
        reps.append(value)
    if not reps:
        raise ValueError("the metric failed on every bootstrap resample")
    reps = np.vstack(reps)
    lower, upper = _nan_quantiles(reps, [alpha / 2.0, 1.0 - alpha / 2.0])
    scalar = estimate.size == 1

    def out(v):
        return float(v[0]) if scalar else v

    return BootstrapCI(estimate=out(estimate), lower=out(lower), upper=out(upper), replicates=reps,
                       n_boot=int(n_boot), n_failed=failed, seed=int(seed), alpha=float(alpha))
