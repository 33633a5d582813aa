"""PyRadiomics features of each sequence's tumour ROI in 3-D (analysis A20).

For one image and its tumour mask, :func:`extract_features` runs

1. *normalisation* (``normalize``): the whole volume is z-scored with its own
   mean and sample SD and multiplied by ``normalize_scale`` (PyRadiomics'
   ``normalize``/``normalizeScale``, done here in NumPy before cropping), so
   that scanners whose intensity scales differ several-fold share one grey
   scale;
2. a crop to the mask's bounding box plus a margin (faster resampling: the
   B-spline coefficients are then computed on a small block, not the volume);
3. PyRadiomics 3-D extraction: resampling to ``resampled_spacing`` (B-spline
   for the image, nearest neighbour for the mask), discretisation with a fixed
   ``bin_width`` and the feature classes of :data:`FEATURE_CLASSES` with all
   their (non-deprecated) features: 107 features per image.

:func:`extract_cohort` does this for every patient and sequence of a cohort,
patients spread over ``n_jobs`` processes with joblib, into one wide table;
:func:`cached_features` keeps that table in a folder and reuses it when its
settings stamp (settings, PyRadiomics version, patients, sequences and a hash
of the image files) matches.

References
----------
van Griethuysen JJM et al. Computational radiomics system to decode the
radiographic phenotype. Cancer Res 2017;77:e104-e107 (PyRadiomics).
Zwanenburg A et al. The Image Biomarker Standardization Initiative.
Radiology 2020;295:328-338 (fixed bin width, resampling).
"""

from __future__ import annotations

__all__ = [
    "FEATURE_CLASSES",
    "ExtractionSettings",
    "DEFAULT_SETTINGS",
    "BASELINE_SETTINGS",
    "radiomics_version",
    "extract_features",
    "extract_cohort",
    "FeatureTable",
    "cached_features",
    "feature_columns",
]

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from npc_lib._io import write_csv, write_json
from npc_lib.cohort.volume import Volume

#: the PyRadiomics feature classes extracted (the paper's Appendix C list)
FEATURE_CLASSES: tuple[str, ...] = ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm")

_INTERPOLATORS = ("sitkBSpline", "sitkLinear", "sitkNearestNeighbor")
_FORMAT = "npc_lib.radiomics.features/1"
_CSV, _STAMP = "radiomics_features.csv", "radiomics_features.json"


def _check_positive(name: str, value) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return v


def _check_spacing(value) -> tuple[float, float, float] | None:
    if value is None:
        return None
    v = tuple(float(x) for x in np.atleast_1d(np.asarray(value, dtype=float)))
    if len(v) != 3 or not all(math.isfinite(x) and x > 0 for x in v):
        raise ValueError(f"resampled_spacing must be None or three positive numbers (mm), got {value!r}")
    return v


def _check_classes(value) -> tuple[str, ...]:
    classes = (value,) if isinstance(value, str) else tuple(value)
    bad = [c for c in classes if c not in FEATURE_CLASSES]
    if not classes or bad or len(set(classes)) != len(classes):
        raise ValueError(f"feature_classes must be distinct names from {FEATURE_CLASSES}, got {value!r}")
    return classes


def _check_volume_pair(image: Volume, mask: Volume, where: str) -> None:
    if image.data.ndim != 3 or image.shape != mask.shape:
        raise ValueError(f"{where}: image and mask must be 3-D of one shape, got {image.shape} and {mask.shape}")
    if not np.allclose(image.spacing, mask.spacing, rtol=0, atol=1e-4):
        raise ValueError(f"{where}: image and mask spacing differ: {image.spacing} vs {mask.spacing}")
    if not np.all(np.isfinite(image.data)):
        raise ValueError(f"{where}: image has non-finite voxels")
    if not np.any(mask.data == 1):
        raise ValueError(f"{where}: mask has no voxel labelled 1")


def _check_ids(cohort, patient_ids) -> list[str]:
    known = cohort.patient_ids
    ids = known if patient_ids is None else [str(p) for p in patient_ids]
    if not ids:
        raise ValueError("patient_ids is empty")
    if len(set(ids)) != len(ids):
        raise ValueError("patient_ids has duplicates")
    missing = sorted(set(ids) - set(known))
    if missing:
        raise ValueError(f"patient_ids not in the cohort: {missing[:5]}")
    return list(ids)


def _check_sequences(cohort, sequences) -> list[str]:
    seqs = list(cohort.sequences if sequences is None else
                ([sequences] if isinstance(sequences, str) else sequences))
    bad = [s for s in seqs if s not in cohort.sequences]
    if not seqs or bad or len(set(seqs)) != len(seqs):
        raise ValueError(f"sequences must be distinct names from {cohort.sequences}, got {sequences!r}")
    return seqs


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ExtractionSettings:
    """Settings of one PyRadiomics extraction (all stated in the feature table's stamp).

    Attributes
    ----------
    bin_width : float
        Fixed bin width of the grey-level discretisation, in image units after
        normalisation (with ``normalize_scale = 100``: 1/100 of the image's SD).
    resampled_spacing : tuple of 3 floats (mm) or None
        Voxel grid the ROI is resampled to (x, y in-plane, z through-plane);
        None keeps each image's own spacing.
    normalize : bool
        Z-score the whole volume (own mean, sample SD) before extraction.
    normalize_scale : float
        Factor applied after z-scoring (PyRadiomics ``normalizeScale``).
    voxel_array_shift : float
        Shift added to intensities for the first-order energy features
        (PyRadiomics advises 300 with ``normalize_scale = 100``).
    interpolator : {"sitkBSpline", "sitkLinear", "sitkNearestNeighbor"}
        Image interpolator of the resampling.
    feature_classes : tuple of str
        Subset of :data:`FEATURE_CLASSES`, all features of each.
    pad_distance : int
        Voxels kept around the ROI when resampling (PyRadiomics ``padDistance``).
    """

    bin_width: float = 10.0
    resampled_spacing: tuple[float, float, float] | None = (1.25, 1.25, 5.0)
    normalize: bool = True
    normalize_scale: float = 100.0
    voxel_array_shift: float = 300.0
    interpolator: str = "sitkBSpline"
    feature_classes: tuple[str, ...] = FEATURE_CLASSES
    pad_distance: int = 5

    def __post_init__(self):
        object.__setattr__(self, "bin_width", _check_positive("bin_width", self.bin_width))
        object.__setattr__(self, "resampled_spacing", _check_spacing(self.resampled_spacing))
        object.__setattr__(self, "normalize_scale", _check_positive("normalize_scale", self.normalize_scale))
        object.__setattr__(self, "voxel_array_shift", float(self.voxel_array_shift))
        object.__setattr__(self, "feature_classes", _check_classes(self.feature_classes))
        if self.interpolator not in _INTERPOLATORS:
            raise ValueError(f"interpolator must be one of {_INTERPOLATORS}, got {self.interpolator!r}")
        if int(self.pad_distance) != self.pad_distance or self.pad_distance < 0:
            raise ValueError(f"pad_distance must be a non-negative integer, got {self.pad_distance!r}")
        object.__setattr__(self, "normalize", bool(self.normalize))

    def as_dict(self) -> dict:
        """Plain-JSON form (lists for tuples)."""
        d = asdict(self)
        d["feature_classes"] = list(self.feature_classes)
        d["resampled_spacing"] = None if self.resampled_spacing is None else list(self.resampled_spacing)
        return d

    def pyradiomics_settings(self) -> dict:
        """Keyword settings of ``RadiomicsFeatureExtractor`` (normalisation is done before it)."""
        return {
            "binWidth": self.bin_width,
            "resampledPixelSpacing": None if self.resampled_spacing is None else list(self.resampled_spacing),
            "interpolator": self.interpolator,
            "padDistance": int(self.pad_distance),
            "voxelArrayShift": self.voxel_array_shift,
            "normalize": False,
            "label": 1,
            "force2D": False,
            "distances": [1],
            "gldm_a": 0,
            "additionalInfo": False,
        }


#: the settings of the feature table (chosen by measurement: benchmarks/bench_radiomics.py)
DEFAULT_SETTINGS = ExtractionSettings()

#: the settings of PyRadiomics' published ``brain1`` baseline (bin width 25, no resampling)
BASELINE_SETTINGS = ExtractionSettings(bin_width=25.0, resampled_spacing=None, normalize=False,
                                       voxel_array_shift=2000.0)


def radiomics_version() -> str:
    """Version string of the installed PyRadiomics (ImportError if it is absent)."""
    import radiomics

    return str(radiomics.__version__)


# --------------------------------------------------------------------------- one image


def _crop_box(mask: np.ndarray, margin: Sequence[int]) -> tuple[slice, ...]:
    idx = np.argwhere(mask == 1)
    lo = np.maximum(idx.min(axis=0) - np.asarray(margin), 0)
    hi = np.minimum(idx.max(axis=0) + 1 + np.asarray(margin), mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def _to_sitk(array: np.ndarray, spacing, origin):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    img.SetSpacing(tuple(float(s) for s in spacing))
    img.SetOrigin(tuple(float(o) for o in origin))
    return img


def _extractor(settings: ExtractionSettings):
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)  # GLCM/shape notes on tiny ROIs are not errors
    ex = featureextractor.RadiomicsFeatureExtractor(**settings.pyradiomics_settings())
    ex.disableAllFeatures()
    for cls in settings.feature_classes:
        ex.enableFeatureClassByName(cls)
    return ex


def extract_features(image: Volume, mask: Volume, settings: ExtractionSettings = DEFAULT_SETTINGS, *,
                     extractor=None, where: str = "image") -> dict[str, float]:
    """PyRadiomics features of one 3-D image inside its mask.

    Parameters
    ----------
    image : Volume
        MR volume, ``data`` shape (nx, ny, nz), spacing in mm.
    mask : Volume
        Tumour mask on the same grid, 1 inside the ROI.
    settings : ExtractionSettings
    extractor : RadiomicsFeatureExtractor, optional
        One built for ``settings`` (reused across images by :func:`extract_cohort`).
    where : str
        Name of the image in error messages (e.g. ``"patient NPC0001, T1"``).

    Returns
    -------
    dict
        ``"<class>_<Feature>"`` (e.g. ``"glcm_Contrast"``) -> float, in
        PyRadiomics' order; a feature PyRadiomics cannot compute is NaN.

    Notes
    -----
    The image goes to PyRadiomics on its voxel grid with its spacing and an
    identity direction: the affine's orientation does not change any feature
    (shape is computed in mm, textures sum over all 13 directions).

    Raises
    ------
    ValueError
        Mismatched image and mask, non-finite voxels, an empty mask, or a ROI
        PyRadiomics rejects (``where`` is named).
    """
    _check_volume_pair(image, mask, where)
    data = np.asarray(image.data, dtype=np.float64)
    if settings.normalize:
        sd = float(data.std(ddof=1))
        if not sd > 0:
            raise ValueError(f"{where}: constant image cannot be normalised")
        data = (data - data.mean()) / sd * settings.normalize_scale
    spacing = np.asarray(image.spacing, dtype=float)
    target = spacing if settings.resampled_spacing is None else np.asarray(settings.resampled_spacing)
    margin = np.ceil((settings.pad_distance + 2) * target / spacing).astype(int) + 2
    box = _crop_box(mask.data, margin)
    origin = [b.start * s for b, s in zip(box, spacing)]
    img = _to_sitk(data[box].astype(np.float32), spacing, origin)
    roi = _to_sitk((mask.data[box] == 1).astype(np.uint8), spacing, origin)
    ex = _extractor(settings) if extractor is None else extractor
    try:
        result = ex.execute(img, roi, label=1)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"{where}: PyRadiomics failed ({' '.join(str(exc).split())})") from None
    out = {}
    for key, value in result.items():
        if key.startswith("original_"):
            v = float(np.asarray(value, dtype=float))
            out[key[len("original_"):]] = v if math.isfinite(v) else float("nan")
    return out


# --------------------------------------------------------------------------- a cohort


def feature_columns(table: pd.DataFrame, sequence: str) -> list[str]:
    """Columns of ``table`` that hold ``sequence``'s features (``"<seq>_<class>_<Feature>"``)."""
    prefix = f"{sequence}_"
    return [c for c in table.columns if c.startswith(prefix) and c.split("_", 2)[1] in FEATURE_CLASSES]


def _patient_rows(cohort, patient_ids, sequences, settings) -> list[dict]:
    import SimpleITK as sitk

    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # one core per joblib worker
    try:
        ex = _extractor(settings)
        rows = []
        for pid in patient_ids:
            row = {"patient_id": pid}
            for seq in sequences:
                feats = extract_features(cohort.read_image(pid, seq), cohort.read_roi(pid, seq), settings,
                                         extractor=ex, where=f"patient {pid}, {seq}")
                row.update({f"{seq}_{k}": v for k, v in feats.items()})
            rows.append(row)
        return rows
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def extract_cohort(cohort, *, sequences: Iterable[str] | None = None, patient_ids: Iterable[str] | None = None,
                   settings: ExtractionSettings = DEFAULT_SETTINGS, n_jobs: int = 2) -> pd.DataFrame:
    """Features of every patient and sequence of a cohort, one row per patient.

    Parameters
    ----------
    cohort : npc_lib.cohort.load.Cohort
        Loaded cohort (``read_image``/``read_roi``).
    sequences : iterable of str, optional
        Default: the cohort's sequences.
    patient_ids : iterable of str, optional
        Default: every patient, in ``clinical.csv`` order.
    settings : ExtractionSettings
    n_jobs : int
        Worker processes (joblib, loky); each uses one SimpleITK thread. The
        result does not depend on it.

    Returns
    -------
    DataFrame, shape (n_patients, 1 + n_sequences x n_features)
        ``patient_id`` then ``"<seq>_<class>_<Feature>"`` columns (float64).
    """
    from joblib import Parallel, delayed

    ids = _check_ids(cohort, patient_ids)
    seqs = _check_sequences(cohort, sequences)
    if int(n_jobs) != n_jobs or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    n_chunks = min(len(ids), 1 if n_jobs == 1 else 8 * int(n_jobs))
    chunks = [list(c) for c in np.array_split(np.asarray(ids, dtype=object), n_chunks)]
    if n_jobs == 1:
        parts = [_patient_rows(cohort, c, seqs, settings) for c in chunks]
    else:
        parts = Parallel(n_jobs=int(n_jobs), backend="loky")(
            delayed(_patient_rows)(cohort, c, seqs, settings) for c in chunks)
    table = pd.DataFrame([row for part in parts for row in part])
    table["patient_id"] = table["patient_id"].astype(str)
    return table


# --------------------------------------------------------------------------- the cached table


@dataclass(frozen=True)
class FeatureTable:
    """A cohort's feature table and where it came from.

    Attributes
    ----------
    features : DataFrame
        As :func:`extract_cohort` returns.
    stamp : dict
        What the table depends on (settings, PyRadiomics version, sequences,
        patients, image-file hash).
    reused : bool
        True when read from the cache, False when extracted now.
    seconds : float
        Extraction wall time (of the run that wrote the cache, when reused).
    n_jobs : int
        Worker processes of that extraction.
    """

    features: pd.DataFrame
    stamp: dict = field(repr=False)
    reused: bool
    seconds: float
    n_jobs: int


def _files_digest(cohort, ids, seqs) -> str:
    h = hashlib.sha256()
    for pid in ids:
        for seq in seqs:
            for path in (cohort.image_path(pid, seq), cohort.roi_path(pid, seq)):
                h.update(str(path.relative_to(cohort.root)).encode() + b"\0")
                h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _stamp(cohort, ids, seqs, settings) -> dict:
    return {
        "format": _FORMAT,
        "pyradiomics": radiomics_version(),
        "settings": settings.as_dict(),
        "sequences": list(seqs),
        "patients_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "n_patients": len(ids),
        "images_sha256": _files_digest(cohort, ids, seqs),
    }


def cached_features(cohort, folder: str | Path, *, sequences: Iterable[str] | None = None,
                    patient_ids: Iterable[str] | None = None, settings: ExtractionSettings = DEFAULT_SETTINGS,
                    n_jobs: int = 2) -> FeatureTable:
    """The feature table from ``folder`` if its stamp matches, else extracted and written there.

    Parameters
    ----------
    cohort, sequences, patient_ids, settings, n_jobs
        As :func:`extract_cohort`.
    folder : path-like
        Where ``radiomics_features.csv`` and its stamp ``radiomics_features.json``
        live (e.g. the chapter's folder of a run). Both are written atomically,
        the stamp last, so a crash leaves no stamp that vouches for a wrong table.

    Returns
    -------
    FeatureTable
    """
    folder = Path(folder)
    ids = _check_ids(cohort, patient_ids)
    seqs = _check_sequences(cohort, sequences)
    stamp = _stamp(cohort, ids, seqs, settings)
    csv, meta = folder / _CSV, folder / _STAMP
    if csv.is_file() and meta.is_file():
        old = json.loads(meta.read_text())
        if old.get("stamp") == stamp:
            table = pd.read_csv(csv, dtype={"patient_id": str}, float_precision="round_trip")
            return FeatureTable(table, stamp, True, float(old["seconds"]), int(old["n_jobs"]))
    t0 = time.perf_counter()
    table = extract_cohort(cohort, sequences=seqs, patient_ids=ids, settings=settings, n_jobs=n_jobs)
    seconds = time.perf_counter() - t0
    meta.unlink(missing_ok=True)
    write_csv(table, csv)
    write_json({"stamp": stamp, "seconds": seconds, "n_jobs": int(n_jobs)}, meta)
    return FeatureTable(table, stamp, False, seconds, int(n_jobs))
