"""Cox model selection that survives small data: stepwise AIC with guards and a fallback.

:func:`select_model` runs backward stepwise AIC (:func:`npc_lib.stats.stepwise.stepwise_cox`,
as ``MASS::stepAIC``) after leaving out covariates that are constant in the
data (:func:`usable_covariates`), leaves out and re-selects without
covariates whose coefficient is infinite (:func:`infinite_coefficients`,
monotone likelihood), and fits a fallback covariate set when nothing is kept
(so that a nomogram can still be drawn). Every such decision is a note of
the :class:`ModelSelection`.

Risk convention: coefficients are log hazard ratios (higher = worse).
"""

from __future__ import annotations

__all__ = ["usable_covariates", "infinite_coefficients", "ModelSelection", "select_model", "fixed_model"]

from dataclasses import dataclass, field
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from .capture import quietly
from .cox import CoxConvergenceWarning, CoxResult, fit_cox
from .stepwise import StepwiseResult, stepwise_cox


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
    ``notes``; ``excluded``: covariates left out for an infinite coefficient;
    ``monotone``: the distinct Cox non-convergence warnings
    (:class:`~npc_lib.stats.cox.CoxConvergenceWarning`: a candidate model
    with an infinite coefficient) met during the search, also in ``notes``.
    """

    name: str
    selected: list
    used: list
    fallback_used: bool
    stepwise: StepwiseResult
    fit: CoxResult
    notes: list = field(default_factory=list)
    excluded: list = field(default_factory=list)
    monotone: list = field(default_factory=list)

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


def _search(df, duration_col, event_col, start, ties) -> tuple[StepwiseResult, list, list]:
    """:func:`stepwise_cox` with its runtime warnings as notes, and which of them are Cox non-convergence."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always", RuntimeWarning)
        step = stepwise_cox(df, duration_col, event_col, start, ties=ties)
    notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)))
    convergence = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, CoxConvergenceWarning)))
    return step, notes, convergence


def _null_step(df: pd.DataFrame, duration_col: str, event_col: str, ties: str) -> StepwiseResult:
    null = quietly(fit_cox, df, duration_col, event_col, [], ties=ties)[0]
    return StepwiseResult(selected=[], dropped=[], aic_path=[null.aic],
                          steps=pd.DataFrame(columns=["step", "dropped", "aic"]), final=null)


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
    ``fallback``) with a note; when none is left, the result is the null
    model (no covariate), with a note.

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
    notes = [f"left out, constant in these data: {', '.join(constant)}"] if constant else []
    excluded: list = []
    monotone: list = []
    while start:
        step, more, convergence = _search(df, duration_col, event_col, start, ties)
        monotone += convergence
        final_notes = quietly(fit_cox, df, duration_col, event_col, step.selected, ties=ties)[1]
        infinite = infinite_coefficients(step.final, df, final_notes) if drop_infinite else []
        notes += more
        if not infinite:
            break
        excluded += infinite
        notes.append(f"left out, infinite coefficient (monotone likelihood): {', '.join(infinite)}")
        start = [c for c in start if c not in infinite]
    if not start:  # every candidate constant or infinite: the null model
        notes.append("no candidate covariate left: the null model")
        step = _null_step(df, duration_col, event_col, ties)
    fallback = [c for c in fallback if c not in constant and c not in excluded]
    used, fit, fell_back = list(step.selected), step.final, False
    if not used:
        notes.append("stepwise AIC kept no covariate")
        if fallback:
            used, fell_back = list(fallback), True
            fit, more = quietly(fit_cox, df, duration_col, event_col, used, ties=ties)
            notes += more + [f"fallback to {used}"]
    return ModelSelection(name=name, selected=list(step.selected), used=used, fallback_used=fell_back,
                          stepwise=step, fit=fit, notes=list(dict.fromkeys(notes)), excluded=excluded,
                          monotone=list(dict.fromkeys(monotone)))


def fixed_model(df: pd.DataFrame, covariates: Sequence[str], *, name: str = "model", duration_col: str = "time",
                event_col: str = "event", ties: str = "efron") -> ModelSelection:
    """A Cox model of given covariates, no selection: the same :class:`ModelSelection` as :func:`select_model`.

    For a model fixed by the analyst (or by a what-if run that forces a
    model with no covariate). ``covariates`` may be empty: the null model,
    whose linear predictor is 0 for every patient.

    >>> d = pd.DataFrame({"time": [1., 2, 3, 4, 5, 6], "event": [1, 0, 1, 1, 0, 1], "x": [.1, .5, .2, .9, .3, .8]})
    >>> m = fixed_model(d, [], name="none")
    >>> m.used, m.selected, m.fallback_used, m.notes
    ([], [], False, ['covariates fixed: none'])
    >>> list(fixed_model(d, ["x"]).fit.covariates)
    ['x']
    """
    covariates = list(covariates)
    missing = [c for c in covariates if c not in df.columns]
    if missing:
        raise ValueError(f"covariates not in df: {missing}")
    fit, notes = quietly(fit_cox, df, duration_col, event_col, covariates, ties=ties)
    step = StepwiseResult(selected=covariates, dropped=[], aic_path=[fit.aic],
                          steps=pd.DataFrame(columns=["step", "dropped", "aic"]), final=fit)
    return ModelSelection(name=name, selected=covariates, used=covariates, fallback_used=False, stepwise=step,
                          fit=fit, notes=[f"covariates fixed: {', '.join(covariates) or 'none'}", *notes])
