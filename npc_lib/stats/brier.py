"""IPCW Brier score, its standard error, IPA and the integrated Brier score, as R's riskRegression.

:func:`brier_score` reproduces ``riskRegression::Score(list(model), Surv(time,
status) ~ 1, times, metrics = "brier", summary = "ipa", null.model = TRUE,
se.fit = TRUE, cens.model = "km")`` (riskRegression 2022.11.28:
``Brier.survival``, ``getInfluenceCurve.Brier`` and the C++ routine
``getInfluenceFunctionBrierKMCensoringTerm``); :func:`integrated_brier_score`
is its ``summary = "ibs"``. Both are checked number for number against R
(``tests/data/*_extra.json``).

Definitions
-----------
With predicted survival ``S_i = S(t | x_i)`` (so predicted risk ``F_i = 1 -
S_i``) and ``G`` the Kaplan-Meier estimate of the censoring distribution
(prodlim's reverse Kaplan-Meier: at a tied time the events leave the risk
set before the censorings), each subject's residual at time ``t`` is

* ``(1 - F_i)^2 / G(T_i-)`` if it had the event at ``T_i <= t``,
* ``0`` if it was censored at ``T_i <= t``,
* ``F_i^2 / G(t)`` if ``T_i > t``,

and ``B(t)`` is their mean. The null model predicts the pooled Kaplan-Meier
``S(t)`` for everyone; ``IPA = 1 - B_model / B_null`` (Kattan & Gerds 2018).
The standard error is ``sd(IF) / sqrt(n)`` of the influence function: the
centred residuals plus the term for the estimated Kaplan-Meier weights
(riskRegression's ``conservative = FALSE``). The integrated Brier score over
increasing times ``t_1 < ... < t_k`` is riskRegression's left step sum
``sum_{i<k} B(t_i) (t_{i+1} - t_i) / t_k`` (``B = 0`` on ``[0, t_1)``).

Everything is ``O(n log n + n m)`` for ``m`` times (one sort, cumulative sums).

scikit-survival's ``brier_score`` / ``integrated_brier_score`` are not used:
they do not reproduce riskRegression (on the lung data at 365 days 0.227600
vs R's 0.227520: the censoring weights at tied times differ; its integral
is a trapezoid over ``[t_1, t_k]``), and they give no standard error, null
model or IPA.

Risk convention: ``surv`` is a predicted *survival probability* (higher =
better); a lower Brier score is better, IPA > 0 beats the null model.

References
----------
Graf E, Schmoor C, Sauerbrei W, Schumacher M. Assessment and comparison of
prognostic classification schemes for survival data. Stat Med
1999;18:2529-2545.
Gerds TA, Schumacher M. Consistent estimation of the expected Brier score in
general survival models with right-censored event times. Biom J
2006;48:1029-1040.
Kattan MW, Gerds TA. The index of prediction accuracy: an intuitive measure
useful for evaluating risk prediction models. Diagn Progn Res 2018;2:7.
Gerds TA, Kattan MW. Medical Risk Prediction Models: With Ties to Machine
Learning. CRC Press 2021 (riskRegression).
"""

from __future__ import annotations

__all__ = ["brier_score", "integrated_brier_score"]

import numpy as np
import pandas as pd

from ._validation import check_survival, check_times
from .kaplan_meier import KaplanMeier


def _check_surv(surv, n: int, m: int) -> np.ndarray:
    try:
        s = np.asarray(surv, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("surv must be numeric") from None
    if s.ndim == 1 and m == 1:
        s = s[:, None]
    if s.shape != (n, m):
        raise ValueError(f"surv must have shape (n, len(times)) = ({n}, {m}), got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("surv contains NaN or infinite values")
    if np.any((s < 0) | (s > 1)):
        raise ValueError("surv must lie in [0, 1] (predicted survival probabilities)")
    return s


def _check_inputs(time, event, surv, times, *, strictly_increasing: bool = False):
    time, event = check_survival(time, event, name_time="time", name_event="event", min_n=2)
    ts = check_times(times, t_max=float(time.max()), name="times", increasing=strictly_increasing)
    if strictly_increasing and np.any(np.diff(ts) <= 0):
        raise ValueError("times must be strictly increasing")
    return time, event, _check_surv(surv, time.size, ts.size), ts


# --------------------------------------------------------------------------- core


class _SortedData:
    """Subjects sorted by time, events first at a tie (riskRegression's order), the
    Kaplan-Meier curves of survival (null model) and censoring (weights), and the
    pieces of the influence function."""

    def __init__(self, time: np.ndarray, event: np.ndarray):
        self.order = np.lexsort((~event, time))
        self.t = time[self.order]
        self.e = event[self.order]
        self.n = self.t.size
        self.km = KaplanMeier.fit(time, event)  # null model
        # prodlim's reverse Kaplan-Meier: deaths leave before censorings at a tie
        self.gkm = KaplanMeier.fit(time, event, reverse=True)
        self.u = self.gkm.time
        self.g = np.searchsorted(self.u, self.t)  # distinct-time group of each subject
        self.G_minus = self.gkm.survival_at(self.t, left=True)  # G(T_i-)
        at_risk = self.gkm.n_risk.astype(float)
        # riskRegression's getInfluenceFunctionKM: cumulative n dN_C / Y^2
        self.mc = np.cumsum(self.gkm.n_event / at_risk * self.n / at_risk)
        self.cens_term = (~self.e) * self.n / at_risk[self.g]

    def g_at(self, t: float) -> float:
        return float(self.gkm.survival_at(t)[0])

    def s_at(self, t: float) -> float:
        return float(self.km.survival_at(t)[0])


def _residuals(sd: _SortedData, risk: np.ndarray, t: float) -> np.ndarray:
    """IPCW residuals (sorted order); ``risk`` = predicted ``P(T <= t)`` in sorted order."""
    g_t = sd.g_at(t)
    case = (sd.t <= t) & sd.e
    late = sd.t > t
    res = np.zeros(sd.n)
    res[case] = (1.0 - risk[case]) ** 2 / sd.G_minus[case]
    if late.any():
        res[late] = risk[late] ** 2 / g_t
    return res


def _censoring_term(sd: _SortedData, res: np.ndarray, t: float) -> np.ndarray:
    """``getInfluenceFunctionBrierKMCensoringTerm(t, time, residuals, status)``, vectorised."""
    n, g, mc = sd.n, sd.g, sd.mc
    first_hit = int(np.searchsorted(sd.t, t, side="right")) - 1
    case = (sd.t <= t) & sd.e
    r_case = np.bincount(g, weights=np.where(case, res, 0.0), minlength=sd.u.size)
    icpart = float(res[sd.t > t].sum()) / n
    # icpart2(g) = cases in later groups; icpart1(g) = -sum_{1 <= h <= g} R_h mc_{h-1}
    later = np.concatenate([np.cumsum(r_case[::-1])[::-1][1:], [0.0]])
    mc_prev = np.concatenate([[0.0], mc[:-1]])
    part1 = -np.cumsum(r_case * mc_prev)
    if first_hit < 0:
        fihat = np.zeros(n)
    else:
        idx = np.arange(n)
        fihat = np.where(idx <= first_hit, sd.cens_term - mc[g], -mc[g[first_hit]])
    return (part1[g] + fihat * later[g]) / n + icpart * fihat


def _brier_with_se(sd: _SortedData, risk_sorted: np.ndarray, t: float):
    res = _residuals(sd, risk_sorted, t)
    brier = float(res.mean())
    infl = (res - brier) + _censoring_term(sd, res, t)
    se = float(np.std(infl, ddof=1) / np.sqrt(sd.n))
    return brier, se


def _brier_only(sd: _SortedData, surv_sorted: np.ndarray, ts: np.ndarray) -> np.ndarray:
    return np.array([_residuals(sd, 1.0 - surv_sorted[:, j], float(t)).mean() for j, t in enumerate(ts)])


# --------------------------------------------------------------------------- API


def brier_score(time, event, surv, times) -> pd.DataFrame:
    """IPCW Brier score of predicted survival at ``times``, with SE, null model and IPA.

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times (any unit), non-negative.
    event : array-like of 0/1 or bool, shape (n,)
        1 = event, 0 = censored.
    surv : array-like, shape (n, m)
        Predicted survival ``S(t_j | x_i)`` of subject ``i`` at ``times[j]``
        (a probability; predicted risk is ``1 - surv``). A 1-d array is
        accepted when ``m = 1``.
    times : float or array-like, shape (m,)
        Evaluation times, same unit as ``time``, not beyond the last follow-up.

    Returns
    -------
    pandas.DataFrame
        One row per time: ``time``; ``brier`` (lower = better) and its ``se``
        (influence function, Kaplan-Meier weights treated as estimated);
        ``brier_null`` of the Kaplan-Meier null model; ``ipa = 1 - brier /
        brier_null`` (higher = better, 0 = no better than the null model);
        ``se_null`` of ``brier_null``. These are riskRegression's ``Brier``,
        ``se``, the ``Null model`` rows and ``IPA``.

    Raises
    ------
    ValueError
        NaN, negative time, lengths differ, no events, ``surv`` of the wrong
        shape or outside [0, 1], ``times`` negative or beyond the data.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=300)
    >>> t_ev, t_c = rng.exponential(np.exp(-x)), rng.exponential(2.0, 300)
    >>> time, event = np.minimum(t_ev, t_c), t_ev <= t_c
    >>> surv = np.exp(-np.outer(np.exp(x), [0.5, 1.0]))     # the true S(t | x)
    >>> b = brier_score(time, event, surv, [0.5, 1.0])
    >>> list(b.columns)
    ['time', 'brier', 'se', 'brier_null', 'ipa', 'se_null']
    >>> bool((b.brier < b.brier_null).all() and (b.ipa > 0).all())
    True
    """
    time, event, surv, ts = _check_inputs(time, event, surv, times)
    sd = _SortedData(time, event)
    surv_sorted = surv[sd.order]
    rows = []
    for j, t in enumerate(ts):
        t = float(t)
        brier, se = _brier_with_se(sd, 1.0 - surv_sorted[:, j], t)
        null_risk = np.full(sd.n, 1.0 - sd.s_at(t))
        brier0, se0 = _brier_with_se(sd, null_risk, t)
        ipa = 1.0 - brier / brier0 if brier0 > 0 else float("nan")
        rows.append(dict(time=t, brier=brier, se=se, brier_null=brier0, ipa=ipa, se_null=se0))
    return pd.DataFrame(rows, columns=["time", "brier", "se", "brier_null", "ipa", "se_null"])


def integrated_brier_score(time, event, surv, times) -> float:
    """Integrated Brier score up to the last of ``times`` (riskRegression's ``ibs``).

    ``IBS = sum_{i<k} B(t_i) (t_{i+1} - t_i) / t_k``: the IPCW Brier score of
    :func:`brier_score` as a left-continuous step function over the grid,
    integrated from 0 (where it counts as 0 up to ``t_1``) to ``t_k`` and
    divided by ``t_k``. Use a fine grid (e.g. 50 equally spaced times) for a
    good approximation of the integral; lower = better.

    Parameters
    ----------
    time, event : array-like, shape (n,)
    surv : array-like, shape (n, k)
        Predicted survival at each of ``times``.
    times : array-like, shape (k,)
        Strictly increasing, positive, not beyond the last follow-up.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=300)
    >>> t_ev, t_c = rng.exponential(np.exp(-x)), rng.exponential(2.0, 300)
    >>> time, event = np.minimum(t_ev, t_c), t_ev <= t_c
    >>> grid = np.linspace(0.05, 1.0, 20)
    >>> ibs = integrated_brier_score(time, event, np.exp(-np.outer(np.exp(x), grid)), grid)
    >>> bool(0 < ibs < 0.25)
    True
    """
    time, event, surv, ts = _check_inputs(time, event, surv, times, strictly_increasing=True)
    if ts[-1] <= 0:
        raise ValueError("times must end at a positive time")
    sd = _SortedData(time, event)
    b = _brier_only(sd, surv[sd.order], ts)
    return float(np.sum(b[:-1] * np.diff(ts)) / ts[-1])
