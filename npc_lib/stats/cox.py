"""Cox proportional-hazards regression (Efron and Breslow ties), as R's ``survival::coxph``.

The partial likelihood is maximised by Newton-Raphson written in vectorised
numpy: risk-set sums are reverse cumulative sums over subjects sorted by
time, and Efron's correction for tied event times enters through one row per
event (``r / d`` of the tied deaths' risk removed from the denominator). The
information matrix is assembled in ``O(n p^2)`` without forming per-time
``p x p`` matrices. Iterations stop when the log partial likelihood changes
by less than ``1e-13`` relative, so coefficients agree with ``coxph`` (whose
own stopping rule is looser, ``eps = 1e-9``) to about ``1e-8`` relative.

Risk convention: the linear predictor ``X'beta`` is a *risk* score (higher =
worse, shorter survival); a hazard ratio above 1 means the covariate raises
the hazard.

References
----------
Cox DR. Regression models and life-tables. JRSS B 1972;34:187-220.
Efron B. The efficiency of Cox's likelihood function for censored data.
JASA 1977;72:557-565.
Therneau TM, Grambsch PM. Modeling Survival Data. Springer 2000 (ch. 3, 10).
"""

from __future__ import annotations

__all__ = ["TIES", "CoxConvergenceWarning", "CoxResult", "fit_cox", "univariate_cox",
           "check_ties", "check_frame", "design_matrix", "RiskSets", "reverse_cumsum"]

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _sps

from ._validation import check_survival, check_times

TIES = ("efron", "breslow")
_Z975 = float(_sps.norm.ppf(0.975))


class CoxConvergenceWarning(RuntimeWarning):
    """Newton-Raphson did not converge (e.g. monotone likelihood, infinite coefficient)."""


# --------------------------------------------------------------------------- validators


def check_ties(ties: str) -> str:
    """Validate a Cox tie method (one of :data:`TIES`)."""
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    return ties


def check_frame(df, duration_col: str, event_col: str, covariates: Sequence[str]):
    """Validate a survival DataFrame; return ``(time, event, X float64 (n, p), names)``.

    ``time``/``event`` follow :func:`npc_lib.stats._validation.check_survival`
    (errors name ``duration_col 'col'`` and ``event_col 'col'``); covariates
    must be distinct numeric columns, finite and not constant.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    for name, col in (("duration_col", duration_col), ("event_col", event_col)):
        if col not in df.columns:
            raise ValueError(f"{name} {col!r} is not a column of df")
    missing = [c for c in covariates if c not in df.columns]
    if missing:
        raise ValueError(f"covariates not in df: {missing}")
    if len(set(covariates)) != len(covariates):
        raise ValueError(f"covariates contain duplicates: {covariates}")
    if duration_col in covariates or event_col in covariates:
        raise ValueError("covariates must not include duration_col or event_col")
    time, event = check_survival(
        df[duration_col].to_numpy(), df[event_col].to_numpy(),
        name_time=f"duration_col {duration_col!r}", name_event=f"event_col {event_col!r}",
    )
    X = design_matrix(df, covariates)
    if X.shape[1]:
        const = [c for c, v in zip(covariates, np.ptp(X, axis=0)) if v == 0]
        if const:
            raise ValueError(f"covariates are constant: {const}")
    return time, event, X, covariates


def design_matrix(df: pd.DataFrame, covariates: Sequence[str]) -> np.ndarray:
    """Float design matrix ``(n, p)`` of ``covariates``; NaN or non-numeric raise ValueError."""
    missing = [c for c in covariates if c not in df.columns]
    if missing:
        raise ValueError(f"covariates not in df: {missing}")
    try:
        X = df.loc[:, list(covariates)].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"covariates must be numeric: {exc}") from None
    bad = [c for c, b in zip(covariates, ~np.isfinite(X).all(axis=0)) if b]
    if bad:
        raise ValueError(f"covariates contain NaN or infinite values: {bad}")
    return X


# --------------------------------------------------------------------------- core algebra


class RiskSets:
    """Sorted data and tie structure of a Cox fit, built once per fit (also used by
    :mod:`npc_lib.stats.proportional_hazards`).

    Attributes: ``t`` sorted times (n,), ``X`` sorted centred design (n, p),
    ``ev`` indices of events in sorted order (m,), ``kk`` tie group of each
    event (m,), ``frac`` Efron weight ``r/d`` of each event (m,), ``first``
    index of the first subject at risk at each distinct event time (K,),
    ``event_times`` (K,), ``d`` deaths per time (K,), ``last_k`` for each
    subject the last distinct event time <= its time (n,; -1 if none).
    """

    def __init__(self, time: np.ndarray, event: np.ndarray, X: np.ndarray, efron: bool):
        order = np.argsort(time, kind="stable")
        self.t = time[order]
        self.X = X[order]
        self.order = order
        ev_mask = event[order]
        self.ev = np.flatnonzero(ev_mask)
        t_ev = self.t[self.ev]
        self.event_times, starts, self.d = np.unique(t_ev, return_index=True, return_counts=True)
        self.kk = np.repeat(np.arange(self.d.size), self.d)
        rank = np.arange(t_ev.size) - np.repeat(starts, self.d)
        self.frac = rank / np.repeat(self.d, self.d) if efron else np.zeros(t_ev.size)
        self.starts = starts
        self.first = np.searchsorted(self.t, self.event_times, side="left")
        self.last_k = np.searchsorted(self.event_times, self.t, side="right") - 1


def reverse_cumsum(a: np.ndarray) -> np.ndarray:
    """Sums from each position to the end along axis 0 (risk-set sums over subjects sorted by time)."""
    return np.cumsum(a[::-1], axis=0)[::-1]


def _partial_loglik(beta: np.ndarray, rs: RiskSets, need_derivs: bool = True):
    """Log partial likelihood, score (p,) and information (p, p) at ``beta``.

    Returns ``(loglik, score, info, w1)`` where ``w1`` (K,) is the baseline
    hazard increment at each event time for a subject with centred linear
    predictor 0 (Breslow: ``d/S0``; Efron: ``sum_r 1/(S0 - r/d D0)``).
    """
    X = rs.X
    eta = X @ beta
    shift = max(float(eta.max()), 0.0) if eta.size else 0.0
    w = np.exp(eta - shift)
    S0 = reverse_cumsum(w)[rs.first]
    we = w[rs.ev]
    D0 = np.add.reduceat(we, rs.starts)
    den = S0[rs.kk] - rs.frac * D0[rs.kk]
    loglik = float(eta[rs.ev].sum() - np.log(den).sum() - shift * rs.ev.size)
    inv = 1.0 / den
    w1 = np.bincount(rs.kk, weights=inv, minlength=rs.d.size)
    if not need_derivs:
        return loglik, None, None, w1 * np.exp(-shift)
    Xe = X[rs.ev]
    S1 = reverse_cumsum(w[:, None] * X)[rs.first]
    D1 = np.add.reduceat(we[:, None] * Xe, rs.starts, axis=0)
    A = (S1[rs.kk] - rs.frac[:, None] * D1[rs.kk]) * inv[:, None]
    score = Xe.sum(axis=0) - A.sum(axis=0)
    w2 = np.bincount(rs.kk, weights=rs.frac * inv, minlength=rs.d.size)
    cum_w1 = np.concatenate([[0.0], np.cumsum(w1)])[rs.last_k + 1]
    info = (X * (w * cum_w1)[:, None]).T @ X
    info -= (Xe * (we * w2[rs.kk])[:, None]).T @ Xe
    info -= A.T @ A
    return loglik, score, info, w1 * np.exp(-shift)


def _newton(rs: RiskSets, p: int, max_iter: int = 50, tol: float = 1e-13):
    """Maximise the partial likelihood from beta = 0 (step halving as coxph)."""
    beta = np.zeros(p)
    ll, score, info, _ = _partial_loglik(beta, rs)
    ll0, score0, info0 = ll, score, info
    converged = p == 0
    it = 0
    while not converged and it < max_iter:
        it += 1
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, score, rcond=None)[0]
        new = beta + step
        ll_new, s_new, i_new, _ = _partial_loglik(new, rs)
        halvings = 0
        while (not np.isfinite(ll_new) or ll_new < ll - 1e-12 * abs(ll)) and halvings < 30:
            new = (beta + new) / 2.0
            ll_new, s_new, i_new, _ = _partial_loglik(new, rs)
            halvings += 1
        delta = abs(ll_new - ll)
        beta, ll, score, info = new, ll_new, s_new, i_new
        if delta <= tol * max(1.0, abs(ll)) or np.max(np.abs(step)) <= 1e-13 * (1.0 + np.max(np.abs(beta))):
            converged = True
    return beta, ll, score, info, ll0, score0, info0, it, converged


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox model (see :func:`fit_cox`).

    Attributes
    ----------
    covariates : tuple of str
    params : pandas.Series
        Log hazard ratios ``beta`` (higher = worse).
    cov : pandas.DataFrame
        Inverse observed information ``(p, p)``.
    summary : pandas.DataFrame
        Indexed by covariate: ``coef, se, z, p, hr, hr_lower, hr_upper`` (Wald, 95 %).
    loglik, loglik_null : float
        Log partial likelihood at ``beta`` and at 0.
    aic : float
        ``-2 loglik + 2 p`` (R ``AIC``/``extractAIC`` for coxph).
    lr_test, wald_test, score_test : dict
        ``{"chi2", "df", "p"}``; score test at ``beta = 0``.
    means : pandas.Series
        As survival 3.x ``fit$means``: column means, but 0 for 0/1 covariates.
    n, n_events, ties, iterations, converged
    """

    covariates: tuple
    params: pd.Series
    cov: pd.DataFrame
    summary: pd.DataFrame
    loglik: float
    loglik_null: float
    aic: float
    bic: float
    lr_test: dict
    wald_test: dict
    score_test: dict
    means: pd.Series
    n: int
    n_events: int
    ties: str
    iterations: int
    converged: bool
    duration_col: str
    event_col: str
    event_times: np.ndarray = field(repr=False)
    _cumhaz_ref: np.ndarray = field(repr=False)
    _lp_ref: float = field(repr=False)

    def linear_predictor(self, df: pd.DataFrame) -> np.ndarray:
        """Uncentred linear predictor ``X'beta``, shape ``(n,)`` (higher = worse).

        Examples
        --------
        >>> import pandas as pd
        >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 1, 0, 1, 1, 0],
        ...                   "x": [3., 1., 2., 2., 0., 1.]})
        >>> r = fit_cox(d, "t", "e", ["x"])
        >>> bool(abs(r.linear_predictor(d)[0] - 3 * r.params["x"]) < 1e-12)
        True
        """
        if not self.covariates:
            return np.zeros(len(df))
        return design_matrix(df, self.covariates) @ self.params.to_numpy()

    def baseline_cumhazard(self, times, lp: float = 0.0) -> np.ndarray:
        """Cumulative hazard ``H(t | lp)`` at ``times`` for uncentred linear predictor ``lp``.

        Breslow-type estimator as ``survival::survfit.coxph``: with Efron ties
        the tied-death increment is ``sum_r 1/(S0 - r/d D0)`` (survfit's
        default ``ctype = 2`` for Efron fits), with Breslow ties ``d / S0``.
        A right-continuous step function: 0 before the first event time,
        constant after the last.
        """
        times = np.asarray(times, dtype=float)
        check_times(times.ravel())
        idx = np.searchsorted(self.event_times, times, side="right") - 1
        H = np.where(idx >= 0, self._cumhaz_ref[np.maximum(idx, 0)], 0.0)
        return H * np.exp(float(lp) - self._lp_ref)

    def baseline_survival(self, times, lp: float = 0.0) -> np.ndarray:
        """Survival ``S(t | lp) = exp(-H(t | lp))`` at ``times``, shape of ``times``.

        ``lp`` is the uncentred linear predictor of the reference subject
        (default 0, i.e. all covariates 0). This is ``survfit(fit, newdata)``
        (default ``stype = 2``) and rms ``Survival(f)(t, lp - center)``: a
        step function at the largest event time ``<= t``.

        Examples
        --------
        >>> import pandas as pd
        >>> d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 1, 1], "x": [1., 0., 1., 0.]})
        >>> r = fit_cox(d, "t", "e", [])
        >>> r.baseline_survival([0.5, 1, 2.5]).round(4).tolist()   # exp(-(1/4 + 1/3))
        [1.0, 0.7788, 0.558]
        """
        return np.exp(-self.baseline_cumhazard(times, lp))

    def predict_survival(self, df: pd.DataFrame, times) -> np.ndarray:
        """Survival of each row of ``df`` at ``times``: array ``(len(df), len(times))``.

        ``S_i(t) = S0(t)^exp(lp_i)`` with the Breslow/Efron baseline of
        :meth:`baseline_cumhazard` (computed relative to the mean covariate
        vector, so large uncentred predictors do not overflow).

        Examples
        --------
        >>> import pandas as pd
        >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 1, 0, 1, 1, 0],
        ...                   "x": [3., 1., 2., 2., 0., 1.]})
        >>> S = fit_cox(d, "t", "e", ["x"]).predict_survival(d, [0.5, 2, 10])
        >>> S.shape, S[:, 0].tolist() == [1.0] * 6
        ((6, 3), True)
        """
        times = np.atleast_1d(np.asarray(times, dtype=float))
        H_ref = self.baseline_cumhazard(times, lp=self._lp_ref)
        lp = self.linear_predictor(df)
        return np.exp(-np.exp(lp - self._lp_ref)[:, None] * H_ref[None, :])


# --------------------------------------------------------------------------- API


def _chi2_test(chi2: float, df: int) -> dict:
    return {"chi2": float(chi2), "df": int(df), "p": float(_sps.chi2.sf(chi2, df)) if df > 0 else float("nan")}


def _information_inverse(info: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of the information matrix, and which columns are singular.

    A regular matrix: its inverse, no column singular. A singular one (an
    aliased covariate, or an information that underflowed along an infinite
    coefficient): R's ``cholesky2``/``chinv2`` rule, columns taken in order and
    one whose pivot (Schur complement given the columns kept before it) is not
    above ``eps^0.75`` times the largest diagonal entry is singular; the kept
    block is inverted and the singular rows and columns are 0.
    """
    try:
        cov = np.linalg.inv(info)
        if np.all(np.isfinite(cov)):
            return cov, np.zeros(info.shape[0], bool)
    except np.linalg.LinAlgError:
        pass
    p = info.shape[0]
    diag = np.diag(info)
    tol = np.finfo(float).eps ** 0.75 * (np.nanmax(np.abs(diag)) if np.isfinite(diag).any() else 0.0)
    keep: list[int] = []
    for j in range(p):
        pivot = info[j, j]
        if keep:
            try:
                pivot = pivot - info[j, keep] @ np.linalg.solve(info[np.ix_(keep, keep)], info[keep, j])
            except np.linalg.LinAlgError:
                pivot = np.nan
        if np.isfinite(pivot) and pivot > tol:
            keep.append(j)
    cov = np.zeros((p, p))
    if keep:
        cov[np.ix_(keep, keep)] = np.linalg.inv(info[np.ix_(keep, keep)])
    singular = np.ones(p, bool)
    singular[keep] = False
    return cov, singular


def fit_cox(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str],
    ties: str = "efron",
    max_iter: int = 50,
) -> CoxResult:
    """Fit a Cox proportional-hazards model by Newton-Raphson, as ``survival::coxph``.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per subject.
    duration_col : str
        Follow-up time (any unit, e.g. months), non-negative.
    event_col : str
        1/True = event, 0/False = censored.
    covariates : sequence of str
        Numeric columns (dummies for factors). An empty list fits the null model.
    ties : {"efron", "breslow"}
        Tied event-time handling (coxph's default is Efron).
    max_iter : int
        Newton-Raphson iteration cap.

    Returns
    -------
    CoxResult
        Coefficients ``beta`` (log hazard ratios, higher = worse), Wald SE from
        the inverse information, ``z = beta/se``, two-sided normal ``p``,
        ``hr = exp(beta)`` with 95 % CI ``exp(beta -/+ 1.96 se)``, log partial
        likelihoods, ``AIC = -2 loglik + 2p``, likelihood-ratio, Wald and score
        tests, and the Breslow/Efron baseline hazard.

    Raises
    ------
    ValueError
        NaN, negative time, no events, unknown/constant covariate, unknown ``ties``.

    Warns
    -----
    CoxConvergenceWarning
        No convergence; a coefficient that may be infinite; or a singular
        information matrix (an aliased covariate, or one whose information
        underflowed along an infinite coefficient): that covariate's standard
        error is NaN (R's ``cholesky2`` rule picks it; R reports its
        coefficient as NA, here it keeps Newton's minimum-norm value).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [5, 8, 8, 12, 15, 20, 22, 30],
    ...                   "e": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                   "x": [2.1, 1.5, 1.9, 0.3, 1.0, 0.2, 0.8, 0.1]})
    >>> r = fit_cox(d, "t", "e", ["x"])
    >>> list(r.summary.columns)
    ['coef', 'se', 'z', 'p', 'hr', 'hr_lower', 'hr_upper']
    >>> bool(r.params["x"] > 0)     # higher x, earlier events: higher risk
    True
    """
    check_ties(ties)
    time, event, X, covariates = check_frame(df, duration_col, event_col, covariates)
    n, p = X.shape
    col_means = X.mean(axis=0) if p else np.zeros(0)
    rs = RiskSets(time, event, X - col_means, efron=(ties == "efron"))
    beta, ll, score, info, ll0, score0, info0, iterations, converged = _newton(rs, p, max_iter=max_iter)
    if not converged:
        warnings.warn(
            f"Cox fit did not converge in {max_iter} iterations (monotone likelihood?)",
            CoxConvergenceWarning, stacklevel=2,
        )
    _, _, _, w1 = _partial_loglik(beta, rs, need_derivs=False)
    names = list(covariates)
    if p:
        cov, singular = _information_inverse(info)
        if singular.any():
            warnings.warn(
                f"Cox information matrix singular for covariates {[c for c, b in zip(covariates, singular) if b]} "
                "(aliased, or an infinite coefficient): their standard errors are undefined (NaN)",
                CoxConvergenceWarning, stacklevel=2,
            )
        with np.errstate(invalid="ignore"):
            se = np.where(singular, np.nan, np.sqrt(np.diag(cov)))
        # R coxph: a remaining Newton step that is large relative to beta flags an infinite coefficient
        remaining = np.abs(cov @ score)
        infinite = (remaining > 1e-9) & (remaining > np.sqrt(1e-9) * np.abs(beta))
        if converged and infinite.any():
            warnings.warn(
                "Cox log-likelihood converged before covariates "
                f"{[c for c, b in zip(covariates, infinite) if b]}; coefficients may be infinite",
                CoxConvergenceWarning, stacklevel=2,
            )
        z = beta / se
        pval = 2.0 * _sps.norm.sf(np.abs(z))
        wald = float(beta @ info @ beta)
        try:
            score_chi2 = float(score0 @ np.linalg.solve(info0, score0))
        except np.linalg.LinAlgError:
            score_chi2 = float("nan")
    else:
        cov = np.zeros((0, 0))
        se = z = pval = np.zeros(0)
        wald = score_chi2 = 0.0
    with np.errstate(over="ignore"):
        summary = pd.DataFrame(
            {
                "coef": beta, "se": se, "z": z, "p": pval, "hr": np.exp(beta),
                "hr_lower": np.exp(beta - _Z975 * se), "hr_upper": np.exp(beta + _Z975 * se),
            },
            index=pd.Index(names, name="covariate"),
        )
    binary = np.all((X == 0) | (X == 1), axis=0) if p else np.zeros(0, bool)
    r_means = np.where(binary, 0.0, col_means)
    n_events = int(event.sum())
    return CoxResult(
        covariates=tuple(names),
        params=pd.Series(beta, index=names, name="coef", dtype=float),
        cov=pd.DataFrame(cov, index=names, columns=names),
        summary=summary,
        loglik=float(ll),
        loglik_null=float(ll0),
        aic=float(-2.0 * ll + 2.0 * p),
        bic=float(-2.0 * ll + np.log(n_events) * p),
        lr_test=_chi2_test(2.0 * (ll - ll0), p),
        wald_test=_chi2_test(wald, p),
        score_test=_chi2_test(score_chi2, p),
        means=pd.Series(r_means, index=names, name="means", dtype=float),
        n=int(n),
        n_events=n_events,
        ties=ties,
        iterations=int(iterations),
        converged=bool(converged),
        duration_col=duration_col,
        event_col=event_col,
        event_times=rs.event_times,
        _cumhaz_ref=np.cumsum(w1),
        _lp_ref=float(col_means @ beta) if p else 0.0,
    )


def univariate_cox(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str],
    ties: str = "efron",
) -> pd.DataFrame:
    """One Cox model per covariate (Table D1 shape).

    Returns
    -------
    pandas.DataFrame
        Indexed by covariate: ``n, n_events, coef, se, hr, hr_lower, hr_upper, p``
        (Wald 95 % CI and p of each single-covariate model; higher = worse).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [5, 8, 9, 12, 15, 20, 22, 30],
    ...                   "e": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                   "a": [2.1, 1.5, 1.9, 0.3, 1.0, 0.2, 0.8, 0.1],
    ...                   "b": [0, 1, 0, 1, 0, 1, 1, 0]})
    >>> univariate_cox(d, "t", "e", ["a", "b"]).index.tolist()
    ['a', 'b']
    """
    if isinstance(covariates, str):
        covariates = [covariates]
    if len(covariates) == 0:
        raise ValueError("covariates is empty")
    rows = []
    for c in covariates:
        r = fit_cox(df, duration_col, event_col, [c], ties=ties)
        s = r.summary.loc[c]
        rows.append({"n": r.n, "n_events": r.n_events, "coef": s["coef"], "se": s["se"],
                     "hr": s["hr"], "hr_lower": s["hr_lower"], "hr_upper": s["hr_upper"], "p": s["p"]})
    return pd.DataFrame(rows, index=pd.Index(list(covariates), name="covariate"))
