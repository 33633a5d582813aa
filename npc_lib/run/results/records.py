"""Records shared by several chapters' results: a C-index, a comparison, a risk-group contrast, an estimate.

Each is a frozen dataclass whose fields are the keys of the statistic that
makes it (:func:`npc_lib.stats.performance.concordance_table`,
:func:`~npc_lib.stats.performance.compare_models`,
:func:`npc_lib.stats.endpoints.compare_risk_groups`, ...); ``None`` where
the statistic is not defined (``NaN`` in the tables, ``null`` in JSON).
"""

from __future__ import annotations

__all__ = ["Record", "CIndex", "CIndexComparison", "RiskGroupComparison", "EndpointComparison", "Interaction", "Estimate",
           "CalibrationTest", "GROUP_FIELDS", "ClaimVerdict", "VERDICTS"]

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from npc_lib.run.results.codec import Checked


class Record(Checked):
    """A nested record: checked like a chapter's results, no chapter of its own."""


@dataclass(frozen=True, kw_only=True)
class CIndex(Record):
    """Harrell's C with its 95% interval and the p of C = 0.5."""

    c_index: float | None = None
    lower: float | None = None
    upper: float | None = None
    p_value: float | None = None


@dataclass(frozen=True, kw_only=True)
class CIndexComparison(Record):
    """survcomp's ``cindex.comp`` of a new against a reference score (one-sided p, H1: new > ref)."""

    c_new: float | None = None
    c_ref: float | None = None
    p_value: float | None = None
    p_two_sided: float | None = None
    statistic: float | None = None
    r: float | None = None
    df: int | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class RiskGroupComparison(Record):
    """High vs low risk: counts, Cox HR (Wald), log-rank, and Kaplan-Meier survival at one time if asked."""

    n: int | None = None
    events: int | None = None
    n_low: int | None = None
    n_high: int | None = None
    events_low: int | None = None
    events_high: int | None = None
    coef: float | None = None
    se: float | None = None
    hr: float | None = None
    hr_lower: float | None = None
    hr_upper: float | None = None
    p: float | None = None
    logrank_chi2: float | None = None
    logrank_p: float | None = None
    estimable: bool | None = None
    surv_low: float | None = None
    surv_high: float | None = None
    note: str = ""


#: the fields of a risk-group contrast (the columns of an endpoint or subgroup table that are not rates)
GROUP_FIELDS = tuple(f.name for f in fields(RiskGroupComparison))


@dataclass(frozen=True, kw_only=True)
class EndpointComparison(RiskGroupComparison):
    """A :class:`RiskGroupComparison` for one endpoint, with its Kaplan-Meier rates.

    ``rates``: ``{"surv_high_36": ..., "lower_low_60": ...}`` (rate, 95% limits,
    risk group, months).
    """

    rates: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "EndpointComparison":
        """From a row of :func:`npc_lib.stats.endpoints.endpoint_table` (its rate columns go to ``rates``).

        >>> EndpointComparison.from_row({"cohort": "test", "endpoint": "os", "hr": 2.0, "surv_high_36": 0.7}).rates
        {'surv_high_36': 0.7}
        """
        known = set(GROUP_FIELDS)
        return cls(**{k: v for k, v in row.items() if k in known},
                   rates={k: v for k, v in row.items() if k not in known and k not in ("cohort", "endpoint")})

    @classmethod
    def by_cohort(cls, table) -> dict[str, dict[str, "EndpointComparison"]]:
        """``{cohort: {endpoint: EndpointComparison}}`` of an endpoint table (columns ``cohort, endpoint, ...``)."""
        out: dict[str, dict[str, EndpointComparison]] = {}
        for row in table.to_dict(orient="records"):
            out.setdefault(str(row["cohort"]), {})[str(row["endpoint"])] = cls.from_row(row)
        return out


@dataclass(frozen=True, kw_only=True)
class Interaction(Record):
    """Likelihood-ratio test of group x subgroup (:func:`npc_lib.stats.subgroups.interaction_test`)."""

    chi2: float | None = None
    df: int | None = None
    p: float | None = None
    loglik_reduced: float | None = None
    loglik_full: float | None = None
    n_levels: int | None = None
    dropped: str | list[str] = ""
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Estimate(Record):
    """An estimate with its (bootstrap) 95% interval."""

    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True, kw_only=True)
class CalibrationTest(Record):
    """A grouped calibration test at one horizon."""

    chi2: float | None = None
    p: float | None = None
    groups: int | None = None


#: the three verdicts of a claim
VERDICTS = ("held", "not held", "not assessed")


@dataclass(frozen=True)
class ClaimVerdict(Record):
    """One claim of the paper and its verdict on a run.

    Attributes
    ----------
    claim_id : str
        Stable identifier (``"fig3_secondary_endpoints"``).
    claim : str
        The claim in words.
    chapter : str
        The chapter whose results decide it (``"07_endpoints_subgroups"``).
    paper : str
        What the paper printed.
    ours : str
        Our numbers behind the verdict, or why it was not assessed.
    verdict : {"held", "not held", "not assessed"}
    held : bool or None
        ``None`` when not assessed.
    as_strong : bool or None
        Where the paper printed p < 0.001: whether every p of ours is below
        0.001 too (and the direction agrees); ``None`` otherwise.
    p_value : float or None
        The deciding p-value (the largest of those the claim needs), if any.
    """

    claim_id: str
    claim: str
    chapter: str
    paper: str
    ours: str
    verdict: str
    held: bool | None
    as_strong: bool | None = None
    p_value: float | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if (self.verdict == "not assessed") != (self.held is None) or (
                self.held is not None and self.held != (self.verdict == "held")):
            raise ValueError(f"claim {self.claim_id!r}: verdict {self.verdict!r} and held={self.held!r} disagree")
