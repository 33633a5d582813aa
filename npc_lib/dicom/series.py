"""Read one MR series into a volume: slices sorted by position, checked, rescaled.

Slices are ordered by their position along the slice normal (the cross product
of ``ImageOrientationPatient``'s row and column directions), never by file
name, InstanceNumber or the order found. Before any pixel is read the series'
geometry is checked (one orientation, one matrix, one pixel spacing: an
interleaved series sharing a SeriesInstanceUID is refused); after sorting,
duplicate positions, gaps (missing slices), uneven spacing and positions off the
normal are errors. Each slice's RescaleSlope/RescaleIntercept is applied.

Array layout: ``data[i, j, k]`` is column ``i``, row ``j`` of the ``k``-th slice
(sorted by position); ``affine_lps`` maps ``(i, j, k, 1)`` to DICOM patient
coordinates (LPS, mm).
"""

from __future__ import annotations

__all__ = ["SeriesGeometry", "SeriesVolume", "series_geometry", "read_series", "lps_to_ras", "native_pixels"]

import time
from dataclasses import dataclass

import numpy as np

from .problems import ProblemList
from .scan import ENHANCED_MR_STORAGE, Series, functional_group

_TOL_ORIENTATION = 1e-4
_TOL_POSITION_MM = 1e-3
#: relative tolerance of uneven slice spacing (and at least 0.01 mm)
SPACING_TOLERANCE = 0.01


def _check_series(series: Series) -> Series:
    if not series.instances:
        raise ValueError(f"series {series.label} has no files")
    return series


@dataclass(frozen=True)
class SeriesGeometry:
    """Orientation of a series (from its headers, before pixels are read).

    ``row``, ``col``: unit direction cosines (LPS) of increasing column and row
    index; ``normal = row x col``; ``angle`` (degrees, 0-90): between the
    normal and the head-foot axis (0 = axial).
    """

    row: np.ndarray
    col: np.ndarray
    normal: np.ndarray
    angle: float
    pixel_spacing: tuple[float, float]
    shape: tuple[int, int]


@dataclass
class SeriesVolume:
    """A series read into a 3-D volume (see the module docstring for the layout).

    ``data`` is int16 when every rescaled value is a whole number within int16,
    else float32; ``positions`` are the sorted slice positions along the normal (mm).
    """

    data: np.ndarray
    affine_lps: np.ndarray
    positions: np.ndarray
    series: Series

    @property
    def slice_spacing(self) -> float:
        """Distance between slice centres (mm)."""
        return float(np.linalg.norm(self.affine_lps[:3, 2]))


def lps_to_ras(affine_lps: np.ndarray) -> np.ndarray:
    """The NIfTI (RAS) affine of a DICOM (LPS) one: x and y negated.

    Examples
    --------
    >>> lps_to_ras(np.eye(4))[:3, 3].tolist(), np.diag(lps_to_ras(np.eye(4))).tolist()
    ([0.0, 0.0, 0.0], [-1.0, -1.0, 1.0, 1.0])
    """
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine_lps, dtype=float)


def series_geometry(series: Series, problems: ProblemList) -> SeriesGeometry | None:
    """Check that every file of ``series`` has one orientation, matrix and pixel spacing.

    Returns None (with an error in ``problems``) for a series without
    orientation or one mixing several geometries (two interleaved series
    sharing one SeriesInstanceUID).
    """
    _check_series(series)
    where = dict(patient=series.patient_id, series=series.label)
    first = series.instances[0]
    if any(i.orientation is None or i.pixel_spacing is None or i.shape is None for i in series.instances):
        bad = next(i for i in series.instances if i.orientation is None or i.pixel_spacing is None or i.shape is None)
        problems.add("error", "no ImageOrientationPatient, PixelSpacing or Rows/Columns", file=str(bad.path), **where)
        return None
    kinds = {(tuple(np.round(i.orientation, 4)), i.shape, tuple(np.round(i.pixel_spacing, 4))) for i in series.instances}
    if len(kinds) > 1:
        other = next(i for i in series.instances
                     if (tuple(np.round(i.orientation, 4)), i.shape, tuple(np.round(i.pixel_spacing, 4)))
                     != (tuple(np.round(first.orientation, 4)), first.shape, tuple(np.round(first.pixel_spacing, 4))))
        problems.add("error", f"{len(kinds)} orientations/matrices/pixel spacings in one series (interleaved series "
                     f"sharing a SeriesInstanceUID?): {first.path.name} and {other.path.name} differ",
                     file=str(other.path), **where)
        return None
    row, col = np.array(first.orientation[:3]), np.array(first.orientation[3:])
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    normal = np.cross(row, col)
    angle = float(np.degrees(np.arccos(min(1.0, abs(normal[2]) / np.linalg.norm(normal)))))
    return SeriesGeometry(row, col, normal / np.linalg.norm(normal), angle, first.pixel_spacing, first.shape)


def _rescale(ds, frame: int | None = None) -> tuple[float, float]:
    if frame is not None:
        slope = functional_group(ds, frame, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = functional_group(ds, frame, "PixelValueTransformationSequence", "RescaleIntercept")
    else:
        slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    return float(slope if slope is not None else 1.0), float(intercept if intercept is not None else 0.0)


_NATIVE_LE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")


def native_pixels(ds) -> np.ndarray:
    """The pixels of a single-frame, uncompressed little-endian grey image read straight from PixelData.

    pydicom's ``pixel_array`` gives the same array but takes about 2 ms per
    small slice in its generic decoder set-up, as long as the rest of the
    import of a slice; anything else (compressed, big-endian, multi-frame,
    colour, packed bits) is handed to ``pixel_array``.
    """
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    bits, stored = int(ds.get("BitsAllocated") or 0), int(ds.get("BitsStored") or 0)
    rows, cols, signed = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0), int(ds.get("PixelRepresentation") or 0)
    raw = ds.get("PixelData")
    if (syntax not in _NATIVE_LE or int(ds.get("SamplesPerPixel") or 1) != 1 or int(ds.get("NumberOfFrames") or 1) != 1
            or bits not in (8, 16, 32) or stored != bits or not isinstance(raw, bytes)
            or len(raw) < rows * cols * bits // 8):
        return ds.pixel_array
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    return np.frombuffer(raw, dtype=dtype, count=rows * cols).reshape(rows, cols)


def _read_slices(series: Series, problems: ProblemList):
    """(list of (position, sop_uid, float64 pixels (rows, cols), path)); multi-frame objects expanded."""
    import pydicom

    out = []
    where = dict(patient=series.patient_id, series=series.label)
    compressed = sorted({i.transfer_syntax for i in series.instances if i.transfer_syntax not in _NATIVE_LE})
    if compressed:
        import pydicom.uid

        names = ", ".join(pydicom.uid.UID(u).name for u in compressed)
        problems.add("note", f"transfer syntax {names}: decoded by pydicom", file=str(series.instances[0].path),
                     **where)
    for inst in series.instances:
        if inst.raw is not None:  # uncompressed: the pixels straight from the file, header parsed once
            offset, dtype, slope, intercept = inst.raw
            try:
                pixels = np.fromfile(inst.path, dtype=dtype, count=inst.shape[0] * inst.shape[1], offset=offset)
                pixels = pixels.reshape(inst.shape)
            except (OSError, ValueError) as exc:
                problems.add("error", f"pixel data cannot be read ({type(exc).__name__}: {exc})",
                             file=str(inst.path), **where)
                continue
            values = pixels.astype(np.float64) if (slope, intercept) == (1.0, 0.0) else pixels * slope + intercept
            out.append((None if inst.position is None else np.array(inst.position), inst.sop_uid, values, inst.path))
            continue
        try:
            ds = pydicom.dcmread(inst.path)
            pixels = ds.pixel_array if inst.n_frames > 1 else native_pixels(ds)
        except Exception as exc:  # pydicom/decoder errors have many types
            problems.add("error", f"pixel data cannot be read ({type(exc).__name__}: {exc}); a compressed transfer "
                         f"syntax {inst.transfer_syntax} may need a decoder plug-in (pylibjpeg, gdcm)",
                         file=str(inst.path), **where)
            continue
        if inst.n_frames > 1:
            if inst.sop_class != ENHANCED_MR_STORAGE:
                problems.add("error", f"a multi-frame object ({inst.n_frames} frames) without per-frame positions",
                             file=str(inst.path), **where)
                continue
            problems.add("note", f"an enhanced multi-frame MR ({inst.n_frames} frames) read frame by frame",
                         file=str(inst.path), **where)
            for f in range(inst.n_frames):
                pos = functional_group(ds, f, "PlanePositionSequence", "ImagePositionPatient")
                slope, intercept = _rescale(ds, f)
                out.append((None if pos is None else np.array([float(v) for v in pos]), f"{inst.sop_uid}#{f + 1}",
                            pixels[f] * slope + intercept, inst.path))
            continue
        slope, intercept = _rescale(ds)
        pos = None if inst.position is None else np.array(inst.position)
        values = pixels.astype(np.float64) if (slope, intercept) == (1.0, 0.0) else pixels * slope + intercept
        out.append((pos, inst.sop_uid, values, inst.path))
    return out


def _sort_and_check(slices, geom: SeriesGeometry, series: Series, problems: ProblemList, thickness: float):
    """Slices sorted along the normal, copies dropped; (slices, positions, step vector) or None on error."""
    where = dict(patient=series.patient_id, series=series.label)
    missing = [s for s in slices if s[0] is None]
    if missing:
        problems.add("error", "no ImagePositionPatient", file=str(missing[0][3]), **where)
        return None
    d = np.array([float(s[0] @ geom.normal) for s in slices])
    order = np.argsort(d, kind="stable")
    slices, d = [slices[i] for i in order], d[order]
    keep, ok = [0], True
    for a in range(1, len(slices)):
        if d[a] - d[keep[-1]] > _TOL_POSITION_MM:
            keep.append(a)
            continue
        prev = slices[keep[-1]]
        if prev[1] == slices[a][1] or np.array_equal(prev[2], slices[a][2]):
            problems.add("note", f"a copy of the slice at {d[a]:.2f} mm ({prev[3].name}) ignored",
                         file=str(slices[a][3]), **where)
        else:
            problems.add("error", f"duplicate slices: two different images at position {d[a]:.2f} mm along the normal "
                         f"({prev[3].name} and {slices[a][3].name})", file=str(slices[a][3]), **where)
            ok = False
    slices, d = [slices[i] for i in keep], d[keep]
    if not ok:
        return None
    if len(slices) == 1:
        problems.add("note", f"a single slice: slice thickness {thickness} mm taken as the spacing",
                     file=str(slices[0][3]), **where)
        return slices, d, geom.normal * thickness
    steps = np.diff(d)
    step = float(np.median(steps))
    gaps = np.flatnonzero(steps > 1.5 * step)
    for g in gaps:
        problems.add("error", f"missing slice(s): a gap of {steps[g]:.2f} mm between positions {d[g]:.2f} and "
                     f"{d[g + 1]:.2f} mm (spacing {step:.2f} mm)", file=str(slices[g + 1][3]), **where)
    uneven = np.abs(steps - step) > max(0.01, SPACING_TOLERANCE * step)
    uneven[gaps] = False
    if uneven.any():
        g = int(np.flatnonzero(uneven)[0])
        problems.add("error", f"uneven slice spacing: {steps.min():.3f} to {steps.max():.3f} mm (median {step:.3f}; "
                     f"first at {d[g]:.2f} mm)", file=str(slices[g + 1][3]), **where)
    p0, p1 = slices[0][0], slices[-1][0]
    off = [(s[0] - p0) - ((s[0] - p0) @ geom.normal) * geom.normal for s in slices]
    if max(float(np.linalg.norm(o)) for o in off) > 0.05:
        problems.add("error", "slice positions are not along the slice normal (a sheared stack, gantry tilt?)",
                     file=str(slices[-1][3]), **where)
        return None
    if len(gaps) or uneven.any():
        return None
    return slices, d, (p1 - p0) / (len(slices) - 1)


def read_series(series: Series, geom: SeriesGeometry, problems: ProblemList,
                timings: dict | None = None) -> SeriesVolume | None:
    """Read the pixels of ``series``, sort and check the slices; None (with errors in ``problems``) on failure.

    Parameters
    ----------
    series : Series
        From :func:`npc_lib.dicom.scan.scan_folder`.
    geom : SeriesGeometry
        From :func:`series_geometry`.
    problems : ProblemList
        Receives every problem found (errors name the patient, series and file).
    timings : dict, optional
        ``"reading"`` and ``"sorting"`` seconds are added to it.
    """
    _check_series(series)
    timings = timings if timings is not None else {}
    t0 = time.perf_counter()
    n_errors = len(problems.errors)
    slices = _read_slices(series, problems)
    t1 = time.perf_counter()
    timings["reading"] = timings.get("reading", 0.0) + t1 - t0
    if len(problems.errors) > n_errors or not slices:
        return None
    ds_thickness = series.instances[0]
    thickness = 1.0
    if len(slices) == 1:
        import pydicom

        hdr = pydicom.dcmread(ds_thickness.path, stop_before_pixels=True)
        thickness = float(hdr.get("SpacingBetweenSlices") or hdr.get("SliceThickness") or 1.0)
    checked = _sort_and_check(slices, geom, series, problems, thickness)
    if checked is None:
        timings["sorting"] = timings.get("sorting", 0.0) + time.perf_counter() - t1
        return None
    slices, d, step = checked
    values = np.stack([s[2] for s in slices], axis=-1).transpose(1, 0, 2)  # (cols, rows, slices)
    whole = np.array_equal(values, np.rint(values))
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if whole and -32768 <= lo and hi <= 32767:
        data = values.astype(np.int16)
    else:
        data = values.astype(np.float32)
    dr, dc = geom.pixel_spacing  # PixelSpacing: (between rows, between columns)
    affine = np.eye(4)
    affine[:3, 0] = geom.row * dc
    affine[:3, 1] = geom.col * dr
    affine[:3, 2] = step
    affine[:3, 3] = slices[0][0]
    timings["sorting"] = timings.get("sorting", 0.0) + time.perf_counter() - t1
    return SeriesVolume(data, affine, d, series)
