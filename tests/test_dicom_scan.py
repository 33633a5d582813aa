"""Finding and grouping DICOM files: any names, layout and order; DICOMDIR; files that are not DICOM."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

import dicom_factory as f
from npc_lib.dicom.scan import DICOMDIR_STORAGE, read_file, scan_folder


def _series(folder, i=1, key=1, description="t1", names=None):
    image = np.arange(4 * 5 * 3, dtype=np.int16).reshape(4, 5, 3)
    return f.write_series(folder, i, image, np.diag([1.0, 1.0, 3.0, 1.0]), f.SeriesSpec(description, key), key,
                          names=names)


def _dicomdir(path, listed):
    ds = Dataset()
    records = []
    for parts in listed:
        rec = Dataset()
        rec.DirectoryRecordType = "IMAGE"
        rec.ReferencedFileID = parts
        records.append(rec)
    ds.DirectoryRecordSequence = Sequence(records)
    ds.FileSetID = "EXPORT"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DICOMDIR_STORAGE
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.999.99"
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


def test_scan_groups_by_patient_study_series(tmp_path):
    _series(tmp_path / "a", i=1, key=1)
    _series(tmp_path / "a", i=1, key=2, description="t2")
    _series(tmp_path / "b" / "deep" / "er", i=2, key=1)
    scan = scan_folder(tmp_path)
    assert sorted(scan.patients) == ["MRN770001", "MRN770002"]
    series = scan.patients["MRN770001"].all_series()
    assert sorted(s.description for s in series.values()) == ["t1", "t2"]
    assert all(len(s.instances) == 3 for s in series.values())
    assert scan.n_files == scan.n_dicom == 9 and scan.problems.ok


def test_scan_not_dicom_and_unreadable_files(tmp_path):
    _series(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    data = sorted(tmp_path.glob("*.dcm"))[0].read_bytes()
    (tmp_path / "broken.dcm").write_bytes(data[:300])  # cut inside the header
    scan = scan_folder(tmp_path)
    text = scan.problems.render()
    assert "1 file(s) that are not DICOM skipped" in text and "notes.txt" in text
    assert "broken.dcm" in text and not scan.problems.ok  # named, with what is missing


def test_scan_dicomdir_read_with_a_note(tmp_path):
    written = _series(tmp_path / "IMAGES", names=["IM000", "IM001", "IM002"])
    _dicomdir(tmp_path / "DICOMDIR", [["IMAGES", "IM000"], ["IMAGES", "IM001"]])
    scan = scan_folder(tmp_path)
    assert [p.level for p in scan.problems.items] == ["note", "note"]
    assert "DICOMDIR" in scan.problems.items[0].file
    assert "3 DICOM file(s) without the .dcm extension" in scan.problems.items[1].message
    assert len(next(iter(scan.patients["MRN770001"].all_series().values())).instances) == len(written["sops"])
    _dicomdir(tmp_path / "DICOMDIR", [["IMAGES", "IM000"], ["IMAGES", "GONE"]])
    scan = scan_folder(tmp_path)
    assert "1 file(s) it lists are absent (first: IMAGES/GONE)" in scan.problems.render()


def test_scan_no_patient_id_and_empty_folder(tmp_path):
    _series(tmp_path / "a")
    f.edit_files(tmp_path / "a", lambda ds: setattr(ds, "PatientID", ""))
    scan = scan_folder(tmp_path / "a")
    assert "no PatientID" in scan.problems.render() and not scan.problems.ok
    (tmp_path / "empty").mkdir()
    assert "no DICOM patient found" in scan_folder(tmp_path / "empty").problems.render()
    with pytest.raises(ValueError, match="folder not found"):
        scan_folder(tmp_path / "absent")


def test_read_file_kinds(tmp_path):
    _series(tmp_path)
    (tmp_path / "x.txt").write_text("x")
    kinds = sorted(read_file(p)[0] for p in tmp_path.iterdir())
    assert kinds == ["instance", "instance", "instance", "not dicom"]
    shutil.rmtree(tmp_path)
