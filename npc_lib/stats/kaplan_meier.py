"""Kaplan-Meier curves, the log-rank test and a two-group Cox hazard ratio, as R's ``survival``.

* :func:`kaplan_meier` is ``summary(survfit(Surv(time, event) ~ 1), times,
  extend=TRUE)``: product-limit survival, Greenwood standard error of
  ``S(t)`` and a 95 % interval on the log scale (``conf.type = "log"``, the
  survfit default).
* :func:`logrank_test` is ``survdiff`` (rho = 0).
* :func:`hazard_ratio` is ``coxph(Surv ~ group)`` on a 0/1 indicator
  (high vs low risk), Wald CI and p, plus the log-rank p.

Risk convention: in :func:`hazard_ratio` group 1 is the *high-risk* group;
``hr > 1`` means group 1 has the higher hazard (worse survival).

References
----------
Kaplan EL, Meier P. JASA 1958;53:457-481. Greenwood M. Rep Public Health Med
Subj 1926;33. Mantel N. Cancer Chemother Rep 1966;50:163-170.
Therneau TM. survival: A Package for Survival Analysis in R (survfit, survdiff).
"""

from __future__ import annotations

__all__ = ["LogrankResult", "HazardRatioResult", "kaplan_meier", "logrank_test", "hazard_ratio"]

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _sps

from .cox import _Z975, _check_ties, _check_time_event, fit_cox


def _check_times(times) -> np.ndarray:
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if times.ndim != 1 or not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError("times must be a 1-d sequence of finite non-negative numbers")
    if np.any(np.diff(times) < 0):
        raise ValueError("times must be sorted in increasing order")
    return times


def _check_group(group, n: int) -> np.ndarray:
    group = np.asarray(group).ravel()
    if group.shape[0] != n:
        raise ValueError(f"group length {group.shape[0]} differs from time length {n}")
    if pd.isna(group).any():
        raise ValueError("group contains NaN")
    if np.unique(group).size < 2:
        raise ValueError("group must have at least two levels")
    return group


def kaplan_meier(time, event, times=None) -> pd.DataFrame:
    """Kaplan-Meier estimate at ``times`` (as ``summary(survfit(...), times, extend=TRUE)``).

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times (any unit), non-negative.
    event : array-like, shape (n,)
        1/True = event, 0/False = censored.
    times : array-like, shape (m,), optional
        Increasing evaluation times. ``None`` gives the whole curve at every
        distinct observed time (event or censoring), as ``survfit``.

    Returns
    -------
    pandas.DataFrame
        One row per time: ``time, survival, se, lower, upper, n_risk, n_event,
        beyond_last_time``. ``se`` is the Greenwood standard error of
        ``S(t)`` (``S * sqrt(sum d/(n(n-d)))``); ``lower/upper`` the 95 % CI
        ``exp(log S -/+ 1.96 se/S)``; ``n_risk`` the number with time ``>= t``;
        ``n_event`` the events in ``(previous time, t]``. Past the last
        observed time the last value is carried forward (``extend=TRUE``) and
        ``beyond_last_time`` is True. Where ``S = 0`` se and CI are NaN (R: NA).

    Examples
    --------
    >>> km = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 0], times=[0.5, 2, 3, 6])
    >>> km["survival"].round(4).tolist()
    [1.0, 0.6, 0.3, 0.3]
    >>> km["n_risk"].tolist(), km["beyond_last_time"].tolist()
    ([5, 4, 2, 0], [False, False, False, True])
    """
    time, event = _check_time_event(time, event, time_name="time", event_name="event")
    u, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event.astype(float), minlength=u.size)
    n_at = np.bincount(inv, minlength=u.size)
    n_risk_u = np.cumsum(n_at[::-1])[::-1].astype(float)
    surv_u = np.cumprod(1.0 - d / n_risk_u)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(d > 0, d / (n_risk_u * (n_risk_u - d)), 0.0)
    var_log_u = np.cumsum(terms)
    times = u.copy() if times is None else _check_times(times)
    idx = np.searchsorted(u, times, side="right") - 1
    before = idx < 0
    k = np.maximum(idx, 0)
    surv = np.where(before, 1.0, surv_u[k])
    var_log = np.where(before, 0.0, var_log_u[k])
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        se_log = np.sqrt(var_log)
        zero = surv <= 0
        se = np.where(zero, np.nan, surv * se_log)
        lower = np.where(zero, np.nan, np.exp(np.log(surv) - _Z975 * se_log))
        upper = np.where(zero, np.nan, np.minimum(np.exp(np.log(surv) + _Z975 * se_log), 1.0))
    n_risk = time.size - np.searchsorted(np.sort(time), times, side="left")
    ev_sorted = np.sort(time[event])
    cum_ev = np.searchsorted(ev_sorted, times, side="right")
    n_event = np.diff(np.concatenate([[0], cum_ev]))
    return pd.DataFrame({
        "time": times, "survival": surv, "se": se, "lower": lower, "upper": upper,
        "n_risk": n_risk.astype(int), "n_event": n_event.astype(int),
        "beyond_last_time": times > time.max(),
    })


@dataclass(frozen=True)
class LogrankResult:
    """Log-rank test (``survdiff``): ``chi2`` on ``df`` degrees of freedom, ``p_value``,
    per-group ``observed`` and ``expected`` events (Series indexed by group label) and
    the hypergeometric ``variance`` matrix."""

    chi2: float
    df: int
    p_value: float
    observed: pd.Series
    expected: pd.Series
    variance: np.ndarray


def logrank_test(time, event, group) -> LogrankResult:
    """Log-rank (Mantel-Haenszel) test of equal survival across groups, as ``survdiff``.

    ``chi2 = (O - E)' V^- (O - E)`` over the first ``G - 1`` groups, with the
    hypergeometric variance ``V``; ``p`` is the chi-square upper tail on
    ``G - 1`` df.

    Examples
    --------
    >>> r = logrank_test([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0])
    >>> round(r.chi2, 4), r.observed.tolist()
    (5.0517, [2.0, 3.0])
    """
    time, event = _check_time_event(time, event, time_name="time", event_name="event")
    group = _check_group(group, time.size)
    labels, g = np.unique(group, return_inverse=True)
    G = labels.size
    et, k_of = np.unique(time, return_inverse=True)
    K = et.size
    at = np.zeros((K, G))
    np.add.at(at, (k_of, g), 1.0)
    n_gk = np.cumsum(at[::-1], axis=0)[::-1]          # at risk per time and group
    d_gk = np.zeros((K, G))
    np.add.at(d_gk, (k_of[event], g[event]), 1.0)
    keep = d_gk.sum(axis=1) > 0
    n_gk, d_gk = n_gk[keep], d_gk[keep]
    n_k = n_gk.sum(axis=1)
    d_k = d_gk.sum(axis=1)
    share = n_gk / n_k[:, None]
    obs = d_gk.sum(axis=0)
    exp_ = (d_k[:, None] * share).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(n_k > 1, d_k * (n_k - d_k) / (n_k - 1), 0.0)
    V = np.einsum("k,kg,gh->gh", c, share, np.eye(G)) - np.einsum("k,kg,kh->gh", c, share, share)
    diff = (obs - exp_)[:-1]
    chi2 = float(diff @ np.linalg.pinv(V[:-1, :-1]) @ diff)
    df = G - 1
    return LogrankResult(
        chi2=chi2, df=df, p_value=float(_sps.chi2.sf(chi2, df)),
        observed=pd.Series(obs, index=labels, name="observed"),
        expected=pd.Series(exp_, index=labels, name="expected"),
        variance=V,
    )


@dataclass(frozen=True)
class HazardRatioResult:
    """Hazard ratio of group 1 vs group 0 from a one-covariate Cox model.

    ``hr = exp(coef)`` with Wald 95 % CI ``lower, upper`` and Wald ``p_value``;
    ``score_chi2`` is the Cox score test (= log-rank without ties);
    ``logrank_chi2``/``logrank_p`` from :func:`logrank_test`.
    """

    coef: float
    se: float
    hr: float
    lower: float
    upper: float
    p_value: float
    score_chi2: float
    logrank_chi2: float
    logrank_p: float
    ties: str


def hazard_ratio(time, event, group, ties: str = "efron") -> HazardRatioResult:
    """Hazard ratio (95 % CI, p) of ``group == 1`` vs ``group == 0``, as ``coxph(Surv ~ group)``.

    Parameters
    ----------
    time, event : array-like, shape (n,)
    group : array-like of 0/1 or bool, shape (n,)
        1 = high-risk group (``hr > 1``: the high-risk group does worse).
    ties : {"efron", "breslow"}

    Examples
    --------
    >>> r = hazard_ratio([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 1, 0, 1, 1, 0, 1],
    ...                  [1, 1, 0, 1, 0, 0, 0, 0])
    >>> bool(r.hr > 1 and r.lower < r.hr < r.upper)
    True
    """
    _check_ties(ties)
    time, event = _check_time_event(time, event, time_name="time", event_name="event")
    group = _check_group(group, time.size)
    gnum = group.astype(float) if group.dtype != object else np.asarray(group, dtype=float)
    if not np.all((gnum == 0) | (gnum == 1)):
        raise ValueError("group must be 0/1 or boolean (1 = high risk)")
    df = pd.DataFrame({"time": time, "event": event.astype(int), "group": gnum})
    r = fit_cox(df, "time", "event", ["group"], ties=ties)
    s = r.summary.loc["group"]
    lr = logrank_test(time, event, gnum)
    return HazardRatioResult(
        coef=float(s["coef"]), se=float(s["se"]), hr=float(s["hr"]),
        lower=float(s["hr_lower"]), upper=float(s["hr_upper"]), p_value=float(s["p"]),
        score_chi2=float(r.score_test["chi2"]), logrank_chi2=lr.chi2, logrank_p=lr.p_value,
        ties=ties,
    )
