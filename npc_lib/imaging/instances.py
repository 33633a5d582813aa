"""From a cohort to bags of 2D instances for multiple-instance learning (A3 -> A6).

For one MR sequence, every patient becomes a *bag* of tumour-centred boxes, one
per tumour slice. Per patient:

1. read the volume and its tumour mask;
2. landmarks of the volume's foreground histogram on the acquired grid
   (:meth:`HistogramStandardizer.image_landmarks`);
3. bilinear in-plane resampling to ``target_spacing`` restricted to a box of
   ``box_mm`` mm around the ROI centre on every tumour slice
   (:func:`~npc_lib.imaging.boxes.tumour_boxes` with ``pixel_mm``); if
   ``box_px`` is smaller than ``box_mm / target_spacing`` the boxes are then
   shrunk (anti-aliased) to ``box_px`` pixels;
4. Nyul standardisation with the image's own landmarks (fitted on the training
   patients only, :func:`fit_standardizer`), then an affine *net scaling*
   ``(s - loc) / scale`` with ``loc``, ``scale`` the mean and SD of the standard
   landmarks, which gives the foreground roughly zero mean and unit variance.

The order follows the paper (interpolation, then normalisation).

Steps 1-3 do not depend on the training patients, only step 4 does: a
:class:`RawBags` (:func:`raw_bags`) holds every patient's boxes before
standardisation and their landmarks, so a cross-validation reads each volume
once and refits the standardiser per fold from the landmarks
(:meth:`RawBags.fit_standardizer`, :meth:`RawBags.instances`), with exactly
the numbers of :func:`fit_standardizer` and :func:`build_instances`.
"""

from __future__ import annotations

__all__ = ["InstanceSet", "build_instances", "fit_standardizer", "patient_boxes", "net_scaling", "RawBags",
           "raw_bags"]

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from npc_lib._io import atomic_path
from npc_lib.imaging.boxes import resize_boxes, tumour_boxes
from npc_lib.imaging.standardize import HistogramStandardizer

_FORMAT = "npc_lib.InstanceSet/1"


def _check_pair(name: str, value, *, integer: bool = False) -> tuple:
    v = np.atleast_1d(np.asarray(value, dtype=float))
    if v.size == 1:
        v = np.repeat(v, 2)
    if v.size != 2 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{name} must be one or two positive numbers, got {value!r}")
    if integer:
        if np.any(v != np.round(v)):
            raise ValueError(f"{name} must be integer pixels, got {value!r}")
        return int(v[0]), int(v[1])
    return float(v[0]), float(v[1])


def _check_ids(cohort, patient_ids, name: str = "patient_ids") -> list[str]:
    ids = [str(p) for p in patient_ids]
    if not ids:
        raise ValueError(f"{name} is empty")
    if len(set(ids)) != len(ids):
        dup = sorted({p for p in ids if ids.count(p) > 1})
        raise ValueError(f"{name} has duplicates: {dup[:5]}")
    known = set(map(str, cohort.patient_ids))
    unknown = [p for p in ids if p not in known]
    if unknown:
        raise ValueError(f"{name}: not in the cohort: {unknown[:5]}")
    return ids


@dataclass(frozen=True, eq=False)
class InstanceSet:
    """Bags of tumour boxes of one MR sequence.

    Attributes
    ----------
    x : ndarray, float32, shape (N, H, W, 1)
        Standardised, net-scaled boxes (channels-last, for Keras).
    bag : ndarray of int64, shape (N,)
        Index into ``patient_ids`` of each instance's patient.
    patient_ids : list of str
        Patients, in bag order; each has at least one instance.
    slice_index : ndarray of int64, shape (N,)
        Axial slice (z index in the patient's volume) of each instance.
    sequence : str
        MR sequence (``T1``, ``T2``, ``T1C``).
    meta : dict
        Parameters that made the set (box size, spacing, net scaling, ...).
    """

    x: np.ndarray
    bag: np.ndarray
    patient_ids: list[str]
    slice_index: np.ndarray
    sequence: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        x, bag, zi = np.asarray(self.x), np.asarray(self.bag), np.asarray(self.slice_index)
        if x.ndim != 4 or x.shape[3] != 1:
            raise ValueError(f"x must have shape (N, H, W, 1), got {x.shape}")
        n = x.shape[0]
        if bag.shape != (n,) or zi.shape != (n,):
            raise ValueError(f"bag {bag.shape} and slice_index {zi.shape} must have shape ({n},)")
        if len(set(self.patient_ids)) != len(self.patient_ids):
            raise ValueError("patient_ids has duplicates")
        if n and (bag.min() < 0 or bag.max() >= len(self.patient_ids)):
            raise ValueError("bag indices out of range of patient_ids")
        counts = np.bincount(bag.astype(np.int64), minlength=len(self.patient_ids))
        if np.any(counts == 0):
            empty = [self.patient_ids[i] for i in np.flatnonzero(counts == 0)[:5]]
            raise ValueError(f"patient(s) without instances: {empty}")
        object.__setattr__(self, "x", x.astype(np.float32, copy=False))
        object.__setattr__(self, "bag", bag.astype(np.int64, copy=False))
        object.__setattr__(self, "slice_index", zi.astype(np.int64, copy=False))
        object.__setattr__(self, "patient_ids", [str(p) for p in self.patient_ids])

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_patients(self) -> int:
        return len(self.patient_ids)

    def bags(self) -> list[np.ndarray]:
        """Instance indices of each patient, in ``patient_ids`` order (slice order within a bag)."""
        order = np.argsort(self.bag, kind="stable")
        counts = np.bincount(self.bag, minlength=self.n_patients)
        return np.split(order, np.cumsum(counts)[:-1])

    def subset(self, patient_ids: Sequence[str]) -> "InstanceSet":
        """The instances of ``patient_ids`` (in that order), e.g. a training fold."""
        ids = [str(p) for p in patient_ids]
        pos = {p: i for i, p in enumerate(self.patient_ids)}
        missing = [p for p in ids if p not in pos]
        if missing:
            raise ValueError(f"patient_ids not in this InstanceSet: {missing[:5]}")
        if len(set(ids)) != len(ids):
            raise ValueError("patient_ids has duplicates")
        bags = self.bags()
        idx = np.concatenate([bags[pos[p]] for p in ids]) if ids else np.zeros(0, np.int64)
        new_bag = np.repeat(np.arange(len(ids)), [bags[pos[p]].size for p in ids])
        return InstanceSet(
            x=self.x[idx], bag=new_bag, patient_ids=ids, slice_index=self.slice_index[idx],
            sequence=self.sequence, meta=dict(self.meta),
        )

    def save(self, path) -> Path:
        """Write an uncompressed ``.npz`` (no pickles), atomically."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh, format=np.array(_FORMAT), x=self.x, bag=self.bag, slice_index=self.slice_index,
                patient_ids=np.array(self.patient_ids, dtype=str), sequence=np.array(self.sequence),
                meta=np.array(json.dumps(self.meta, sort_keys=True)),
            )
        return path

    @classmethod
    def load(cls, path) -> "InstanceSet":
        """Read a set written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                if "format" not in z or str(z["format"]) != _FORMAT:
                    raise ValueError(f"not an InstanceSet file (field 'format', expected {_FORMAT})")
                return cls(
                    x=z["x"], bag=z["bag"], patient_ids=z["patient_ids"].tolist(),
                    slice_index=z["slice_index"], sequence=str(z["sequence"]), meta=json.loads(str(z["meta"])),
                )
        except (OSError, KeyError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read InstanceSet ({exc})") from exc
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc


def net_scaling(standardizer: HistogramStandardizer) -> tuple[float, float]:
    """``(loc, scale)``: mean and SD of the standard landmarks.

    Standardised intensities ``s`` are fed to the network as ``(s - loc) / scale``:
    the landmarks are evenly spaced percentiles of the foreground, so this
    gives the foreground roughly zero mean and unit variance (air is negative).

    Examples
    --------
    >>> std = HistogramStandardizer(percentiles=(0, 50, 100), foreground="all").fit([np.arange(101.0)])
    >>> tuple(round(v, 3) for v in net_scaling(std))
    (50.0, 40.825)
    """
    lm = standardizer._require_fitted()
    return float(np.mean(lm)), float(np.std(lm))


def patient_boxes(
    image,
    roi,
    standardizer: HistogramStandardizer,
    *,
    target_spacing=(1.0, 1.0),
    box_mm=64.0,
    box_px=64,
    centre: str = "roi",
    min_area: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Standardised tumour boxes of one patient's volume (steps 2-4 without net scaling).

    Parameters
    ----------
    image, roi : Volume
        MR volume and tumour mask on the same grid.
    standardizer : HistogramStandardizer
        Fitted on training patients.
    target_spacing : (float, float)
        Common in-plane pixel size (mm) of the resampling.
    box_mm : float or (float, float)
        Physical box size (mm).
    box_px : int or (int, int)
        Output box size (pixels); smaller than ``box_mm / target_spacing``
        shrinks the resampled box (anti-aliased).
    centre, min_area
        As in :func:`~npc_lib.imaging.boxes.tumour_boxes`.

    Returns
    -------
    boxes : ndarray, float32, shape (n_slices, H, W)
        On the standard scale.
    slice_index : ndarray of int, shape (n_slices,)
    """
    boxes, z = _raw_boxes(image, roi, target_spacing=target_spacing, box_mm=box_mm, box_px=box_px, centre=centre,
                          min_area=min_area)
    return standardizer.map_intensities(boxes, standardizer.image_landmarks(image)), z


def _raw_boxes(image, roi, *, target_spacing, box_mm, box_px, centre, min_area) -> tuple[np.ndarray, np.ndarray]:
    """Tumour boxes on the raw intensity scale (steps 3 without 4): ``(boxes, slice_index)``."""
    target = _check_pair("target_spacing", target_spacing)
    mm = _check_pair("box_mm", box_mm)
    px = _check_pair("box_px", box_px, integer=True)
    n_t = tuple(max(1, int(np.floor(m / t + 0.5))) for m, t in zip(mm, target))
    if np.any(np.array(px) > np.array(n_t)):
        raise ValueError(
            f"box_px {px} exceeds box_mm / target_spacing = {n_t}: resample to a finer target_spacing instead"
        )
    boxes, z = tumour_boxes(image, roi, n_t, pixel_mm=target, centre=centre, min_area=min_area)
    if px != n_t:
        boxes = resize_boxes(boxes, px)
    return boxes, z


def fit_standardizer(cohort, sequence: str, train_ids: Sequence[str], **kwargs) -> HistogramStandardizer:
    """Fit a :class:`HistogramStandardizer` on the training patients' volumes only.

    Parameters
    ----------
    cohort : Cohort
        Loaded cohort (``read_image(patient_id, sequence)``).
    sequence : str
        MR sequence.
    train_ids : sequence of str
        Training patients (never the test patients: the standard scale is part
        of the model).
    **kwargs
        Passed to :class:`HistogramStandardizer`.
    """
    ids = _check_ids(cohort, train_ids, "train_ids")
    std = HistogramStandardizer(**kwargs)

    volumes = (cohort.read_image(pid, sequence) for pid in ids)
    return std.fit(volumes, names=[f"patient {pid}, sequence {sequence}" for pid in ids])


def build_instances(
    cohort,
    sequence: str,
    patient_ids: Sequence[str],
    standardizer: HistogramStandardizer,
    *,
    target_spacing=(1.0, 1.0),
    box_mm=64.0,
    box_px=64,
    centre: str = "roi",
    min_area: int = 1,
    n_jobs: int = 1,
    progress: bool = False,
) -> InstanceSet:
    """Turn a cohort's volumes of one sequence into MIL bags of standardised boxes.

    Parameters
    ----------
    cohort : Cohort
        Loaded cohort (``read_image``/``read_roi``).
    sequence : str
        MR sequence.
    patient_ids : sequence of str
        Patients to include (training and/or test); bag order.
    standardizer : HistogramStandardizer
        Fitted on the training patients (:func:`fit_standardizer`).
    target_spacing : (float, float)
        Common in-plane spacing (mm) of the bilinear resampling.
    box_mm : float or (float, float)
        Physical size of the tumour-centred box (mm).
    box_px : int or (int, int)
        Network input size (pixels).
    centre : {"roi", "slice"}
        Box centre (see :mod:`npc_lib.imaging.boxes`).
    min_area : int
        Minimum tumour voxels for a slice to be an instance.
    n_jobs : int
        Threads reading and processing patients (results do not depend on it).
    progress : bool
        Show a progress bar.

    Returns
    -------
    InstanceSet
        ``x`` (N, box_px, box_px, 1), ``(s - loc) / scale`` of the standardised
        boxes (:func:`net_scaling`).
    """
    ids = _check_ids(cohort, patient_ids)
    if int(n_jobs) != n_jobs or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    loc, scale = net_scaling(standardizer)
    kw = dict(target_spacing=target_spacing, box_mm=box_mm, box_px=box_px, centre=centre, min_area=min_area)

    def one(pid: str):
        try:
            image, roi = cohort.read_image(pid, sequence), cohort.read_roi(pid, sequence)
            return patient_boxes(image, roi, standardizer, **kw)
        except ValueError as exc:
            raise ValueError(f"patient {pid}, sequence {sequence}: {exc}") from exc

    if n_jobs == 1:
        results = map(one, ids)
        pool = None
    else:
        pool = ThreadPoolExecutor(max_workers=int(n_jobs))
        results = pool.map(one, ids)
    try:
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(ids), desc=f"{sequence} instances")
        parts = list(results)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    x = np.concatenate([b for b, _ in parts])
    x = ((x - np.float32(loc)) / np.float32(scale))[..., None]
    meta = {
        "target_spacing": list(_check_pair("target_spacing", target_spacing)),
        "box_mm": list(_check_pair("box_mm", box_mm)),
        "box_px": list(_check_pair("box_px", box_px, integer=True)),
        "centre": centre,
        "min_area": int(min_area),
        "net_loc": loc,
        "net_scale": scale,
        "standardizer": standardizer.to_dict(),
    }
    return InstanceSet(
        x=x,
        bag=np.repeat(np.arange(len(ids)), [z.size for _, z in parts]),
        patient_ids=ids,
        slice_index=np.concatenate([z for _, z in parts]),
        sequence=sequence,
        meta=meta,
    )


@dataclass(frozen=True, eq=False)
class RawBags:
    """Every patient's tumour boxes before standardisation, with the image landmarks.

    Attributes
    ----------
    boxes : list of float arrays, shape (n_slices, H, W)
        Raw-intensity boxes of each patient (``patient_ids`` order).
    slice_index : list of int arrays
        Their axial slices.
    landmarks : ndarray, shape (n_patients, n_landmarks)
        Each volume's histogram landmarks (:meth:`HistogramStandardizer.image_landmarks`).
    patient_ids : list of str
    sequence : str
    params : dict
        ``target_spacing``, ``box_mm``, ``box_px``, ``centre``, ``min_area``.
    template : HistogramStandardizer
        Unfitted standardiser whose settings (percentiles, scale, ...) are fitted.
    spacing : ndarray, shape (n_patients, 3), or None
        Each volume's voxel size (mm) as read (RAS order).
    """

    boxes: list
    slice_index: list
    landmarks: np.ndarray
    patient_ids: list
    sequence: str
    params: dict
    template: HistogramStandardizer
    spacing: np.ndarray | None = None

    def _rows(self, ids, name: str) -> list[int]:
        pos = {p: i for i, p in enumerate(self.patient_ids)}
        ids = [str(p) for p in ids]
        missing = [p for p in ids if p not in pos]
        if missing:
            raise ValueError(f"{name}: not in these bags: {missing[:5]}")
        if not ids or len(set(ids)) != len(ids):
            raise ValueError(f"{name} must be distinct patients, at least one")
        return [pos[p] for p in ids]

    def fit_standardizer(self, train_ids: Sequence[str]) -> HistogramStandardizer:
        """The standardiser :func:`fit_standardizer` fits on ``train_ids`` (from the stored landmarks)."""
        rows = self._rows(train_ids, "train_ids")
        s1, s2 = self.template.scale
        mapped = [s1 + (lm - lm[0]) / (lm[-1] - lm[0]) * (s2 - s1) for lm in self.landmarks[rows]]
        std = HistogramStandardizer.from_dict({**self.template.to_dict(), "standard_landmarks": None})
        std.standard_landmarks_ = np.mean(mapped, axis=0)
        std.n_fitted_ = len(mapped)
        return std

    def instances(self, ids: Sequence[str], standardizer: HistogramStandardizer) -> InstanceSet:
        """The :class:`InstanceSet` :func:`build_instances` gives for ``ids`` with ``standardizer``."""
        rows = self._rows(ids, "ids")
        loc, scale = net_scaling(standardizer)
        parts = [standardizer.map_intensities(self.boxes[i], self.landmarks[i]) for i in rows]
        x = ((np.concatenate(parts) - np.float32(loc)) / np.float32(scale))[..., None]
        meta = {**self.params, "net_loc": loc, "net_scale": scale, "standardizer": standardizer.to_dict()}
        return InstanceSet(x=x, bag=np.repeat(np.arange(len(rows)), [self.boxes[i].shape[0] for i in rows]),
                           patient_ids=[self.patient_ids[i] for i in rows],
                           slice_index=np.concatenate([self.slice_index[i] for i in rows]),
                           sequence=self.sequence, meta=meta)


def raw_bags(cohort, sequence: str, patient_ids: Sequence[str], *, target_spacing=(1.0, 1.0), box_mm=64.0,
             box_px=64, centre: str = "roi", min_area: int = 1, n_jobs: int = 1, progress: bool = False,
             **standardizer_kwargs) -> RawBags:
    """Read each patient's volume once: raw boxes and landmarks, for any later training subset.

    Parameters are those of :func:`build_instances` (``standardizer_kwargs``
    those of :class:`HistogramStandardizer`, as for :func:`fit_standardizer`).
    ``raw_bags(...).instances(ids, raw.fit_standardizer(train_ids))`` equals
    ``build_instances(cohort, sequence, ids, fit_standardizer(cohort, sequence, train_ids), ...)``.
    """
    ids = _check_ids(cohort, patient_ids)
    if int(n_jobs) != n_jobs or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    template = HistogramStandardizer(**standardizer_kwargs)
    kw = dict(target_spacing=target_spacing, box_mm=box_mm, box_px=box_px, centre=centre, min_area=min_area)

    def one(pid: str):
        try:
            image, roi = cohort.read_image(pid, sequence), cohort.read_roi(pid, sequence)
            return template.image_landmarks(image), *_raw_boxes(image, roi, **kw), image.spacing
        except ValueError as exc:
            raise ValueError(f"patient {pid}, sequence {sequence}: {exc}") from exc

    with ThreadPoolExecutor(max_workers=int(n_jobs)) as pool:
        results = pool.map(one, ids)
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(ids), desc=f"{sequence} boxes")
        parts = list(results)
    params = {"target_spacing": list(_check_pair("target_spacing", target_spacing)),
              "box_mm": list(_check_pair("box_mm", box_mm)),
              "box_px": list(_check_pair("box_px", box_px, integer=True)), "centre": centre,
              "min_area": int(min_area)}
    return RawBags(boxes=[p[1] for p in parts], slice_index=[p[2] for p in parts],
                   landmarks=np.stack([p[0] for p in parts]), patient_ids=ids, sequence=sequence,
                   params=params, template=template, spacing=np.array([p[3] for p in parts], dtype=float))
