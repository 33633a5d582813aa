"""A small cohort built from the real MR volume in ``tests/data/real_mr`` (for tests).

:func:`build_real_mr_cohort` writes, for each patient, the real scan with its
real affine (0.78 x 0.78 x 6.5 mm, LAS voxel order as the DICOM export left
it), each patient with its own in-plane crop around the tumour, every other
patient stored with both in-plane axes flipped (same world positions, the
other voxel order: RPS), and per sequence a rescaled intensity (a different
"scanner" scale) plus a little seeded noise. Clinical rows are the digital
twin's (:func:`npc_lib.twin.simulate.simulate_clinical`). Deterministic in
``seed``.
"""

from __future__ import annotations

__all__ = ["REAL_MR", "build_real_mr_cohort", "read_real_mr", "write_volume", "flip_axes"]

from pathlib import Path

import nibabel as nib
import numpy as np

from npc_lib.cohort import schema

REAL_MR = Path(__file__).parent / "data" / "real_mr"


def read_real_mr() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(image int16, roi uint8, affine)`` of the committed real scan, as stored."""
    img = nib.load(str(REAL_MR / "brain1_T1post.nii.gz"))
    roi = nib.load(str(REAL_MR / "brain1_T1post_roi.nii.gz"))
    return np.asarray(img.dataobj), np.asarray(roi.dataobj), np.asarray(img.affine, dtype=float)


def flip_axes(data: np.ndarray, affine: np.ndarray, axes) -> tuple[np.ndarray, np.ndarray]:
    """The same scan with the voxel order of ``axes`` reversed (world positions kept)."""
    data, affine = np.asarray(data), np.array(affine, dtype=float)
    for ax in axes:
        data = np.flip(data, axis=ax)
        n = data.shape[ax]
        affine[:3, 3] += affine[:3, ax] * (n - 1)
        affine[:3, ax] *= -1
    return np.ascontiguousarray(data), affine


def _crop(data, affine, start, stop):
    sl = tuple(slice(a, b) for a, b in zip(start, stop))
    out = np.array(affine, dtype=float)
    out[:3, 3] = affine[:3, :3] @ np.asarray(start, dtype=float) + affine[:3, 3]
    return np.ascontiguousarray(data[sl]), out


def write_volume(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    """Save a NIfTI with sform and qform set from ``affine`` (mm units)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(path))


def _twin_rows(n: int, seed: int, n_events: int | None):
    """``n`` clinical rows of the twin; with ``n_events``, that many DFS events (rows of a larger twin)."""
    from npc_lib.twin.simulate import simulate_clinical

    if n_events is None:
        return simulate_clinical(n, seed)[0]
    if not 0 <= n_events <= n:
        raise ValueError(f"n_events must be within 0-{n}, got {n_events}")
    big = simulate_clinical(max(20 * n, 200), seed)[0]
    events = big[big["dfs_event"] == 1].head(n_events)
    censored = big[big["dfs_event"] == 0].head(n - n_events)
    if len(events) < n_events or len(censored) < n - n_events:
        raise ValueError(f"the twin of seed {seed} has too few rows to pick {n_events} events of {n}")
    return big.loc[sorted([*events.index, *censored.index])].reset_index(drop=True)


def build_real_mr_cohort(dst: str | Path, n: int = 12, seed: int = 0, n_events: int | None = None) -> Path:
    """Write an ``n``-patient cohort in the SPEC layout under ``dst`` and return it.

    Patient ``i`` (0-based) is cropped in-plane to a random window holding
    the whole tumour (at least 64 x 64 voxels), stored flipped in-plane when
    ``i`` is odd, and gets per sequence an intensity scale in 0.5-2.0 and an
    offset; masks stay the real label on the same grid. ``n_events``: pick
    twin rows so that that many patients have a DFS event (the book's
    cross-validation needs events in every fold).
    """
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    clinical = _twin_rows(n, seed, n_events)
    clinical.to_csv(dst / schema.CLINICAL_FILE, index=False)
    image, roi, affine = read_real_mr()
    rng = np.random.default_rng(seed)
    xs, ys, _ = np.nonzero(roi)
    lo, hi = np.array([xs.min(), ys.min()]), np.array([xs.max(), ys.max()]) + 1
    for i, pid in enumerate(clinical["patient_id"]):
        size = np.maximum(rng.integers(64, 97, 2), hi - lo)
        start = np.clip(rng.integers(hi - size, lo + 1), 0, np.array(image.shape[:2]) - size)
        start3, stop3 = (*start, 0), (*(start + size), image.shape[2])
        img_c, aff_c = _crop(image, affine, start3, stop3)
        roi_c, _ = _crop(roi, affine, start3, stop3)
        if i % 2:
            img_c, aff_f = flip_axes(img_c, aff_c, (0, 1))
            roi_c, _ = flip_axes(roi_c, aff_c, (0, 1))
            aff_c = aff_f
        for seq in schema.SEQUENCES:
            scale, offset = rng.uniform(0.5, 2.0), rng.uniform(0.0, 100.0)
            noise = rng.normal(0.0, 5.0, img_c.shape)
            vol = np.clip(img_c * scale + offset + noise, 0, 32767).astype(np.int16)
            write_volume(dst / schema.image_relpath(pid, seq), vol, aff_c)
            write_volume(dst / schema.roi_relpath(pid, seq), roi_c.astype(np.uint8), aff_c)
    return dst
