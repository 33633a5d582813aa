"""Numerical calibration metrics of predicted risks at a fixed time: ICI, E50, E90, Emax.

:func:`calibration_metrics` implements Austin, Harrell & van Klaveren (Stat Med
2020), method 2: the *observed* risk at ``t`` of a subject with predicted risk
``F`` is estimated by a Cox model (Efron ties) on a restricted cubic spline of
``cll = log(-log(1 - F))`` with 3 knots, ``observed = 1 - S(t | cll)`` from
the fitted model (Breslow-type baseline as ``survfit.coxph``). Then, with
``err_i = |F_i - observed_i|``,

* ``ICI`` (integrated calibration index) = ``mean(err)``,
* ``E50`` = median, ``E90`` = 0.9 quantile (R's type 7), ``Emax`` = max.

Knots are placed as Hmisc's ``rcspline.eval(cll, nk = 3)`` does (Hmisc 4.8-0):
the 0.10, 0.50 and 0.90 quantiles of ``cll``; with fewer than 100 subjects
the outer knots move to the 5th smallest and 5th largest value; a value
holding at least 5 % of the subjects at either end (while no interior value
does) becomes a knot of its own (``fractied = 0.05``); when the quantiles
coincide the alternative rule of Hmisc applies. The spline basis is
``rms::rcs`` (``norm = 2``); the fit and hence the metrics do not depend on
the basis scaling. This reproduces the ``calibration_rcs`` numbers of
``run_extra.R`` (``rms::rcs``, ``coxph``, ``survfit``) to about ``1e-9``
(the Cox fits stop at slightly different points: R's ``coxph`` at
``eps = 1e-9``).

Polspline's HARE (Austin et al.'s method 1) is not offered: no maintained
Python implementation exists to match.

Risk convention: ``predicted_risk`` is a predicted probability of the event
by ``t``, ``P(T <= t | x)`` (higher = worse), e.g. ``1 - S(t | x)`` of a Cox
model. Lower ICI/E50/E90/Emax = better calibrated; all are on the
probability scale.

References
----------
Austin PC, Harrell FE Jr, van Klaveren D. Graphical calibration curves and
the integrated calibration index (ICI) for survival models. Stat Med
2020;39:2714-2742.
Austin PC, Steyerberg EW. The Integrated Calibration Index (ICI) and related
metrics for quantifying the calibration of logistic regression models. Stat
Med 2019;38:4051-4065.
Harrell FE. Regression Modeling Strategies, 2nd ed. Springer 2015 (ch. 2.4,
restricted cubic splines).
"""

from __future__ import annotations

__all__ = ["CALIBRATION_METHODS", "CalibrationMetrics", "calibration_metrics", "rcspline_knots"]

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validation import check_probability, check_survival, check_time_point
from .cox import fit_cox
from .weighted_concordance import aeq_times

CALIBRATION_METHODS = ("rcs",)


def _check_method(method: str) -> str:
    if method == "hare":
        raise ValueError("method='hare' (polspline) is not available: no maintained Python "
                         "implementation to match; use method='rcs'")
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"method must be one of {CALIBRATION_METHODS}, got {method!r}")
    return method


# --------------------------------------------------------------------------- spline


def rcspline_knots(x, nk: int = 3, fractied: float = 0.05) -> np.ndarray:
    """Default knots of a restricted cubic spline, as Hmisc's ``rcspline.eval(x, nk, knots.only=TRUE)``.

    Parameters
    ----------
    x : array-like, shape (n,)
        Finite values, at least 6.
    nk : int, default 3
        Number of knots (at least 3).
    fractied : float, default 0.05
        Hmisc's share of tied values at an end that makes that end a knot.

    Returns
    -------
    numpy.ndarray
        Sorted unique knots: quantiles ``0.10, 0.50, 0.90`` for ``nk = 3``
        (outer 0.05 for ``nk`` 4-6, 0.025 above); with ``n < 100`` the outer
        knots are the 5th smallest and 5th largest values.

    Examples
    --------
    >>> rcspline_knots(np.arange(200.0)).round(6).tolist()
    [19.9, 99.5, 179.1]
    >>> rcspline_knots(np.arange(50.0)).tolist()     # n < 100: 5th smallest/largest
    [4.0, 24.5, 45.0]
    """
    xx = np.asarray(x, dtype=float).ravel()
    if not np.all(np.isfinite(xx)):
        raise ValueError("x contains NaN or infinite values")
    n = xx.size
    if n < 6:
        raise ValueError(f"knots need at least 6 values, got {n}")
    if nk < 3:
        raise ValueError(f"nk must be >= 3, got {nk}")
    xu, counts = np.unique(xx, return_counts=True)
    nxu = xu.size
    if nxu - 2 <= nk:
        warnings.warn(f"{nk} knots requested with {nxu} unique values of x; knots set to "
                      f"{nxu - 2} interior values", RuntimeWarning, stacklevel=2)
        knots = xu[1:-1]
    else:
        outer = 0.025 if nk > 6 else (0.05 if nk > 3 else 0.1)
        nke = nk
        first_knot: list[float] = []
        last_knot: list[float] = []
        override_first = override_last = False
        if 0 < fractied < 1:
            f = counts / n
            if f[1:-1].max() < fractied:
                if f[0] >= fractied:
                    first_knot = [float(xx[xx > xx.min()].min())]
                    xx = xx[xx > first_knot[0]]
                    nke -= 1
                    override_first = True
                if f[-1] >= fractied:
                    last_knot = [float(xx[xx < xx.max()].max())]
                    xx = xx[xx < last_knot[0]]
                    nke -= 1
                    override_last = True
        if nke == 1:
            knots = np.array([np.median(xx)])
        else:
            if nxu <= nke:
                knots = xu.copy()
            else:
                probs = np.linspace(0.5, 1 - outer, nke) if nke == 2 else np.linspace(outer, 1 - outer, nke)
                knots = np.quantile(xx, probs)
                if np.unique(knots).size < min(nke, 3):
                    knots = np.quantile(xx, np.linspace(outer, 1 - outer, 2 * nke))
                    if first_knot and np.unique(knots).size < 3:
                        mid = (first_knot[0] + last_knot[0]) / 2 if last_knot else float(np.median(xx))
                        end = last_knot[0] if last_knot else float(np.quantile(xx, 1 - outer))
                        knots = np.sort([first_knot[0], mid, end])
                    if np.unique(knots).size < 3:
                        raise ValueError("fewer than 3 unique knots: x has too few distinct values")
                    warnings.warn(f"could not obtain {nke} interior knots with the default algorithm; "
                                  f"used the alternative one ({np.unique(knots).size} knots)",
                                  RuntimeWarning, stacklevel=2)
            if xx.size < 100:
                xs = np.sort(xx)
                knots = np.array(knots, dtype=float)
                if not override_first:
                    knots[0] = xs[4]
                if not override_last:
                    knots[nke - 1] = xs[xs.size - 5]
        knots = np.concatenate([first_knot, np.asarray(knots, dtype=float), last_knot])
    knots = np.unique(knots)
    if knots.size < 3:
        raise ValueError("fewer than 3 unique knots: x has too few distinct values")
    return knots


def _rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """``rms::rcs`` design ``(n, nk - 1)``: ``x`` and the ``nk - 2`` nonlinear terms (norm = 2)."""
    k = knots
    kd = (k[-1] - k[0]) ** (2.0 / 3.0)
    cols = [x]
    for j in range(k.size - 2):
        cols.append(np.maximum((x - k[j]) / kd, 0) ** 3
                    + ((k[-2] - k[j]) * np.maximum((x - k[-1]) / kd, 0) ** 3
                       - (k[-1] - k[j]) * np.maximum((x - k[-2]) / kd, 0) ** 3) / (k[-1] - k[-2]))
    return np.column_stack(cols)


# --------------------------------------------------------------------------- API


@dataclass(frozen=True)
class CalibrationMetrics:
    """Calibration at time ``t`` (see :func:`calibration_metrics`).

    Attributes
    ----------
    ici, e50, e90, emax : float
        Mean, median, 0.9 quantile and maximum of ``|predicted - observed|``
        (probability scale; lower = better).
    t : float
    method : str
    knots : numpy.ndarray, shape (3,)
        Spline knots on the ``log(-log(1 - F))`` scale.
    predicted : numpy.ndarray, shape (n,)
        Predicted risks, sorted increasingly (the x of the calibration curve).
    observed : numpy.ndarray, shape (n,)
        Smoothed observed risk ``1 - S(t | cll)`` at each of ``predicted`` (the
        y of the curve; the diagonal is perfect calibration).
    order : numpy.ndarray of int, shape (n,)
        Input positions of ``predicted`` (``predicted = predicted_risk[order]``).
    """

    ici: float
    e50: float
    e90: float
    emax: float
    t: float
    method: str
    knots: np.ndarray
    predicted: np.ndarray
    observed: np.ndarray
    order: np.ndarray


def calibration_metrics(time, event, predicted_risk, t, method: str = "rcs") -> CalibrationMetrics:
    """ICI, E50, E90 and Emax of predicted risks at ``t`` (Austin, Harrell & van Klaveren 2020).

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times (any unit), non-negative.
    event : array-like of 0/1 or bool, shape (n,)
        1 = event, 0 = censored.
    predicted_risk : array-like, shape (n,)
        Predicted ``P(T <= t | x)``, strictly between 0 and 1 (higher = worse).
    t : float
        Horizon, same unit as ``time``; ``0 < t <= max(time)``.
    method : {"rcs"}
        Cox model on a 3-knot restricted cubic spline of ``log(-log(1 - F))``.

    Returns
    -------
    CalibrationMetrics
        ``.ici, .e50, .e90, .emax`` and the smoothed curve ``.predicted``
        (sorted) vs ``.observed``.

    Raises
    ------
    ValueError
        NaN, negative time, no events, lengths differ, risk outside (0, 1),
        ``t`` beyond the data, fewer than 6 subjects, unknown ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> x = rng.normal(size=400)
    >>> t_ev, t_c = rng.exponential(np.exp(-x)), rng.exponential(3.0, 400)
    >>> time, event = np.minimum(t_ev, t_c), t_ev <= t_c
    >>> good = calibration_metrics(time, event, 1 - np.exp(-np.exp(x)), t=1.0)
    >>> bad = calibration_metrics(time, event, 1 - np.exp(-0.3 * np.exp(x)), t=1.0)
    >>> bool(good.ici < bad.ici), bool(good.e50 <= good.e90 <= good.emax)
    (True, True)
    """
    _check_method(method)
    time, event = check_survival(time, event, name_time="time", name_event="event", min_n=6)
    risk = check_probability(predicted_risk, time.size, "predicted_risk")
    if np.any((risk <= 0) | (risk >= 1)):
        raise ValueError("predicted_risk must lie strictly between 0 and 1 (log(-log(1 - F)) is used)")
    t = check_time_point(t, time, "t")
    cll = np.log(-np.log1p(-risk))
    knots = rcspline_knots(cll, nk=3)
    basis = _rcs_basis(cll, knots)
    names = [f"cll{j}" for j in range(basis.shape[1])]
    frame = pd.DataFrame(basis, columns=names)
    frame["_time"], frame["_event"] = aeq_times(time), event.astype(int)  # coxph's timefix
    fit = fit_cox(frame, "_time", "_event", names, ties="efron")
    observed = 1.0 - fit.predict_survival(frame, [t])[:, 0]
    err = np.abs(risk - observed)
    order = np.argsort(risk, kind="stable")
    return CalibrationMetrics(
        ici=float(err.mean()), e50=float(np.median(err)), e90=float(np.quantile(err, 0.9)),
        emax=float(err.max()), t=t, method=method, knots=knots,
        predicted=risk[order], observed=observed[order], order=order,
    )
