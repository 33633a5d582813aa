"""DICOM exports written from the digital twin, for the import tests and the benchmark.

:func:`write_patient_export` writes one twin patient as a PACS-like export: one
MR series per sequence (pydicom, one file per slice) and an RTSTRUCT whose
contours are the **exact pixel-boundary polygons** of the twin's mask (every
edge between a mask pixel and a background pixel, at the pixel corners), an
independent method from the importer's rasteriser (scanline fill at pixel
centres): a polygon along pixel edges contains exactly the centres of the
pixels it encloses, so importing must give the mask back exactly.

Every header carries identifiers (:data:`IDENTIFIERS`: names, ids, dates,
institution, accession number) so that tests can search the imported cohort
for them.
"""

from __future__ import annotations

__all__ = ["IDENTIFIERS", "SeriesSpec", "boundary_polygons", "twin_images", "write_series", "write_rtstruct",
           "write_patient_export", "resample_nearest", "latent_zero"]

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"

#: identifiers written into every header (``{i}``: the patient's number)
IDENTIFIERS = {
    "PatientName": "ZZTESTNAME^JANE{i}",
    "PatientID": "MRN77{i:04d}",
    "PatientBirthDate": "19650412",
    "StudyDate": "20150301",
    "AccessionNumber": "ACCN55{i:04d}",
    "InstitutionName": "Zeta General Hospital",
    "ReferringPhysicianName": "ZZDOCTOR^HOUSE",
    "StudyID": "STUDY88{i}",
}

latent_zero = dict(z_size=0.0, z_invasion=0.0, z_heterogeneity=0.0, z_necrosis=0.0, z_enhancement=0.0)


@dataclass
class SeriesSpec:
    """How one sequence is written.

    ``flip``: voxel axes (0: columns, 1: rows, 2: slices) reversed before
    writing (the world content is unchanged: the affine follows), so ``(0, 1)``
    gives the usual DICOM LPS axial order; ``slope``/``intercept``: rescale
    written; ``names``: file names (``None``: ``IM{n}.dcm``).
    """

    description: str
    number: int
    flip: tuple[int, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0
    protocol: str = ""
    extra: dict = field(default_factory=dict)


def twin_images(seed: int = 1, scanner: str = "B", latent=None):
    """The twin's ``{seq: SyntheticImage}`` of one patient (RAS affine, int16 image, uint8 mask)."""
    from npc_lib.twin.phantom import synthesize_patient

    return synthesize_patient(latent or latent_zero, scanner, seed)


def _uid(prefix: str, *parts) -> str:
    return "1.2.826.0.1.3680043.10.999." + ".".join(str(p) for p in (prefix, *parts))


def boundary_polygons(mask2d: np.ndarray) -> list[np.ndarray]:
    """Closed polygons (pixel coordinates ``(i, j)``, centres at integers) along the mask's pixel edges.

    Every edge between a mask pixel and a background pixel is used once; the
    edges are chained into loops (outer boundaries and holes alike).
    """
    m = np.pad(np.asarray(mask2d, bool), 1)
    edges: dict[tuple, list[tuple]] = {}
    ii, jj = np.nonzero(m[1:-1, 1:-1])
    for i, j in zip(ii + 1, jj + 1):
        # corners (a, b) stand for the point (a - 1.5, b - 1.5) of the unpadded grid
        for nb, a, b in (((i, j - 1), (i, j), (i + 1, j)), ((i + 1, j), (i + 1, j), (i + 1, j + 1)),
                         ((i, j + 1), (i + 1, j + 1), (i, j + 1)), ((i - 1, j), (i, j + 1), (i, j))):
            if not m[nb]:
                edges.setdefault(a, []).append(b)
    loops = []
    while edges:
        start = next(iter(edges))
        loop, here = [start], start
        while True:
            nxt = edges[here].pop()
            if not edges[here]:
                del edges[here]
            if nxt == start:
                break
            loop.append(nxt)
            here = nxt
        loops.append(np.array(loop, dtype=float) - 1.5)
    return loops


def _flip(image: np.ndarray, affine: np.ndarray, axes) -> tuple[np.ndarray, np.ndarray]:
    affine = affine.copy()
    for ax in axes:
        n = image.shape[ax]
        affine[:3, 3] = affine[:3, 3] + affine[:3, ax] * (n - 1)
        affine[:3, ax] = -affine[:3, ax]
        image = np.flip(image, axis=ax)
    return np.ascontiguousarray(image), affine


def resample_nearest(volume: np.ndarray, affine: np.ndarray, shape, target_affine: np.ndarray) -> np.ndarray:
    """``volume`` (grid ``affine``) sampled at the voxel centres of ``(target_affine, shape)``, nearest neighbour."""
    from scipy import ndimage

    ijk = np.indices(shape).reshape(3, -1)
    src = np.linalg.inv(affine) @ target_affine @ np.r_[ijk, np.ones((1, ijk.shape[1]))]
    out = ndimage.map_coordinates(volume, src[:3], order=0, mode="constant", cval=0)
    return out.reshape(shape)


def _base(i: int, extra_ids: dict | None = None):
    from pydicom.dataset import Dataset

    ds = Dataset()
    for key, value in IDENTIFIERS.items():
        setattr(ds, key, value.format(i=i))
    for key, value in (extra_ids or {}).items():
        setattr(ds, key, value)
    ds.PatientSex = "F" if i % 2 else "M"
    ds.PatientAge = f"{40 + i % 30:03d}Y"
    ds.StudyInstanceUID = _uid("1", i)
    ds.FrameOfReferenceUID = _uid("2", i)
    ds.StudyDescription = "NPC staging MR"
    ds.Manufacturer = "SIEMENS"
    ds.ManufacturerModelName = "Avanto"
    ds.MagneticFieldStrength = "1.5"
    return ds


def _save(ds, path: Path, sop_class: str, transfer_syntax: str | None = None) -> None:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax or ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_series(folder: Path, i: int, image: np.ndarray, affine_ras: np.ndarray, spec: SeriesSpec,
                 series_key: int, names=None, base_ids: dict | None = None) -> dict:
    """Write one MR series (a file per slice); return ``{"uid", "affine_lps", "sops", "shape"}``.

    The written voxel array is ``image`` flipped along ``spec.flip``; pixel
    ``(row j, column i)`` of slice ``k`` is its voxel ``(i, j, k)``.
    """
    vol, aff = _flip(image, affine_ras, spec.flip)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff
    row, col = lps[:3, 0], lps[:3, 1]
    dc, dr = float(np.linalg.norm(row)), float(np.linalg.norm(col))
    stored = np.rint((vol.astype(np.float64) - spec.intercept) / spec.slope)
    if not (stored.min() >= -32768 and stored.max() <= 32767):
        raise ValueError("stored values out of int16: choose another slope/intercept")
    series_uid = _uid("3", i, series_key)
    sops = []
    for k in range(vol.shape[2]):
        ds = _base(i, base_ids)
        ds.Modality = "MR"
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = _uid("4", i, series_key, k)
        ds.SeriesNumber = spec.number
        ds.SeriesDescription = spec.description
        ds.ProtocolName = spec.protocol or spec.description
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*(row / dc), *(col / dr))]
        ds.ImagePositionPatient = [f"{v:.4f}" for v in (lps @ [0, 0, k, 1])[:3]]
        ds.PixelSpacing = [f"{dr:.6g}", f"{dc:.6g}"]
        ds.SliceThickness = f"{float(np.linalg.norm(lps[:3, 2])):.6g}"
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = f"{spec.slope:g}", f"{spec.intercept:g}"
        for key, value in spec.extra.items():
            setattr(ds, key, value)
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T.astype("<i2")).tobytes()
        name = names[k] if names else f"IM{series_key}_{k:03d}.dcm"
        _save(ds, folder / name, MR_STORAGE)
        sops.append(ds.SOPInstanceUID)
    return {"uid": series_uid, "affine_lps": lps, "sops": sops, "shape": vol.shape, "mask_flip": spec.flip}


def write_rtstruct(path: Path, i: int, rois: dict, base_ids: dict | None = None,
                   frame_of_reference: str | None = None, move_mm=(0.0, 0.0, 0.0)) -> None:
    """An RTSTRUCT with ROIs ``{name: (mask in the twin's RAS voxel order, series drawn on)}``.

    ``series``: a :func:`write_series` result. Contours are
    :func:`boundary_polygons` of each slice of the mask (flipped like the
    series), in patient coordinates through the series' affine, moved by
    ``move_mm`` (LPS).
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = _base(i, base_ids)
    if frame_of_reference:
        ds.FrameOfReferenceUID = frame_of_reference
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = _uid("5", i)
    ds.SOPInstanceUID = _uid("6", i)
    ds.StructureSetLabel = "GTV"
    ref_study = Dataset()
    ref_study.ReferencedSOPInstanceUID = ds.StudyInstanceUID
    ref_study.RTReferencedSeriesSequence = Sequence()
    for uid in dict.fromkeys(s["uid"] for _, s in rois.values()):
        series = next(s for _, s in rois.values() if s["uid"] == uid)
        ref_series = Dataset()
        ref_series.SeriesInstanceUID = uid
        ref_series.ContourImageSequence = Sequence()
        for sop in series["sops"]:
            item = Dataset()
            item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = MR_STORAGE, sop
            ref_series.ContourImageSequence.append(item)
        ref_study.RTReferencedSeriesSequence.append(ref_series)
    ref_for = Dataset()
    ref_for.FrameOfReferenceUID = ds.FrameOfReferenceUID
    ref_for.RTReferencedStudySequence = Sequence([ref_study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([ref_for])
    ds.StructureSetROISequence, ds.ROIContourSequence = Sequence(), Sequence()
    for number, (name, (mask, series)) in enumerate(rois.items(), start=1):
        lps = series["affine_lps"]
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID, roi.ROIName = number, ds.FrameOfReferenceUID, name
        roi.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber = number
        rc.ContourSequence = Sequence()
        m, _ = _flip(mask, np.eye(4), series["mask_flip"])
        for k in range(m.shape[2]):
            for poly in boundary_polygons(m[:, :, k]):
                pts = (lps @ np.c_[poly, np.full(len(poly), k), np.ones(len(poly))].T)[:3].T + np.asarray(move_mm)
                c = Dataset()
                c.ContourGeometricType = "CLOSED_PLANAR"
                c.NumberOfContourPoints = len(pts)
                c.ContourData = [f"{v:.4f}" for v in pts.ravel()]
                img = Dataset()
                img.ReferencedSOPClassUID, img.ReferencedSOPInstanceUID = MR_STORAGE, series["sops"][k]
                c.ContourImageSequence = Sequence([img])
                rc.ContourSequence.append(c)
        ds.ROIContourSequence.append(rc)
    _save(ds, path, RTSTRUCT_STORAGE)


DEFAULT_SPECS = {
    "T1": SeriesSpec("t1_tse_tra", 3),
    "T2": SeriesSpec("t2_tse_tra fs", 4),
    "T1C": SeriesSpec("t1_tse_tra post Gd", 7),
}


def write_patient_export(folder: Path, i: int, images=None, specs: dict | None = None,
                         roi_on: str = "T1C", roi_name: str = "GTVnx", own_rois: bool = False,
                         grids: dict | None = None, masks: dict | None = None, rtstruct: bool = True) -> dict:
    """Write patient ``i``: MR series of T1, T2, T1C and one RTSTRUCT.

    Parameters
    ----------
    roi_on, roi_name : str
        The tumour ROI ``roi_name`` drawn on ``roi_on`` (and an empty
        ``Brainstem``) when ``own_rois`` is False; else ROIs ``GTV_T1``,
        ``GTV_T2``, ``GTV_T1C``, each drawn on its own series.
    grids : dict, optional
        ``{seq: (shape, affine_ras)}``: write that sequence on its own grid
        (the twin image resampled, nearest neighbour).
    masks : dict, optional
        ``{seq: mask}`` replacing the twin's masks (holes, pieces).

    Returns
    -------
    dict
        ``{seq: (image, affine_ras)}`` as written (before any flip),
        ``"masks"``: ``{seq: mask}`` drawn, ``"series"``: the series written.
    """
    images = images if images is not None else twin_images(seed=i)
    specs = {**DEFAULT_SPECS, **(specs or {})}
    folder = Path(folder)
    written, series = {}, {}
    drawn = {seq: (masks or {}).get(seq, images[seq].mask) for seq in ("T1", "T2", "T1C")}
    for key, seq in enumerate(("T1", "T2", "T1C")):
        item = images[seq]
        image, affine = item.image, item.affine
        if grids and seq in grids:
            shape, target = grids[seq]
            image = resample_nearest(image, affine, shape, target).astype(np.int16)
            drawn[seq] = resample_nearest(drawn[seq], affine, shape, target).astype(np.uint8)
            affine = target
        series[seq] = write_series(folder / f"series{key}", i, image, affine, specs[seq], key + 1)
        written[seq] = (image, affine)
    if own_rois:
        rois = {f"GTV_{seq}": (drawn[seq], series[seq]) for seq in drawn}
    else:
        rois = {roi_name: (drawn[roi_on], series[roi_on]),
                "Brainstem": (np.zeros_like(drawn[roi_on]), series[roi_on])}
    if rtstruct:
        write_rtstruct(folder / "rt" / "RS.dcm", i, rois)
    written["masks"], written["series"] = drawn, series
    return written


def edit_files(folder: Path, fn) -> list[Path]:
    """Apply ``fn(dataset)`` to every DICOM file under ``folder`` and save it in place; the files, sorted."""
    import pydicom

    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    for p in files:
        ds = pydicom.dcmread(p)
        fn(ds)
        ds.save_as(p, enforce_file_format=True)
    return files


def new_uids(tag: str):
    """An ``edit_files`` function giving a series new Series/SOP instance UIDs (a copy of it)."""
    counter = iter(range(10**6))

    def fn(ds):
        ds.SeriesInstanceUID = _uid("7", tag)
        ds.SOPInstanceUID = _uid("8", tag, next(counter))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return fn


def set_contours(rs_path: Path, roi_name: str, contours: list[np.ndarray]) -> None:
    """Replace the contours of ``roi_name`` in an RTSTRUCT by ``contours`` (each (n, 3), LPS mm)."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(rs_path)
    number = next(r.ROINumber for r in ds.StructureSetROISequence if r.ROIName == roi_name)
    rc = next(r for r in ds.ROIContourSequence if r.ReferencedROINumber == number)
    rc.ContourSequence = Sequence()
    for pts in contours:
        c = Dataset()
        c.ContourGeometricType = "CLOSED_PLANAR"
        c.NumberOfContourPoints = len(pts)
        c.ContourData = [f"{v:.4f}" for v in np.asarray(pts, float).ravel()]
        rc.ContourSequence.append(c)
    ds.save_as(rs_path, enforce_file_format=True)


def write_registration(path: Path, i: int, moving_for: str, matrix: np.ndarray) -> None:
    """A spatial registration object: ``matrix`` maps ``moving_for`` into patient ``i``'s MR frame of reference."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = _base(i)
    ds.Modality = "REG"
    ds.SeriesInstanceUID = _uid("9", i)
    ds.SOPInstanceUID = _uid("10", i)
    items = []
    for for_uid, m in ((ds.FrameOfReferenceUID, np.eye(4)), (moving_for, matrix)):
        mat = Dataset()
        mat.FrameOfReferenceTransformationMatrixType = "RIGID"
        mat.FrameOfReferenceTransformationMatrix = [f"{v:.6f}" for v in np.asarray(m, float).ravel()]
        reg = Dataset()
        reg.MatrixSequence = Sequence([mat])
        item = Dataset()
        item.FrameOfReferenceUID = for_uid
        item.MatrixRegistrationSequence = Sequence([reg])
        items.append(item)
    ds.RegistrationSequence = Sequence(items)
    _save(ds, path, "1.2.840.10008.5.1.4.1.1.66.1")
