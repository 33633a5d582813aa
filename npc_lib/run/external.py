"""The external cohort of a run: a second-centre twin or a user's folder, scored by the locked signatures.

Chapter 10 validates the locked model (the run's model bundle) on patients of
another centre. The profile names them in the chapter's knobs
(``chapters: {10_external_validation: {...}}``, :class:`ExternalSettings`):
by default a twin of the second centre (:data:`npc_lib.twin.centres.EXTERNAL`)
simulated inside the run, ``external_n_patients`` patients of seed
``external_seed``, kept in ``data/twin_external_n<N>_seed<S>``; or any cohort
folder of the user's (``external_cohort_dir``, with a column ``mapping`` and an
ROI label if needed), whose DFS outcomes are required (they are used to
evaluate the model, never to change it, except by the updates of
:mod:`npc_lib.run.updating`, on patients kept apart for them).

:func:`external_signatures` scores every patient with each locked signature
twice, reading each volume **once**
(:func:`~npc_lib.imaging.instances.raw_bags`): with the intensity standardiser
locked at development, and with one refitted on the external patients' own
images (their landmarks; no outcome used), so the chapter can show what
intensity harmonisation does at a new centre.
"""

from __future__ import annotations

__all__ = ["ExternalSettings", "ensure_external_cohort", "load_external_cohort", "external_twin_dir",
           "ExternalSignatures", "external_signatures", "external_frame", "EXTERNAL_COHORT", "profile_folder",
           "locked_bundle"]

import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from npc_lib._io import file_lock

#: the cohort label of the external patients in a model frame
EXTERNAL_COHORT = "external"


@dataclass(frozen=True)
class ExternalSettings:
    """Where the external cohort comes from.

    Attributes
    ----------
    cohort_dir : str or None
        A user's cohort folder (SPEC layout, DFS outcomes required); ``None``:
        the second-centre twin.
    mapping : str or None
        Column-mapping YAML of that folder's table.
    roi_label : int or None
        Mask label of the tumour in that folder.
    n_patients, seed : int
        Size and seed of the second-centre twin (ignored with ``cohort_dir``).
    """

    cohort_dir: str | None = None
    mapping: str | None = None
    roi_label: int | None = None
    n_patients: int = 400
    seed: int = 1

    def __post_init__(self):
        problems = []
        if isinstance(self.n_patients, bool) or not isinstance(self.n_patients, int) or self.n_patients < 10:
            problems.append(f"external_n_patients must be an integer >= 10, got {self.n_patients!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"external_seed must be a non-negative integer, got {self.seed!r}")
        if self.roi_label is not None and (isinstance(self.roi_label, bool) or not isinstance(self.roi_label, int)):
            problems.append(f"external_roi_label must be an integer or None, got {self.roi_label!r}")
        for key in ("cohort_dir", "mapping"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                problems.append(f"external_{key} must be a path (string) or None, got {value!r}")
        if problems:
            raise ValueError("external cohort: " + "; ".join(problems))

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any], base: str | os.PathLike | None = None) -> "ExternalSettings":
        """From chapter 10's knobs (``external_cohort_dir``, ``external_mapping``, ``external_roi_label``,
        ``external_n_patients``, ``external_seed``); ``""`` and ``None`` mean "not given".

        Relative paths are taken relative to ``base`` (the profile file's folder).

        >>> ExternalSettings.from_parameters({"external_n_patients": 50, "external_cohort_dir": ""})
        ExternalSettings(cohort_dir=None, mapping=None, roi_label=None, n_patients=50, seed=1)
        """
        def path(key):
            v = parameters.get(key)
            if v in (None, ""):
                return None
            if not isinstance(v, (str, os.PathLike)):
                return v  # refused by __post_init__, naming the knob
            p = Path(v)
            return str((Path(base) / p).resolve() if base is not None and not p.is_absolute() else p.resolve())

        defaults = cls()
        given = {k: parameters.get(f"external_{k}") for k in ("roi_label", "n_patients", "seed")}
        return cls(cohort_dir=path("external_cohort_dir"), mapping=path("external_mapping"),
                   roi_label=given["roi_label"],
                   n_patients=defaults.n_patients if given["n_patients"] is None else given["n_patients"],
                   seed=defaults.seed if given["seed"] is None else given["seed"])

    @property
    def is_twin(self) -> bool:
        return self.cohort_dir is None

    def describe(self) -> str:
        """The cohort in words (no local path: a user's folder by its name)."""
        if self.is_twin:
            return f"second-centre twin, {self.n_patients} patients, seed {self.seed}"
        return f"cohort folder {Path(self.cohort_dir).name}"


def external_twin_dir(settings: ExternalSettings) -> Path:
    """Where the second-centre twin of ``settings`` lives: ``data/twin_external_n<N>_seed<S>``."""
    from npc_lib.profiles import project_root

    return project_root() / "data" / f"twin_external_n{settings.n_patients}_seed{settings.seed}"


def ensure_external_cohort(settings: ExternalSettings, *, progress: bool = False,
                           n_jobs: int | None = None) -> tuple[Path, str]:
    """``(cohort_dir, stamp)``: a user's folder as it is, or the second-centre twin, simulated if needed.

    The twin is simulated again only when its stamp (size, seed, centre, the
    simulator's code) no longer matches, as the development twin
    (:func:`npc_lib.run.cohort_source.ensure_cohort`).
    """
    if not settings.is_twin:
        folder = Path(settings.cohort_dir)
        if not folder.is_dir():
            raise ValueError(f"external_cohort_dir: {folder} is not a folder")
        if not any(folder.glob("clinical.*")):
            raise ValueError(f"external_cohort_dir: {folder} has no clinical.csv")
        return folder, ""
    from npc_lib.run.cohort_source import ensure_twin

    target = external_twin_dir(settings)
    with file_lock(target.with_suffix(".lock")):  # one process simulates; the others then find it made
        return ensure_twin(target, n=settings.n_patients, seed=settings.seed, centre="external", progress=progress,
                           n_jobs=n_jobs)


def load_external_cohort(settings: ExternalSettings, folder: str | os.PathLike, *, sequences: Sequence[str]):
    """The external cohort, validated (every problem at once), with the ``sequences`` the signatures need.

    Raises
    ------
    ValueError
        A cohort without DFS outcomes or without a DFS event (nothing to
        validate against), or lacking a sequence a locked signature needs.
    """
    from npc_lib.cohort.load import load_cohort

    cohort = load_cohort(folder, check_images="header" if not settings.is_twin else "none",
                         mapping=settings.mapping, roi_label=settings.roi_label)
    missing = [s for s in sequences if s not in cohort.sequences]
    if missing:
        raise ValueError(f"external cohort {Path(folder).name}: no {', '.join(missing)} images, which the locked "
                         f"signature(s) need")
    if int(cohort.clinical["dfs_event"].sum()) == 0:
        raise ValueError(f"external cohort {Path(folder).name}: no DFS event: the model cannot be validated on it")
    return cohort


@dataclass(frozen=True, eq=False)
class ExternalSignatures:
    """The locked signatures of the external patients, with either standardiser.

    Attributes
    ----------
    locked : DataFrame
        ``patient_id, DL_<seq>_sig...``: the development standardiser (the bundle's).
    refitted : DataFrame
        The same, each sequence's standardiser refitted on the external patients' images.
    standardizers : dict
        ``{seq: {"locked": HistogramStandardizer, "refitted": HistogramStandardizer}}``.
    seconds : dict
        ``{"read": ..., "score": ...}``: reading and resampling the volumes (once), and scoring both.
    """

    locked: pd.DataFrame
    refitted: pd.DataFrame
    standardizers: dict
    seconds: dict = field(default_factory=dict)


def external_signatures(signature_dir: str | os.PathLike, cohort, sequences: Sequence[str], *,
                        patient_ids: Sequence[str] | None = None, n_jobs: int = 2) -> ExternalSignatures:
    """Score ``cohort`` with the signatures saved in ``signature_dir``, under both standardisers.

    Each volume is read and resampled once per sequence
    (:func:`~npc_lib.imaging.instances.raw_bags`); its tumour boxes are then
    standardised with the locked standardiser (``preprocess_<seq>.json``) and
    with one refitted on these patients' landmarks alone
    (:meth:`~npc_lib.imaging.instances.RawBags.fit_standardizer`), and each
    set is scored by every ensemble member (:class:`~npc_lib.model.signature.SignatureModel`).

    Parameters
    ----------
    signature_dir : path-like
        A run's ``04_signatures`` or a bundle's ``signatures/``.
    cohort : Cohort
    sequences : sequence of str
    patient_ids : sequence of str, optional
        Default: every patient of ``cohort``.
    n_jobs : int
        Threads reading volumes.
    """
    from npc_lib.cohort.covariates import signature_name
    from npc_lib.imaging.instances import raw_bags
    from npc_lib.imaging.standardize import HistogramStandardizer
    from npc_lib.model.signature import load_signature

    ids = list(map(str, cohort.patient_ids if patient_ids is None else patient_ids))
    if not sequences:
        raise ValueError("sequences: no locked signature to score with")
    locked, refitted, stds = {"patient_id": ids}, {"patient_id": ids}, {}
    seconds = {"read": 0.0, "score": 0.0}
    for seq in sequences:
        model = load_signature(signature_dir, seq)
        meta = model.preprocess["instances"]  # the preprocessing fitted in development, as the bundle stores it
        std_locked = HistogramStandardizer.from_dict(meta["standardizer"])
        t0 = _time.perf_counter()
        raw = raw_bags(cohort, seq, ids, target_spacing=meta["target_spacing"], box_mm=meta["box_mm"],
                       box_px=meta["box_px"], centre=meta["centre"], min_area=meta["min_area"], n_jobs=n_jobs,
                       percentiles=std_locked.percentiles, scale=std_locked.scale, foreground=std_locked.foreground,
                       max_voxels=std_locked.max_voxels)
        std_refit = raw.fit_standardizer(ids)
        t1 = _time.perf_counter()
        name = signature_name(seq)
        for table, std in ((locked, std_locked), (refitted, std_refit)):
            risk = model.risk(raw.instances(ids, std))
            table[name] = risk.reindex(ids).to_numpy(dtype=float)
        seconds["read"] += t1 - t0
        seconds["score"] += _time.perf_counter() - t1
        stds[seq] = {"locked": std_locked, "refitted": std_refit}
    return ExternalSignatures(locked=pd.DataFrame(locked), refitted=pd.DataFrame(refitted), standardizers=stds,
                              seconds={k: round(v, 2) for k, v in seconds.items()})


def external_frame(cohort, signatures: pd.DataFrame | None = None, endpoint: str = "dfs") -> pd.DataFrame:
    """The external patients' model frame (cohort ``"external"``): outcome, coded covariates, signatures."""
    from npc_lib.cohort.covariates import model_frame

    ids = cohort.clinical["patient_id"].astype(str)
    split = pd.DataFrame({"patient_id": ids, "cohort": EXTERNAL_COHORT})
    sig = None if signatures is None else signatures.assign(cohort=EXTERNAL_COHORT)
    frame = model_frame(cohort.clinical, split, sig, endpoint=endpoint)
    if not np.isfinite(frame["time"].to_numpy(dtype=float)).all():
        raise ValueError("external cohort: DFS follow-up missing for some patients (outcomes are required)")
    return frame


def profile_folder(config) -> Path:
    """The folder relative paths of a run's profile are taken from (the profile file's, or ``book/params``)."""
    from npc_lib.profiles import params_dir

    src = str(getattr(config, "source", "") or "")
    return Path(src).resolve().parent if src.endswith((".yml", ".yaml")) else params_dir()


#: where a run may hold its locked model bundle (chapter 06 writes it), first match wins
_BUNDLE_PLACES = ("model", "06_nomogram/bundle", "bundle")


def locked_bundle(run, folder: str | os.PathLike):
    """The run's locked model bundle (:func:`npc_lib.run.bundle.load_bundle`, every hash checked).

    The bundle chapter 06 wrote when there is one; otherwise it is exported
    from the run's chapters 04-06 into ``folder`` (:func:`~npc_lib.run.bundle.export_bundle`).
    """
    from npc_lib.run.bundle import export_bundle, load_bundle

    where = getattr(run, "bundle_path", None)
    places = ([Path(where())] if callable(where) else []) + [run.dir / p for p in _BUNDLE_PLACES]
    for place in places:
        if (place / "manifest.json").is_file():
            return load_bundle(place)
    return load_bundle(export_bundle(run, folder))
