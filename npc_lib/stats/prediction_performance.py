"""TRIPOD+AI performance of one survival prediction: discrimination, accuracy, calibration, with CIs.

:func:`prediction_performance` evaluates one model's predictions on one
cohort: Uno's C (truncated at the last horizon), the Brier score and the
index of prediction accuracy (IPA) at each horizon, the integrated Brier
score up to the last horizon, and ICI, E50 and E90 at each horizon (Austin,
Harrell & van Klaveren 2020), each with a seeded percentile-bootstrap 95%
interval over patients, the predictions held fixed
(:func:`~npc_lib.stats.bootstrap.percentile_bootstrap_ci`).

References
----------
Collins GS et al. TRIPOD+AI statement. BMJ 2024;385:e078378.
Uno H et al. On the C-statistics for evaluating overall adequacy of risk prediction
procedures with censored survival data. Stat Med 2011;30:1105-17.
Kattan MW, Gerds TA. The index of prediction accuracy. Diagn Progn Res 2018;2:7.
"""

from __future__ import annotations

__all__ = ["PredictionPerformance", "prediction_performance", "MEASURES"]

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ._validation import check_marker, check_survival, check_times
from .bootstrap import percentile_bootstrap_ci
from .brier import brier_score, integrated_brier_score
from .calibration_metrics import CalibrationMetrics, calibration_metrics
from .weighted_concordance import weighted_concordance

#: the measures, in the order of :attr:`PredictionPerformance.table` (per horizon where marked ``t``)
MEASURES = ("Uno's C", "Brier (t)", "IPA (t)", "integrated Brier", "ICI (t)", "E50 (t)", "E90 (t)")
_EPS = 1e-12


def _check_surv(surv, n: int, m: int, name: str) -> np.ndarray:
    s = np.asarray(surv, dtype=float)
    if s.ndim == 1 and m == 1:
        s = s[:, None]
    if s.shape != (n, m):
        raise ValueError(f"{name} must have shape ({n}, {m}), got {s.shape}")
    if not np.all(np.isfinite(s)) or np.any((s < 0) | (s > 1)):
        raise ValueError(f"{name} must hold survival probabilities in [0, 1]")
    return s


def _labels(times: np.ndarray) -> list[str]:
    out = ["Uno's C"]
    for name in ("Brier", "IPA"):
        out += [f"{name} at {t:g}" for t in times]
    out.append(f"integrated Brier to {times[-1]:g}")
    for t in times:
        out += [f"{name} at {t:g}" for name in ("ICI", "E50", "E90")]
    return out


def _measures(time, event, risk, surv, grid_surv, times, grid) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # a resample can make the calibration spline's Cox likelihood monotone: its ICI is then NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return _measures_loud(time, event, risk, surv, grid_surv, times, grid)


def _measures_loud(time, event, risk, surv, grid_surv, times, grid) -> np.ndarray:
    uno = weighted_concordance(time, event, risk, timewt="n/G2", ymax=float(times[-1])).c_index
    b = brier_score(time, event, surv, times)
    ibs = integrated_brier_score(time, event, grid_surv, grid)
    cal = []
    for k, t in enumerate(times):
        c = calibration_metrics(time, event, np.clip(1.0 - surv[:, k], _EPS, 1.0 - _EPS), float(t))
        cal += [c.ici, c.e50, c.e90]
    return np.array([uno, *b["brier"], *b["ipa"], ibs, *cal], dtype=float)


@dataclass(frozen=True)
class PredictionPerformance:
    """Outcome of :func:`prediction_performance`.

    ``table``: one row per measure, columns ``measure, estimate, lower, upper``
    (lower = better for Brier, integrated Brier, ICI, E50, E90; higher = better
    for C and IPA); ``curves``: ``{t: CalibrationMetrics}`` (the smoothed
    calibration curve at each horizon, for plots); ``n_boot``, ``n_failed``
    (resamples where a measure was undefined, e.g. no follow-up beyond the last
    horizon), ``seed``.
    """

    table: pd.DataFrame
    curves: dict[float, CalibrationMetrics]
    n_boot: int
    n_failed: int
    seed: int


def prediction_performance(time, event, risk, surv, times: Sequence[float], *, grid_surv=None,
                           grid: Sequence[float] | None = None, n_boot: int = 200, seed: int = 0,
                           alpha: float = 0.05) -> PredictionPerformance:
    """Uno's C, Brier, IPA, integrated Brier, ICI/E50/E90 of one prediction, with bootstrap CIs.

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up (months or any unit).
    event : array-like of 0/1, shape (n,)
    risk : array-like, shape (n,)
        Risk score for Uno's C (higher = worse; e.g. the linear predictor).
    surv : array-like, shape (n, len(times))
        Predicted survival ``S(t | x)`` at each horizon.
    times : sequence of float
        Horizons, increasing (e.g. 36 and 60 months).
    grid_surv : array-like, shape (n, len(grid)), optional
        Predicted survival on ``grid`` for the integrated Brier score; default:
        ``surv`` at ``times`` (a coarse integral).
    grid : sequence of float, optional
        Strictly increasing times ending at ``times[-1]`` (e.g. 50 equally spaced).
    n_boot, seed, alpha
        Percentile bootstrap over patients (:func:`percentile_bootstrap_ci`).

    Returns
    -------
    PredictionPerformance

    Examples
    --------
    >>> rng = np.random.default_rng(4)
    >>> x = rng.normal(size=300)
    >>> te, tc = rng.exponential(np.exp(-x)), rng.exponential(2.0, 300)
    >>> t, e = np.minimum(te, tc), (te <= tc).astype(int)
    >>> s = np.exp(-np.outer(np.exp(x), [0.5, 1.0]))
    >>> p = prediction_performance(t, e, x, s, [0.5, 1.0], n_boot=20, seed=1)
    >>> p.table["measure"].tolist()[:3]
    ["Uno's C", 'Brier at 0.5', 'Brier at 1']
    >>> bool((p.table["lower"] <= p.table["upper"]).all())
    True
    """
    time, event = check_survival(time, event, name_time="time", name_event="event")
    risk = check_marker(risk, time.size, "risk")
    ts = check_times(times, None, name="times", increasing=True)
    surv = _check_surv(surv, time.size, ts.size, "surv")
    if grid is None:
        grid_arr, grid_surv = ts, surv
    else:
        grid_arr = check_times(grid, None, name="grid", increasing=True)
        if not np.isclose(grid_arr[-1], ts[-1]):
            raise ValueError(f"grid must end at the last of times ({ts[-1]:g}), got {grid_arr[-1]:g}")
        if grid_surv is None:
            raise ValueError("grid_surv: give the predicted survival on grid")
        grid_surv = _check_surv(grid_surv, time.size, grid_arr.size, "grid_surv")
    ci = percentile_bootstrap_ci(lambda t, e, r, s, g: _measures(t, e, r, s, g, ts, grid_arr),
                                 time, event.astype(int), risk, surv, grid_surv, n_boot=n_boot, seed=seed,
                                 alpha=alpha)
    table = pd.DataFrame({"measure": _labels(ts), "estimate": np.atleast_1d(ci.estimate),
                          "lower": np.atleast_1d(ci.lower), "upper": np.atleast_1d(ci.upper)})
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        curves = {float(t): calibration_metrics(time, event, np.clip(1.0 - surv[:, k], _EPS, 1.0 - _EPS), float(t))
                  for k, t in enumerate(ts)}
    return PredictionPerformance(table=table, curves=curves, n_boot=int(n_boot), n_failed=int(ci.n_failed),
                                 seed=int(seed))
