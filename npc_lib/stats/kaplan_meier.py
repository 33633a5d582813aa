"""The one Kaplan-Meier estimator of the library, the log-rank test and a two-group hazard ratio.

* :class:`KaplanMeier` is the product-limit estimate as a step function,
  with the variants the R references need:

  - ``reverse=True``: the Kaplan-Meier of the *censoring* distribution ``G``
    (censorings counted as the transitions), used for median follow-up
    (Schemper & Smith) and inverse-probability-of-censoring weights;
  - ``tie_order``: what happens when an event and a censoring share a time.
    ``"events_first"`` (default) takes the events first: for the survival
    curve the censored subjects are still at risk (``survival::survfit``);
    for the reverse curve the events have left the risk set before the
    censorings (``prodlim(..., reverse=TRUE)``, timeROC, riskRegression's
    ``cens.model="km"``). ``"censored_first"`` is the other order (the
    reverse curve of ``survfit(Surv(time, 1 - event) ~ 1)``);
  - evaluation at any times as a step function: the right limit ``S(t)``
    (the last step at or before ``t``) or the left limit ``S(t-)`` (the
    last step strictly before ``t``), the Greenwood variance of ``log S``,
    the numbers at risk, and quantiles as ``quantile.survfit``.

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
Schemper M, Smith TL. A note on quantifying follow-up in studies of failure
time. Control Clin Trials 1996;17:343-346 (reverse Kaplan-Meier).
Therneau TM. survival: A Package for Survival Analysis in R (survfit, survdiff).
Gerds TA. prodlim: Product-Limit Estimation for Censored Event History Analysis.
"""

from __future__ import annotations

__all__ = ["TIE_ORDERS", "KaplanMeier", "LogrankResult", "HazardRatioResult", "kaplan_meier",
           "logrank_test", "hazard_ratio"]

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _sps

from ._validation import check_survival, check_times
from .cox import check_ties, fit_cox

TIE_ORDERS = ("events_first", "censored_first")
_Z975 = float(_sps.norm.ppf(0.975))


def _check_tie_order(tie_order: str) -> str:
    if tie_order not in TIE_ORDERS:
        raise ValueError(f"tie_order must be one of {TIE_ORDERS}, got {tie_order!r}")
    return tie_order


def _check_group(group, n: int) -> np.ndarray:
    group = np.asarray(group).ravel()
    if group.shape[0] != n:
        raise ValueError(f"group length {group.shape[0]} differs from time length {n}")
    if pd.isna(group).any():
        raise ValueError("group contains NaN")
    if np.unique(group).size < 2:
        raise ValueError("group must have at least two levels")
    return group


@dataclass(frozen=True, eq=False)
class KaplanMeier:
    """A product-limit curve as a right-continuous step function (see :meth:`fit`).

    Attributes
    ----------
    time : numpy.ndarray, shape (K,)
        Distinct observed times (events and censorings), increasing.
    n_risk : numpy.ndarray of int, shape (K,)
        Subjects with ``time >= t`` (at risk just before ``t``).
    n_event : numpy.ndarray of int, shape (K,)
        Transitions counted at ``t``: events, or censorings when ``reverse``.
    n_other : numpy.ndarray of int, shape (K,)
        The other status at ``t`` (censorings, or events when ``reverse``).
    survival : numpy.ndarray, shape (K,)
        ``S(t)`` (right limit) at each time; ``G(t)`` when ``reverse``.
    var_log : numpy.ndarray, shape (K,)
        Greenwood ``var(log S(t)) = sum d / (m (m - d))`` (``m`` the risk set
        used by the product; ``inf`` once ``S`` is 0).
    reverse : bool
    tie_order : str
    n : int
    """

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_other: np.ndarray
    survival: np.ndarray
    var_log: np.ndarray = field(repr=False)
    reverse: bool = False
    tie_order: str = "events_first"
    n: int = 0

    @classmethod
    def fit(cls, time, event, *, reverse: bool = False, tie_order: str = "events_first") -> "KaplanMeier":
        """Product-limit estimate of ``time`` (``reverse``: of the censoring times).

        Parameters
        ----------
        time : array-like, shape (n,)
            Follow-up times (any unit), finite, non-negative.
        event : array-like of 0/1 or bool, shape (n,)
            1 = event, 0 = censored. Data without events are allowed
            (survival stays 1).
        reverse : bool, default False
            Estimate the censoring distribution ``G`` (censorings are the
            transitions).
        tie_order : {"events_first", "censored_first"}
            Order of an event and a censoring at the same time (module notes).
            With ``"events_first"`` the factor at ``t`` is ``1 - d/n`` for
            the survival curve and ``1 - c/(n - d)`` for the reverse one;
            with ``"censored_first"`` it is ``1 - d/(n - c)`` and ``1 - c/n``.

        Examples
        --------
        >>> km = KaplanMeier.fit([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
        >>> km.survival.round(4).tolist(), km.n_risk.tolist()
        ([0.8, 0.6, 0.3, 0.3], [5, 4, 2, 1])
        >>> g = KaplanMeier.fit([1, 2, 2, 3, 4], [1, 1, 0, 1, 0], reverse=True)
        >>> g.survival.round(4).tolist()     # prodlim: at t = 2 the event leaves first
        [1.0, 0.6667, 0.6667, 0.0]
        """
        tie_order = _check_tie_order(tie_order)
        t, e = check_survival(time, event, min_events=0)
        u, inv = np.unique(t, return_inverse=True)
        ev = np.bincount(inv, weights=e.astype(float), minlength=u.size)
        ce = np.bincount(inv, weights=(~e).astype(float), minlength=u.size)
        n_risk = np.cumsum(np.bincount(inv, minlength=u.size)[::-1])[::-1].astype(float)
        d, other = (ce, ev) if reverse else (ev, ce)
        first = "censored_first" if reverse else "events_first"
        m = n_risk if tie_order == first else n_risk - other
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(d > 0, 1.0 - d / m, 1.0)
            terms = np.where(d > 0, d / (m * (m - d)), 0.0)
        return cls(time=u, n_risk=n_risk.astype(int), n_event=d.astype(int), n_other=other.astype(int),
                   survival=np.cumprod(factor), var_log=np.cumsum(terms), reverse=bool(reverse),
                   tie_order=tie_order, n=int(t.size))

    def _index(self, times, left: bool) -> np.ndarray:
        ts = check_times(times)
        return np.searchsorted(self.time, ts, side="left" if left else "right") - 1

    def survival_at(self, times, *, left: bool = False) -> np.ndarray:
        """``S(t)`` at ``times`` (shape (m,)); ``left=True`` gives ``S(t-)``. 1 before the first step,
        the last value carried forward after the last time (survfit's ``extend=TRUE``).

        Examples
        --------
        >>> km = KaplanMeier.fit([1, 2, 3], [1, 1, 0])
        >>> km.survival_at([0.5, 1, 2, 9]).round(4).tolist(), km.survival_at([1, 2], left=True).round(4).tolist()
        ([1.0, 0.6667, 0.3333, 0.3333], [1.0, 0.6667])
        """
        idx = self._index(times, left)
        return np.where(idx < 0, 1.0, self.survival[np.maximum(idx, 0)])

    def var_log_at(self, times, *, left: bool = False) -> np.ndarray:
        """Greenwood ``var(log S)`` at ``times`` (0 before the first step, ``inf`` once ``S = 0``)."""
        idx = self._index(times, left)
        return np.where(idx < 0, 0.0, self.var_log[np.maximum(idx, 0)])

    def n_risk_at(self, times) -> np.ndarray:
        """Subjects with ``time >= t`` at each of ``times`` (int, shape (m,))."""
        ts = check_times(times)
        k = np.searchsorted(self.time, ts, side="left")
        cum = np.concatenate([self.n_risk, [0]])
        return cum[k].astype(int)

    def quantile(self, p: float) -> float:
        """Smallest time with ``S(t) <= 1 - p``, as R's ``quantile.survfit``; NaN if never reached.

        Where the curve equals ``1 - p`` exactly on a flat stretch, the middle of that
        stretch (the mean with the next step time), as R.

        Examples
        --------
        >>> KaplanMeier.fit([1, 2, 3, 4, 5], [0, 0, 0, 0, 0], reverse=True).quantile(0.5)
        3.0
        >>> KaplanMeier.fit([1, 2, 3, 4], [1, 1, 1, 1]).quantile(0.5)
        2.5
        """
        p = float(p)
        if not 0.0 < p < 1.0:
            raise ValueError(f"p must lie in (0, 1), got {p}")
        target = 1.0 - p
        below = np.flatnonzero(self.survival <= target + 1e-12)
        if below.size == 0:
            return float("nan")
        i = below[0]
        if abs(self.survival[i] - target) < 1e-12:
            later = np.flatnonzero((self.n_event > 0) & (np.arange(self.time.size) > i))
            if later.size:
                return float((self.time[i] + self.time[later[0]]) / 2)
        return float(self.time[i])

    def summary(self, times=None) -> pd.DataFrame:
        """The table of :func:`kaplan_meier` (``summary.survfit(..., extend=TRUE)``) at ``times``."""
        times = self.time.copy() if times is None else check_times(times, increasing=True)
        surv = self.survival_at(times)
        var_log = self.var_log_at(times)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            se_log = np.sqrt(var_log)
            zero = surv <= 0
            se = np.where(zero, np.nan, surv * se_log)
            lower = np.where(zero, np.nan, np.exp(np.log(surv) - _Z975 * se_log))
            upper = np.where(zero, np.nan, np.minimum(np.exp(np.log(surv) + _Z975 * se_log), 1.0))
        cum_ev = np.concatenate([[0], np.cumsum(self.n_event)])[np.searchsorted(self.time, times, side="right")]
        return pd.DataFrame({
            "time": times, "survival": surv, "se": se, "lower": lower, "upper": upper,
            "n_risk": self.n_risk_at(times), "n_event": np.diff(np.concatenate([[0], cum_ev])).astype(int),
            "beyond_last_time": times > self.time[-1],
        })


def kaplan_meier(time, event, times=None) -> pd.DataFrame:
    """Kaplan-Meier estimate at ``times`` (as ``summary(survfit(...), times, extend=TRUE)``).

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times (any unit), non-negative.
    event : array-like, shape (n,)
        1/True = event, 0/False = censored (without events the curve is 1).
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
        See :class:`KaplanMeier` for the reverse curve, tie orders and left limits.

    Examples
    --------
    >>> km = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 0], times=[0.5, 2, 3, 6])
    >>> km["survival"].round(4).tolist()
    [1.0, 0.6, 0.3, 0.3]
    >>> km["n_risk"].tolist(), km["beyond_last_time"].tolist()
    ([5, 4, 2, 0], [False, False, False, True])
    """
    return KaplanMeier.fit(time, event).summary(times)


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
    time, event = check_survival(time, event)
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
    check_ties(ties)
    time, event = check_survival(time, event)
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
