"""Decision curve analysis for a survival endpoint at a fixed time (Vickers et al.).

At threshold probability ``p_t``, the patients with predicted risk
``>= p_t`` are "treated" (dcurves' ``risk >= threshold``). With ``n``
patients, ``n_+`` of them treated and ``R_+ = 1 - KM_+(t)`` the Kaplan-Meier
risk of an event by ``t`` among the treated::

    tp_rate = R_+ * n_+ / n             (true positives per patient)
    fp_rate = (1 - R_+) * n_+ / n       (false positives per patient)
    net_benefit = tp_rate - fp_rate * p_t / (1 - p_t)

"Treat all" uses the whole cohort (``n_+ = n``) and "treat none" is 0. Without
censoring before ``t`` the Kaplan-Meier risk is the observed proportion, so
the net benefit equals the binary formula ``TP/n - FP/n * p_t / (1 - p_t)``
with events by ``t`` as positives. This is the survival version of dcurves
``dca(Surv(time, event) ~ risk, time = t)`` and Vickers' ``stdca``. A treated
group whose follow-up ends before ``t`` has no Kaplan-Meier estimate at ``t``
(NaN, as dcurves' NA); an empty treated group contributes 0.

Risk convention: ``predicted_risk_at_t`` is the predicted probability of the
event by ``t`` (``1 - S(t)``), **higher = worse**.

References
----------
Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating
prediction models. Med Decis Making 2006;26:565-574.
Vickers AJ, Cronin AM, Elkin EB, Gonen M. Extensions to decision curve
analysis, a novel method for evaluating diagnostic tests, prediction models
and molecular markers. BMC Med Inform Decis Mak 2008;8:53 (survival outcomes).
Sjoberg DD. dcurves: Decision Curve Analysis for Model Evaluation (R package).
"""

from __future__ import annotations

__all__ = ["decision_curve"]

import numpy as np
import pandas as pd

from ._validation import check_probability, check_survival, check_time_point
from .kaplan_meier import KaplanMeier


def _check_thresholds(thresholds) -> np.ndarray:
    try:
        th = np.atleast_1d(np.asarray(thresholds, dtype=float))
    except (TypeError, ValueError):
        raise ValueError("thresholds must be numeric") from None
    if th.ndim != 1 or th.size == 0:
        raise ValueError("thresholds must be a number or a 1-d sequence of numbers")
    if not np.all(np.isfinite(th)) or np.any((th < 0) | (th >= 1)):
        raise ValueError("thresholds must lie in [0, 1)")
    return th


def _suffix_survival(time: np.ndarray, event: np.ndarray, t: float, lo: np.ndarray) -> np.ndarray:
    """Kaplan-Meier ``S(t)`` of each subset ``time[lo_k:]`` (1 for an empty subset)."""
    out = np.ones(lo.size)
    for start in np.unique(lo):
        if start < time.size:
            out[lo == start] = KaplanMeier.fit(time[start:], event[start:]).survival_at(t)[0]
    return out


def decision_curve(time, event, predicted_risk_at_t, t, thresholds) -> pd.DataFrame:
    """Net benefit of treating by predicted risk at ``t``, with treat-all and treat-none.

    Parameters
    ----------
    time : array-like, shape (n,)
        Follow-up times (any unit), non-negative.
    event : array-like of 0/1 or bool, shape (n,)
    predicted_risk_at_t : array-like, shape (n,)
        Predicted probability of the event by ``t`` (higher = worse), in [0, 1].
    t : float
        Time horizon, ``0 < t <= max(time)``.
    thresholds : float or array-like, shape (k,)
        Threshold probabilities in [0, 1).

    Returns
    -------
    pandas.DataFrame
        One row per threshold: ``threshold, n_treated, test_pos_rate,
        risk_treated, tp_rate, fp_rate, net_benefit, treat_all, treat_none``.
        ``risk_treated`` is the Kaplan-Meier risk by ``t`` among the treated.

    Examples
    --------
    >>> time = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    >>> event = [1, 1, 0, 1, 0, 1, 0, 0, 0, 0]
    >>> risk = [.9, .8, .7, .6, .5, .4, .3, .2, .1, .05]
    >>> dc = decision_curve(time, event, risk, t=6.5, thresholds=[0.1, 0.3])
    >>> dc.n_treated.tolist(), dc.risk_treated.round(4).tolist()
    ([9, 7], [0.5139, 0.7321])
    >>> dc.net_benefit.round(4).tolist()   # 0.9 * 0.5139 - 0.9 * 0.4861 * 0.1 / 0.9, ...
    [0.4139, 0.4321]
    >>> dc.treat_all.round(4).tolist(), dc.treat_none.tolist()
    ([0.3905, 0.2163], [0.0, 0.0])
    """
    time, event = check_survival(time, event, min_n=2)
    risk = check_probability(predicted_risk_at_t, time.size, "predicted_risk_at_t")
    t = check_time_point(t, time)
    th = _check_thresholds(thresholds)
    n = time.size
    order = np.argsort(risk, kind="stable")
    ts, es, rs = time[order], event[order], risk[order]
    lo = np.searchsorted(rs, th, side="left")  # treated: positions lo..n-1 (risk >= p_t)
    n_treated = n - lo
    surv = _suffix_survival(ts, es, t, lo)
    last_time = np.concatenate([np.maximum.accumulate(ts[::-1])[::-1], [-np.inf]])[lo]
    risk_treated = np.where(n_treated == 0, 0.0, 1.0 - surv)
    risk_treated = np.where((n_treated > 0) & (last_time < t), np.nan, risk_treated)
    pos_rate = n_treated / n
    tp = risk_treated * pos_rate
    fp = (1.0 - risk_treated) * pos_rate
    odds = th / (1.0 - th)
    risk_all = 1.0 - float(KaplanMeier.fit(time, event).survival_at(t)[0])
    return pd.DataFrame({
        "threshold": th,
        "n_treated": n_treated.astype(int),
        "test_pos_rate": pos_rate,
        "risk_treated": risk_treated,
        "tp_rate": tp,
        "fp_rate": fp,
        "net_benefit": tp - fp * odds,
        "treat_all": risk_all - (1.0 - risk_all) * odds,
        "treat_none": np.zeros(th.size),
    })
