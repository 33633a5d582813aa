"""Chapter 11's results (a replication study's summary), registered under ``REPLICATION``.

The records mirror the tables of :mod:`npc_lib.runners.study_results`
(:func:`~npc_lib.runners.study_results.claim_shares`,
:func:`~npc_lib.runners.study_results.headline_distribution`,
:func:`~npc_lib.runners.study_results.spread_decomposition`), one record per
row; a book built without a study writes empty lists and ``study_dir = None``.
"""

from __future__ import annotations

__all__ = ["ClaimShare", "HeadlineDistribution", "SpreadComponent", "ReplicationResults"]

from dataclasses import dataclass, field
from typing import ClassVar

from npc_lib.run.results.codec import ChapterResults
from npc_lib.run.results.records import Record
from npc_lib.run.results.registry import REPLICATION, register

_D = dict(frozen=True, kw_only=True)


@dataclass(**_D)
class ClaimShare(Record):
    """One claim over the replicates: assessed, held, the share held and its Wilson 95% CI."""

    claim_id: str
    claim: str
    chapter: str
    assessed: int
    held: int
    share_held: float | None = None
    lower: float | None = None
    upper: float | None = None


@dataclass(**_D)
class HeadlineDistribution(Record):
    """One headline number over the ok replicates beside the paper's value and 95% CI."""

    number: str
    label: str
    paper: float | None = None
    paper_lower: float | None = None
    paper_upper: float | None = None
    n: int
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    q025: float | None = None
    q975: float | None = None
    min: float | None = None
    max: float | None = None
    #: share of replicates inside the paper's CI (None where the paper printed none)
    inside_paper_ci: float | None = None


@dataclass(**_D)
class SpreadComponent(Record):
    """Split-to-split and twin-to-twin standard deviations of one headline number (random effects)."""

    number: str
    label: str
    twins: int
    replicates: int
    sd_split_to_split: float | None = None
    #: a negative twin-to-twin component is shown as 0 (its raw value in ``twin_component_raw``)
    sd_twin_to_twin: float | None = None
    share_twin_to_twin: float | None = None
    twin_component_raw: float | None = None
    note: str = ""


@register
@dataclass(**_D)
class ReplicationResults(ChapterResults):
    chapter: ClassVar[str] = REPLICATION
    #: the study folder the chapter was rendered from, None when the book was built without a study
    study_dir: str | None = None
    n_ok: int = 0
    n_failed: int = 0
    claims: list[ClaimShare] = field(default_factory=list)
    headlines: list[HeadlineDistribution] = field(default_factory=list)
    spread: list[SpreadComponent] = field(default_factory=list)
