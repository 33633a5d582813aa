"""Import a DICOM export (MR series + RTSTRUCT) into a cohort folder: ``npc import-dicom``.

Steps: walk the folder (:mod:`~npc_lib.dicom.scan`), choose each patient's
study, series and ROIs from the headers (:mod:`~npc_lib.dicom.plan`), read
each chosen series with its slices sorted by position
(:mod:`~npc_lib.dicom.series`), rasterise the tumour contours on that
sequence's own grid (:mod:`~npc_lib.dicom.rtstruct`: pixel centres inside the
contours, even-odd, nearest contoured plane), and write
``images/<id>/{T1,T2,T1C}[_roi].nii.gz`` (reoriented to the closest RAS
voxel order, which only flips or permutes axes) and a starting
``clinical.csv`` (age, sex and scanner from the headers; every other column,
the outcomes included, empty for the user to fill in).

Series reader: pydicom, by measurement (``docs/benchmarks.md``, DICOM import,
``benchmarks/bench_dicom_import.py``). The folder walk must parse every header
anyway (to group files by patient, study and series and to apply the rules),
and pydicom's parse stops where the pixel data begin: for an uncompressed
little-endian slice the pixels are then read straight from the file at that
offset (:attr:`~npc_lib.dicom.scan.Instance.raw`), so each file is parsed once.
SimpleITK's GDCM series reader would parse every file a second time (its
``ImageSeriesReader`` took longer per file than pydicom's whole read with
``pixel_array``, and its ``GetGDCMSeriesFileNames`` sort comes on top) and
would still leave the checks to us (duplicates, gaps, interleaved series:
SimpleITK issues #1609, #1185, #2176); pydicom also gives each slice's
rescale and the enhanced multi-frame functional groups directly, and decodes
compressed transfer syntaxes (``pixel_array``) when a slice is not plain.

Privacy: nothing from a header but age, sex and scanner model enters the
cohort; patient ids are pseudonyms (:mod:`~npc_lib.dicom.privacy`); the only
record of what was mapped to what is the report written **beside** the cohort
(``<cohort>.import-report.json``), never inside it. Errors stop the import
before anything is written (the cohort is built in a temporary folder moved
into place at the end).
"""

from __future__ import annotations

__all__ = ["ImportResult", "import_dicom", "clinical_from_headers", "report_path", "secret_path", "patient_task",
           "STAGES", "OUTSIDE_ERROR_FRACTION"]

import contextlib
import gzip
import os
import time
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from npc_lib._io import atomic_dir, write_json
from npc_lib.cohort import schema

from .plan import PatientPlan, plan_patient
from .privacy import Pseudonymiser
from .problems import DicomImportError, ProblemList
from .rtstruct import rasterise
from .rules import ImportRules, load_rules, rules_from_dict
from .scan import Series, scan_folder
from .series import SeriesVolume, lps_to_ras, read_series

#: fraction of a ROI's contour points outside a grid above which the mask is refused
OUTSIDE_ERROR_FRACTION = 0.05
_GZIP_LEVEL = 1
STAGES = ("scanning", "reading", "sorting", "rasterising", "writing")


def report_path(out: Path) -> Path:
    """Default report: ``<cohort>.import-report.json`` beside the cohort folder."""
    out = Path(out)
    return out.parent / f"{out.name}.import-report.json"


def secret_path(out: Path) -> Path:
    """Default HMAC secret file: ``<cohort>.secret`` beside the cohort folder."""
    out = Path(out)
    return out.parent / f"{out.name}.secret"


@dataclass
class ImportResult:
    """Outcome of :func:`import_dicom`.

    ``ids`` maps DICOM PatientID -> cohort patient_id (it is written only to
    the report); ``timings`` holds seconds per stage (:data:`STAGES`).
    """

    cohort: Path
    report: Path
    ids: dict[str, str]
    problems: ProblemList
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_patients(self) -> int:
        return len(self.ids)


def _check_out(out, overwrite: bool) -> Path:
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ValueError(f"--out {out} exists and is not empty: name a new folder (or overwrite=True)")
    return out


def _age(demo: dict) -> float | None:
    text = demo.get("PatientAge", "")
    if len(text) == 4 and text[:3].isdigit() and text[3] in "YMWD":
        return round(int(text[:3]) / {"Y": 1, "M": 12, "W": 52.1775, "D": 365.25}[text[3]], 1)
    born, seen = demo.get("PatientBirthDate", ""), demo.get("StudyDate", "")
    try:
        b = date(int(born[:4]), int(born[4:6]), int(born[6:8]))
        s = date(int(seen[:4]), int(seen[4:6]), int(seen[6:8]))
    except ValueError:
        return None
    return float(s.year - b.year - ((s.month, s.day) < (b.month, b.day)))


def _scanner(demo: dict) -> str:
    field_t = demo.get("MagneticFieldStrength", "")
    try:
        strength = f"{float(field_t):g}T"
    except ValueError:
        strength = ""
    words = [demo.get("Manufacturer", ""), demo.get("ManufacturerModelName", ""), strength]
    text = " ".join(w for w in words if w).replace(",", " ")
    return text or ""


def clinical_from_headers(series: Series) -> dict:
    """Age (years), sex (M/F) and scanner (manufacturer, model, field strength) from a series' headers.

    Examples
    --------
    >>> from npc_lib.dicom.scan import Series
    >>> s = Series("1", "x", "2", "MR", "3", "t1", "", "4", {"PatientAge": "051Y", "PatientSex": "F",
    ...            "Manufacturer": "GE", "ManufacturerModelName": "Signa", "MagneticFieldStrength": "3"})
    >>> clinical_from_headers(s)
    {'age': 51.0, 'sex': 'F', 'scanner': 'GE Signa 3T'}
    """
    demo = series.demographics
    sex = demo.get("PatientSex", "").upper()
    return {"age": _age(demo), "sex": sex if sex in ("M", "F") else None, "scanner": _scanner(demo) or None}


def _nifti(data: np.ndarray, affine_ras: np.ndarray):
    import nibabel as nib

    img = nib.as_closest_canonical(nib.Nifti1Image(data, affine_ras))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    img.header.set_xyzt_units("mm")
    return img


def _write_nifti(path: Path, data: np.ndarray, affine_ras: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(_nifti(data, affine_ras).to_bytes(), compresslevel=_GZIP_LEVEL, mtime=0))


def _source_spacing(series: Series | None) -> float | None:
    if series is None or len(series.instances) < 2 or series.instances[0].orientation is None:
        return None
    o = np.array(series.instances[0].orientation)
    normal = np.cross(o[:3], o[3:])
    d = np.unique(np.round([np.dot(i.position, normal) for i in series.instances if i.position], 3))
    return float(np.median(np.diff(d))) if len(d) > 1 else None


def _mask(plan: PatientPlan, seq: str, vol: SeriesVolume, problems: ProblemList) -> np.ndarray | None:
    roi, source = plan.rois[seq], plan.roi_source[seq]
    where = dict(patient=plan.patient_id, series=plan.series[seq].label, file=str(plan.structure.path))
    own = source is not None and source.uid == plan.series[seq].uid
    try:
        r = rasterise(roi.contours, vol.affine_lps, vol.data.shape,
                      source_spacing_mm=None if own else _source_spacing(source), transform=plan.transforms[seq])
    except ValueError as exc:
        problems.add("error", f"ROI '{roi.name}': {exc}", **where)
        return None
    if r.outside_fraction > (0.0 if own else OUTSIDE_ERROR_FRACTION):
        problems.add("error", f"ROI '{roi.name}' falls outside the {seq} image: {100 * r.outside_fraction:.1f}% of "
                     "its contour points lie outside the series' grid", **where)
        return None
    if not r.mask.any():
        problems.add("error", f"ROI '{roi.name}' gives an empty mask on {seq}'s grid ({r.n_planes} contoured "
                     "plane(s) within its slices, no voxel centre inside a contour)", **where)
        return None
    if r.outside_fraction > 0:
        problems.add("warning", f"ROI '{roi.name}': {100 * r.outside_fraction:.1f}% of its contour points lie "
                     f"outside {seq}'s grid (clipped)", **where)
    return r.mask


def _import_patient(plan: PatientPlan, pid: str, root: Path, problems: ProblemList, timings: dict) -> dict | None:
    """Read, rasterise and write one planned patient; the report's entry, or None on error."""
    n_errors = len(problems.errors)
    entry = {"patient_id": pid, "dicom_patient_id": plan.patient_id, "study": {
        "uid": plan.study.uid, "description": plan.study.description, "id": plan.study.study_id},
        "rtstruct": str(plan.structure.path), "sequences": {}}
    out = {}
    for seq, series in plan.series.items():
        vol = read_series(series, plan.geometry[seq], problems, timings)
        if vol is None:
            continue
        t0 = time.perf_counter()
        mask = _mask(plan, seq, vol, problems)
        timings["rasterising"] = timings.get("rasterising", 0.0) + time.perf_counter() - t0
        if mask is None:
            continue
        out[seq] = (vol, mask)
        roi, source = plan.rois[seq], plan.roi_source[seq]
        entry["sequences"][seq] = {
            "series_uid": series.uid, "series": series.label, "files": len(series.instances),
            "folder": str(series.instances[0].path.parent), "shape": list(vol.data.shape),
            "spacing_mm": [float(np.linalg.norm(vol.affine_lps[:3, a])) for a in range(3)],
            "oblique_deg": round(plan.geometry[seq].angle, 2), "roi": roi.name,
            "roi_drawn_on": source.label if source is not None else "a series not in the folder",
            "mask_voxels": int(mask.sum())}
    if len(problems.errors) > n_errors:
        return None
    t0 = time.perf_counter()
    for seq, (vol, mask) in out.items():
        affine = lps_to_ras(vol.affine_lps)
        _write_nifti(root / schema.image_relpath(pid, seq), vol.data, affine)
        _write_nifti(root / schema.roi_relpath(pid, seq), mask, affine)
    timings["writing"] = timings.get("writing", 0.0) + time.perf_counter() - t0
    return entry


def patient_task(task: tuple) -> tuple:
    """:func:`_import_patient` on ``(plan, pid, root)`` in a fresh problem list: (entry, row, problems, timings)."""
    plan, pid, root = task
    problems, timings = ProblemList(), {}
    entry = _import_patient(plan, pid, Path(root), problems, timings)
    row = None
    if entry is not None:
        row = {"patient_id": pid, **clinical_from_headers(plan.series[next(iter(plan.series))])}
    return entry, row, problems, timings


def _run_patients(tasks: list[tuple], pool, n_jobs: int, progress: bool):
    if pool is None:
        results = map(patient_task, tasks)
    else:
        results = pool.map(patient_task, tasks, chunksize=max(1, min(16, len(tasks) // (4 * n_jobs))))
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=len(tasks), desc="import-dicom", unit="patient")
    return results


def _pool(n_jobs: int):
    """A process pool (spawned processes: safe beside threads) or a null context for one process."""
    if n_jobs <= 1:
        return contextlib.nullcontext()
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn"))


def _check_jobs(n_jobs, n_files: int) -> int:
    if n_jobs is None:  # a pool pays off from a few hundred files on
        return 1 if n_files < 400 else max(1, min(4, os.cpu_count() or 1))
    if int(n_jobs) < 1:
        raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
    return int(n_jobs)


def _resolve_rules(rules) -> ImportRules:
    if isinstance(rules, ImportRules):
        return rules
    if isinstance(rules, dict):
        return rules_from_dict(rules)
    return load_rules(rules)


def import_dicom(src, out, rules, *, report=None, overwrite: bool = False, progress: bool = False,
                 n_jobs: int | None = None) -> ImportResult:
    """Import a DICOM export into a cohort folder; every problem at once, nothing half-written.

    Parameters
    ----------
    src : path-like
        Folder of DICOM files (any depth, names and order).
    out : path-like
        Cohort folder to create (must not exist or be empty unless ``overwrite``).
    rules : path-like, dict or ImportRules
        The rules (:mod:`npc_lib.dicom.rules`): which series is T1, T2, T1C and
        which ROI is the tumour.
    report : path-like, optional
        The mapping report (default :func:`report_path`, beside the cohort);
        it must not lie inside the cohort.
    overwrite : bool
        Replace an existing cohort folder (only once the new one is complete).
    progress : bool
        Show a progress bar over patients.
    n_jobs : int, optional
        Processes reading headers and patients (default: 1 below 400 files,
        else the CPUs, at most 4).

    Returns
    -------
    ImportResult

    Raises
    ------
    DicomImportError
        Listing every error (and the warnings and notes), each naming the
        patient, series and file; nothing is written.
    ValueError
        Bad arguments or rules.

    Notes
    -----
    With ``n_jobs > 1`` the worker processes are spawned: a script calling
    this needs the usual ``if __name__ == "__main__":`` guard.
    """
    out = _check_out(out, overwrite)
    rules = _resolve_rules(rules)
    report = Path(report) if report is not None else report_path(out)
    if report.resolve().is_relative_to(out.resolve()):
        raise ValueError(f"report {report} lies inside the cohort {out}: it holds the original patient ids, "
                         "so it must be written beside the cohort, not inside")
    pseudonyms = Pseudonymiser.from_files(rules.key_file, rules.secret_file or secret_path(out), rules.id_prefix)
    timings = {stage: 0.0 for stage in STAGES}
    t0 = time.perf_counter()
    n_files = sum(len(names) for _, _, names in os.walk(src)) if Path(src).is_dir() else 0
    n_jobs = _check_jobs(n_jobs, n_files)
    with _pool(n_jobs) as pool:
        return _import(src, out, rules, report, pseudonyms, pool, n_jobs, progress, timings, t0)


def _import(src, out: Path, rules: ImportRules, report: Path, pseudonyms: Pseudonymiser, pool, n_jobs: int,
            progress: bool, timings: dict, t0: float) -> ImportResult:
    import pandas as pd

    scan = scan_folder(src, pool=pool)
    timings["scanning"] = time.perf_counter() - t0
    problems = scan.problems
    plans, ids = {}, {}
    for dicom_id, patient in scan.patients.items():
        pid = pseudonyms(dicom_id)
        if pid is None:
            problems.add("error", f"not in the key file {rules.key_file}", patient=dicom_id)
            continue
        plan = plan_patient(patient, rules, problems)
        if plan is not None:  # the study without its files: less to hand to a process
            plan.study = replace(plan.study, series={}, rtstructs=[], registrations=[])
            plans[dicom_id], ids[dicom_id] = plan, pid
    entries, rows = [], []
    with atomic_dir(out) as tmp:
        tasks = [(plan, ids[dicom_id], str(tmp)) for dicom_id, plan in plans.items()]
        for entry, row, found, spent in _run_patients(tasks, pool, n_jobs, progress):
            problems.extend(found)
            for stage, seconds in spent.items():
                timings[stage] += seconds
            if entry is not None:
                entries.append(entry)
                rows.append(row)
        if not problems.ok:
            raise DicomImportError(problems)
        t0 = time.perf_counter()
        table = pd.DataFrame(rows, columns=["patient_id", "age", "sex", "scanner"])
        table = table.reindex(columns=list(schema.CLINICAL_COLUMNS))
        table.sort_values("patient_id").to_csv(tmp / schema.CLINICAL_FILE, index=False)
        timings["writing"] += time.perf_counter() - t0
    if pseudonyms.save_secret(rules.secret_file or secret_path(out)):
        problems.add("note", f"patient ids are keyed hashes (HMAC-SHA256) with a new secret written to "
                     f"{rules.secret_file or secret_path(out)}: keep it private (a later import with it gives the "
                     "same ids; without it nobody can recompute them)")
    problems.add("note", f"clinical.csv holds age, sex and scanner from the headers; fill in the other columns and "
                 f"the outcomes ({', '.join(schema.time_col(e) + '/' + schema.event_col(e) for e in schema.ENDPOINTS)}"
                 "), then run npc validate")
    write_json({"cohort": str(out.resolve()), "source": str(Path(src).resolve()),
                "patient_ids": "key file" if rules.key_file else "HMAC-SHA256 keyed hash",
                "patients": sorted(entries, key=lambda e: e["patient_id"]), "problems": problems.to_records(),
                "timings_s": timings, "warning": "This report holds the original patient ids: keep it out of "
                                                 "shared folders."}, report)
    return ImportResult(out, report, dict(sorted(ids.items())), problems, timings)
