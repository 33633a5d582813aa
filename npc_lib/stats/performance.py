"""Model selection and performance tables that never crash on a tiny cohort.

The book's model chapters (A9-A15, A18) run on cohorts of any size, down to
the 60-patient smoke twin with a handful of events. On such data a
statistic can be undefined (a constant risk score, no event before 3 years,
no follow-up beyond 5 years, a risk group without events) and a Cox fit can
be at the edge of existence (monotone likelihood). The functions here wrap
the validated statistics of :mod:`npc_lib.stats` so that an undefined value
becomes ``NaN`` with a ``note`` saying why, and numerical warnings become
notes instead of noise in the book:

* :func:`quietly` / :func:`attempt`: run a statistic, keep warnings (and, for
  ``attempt``, a ``ValueError``) as notes;
* :func:`select_model`: backward stepwise AIC with an optional fallback
  covariate set when nothing is kept (so a nomogram can still be drawn);
* :func:`concordance_table`, :func:`compare_models`,
  :func:`time_dependent_roc_table`, :func:`risk_group_summary`,
  :func:`calibration_at`, :func:`decision_curve_table`: one row or one
  result per model, undefined ones as ``NaN`` + note.

Risk convention: every score is higher = worse; predicted probabilities are
survival (calibration) or event risk by ``t`` (decision curves), as the
wrapped functions say.
"""

from __future__ import annotations

__all__ = [
    "quietly",
    "attempt",
    "usable_covariates",
    "infinite_coefficients",
    "ModelSelection",
    "select_model",
    "concordance_table",
    "compare_models",
    "time_dependent_roc_table",
    "risk_group_summary",
    "calibration_at",
    "decision_curve_table",
    "format_ci",
    "format_p",
]

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .calibration import CalibrationResult, calibration_curve
from .concordance import compare_concordance, concordance_index
from .cox import CoxResult, fit_cox
from .decision_curve import decision_curve
from .kaplan_meier import hazard_ratio, kaplan_meier, logrank_test
from .stepwise import StepwiseResult, stepwise_cox
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


def _check_survival(time, event) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float).ravel()
    e = np.asarray(event).astype(float).ravel()
    if t.shape != e.shape:
        raise ValueError(f"time and event lengths differ: {t.size} vs {e.size}")
    if t.size == 0:
        raise ValueError("time is empty")
    return t, e == 1


# --------------------------------------------------------------------------- warnings as notes


def quietly(fn: Callable, *args, **kwargs) -> tuple[Any, list[str]]:
    """Call ``fn(*args, **kwargs)``; return ``(result, notes)`` with its runtime warnings as notes.

    Runtime warnings (Cox non-convergence, numpy overflow in a near-monotone
    likelihood) are recorded, de-duplicated in order, instead of printed.
    Exceptions propagate.

    >>> import warnings
    >>> quietly(lambda: warnings.warn("x", RuntimeWarning) or 3)
    (3, ['x'])
    """
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always", RuntimeWarning)
        result = fn(*args, **kwargs)
    notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)))
    return result, notes


def attempt(fn: Callable, *args, **kwargs) -> tuple[Any, list[str]]:
    """As :func:`quietly`, but a ``ValueError`` or ``LinAlgError`` gives ``(None, [message])``.

    >>> attempt(float, "not a number")
    (None, ["could not convert string to float: 'not a number'"])
    """
    try:
        return quietly(fn, *args, **kwargs)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return None, [str(exc)]


def _join(notes: Sequence[str]) -> str:
    return "; ".join(dict.fromkeys(n for n in notes if n))


# --------------------------------------------------------------------------- model selection


def usable_covariates(df: pd.DataFrame, covariates: Sequence[str]) -> tuple[list, list]:
    """Split ``covariates`` into those that vary in ``df`` and those that are constant.

    A covariate constant in the training cohort (e.g. no WHO type I-II patient
    among a few dozen) cannot enter a Cox model; it is left out, and said so.

    >>> usable_covariates(pd.DataFrame({"a": [1, 2], "b": [0, 0]}), ["a", "b"])
    (['a'], ['b'])
    """
    missing = [c for c in covariates if c not in df.columns]
    if missing:
        raise ValueError(f"covariates not in df: {missing}")
    constant = [c for c in covariates if df[c].nunique(dropna=False) < 2]
    return [c for c in covariates if c not in constant], constant


@dataclass(frozen=True)
class ModelSelection:
    """Outcome of :func:`select_model`.

    ``selected``: covariates kept by stepwise AIC; ``used``: covariates of
    ``fit`` (``selected``, or ``fallback`` when nothing was kept);
    ``fallback_used``; ``stepwise``: the :class:`StepwiseResult` of the last
    search; ``fit``: the Cox model of ``used`` (the null model if empty);
    ``notes``; ``excluded``: covariates left out for an infinite coefficient.
    """

    name: str
    selected: list
    used: list
    fallback_used: bool
    stepwise: StepwiseResult
    fit: CoxResult
    notes: list = field(default_factory=list)
    excluded: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready summary: covariates, coefficients (log HR), SE, HR with CI, AIC path."""
        s = self.fit.summary
        return {
            "name": self.name, "selected": list(self.selected), "covariates": list(self.used),
            "fallback_used": bool(self.fallback_used), "dropped": list(self.stepwise.dropped),
            "excluded_infinite": list(self.excluded),
            "aic_path": [float(a) for a in self.stepwise.aic_path],
            "coef": {c: float(s.loc[c, "coef"]) for c in self.used},
            "se": {c: float(s.loc[c, "se"]) for c in self.used},
            "hr": {c: float(s.loc[c, "hr"]) for c in self.used},
            "hr_lower": {c: float(s.loc[c, "hr_lower"]) for c in self.used},
            "hr_upper": {c: float(s.loc[c, "hr_upper"]) for c in self.used},
            "p": {c: float(s.loc[c, "p"]) for c in self.used},
            "n": int(self.fit.n), "n_events": int(self.fit.n_events), "ties": self.fit.ties,
            "aic": float(self.fit.aic), "notes": list(self.notes),
        }


_SE_PER_SD_INFINITE = 20.0  # se * sd(x) above this: the likelihood is flat, the estimate runs off


def infinite_coefficients(fit: CoxResult, df: pd.DataFrame, notes: Sequence[str] = ()) -> list:
    """Covariates of ``fit`` whose coefficient is infinite (monotone likelihood).

    A covariate is flagged when a Cox warning in ``notes`` names it (R's
    ``coxph`` criterion, as :func:`fit_cox` applies it) or when its standard
    error exceeds 20 per standard deviation of the covariate (the likelihood
    is flat along it; a finite estimate has a few tenths). Typical cause: a
    binary factor with no event in one level (2 drinkers, no relapse).

    >>> d = pd.DataFrame({"time": [1., 2, 3, 4, 5, 6, 7, 8], "event": [1, 1, 1, 0, 1, 0, 1, 0],
    ...                   "x": [.2, .5, .1, .9, .3, .8, .4, .7], "rare": [0, 0, 0, 1, 0, 1, 0, 0]})
    >>> fit, notes = quietly(fit_cox, d, "time", "event", ["x", "rare"])
    >>> infinite_coefficients(fit, d, notes)
    ['rare']
    """
    out = []
    for c in fit.covariates:
        named = any(f"'{c}'" in n for n in notes)
        se, sd = float(fit.summary.loc[c, "se"]), float(np.std(df[c].to_numpy(dtype=float)))
        if named or not np.isfinite(se) or se * sd > _SE_PER_SD_INFINITE:
            out.append(c)
    return out


def select_model(df: pd.DataFrame, covariates: Sequence[str], *, name: str = "model",
                 duration_col: str = "time", event_col: str = "event",
                 fallback: Sequence[str] = (), ties: str = "efron", drop_infinite: bool = True) -> ModelSelection:
    """Backward stepwise AIC Cox selection (:func:`stepwise_cox`) with guards for small data.

    Parameters
    ----------
    df : pandas.DataFrame
        Training data.
    covariates : sequence of str
        Start model.
    name : str
        Model name for reports (e.g. ``"Model_clinic+dl"``).
    duration_col, event_col : str
    fallback : sequence of str
        Covariates to fit when stepwise keeps none (e.g. the signatures, so
        that the nomogram exists); empty: keep the null model.
    ties : {"efron", "breslow"}
    drop_infinite : bool
        If the selected model has an infinite coefficient
        (:func:`infinite_coefficients`; AIC favours such a covariate since
        the likelihood keeps rising), leave that covariate out of the start
        model and select again, with a note. R's ``stepAIC`` would keep it
        (with a warning); a nomogram axis worth thousands of points is of no
        use, and its hazard ratio is not estimable.

    Covariates constant in ``df`` are left out of the start model (and of
    ``fallback``) with a note.

    Returns
    -------
    ModelSelection

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=150)
    >>> d = pd.DataFrame({"time": rng.exponential(np.exp(-x)), "event": 1, "x": x,
    ...                   "noise": rng.normal(size=150)})
    >>> m = select_model(d, ["x", "noise"], name="demo")
    >>> m.selected, m.used, m.fallback_used
    (['x'], ['x'], False)
    >>> select_model(d, ["noise"], fallback=["x"]).used     # nothing kept: the fallback is fitted
    ['x']
    """
    start, constant = usable_covariates(df, covariates)
    if not start:
        raise ValueError(f"covariates: every covariate is constant in df: {constant}")
    notes = [f"left out, constant in these data: {', '.join(constant)}"] if constant else []
    excluded: list = []
    while True:
        step, more = quietly(stepwise_cox, df, duration_col, event_col, start, ties=ties)
        final_notes = quietly(fit_cox, df, duration_col, event_col, step.selected, ties=ties)[1]
        infinite = infinite_coefficients(step.final, df, final_notes) if drop_infinite else []
        notes += more
        if not infinite:
            break
        excluded += infinite
        notes.append(f"left out, infinite coefficient (monotone likelihood): {', '.join(infinite)}")
        start = [c for c in start if c not in infinite]
        if not start:
            null = quietly(fit_cox, df, duration_col, event_col, [], ties=ties)[0]
            step = StepwiseResult(selected=[], dropped=[], aic_path=[null.aic],
                                  steps=pd.DataFrame(columns=["step", "dropped", "aic"]), final=null)
            break
    fallback = [c for c in fallback if c not in constant and c not in excluded]
    used, fit, fell_back = list(step.selected), step.final, False
    if not used:
        notes.append("stepwise AIC kept no covariate")
        if fallback:
            used, fell_back = list(fallback), True
            fit, more = quietly(fit_cox, df, duration_col, event_col, used, ties=ties)
            notes += more + [f"fallback to {used}"]
    return ModelSelection(name=name, selected=list(step.selected), used=used, fallback_used=fell_back,
                          stepwise=step, fit=fit, notes=list(dict.fromkeys(notes)), excluded=excluded)


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
    t, e = _check_survival(time, event)
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
        rows.append({**row, "note": _join(notes)})
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
    t, e = _check_survival(time, event)
    r, notes = attempt(compare_concordance, t, e, np.asarray(risk_new, float), np.asarray(risk_ref, float))
    out = dict(c_new=np.nan, c_ref=np.nan, r=np.nan, statistic=np.nan, df=int(t.size - 1),
               p_value=np.nan, p_two_sided=np.nan)
    if r is not None:
        out.update(c_new=r.c1, c_ref=r.c2, r=r.r, statistic=r.statistic, df=r.df, p_value=r.p_value,
                   p_two_sided=2.0 * min(r.p_value, 1.0 - r.p_value))
    return {**{k: (float(v) if k != "df" else v) for k, v in out.items()}, "note": _join(notes)}


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
    t, e = _check_survival(time, event)
    sc = _check_scores(scores, t.size)
    rows, curves = [], {}
    for u in (float(x) for x in times):
        curves[u] = {}
        for name, s in sc.items():
            roc, notes = attempt(time_dependent_roc, t, e, s, u, method=method, span=span)
            if roc is not None:
                curves[u][name] = roc
            rows.append(dict(model=name, time=u, auc=roc.auc if roc is not None else np.nan,
                             cases=int(np.sum((t < u) & e)), controls=int(np.sum(t > u)), note=_join(notes)))
    return pd.DataFrame(rows, columns=["model", "time", "auc", "cases", "controls", "note"]), curves


# --------------------------------------------------------------------------- risk groups


def _km_value(time: np.ndarray, event: np.ndarray, t: float) -> float:
    """Kaplan-Meier S(t) of a group (1 without events); NaN when t is past its follow-up."""
    if time.size == 0 or t > time.max():
        return float("nan")
    if not event.any():
        return 1.0
    return float(kaplan_meier(time, event, [t])["survival"].iloc[0])


def risk_group_summary(time, event, high, t: float = 60.0) -> dict:
    """High- vs low-risk groups: sizes, events, HR (95 % CI), log-rank p, survival at ``t``.

    Parameters
    ----------
    time, event : array-like, shape (n,)
    high : array-like of 0/1, shape (n,)
        1 = high-risk group.
    t : float
        Time of the survival estimates (months; 60 = the paper's 5-year DFS).

    Returns
    -------
    dict
        ``n_low, n_high, events_low, events_high, hr, hr_lower, hr_upper,
        hr_p`` (Cox Wald, high vs low), ``logrank_chi2, logrank_p``,
        ``surv_low, surv_high`` (Kaplan-Meier at ``t``; NaN past a group's
        follow-up) and ``note``. The HR is NaN when a group has no event
        (infinite estimate) and everything but the counts when a group is empty.

    >>> s = risk_group_summary([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 0, 1, 1, 0, 1, 0, 1, 0, 0],
    ...                        [1, 1, 0, 1, 1, 0, 1, 0, 0, 0], t=4.5)
    >>> s["n_high"], s["events_high"], s["events_low"], round(s["surv_high"], 3), s["hr"] > 1
    (5, 2, 3, 0.533, True)
    >>> risk_group_summary([1, 2, 3, 4], [1, 1, 0, 0], [1, 1, 0, 0])["note"]
    'a risk group has no events: HR not estimable'
    """
    tt, e = _check_survival(time, event)
    g = np.asarray(high, dtype=float).ravel()
    if g.size != tt.size or not np.all((g == 0) | (g == 1)):
        raise ValueError("high must be 0/1 with one value per patient")
    hi = g == 1
    out = dict(n_low=int((~hi).sum()), n_high=int(hi.sum()), events_low=int(e[~hi].sum()),
               events_high=int(e[hi].sum()), hr=np.nan, hr_lower=np.nan, hr_upper=np.nan, hr_p=np.nan,
               logrank_chi2=np.nan, logrank_p=np.nan, surv_low=_km_value(tt[~hi], e[~hi], t),
               surv_high=_km_value(tt[hi], e[hi], t))
    notes = []
    if out["n_low"] == 0 or out["n_high"] == 0:
        notes.append("one risk group is empty")
    elif not e.any():
        notes.append("no events")
    else:
        lr, more = attempt(logrank_test, tt, e, g)
        notes += more
        if lr is not None:
            out.update(logrank_chi2=lr.chi2, logrank_p=lr.p_value)
        if out["events_low"] == 0 or out["events_high"] == 0:
            notes.append("a risk group has no events: HR not estimable")
        else:
            hr, more = attempt(hazard_ratio, tt, e, g)
            notes += more
            if more and hr is not None:
                notes.append("HR not estimable (monotone likelihood)")
            elif hr is not None:
                out.update(hr=hr.hr, hr_lower=hr.lower, hr_upper=hr.upper, hr_p=hr.p_value)
    return {**{k: (float(v) if isinstance(v, float) else v) for k, v in out.items()}, "note": _join(notes)}


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
    tt, e = _check_survival(time, event)
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups}")
    notes: list[str] = []
    for g in range(min(groups, tt.size), 0, -1):
        cal, more = attempt(calibration_curve, tt, e, predicted_survival, t, m=max(1, tt.size // g), test=test)
        if cal is not None:
            if g < groups:
                notes.append(f"{g} groups instead of {groups}")
            return cal, _join(notes)
        notes = more
        if "beyond" in _join(more) or "no events" in _join(more):
            break
    return None, _join(notes)


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
    tt, e = _check_survival(time, event)
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
    return table[cols], _join(notes)


# --------------------------------------------------------------------------- formatting


def format_p(p: float) -> str:
    """A p-value as printed in the paper: ``"<0.001"`` or three decimals; ``"NA"`` if undefined.

    >>> format_p(0.00012), format_p(0.0183), format_p(float("nan"))
    ('<0.001', '0.018', 'NA')
    """
    if p is None or not np.isfinite(p):
        return "NA"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_ci(value: float, lower: float, upper: float, digits: int = 3) -> str:
    """``"0.771 (0.715-0.827)"``; ``"NA"`` when the value is undefined, no interval when it is.

    >>> format_ci(0.7714, 0.715, 0.8269), format_ci(0.6, float("nan"), float("nan"))
    ('0.771 (0.715-0.827)', '0.600')
    """
    if value is None or not np.isfinite(value):
        return "NA"
    if not (np.isfinite(lower) and np.isfinite(upper)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ({lower:.{digits}f}-{upper:.{digits}f})"
