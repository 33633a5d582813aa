"""Before/after view of the MR preprocessing, per scanner (book figure of A3).

For a few patients of each scanner: the raw middle tumour slice, the same slice
resampled to the common spacing and standardised, the network's input box,
and foreground intensity histograms before and after standardisation. The
numbers behind the figure (:func:`landmark_spread`) say how far apart the
scanners' intensity distributions are before and after.
"""

from __future__ import annotations

__all__ = ["before_after_by_scanner", "landmark_spread", "CHECK_PERCENTILES"]

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from npc_lib.imaging.boxes import tumour_slices
from npc_lib.imaging.instances import _check_ids, patient_boxes
from npc_lib.imaging.resample import resample_inplane
from npc_lib.imaging.standardize import HistogramStandardizer

#: foreground percentiles compared across scanners: between the default
#: landmarks, so standardisation does not align them by construction
CHECK_PERCENTILES: tuple[float, ...] = (5, 15, 25, 35, 45, 55, 65, 75, 85, 95)


def _choose_patients(cohort, patients, n_per_scanner: int) -> dict[str, list[str]]:
    clinical = cohort.clinical
    if "scanner" not in clinical.columns:
        raise ValueError("cohort.clinical has no 'scanner' column")
    scanner_of = dict(zip(clinical["patient_id"].astype(str), clinical["scanner"].astype(str)))
    if patients is None:
        if int(n_per_scanner) != n_per_scanner or n_per_scanner < 1:
            raise ValueError(f"n_per_scanner must be a positive integer, got {n_per_scanner!r}")
        out: dict[str, list[str]] = {}
        for pid in cohort.patient_ids:  # cohort order: deterministic
            sc = scanner_of[str(pid)]
            if len(out.setdefault(sc, [])) < n_per_scanner:
                out[sc].append(str(pid))
        return dict(sorted(out.items()))
    if not isinstance(patients, Mapping) or not patients:
        raise ValueError("patients must be a non-empty mapping scanner -> list of patient ids")
    out = {}
    for sc, ids in patients.items():
        ids = _check_ids(cohort, ids, f"patients[{sc!r}]")
        wrong = [p for p in ids if scanner_of[p] != str(sc)]
        if wrong:
            raise ValueError(f"patients[{sc!r}]: {wrong[:5]} are not scanned on {sc!r}")
        out[str(sc)] = ids
    return out


def _density(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    hist, _ = np.histogram(values, bins=edges, density=True)
    return hist


def before_after_by_scanner(
    cohort,
    sequence: str,
    standardizer: HistogramStandardizer,
    patients: Mapping[str, Sequence[str]] | None = None,
    *,
    n_per_scanner: int = 3,
    target_spacing=(1.0, 1.0),
    box_mm=64.0,
    box_px=64,
    bins: int = 80,
) -> dict:
    """Raw vs resampled + standardised slices and histograms, per scanner.

    Parameters
    ----------
    cohort : Cohort
        Loaded cohort; ``clinical`` must have a ``scanner`` column.
    sequence : str
        MR sequence.
    standardizer : HistogramStandardizer
        Fitted on the training patients.
    patients : mapping scanner -> list of patient ids, optional
        Patients to show; default: the first ``n_per_scanner`` patients of
        each scanner in cohort order. The slices shown are those of each
        scanner's first patient; the histograms pool all its patients.
    n_per_scanner : int
        Patients per scanner when ``patients`` is not given.
    target_spacing, box_mm, box_px
        As in :func:`~npc_lib.imaging.instances.build_instances`.
    bins : int
        Histogram bins (shared by all scanners at each stage).

    Returns
    -------
    dict
        ``sequence``; ``scanners`` (list); ``panels``: per scanner a dict with
        ``patient_id``, ``slice_index``, ``raw`` (nx, ny) float32 and
        ``raw_spacing`` (dx, dy) mm, ``processed`` (nx', ny') float32 on the
        standard scale and ``processed_spacing``, ``box`` (box_px, box_px)
        standardised network input of that slice; ``histograms``: for
        ``"raw"`` and ``"standardised"`` a dict with ``edges`` (bins + 1,) and
        ``density`` {scanner: (bins,)} of the foreground intensities;
        ``percentiles``: long DataFrame (scanner, patient_id, percentile,
        raw, standardised) of :data:`CHECK_PERCENTILES` of each patient's
        foreground; ``standard_landmarks``; ``scale``.
    """
    chosen = _choose_patients(cohort, patients, n_per_scanner)
    panels: dict[str, dict] = {}
    fg_raw: dict[str, list[np.ndarray]] = {}
    fg_std: dict[str, list[np.ndarray]] = {}
    rows = []
    for sc, ids in chosen.items():
        fg_raw[sc], fg_std[sc] = [], []
        for k, pid in enumerate(ids):
            try:
                image, roi = cohort.read_image(pid, sequence), cohort.read_roi(pid, sequence)
                lm = standardizer.image_landmarks(image)
                raw_fg = standardizer.foreground_values(image)
                std_fg = standardizer.map_intensities(raw_fg, lm)
                if k == 0:
                    z_all = tumour_slices(roi)
                    if z_all.size == 0:
                        raise ValueError("roi is empty")
                    z = int(z_all[z_all.size // 2])
                    processed = standardizer.transform(resample_inplane(image, None, target_spacing), landmarks=lm)
                    boxes, zb = patient_boxes(
                        image, roi, standardizer, target_spacing=target_spacing, box_mm=box_mm, box_px=box_px
                    )
                    panels[sc] = {
                        "patient_id": pid,
                        "slice_index": z,
                        "raw": np.asarray(image.data[:, :, z], dtype=np.float32),
                        "raw_spacing": tuple(map(float, image.spacing[:2])),
                        "processed": processed.data[:, :, z],
                        "processed_spacing": tuple(map(float, processed.spacing[:2])),
                        "box": boxes[int(np.flatnonzero(zb == z)[0])],
                    }
            except ValueError as exc:
                raise ValueError(f"patient {pid}, sequence {sequence}: {exc}") from exc
            fg_raw[sc].append(raw_fg)
            fg_std[sc].append(std_fg)
            q_raw = np.percentile(raw_fg, CHECK_PERCENTILES)
            q_std = np.percentile(std_fg, CHECK_PERCENTILES)
            rows += [(sc, pid, p, a, b) for p, a, b in zip(CHECK_PERCENTILES, q_raw, q_std)]

    histograms = {}
    for stage, fg in (("raw", fg_raw), ("standardised", fg_std)):
        pooled = {sc: np.concatenate(v) for sc, v in fg.items()}
        lo = min(np.percentile(v, 0.5) for v in pooled.values())
        hi = max(np.percentile(v, 99.5) for v in pooled.values())
        edges = np.linspace(lo, hi, int(bins) + 1)
        histograms[stage] = {"edges": edges, "density": {sc: _density(v, edges) for sc, v in pooled.items()}}
    return {
        "sequence": sequence,
        "scanners": list(chosen),
        "panels": panels,
        "histograms": histograms,
        "percentiles": pd.DataFrame(rows, columns=["scanner", "patient_id", "percentile", "raw", "standardised"]),
        "standard_landmarks": standardizer.standard_landmarks_.copy(),
        "scale": standardizer.scale,
    }


def landmark_spread(view: dict) -> pd.DataFrame:
    """Between-scanner spread of foreground percentiles, before and after.

    For each percentile in ``view["percentiles"]``: the SD across scanners of
    the scanners' mean value, divided by the mean within-patient foreground
    spread (P95 - P5) at that stage, so raw and standardised numbers are on
    one unit-free scale (0: scanners agree exactly).

    Parameters
    ----------
    view : dict
        From :func:`before_after_by_scanner`.

    Returns
    -------
    DataFrame
        Index ``percentile``; columns ``raw`` and ``standardised`` (relative
        spread) and ``ratio`` (standardised / raw).

    Examples
    --------
    >>> pct = pd.DataFrame({"scanner": list("AABB"), "patient_id": list("aabb"),
    ...                     "percentile": [5, 95, 5, 95], "raw": [1.0, 3.0, 2.0, 6.0],
    ...                     "standardised": [0.0, 10.0, 0.0, 10.0]})
    >>> landmark_spread({"percentiles": pct}).round(3).to_dict("list")
    {'raw': [0.167, 0.5], 'standardised': [0.0, 0.0], 'ratio': [0.0, 0.0]}
    """
    df = view["percentiles"]
    if df.empty:
        raise ValueError("view has no percentiles")
    out = {}
    for stage in ("raw", "standardised"):
        wide = df.pivot_table(index=["scanner", "patient_id"], columns="percentile", values=stage)
        lo, hi = min(wide.columns), max(wide.columns)
        unit = float((wide[hi] - wide[lo]).mean())
        if unit <= 0:
            raise ValueError(f"{stage}: foreground spread is not positive")
        per_scanner = wide.groupby(level="scanner").mean()
        out[stage] = per_scanner.std(axis=0, ddof=0) / unit
    res = pd.DataFrame(out)
    res.index.name = "percentile"
    res["ratio"] = res["standardised"] / res["raw"]
    return res
