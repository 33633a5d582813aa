"""Load and validate a cohort (analysis A1, B5): ``clinical.csv`` plus NIfTI volumes.

A cohort follows the layout of :mod:`npc_lib.cohort.schema`.
:func:`validate_cohort` checks everything an analysis relies on and returns a
:class:`~npc_lib.cohort.problems.ValidationReport` with **every** error,
warning and note (it checks the images even when the table has errors);
:func:`load_cohort` raises one :class:`CohortError` listing every error, or
returns a :class:`Cohort`; :func:`check_run_ready` adds what a run of the
book needs on top (a DFS event, enough patients to split). Each message names
the file, the patient and the field, e.g. ``clinical.csv: patient NPC0007,
field dfs_time: negative time -3.0``. Loading never writes anything, and
``truth.csv`` (simulator only) is never read.

The parts: :mod:`~npc_lib.cohort.read_table` (delimiters, encodings, Excel),
:mod:`~npc_lib.cohort.mapping` (a user's names, units and codes),
:mod:`~npc_lib.cohort.checks` (fields, survival logic, units),
:mod:`~npc_lib.cohort.images` (volumes, masks), and
:mod:`~npc_lib.cohort.volume` (reading, canonical orientation).
"""

from __future__ import annotations

__all__ = [
    "CohortError",
    "Cohort",
    "load_cohort",
    "validate_cohort",
    "validate_clinical",
    "check_run_ready",
    "AFFINE_ATOL_MM",
    "PLAUSIBLE_RANGES",
    "RUN_MIN_PATIENTS",
]

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from npc_lib.cohort import schema
from npc_lib.cohort.checks import PLAUSIBLE_RANGES, check_clinical, check_plausibility, check_endpoint_agreement
from npc_lib.cohort.images import AFFINE_ATOL_MM, ImageIndex, MaskProblem, check_patient_images, mask_to_binary
from npc_lib.cohort.mapping import ColumnMapping, load_mapping
from npc_lib.cohort.problems import CohortError, ValidationReport
from npc_lib.cohort.read_table import Table, find_table, read_table
from npc_lib.cohort.volume import CANONICAL, Volume, read_nifti

#: fewer patients than this cannot be split into training and test cohorts for a run
RUN_MIN_PATIENTS = 10

_CHECK_MODES = ("full", "header", "none")


def _check_mode(check_images: str) -> str:
    if check_images not in _CHECK_MODES:
        raise ValueError(f"check_images must be one of {_CHECK_MODES}, got {check_images!r}")
    return check_images


def _check_sequences(sequences: Iterable[str] | None) -> tuple[str, ...] | None:
    if sequences is None:
        return None
    if isinstance(sequences, str):
        sequences = (sequences,)
    seqs = tuple(sequences)
    unknown = [s for s in seqs if s not in schema.SEQUENCES]
    if not seqs or unknown or len(set(seqs)) != len(seqs):
        raise ValueError(f"sequences must be distinct names from {schema.SEQUENCES}, got {seqs!r}")
    return seqs


def _check_roi_label(roi_label) -> int | None:
    if roi_label is None:
        return None
    if isinstance(roi_label, bool) or int(roi_label) != roi_label or roi_label < 1:
        raise ValueError(f"roi_label must be a positive integer (the tumour's label), got {roi_label!r}")
    return int(roi_label)


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
        MR sequences present (checked) that may be read.
    endpoints : tuple of str
        Endpoints whose columns are present (``dfs`` always; OS, DMFS and
        LRFS are optional).
    roi_label : int or None
        The tumour's label in multi-label masks.
    report : ValidationReport or None
        Warnings and notes of the validation.
    """

    root: Path
    clinical: pd.DataFrame
    sequences: tuple[str, ...] = field(default=schema.SEQUENCES)
    endpoints: tuple[str, ...] = field(default=schema.ENDPOINTS)
    roi_label: int | None = None
    report: ValidationReport | None = field(default=None, compare=False, repr=False)
    index: ImageIndex | None = field(default=None, compare=False, repr=False)

    @property
    def patient_ids(self) -> list[str]:
        """Patient identifiers in ``clinical.csv`` order."""
        return self.clinical["patient_id"].tolist()

    def _index(self) -> ImageIndex:
        if self.index is None:
            object.__setattr__(self, "index", ImageIndex(self.root))
        return self.index  # type: ignore[return-value]

    def _check_key(self, patient_id: str, sequence: str) -> None:
        if patient_id not in set(self.clinical["patient_id"]):
            raise ValueError(f"patient_id {patient_id!r} is not in this cohort")
        if sequence not in self.sequences:
            raise ValueError(f"sequence must be one of {self.sequences}, got {sequence!r}")

    def _path(self, patient_id: str, sequence: str, roi: bool) -> Path:
        self._check_key(patient_id, sequence)
        found = self._index().find(patient_id, sequence, roi)
        if found is not None:
            return found
        rel = schema.roi_relpath(patient_id, sequence) if roi else schema.image_relpath(patient_id, sequence)
        return self.root / rel

    def image_path(self, patient_id: str, sequence: str) -> Path:
        """Path of a patient's MR volume for ``sequence`` (``T1``, ``T2``, ``T1C``), as found on disk."""
        return self._path(patient_id, sequence, False)

    def roi_path(self, patient_id: str, sequence: str) -> Path:
        """Path of a patient's tumour mask for ``sequence``, as found on disk."""
        return self._path(patient_id, sequence, True)

    def read_image(self, patient_id: str, sequence: str) -> Volume:
        """The MR volume as float32 (header scaling applied), reoriented to RAS."""
        return read_nifti(self.image_path(patient_id, sequence), dtype=np.float32, canonical=True)

    def read_roi(self, patient_id: str, sequence: str) -> Volume:
        """The tumour mask as uint8 0/1, reoriented to RAS (rules of :func:`~npc_lib.cohort.images.mask_to_binary`).

        Raises
        ------
        CohortError
            If the mask cannot be read as binary (several labels without
            ``roi_label``, values not near 0/1) or has no tumour voxel.
        """
        path = self.roi_path(patient_id, sequence)
        vol = read_nifti(path, dtype=np.float64, canonical=True)
        try:
            mask, _ = mask_to_binary(vol.data, self.roi_label)
        except MaskProblem as exc:
            rel = self._index().relpath(patient_id, sequence, roi=True)
            raise CohortError(str(exc), file=rel, patient_id=patient_id, field="voxels") from None
        return Volume(data=mask, spacing=vol.spacing, affine=vol.affine)


# --------------------------------------------------------------------------- clinical


def _table_from_frame(df: pd.DataFrame, source: str) -> Table:
    frame = pd.DataFrame({
        str(c): ["" if (v is None or (not isinstance(v, str) and pd.isna(v))) else str(v) for v in df[c]]
        for c in df.columns
    }, dtype=object)
    if frame.shape[1] == 0:
        frame = pd.DataFrame(index=range(len(df)))
    return Table(frame=frame, source=source, lines=list(range(2, len(df) + 2)))


def validate_clinical(df: pd.DataFrame, source: str = schema.CLINICAL_FILE, *,
                      mapping=None) -> pd.DataFrame:
    """Check a clinical table and fix its dtypes; raise listing every problem.

    Parameters
    ----------
    df : DataFrame
        One row per patient with at least the required columns of
        :data:`schema.CLINICAL_COLUMNS` (OS, DMFS and LRFS are optional).
        Not modified.
    source : str
        File name used in error messages.
    mapping : path, dict or ColumnMapping, optional
        Column names, units and codes (:mod:`npc_lib.cohort.mapping`).

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
        Listing every problem (missing column, missing or non-numeric value,
        duplicate ``patient_id``, unknown category, negative time, event not
        0/1, implausible value, contradicting endpoints), each naming
        patient and field.

    Examples
    --------
    >>> import pandas as pd
    >>> row = dict(patient_id="P1", age=50, sex="m", hgb=140, family_history="no",
    ...            smoking="no", drinking="no", who_type="III", alb=44, crp=1.2,
    ...            ldh=180, ebv_dna=3000, scanner="S1")
    >>> row.update({f"{e}_{k}": v for e in ("dfs", "os", "dmfs", "lrfs")
    ...             for k, v in (("time", 60.0), ("event", 0))})
    >>> validate_clinical(pd.DataFrame([row]))["sex"].tolist()
    ['M']
    >>> validate_clinical(pd.DataFrame([{**row, "dfs_time": -3.0}]))
    Traceback (most recent call last):
    ...
    npc_lib.cohort.problems.CohortError: clinical.csv: patient P1, field dfs_time: negative time -3.0
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    report = ValidationReport(source=source)
    clinical, values, endpoints = _check_table(_table_from_frame(df.reset_index(drop=True), source),
                                               load_mapping(mapping), report)
    report.raise_if_errors()
    return clinical


def _check_table(table: Table, mapping: ColumnMapping | None, report: ValidationReport, required=None):
    clinical, values, endpoints = check_clinical(table, report, mapping, required)
    check_endpoint_agreement(values, endpoints, report, table.source)
    if clinical is not None and clinical.empty:
        report.error("no patients (the table has no rows)", file=table.source)
        clinical = None
    check_plausibility(values, endpoints, report, table.source, mapping)
    return clinical, values, endpoints


# --------------------------------------------------------------------------- images


def _detect_sequences(index: ImageIndex, pids: list[str]) -> tuple[str, ...]:
    found = []
    for seq in schema.SEQUENCES:
        if any(index.find(p, seq) is not None or index.find(p, seq, roi=True) is not None
               for p in pids if index.folder(p) is not None):
            found.append(seq)
    return tuple(found)


def _check_images(root: Path, index: ImageIndex, pids: list[str], rows_known: bool,
                  seqs: tuple[str, ...], full: bool, roi_label, progress: bool,
                  report: ValidationReport) -> None:
    if index.images_dir is None:
        report.error(f"image folder not found under {root}", file=schema.IMAGES_DIR, field="images")
        return
    for note in index.notes:
        report.note(note, file=schema.IMAGES_DIR)
    with_folder = []
    for pid in pids:
        if index.folder(pid) is None:
            report.error(f"no image folder for this {schema.CLINICAL_FILE} row", file=f"{schema.IMAGES_DIR}/{pid}",
                         patient_id=pid, field="patient_id")
        else:
            with_folder.append(pid)
    if rows_known:
        import unicodedata

        known = {unicodedata.normalize("NFC", p) for p in pids}
        for name in index.folders:
            if name not in known:
                report.error(f"image folder has no row in {schema.CLINICAL_FILE} (unmatched patient_id)",
                             file=f"{schema.IMAGES_DIR}/{name}", patient_id=name, field="patient_id")
    if not seqs:
        if with_folder:
            report.error("no MR volume found (expected T1, T2 or T1C .nii.gz in the patient folders)",
                         file=schema.IMAGES_DIR, field="file")
        return
    from tqdm import tqdm

    # gzip inflation releases the GIL, so a few threads help; results stay in patient order
    workers = max(1, min(4, os.cpu_count() or 1)) if full else 1
    tallies: dict[str, int] = {}
    with tqdm(total=len(with_folder), desc="checking images", disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(check_patient_images, root, index, pid, seqs, full=full, roi_label=roi_label)
                for pid in with_folder]
        for job in jobs:
            problems, counts = job.result()
            report.extend(problems)
            for k, v in counts.items():
                tallies[k] = tallies.get(k, 0) + v
            bar.update()
    if tallies.get("nii"):
        report.note(f"{tallies['nii']} file(s) stored as .nii (not .nii.gz): read as they are", file=schema.IMAGES_DIR)
    if tallies.get("squeezed"):
        report.note(f"{tallies['squeezed']} file(s) with a trailing length-1 axis: dropped", file=schema.IMAGES_DIR)
    for key in sorted(k for k in tallies if k.startswith("orient:")):
        report.note(f"{tallies[key]} volume(s) in {key[7:]} orientation: every volume is reoriented to "
                    f"{CANONICAL} (closest canonical) before preprocessing", file=schema.IMAGES_DIR, field="affine")


# --------------------------------------------------------------------------- entry points


def _validate(root, sequences, check_images, mapping, roi_label, progress, required=None):
    mode = _check_mode(check_images)
    seqs = _check_sequences(sequences)
    roi_label = _check_roi_label(roi_label)
    mapping = load_mapping(mapping)
    root = Path(root)
    report = ValidationReport(source=str(root))
    if not root.is_dir():
        report.error("cohort folder not found", file=str(root))
        return report, None, None, (), root, roi_label
    clinical, endpoints, pids, rows_known = None, (), [], False
    path = find_table(root, report)
    table = read_table(path, report, source=path.name) if path is not None else None
    if table is not None:
        clinical, values, endpoints = _check_table(table, mapping, report, required)
        report.n_patients = len(values)
        report.endpoints = endpoints
        pids = [p for p in values["patient_id"] if p is not None] if "patient_id" in values.columns else []
        rows_known = "patient_id" in values.columns
    index = ImageIndex(root)
    if not rows_known:
        pids = list(index.folders)
    if seqs is None:
        seqs = _detect_sequences(index, pids) if index.images_dir is not None else ()
        if mode != "none":
            for s in schema.SEQUENCES:
                if s not in seqs and index.images_dir is not None and pids:
                    report.note(f"sequence {s} absent (no {s}.nii.gz in any patient folder): "
                                "its signature is skipped", file=schema.IMAGES_DIR)
    report.sequences = seqs
    if mode != "none":
        _check_images(root, index, pids, rows_known, seqs, mode == "full", roi_label, progress, report)
    return report, clinical, index, seqs, root, roi_label


def validate_cohort(root: str | os.PathLike, *, mapping=None, roi_label: int | None = None,
                    check_images: str = "full", sequences: Iterable[str] | None = None,
                    progress: bool = False) -> ValidationReport:
    """Check a cohort and report every problem (never raises on bad data).

    Parameters
    ----------
    root : path-like
        Cohort folder in the layout of :mod:`npc_lib.cohort.schema`.
    mapping : path, dict or ColumnMapping, optional
        The user's column names, units and codes (:mod:`npc_lib.cohort.mapping`).
    roi_label : int, optional
        The tumour's label in multi-label masks.
    check_images : {"full", "header", "none"}
        ``"header"``: every patient has an image folder and every folder a
        row; each volume and mask exists, is readable NIfTI, is 3D, has
        non-zero finite voxel sizes, and each mask matches its image's shape
        and affine (within :data:`AFFINE_ATOL_MM`), from headers only.
        ``"full"`` also reads the voxels: finite, not constant, masks binary
        by the rules of :func:`~npc_lib.cohort.images.mask_to_binary`.
        ``"none"`` checks the clinical table only.
    sequences : iterable of str, optional
        Sequences that must be present; default: those found in the folders
        (a sequence absent for every patient is left out with a note).
    progress : bool
        Show a progress bar while checking images.

    Returns
    -------
    ValidationReport
        ``.ok``, ``.errors``, ``.warnings``, ``.notes``, ``.render()``,
        ``.to_json()``; ``.endpoints`` and ``.sequences`` present.

    Raises
    ------
    ValueError
        Only for bad arguments (mode, sequences, roi_label, an invalid
        mapping file).
    """
    return _validate(root, sequences, check_images, mapping, roi_label, progress)[0]


def load_cohort(root: str | os.PathLike, *, sequences: Iterable[str] | None = None,
                check_images: str = "full", progress: bool = False, mapping=None,
                roi_label: int | None = None, required: Iterable[str] | None = None) -> Cohort:
    """Validate a cohort (:func:`validate_cohort`) and load it; raise listing every error.

    ``required``: the clinical columns that must be present and complete
    (default: every column of the contract but the optional endpoints; a
    cohort to predict needs only ``patient_id`` and the model's variables,
    see :func:`~npc_lib.cohort.checks.check_clinical`).

    Returns
    -------
    Cohort
        With ``report`` holding the warnings and notes.

    Raises
    ------
    CohortError
        Listing every error, grouped by patient and file; with a single
        error the message is that error's line
        (``"<file>: patient <id>, field <field>: <problem>"``).

    Notes
    -----
    Reads only; never writes. ``truth.csv`` is never read.
    """
    report, clinical, index, seqs, root, roi_label = _validate(root, sequences, check_images, mapping,
                                                               roi_label, progress,
                                                               None if required is None else tuple(required))
    report.raise_if_errors()
    return Cohort(root=root, clinical=clinical, sequences=seqs, endpoints=report.endpoints,
                  roi_label=roi_label, report=report, index=index)


def check_run_ready(root: str | os.PathLike, *, mapping=None, roi_label: int | None = None,
                    check_images: str = "full", progress: bool = False) -> Cohort:
    """Load a cohort for ``npc run``: every validation error plus what a run needs.

    On top of :func:`load_cohort`'s errors: no DFS event (no model can be
    fitted) and fewer than :data:`RUN_MIN_PATIENTS` patients (too few to split
    into training and test cohorts) are errors. Call it before any chapter
    writes anything.

    Returns
    -------
    Cohort

    Raises
    ------
    CohortError
        Listing every error.
    """
    report, clinical, index, seqs, root, roi_label = _validate(root, None, check_images, mapping,
                                                               roi_label, progress)
    src = schema.CLINICAL_FILE
    if report.n_patients is not None and 0 < report.n_patients < RUN_MIN_PATIENTS:
        report.error(f"only {report.n_patients} patients: too few to split into training and test cohorts "
                     f"(at least {RUN_MIN_PATIENTS})", file=src)
    if clinical is not None and int(clinical["dfs_event"].sum()) == 0:
        report.error("no DFS event: no survival model can be fitted", file=src, field="dfs_event")
    report.raise_if_errors()
    return Cohort(root=root, clinical=clinical, sequences=seqs, endpoints=report.endpoints,
                  roi_label=roi_label, report=report, index=index)
