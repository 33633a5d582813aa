"""Transport of a Cox model to new patients: calibration slope, O/E, Poisson calibration, baseline update.

A Cox model developed at one centre predicts, for a new patient with linear
predictor ``lp = X'beta`` (not centred; higher = worse), the cumulative hazard
``H0_dev(t) exp(lp)`` and the risk ``P(T <= t | x) = 1 - exp(-H0_dev(t) exp(lp))``.
On an external cohort whose outcomes are known, four measures say how well
the model travels (Royston & Altman 2013; Crowson et al. 2016) and one
re-estimates its baseline (van Houwelingen 2000):

* :func:`calibration_slope`: the coefficient of ``lp`` in a Cox model on the
  external cohort, ``coxph(Surv(time, event) ~ lp)`` with Efron ties (1 =
  the predictor's spread is right; below 1 = predictions too extreme);
* :func:`observed_expected`: at a horizon ``t``, the Kaplan-Meier risk
  ``O = 1 - S_KM(t)`` against the mean predicted risk ``E``; ``O/E`` above 1
  = the model under-predicts risk;
* :func:`poisson_calibration`: calibration-in-the-large and slope from
  Poisson GLMs of the event indicator on each patient's expected number of
  events (their predicted cumulative hazard at their own follow-up time);
  ``citl`` above 0 = more events than predicted;
* :func:`update_baseline`: Breslow's baseline cumulative hazard of the
  external cohort at ``lp = 0`` with the predictor held fixed (weights
  ``exp(slope * lp)``): the baseline of an updated (recalibrated) model.

Each equals R (``survival`` 3.5-3 and base R's ``glm``; ``run_external.R`` in
``tests/data``) to a relative ``1e-6``. The Cox fit is :func:`.cox.fit_cox`,
the Kaplan-Meier :class:`.kaplan_meier.KaplanMeier` (Greenwood variance) and
the Poisson GLMs statsmodels' ``GLM`` (the well-kept Python GLM), its IRLS
started and stopped as R's ``glm`` so that the standard errors, taken from
the last iteration, equal R's too. No Python survival library offers these
measures for a model it did not fit itself (lifelines' calibration helper
takes only its own fitted models), hence this module.

References
----------
Royston P, Altman DG. External validation of a Cox prognostic model:
principles and methods. BMC Med Res Methodol 2013;13:33.
Crowson CS, Atkinson EJ, Therneau TM. Assessing calibration of prognostic
risk scores. Stat Methods Med Res 2016;25:1692-1706.
Debray TPA, Vergouwe Y, Koffijberg H, et al. A new framework to enhance the
interpretation of external validation studies of clinical prediction models.
J Clin Epidemiol 2015;68:279-289.
van Houwelingen HC. Validation, calibration, revision and combination of
prognostic survival models. Stat Med 2000;19:3401-3415.
Breslow NE. Discussion of Cox (1972). JRSS B 1972;34:216-217.
"""

from __future__ import annotations

__all__ = ["CalibrationSlope", "ObservedExpected", "PoissonCalibration", "BaselineUpdate",
           "calibration_slope", "observed_expected", "poisson_calibration", "update_baseline"]

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _sps

from ._validation import check_marker, check_probability, check_survival, check_time_point, check_times
from .cox import fit_cox
from .kaplan_meier import KaplanMeier
from .weighted_concordance import aeq_times

_Z975 = float(_sps.norm.ppf(0.975))
_GLM_EPSILON, _GLM_MAXIT = 1e-8, 25     # R's glm.control() defaults


def _check_slope(slope) -> float:
    """A finite number (the multiplier of ``lp``)."""
    try:
        s = float(slope)
    except (TypeError, ValueError):
        raise ValueError(f"slope must be a number, got {slope!r}") from None
    if not np.isfinite(s):
        raise ValueError(f"slope must be finite, got {s}")
    return s


# --------------------------------------------------------------------------- calibration slope


@dataclass(frozen=True)
class CalibrationSlope:
    """Calibration slope of a linear predictor on new patients (see :func:`calibration_slope`).

    Attributes
    ----------
    slope : float
        Coefficient of ``lp`` in ``coxph(Surv ~ lp)`` (1 = ideal; < 1 predictions too extreme).
    se : float
        Its standard error (inverse observed information).
    lower, upper : float
        Wald 95 % interval ``slope -/+ qnorm(0.975) se``.
    n, n_events : int
    """

    slope: float
    se: float
    lower: float
    upper: float
    n: int
    n_events: int


def calibration_slope(time, event, lp) -> CalibrationSlope:
    """Calibration slope: ``coxph(Surv(time, event) ~ lp)`` (Efron ties) on new patients.

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times (any unit), finite, non-negative.
    event : array-like of 0/1 or bool, shape (n,)
        1 = event, 0 = censored.
    lp : array-like, shape (n,)
        The model's linear predictor ``X'beta`` (higher = worse), not constant.
        Centring does not change the slope.

    Returns
    -------
    CalibrationSlope
        ``slope, se, lower, upper, n, n_events``.

    Raises
    ------
    ValueError
        Naming the argument: lengths differ, NaN, negative time, no events, constant ``lp``.

    Examples
    --------
    >>> s = calibration_slope([2, 4, 5, 7, 9, 11, 12, 15], [1, 1, 0, 1, 1, 0, 1, 0],
    ...                       [2.0, 1.4, 1.5, 0.2, 0.9, 0.1, -0.3, 0.4])
    >>> bool(s.slope > 0 and s.lower < s.slope < s.upper)
    True
    """
    t, e = check_survival(time, event)
    x = check_marker(lp, t.size, "lp")
    t = aeq_times(t)                                       # coxph's timefix: near-equal times are ties
    fit = fit_cox(pd.DataFrame({"time": t, "event": e.astype(int), "lp": x}), "time", "event", ["lp"])
    b, se = float(fit.params["lp"]), float(fit.summary.loc["lp", "se"])
    return CalibrationSlope(slope=b, se=se, lower=b - _Z975 * se, upper=b + _Z975 * se,
                            n=int(t.size), n_events=int(e.sum()))


# --------------------------------------------------------------------------- observed / expected


@dataclass(frozen=True)
class ObservedExpected:
    """Observed against expected risk at one horizon (see :func:`observed_expected`).

    Attributes
    ----------
    t : float
        Horizon (unit of ``time``).
    observed : float
        ``1 - S_KM(t)``, the Kaplan-Meier risk of the event by ``t``.
    expected : float
        Mean predicted risk by ``t``.
    ratio : float
        ``observed / expected`` (> 1: the model under-predicts risk).
    lower, upper : float
        95 % interval ``exp(log(O/E) -/+ qnorm(0.975) se_log_observed)``; NaN where
        ``O`` is 0 or 1 (no event, or every patient's event, by ``t``).
    se_log_observed : float
        ``se(S(t)) / (1 - S(t))`` with the Greenwood ``se(S(t))``.
    n, n_events : int
        Patients and events in the whole cohort.
    """

    t: float
    observed: float
    expected: float
    ratio: float
    lower: float
    upper: float
    se_log_observed: float
    n: int
    n_events: int


def observed_expected(time, event, predicted_risk, t) -> ObservedExpected:
    """Observed/expected ratio at horizon ``t``: ``O = 1 - KM(t)``, ``E = mean(predicted_risk)``.

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times, finite, non-negative.
    event : array-like of 0/1 or bool, shape (n,)
        1 = event, 0 = censored (without events ``O = 0``).
    predicted_risk : array-like, shape (n,)
        Each patient's predicted ``P(T <= t | x)`` in ``[0, 1]`` (higher = worse),
        e.g. ``1 - exp(-H0(t) exp(lp))``; not 0 for every patient.
    t : float
        Horizon, ``0 < t <= max(time)``.

    Returns
    -------
    ObservedExpected
        ``t, observed, expected, ratio, lower, upper, se_log_observed, n, n_events``;
        the interval accounts for the uncertainty of ``O`` only (Debray et al. 2015).

    Raises
    ------
    ValueError
        Naming the argument: lengths differ, NaN, risk outside [0, 1] or 0 for every
        patient, ``t`` not positive or beyond the last follow-up time.

    Examples
    --------
    >>> oe = observed_expected([1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 0], [0.2, 0.3, 0.4, 0.5, 0.4, 0.3], 4)
    >>> round(oe.observed, 4), round(oe.expected, 4), round(oe.ratio, 4)   # 1 - 5/6 * 3/4 * 2/3
    (0.5833, 0.35, 1.6667)
    """
    tt, e = check_survival(time, event, min_events=0)
    risk = check_probability(predicted_risk, tt.size, "predicted_risk")
    t = check_time_point(t, tt)
    expected = float(risk.mean())
    if expected == 0:
        raise ValueError("predicted_risk is 0 for every patient: O/E is undefined")
    km = KaplanMeier.fit(aeq_times(tt), e)                 # survfit's timefix
    s = float(km.survival_at([t])[0])
    observed = 1.0 - s
    ratio = observed / expected
    with np.errstate(divide="ignore", invalid="ignore"):
        se_log_o = float(s * np.sqrt(km.var_log_at([t])[0]) / observed) if 0 < observed < 1 else np.nan
    if np.isfinite(se_log_o):
        lower, upper = ratio * np.exp(-_Z975 * se_log_o), ratio * np.exp(_Z975 * se_log_o)
    else:
        lower = upper = np.nan
    return ObservedExpected(t=t, observed=observed, expected=expected, ratio=ratio, lower=float(lower),
                            upper=float(upper), se_log_observed=se_log_o, n=int(tt.size), n_events=int(e.sum()))


# --------------------------------------------------------------------------- Poisson calibration


@dataclass(frozen=True)
class PoissonCalibration:
    """Calibration-in-the-large and slope from Poisson GLMs (see :func:`poisson_calibration`).

    Attributes
    ----------
    citl, citl_se : float
        Intercept of ``glm(event ~ offset(log expected), poisson)`` and its SE;
        ``exp(citl)`` = observed / expected events (> 0: the model under-predicts).
    slope, slope_se : float
        Coefficient of ``lp`` in ``glm(event ~ lp + offset(log expected - lp), poisson)``
        and its SE (1 = ideal).
    n, n_events : int
        Patients and events used in the fits (``expected > 0``).
    n_dropped, events_dropped : int
        Patients with ``expected == 0`` left out, and their events.
    """

    citl: float
    citl_se: float
    slope: float
    slope_se: float
    n: int
    n_events: int
    n_dropped: int
    events_dropped: int


def _poisson_glm(y: np.ndarray, X: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and standard errors of a log-link Poisson GLM, statsmodels' IRLS on R's path.

    statsmodels' IRLS has the structure of R's ``glm.fit``; started where R starts
    (``mu = y + 0.1``, ``poisson()$initialize``) and stopped by R's rule
    (``|dev - dev_old| < 1e-8 (|dev| + 0.1)``, ``glm.control()``), it takes R's steps, so
    the standard errors, which both take from the last iteration's weights, equal R's
    too (a fully converged fit would differ from R's by up to about ``1e-4`` there).
    """
    from statsmodels.genmod.families import Poisson
    from statsmodels.genmod.generalized_linear_model import GLM

    class _PoissonRStart(Poisson):
        def starting_mu(self, y):
            return y + 0.1

    res = GLM(y, X, family=_PoissonRStart(), offset=offset).fit(
        method="IRLS", tol=_GLM_EPSILON * 0.1, rtol=_GLM_EPSILON, maxiter=_GLM_MAXIT)
    if not res.converged:                                  # R: "glm.fit: algorithm did not converge"
        warnings.warn(f"Poisson GLM did not converge in {_GLM_MAXIT} iterations", RuntimeWarning, stacklevel=3)
    return np.asarray(res.params, dtype=float), np.asarray(res.bse, dtype=float)


def poisson_calibration(event, expected, lp) -> PoissonCalibration:
    """Calibration-in-the-large and calibration slope by Poisson regression (Crowson et al. 2016).

    The event indicator of each patient is Poisson with mean ``expected``, the
    predicted cumulative hazard ``H0(time_i) exp(lp_i)`` at the patient's own
    follow-up time (a Cox model's expected number of events). Two GLMs with a log link:

    * ``glm(event ~ offset(log(expected)), poisson)``: the intercept is ``citl``
      (0 = ideal; ``exp(citl)`` = observed / expected events);
    * ``glm(event ~ lp + offset(log(expected) - lp), poisson)``: the coefficient of
      ``lp`` is the calibration slope (1 = ideal).

    Patients with ``expected == 0`` (followed up for less than the development
    cohort's first event time) have ``log(0)`` offsets: they are left out of both
    fits and counted in ``n_dropped`` and ``events_dropped``.

    Parameters
    ----------
    event : array-like of 0/1 or bool, shape (n,)
        1 = event by the end of follow-up.
    expected : array-like, shape (n,)
        Predicted cumulative hazard at each patient's follow-up time, finite, >= 0.
    lp : array-like, shape (n,)
        Linear predictor ``X'beta`` (higher = worse), not constant among the kept patients.

    Returns
    -------
    PoissonCalibration
        ``citl, citl_se, slope, slope_se, n, n_events, n_dropped, events_dropped``.

    Raises
    ------
    ValueError
        Naming the argument: lengths differ, NaN, negative ``expected``, no event
        among the patients with ``expected > 0``, ``lp`` constant among them.

    Examples
    --------
    >>> p = poisson_calibration([1, 0, 1, 1, 0, 0], [0.8, 0.3, 1.1, 0.6, 0.0, 0.2],
    ...                         [1.2, 0.1, 1.5, 0.7, -0.4, 0.0])
    >>> round(p.citl, 4), p.n_dropped, p.events_dropped     # log(3 / 3.0)
    (0.0, 1, 0)
    """
    expected_, e = check_survival(expected, event, name_time="expected", name_event="event")
    x = check_marker(lp, e.size, "lp", allow_constant=True)
    keep = expected_ > 0
    y, mu, x = e[keep].astype(float), expected_[keep], x[keep]
    if y.sum() == 0:
        raise ValueError("event has no events among the patients with expected > 0")
    if np.all(x == x[0]):
        raise ValueError("lp is constant among the patients with expected > 0")
    log_mu = np.log(mu)
    b1, se1 = _poisson_glm(y, np.ones((y.size, 1)), log_mu)
    b2, se2 = _poisson_glm(y, np.column_stack([np.ones(y.size), x]), log_mu - x)
    return PoissonCalibration(citl=float(b1[0]), citl_se=float(se1[0]), slope=float(b2[1]),
                              slope_se=float(se2[1]), n=int(y.size), n_events=int(y.sum()),
                              n_dropped=int((~keep).sum()), events_dropped=int(e[~keep].sum()))


# --------------------------------------------------------------------------- baseline update


@dataclass(frozen=True, eq=False)
class BaselineUpdate:
    """A baseline cumulative hazard re-estimated on new patients (see :func:`update_baseline`).

    Attributes
    ----------
    times : numpy.ndarray, shape (m,)
        Evaluation times, as given.
    cumhaz : numpy.ndarray, shape (m,)
        ``H0(t)`` at ``lp = 0`` at each of ``times`` (right-continuous step function).
    slope : float
        Multiplier of ``lp`` in the weights ``exp(slope * lp)``.
    n, n_events : int
    """

    times: np.ndarray
    cumhaz: np.ndarray
    slope: float
    n: int
    n_events: int


def update_baseline(time, event, lp, times, slope: float = 1.0) -> BaselineUpdate:
    """Breslow's baseline cumulative hazard at ``lp = 0`` with the linear predictor held fixed.

    ``H0(t) = sum_{event times u <= t} d(u) / sum_{j: time_j >= u} exp(slope * lp_j)``,
    i.e. the baseline of ``coxph(Surv(time, event) ~ offset(slope * lp))``
    (R: ``survfit(fit, newdata = data.frame(lp = 0))$cumhaz``; ``basehaz()`` would
    centre it at the mean offset). ``slope = 1`` updates the baseline only; the
    calibration slope gives a recalibrated model ``H0(t) exp(slope * lp)``.
    Tied deaths count together (Breslow), whatever ties the model was fitted with.

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times, finite, non-negative.
    event : array-like of 0/1 or bool, shape (n,)
        1 = event, 0 = censored.
    lp : array-like, shape (n,)
        Linear predictor ``X'beta``, not centred (higher = worse); may be constant.
    times : float or array-like, shape (m,)
        Evaluation times, finite, non-negative, any order (0 before the first
        event time, the last value carried forward after the last one).
    slope : float, default 1.0
        Multiplier of ``lp``.

    Returns
    -------
    BaselineUpdate
        ``times, cumhaz, slope, n, n_events``.

    Raises
    ------
    ValueError
        Naming the argument: lengths differ, NaN, negative time or times, no
        events, non-finite ``slope``.

    Examples
    --------
    >>> h = update_baseline([1, 2, 2, 3], [1, 1, 0, 1], [0.0, 0.0, 0.0, 0.0], [0.5, 2, 9])
    >>> h.cumhaz.round(4).tolist()      # 1/4, then + 1/3, then + 1/1
    [0.0, 0.5833, 1.5833]
    """
    t, e = check_survival(time, event)
    x = check_marker(lp, t.size, "lp", allow_constant=True)
    at = check_times(times)
    s = _check_slope(slope)
    t = aeq_times(t)                                       # coxph's timefix: near-equal times are ties
    eta = s * x
    shift = float(eta.max())
    order = np.argsort(t, kind="stable")
    t_sorted, w = t[order], np.exp(eta[order] - shift)
    risk_sums = np.cumsum(w[::-1])[::-1]                   # sum of weights with time >= t_sorted[i]
    event_times, d = np.unique(t[e], return_counts=True)
    first = np.searchsorted(t_sorted, event_times, side="left")
    cum = np.cumsum(d / risk_sums[first]) * np.exp(-shift)
    k = np.searchsorted(event_times, at, side="right") - 1
    cumhaz = np.where(k >= 0, cum[np.maximum(k, 0)], 0.0)
    return BaselineUpdate(times=at, cumhaz=cumhaz, slope=s, n=int(t.size), n_events=int(e.sum()))
