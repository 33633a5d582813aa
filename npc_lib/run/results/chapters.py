"""Each chapter's results (its ``metrics.json``) as a typed dataclass.

One class per chapter, named after it; every key that the reproduction
report, the TRIPOD page, the replication study or a test reads is a typed
field. :mod:`npc_lib.run.results.registry` maps chapter folders to these
classes and holds the one writer and the one reader.
"""

from __future__ import annotations

__all__ = ["IntroResults", "CohortResults", "Table1Results", "PreprocessingResults", "CrossvalFold", "SignatureTraining",
           "SignatureOracle", "SignaturesResults", "ModelSpecResult", "BootstrapResult", "ModelsResults",
           "NomogramSummary", "WorkedExample", "Cutoff", "NomogramResults", "EndpointsResults",
           "ExtractionResult", "RadiomicsResults", "CalculatorExample", "CalculatorResults", "ReproductionResults",
           "TripodResults"]

from dataclasses import dataclass, field
from typing import ClassVar

from npc_lib.run.results.codec import ChapterResults
from npc_lib.run.results.records import (CalibrationTest, CIndex, CIndexComparison, ClaimVerdict,
                                         EndpointComparison, Estimate, Interaction, RiskGroupComparison, Record)

_D = dict(frozen=True, kw_only=True)


@dataclass(**_D)
class IntroResults(ChapterResults):
    chapter: ClassVar[str] = "00_intro"
    profile: str
    cohort: str
    split: str
    training: str
    python: str


@dataclass(**_D)
class CohortResults(ChapterResults):
    chapter: ClassVar[str] = "01_cohort"
    n: int
    n_train: int
    n_test: int
    dfs_events_train: int
    dfs_events_test: int
    dfs_event_rate: float
    median_follow_up_months: float | None = None
    scanners: list[str] = field(default_factory=list)
    split_file: str = ""
    split_seed: int | None = None


@dataclass(**_D)
class Table1Results(ChapterResults):
    chapter: ClassVar[str] = "02_table1"
    n_rows: int = 0
    tests_used: list[str] = field(default_factory=list)
    p_values: dict[str, float | None] = field(default_factory=dict)
    small_cell: str = ""
    min_p: float | None = None


@dataclass(**_D)
class PreprocessingResults(ChapterResults):
    chapter: ClassVar[str] = "03_preprocessing"
    n_train_fitted: int
    target_spacing_mm: float
    box_mm: float
    box_px: int
    max_spread_raw: dict[str, float | None] = field(default_factory=dict)
    max_spread_standardised: dict[str, float | None] = field(default_factory=dict)


@dataclass(**_D)
class CrossvalFold(Record):
    sequence: str
    fold: int
    c_index: float | None = None
    c_lower: float | None = None
    c_upper: float | None = None
    n_train: int | None = None
    n_test: int | None = None
    events_test: int | None = None
    members: int | None = None
    epochs_pretrain: int | None = None
    epochs_cox: int | None = None
    seconds: float | None = None
    note: str = ""


@dataclass(**_D)
class SignatureTraining(Record):
    train_c_index: float | None = None
    test_c_index: float | None = None
    train_c_index_lower: float | None = None
    test_c_index_upper: float | None = None
    epochs: dict[str, int | None] = field(default_factory=dict)
    train_seconds: float | None = None
    instances_per_second: float | None = None
    n_instances: int = 0


@dataclass(**_D)
class SignatureOracle(Record):
    oracle_c_test: float | None = None
    signature_c_test: float | None = None
    ratio: float | None = None


@dataclass(**_D)
class SignaturesResults(ChapterResults):
    chapter: ClassVar[str] = "04_signatures"
    backend: str = ""
    signatures: dict[str, SignatureTraining] = field(default_factory=dict)
    oracle: dict[str, SignatureOracle] | None = None
    crossval_c_index: list[float | None] = field(default_factory=list)
    crossval_folds: list[CrossvalFold] = field(default_factory=list)
    ensemble_size: dict[str, int] = field(default_factory=dict)
    signature_files: list[str] = field(default_factory=list)


@dataclass(**_D)
class ModelSpecResult(Record):
    selected: list[str] = field(default_factory=list)
    covariates: list[str] = field(default_factory=list)
    selected_source: list[str] = field(default_factory=list)
    fallback_used: bool = False


@dataclass(**_D)
class BootstrapResult(Record):
    apparent: float | None = None
    optimism: float | None = None
    corrected: float | None = None
    n_boot: int = 0
    n_failed: int = 0


@dataclass(**_D)
class ModelsResults(ChapterResults):
    chapter: ClassVar[str] = "05_models"
    n_train: int | None = None
    n_test: int | None = None
    events_train: int | None = None
    events_test: int | None = None
    univariate_hr: dict[str, float | None] = field(default_factory=dict)
    univariate_p: dict[str, float | None] = field(default_factory=dict)
    univariate_significant: list[str] = field(default_factory=list)
    model_clinic: ModelSpecResult = field(default_factory=ModelSpecResult)
    model_clinic_dl: ModelSpecResult = field(default_factory=ModelSpecResult)
    #: ``{cohort: {model or signature: CIndex}}``
    cindex: dict[str, dict[str, CIndex]] = field(default_factory=dict)
    #: ``{cohort: Model_clinic+dl vs Model_clinic}``
    clinic_vs_dl: dict[str, CIndexComparison] = field(default_factory=dict)
    bootstrap: BootstrapResult | None = None
    #: ``{"truth: lp_total" or a model: C in the test cohort}``; None for a real cohort
    oracle_test: dict[str, float | None] | None = None
    models_file: str = ""
    #: ``{model: {term or "GLOBAL": p}}``; None where the test was not possible
    proportional_hazards: dict[str, dict[str, float | None] | None] = field(default_factory=dict)


@dataclass(**_D)
class NomogramSummary(Record):
    covariates: list[str]
    scale: float
    points_per_unit: dict[str, float]
    max_points: dict[str, float]


@dataclass(**_D)
class WorkedExample(Record):
    total_points: float
    dfs_3y: float
    dfs_5y: float
    filled: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


@dataclass(**_D)
class Cutoff(Record):
    points: float
    lp: float
    method: str
    min_group: float
    share_high_train: float
    share_high_test: float


@dataclass(**_D)
class NomogramResults(ChapterResults):
    chapter: ClassVar[str] = "06_nomogram"
    nomogram: NomogramSummary | None = None
    #: why there is no nomogram (no nomogram.json, no risk groups), or None
    nomogram_skipped: str | None = None
    example: WorkedExample | None = None
    #: ``{cohort: {months: CalibrationTest}}``
    calibration: dict[str, dict[str, CalibrationTest]] = field(default_factory=dict)
    cutoff: Cutoff | None = None
    #: ``{cohort: high vs low risk, DFS}`` (empty without risk groups)
    risk_groups: dict[str, RiskGroupComparison] = field(default_factory=dict)
    risk_groups_skipped: str | None = None
    #: ``{cohort: {months: {model: AUC}}}``
    td_auc: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    #: ``{cohort: {"nomogram" or "oracle": {measure: Estimate}}}``
    prediction_performance: dict[str, dict[str, dict[str, Estimate]]] = field(default_factory=dict)
    n_boot: int = 0
    bootstrap_seed: int = 0
    #: ``{cohort: {model: bootstrap resamples that failed}}``
    bootstrap_failed: dict[str, dict[str, int]] = field(default_factory=dict)
    #: ``{threshold: {model or "Treat all": net benefit}}``, test cohort, 3 years
    decision_curve_test: dict[str, dict[str, float | None]] = field(default_factory=dict)


@dataclass(**_D)
class EndpointsResults(ChapterResults):
    chapter: ClassVar[str] = "07_endpoints_subgroups"
    #: why the chapter's analyses were skipped (no risk groups), or None
    skipped: str | None = None
    #: ``{cohort: {endpoint: EndpointComparison}}``
    endpoints: dict[str, dict[str, EndpointComparison]] = field(default_factory=dict)
    endpoints_oracle: dict[str, dict[str, EndpointComparison]] | None = None
    #: ``{cohort: {subgroup variable: {level: RiskGroupComparison}}}``
    subgroups: dict[str, dict[str, dict[str, RiskGroupComparison]]] = field(default_factory=dict)
    #: ``{cohort: {subgroup variable: Interaction}}``
    interactions: dict[str, dict[str, Interaction]] = field(default_factory=dict)
    fig3_claim: ClaimVerdict | None = None
    figD2_claim: ClaimVerdict | None = None
    subgroup_endpoint: str = "dfs"
    times: list[float] = field(default_factory=list)


@dataclass(**_D)
class ExtractionResult(Record):
    seconds: float | None = None
    reused: bool = False
    n_jobs: int = 1
    n_patients: int = 0
    n_features: int = 0


@dataclass(**_D)
class RadiomicsResults(ChapterResults):
    chapter: ClassVar[str] = "08_radiomics"
    #: why the chapter was skipped (PyRadiomics unavailable), or None
    skipped: str | None = None
    pyradiomics: str = ""
    extraction: ExtractionResult | None = None
    #: the selection: penalty rule (``lambda.min``...), CV folds, seed, correlation cut, combined pool
    rule: str = ""
    n_folds: int | None = None
    selection_seed: int | None = None
    corr_threshold: float | None = None
    combined_pool: str = ""
    #: ``{HC_<seq>_sig or HC_combined_sig: selected feature names}``
    selected: dict[str, list[str]] = field(default_factory=dict)
    #: ``{HC_<seq>_sig or HC_combined_sig: {cohort: CIndex}}``
    cindex: dict[str, dict[str, CIndex]] = field(default_factory=dict)
    #: ``{DL_<seq>_sig: {cohort: CIndex}}``
    dl_cindex: dict[str, dict[str, CIndex]] = field(default_factory=dict)
    #: ``{cohort: {"DL_T1_sig vs HC_T1_sig": CIndexComparison}}``
    comparisons: dict[str, dict[str, CIndexComparison]] = field(default_factory=dict)
    appendix_c_claim: ClaimVerdict | None = None
    oracle_test: dict[str, float | None] | None = None


@dataclass(**_D)
class CalculatorExample(Record):
    inputs: dict[str, str]
    points: dict[str, float]
    total_points: float
    survival: dict[str, float]
    filled: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    outside_axis: list[str] = field(default_factory=list)


@dataclass(**_D)
class CalculatorResults(ChapterResults):
    chapter: ClassVar[str] = "09_calculator"
    #: why there is no calculator (chapter 06 wrote no nomogram.json), or None
    skipped: str | None = None
    model_file: str = ""
    format: str = ""
    covariates: list[str] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    example: CalculatorExample | None = None
    calculator_page: str = ""
    cli_status: int | None = None


@dataclass(**_D)
class ReproductionResults(ChapterResults):
    chapter: ClassVar[str] = "12_reproduction"
    #: ``{claim: verdict}``
    verdicts: dict[str, str] = field(default_factory=dict)
    claims: list[ClaimVerdict] = field(default_factory=list)
    n_held: int = 0
    n_not_held: int = 0
    n_numbers: int = 0
    inside_paper_ci: dict[str, int] = field(default_factory=dict)
    with_paper_ci: dict[str, int] = field(default_factory=dict)
    alpha: float = 0.05
    #: ``{chapter: why}`` of the analyses this run skipped
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(**_D)
class TripodResults(ChapterResults):
    chapter: ClassVar[str] = "13_tripod"
    guideline: str
    subitems: int
    items: int
    status_counts: dict[str, int]
    status: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)
