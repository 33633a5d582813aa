"""The cohort data contract: file layout, clinical columns, categories.

Every layer that reads or writes a cohort takes its names from here.
"""

from __future__ import annotations

__all__ = [
    "SEQUENCES",
    "ENDPOINTS",
    "CATEGORIES",
    "CONTINUOUS",
    "CLINICAL_COLUMNS",
    "TRUTH_COLUMNS",
    "CLINICAL_FILE",
    "TRUTH_FILE",
    "IMAGES_DIR",
    "image_relpath",
    "roi_relpath",
    "time_col",
    "event_col",
    "MONTH_DAYS",
]

SEQUENCES: tuple[str, ...] = ("T1", "T2", "T1C")
ENDPOINTS: tuple[str, ...] = ("dfs", "os", "dmfs", "lrfs")
MONTH_DAYS = 30.0  # the paper: "a month is defined as 30 days"

CLINICAL_FILE = "clinical.csv"
TRUTH_FILE = "truth.csv"
IMAGES_DIR = "images"

#: categorical columns and their allowed levels (first level = reference)
CATEGORIES: dict[str, tuple[str, ...]] = {
    "sex": ("M", "F"),
    "family_history": ("no", "yes"),
    "smoking": ("no", "yes"),
    "drinking": ("no", "yes"),
    "who_type": ("III", "I-II"),
}

#: continuous columns and units
CONTINUOUS: dict[str, str] = {
    "age": "years",
    "hgb": "g/L",
    "alb": "g/L",
    "crp": "mg/L",
    "ldh": "U/L",
    "ebv_dna": "copy/mL",
}


def time_col(endpoint: str) -> str:
    """Column of follow-up time in months for ``endpoint`` (e.g. ``dfs_time``)."""
    return f"{endpoint}_time"


def event_col(endpoint: str) -> str:
    """Column of the 0/1 event indicator for ``endpoint`` (e.g. ``dfs_event``)."""
    return f"{endpoint}_event"


CLINICAL_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "age",
    "sex",
    "hgb",
    "family_history",
    "smoking",
    "drinking",
    "who_type",
    "alb",
    "crp",
    "ldh",
    "ebv_dna",
    "scanner",
    *(c for e in ENDPOINTS for c in (time_col(e), event_col(e))),
)

TRUTH_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "lp_clinical",
    "lp_image",
    "lp_T1",
    "lp_T2",
    "lp_T1C",
    "lp_total",
)


def image_relpath(patient_id: str, sequence: str) -> str:
    """Path of a patient's MR volume relative to the cohort root."""
    return f"{IMAGES_DIR}/{patient_id}/{sequence}.nii.gz"


def roi_relpath(patient_id: str, sequence: str) -> str:
    """Path of a patient's tumour mask relative to the cohort root."""
    return f"{IMAGES_DIR}/{patient_id}/{sequence}_roi.nii.gz"
