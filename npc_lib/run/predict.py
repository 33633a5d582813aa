"""Predictions from a model bundle: new patients' signatures, nomogram points, survival and risk group.

:func:`predict` scores every patient of a cohort folder (the SPEC layout,
validated as ``npc run`` validates it: column mapping, ROI label) with a
bundle (:func:`npc_lib.run.bundle.load_bundle`): each volume is read once,
preprocessed exactly as in training (the bundle's target spacing, boxes and
fitted intensity standardiser), scored by every ensemble member and centred
as in training; the nomogram file then codes the clinical values (its own
rules, :func:`npc_lib.coding.code_value`) and gives points, the linear
predictor, survival at any time and the locked risk group. A patient's row
depends only on that patient's files and values.

Safety, every problem at once: a missing sequence, file or clinical value
the model needs is an error naming the patient and the file or field (before
any network runs); images whose voxel spacing or intensity landmarks lie far
outside the development cohort's (the rule in ``development.json``,
:mod:`npc_lib.run.model_card`) raise one :class:`OutsideDevelopmentWarning`
per sequence and quantity naming the patients; predictors outside the
nomogram's axes are listed per patient (``outside_axes``).
"""

from __future__ import annotations

__all__ = ["PREDICTION_COLUMNS", "OutsideDevelopmentWarning", "predict", "bundle_signatures", "predict_patient",
           "PatientPrediction", "refit_standardizers", "outside_development", "survival_column", "compare_with_run"]

import functools
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from npc_lib.run.bundle import Bundle, BundleError, load_bundle
from npc_lib.stats.nomogram_prediction import NomogramPrediction

#: the columns of :func:`predict` (before the ``dfs_<t>`` of extra times)
PREDICTION_COLUMNS = ("patient_id", "DL_T1_sig", "DL_T2_sig", "DL_T1C_sig", "linear_predictor", "total_points",
                      "dfs_36", "dfs_60", "risk_group", "outside_axes")
_N_JOBS = 2


class OutsideDevelopmentWarning(UserWarning):
    """Images whose spacing or intensity range lies far outside the development cohort's."""


def survival_column(t: float) -> str:
    """``dfs_<t>``: the column of S(t).

    >>> survival_column(36.0), survival_column(12.5)
    ('dfs_36', 'dfs_12.5')
    """
    return f"dfs_{float(t):g}"


def _bundle(bundle) -> Bundle:
    return bundle if isinstance(bundle, Bundle) else load_bundle(bundle)


def _check_times(times) -> list[float]:
    try:
        ts = [float(t) for t in times]
    except (TypeError, ValueError):
        raise ValueError(f"times must be numbers, got {times!r}") from None
    if not ts or any(not np.isfinite(t) or t <= 0 for t in ts):
        raise ValueError(f"times must be positive and finite, got {ts}")
    return list(dict.fromkeys(ts))


def _cohort(cohort, bundle: Bundle, mapping=None, roi_label=None):
    """A loaded cohort with the bundle's sequences; a folder is validated (every problem at once)."""
    from npc_lib.cohort.load import Cohort, load_cohort

    if isinstance(cohort, Cohort):
        missing = [s for s in bundle.sequences if s not in cohort.sequences]
        if missing:
            raise BundleError([f"cohort {cohort.root}: sequence {s} missing (the model's signature DL_{s}_sig "
                               f"needs it)" for s in missing])
        return cohort
    return load_cohort(cohort, sequences=bundle.sequences, check_images="header", mapping=mapping,
                       roi_label=roi_label, required=bundle.clinical_variables())


def _ids(cohort, patient_ids) -> list[str]:
    ids = cohort.patient_ids if patient_ids is None else [str(p) for p in patient_ids]
    if not ids:
        raise ValueError("patient_ids is empty")
    unknown = sorted(set(ids) - set(cohort.patient_ids))
    if unknown:
        raise ValueError(f"patient_ids: not in the cohort: {unknown[:5]}")
    if len(set(ids)) != len(ids):
        raise ValueError("patient_ids has duplicates")
    return ids


def _check_clinical(bundle: Bundle, cohort, ids: list[str]) -> pd.DataFrame:
    """The clinical values the nomogram needs, one row per patient; every missing one an error."""
    need = bundle.clinical_variables()
    clin = cohort.clinical.assign(patient_id=cohort.clinical["patient_id"].astype(str)).set_index("patient_id")
    problems = [f"clinical table: field {v}: column missing (the model needs it)" for v in need
                if v not in clin.columns]
    if problems:
        raise BundleError(problems)
    table = clin.loc[ids, need]
    for v in need:
        for pid in table.index[table[v].isna()]:
            problems.append(f"clinical table: patient {pid}, field {v}: missing value (the model needs it)")
    if problems:
        raise BundleError(problems)
    return table


def outside_development(values, lo, hi, widen: float, min_widen: float) -> np.ndarray:
    """True where ``values`` lie outside ``[lo - w, hi + w]``, ``w = max(widen (hi - lo), min_widen |mid|)``.

    >>> outside_development([9.0, 12.5, 16.0], 10.0, 12.0, 0.5, 0.1).tolist()
    [False, False, True]
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    w = np.maximum(widen * (hi - lo), min_widen * np.abs((lo + hi) / 2))
    v = np.asarray(values, float)
    return (v < lo - w) | (v > hi + w)


def _warn_outside(bundle: Bundle, seq: str, ids: list[str], spacing: np.ndarray, landmarks: np.ndarray) -> None:
    dev = bundle.development
    ranges = (dev.get("sequences") or {}).get(seq)
    if not ranges:
        return
    k, m = float(dev["widen"]), float(dev["min_widen"])
    sp = ranges["spacing_mm"]
    checks = [("voxel spacing (mm)", spacing, sp["min"], sp["max"])]
    for j, key in ((0, "low"), (-1, "high")):
        r = ranges["intensity"][key]
        checks.append((f"{key} intensity landmark", landmarks[:, j], r["min"], r["max"]))
    for what, values, lo, hi in checks:
        bad = outside_development(values, lo, hi, k, m)
        rows = np.flatnonzero(bad.reshape(len(ids), -1).any(axis=1))
        if rows.size:
            vals = values[rows]
            shown = ", ".join(f"{ids[i]} ({np.round(v, 3).tolist()})" for i, v in zip(rows[:10], vals[:10]))
            more = f" and {rows.size - 10} more" if rows.size > 10 else ""
            warnings.warn(f"{seq}: {what} far outside the development cohort's range {lo} to {hi} "
                          f"({dev['rule']}): patient(s) {shown}{more}; their predictions are extrapolations",
                          OutsideDevelopmentWarning, stacklevel=3)


@functools.lru_cache(maxsize=6)
def _cached_signature(folder: str, seq: str, digests: tuple):
    from npc_lib.model.signature import load_signature

    return load_signature(folder, seq)


def _signature(bundle: Bundle, seq: str):
    """The loaded networks of ``seq``, reused while the bundle's files (by their verified SHA-256) are the same."""
    mine = (f"signatures/preprocess_{seq}.json", f"signatures/model_{seq}_member")
    digests = tuple(sorted((k, v) for k, v in bundle.manifest["files"].items() if k == mine[0] or k.startswith(mine[1])))
    return _cached_signature(str(bundle.signature_dir), seq, digests)


def _template(desc: Mapping) -> dict:
    return {k: desc[k] for k in ("percentiles", "scale", "foreground", "max_voxels")}


def _raw(bundle: Bundle, cohort, seq: str, ids: list[str], preprocess: Mapping, progress: bool):
    from npc_lib.imaging.instances import raw_bags

    meta = preprocess["instances"]
    return raw_bags(cohort, seq, ids, target_spacing=meta["target_spacing"], box_mm=meta["box_mm"],
                    box_px=meta["box_px"], centre=meta["centre"], min_area=meta["min_area"], n_jobs=_N_JOBS,
                    progress=progress, **_template(meta["standardizer"]))


def refit_standardizers(bundle, cohort, patient_ids, *, progress: bool = False) -> dict:
    """Intensity standardisers refitted on ``patient_ids`` of another centre (same settings as the bundle's).

    For a sensitivity analysis at a new centre (:func:`predict`'s
    ``standardizers``): the networks and their centring are unchanged; only
    the mapping of the new centre's intensities onto the standard scale is
    learnt from its own patients (their landmarks, no outcome).

    Returns
    -------
    dict
        Sequence -> fitted :class:`~npc_lib.imaging.standardize.HistogramStandardizer`.
    """
    from npc_lib.model.signature import read_preprocess

    bundle = _bundle(bundle)
    cohort = _cohort(cohort, bundle)
    ids = _ids(cohort, patient_ids)
    out = {}
    for seq in bundle.sequences:
        raw = _raw(bundle, cohort, seq, ids, read_preprocess(bundle.signature_dir, seq), progress)
        out[seq] = raw.fit_standardizer(ids)
    return out


def bundle_signatures(bundle, cohort, *, patient_ids: Sequence[str] | None = None,
                      standardizers: Mapping | None = None, mapping=None, roi_label: int | None = None,
                      progress: bool = False) -> pd.DataFrame:
    """Every signature of the bundle for a cohort's patients (each volume read once).

    Parameters
    ----------
    bundle : Bundle or path-like
    cohort : Cohort or path-like
        A loaded cohort or a cohort folder (validated with ``mapping`` and ``roi_label``).
    patient_ids : sequence of str, optional
        Default: every patient, in the cohort's order.
    standardizers : mapping, optional
        Sequence -> a fitted :class:`~npc_lib.imaging.standardize.HistogramStandardizer`
        used instead of the bundle's (e.g. :func:`refit_standardizers` on a new
        centre); sequences not given use the bundle's.
    mapping, roi_label
        As ``npc run`` (for a cohort folder).
    progress : bool

    Returns
    -------
    DataFrame
        ``patient_id`` and ``DL_<seq>_sig`` of each sequence of the bundle.

    Warns
    -----
    OutsideDevelopmentWarning
        Per sequence and quantity, naming the patients outside the development ranges.
    """
    from npc_lib.imaging.standardize import HistogramStandardizer

    bundle = _bundle(bundle)
    cohort = _cohort(cohort, bundle, mapping, roi_label)
    ids = _ids(cohort, patient_ids)
    unknown = sorted(set(standardizers or {}) - set(bundle.sequences))
    if unknown:
        raise ValueError(f"standardizers: sequence(s) {unknown} not in the bundle ({', '.join(bundle.sequences)})")
    out = pd.DataFrame({"patient_id": ids})
    for seq in bundle.sequences:
        model = _signature(bundle, seq)
        std = (standardizers or {}).get(seq) or HistogramStandardizer.from_dict(
            model.preprocess["instances"]["standardizer"])
        raw = _raw(bundle, cohort, seq, ids, model.preprocess, progress)
        _warn_outside(bundle, seq, ids, raw.spacing, raw.landmarks)
        risk = model.risk(raw.instances(ids, std))
        out[f"DL_{seq}_sig"] = risk.loc[ids].to_numpy(float)
    return out


def predict(bundle, cohort, *, times: Sequence[float] = (36.0, 60.0), patient_ids: Sequence[str] | None = None,
            standardizers: Mapping | None = None, mapping=None, roi_label: int | None = None,
            progress: bool = False) -> pd.DataFrame:
    """One row per patient: signatures, linear predictor, points, DFS at ``times``, risk group.

    Parameters
    ----------
    bundle : Bundle or path-like
        The model bundle (verified on opening: every hash).
    cohort : Cohort or path-like
        A cohort folder in the SPEC layout (outcomes optional; validated with
        ``mapping`` and ``roi_label`` as ``npc run`` validates) or a loaded cohort.
    times : sequence of float
        Times (the model's unit, months) of the ``dfs_<t>`` columns; 36 and 60 are always given.
    patient_ids, standardizers, mapping, roi_label, progress
        As :func:`bundle_signatures` (``standardizers``: intensity standardisers
        refitted at a new centre, :func:`refit_standardizers`).

    Returns
    -------
    DataFrame
        :data:`PREDICTION_COLUMNS` (a signature the bundle lacks is absent), the
        ``dfs_<t>`` of extra ``times`` after ``dfs_60``: ``linear_predictor`` is ``X'beta``
        (not centred; the bundle's ``nomogram.json`` holds the centre),
        ``risk_group`` ``"high"`` where ``total_points`` exceed the locked
        cut-off, else ``"low"``; ``outside_axes``: the covariates outside the
        nomogram's axes, ``;``-separated (empty if none). Without a nomogram
        part these columns are empty.

    Raises
    ------
    BundleError
        Every problem of the bundle, or every missing sequence, file or clinical value.
    """
    from npc_lib.stats.nomogram_export import NomogramCalculator

    bundle = _bundle(bundle)
    ts = _check_times([36.0, 60.0, *times])
    cohort = _cohort(cohort, bundle, mapping, roi_label)
    ids = _ids(cohort, patient_ids)
    clinical = _check_clinical(bundle, cohort, ids)
    out = bundle_signatures(bundle, cohort, patient_ids=ids, standardizers=standardizers, progress=progress)
    cols = {c: [] for c in ("linear_predictor", "total_points", *map(survival_column, ts), "risk_group",
                            "outside_axes")}
    if bundle.nomogram is None:
        for c in cols:
            out[c] = "" if c in ("risk_group", "outside_axes") else np.nan
        return out
    calc = NomogramCalculator.from_model(bundle.nomogram)
    cut = float(bundle.locked["cutoff_points"])
    sigs = out.set_index("patient_id")
    for pid in ids:
        values = {**{v: _clinical_value(clinical.at[pid, v]) for v in clinical.columns},
                  **{s: float(sigs.at[pid, s]) for s in bundle.signatures if s in calc.covariates}}
        try:
            r = calc.predict_clinical(values, times=ts)
        except ValueError as exc:
            raise BundleError([f"clinical table: patient {pid}: {exc}"]) from None
        cols["linear_predictor"].append(r.xbeta)
        cols["total_points"].append(r.total_points)
        for t in ts:
            cols[survival_column(t)].append(r.survival[t])
        cols["risk_group"].append("high" if r.total_points > cut else "low")
        cols["outside_axes"].append(";".join(r.outside_axis))
    for c, v in cols.items():
        out[c] = v
    return out


def _clinical_value(v):
    return str(v) if isinstance(v, str) or not isinstance(v, (int, float, np.number)) else float(v)


@dataclass(frozen=True)
class PatientPrediction:
    """One patient's prediction from their images by a model bundle (:func:`predict_patient`).

    ``signatures``: ``DL_<seq>_sig`` -> value; ``nomogram``: the calculator's
    :class:`~npc_lib.stats.nomogram_prediction.NomogramPrediction` and
    ``risk_group`` (``"high"`` where the total points exceed the locked
    cut-off, else ``"low"``), both None for a bundle without a nomogram.
    """

    signatures: dict[str, float]
    nomogram: NomogramPrediction | None = None
    risk_group: str | None = None

    def to_dict(self) -> dict:
        """Plain data: ``signatures``, the nomogram's fields and ``risk_group`` (as ``npc predict --json``)."""
        if self.nomogram is None:
            return {"signatures": dict(self.signatures)}
        return {"signatures": dict(self.signatures), **self.nomogram.to_dict(), "risk_group": self.risk_group}


def predict_patient(bundle, patient_dir, values: Mapping[str, object], *, times: Sequence[float] | None = None,
                    fill_missing: bool = False, roi_label: int | None = None) -> PatientPrediction:
    """The calculator's output for one patient from their images (a folder of ``<seq>.nii.gz`` and masks).

    Parameters
    ----------
    bundle : Bundle or path-like
    patient_dir : path-like
        One patient's folder as in a cohort (``T1.nii.gz``, ``T1_roi.nii.gz``, ...).
    values : mapping
        Clinical variables as a clinician knows them (as ``npc nomogram --value``).
    times, fill_missing
        As :meth:`~npc_lib.stats.nomogram_export.NomogramCalculator.predict_clinical`.

    Returns
    -------
    PatientPrediction
        ``signatures`` (``DL_<seq>_sig`` -> value), ``nomogram``
        (:meth:`NomogramCalculator.predict_clinical`'s result) and ``risk_group``;
        without a nomogram part, ``signatures`` only (the others None).
    """
    from npc_lib.cohort.load import Cohort
    from npc_lib.cohort.images import ImageIndex
    from npc_lib.stats.nomogram_export import NomogramCalculator

    bundle = _bundle(bundle)
    folder = Path(patient_dir).resolve()
    if not folder.is_dir():
        raise ValueError(f"patient folder {patient_dir} not found")
    given_sigs = sorted(set(values) & set(bundle.signatures))
    if given_sigs:
        raise ValueError(f"values: {given_sigs} are computed from the patient's images; do not give them")
    pid = folder.name
    with tempfile.TemporaryDirectory(prefix="npc_patient_") as tmp:
        (Path(tmp) / "images").mkdir()
        (Path(tmp) / "images" / pid).symlink_to(folder, target_is_directory=True)
        index = ImageIndex(Path(tmp))
        problems = [f"{folder}: {seq}{'_roi' if roi else ''}.nii.gz missing (the model's signature DL_{seq}_sig "
                    f"needs it)" for seq in bundle.sequences for roi in (False, True)
                    if index.find(pid, seq, roi) is None]
        if problems:
            raise BundleError(problems)
        cohort = Cohort(root=Path(tmp), clinical=pd.DataFrame({"patient_id": [pid]}), sequences=bundle.sequences,
                        roi_label=roi_label, index=index)
        sigs = bundle_signatures(bundle, cohort).iloc[0].drop("patient_id").astype(float).to_dict()
    if bundle.nomogram is None:
        return PatientPrediction(signatures=sigs)
    calc = NomogramCalculator.from_model(bundle.nomogram)
    result = calc.predict_clinical({**values, **{s: v for s, v in sigs.items() if s in calc.covariates}},
                                   fill_missing=fill_missing, times=times)
    return PatientPrediction(signatures=sigs, nomogram=result,
                             risk_group="high" if result.total_points > float(bundle.locked["cutoff_points"]) else "low")


def compare_with_run(bundle, run, patient_ids: Sequence[str], *, times: Sequence[float] = (36.0, 60.0)) -> pd.DataFrame:
    """The bundle's predictions beside the run's own numbers, for some of the run's patients (no identifier).

    The run's numbers: chapter 04's signatures, chapter 06's total points and
    risk groups, and DFS from chapter 05's Model_clinic+dl refitted on the
    training patients. Rows are numbered ``patient`` 1, 2, ... in the order of
    ``patient_ids``; each quantity has a ``<name> (run)`` and a ``<name> (bundle)`` column.
    """
    bundle = _bundle(bundle)
    ids = [str(p) for p in patient_ids]
    mine = predict(bundle, run.cohort(sequences=bundle.sequences), times=times, patient_ids=ids).set_index("patient_id")
    theirs = run.signatures().set_index("patient_id").loc[ids, list(bundle.signatures)]
    if bundle.nomogram is not None:
        frame = run.model_frame("dfs")
        fit = run.fitted_models(frame[frame["cohort"] == "train"])["Model_clinic+dl"]
        rows = frame.set_index("patient_id").loc[ids].reset_index()
        surv = fit.predict_survival(rows, list(times))
        groups = run.risk_groups().set_index("patient_id").loc[ids]
        theirs["total_points"] = groups["points"]
        for j, t in enumerate(times):
            theirs[survival_column(t)] = surv[:, j]
        theirs["risk_group"] = np.where(groups["high_risk"] == 1, "high", "low")
    out = pd.DataFrame({"patient": range(1, len(ids) + 1)})
    for c in theirs.columns:
        out[f"{c} (run)"] = theirs[c].to_numpy()
        out[f"{c} (bundle)"] = mine.loc[ids, c].to_numpy()
    return out
