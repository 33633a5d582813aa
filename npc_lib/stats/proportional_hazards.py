"""Proportional-hazards test and scaled Schoenfeld residuals of a Cox model, as R's ``cox.zph``.

:func:`proportional_hazards_test` reproduces ``survival::cox.zph(coxph(...),
transform, terms = TRUE)$table`` and :func:`scaled_schoenfeld_residuals` its
``$x``, ``$time`` and ``$y`` (survival 3.5-3: ``cox.zph`` and the C routine
``zph1``), checked number for number against R (``tests/data/*_extra.json``).

The test (survival 3.x, Grambsch & Therneau 1994 as a score test)
-----------------------------------------------------------------
The Cox model is fitted (:func:`npc_lib.stats.cox.fit_cox`, Efron or Breslow
ties) and then, at the fitted ``beta``, one score step is taken for the
extended model with the time-varying terms ``x_j g(t)``, where ``g`` is the
transformed time centred at its mean over the events: ``g(t) = f(t) -
mean_{events} f(T_i)`` with ``f(t) = 1 - S_KM(t-)`` for ``transform="km"``
(R's default, the left-continuous Kaplan-Meier of the pooled data),
``f(t) = t`` for ``"identity"``, ``log t`` for ``"log"`` and the average
rank for ``"rank"``. With the score ``U = (0, U_g)`` (the first ``p``
components vanish at ``beta``) and the ``2p x 2p`` information ``I`` of
``(x, x g(t))``,

* per covariate ``j``: ``chisq_j = U_j' I_jj^{-1} U_j`` on the sub-block of
  the ``p`` original columns plus column ``p + j`` (1 df);
* ``GLOBAL``: ``U' I^{-1} U`` on ``p`` df.

Efron ties enter the risk-set means and the information exactly as in
``coxph``; times closer than ``sqrt(machine eps)`` count as tied (``coxph``'s
``timefix``). A small p-value means the effect of the covariate changes over
time (its hazard ratio is not constant: non-proportional hazards).

Scaled Schoenfeld residuals: for the death at ``T_i`` (one row per event, in
time order), ``r_i = x_i - xbar(T_i)`` (Efron: the mean of the tie's ``d``
partial means), scaled ``r_i V^{-1} + beta`` with ``V = I_11 / n_events``
(the average information). Plotted against ``x`` (the transformed times),
a flat smooth at ``beta_j`` supports proportional hazards; its slope is what
the test measures.

Complexity: one sort and cumulative sums, ``O(n log n + n p^2)``.

Agreement with R: to about ``1e-8`` relative (``1e-14`` on lung, ``5e-9`` on
veteran), because the test is evaluated at the fitted ``beta`` and
:func:`~npc_lib.stats.cox.fit_cox` iterates further than ``coxph`` (whose
``eps = 1e-9`` stops earlier). lifelines' ``proportional_hazard_test`` is not
used: it computes the older residual-correlation form of the test (survival
2.x), not survival 3.x's score test.

Risk convention: ``beta`` are log hazard ratios (higher = worse), as in
:mod:`npc_lib.stats.cox`.

References
----------
Grambsch PM, Therneau TM. Proportional hazards tests and diagnostics based
on weighted residuals. Biometrika 1994;81:515-526.
Therneau TM, Grambsch PM. Modeling Survival Data. Springer 2000 (ch. 6).
Schoenfeld D. Partial residuals for the proportional hazards regression
model. Biometrika 1982;69:239-241.
"""

from __future__ import annotations

__all__ = ["TRANSFORMS", "ScaledSchoenfeld", "proportional_hazards_test", "scaled_schoenfeld_residuals"]

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _sps

from .cox import RiskSets, check_frame, check_ties, fit_cox, reverse_cumsum
from .kaplan_meier import KaplanMeier
from .weighted_concordance import aeq_times

TRANSFORMS = ("km", "identity", "log", "rank")


def _check_transform(transform: str) -> str:
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
    return transform


def _transformed_time(time: np.ndarray, event: np.ndarray, transform: str) -> np.ndarray:
    if transform == "km":
        return 1.0 - KaplanMeier.fit(time, event).survival_at(time, left=True)
    if transform == "identity":
        return time.copy()
    if transform == "log":
        if np.any(time <= 0):
            raise ValueError("transform='log' needs positive times in duration_col")
        return np.log(time)
    return _sps.rankdata(time)  # R rank(): average ranks


# --------------------------------------------------------------------------- core


@dataclass(frozen=True)
class _Zph:
    table: pd.DataFrame
    x: np.ndarray
    time: np.ndarray
    y: pd.DataFrame
    var: pd.DataFrame
    beta: pd.Series


def _zph(df, duration_col, event_col, covariates, transform, ties) -> _Zph:
    check_ties(ties)
    _check_transform(transform)
    time, event, X, names = check_frame(df, duration_col, event_col, covariates)
    if not names:
        raise ValueError("covariates is empty: the test needs at least one covariate")
    fixed = aeq_times(time)  # coxph's timefix: near-equal times are ties
    if not np.array_equal(fixed, time):
        df = df.assign(**{duration_col: fixed})
        time = fixed
    fit = fit_cox(df, duration_col, event_col, names, ties=ties)
    beta = fit.params.to_numpy()
    p = beta.size
    tt = _transformed_time(time, event, transform)
    gtime = tt - tt[event].mean()

    rs = RiskSets(time, event, X - X.mean(axis=0), efron=(ties == "efron"))
    Xs = rs.X
    eta = Xs @ beta
    w = np.exp(eta - eta.max())
    ev, kk, frac, K = rs.ev, rs.kk, rs.frac, rs.d.size
    Xe, we = Xs[ev], w[ev]
    g_row = gtime[rs.order][ev]  # g(t) of each event row (depends on t only)
    S0 = reverse_cumsum(w)[rs.first]
    S1 = reverse_cumsum(w[:, None] * Xs)[rs.first]
    D0 = np.add.reduceat(we, rs.starts)
    D1 = np.add.reduceat(we[:, None] * Xe, rs.starts, axis=0)
    den = S0[kk] - frac * D0[kk]
    inv = 1.0 / den
    mean = (S1[kk] - frac[:, None] * D1[kk]) * inv[:, None]  # (m, p) partial means
    resid = Xe - mean
    u_g = (g_row[:, None] * resid).sum(axis=0)

    def weighted_info(c: np.ndarray) -> np.ndarray:
        """``sum_r c_r V_r`` with ``V_r = S2_r / den_r - mean_r mean_r'`` (Efron-adjusted S2)."""
        a = np.bincount(kk, weights=c * inv, minlength=K)
        b = np.bincount(kk, weights=c * frac * inv, minlength=K)
        cum_a = np.concatenate([[0.0], np.cumsum(a)])[rs.last_k + 1]
        info = (Xs * (w * cum_a)[:, None]).T @ Xs
        info -= (Xe * (we * b[kk])[:, None]).T @ Xe
        info -= (mean * c[:, None]).T @ mean
        return info

    ones = np.ones(ev.size)
    i11, i12, i22 = weighted_info(ones), weighted_info(g_row), weighted_info(g_row**2)
    imat = np.block([[i11, i12], [i12.T, i22]])
    u = np.concatenate([np.zeros(p), u_g])
    chisq = np.empty(p + 1)
    for j in range(p):
        sub = np.concatenate([np.arange(p), [p + j]])
        uj = u[sub]
        chisq[j] = float(uj @ np.linalg.solve(imat[np.ix_(sub, sub)], uj))
    chisq[p] = float(u @ np.linalg.solve(imat, u))
    dfs = np.concatenate([np.ones(p, dtype=int), [p]])
    table = pd.DataFrame({"chisq": chisq, "df": dfs, "p": _sps.chi2.sf(chisq, dfs)},
                         index=pd.Index(list(names) + ["GLOBAL"], name="covariate"))

    # Schoenfeld residuals: Efron uses the mean of the tie's partial means
    counts = np.bincount(kk, minlength=K).astype(float)
    tie_mean = np.stack([np.bincount(kk, weights=mean[:, j], minlength=K) for j in range(p)], axis=1)
    schoen = Xe - (tie_mean / counts[:, None])[kk]
    vmean = i11 / ev.size
    scaled = np.linalg.solve(vmean, schoen.T).T + beta
    event_idx = rs.order[ev]
    return _Zph(
        table=table, x=tt[event_idx], time=time[event_idx],
        y=pd.DataFrame(scaled, columns=list(names)),
        var=pd.DataFrame(np.linalg.inv(vmean), index=list(names), columns=list(names)),
        beta=fit.params,
    )


# --------------------------------------------------------------------------- API


@dataclass(frozen=True)
class ScaledSchoenfeld:
    """Scaled Schoenfeld residuals (``cox.zph``'s ``x``, ``time``, ``y``, ``var``).

    Attributes
    ----------
    x : numpy.ndarray, shape (m,)
        Transformed event times (one per event, in time order; ``transform="km"``:
        ``1 - S_KM(t-)``, between 0 and 1).
    time : numpy.ndarray, shape (m,)
        The event times themselves (unit of ``duration_col``).
    y : pandas.DataFrame, shape (m, p)
        One column per covariate: the scaled residual plus ``beta_j``, an
        estimate of the time-varying coefficient ``beta_j(t)`` (log hazard ratio).
    var : pandas.DataFrame, shape (p, p)
        ``V^{-1}``, with ``V`` the average information (R ``$var``, used for
        confidence bands of a smooth of ``y``).
    beta : pandas.Series
        The fitted log hazard ratios (the horizontal line of a zph plot).
    transform : str
    """

    x: np.ndarray
    time: np.ndarray
    y: pd.DataFrame
    var: pd.DataFrame
    beta: pd.Series
    transform: str


def proportional_hazards_test(df: pd.DataFrame, duration_col: str, event_col: str,
                              covariates: Sequence[str], transform: str = "km",
                              ties: str = "efron") -> pd.DataFrame:
    """Score test of proportional hazards per covariate and globally (``survival::cox.zph``).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per subject.
    duration_col, event_col : str
        Follow-up time (any unit, non-negative) and event indicator (1 = event).
    covariates : sequence of str
        Numeric model columns (dummies for factors); each is one term.
    transform : {"km", "identity", "log", "rank"}
        Time scale ``f(t)`` of the time-varying coefficient (module docstring).
    ties : {"efron", "breslow"}
        Ties of the Cox fit (as ``coxph``).

    Returns
    -------
    pandas.DataFrame
        Indexed by covariate and ``"GLOBAL"``: ``chisq``, ``df``, ``p``
        (chi-square upper tail). Small ``p``: evidence of non-proportional hazards.

    Raises
    ------
    ValueError
        Bad frame (unknown/constant covariate, NaN, negative time, no events),
        unknown ``transform`` or ``ties``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"x": rng.normal(size=200), "z": rng.integers(0, 2, 200)})
    >>> d["t"] = rng.exponential(np.exp(-0.7 * d.x - 0.5 * d.z))
    >>> d["e"] = (rng.uniform(size=200) < 0.8).astype(int)
    >>> z = proportional_hazards_test(d, "t", "e", ["x", "z"])
    >>> z.index.tolist(), list(z.columns), int(z.loc["GLOBAL", "df"])
    (['x', 'z', 'GLOBAL'], ['chisq', 'df', 'p'], 2)
    """
    return _zph(df, duration_col, event_col, covariates, transform, ties).table


def scaled_schoenfeld_residuals(df: pd.DataFrame, duration_col: str, event_col: str,
                                covariates: Sequence[str], transform: str = "km",
                                ties: str = "efron") -> ScaledSchoenfeld:
    """Scaled Schoenfeld residuals behind :func:`proportional_hazards_test`, for plots.

    Same arguments as :func:`proportional_hazards_test`. Plot ``y[cov]``
    against ``x`` with a smooth: a flat smooth at ``beta[cov]`` is what
    proportional hazards predict.

    Returns
    -------
    ScaledSchoenfeld
        ``x`` (transformed event times), ``time``, ``y`` (one column per
        covariate), ``var``, ``beta``, ``transform``: R's ``cox.zph(...)$x``,
        ``$time``, ``$y``, ``$var``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"x": rng.normal(size=200)})
    >>> d["t"], d["e"] = rng.exponential(np.exp(-0.7 * d.x)), 1
    >>> r = scaled_schoenfeld_residuals(d, "t", "e", ["x"])
    >>> r.y.shape, bool(abs(r.y["x"].mean() - r.beta["x"]) < 0.3)
    ((200, 1), True)
    """
    z = _zph(df, duration_col, event_col, covariates, transform, ties)
    return ScaledSchoenfeld(x=z.x, time=z.time, y=z.y, var=z.var, beta=z.beta, transform=transform)
