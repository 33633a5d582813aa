"""Reading one MR series: slices sorted and checked, rescaled, unusual encodings (npc_lib.dicom.series)."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

import dicom_factory as f
from npc_lib.dicom.problems import ProblemList
from npc_lib.dicom.scan import scan_folder
from npc_lib.dicom.series import lps_to_ras, native_pixels, read_series, series_geometry


def _volume(shape=(10, 8, 6), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 3000, shape).astype(np.int16)
    affine = np.diag([0.9, 1.1, 4.0, 1.0])
    affine[:3, 3] = (-5.0, 3.0, -12.0)
    return image, affine


def _read(folder):
    scan = scan_folder(folder)
    problems = scan.problems
    (patient,) = scan.patients.values()
    (study,) = patient.studies.values()
    vols = {}
    for series in study.series.values():
        geom = series_geometry(series, problems)
        vols[series.description] = None if geom is None else read_series(series, geom, problems)
    return vols, problems


def _as_ras(vol):
    """The volume's voxels and RAS affine in the twin's voxel order (axes flipped back to positive)."""
    data, aff = vol.data, lps_to_ras(vol.affine_lps)
    for ax in range(3):
        if aff[ax, ax] < 0:
            aff = aff.copy()
            aff[:3, 3] = aff[:3, 3] + aff[:3, ax] * (data.shape[ax] - 1)
            aff[:3, ax] = -aff[:3, ax]
            data = np.flip(data, axis=ax)
    return data, aff


@pytest.mark.parametrize("flip", [(), (0, 1), (1,), (2,), (0, 1, 2)])
def test_read_series_any_voxel_order_and_file_order(tmp_path, flip):
    image, affine = _volume()
    names = [f"z{n}" for n in np.random.default_rng(1).permutation(image.shape[2])]
    f.write_series(tmp_path, 1, image, affine, f.SeriesSpec("t1", 1, flip=flip, slope=0.5, intercept=-7),
                   1, names=names)
    vols, problems = _read(tmp_path)
    assert problems.ok
    data, aff = _as_ras(vols["t1"])
    expected = np.rint((image - (-7)) / 0.5) * 0.5 - 7
    np.testing.assert_allclose(data, expected)
    np.testing.assert_allclose(aff, affine, atol=1e-4)


def test_read_series_duplicate_slices(tmp_path):
    image, affine = _volume()
    f.write_series(tmp_path, 1, image, affine, f.SeriesSpec("t1", 1), 1)
    files = sorted(tmp_path.iterdir())
    shutil.copy(files[2], tmp_path / "copy_same.dcm")  # the same instance twice: ignored with a note
    ds = pydicom.dcmread(files[3])
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
    ds.PixelData = (np.frombuffer(ds.PixelData, "<i2") + 1).astype("<i2").tobytes()
    ds.save_as(tmp_path / "other.dcm")
    vols, problems = _read(tmp_path)
    assert vols["t1"] is None
    (err,) = problems.errors
    assert "duplicate slices: two different images at position" in err.message and err.file.endswith(".dcm")
    assert any("a copy of the slice" in p.message for p in problems.of_level("note"))


def test_read_series_missing_and_uneven(tmp_path):
    image, affine = _volume(shape=(6, 6, 8))
    f.write_series(tmp_path / "a", 1, image, affine, f.SeriesSpec("gap", 1), 1)
    f.write_series(tmp_path / "a", 1, image, affine, f.SeriesSpec("uneven", 2), 2)
    sorted((tmp_path / "a").glob("IM1_*"))[4].unlink()
    uneven = sorted((tmp_path / "a").glob("IM2_*"))[3]
    ds = pydicom.dcmread(uneven)
    ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1],
                               float(ds.ImagePositionPatient[2]) + 0.8]
    ds.save_as(uneven)
    vols, problems = _read(tmp_path / "a")
    assert vols["gap"] is None and vols["uneven"] is None
    text = problems.render()
    assert "series 1 'gap'" in text and "missing slice(s): a gap of 8.00 mm" in text and "IM1_005.dcm" in text
    assert "series 2 'uneven'" in text and "uneven slice spacing" in text


def test_read_series_interleaved_series_sharing_a_uid(tmp_path):
    image, affine = _volume()
    f.write_series(tmp_path, 1, image, affine, f.SeriesSpec("t1", 1), 1)
    other = np.ascontiguousarray(image[:, :6])
    f.write_series(tmp_path / "b", 1, other, affine, f.SeriesSpec("t1", 1), 1)  # same UID, other matrix
    vols, problems = _read(tmp_path)
    assert vols["t1"] is None
    assert "orientations/matrices/pixel spacings in one series" in problems.errors[0].message


@pytest.mark.parametrize("name", ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm"])
def test_read_series_pydicom_vendor_files(tmp_path, name):
    path = get_testdata_file(name, download=False)
    shutil.copy(path, tmp_path / "image")  # no extension
    vols, problems = _read(tmp_path)
    assert problems.ok
    (vol,) = vols.values()
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    assert vol.data.shape == (ds.Columns, ds.Rows, 1)
    np.testing.assert_array_equal(vol.data[:, :, 0], expected.T)
    np.testing.assert_allclose(vol.affine_lps[:3, 3], [float(v) for v in ds.ImagePositionPatient])
    if name != "MR_small.dcm":
        assert any("decoded by pydicom" in p.message for p in problems.of_level("note"))


def test_read_series_undecodable_named(tmp_path):
    shutil.copy(get_testdata_file("MR_small_jpeg_ls_lossless.dcm", download=False), tmp_path / "a.dcm")
    (tmp_path / "b").mkdir()
    shutil.copy(get_testdata_file("MR_truncated.dcm", download=False), tmp_path / "b" / "t.dcm")
    scan = scan_folder(tmp_path)
    problems = scan.problems
    for series in (s for p in scan.patients.values() for st in p.studies.values() for s in st.series.values()):
        for inst in list(series.instances):
            one = series.__class__(**{**series.__dict__, "instances": [inst]})
            read_series(one, series_geometry(one, problems), problems)
    text = problems.render()
    assert "a.dcm" in text and "pixel data cannot be read" in text and "decoder plug-in" in text
    assert "t.dcm" in text


def test_read_series_rle_compressed_twin(tmp_path):
    image, affine = _volume()
    f.write_series(tmp_path, 1, image, affine, f.SeriesSpec("t1", 1), 1)
    from pydicom.uid import RLELossless

    f.edit_files(tmp_path, lambda ds: ds.compress(RLELossless))
    vols, problems = _read(tmp_path)
    data, _ = _as_ras(vols["t1"])
    np.testing.assert_array_equal(data, image)
    assert any("RLE Lossless: decoded by pydicom" in p.message for p in problems.of_level("note"))


def test_read_series_enhanced_multiframe(tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    image, affine = _volume()
    f.write_series(tmp_path / "single", 1, image, affine, f.SeriesSpec("t1", 1, slope=2.0, intercept=1.0), 1)
    files = sorted((tmp_path / "single").iterdir())
    first = pydicom.dcmread(files[0])
    ds = pydicom.dcmread(files[0])
    del ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing, ds.RescaleSlope, ds.RescaleIntercept
    ds.NumberOfFrames = len(files)
    shared = Dataset()
    pm, po = Dataset(), Dataset()
    pm.PixelSpacing, po.ImageOrientationPatient = first.PixelSpacing, first.ImageOrientationPatient
    shared.PixelMeasuresSequence, shared.PlaneOrientationSequence = Sequence([pm]), Sequence([po])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames, pixels = [], []
    for p in reversed(files):  # frames in the opposite order: positions decide
        one = pydicom.dcmread(p)
        item, pos, pvt = Dataset(), Dataset(), Dataset()
        pos.ImagePositionPatient = one.ImagePositionPatient
        pvt.RescaleSlope, pvt.RescaleIntercept = one.RescaleSlope, one.RescaleIntercept
        item.PlanePositionSequence, item.PixelValueTransformationSequence = Sequence([pos]), Sequence([pvt])
        frames.append(item)
        pixels.append(one.PixelData)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = b"".join(pixels)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"
    (tmp_path / "enhanced").mkdir()
    ds.save_as(tmp_path / "enhanced" / "MF", enforce_file_format=True)
    vols, problems = _read(tmp_path / "enhanced")
    data, aff = _as_ras(vols["t1"])
    np.testing.assert_allclose(data, np.rint((image - 1.0) / 2.0) * 2.0 + 1.0)
    np.testing.assert_allclose(aff, affine, atol=1e-4)
    assert any("enhanced multi-frame MR (6 frames)" in p.message for p in problems.of_level("note"))


def test_native_pixels_matches_pydicom(tmp_path):
    image, affine = _volume()
    f.write_series(tmp_path, 1, image, affine, f.SeriesSpec("t1", 1), 1)
    for p in sorted(tmp_path.iterdir()):
        ds = pydicom.dcmread(p)
        np.testing.assert_array_equal(native_pixels(ds), ds.pixel_array)
    ds = pydicom.dcmread(get_testdata_file("MR_small_bigendian.dcm", download=False))
    np.testing.assert_array_equal(native_pixels(ds), ds.pixel_array)


def test_read_series_rejects_empty_series():
    from npc_lib.dicom.scan import Series

    with pytest.raises(ValueError, match="has no files"):
        read_series(Series("1", "p", "s", "MR", "1", "t1", "", "f", {}), None, ProblemList())
