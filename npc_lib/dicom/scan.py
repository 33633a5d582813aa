"""Find the DICOM files under a folder and group them by patient, study and series.

Files are recognised by their content, not their name (no ``.dcm`` needed); the
walk order does not matter (everything is grouped by UIDs, then sorted). A
``DICOMDIR`` is read for its list of files: those it names are checked to be
present, and files it does not name are found by the walk anyway. Files that are
not DICOM are skipped with a note.
"""

from __future__ import annotations

__all__ = ["Instance", "Series", "Study", "PatientFiles", "ScanResult", "scan_folder", "read_header", "read_file",
           "functional_group", "MR_STORAGE", "ENHANCED_MR_STORAGE", "RTSTRUCT_STORAGE", "REGISTRATION_STORAGE", "DICOMDIR_STORAGE"]

import os
from dataclasses import dataclass, field
from pathlib import Path

from .problems import ProblemList

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
REGISTRATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.1"
DICOMDIR_STORAGE = "1.2.840.10008.1.3.10"
#: header fields kept for the clinical table (read from a series' first file)
_DEMOGRAPHICS = ("PatientAge", "PatientBirthDate", "StudyDate", "PatientSex", "Manufacturer",
                 "ManufacturerModelName", "MagneticFieldStrength")


def _check_folder(src) -> Path:
    src = Path(src)
    if not src.is_dir():
        raise ValueError(f"DICOM source: folder not found: {src}")
    return src


@dataclass
class Instance:
    """One DICOM file's header (pixel data not read).

    ``dataset`` is kept for RTSTRUCT and registration objects (small, read
    whole); image files are read again with their pixels when chosen.
    ``raw``: ``(byte offset, numpy dtype, rescale slope, intercept)`` of an
    uncompressed little-endian single-frame grey image, whose pixels are then
    read straight from the file (see :func:`read_header`); None otherwise.
    """

    path: Path
    sop_uid: str
    sop_class: str
    modality: str
    series_uid: str
    frame_of_reference: str
    orientation: tuple | None
    position: tuple | None
    pixel_spacing: tuple | None
    shape: tuple[int, int] | None
    n_frames: int
    transfer_syntax: str
    dataset: object = None
    raw: tuple | None = None


@dataclass
class Series:
    """The files of one SeriesInstanceUID."""

    uid: str
    patient_id: str
    study_uid: str
    modality: str
    number: str
    description: str
    protocol: str
    frame_of_reference: str
    demographics: dict
    instances: list[Instance] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``<SeriesNumber> '<SeriesDescription>'`` (how problems name a series)."""
        return f"{self.number or '?'} '{self.description}'"


@dataclass
class Study:
    """The series, structure sets and registrations of one StudyInstanceUID."""

    uid: str
    description: str
    study_id: str
    series: dict[str, Series] = field(default_factory=dict)
    rtstructs: list[Instance] = field(default_factory=list)
    registrations: list[Instance] = field(default_factory=list)


@dataclass
class PatientFiles:
    """Everything found for one PatientID."""

    patient_id: str
    studies: dict[str, Study] = field(default_factory=dict)

    def all_series(self) -> dict[str, Series]:
        """Every series of every study, by SeriesInstanceUID."""
        return {uid: s for st in self.studies.values() for uid, s in st.series.items()}


@dataclass
class ScanResult:
    """Result of :func:`scan_folder`."""

    root: Path
    patients: dict[str, PatientFiles]
    problems: ProblemList
    n_files: int
    n_dicom: int


def _floats(value, n: int) -> tuple | None:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def _text(ds, name: str) -> str:
    value = ds.get(name, "")
    return "" if value is None else str(value).strip()


def read_header(path: Path, where: list | None = None):
    """The dataset of ``path`` without pixel data, or None when it is not DICOM.

    ``where``, when given, receives ``(offset, next 12 bytes)``: where parsing
    stopped (the pixel data element's start when there is one), so that the
    pixels of an uncompressed image can later be read without parsing the
    header again (about half the time of an import otherwise).

    Raises
    ------
    ValueError
        A DICOM file that cannot be parsed (truncated, corrupt).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with open(path, "rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True)
            if where is not None:
                where[:] = [fp.tell(), fp.read(12)]
            return ds
    except InvalidDicomError:
        return None
    except Exception as exc:  # pydicom raises many types on corrupt files
        raise ValueError(f"unreadable DICOM ({type(exc).__name__}: {exc})") from exc


_NATIVE_LE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
_PIXEL_TAG = b"\xe0\x7f\x10\x00"


def _raw_pixels(ds, syntax: str, where: list) -> tuple | None:
    """``(offset of the pixel bytes, dtype, slope, intercept)`` when they can be read directly, else None."""
    if not where or syntax not in _NATIVE_LE or int(ds.get("NumberOfFrames") or 1) != 1:
        return None
    try:
        bits, stored = int(ds.get("BitsAllocated") or 0), int(ds.get("BitsStored") or 0)
        rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        signed, samples = int(ds.get("PixelRepresentation") or 0), int(ds.get("SamplesPerPixel") or 1)
        slope, intercept = float(ds.get("RescaleSlope") or 1.0), float(ds.get("RescaleIntercept") or 0.0)
    except (TypeError, ValueError):
        return None
    offset, head = where
    if bits not in (8, 16, 32) or stored != bits or samples != 1 or len(head) < 12 or head[:4] != _PIXEL_TAG:
        return None
    explicit = syntax == _NATIVE_LE[1]
    start, length = (offset + 12, int.from_bytes(head[8:12], "little")) if explicit else \
        (offset + 8, int.from_bytes(head[4:8], "little"))
    if length != rows * cols * bits // 8:
        return None
    return start, f"<{'i' if signed else 'u'}{bits // 8}", slope, intercept


def _instance(path: Path, ds, where: list | None = None) -> Instance:
    meta = getattr(ds, "file_meta", None)
    sop_class = _text(ds, "SOPClassUID") or (_text(meta, "MediaStorageSOPClassUID") if meta else "")
    modality = _text(ds, "Modality").upper()
    keep = modality in ("RTSTRUCT", "REG") or sop_class in (RTSTRUCT_STORAGE, REGISTRATION_STORAGE)
    rows, cols = ds.get("Rows"), ds.get("Columns")
    orientation, spacing = ds.get("ImageOrientationPatient"), ds.get("PixelSpacing")
    if sop_class == ENHANCED_MR_STORAGE:  # geometry in the functional groups
        orientation, spacing = _enhanced_geometry(ds)
    return Instance(
        path=path, sop_uid=_text(ds, "SOPInstanceUID"), sop_class=sop_class, modality=modality,
        series_uid=_text(ds, "SeriesInstanceUID"), frame_of_reference=_text(ds, "FrameOfReferenceUID"),
        orientation=_floats(orientation, 6), position=_floats(ds.get("ImagePositionPatient"), 3),
        pixel_spacing=_floats(spacing, 2),
        shape=(int(rows), int(cols)) if rows and cols else None,
        n_frames=int(ds.get("NumberOfFrames") or 1),
        transfer_syntax=_text(meta, "TransferSyntaxUID") if meta else "",
        dataset=ds if keep else None,
        raw=None if keep else _raw_pixels(ds, _text(meta, "TransferSyntaxUID") if meta else "", where or []),
    )


def functional_group(ds, frame: int, sequence: str, attribute: str):
    """``attribute`` of an enhanced object's ``sequence`` for ``frame`` (per-frame, else shared), or None."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = ds.get(groups)
        if items is not None and len(items) > index:
            seq = items[index].get(sequence)
            if seq is not None and len(seq) and attribute in seq[0]:
                return seq[0].get(attribute)
    return None


def _enhanced_geometry(ds):
    return (functional_group(ds, 0, "PlaneOrientationSequence", "ImageOrientationPatient"),
            functional_group(ds, 0, "PixelMeasuresSequence", "PixelSpacing"))


def _dicomdir(path: Path, ds, problems: ProblemList) -> None:
    """Check that the files a DICOMDIR names exist (they are read by the walk)."""
    missing = []
    for rec in ds.get("DirectoryRecordSequence", []):
        ref = rec.get("ReferencedFileID")
        if ref:
            parts = [ref] if isinstance(ref, str) else list(ref)
            if not (path.parent.joinpath(*parts)).is_file():
                missing.append("/".join(parts))
    msg = "a DICOMDIR: the files of the folder are read whatever it lists"
    if missing:
        problems.add("warning", f"{msg}; {len(missing)} file(s) it lists are absent (first: {missing[0]})",
                     file=str(path))
    else:
        problems.add("note", msg, file=str(path))


_FIELDS = ("PatientID", "StudyInstanceUID", "StudyDescription", "StudyID", "SeriesNumber", "SeriesDescription",
           "ProtocolName")


def read_file(path: Path) -> tuple:
    """One file of the walk: ``("instance", Instance, header fields)``, ``("dicomdir", dataset)``,
    ``("not dicom",)`` or ``("unreadable", message)`` (a plain tuple, so that processes can return it)."""
    where: list = []
    try:
        ds = read_header(path, where)
    except ValueError as exc:
        return ("unreadable", str(exc))
    if ds is None:
        return ("not dicom",)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and _text(meta, "MediaStorageSOPClassUID") == DICOMDIR_STORAGE:
        return ("dicomdir", ds)
    fields = {k: _text(ds, k) for k in _FIELDS}
    fields["demographics"] = {k: _text(ds, k) for k in _DEMOGRAPHICS}
    return ("instance", _instance(path, ds, where), fields)


def _read_files(paths: list[Path], pool) -> list[tuple]:
    if pool is None:
        return [read_file(p) for p in paths]
    n = getattr(pool, "_max_workers", 2)
    return list(pool.map(read_file, paths, chunksize=max(1, min(256, len(paths) // (8 * n)))))


def _add(patients: dict, inst: Instance, ds: dict, problems: ProblemList) -> None:
    pid = ds["PatientID"]
    if not pid:
        problems.add("error", "no PatientID", file=str(inst.path))
        return
    study_uid = ds["StudyInstanceUID"]
    patient = patients.setdefault(pid, PatientFiles(pid))
    study = patient.studies.get(study_uid)
    if study is None:
        study = patient.studies[study_uid] = Study(study_uid, ds["StudyDescription"], ds["StudyID"])
    if inst.dataset is not None:
        (study.rtstructs if inst.modality == "RTSTRUCT" or inst.sop_class == RTSTRUCT_STORAGE
         else study.registrations).append(inst)
        return
    if not inst.series_uid:
        problems.add("error", "no SeriesInstanceUID", patient=pid, file=str(inst.path))
        return
    series = study.series.get(inst.series_uid)
    if series is None:
        series = study.series[inst.series_uid] = Series(
            uid=inst.series_uid, patient_id=pid, study_uid=study_uid, modality=inst.modality,
            number=ds["SeriesNumber"], description=ds["SeriesDescription"], protocol=ds["ProtocolName"],
            frame_of_reference=inst.frame_of_reference, demographics=ds["demographics"],
        )
    series.instances.append(inst)


def scan_folder(src, pool=None) -> ScanResult:
    """Walk ``src`` (any depth, any names, any order) and group its DICOM files.

    Parameters
    ----------
    src : path-like
        Folder of a DICOM export (PACS, planning system, a CD with a DICOMDIR).
    pool : concurrent.futures.Executor, optional
        Parses the headers in other processes (default: in this one).

    Returns
    -------
    ScanResult
        Patients (by PatientID) -> studies -> series, structure sets and
        registrations; instances sorted by path within a series (their
        spatial order is established when a series is read).
    """
    root = _check_folder(src)
    problems = ProblemList()
    patients: dict[str, PatientFiles] = {}
    not_dicom: list[str] = []
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        paths.extend(Path(dirpath) / name for name in sorted(filenames))
    n_files, n_dicom, no_extension = len(paths), 0, 0
    for path, found in zip(paths, _read_files(paths, pool)):
        if found[0] == "unreadable":
            problems.add("warning", f"{found[1]}: skipped", file=str(path))
        elif found[0] == "not dicom":
            not_dicom.append(str(path))
        elif found[0] == "dicomdir":
            n_dicom += 1
            _dicomdir(path, found[1], problems)
        else:
            n_dicom += 1
            no_extension += path.suffix.lower() != ".dcm"
            _add(patients, found[1], found[2], problems)
    if no_extension:
        problems.add("note", f"{no_extension} DICOM file(s) without the .dcm extension, recognised by their content")
    if not_dicom:
        problems.add("note", f"{len(not_dicom)} file(s) that are not DICOM skipped (first: {not_dicom[0]})")
    if not patients:
        problems.add("error", f"no DICOM patient found under {root} ({n_files} files)")
    for patient in patients.values():
        for study in patient.studies.values():
            for series in study.series.values():
                series.instances.sort(key=lambda i: str(i.path))
    return ScanResult(root, dict(sorted(patients.items())), problems, n_files, n_dicom)
