"""Survival outcomes of the digital twin: accrual, censoring and four endpoints.

Disease-free survival (DFS) follows a Weibull proportional-hazards model whose
log relative hazard is the patient's true linear predictor ``lp_total``:

.. math:: H(t \\mid lp) = (t / \\lambda)^k \\, e^{lp},

so DFS is an exact Cox model in ``lp_total`` (baseline cumulative hazard
:math:`(t/\\lambda)^k`, :data:`WEIBULL_SHAPE` :math:`k < 1`: the hazard falls
with time, as relapses of nasopharyngeal carcinoma cluster in the first years).
The first failure is a locoregional relapse, a distant metastasis or a death
without relapse with fixed probabilities (:data:`FIRST_FAILURE`): every
cause-specific hazard is then proportional to the same :math:`e^{lp}`.
Later failures (a metastasis after a relapse, a relapse after a metastasis,
death after either) follow with fixed probabilities after exponential delays
(:data:`LATER_FAILURE`). The endpoints are

* DFS: first of locoregional relapse, distant metastasis, death;
* OS: death from any cause;
* DMFS: distant metastasis (death without metastasis censors);
* LRFS: locoregional relapse (death without relapse censors);

so ``dfs_time <= os_time, dmfs_time, lrfs_time`` and each secondary endpoint
has at most as many events as DFS.

Patients enter between 1 January 2010 and 31 March 2016 (accrual rising over
the years, a Beta distribution on that span); follow-up ends on 19 October
2019 (the paper's last follow-up) or earlier at a loss to follow-up
(exponential, :data:`LOSS_MEAN_YEARS`). Times are whole days divided by 30
(the paper's month), in months.
"""

from __future__ import annotations

__all__ = [
    "simulate_outcomes",
    "WEIBULL_SHAPE",
    "WEIBULL_SCALE_MONTHS",
    "FIRST_FAILURE",
    "LATER_FAILURE",
    "ACCRUAL_START",
    "ACCRUAL_END",
    "LAST_FOLLOW_UP",
    "ACCRUAL_BETA",
    "LOSS_MEAN_YEARS",
]

import numpy as np
import pandas as pd

from npc_lib.cohort import schema

#: Weibull shape k of the DFS baseline hazard (k < 1: hazard falls with time)
WEIBULL_SHAPE = 0.9
#: Weibull scale lambda (months) of the DFS baseline hazard at lp = 0
WEIBULL_SCALE_MONTHS = 820.0
#: probability that the first failure is a locoregional relapse, a distant
#: metastasis, or a death without relapse
FIRST_FAILURE: dict[str, float] = {"lr": 0.32, "dm": 0.55, "death": 0.13}
#: (probability, mean delay in months) of a later failure after a first one
LATER_FAILURE: dict[str, tuple[float, float]] = {
    "dm_after_lr": (0.25, 15.0),
    "lr_after_dm": (0.12, 12.0),
    "death_after_dm": (0.80, 22.0),
    "death_after_lr": (0.35, 30.0),
}
ACCRUAL_START = np.datetime64("2010-01-01")
ACCRUAL_END = np.datetime64("2016-03-31")
LAST_FOLLOW_UP = np.datetime64("2019-10-19")
#: Beta(a, b) shape of the entry date on the accrual span (more patients later)
ACCRUAL_BETA = (3.1, 1.7)
#: mean time to loss to follow-up (years, exponential)
LOSS_MEAN_YEARS = 60.0

_DAYS_PER_YEAR = 365.25


def _check_lp(lp) -> np.ndarray:
    lp = np.asarray(lp, dtype=float)
    if lp.ndim != 1 or lp.size == 0:
        raise ValueError(f"lp_total must be a non-empty 1-D array, got shape {lp.shape}")
    if not np.all(np.isfinite(lp)):
        raise ValueError("lp_total must be finite")
    return lp


def _check_centre_design(weibull_scale, accrual, accrual_beta, last_follow_up, loss_mean_years) -> None:
    problems = []
    if not (np.isfinite(weibull_scale) and weibull_scale > 0):
        problems.append(f"weibull_scale must be a positive number of months, got {weibull_scale!r}")
    start, end = (np.datetime64(d, "D") for d in accrual)
    if not start < end:
        problems.append(f"accrual must run forwards, got {accrual!r}")
    if np.datetime64(last_follow_up, "D") < end:
        problems.append(f"last_follow_up ({last_follow_up}) must not precede the end of accrual ({end})")
    if len(accrual_beta) != 2 or not all(np.isfinite(b) and b > 0 for b in accrual_beta):
        problems.append(f"accrual_beta must be two positive numbers, got {accrual_beta!r}")
    if not (np.isfinite(loss_mean_years) and loss_mean_years > 0):
        problems.append(f"loss_mean_years must be positive, got {loss_mean_years!r}")
    if problems:
        raise ValueError("; ".join(problems))


def simulate_outcomes(
    lp_total,
    rng: np.random.Generator,
    *,
    weibull_scale: float = WEIBULL_SCALE_MONTHS,
    accrual: tuple[np.datetime64, np.datetime64] = (ACCRUAL_START, ACCRUAL_END),
    accrual_beta: tuple[float, float] = ACCRUAL_BETA,
    last_follow_up: np.datetime64 = LAST_FOLLOW_UP,
    loss_mean_years: float = LOSS_MEAN_YEARS,
) -> pd.DataFrame:
    """Draw DFS, OS, DMFS and LRFS for patients with true log-hazards ``lp_total``.

    Parameters
    ----------
    lp_total : array_like, shape (n,)
        True linear predictor of each patient (log relative hazard of DFS;
        higher = worse).
    rng : numpy.random.Generator
        Source of randomness (the only one: same state, same outcomes).
    weibull_scale : float
        Weibull scale (months) of the DFS baseline at ``lp = 0``; larger =
        lower baseline hazard. Default: the development centre's
        :data:`WEIBULL_SCALE_MONTHS`.
    accrual, accrual_beta, last_follow_up, loss_mean_years
        The centre's accrual span (first and last entry date), the Beta shape
        of the entry date on it, the date follow-up ends and the mean time to
        loss to follow-up (years). Defaults: the development centre's
        (:data:`ACCRUAL_START`, :data:`ACCRUAL_END`, :data:`ACCRUAL_BETA`,
        :data:`LAST_FOLLOW_UP`, :data:`LOSS_MEAN_YEARS`); another centre's
        are in :mod:`npc_lib.twin.centres`.

    Returns
    -------
    pandas.DataFrame, shape (n, 8)
        ``<endpoint>_time`` (float months, a month is 30 days) and
        ``<endpoint>_event`` (int 0/1) for endpoints ``dfs, os, dmfs, lrfs``,
        in :data:`npc_lib.cohort.schema.ENDPOINTS` order.

    Examples
    --------
    >>> out = simulate_outcomes(np.zeros(5), np.random.default_rng(0))
    >>> list(out.columns[:2]), len(out)
    (['dfs_time', 'dfs_event'], 5)
    >>> bool((out["dfs_time"] <= out["os_time"]).all())
    True
    """
    lp = _check_lp(lp_total)
    _check_centre_design(weibull_scale, accrual, accrual_beta, last_follow_up, loss_mean_years)
    n = lp.size
    # --- follow-up window: entry date -> last follow-up, or loss to follow-up
    start, end = accrual
    span = float((end - start) / np.timedelta64(1, "D"))
    entry_day = np.floor(rng.beta(*accrual_beta, size=n) * span)
    admin = float((last_follow_up - start) / np.timedelta64(1, "D")) - entry_day
    loss = rng.exponential(loss_mean_years * _DAYS_PER_YEAR, size=n)
    censor = np.minimum(admin, np.ceil(loss))  # days

    # --- first failure (DFS): Weibull PH in lp, then its cause
    month = schema.MONTH_DAYS
    t_first = weibull_scale * (rng.exponential(size=n) * np.exp(-lp)) ** (1.0 / WEIBULL_SHAPE)
    t_first = np.ceil(t_first * month)  # days, >= 1
    causes = np.array(list(FIRST_FAILURE))
    p = np.array([FIRST_FAILURE[c] for c in causes])
    cause = causes[rng.choice(len(causes), size=n, p=p / p.sum())]

    inf = np.full(n, np.inf)
    t_lr = np.where(cause == "lr", t_first, inf)
    t_dm = np.where(cause == "dm", t_first, inf)
    t_death = np.where(cause == "death", t_first, inf)

    def later(key: str) -> tuple[np.ndarray, np.ndarray]:
        prob, mean = LATER_FAILURE[key]
        happens = rng.random(n) < prob
        delay = np.ceil(rng.exponential(mean * month, size=n))
        return happens, delay

    happens, delay = later("dm_after_lr")
    t_dm = np.where((cause == "lr") & happens, t_lr + delay, t_dm)
    happens, delay = later("lr_after_dm")
    t_lr = np.where((cause == "dm") & happens, t_dm + delay, t_lr)
    happens_dm, delay_dm = later("death_after_dm")
    happens_lr, delay_lr = later("death_after_lr")
    had_dm = np.isfinite(t_dm)
    t_death = np.where(had_dm & happens_dm, t_dm + delay_dm, t_death)
    t_death = np.where(~had_dm & np.isfinite(t_lr) & happens_lr, t_lr + delay_lr, t_death)

    # --- what is observed
    out = {}
    observed = {
        "dfs": (np.minimum(t_first, censor), t_first <= censor),
        "os": (np.minimum(t_death, censor), t_death <= censor),
        "dmfs": (np.minimum.reduce([t_dm, t_death, censor]), t_dm <= np.minimum(t_death, censor)),
        "lrfs": (np.minimum.reduce([t_lr, t_death, censor]), t_lr <= np.minimum(t_death, censor)),
    }
    for endpoint in schema.ENDPOINTS:
        days, event = observed[endpoint]
        out[schema.time_col(endpoint)] = np.round(days / month, 2)
        out[schema.event_col(endpoint)] = event.astype(int)
    return pd.DataFrame(out)
