"""The twin's centres: the development centre (the paper's) and a second, external one.

A :class:`Centre` holds everything that differs between hospitals while the
**true risk model stays the same** (the latent phenotype, its image signs and
the log-hazard coefficients of :mod:`npc_lib.twin.simulate`, centred on the
development population's constant): who comes (the case mix), how they are
scanned (the scanners and their shares), when they were treated (the DFS
baseline hazard) and how long they are followed (accrual and follow-up).

:data:`DEVELOPMENT` repeats the development twin's constants
(:mod:`npc_lib.twin.simulate`, :mod:`npc_lib.twin.outcomes`); simulating it
gives the development twin number for number. :data:`EXTERNAL` is a second
centre:

================  ============================  =================================
                  development (SYSUCC twin)     external (second centre)
================  ============================  =================================
scanners          A 45%, B 35%, C 20%           D (3 T) 60%, E (1.5 T) 40%
age (years)       normal(41.65, 10.2), 10-69    normal(47.5, 11.0), 18-79
LDH (U/L)         median 176, log-SD 0.26       median 192, log-SD 0.28
EBV DNA           10% undetectable, log10       7% undetectable, log10
                  3.5 + 1.15 z                  3.75 + 1.10 z
DFS baseline      Weibull(0.9, 820 months)      Weibull(0.9, 1150 months)
accrual           2010-01 .. 2016-03, Beta      2015-01 .. 2021-06, Beta
                  (3.1, 1.7)                    (1.1, 1.0)
last follow-up    2019-10-19                    2022-04-15
loss (mean)       60 years                      30 years
================  ============================  =================================

* **Scanners** (:data:`EXTERNAL_SCANNERS`, same field of view of about
  112 x 112 x 60 mm as the development scanners). D, a 3 T scanner: thin
  slices (0.875 x 0.875 x 3 mm, 128 x 128 x 20), a higher int16 scale (4500),
  less noise (0.015), a stronger bias field (SD 0.22: B1 inhomogeneity rises
  with field strength) and another tissue contrast (exponents 1.25 on T1, 0.85
  on T2, 1.15 on T1C, :attr:`~npc_lib.twin.phantom.ScannerProfile.contrast`).
  E, a 1.5 T scanner: thick slices (1.1 x 1.1 x 7 mm, 102 x 102 x 9), a low
  int16 scale (180), more noise (0.045), a mild bias field (0.10) and contrast
  exponents 0.9, 1.1, 0.9.
* **Case mix** (:class:`CaseMix`): older patients (NPC series outside the
  endemic south of China report median ages of 45-52 years), LDH a little
  higher (laboratories' medians of 170-200 U/L) and EBV DNA higher, with fewer
  undetectable (another assay; stage III series report medians of 10^3-10^4
  copies/mL). Sex, smoking, drinking, family history, WHO type, HGB, ALB and
  CRP follow the development centre's model. Through the unchanged true risk
  model, the shifts raise the external patients' clinical risk.
* **Treatment era**: a Weibull scale of 1150 instead of 820 months lowers
  the baseline hazard by a factor (820 / 1150)^0.9 = 0.74 at every time (the
  same proportional-hazards model with a lower baseline: a later era with
  better imaging-guided radiotherapy and systemic therapy).
* **Follow-up**: entry nearly uniform over 2015-01-01 .. 2021-06-30, follow-up
  ending 2022-04-15 or at a loss to follow-up (exponential, mean 30 years): median
  (reverse Kaplan-Meier) follow-up about 3.5 years, about 27% of patients
  followed beyond 5 years, so 3- and 5-year measures exist.

The external twin's patients are ``EXT0001``... (never the development
twin's ids), drawn from a seed sequence of their own (``seed`` and the
centre's :attr:`Centre.seed_key`), so a development and an external twin of
the same seed are independent.
"""

from __future__ import annotations

__all__ = [
    "CaseMix",
    "Centre",
    "DEVELOPMENT",
    "EXTERNAL",
    "CENTRES",
    "EXTERNAL_SCANNERS",
    "centre",
]

from dataclasses import dataclass, field

import numpy as np

from npc_lib.twin import outcomes
from npc_lib.twin.phantom import ScannerProfile


@dataclass(frozen=True)
class CaseMix:
    """The clinical variables that differ between centres (the rest is shared).

    Attributes
    ----------
    age_mean, age_sd : float
        Age (years) ~ normal(age_mean, age_sd) ...
    age_min, age_max : float
        ... truncated to [age_min, age_max) (ages are then rounded).
    ldh_median : float
        Median LDH (U/L); LDH = ldh_median exp(ldh_log_sd x z), z a latent of
        size and inflammation with a long upper tail.
    ldh_log_sd : float
        Spread of log LDH.
    ebv_undetectable : float
        Share of patients with undetectable (0) pre-treatment EBV DNA.
    ebv_log10_mean, ebv_log10_sd : float
        log10 copies/mL = ebv_log10_mean + ebv_log10_sd x z (detectable patients).
    """

    age_mean: float
    age_sd: float
    age_min: float
    age_max: float
    ldh_median: float
    ldh_log_sd: float
    ebv_undetectable: float
    ebv_log10_mean: float
    ebv_log10_sd: float

    def __post_init__(self):
        problems = []
        if not (self.age_sd > 0 and self.age_min < self.age_max):
            problems.append("age: need age_sd > 0 and age_min < age_max")
        if not (self.ldh_median > 0 and self.ldh_log_sd > 0):
            problems.append("ldh: need a positive median and log-SD")
        if not 0.0 <= self.ebv_undetectable < 1.0:
            problems.append(f"ebv_undetectable must lie in [0, 1), got {self.ebv_undetectable}")
        if not self.ebv_log10_sd > 0:
            problems.append("ebv_log10_sd must be positive")
        if problems:
            raise ValueError("case mix: " + "; ".join(problems))


@dataclass(frozen=True)
class Centre:
    """One hospital of the twin: case mix, scanners, baseline hazard and follow-up.

    Attributes
    ----------
    name : str
        ``"development"`` or ``"external"``.
    id_prefix : str
        Patient ids are ``<id_prefix>0001``...
    seed_key : int or None
        None: the cohort seed's own sequence (the development twin);
        otherwise the spawn key that makes this centre's draws independent.
    case_mix : CaseMix
    scanner_shares : dict
        Scanner name -> share of patients (a key of
        :data:`npc_lib.twin.phantom.SCANNERS` or :data:`EXTERNAL_SCANNERS`).
    weibull_scale : float
        Weibull scale (months) of the DFS baseline at lp = 0 (shape
        :data:`npc_lib.twin.outcomes.WEIBULL_SHAPE` at every centre).
    accrual_start, accrual_end, last_follow_up : numpy.datetime64
    accrual_beta : tuple of float
    loss_mean_years : float
    """

    name: str
    id_prefix: str
    seed_key: int | None
    case_mix: CaseMix
    scanner_shares: dict[str, float] = field(default_factory=dict)
    weibull_scale: float = outcomes.WEIBULL_SCALE_MONTHS
    accrual_start: np.datetime64 = outcomes.ACCRUAL_START
    accrual_end: np.datetime64 = outcomes.ACCRUAL_END
    accrual_beta: tuple[float, float] = outcomes.ACCRUAL_BETA
    last_follow_up: np.datetime64 = outcomes.LAST_FOLLOW_UP
    loss_mean_years: float = outcomes.LOSS_MEAN_YEARS

    def follow_up_design(self) -> dict:
        """Keyword arguments of :func:`npc_lib.twin.outcomes.simulate_outcomes` for this centre."""
        return {"weibull_scale": self.weibull_scale, "accrual": (self.accrual_start, self.accrual_end),
                "accrual_beta": self.accrual_beta, "last_follow_up": self.last_follow_up,
                "loss_mean_years": self.loss_mean_years}

    def seed_sequence(self, seed: int) -> np.random.SeedSequence:
        """The root seed sequence of a cohort of this centre (``seed`` alone for the development centre)."""
        if self.seed_key is None:
            return np.random.SeedSequence(seed)
        return np.random.SeedSequence(seed, spawn_key=(self.seed_key,))


#: the second centre's scanners (see the module docstring)
EXTERNAL_SCANNERS: dict[str, ScannerProfile] = {
    "D": ScannerProfile((0.875, 0.875, 3.0), (128, 128, 20), 4500.0, 0.015, 0.22, contrast=(1.25, 0.85, 1.15)),
    "E": ScannerProfile((1.1, 1.1, 7.0), (102, 102, 9), 180.0, 0.045, 0.10, contrast=(0.9, 1.1, 0.9)),
}

#: the development centre: the development twin's own constants
DEVELOPMENT = Centre(
    name="development",
    id_prefix="NPC",
    seed_key=None,
    case_mix=CaseMix(age_mean=41.65, age_sd=10.2, age_min=10.0, age_max=69.49, ldh_median=176.0, ldh_log_sd=0.26,
                     ebv_undetectable=0.10, ebv_log10_mean=3.5, ebv_log10_sd=1.15),
    scanner_shares={"A": 0.45, "B": 0.35, "C": 0.20},
)

#: the second centre (see the module docstring)
EXTERNAL = Centre(
    name="external",
    id_prefix="EXT",
    seed_key=2,
    case_mix=CaseMix(age_mean=47.5, age_sd=11.0, age_min=18.0, age_max=79.49, ldh_median=192.0, ldh_log_sd=0.28,
                     ebv_undetectable=0.07, ebv_log10_mean=3.75, ebv_log10_sd=1.10),
    scanner_shares={"D": 0.60, "E": 0.40},
    weibull_scale=1150.0,
    accrual_start=np.datetime64("2015-01-01"),
    accrual_end=np.datetime64("2021-06-30"),
    accrual_beta=(1.1, 1.0),
    last_follow_up=np.datetime64("2022-04-15"),
    loss_mean_years=30.0,
)

#: centre name -> :class:`Centre`
CENTRES: dict[str, Centre] = {c.name: c for c in (DEVELOPMENT, EXTERNAL)}


def centre(name: str) -> Centre:
    """The :class:`Centre` called ``name`` (``"development"`` or ``"external"``).

    Examples
    --------
    >>> centre("external").id_prefix, centre("development").weibull_scale
    ('EXT', 820.0)
    """
    if name not in CENTRES:
        raise ValueError(f"centre must be one of {tuple(CENTRES)}, got {name!r}")
    return CENTRES[name]
