"""Chapter 10's results (external validation at a second centre), registered under ``EXTERNAL_VALIDATION``.

The records mirror :func:`npc_lib.run.updating.transport_measures` (one set
of external-validation measures of one model on one set of patients) so that
the locked model, the harmonised one and each updated model are described
alike; the TRIPOD+AI page and the reproduction report read them.
"""

from __future__ import annotations

__all__ = ["SlopeEstimate", "ObservedExpectedEstimate", "PoissonEstimate", "TransportRecord", "SignatureTransport",
           "UpdatedModel", "ExternalCohortSummary", "ExternalValidationResults"]

from dataclasses import dataclass, field
from typing import ClassVar

from npc_lib.run.results.codec import ChapterResults
from npc_lib.run.results.records import Estimate, Record, RiskGroupComparison
from npc_lib.run.results.registry import EXTERNAL_VALIDATION, register

_D = dict(frozen=True, kw_only=True)


@dataclass(**_D)
class SlopeEstimate(Record):
    """Calibration slope (:func:`npc_lib.stats.calibration_slope`)."""

    slope: float | None = None
    se: float | None = None
    lower: float | None = None
    upper: float | None = None


@dataclass(**_D)
class ObservedExpectedEstimate(Record):
    """O/E at one horizon (:func:`npc_lib.stats.observed_expected`)."""

    observed: float | None = None
    expected: float | None = None
    ratio: float | None = None
    lower: float | None = None
    upper: float | None = None


@dataclass(**_D)
class PoissonEstimate(Record):
    """Calibration-in-the-large and slope from Poisson GLMs (:func:`npc_lib.stats.poisson_calibration`)."""

    citl: float | None = None
    citl_se: float | None = None
    slope: float | None = None
    slope_se: float | None = None
    n_dropped: int | None = None
    events_dropped: int | None = None


@dataclass(**_D)
class TransportRecord(Record):
    """One model's external-validation measures on one set of patients (:func:`~npc_lib.run.updating.transport_measures`)."""

    n: int
    events: int
    harrell: Estimate | None = None
    slope: SlopeEstimate | None = None
    #: ``{months: O/E}``
    oe: dict[str, ObservedExpectedEstimate | None] = field(default_factory=dict)
    poisson: PoissonEstimate | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_measures(cls, m: dict) -> "TransportRecord":
        """From :func:`~npc_lib.run.updating.transport_measures` (its ``harrell`` ``c_index`` is the estimate)."""
        h = m.get("harrell")
        return cls(n=m["n"], events=m["events"],
                   harrell=None if h is None else {"estimate": h["c_index"], "lower": h["lower"], "upper": h["upper"]},
                   slope=m.get("slope"), oe=m.get("oe") or {}, poisson=m.get("poisson"), notes=m.get("notes") or [])


@dataclass(**_D)
class SignatureTransport(Record):
    """One signature's Harrell's C at both centres, beside its oracle (the twin's true image risk of that sequence)."""

    development_test: float | None = None
    development_test_oracle: float | None = None
    external: float | None = None
    external_refitted: float | None = None
    external_oracle: float | None = None


@dataclass(**_D)
class UpdatedModel(Record):
    """An updated model: its file, its bundle, what was updated, and its measures on the evaluation patients."""

    kind: str
    model_file: str
    bundle: str = ""
    update: dict[str, int | float | str | None] = field(default_factory=dict)
    evaluation: TransportRecord | None = None


@dataclass(**_D)
class ExternalCohortSummary(Record):
    """Who the external patients are (aggregates only)."""

    source: str
    twin: bool
    n: int
    events: int
    median_follow_up_months: float | None = None
    followed_beyond_60: float | None = None
    scanners: dict[str, int] = field(default_factory=dict)
    events_by_60: int | None = None


@register
@dataclass(**_D)
class ExternalValidationResults(ChapterResults):
    chapter: ClassVar[str] = EXTERNAL_VALIDATION
    #: why the chapter's model analyses were skipped (the bundle has no nomogram), or None
    skipped: str | None = None
    cohort: ExternalCohortSummary | None = None
    #: SHA-256 of the locked bundle's manifest
    bundle_sha256: str = ""
    #: the locked nomogram on every external patient
    locked: TransportRecord | None = None
    #: ``{"nomogram" | "oracle": {measure: Estimate}}``: Harrell's C, Uno's C, td-AUC, Brier, ICI, E50, E90...
    performance: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    #: ``{months: {"nomogram" | "oracle": AUC}}``
    td_auc: dict[str, dict[str, float | None]] = field(default_factory=dict)
    #: the oracle's own transport measures (the twin's true risk at the second centre), None for a real cohort
    oracle: TransportRecord | None = None
    #: the locked risk groups (cut-off in total points from development), DFS at 5 years
    risk_groups: RiskGroupComparison | None = None
    #: ``{threshold: {model or "Treat all": net benefit}}`` at 3 years
    decision_curve: dict[str, dict[str, float | None]] = field(default_factory=dict)
    #: ``{DL_<seq>_sig: SignatureTransport}``
    signatures: dict[str, SignatureTransport] = field(default_factory=dict)
    #: ``{"locked" | "refitted": TransportRecord}``: the nomogram with either intensity standardiser
    harmonisation: dict[str, TransportRecord] = field(default_factory=dict)
    #: the external patients used to update (``"update"``) and to evaluate (``"evaluate"``)
    update_split: dict[str, int | float] = field(default_factory=dict)
    #: the locked model on the evaluation patients, beside the updates
    locked_on_evaluation: TransportRecord | None = None
    #: ``{"baseline" | "recalibration" | "refit": UpdatedModel}``
    updates: dict[str, UpdatedModel] = field(default_factory=dict)
    update_notes: list[str] = field(default_factory=list)
    #: ``{"simulate" | "read" | "score" | "analyses": seconds}``
    seconds: dict[str, float] = field(default_factory=dict)
