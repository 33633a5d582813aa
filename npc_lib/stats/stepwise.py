"""Backward stepwise Cox selection by AIC, as ``MASS::stepAIC(direction = "backward")``.

At each step every remaining covariate is dropped in turn and the model
refitted; the drop giving the lowest AIC (``-2 loglik + 2 p``) is taken if
that AIC is below the current one (``stepAIC`` stops when the best candidate
is not lower by more than ``1e-7``; exact ties favour keeping the model, and
among drops the earlier covariate in the current order wins, as R's stable
``order``). The null model (no covariates, AIC ``-2 loglik_null``) is a
valid end point. Dummy columns of a factor are dropped one at a time (no
grouping), as when the dummies are separate terms in R.

References
----------
Venables WN, Ripley BD. Modern Applied Statistics with S, 4th ed. Springer
2002 (``stepAIC``). Akaike H. IEEE Trans Autom Control 1974;19:716-723.
"""

from __future__ import annotations

__all__ = ["StepwiseResult", "stepwise_cox"]

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .cox import CoxResult, check_frame, check_ties, fit_cox

_STEP_TOL = 1e-7  # MASS::stepAIC: ``if (bAIC >= AIC + 1e-07) break``


@dataclass(frozen=True)
class StepwiseResult:
    """Outcome of :func:`stepwise_cox`.

    Attributes
    ----------
    selected : list of str
        Covariates kept, in their original order.
    dropped : list of str
        Covariates removed, in the order they were removed.
    aic_path : list of float
        AIC of the start model, then after each drop (``len(dropped) + 1``).
    steps : pandas.DataFrame
        One row per candidate evaluated: ``step, dropped, aic`` (``dropped``
        is ``"<none>"`` for the current model), for reporting.
    final : CoxResult
        The selected model refitted.
    """

    selected: list
    dropped: list
    aic_path: list
    steps: pd.DataFrame
    final: CoxResult


def stepwise_cox(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str],
    ties: str = "efron",
) -> StepwiseResult:
    """Backward elimination of Cox covariates by AIC (``MASS::stepAIC``, ``k = 2``).

    Parameters
    ----------
    df : pandas.DataFrame
    duration_col, event_col : str
        Time (any unit) and event (1 = event) columns.
    covariates : sequence of str
        Start model.
    ties : {"efron", "breslow"}

    Returns
    -------
    StepwiseResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> x, noise = rng.normal(size=200), rng.normal(size=200)
    >>> d = pd.DataFrame({"t": rng.exponential(np.exp(-x)), "e": 1, "x": x, "noise": noise})
    >>> stepwise_cox(d, "t", "e", ["x", "noise"]).selected
    ['x']
    """
    check_ties(ties)
    _, _, _, covariates = check_frame(df, duration_col, event_col, covariates)
    if not covariates:
        raise ValueError("covariates is empty")
    current = list(covariates)
    fit = fit_cox(df, duration_col, event_col, current, ties=ties)
    aic = fit.aic
    path, dropped, rows = [aic], [], []
    step = 0
    while current:
        cands = [fit_cox(df, duration_col, event_col, [c for c in current if c != v], ties=ties)
                 for v in current]
        aics = np.array([aic] + [c.aic for c in cands])
        rows += [{"step": step, "dropped": name, "aic": a}
                 for name, a in zip(["<none>"] + current, aics)]
        best = int(np.argmin(aics))            # first minimum: <none> wins exact ties
        if best == 0 or aics[best] >= aic + _STEP_TOL:
            break
        dropped.append(current.pop(best - 1))
        fit, aic = cands[best - 1], float(aics[best])
        path.append(aic)
        step += 1
    return StepwiseResult(
        selected=list(current), dropped=dropped, aic_path=path,
        steps=pd.DataFrame(rows, columns=["step", "dropped", "aic"]), final=fit,
    )
