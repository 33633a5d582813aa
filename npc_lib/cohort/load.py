"""Load and validate a cohort (analysis A1): ``clinical.csv`` plus NIfTI volumes.

A cohort follows the layout of :mod:`npc_lib.cohort.schema`. :func:`load_cohort`
checks everything an analysis relies on and stops at the first problem with one
:class:`CohortError` whose message names the file, the patient and the field,
e.g. ``clinical.csv: patient NPC0007, field dfs_time: negative time -3.0``.
Loading never writes anything, and ``truth.csv`` (simulator only) is never read.

The clinical schema is declared once, in :func:`clinical_schema` (pandera);
:func:`validate_clinical` runs it and turns pandera's failure table into that
single message. Image checks use nibabel: headers for existence, readability,
dimensionality, shapes and affines; voxels (``check_images="full"``) for
NaN/inf values and empty or non-binary masks.
"""

from __future__ import annotations

__all__ = [
    "CohortError",
    "Cohort",
    "load_cohort",
    "validate_clinical",
    "clinical_schema",
    "AFFINE_ATOL_MM",
    "PLAUSIBLE_RANGES",
]

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from npc_lib.cohort import schema
from npc_lib.cohort.volume import Volume, read_nifti

#: largest allowed difference between a mask's and its image's affine entries (mm)
AFFINE_ATOL_MM = 1e-4

#: plausible range (inclusive) of each continuous clinical column
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "age": (0.0, 120.0),
    "hgb": (0.0, np.inf),
    "alb": (0.0, np.inf),
    "crp": (0.0, np.inf),
    "ldh": (0.0, np.inf),
    "ebv_dna": (0.0, np.inf),
}

_CHECK_MODES = ("full", "header", "none")


class CohortError(ValueError):
    """A cohort does not follow the data contract.

    Parameters
    ----------
    problem : str
        What is wrong (e.g. ``"negative time -3.0"``).
    file : str, optional
        File (or folder) relative to the cohort root, e.g. ``"clinical.csv"``.
    patient_id : str, optional
        Patient concerned.
    field : str, optional
        Column, or image property (``"shape"``, ``"affine"``, ...), concerned.

    The message is ``"<file>: patient <id>, field <field>: <problem>"`` with
    the parts that do not apply left out.
    """

    def __init__(self, problem: str, *, file: str | None = None,
                 patient_id: str | None = None, field: str | None = None):
        self.problem = problem
        self.file = file
        self.patient_id = patient_id
        self.field = field
        where = ", ".join(
            p for p in (
                None if patient_id is None else f"patient {patient_id}",
                None if field is None else f"field {field}",
            ) if p
        )
        prefix = ": ".join(p for p in (file, where) if p)
        super().__init__(f"{prefix}: {problem}" if prefix else problem)


# --------------------------------------------------------------------------- validators


def _check_mode(check_images: str) -> str:
    if check_images not in _CHECK_MODES:
        raise ValueError(f"check_images must be one of {_CHECK_MODES}, got {check_images!r}")
    return check_images


def _check_sequences(sequences: Iterable[str]) -> tuple[str, ...]:
    if isinstance(sequences, str):
        sequences = (sequences,)
    seqs = tuple(sequences)
    unknown = [s for s in seqs if s not in schema.SEQUENCES]
    if not seqs or unknown or len(set(seqs)) != len(seqs):
        raise ValueError(
            f"sequences must be distinct names from {schema.SEQUENCES}, got {seqs!r}"
        )
    return seqs


def _describe(exc: BaseException) -> str:
    """An exception as one line: ``"Type: message"``."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _fmt(value) -> str:
    """Show a failing value: numbers plainly, strings quoted."""
    if isinstance(value, str):
        return repr(value)
    return str(value)


# --------------------------------------------------------------------------- clinical schema


def _finite(pa):
    return pa.Check(lambda s: s.abs() < np.inf, error="non-finite value {value}")


def clinical_schema():
    """The pandera schema of ``clinical.csv`` (the single place the rules live).

    Returns
    -------
    pandera.pandas.DataFrameSchema
        Required columns (:data:`schema.CLINICAL_COLUMNS`; extra columns are
        kept), no missing values, unique ``patient_id``, numeric continuous
        columns within :data:`PLAUSIBLE_RANGES`, categorical columns within
        :data:`schema.CATEGORIES`, non-negative times and 0/1 events. Check
        ``error`` strings are message templates with a ``{value}`` slot.
    """
    import pandera.pandas as pa

    cols: dict[str, pa.Column] = {
        "patient_id": pa.Column(object, nullable=False, unique=True),
        "scanner": pa.Column(None, nullable=False),
    }
    for name in schema.CONTINUOUS:
        lo, hi = PLAUSIBLE_RANGES[name]
        if np.isinf(hi):
            check = pa.Check.ge(lo, error=f"implausible value {{value}} (must be >= {lo:g})")
        else:
            check = pa.Check.in_range(
                lo, hi, error=f"implausible value {{value}} (must be within {lo:g}-{hi:g})"
            )
        cols[name] = pa.Column(float, [_finite(pa), check], coerce=True, nullable=False)
    for name, levels in schema.CATEGORIES.items():
        allowed = ", ".join(levels)
        cols[name] = pa.Column(
            None,
            pa.Check.isin(list(levels), error=f"unknown category {{value}} (allowed: {allowed})"),
            nullable=False,
        )
    for endpoint in schema.ENDPOINTS:
        cols[schema.time_col(endpoint)] = pa.Column(
            float, [_finite(pa), pa.Check.ge(0.0, error="negative time {value}")],
            coerce=True, nullable=False,
        )
        cols[schema.event_col(endpoint)] = pa.Column(
            float, pa.Check.isin([0.0, 1.0], error="event not 0/1: {value}"),
            coerce=True, nullable=False,
        )
    return pa.DataFrameSchema(cols, strict=False, ordered=False, name="clinical.csv")


def _failure_rank(check: str) -> int:
    """Order in which failures are reported: structure before values."""
    if check == "column_in_dataframe":
        return 0
    if check == "not_nullable":
        return 1
    if check.startswith("coerce_dtype") or check.startswith("dtype("):
        return 2
    if check == "field_uniqueness":
        return 3
    return 4


def _failure_to_error(failures: pd.DataFrame, df: pd.DataFrame, source: str) -> CohortError:
    """Turn pandera's failure table into one :class:`CohortError` (the first problem)."""
    order = {c: i for i, c in enumerate(df.columns)}
    fc = failures.copy()
    fc["rank"] = fc["check"].astype(str).map(_failure_rank)
    # rows whose index is None come from a check that crashed on uncoerced data;
    # a coercion failure on the same column (rank 2) always explains them
    fc["row"] = pd.to_numeric(fc["index"], errors="coerce")
    fc["col"] = fc["column"].map(lambda c: order.get(c, -1) if c is not None else -1)
    schema_cols = {c: i for i, c in enumerate(schema.CLINICAL_COLUMNS)}
    fc["schema_col"] = fc["column"].map(lambda c: schema_cols.get(c, -1))
    first = fc.sort_values(["rank", "row", "col", "schema_col"], na_position="last").iloc[0]
    check, column, value = str(first["check"]), first["column"], first["failure_case"]
    if check == "column_in_dataframe":
        return CohortError("required column missing", file=source, field=str(value))
    row = None if pd.isna(first["row"]) else int(first["row"])
    pid = None
    if row is not None and "patient_id" in df.columns:
        raw = df["patient_id"].iloc[row]
        pid = None if pd.isna(raw) else str(raw)
    line = "" if row is None else f" (line {row + 2})"
    if check == "not_nullable":
        problem = f"missing value{line}"
    elif first["rank"] == 2:
        problem = f"non-numeric value {_fmt(value)}"
    elif check == "field_uniqueness":
        dup_rows = np.flatnonzero(df["patient_id"].astype(str).to_numpy() == str(value))
        problem = "duplicate patient_id (lines " + ", ".join(str(r + 2) for r in dup_rows) + ")"
    elif "{value}" in check:
        problem = check.format(value=_fmt(value))
    else:
        problem = f"failed check {check}: {_fmt(value)}"
    return CohortError(problem, file=source, patient_id=pid, field=None if column is None else str(column))


def validate_clinical(df: pd.DataFrame, source: str = schema.CLINICAL_FILE) -> pd.DataFrame:
    """Check a clinical table against the schema and fix its dtypes.

    Parameters
    ----------
    df : DataFrame
        One row per patient with at least :data:`schema.CLINICAL_COLUMNS`.
        Not modified.
    source : str
        File name used in error messages.

    Returns
    -------
    DataFrame
        A copy with a fresh RangeIndex, ``patient_id`` and ``scanner`` as str,
        continuous columns and ``*_time`` (months) as float64, ``*_event`` as
        int64 0/1, and each column of :data:`schema.CATEGORIES` as a pandas
        Categorical with the schema's levels (first level = reference).

    Raises
    ------
    CohortError
        At the first problem (missing column, missing or non-numeric value,
        duplicate ``patient_id``, unknown category, negative time, event not
        0/1, implausible age or negative laboratory value), naming patient
        and field.

    Examples
    --------
    >>> import pandas as pd
    >>> row = dict(patient_id="P1", age=50, sex="M", hgb=140, family_history="no",
    ...            smoking="no", drinking="no", who_type="III", alb=44, crp=1.2,
    ...            ldh=180, ebv_dna=3000, scanner="S1")
    >>> row.update({f"{e}_{k}": v for e in ("dfs", "os", "dmfs", "lrfs")
    ...             for k, v in (("time", 60.0), ("event", 0))})
    >>> validate_clinical(pd.DataFrame([row]))["sex"].cat.categories.tolist()
    ['M', 'F']
    >>> validate_clinical(pd.DataFrame([{**row, "dfs_time": -3.0}]))
    Traceback (most recent call last):
    ...
    npc_lib.cohort.load.CohortError: clinical.csv: patient P1, field dfs_time: negative time -3.0
    """
    import pandera.pandas as pa

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    data = df.reset_index(drop=True)
    if "patient_id" in data.columns:
        ids = data["patient_id"]
        data["patient_id"] = ids.where(ids.isna(), ids.astype(str))
    try:
        out = clinical_schema().validate(data, lazy=True)
    except pa.errors.SchemaErrors as err:
        raise _failure_to_error(err.failure_cases, data, source) from None
    out = out.copy()
    out["patient_id"] = out["patient_id"].astype(str)
    out["scanner"] = out["scanner"].astype(str)
    for name, levels in schema.CATEGORIES.items():
        out[name] = pd.Categorical(out[name].astype(str), categories=list(levels))
    for endpoint in schema.ENDPOINTS:
        out[schema.event_col(endpoint)] = out[schema.event_col(endpoint)].astype(np.int64)
    return out


# --------------------------------------------------------------------------- images


def _load_header(root: Path, rel: str, pid: str):
    import nibabel as nib

    path = root / rel
    if not path.is_file():
        raise CohortError("file not found", file=rel, patient_id=pid, field="file")
    try:
        img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
        affine = np.asarray(img.affine, dtype=np.float64)
    except Exception as exc:  # nibabel raises many types for bad files
        raise CohortError(f"unreadable NIfTI ({_describe(exc)})",
                          file=rel, patient_id=pid, field="file") from None
    if len(shape) != 3:
        raise CohortError(f"image is not 3D: shape {shape}", file=rel, patient_id=pid, field="dims")
    if not np.isfinite(affine).all():
        raise CohortError("non-finite affine", file=rel, patient_id=pid, field="affine")
    return img, shape, affine


def _read_voxels(img, rel: str, pid: str) -> np.ndarray:
    try:
        return np.asarray(img.dataobj)
    except Exception as exc:  # truncated or corrupt data block
        raise CohortError(f"unreadable NIfTI voxels ({_describe(exc)})",
                          file=rel, patient_id=pid, field="voxels") from None


def _check_image_voxels(data: np.ndarray, rel: str, pid: str) -> None:
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        n_bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise CohortError(f"{n_bad} NaN/inf voxels", file=rel, patient_id=pid, field="voxels")


def _check_mask_voxels(data: np.ndarray, rel: str, pid: str) -> None:
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise CohortError("NaN/inf voxels in mask", file=rel, patient_id=pid, field="voxels")
    if data.dtype.kind == "b":
        binary = True
    elif data.dtype.kind in "iu":
        binary = data.size == 0 or (data.min() >= 0 and data.max() <= 1)
    else:
        binary = bool(((data == 0) | (data == 1)).all())
    if not binary:
        values = np.unique(data)
        shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if values.size > 5 else "")
        raise CohortError(f"mask is not binary (values {shown})", file=rel, patient_id=pid,
                          field="voxels")
    if not data.any():
        raise CohortError("empty mask (no voxel is 1)", file=rel, patient_id=pid, field="voxels")


def _check_patient_images(root: Path, pid: str, sequences: tuple[str, ...], full: bool) -> None:
    """All checks of one patient's volumes and masks; raise at the first problem."""
    for seq in sequences:
        img_rel = schema.image_relpath(pid, seq)
        roi_rel = schema.roi_relpath(pid, seq)
        img, img_shape, img_affine = _load_header(root, img_rel, pid)
        roi, roi_shape, roi_affine = _load_header(root, roi_rel, pid)
        if roi_shape != img_shape:
            raise CohortError(f"mask shape {roi_shape} differs from image shape {img_shape} ({img_rel})",
                              file=roi_rel, patient_id=pid, field="shape")
        diff = float(np.abs(roi_affine - img_affine).max())
        if diff > AFFINE_ATOL_MM:
            raise CohortError(
                f"mask affine differs from image affine ({img_rel}) by up to {diff:.3g} mm "
                f"(tolerance {AFFINE_ATOL_MM:g})", file=roi_rel, patient_id=pid, field="affine")
        if full:
            _check_image_voxels(_read_voxels(img, img_rel, pid), img_rel, pid)
            _check_mask_voxels(_read_voxels(roi, roi_rel, pid), roi_rel, pid)


def _check_folders(root: Path, patient_ids: list[str]) -> None:
    images = root / schema.IMAGES_DIR
    if not images.is_dir():
        raise CohortError(f"image folder not found under {root}", file=schema.IMAGES_DIR,
                          field="images")
    folders = {p.name for p in images.iterdir() if p.is_dir() and not p.name.startswith(".")}
    for pid in patient_ids:
        if pid not in folders:
            raise CohortError(f"no image folder for this {schema.CLINICAL_FILE} row",
                              file=f"{schema.IMAGES_DIR}/{pid}", patient_id=pid, field="patient_id")
    extra = sorted(folders.difference(patient_ids))
    if extra:
        raise CohortError(f"image folder has no row in {schema.CLINICAL_FILE} (unmatched patient_id)",
                          file=f"{schema.IMAGES_DIR}/{extra[0]}", patient_id=extra[0], field="patient_id")


def _check_images(root: Path, patient_ids: list[str], sequences: tuple[str, ...],
                  full: bool, progress: bool) -> None:
    _check_folders(root, patient_ids)
    from tqdm import tqdm

    # gzip inflation releases the GIL, so a few threads help; results (and so
    # the first error reported) stay in patient order
    workers = max(1, min(4, os.cpu_count() or 1)) if full else 1
    bar = tqdm(total=len(patient_ids), desc="checking images", disable=not progress)
    try:
        if workers == 1:
            for pid in patient_ids:
                _check_patient_images(root, pid, sequences, full)
                bar.update()
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                jobs = [pool.submit(_check_patient_images, root, pid, sequences, full)
                        for pid in patient_ids]
                try:
                    for job in jobs:
                        job.result()
                        bar.update()
                finally:
                    for job in jobs:
                        job.cancel()
    finally:
        bar.close()


# --------------------------------------------------------------------------- cohort


@dataclass(frozen=True)
class Cohort:
    """A validated cohort.

    Attributes
    ----------
    root : Path
        Cohort folder.
    clinical : DataFrame
        Validated clinical table (see :func:`validate_clinical` for dtypes),
        one row per patient in ``clinical.csv`` order.
    sequences : tuple of str
        MR sequences that were checked and may be read.
    """

    root: Path
    clinical: pd.DataFrame
    sequences: tuple[str, ...] = field(default=schema.SEQUENCES)

    @property
    def patient_ids(self) -> list[str]:
        """Patient identifiers in ``clinical.csv`` order."""
        return self.clinical["patient_id"].tolist()

    def _check_key(self, patient_id: str, sequence: str) -> None:
        if patient_id not in set(self.clinical["patient_id"]):
            raise ValueError(f"patient_id {patient_id!r} is not in this cohort")
        if sequence not in self.sequences:
            raise ValueError(f"sequence must be one of {self.sequences}, got {sequence!r}")

    def image_path(self, patient_id: str, sequence: str) -> Path:
        """Path of a patient's MR volume for ``sequence`` (``T1``, ``T2``, ``T1C``)."""
        self._check_key(patient_id, sequence)
        return self.root / schema.image_relpath(patient_id, sequence)

    def roi_path(self, patient_id: str, sequence: str) -> Path:
        """Path of a patient's tumour mask for ``sequence``."""
        self._check_key(patient_id, sequence)
        return self.root / schema.roi_relpath(patient_id, sequence)

    def read_image(self, patient_id: str, sequence: str) -> Volume:
        """The MR volume as float32 (scaling of the NIfTI header applied)."""
        return read_nifti(self.image_path(patient_id, sequence), dtype=np.float32)

    def read_roi(self, patient_id: str, sequence: str) -> Volume:
        """The tumour mask as uint8 0/1.

        Raises
        ------
        CohortError
            If the mask holds values other than 0 and 1, or no 1 at all.
        """
        path = self.roi_path(patient_id, sequence)
        vol = read_nifti(path, dtype=np.float64)
        _check_mask_voxels(vol.data, schema.roi_relpath(patient_id, sequence), patient_id)
        return Volume(data=vol.data.astype(np.uint8), spacing=vol.spacing, affine=vol.affine)


def load_cohort(root: str | os.PathLike, *, sequences: Iterable[str] = schema.SEQUENCES,
                check_images: str = "full", progress: bool = False) -> Cohort:
    """Load ``clinical.csv`` and check a cohort's images; stop at the first problem.

    Parameters
    ----------
    root : path-like
        Cohort folder in the layout of :mod:`npc_lib.cohort.schema`.
    sequences : iterable of str
        MR sequences whose volumes and masks must be present.
    check_images : {"full", "header", "none"}
        ``"header"``: every patient has an image folder and every folder a
        CSV row; each volume and mask exists, is readable NIfTI, is 3D, and
        each mask matches its image's shape and affine (within
        :data:`AFFINE_ATOL_MM`), from headers only. ``"full"`` also reads the
        voxels: no NaN/inf, masks binary and non-empty. ``"none"`` checks the
        clinical table only.
    progress : bool
        Show a progress bar while checking images.

    Returns
    -------
    Cohort

    Raises
    ------
    CohortError
        At the first problem, naming file, patient and field.

    Notes
    -----
    Reads only; never writes. ``truth.csv`` is never read.
    """
    mode = _check_mode(check_images)
    seqs = _check_sequences(sequences)
    root = Path(root)
    if not root.is_dir():
        raise CohortError("cohort folder not found", file=str(root))
    csv = root / schema.CLINICAL_FILE
    if not csv.is_file():
        raise CohortError(f"file not found in {root}", file=schema.CLINICAL_FILE)
    try:
        raw = pd.read_csv(csv, dtype={"patient_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CohortError(f"unreadable CSV ({_describe(exc)})",
                          file=schema.CLINICAL_FILE) from None
    clinical = validate_clinical(raw, source=schema.CLINICAL_FILE)
    if clinical.empty:
        raise CohortError("no patients (the table has no rows)", file=schema.CLINICAL_FILE)
    if mode != "none":
        _check_images(root, clinical["patient_id"].tolist(), seqs, mode == "full", progress)
    return Cohort(root=root, clinical=clinical, sequences=seqs)
