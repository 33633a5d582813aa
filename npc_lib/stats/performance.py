"""Per-model performance tables that never crash on a tiny cohort.

The book's model chapters (A9-A15, A18) run on cohorts of any size, down to
the 60-patient smoke twin with a handful of events. The functions here wrap
the validated statistics of :mod:`npc_lib.stats` so that an undefined value
becomes ``NaN`` with a ``note`` saying why (through
:func:`npc_lib.stats.capture.attempt`): one row or one result per model.

* discrimination: :func:`concordance_table`, :func:`compare_models`,
  :func:`time_dependent_roc_table`;
* calibration and net benefit: :func:`calibration_at`, :func:`decision_curve_table`.

Model selection lives in :mod:`npc_lib.stats.model_selection`, warning
capture in :mod:`npc_lib.stats.capture`, number formatting in
:mod:`npc_lib.report`.

Risk convention: every score is higher = worse; predicted probabilities are
survival (calibration) or event risk by ``t`` (decision curves), as the
wrapped functions say.
"""

from __future__ import annotations

__all__ = [
    "concordance_table",
    "compare_models",
    "time_dependent_roc_table",
    "calibration_at",
    "decision_curve_table",
]

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ._validation import check_survival
from .calibration import CalibrationResult, calibration_curve
from .capture import attempt, join_notes
from .concordance import compare_concordance, concordance_index
from .decision_curve import decision_curve
from .tdroc import TimeROC, time_dependent_roc

# --------------------------------------------------------------------------- validators


def _check_scores(scores, n: int) -> dict[str, np.ndarray]:
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("scores must be a non-empty mapping name -> array")
    out = {}
    for name, s in scores.items():
        a = np.asarray(s, dtype=float).ravel()
        if a.size != n:
            raise ValueError(f"scores[{name!r}]: length {a.size} differs from time length {n}")
        out[str(name)] = a
    return out


# --------------------------------------------------------------------------- discrimination


def concordance_table(time, event, scores: Mapping[str, Any], alpha: float = 0.05) -> pd.DataFrame:
    """Harrell's C (survcomp/Noether) of each score, undefined ones as NaN with a note.

    Parameters
    ----------
    time, event : array-like, shape (n,)
    scores : mapping name -> array-like (n,)
        Risk scores, higher = worse.
    alpha : float
        Two-sided level of the interval.

    Returns
    -------
    pandas.DataFrame
        One row per score: ``model, n, events, c_index, se, lower, upper,
        p_value, note``.

    Examples
    --------
    >>> tab = concordance_table([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 0, 1, 0, 1, 0, 1],
    ...                         {"score": [8, 6, 7, 1, 2, 3, 4, 5], "flat": [1] * 8})
    >>> tab.c_index.round(3).tolist(), tab.note.tolist()
    ([0.632, nan], ['', 'risk is constant'])
    """
    t, e = check_survival(time, event, min_events=0)
    sc = _check_scores(scores, t.size)
    rows = []
    for name, s in sc.items():
        r, notes = attempt(concordance_index, t, e, s, alpha=alpha)
        row = dict(model=name, n=int(t.size), events=int(e.sum()), c_index=np.nan, se=np.nan,
                   lower=np.nan, upper=np.nan, p_value=np.nan)
        if r is not None:
            row.update(c_index=r.c_index, se=r.se, lower=r.lower, upper=r.upper, p_value=r.p_value)
            if not np.isfinite(r.se):
                notes.append("Noether variance not positive: no CI")
        rows.append({**row, "note": join_notes(notes)})
    return pd.DataFrame(rows, columns=["model", "n", "events", "c_index", "se", "lower", "upper",
                                       "p_value", "note"])


def compare_models(time, event, risk_new, risk_ref) -> dict:
    """survcomp ``cindex.comp`` of ``risk_new`` vs ``risk_ref`` (H1: C_new > C_ref), guarded.

    Returns
    -------
    dict
        ``c_new, c_ref, r, statistic, df, p_value`` (one-sided, as survcomp),
        ``p_two_sided`` and ``note``; NaN where undefined.

    >>> d = compare_models([1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 0, 1], [6, 5, 4, 3, 2, 1], [1] * 6)
    >>> bool(np.isnan(d["p_value"])), d["note"]
    (True, 'risk2 is constant')
    """
    t, e = check_survival(time, event, min_events=0)
    r, notes = attempt(compare_concordance, t, e, np.asarray(risk_new, float), np.asarray(risk_ref, float))
    out = dict(c_new=np.nan, c_ref=np.nan, r=np.nan, statistic=np.nan, df=int(t.size - 1),
               p_value=np.nan, p_two_sided=np.nan)
    if r is not None:
        out.update(c_new=r.c1, c_ref=r.c2, r=r.r, statistic=r.statistic, df=r.df, p_value=r.p_value,
                   p_two_sided=2.0 * min(r.p_value, 1.0 - r.p_value))
    return {**{k: (float(v) if k != "df" else v) for k, v in out.items()}, "note": join_notes(notes)}


def time_dependent_roc_table(time, event, scores: Mapping[str, Any], times: Sequence[float],
                             method: str = "nne", span: float | None = None
                             ) -> tuple[pd.DataFrame, dict[float, dict[str, TimeROC]]]:
    """Time-dependent ROC (survivalROC NNE by default) of each score at each time.

    Returns
    -------
    table : pandas.DataFrame
        One row per (score, time): ``model, time, auc, cases, controls, note``
        (``cases`` = events with ``T < t``, ``controls`` = ``T > t``).
    curves : dict
        ``curves[t][model]`` = :class:`TimeROC`, only where estimable.

    >>> tab, curves = time_dependent_roc_table([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 0, 1, 0, 1, 0, 0],
    ...                                        {"m": [8, 7, 1, 6, 2, 5, 3, 4]}, [4.5, 9], method="km")
    >>> tab.auc.round(4).tolist(), list(curves[4.5])
    ([0.9427, nan], ['m'])
    """
    t, e = check_survival(time, event, min_events=0)
    sc = _check_scores(scores, t.size)
    rows, curves = [], {}
    for u in (float(x) for x in times):
        curves[u] = {}
        for name, s in sc.items():
            roc, notes = attempt(time_dependent_roc, t, e, s, u, method=method, span=span)
            if roc is not None:
                curves[u][name] = roc
            rows.append(dict(model=name, time=u, auc=roc.auc if roc is not None else np.nan,
                             cases=int(np.sum((t < u) & e)), controls=int(np.sum(t > u)), note=join_notes(notes)))
    return pd.DataFrame(rows, columns=["model", "time", "auc", "cases", "controls", "note"]), curves


# --------------------------------------------------------------------------- calibration, net benefit


def calibration_at(time, event, predicted_survival, t: float, groups: int = 4,
                   test: str = "gnd") -> tuple[CalibrationResult | None, str]:
    """rms-style calibration at ``t`` with about ``groups`` groups (``m = n // groups``).

    Tries ``groups``, then fewer, until the quantile grouping works (tied
    predictions can merge cut points); returns ``(None, reason)`` when no
    grouping works or ``t`` is past the end of follow-up.

    >>> rng = np.random.default_rng(0)
    >>> lp = rng.normal(size=90)
    >>> te = rng.exponential(np.exp(-lp))
    >>> cal, note = calibration_at(np.minimum(te, 2), te < 2, np.exp(-np.exp(lp)), 1.0, groups=3)
    >>> len(cal.table), note
    (3, '')
    """
    tt, e = check_survival(time, event, min_events=0)
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups}")
    notes: list[str] = []
    for g in range(min(groups, tt.size), 0, -1):
        cal, more = attempt(calibration_curve, tt, e, predicted_survival, t, m=max(1, tt.size // g), test=test)
        if cal is not None:
            if g < groups:
                notes.append(f"{g} groups instead of {groups}")
            return cal, join_notes(notes)
        notes = more
        if "beyond" in join_notes(more) or "no events" in join_notes(more):
            break
    return None, join_notes(notes)


def decision_curve_table(time, event, risks: Mapping[str, Any], t: float,
                         thresholds: Sequence[float]) -> tuple[pd.DataFrame, str]:
    """Net benefit of each model's predicted risk by ``t`` plus "Treat all" and "Treat none".

    Returns
    -------
    table : pandas.DataFrame
        Long form ``model, threshold, net_benefit, n_treated`` (``n_treated``
        NaN for the reference strategies); empty when undefined.
    note : str

    >>> tab, note = decision_curve_table([1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 0, 0],
    ...                                  {"m": [.9, .8, .7, .6, .2, .1]}, 4.5, [0.1, 0.5])
    >>> sorted(tab.model.unique()), note
    (['Treat all', 'Treat none', 'm'], '')
    """
    tt, e = check_survival(time, event, min_events=0)
    rk = _check_scores(risks, tt.size)
    parts, notes = [], []
    ref = None
    for name, r in rk.items():
        dc, more = attempt(decision_curve, tt, e, r, t, thresholds)
        notes += more
        if dc is None:
            continue
        ref = dc
        parts.append(pd.DataFrame({"model": name, "threshold": dc.threshold, "net_benefit": dc.net_benefit,
                                   "n_treated": dc.n_treated.astype(float)}))
    if ref is not None:
        for name, col in (("Treat all", "treat_all"), ("Treat none", "treat_none")):
            parts.append(pd.DataFrame({"model": name, "threshold": ref.threshold, "net_benefit": ref[col],
                                       "n_treated": np.nan}))
    cols = ["model", "threshold", "net_benefit", "n_treated"]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    return table[cols], join_notes(notes)
