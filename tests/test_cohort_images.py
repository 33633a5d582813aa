"""Volumes and masks as real exports store them (issue 10)."""

from __future__ import annotations

import gzip
import shutil
import unicodedata

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from npc_lib.cli import main
from npc_lib.cohort import schema
from npc_lib.cohort.images import MASK_COVERAGE_WARN, NEAR_BINARY_TOL, MaskProblem, mask_to_binary
from npc_lib.cohort.load import CohortError, load_cohort, validate_cohort
from real_mr_cohort import flip_axes

AFFINE = np.diag([1.0, 1.0, 4.0, 1.0])


def _img(root, pid="NPC0003", seq="T2"):
    return root / schema.image_relpath(pid, seq)


def _roi(root, pid="NPC0003", seq="T2"):
    return root / schema.roi_relpath(pid, seq)


def _data(path):
    return np.asarray(nib.load(str(path)).dataobj)


def _save(path, data, affine=AFFINE):
    nib.save(nib.Nifti1Image(data, affine), str(path))


def _texts(report, level):
    return [p.text for p in report.problems if p.level == level]


# --------------------------------------------------------------------------- volumes


def test_images_constant_image_rejected(tiny_cohort):
    _save(_img(tiny_cohort), np.full((24, 24, 6), 7, np.int16))
    with pytest.raises(CohortError, match=r"^images/NPC0003/T2\.nii\.gz: patient NPC0003, field voxels: "
                                          r"constant image \(every voxel is 7\)$"):
        load_cohort(tiny_cohort)


def test_images_zero_voxel_size_rejected(tiny_cohort):
    # nibabel refuses to write a zero voxel size: patch pixdim[3] (bytes 88-91) of the stored header
    path = _img(tiny_cohort)
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[88:92] = np.float32(0.0).tobytes()
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(CohortError, match=r"images/NPC0003/T2\.nii\.gz: patient NPC0003, field spacing: "
                                          r"zero or non-finite voxel size \(1\.0, 1\.0, 0\.0\) mm") as info:
        load_cohort(tiny_cohort, check_images="header")
    assert len(info.value.problems) == 1  # the mask is not compared with an unusable image


def test_images_singular_affine_rejected(tiny_cohort):
    data = _data(_img(tiny_cohort))
    singular = AFFINE.copy()
    singular[:3, 2] = singular[:3, 0]  # the z axis collinear with x
    img = nib.Nifti1Image(data, singular)
    img.header.set_qform(None, code=0)
    nib.save(img, str(_img(tiny_cohort)))
    errors = _texts(validate_cohort(tiny_cohort, check_images="header"), "error")
    assert any("images/NPC0003/T2.nii.gz: patient NPC0003, field affine: singular affine" in m for m in errors), errors


def test_images_trailing_axis_dropped(tiny_cohort):
    for path in (_img(tiny_cohort), _roi(tiny_cohort)):
        _save(path, _data(path)[..., None])
    cohort = load_cohort(tiny_cohort)
    assert cohort.read_image("NPC0003", "T2").shape == (24, 24, 6)
    assert cohort.read_roi("NPC0003", "T2").shape == (24, 24, 6)
    assert "images: 2 file(s) with a trailing length-1 axis: dropped" in _texts(cohort.report, "note")


def test_images_uncompressed_nii_accepted(tiny_cohort):
    for path in (_img(tiny_cohort), _roi(tiny_cohort)):
        nib.save(nib.load(str(path)), str(path).removesuffix(".gz"))
        path.unlink()
    cohort = load_cohort(tiny_cohort)
    assert cohort.image_path("NPC0003", "T2").name == "T2.nii"
    assert cohort.read_image("NPC0003", "T2").shape == (24, 24, 6)
    assert "images: 2 file(s) stored as .nii (not .nii.gz): read as they are" in _texts(cohort.report, "note")


def test_images_folder_in_other_case(tiny_cohort):
    (tiny_cohort / "images").rename(tiny_cohort / "Images")
    cohort = load_cohort(tiny_cohort)
    assert cohort.image_path("NPC0001", "T1").parent.parent.name == "Images"
    assert "images: image folder Images/ read as images/" in _texts(cohort.report, "note")


def test_images_nfd_folder_matches_nfc_id(tiny_cohort):
    nfc = unicodedata.normalize("NFC", "Zoë-01")
    df = pd.read_csv(tiny_cohort / schema.CLINICAL_FILE, dtype={"patient_id": str})
    df.loc[0, "patient_id"] = nfc
    df.to_csv(tiny_cohort / schema.CLINICAL_FILE, index=False)
    (tiny_cohort / "images" / "NPC0001").rename(tiny_cohort / "images" / unicodedata.normalize("NFD", nfc))
    cohort = load_cohort(tiny_cohort)
    assert cohort.read_image(nfc, "T1").shape == (24, 24, 6)
    assert any("1 folder name(s) in decomposed Unicode (NFD)" in m for m in _texts(cohort.report, "note"))


def test_images_sequence_absent_everywhere_is_left_out(tiny_cohort):
    for pid in [f"NPC{i:04d}" for i in range(1, 9)]:
        _img(tiny_cohort, pid, "T2").unlink()
        _roi(tiny_cohort, pid, "T2").unlink()
    cohort = load_cohort(tiny_cohort)
    assert cohort.sequences == ("T1", "T1C")
    assert any("sequence T2 absent" in m and "its signature is skipped" in m for m in _texts(cohort.report, "note"))
    with pytest.raises(CohortError, match=r"(?s)16 errors.*images/NPC0001/T2\.nii\.gz: patient NPC0001, field file: file not found"):
        load_cohort(tiny_cohort, sequences=("T1", "T2"))


def test_images_table_errors_do_not_hide_image_errors(tiny_cohort):
    df = pd.read_csv(tiny_cohort / schema.CLINICAL_FILE, dtype={"patient_id": str})
    df.loc[0, "sex"] = "X"
    df.to_csv(tiny_cohort / schema.CLINICAL_FILE, index=False)
    _save(_roi(tiny_cohort), np.zeros((24, 24, 6), np.uint8))
    errors = _texts(validate_cohort(tiny_cohort), "error")
    assert errors == ["clinical.csv: patient NPC0001, field sex: unknown category 'X' (allowed: M, F)",
                      "images/NPC0003/T2_roi.nii.gz: patient NPC0003, field voxels: empty mask (no tumour voxel)"]


def test_images_checked_when_table_unreadable(tiny_cohort):
    (tiny_cohort / schema.CLINICAL_FILE).write_bytes(b"")
    _save(_img(tiny_cohort), np.full((24, 24, 6), 3, np.int16))
    errors = _texts(validate_cohort(tiny_cohort), "error")
    assert errors[0].startswith("clinical.csv: unreadable CSV")
    assert any("images/NPC0003/T2.nii.gz: patient NPC0003, field voxels: constant image" in m for m in errors)


def test_images_every_unmatched_folder_reported(tiny_cohort):
    df = pd.read_csv(tiny_cohort / schema.CLINICAL_FILE, dtype={"patient_id": str})
    df[~df["patient_id"].isin(["NPC0002", "NPC0005"])].to_csv(tiny_cohort / schema.CLINICAL_FILE, index=False)
    errors = _texts(validate_cohort(tiny_cohort, check_images="header"), "error")
    assert [m.split(":")[0] for m in errors] == ["images/NPC0002", "images/NPC0005"]


# --------------------------------------------------------------------------- masks


def test_masks_0_255_accepted_with_note(tiny_cohort):
    mask = _data(_roi(tiny_cohort))
    _save(_roi(tiny_cohort), (mask * 255).astype(np.uint8))
    cohort = load_cohort(tiny_cohort)
    np.testing.assert_array_equal(cohort.read_roi("NPC0003", "T2").data, mask)
    assert ("images/NPC0003/T2_roi.nii.gz: patient NPC0003, field voxels: mask values 0 and 255: 255 read as "
            "tumour (1)") in _texts(cohort.report, "note")


def test_masks_several_labels_need_roi_label(tiny_cohort, capsys):
    mask = _data(_roi(tiny_cohort)).astype(np.uint8)
    labels = mask.copy()
    labels[mask == 1] = 2
    labels[0:3, 0:3, 0] = 1  # a second structure
    _save(_roi(tiny_cohort), labels)
    with pytest.raises(CohortError, match=r"mask is not binary \(values 0, 1, 2\): several labels; name the "
                                          r"tumour's with --roi-label N"):
        load_cohort(tiny_cohort)
    cohort = load_cohort(tiny_cohort, roi_label=2)
    np.testing.assert_array_equal(cohort.read_roi("NPC0003", "T2").data, mask)
    assert any("label 2 of mask values 0, 1, 2 read as tumour" in m for m in _texts(cohort.report, "note"))
    assert main(["-q", "validate", str(tiny_cohort), "--roi-label", "2"]) == 0
    assert main(["-q", "validate", str(tiny_cohort), "--roi-label", "3"]) == 2
    assert "no voxel has label 3" in capsys.readouterr().err


def test_masks_roi_label_argument_checked(tiny_cohort):
    with pytest.raises(ValueError, match="roi_label must be a positive integer"):
        load_cohort(tiny_cohort, roi_label=0)


def test_masks_near_binary_float_thresholded(tiny_cohort):
    mask = _data(_roi(tiny_cohort))
    _save(_roi(tiny_cohort), mask.astype(np.float32) * np.float32(0.99999994))
    cohort = load_cohort(tiny_cohort)
    np.testing.assert_array_equal(cohort.read_roi("NPC0003", "T2").data, mask)
    assert any("float mask with values near 0/1 (e.g. 0.99999994" in m and "thresholded at 0.5" in m
               for m in _texts(cohort.report, "note"))


def test_masks_inverted_mask_warned(tiny_cohort):
    _save(_roi(tiny_cohort), (1 - _data(_roi(tiny_cohort))).astype(np.uint8))
    cohort = load_cohort(tiny_cohort)
    assert any("images/NPC0003/T2_roi.nii.gz: patient NPC0003, field voxels: mask covers" in m
               and "is it inverted?" in m for m in _texts(cohort.report, "warning"))


@pytest.mark.parametrize("values, expect", [
    ([0, 1], None), ([0, 1000], "mask values 0 and 1000"), ([0.0, 1.0 - NEAR_BINARY_TOL / 2], "thresholded at 0.5"),
    ([True, False], None),
])
def test_mask_to_binary_accepts(values, expect):
    mask, note = mask_to_binary(np.array(values))
    assert mask.tolist() == [bool(v) for v in values] and mask.dtype == np.uint8
    assert (note is None) if expect is None else (expect in note)


@pytest.mark.parametrize("values, roi_label, message", [
    ([0.0, 0.3, 0.9], None, r"mask is not binary \(values 0, 0\.3, 0\.9\): not 0/1 or near it"),
    ([0, 1, 2, 3], None, r"several labels"),
    ([0, 1, 2], 5, r"no voxel has label 5 \(values 0, 1, 2\)"),
    ([0, 0, 0], None, r"empty mask \(no tumour voxel\)"),
    ([0.0, np.nan], None, r"NaN/inf voxels in mask"),
])
def test_mask_to_binary_rejects(values, roi_label, message):
    with pytest.raises(MaskProblem, match=message):
        mask_to_binary(np.array(values), roi_label)


def test_mask_to_binary_single_label_ignores_roi_label():
    mask, note = mask_to_binary(np.array([0, 4, 4]), roi_label=2)
    assert mask.tolist() == [0, 1, 1] and note == "mask values 0 and 4: 4 read as tumour (1)"
    mask, note = mask_to_binary(np.array([0, 4, 2]), roi_label=2)
    assert mask.tolist() == [0, 0, 1] and note == "label 2 of mask values 0, 2, 4 read as tumour"


def test_masks_coverage_threshold(tiny_cohort):
    mask = np.zeros((24, 24, 6), np.uint8)
    mask.reshape(-1)[: int(mask.size * MASK_COVERAGE_WARN)] = 1  # exactly half: no warning
    _save(_roi(tiny_cohort), mask)
    assert not validate_cohort(tiny_cohort).warnings or not any(
        "mask covers" in p.message for p in validate_cohort(tiny_cohort).warnings)


# --------------------------------------------------------------------------- orientation


def test_orientation_lps_and_ras_exports_read_the_same(tiny_cohort):
    img, roi = _img(tiny_cohort), _roi(tiny_cohort)
    before = load_cohort(tiny_cohort, check_images="none")
    ras_img, ras_roi = before.read_image("NPC0003", "T2"), before.read_roi("NPC0003", "T2")
    data, aff = flip_axes(_data(img), AFFINE, (0, 1))  # the same scan in LPS voxel order
    mask, _ = flip_axes(_data(roi), AFFINE, (0, 1))
    _save(img, data, aff)
    _save(roi, mask, aff)
    cohort = load_cohort(tiny_cohort)
    assert "images: field affine: 1 volume(s) in LPS orientation: every volume is reoriented to RAS (closest " \
           "canonical) before preprocessing" in _texts(cohort.report, "note")
    lps_img, lps_roi = cohort.read_image("NPC0003", "T2"), cohort.read_roi("NPC0003", "T2")
    np.testing.assert_array_equal(lps_img.data, ras_img.data)
    np.testing.assert_array_equal(lps_roi.data, ras_roi.data)
    np.testing.assert_allclose(lps_img.affine, ras_img.affine)
    assert lps_img.spacing == ras_img.spacing == (1.0, 1.0, 4.0)


def test_images_missing_mask_for_one_patient(tiny_cohort):
    shutil.copy(_img(tiny_cohort, "NPC0001", "T1"), tiny_cohort / "images" / "NPC0001" / "notes.nii.gz")
    _roi(tiny_cohort, "NPC0004", "T1").unlink()
    with pytest.raises(CohortError, match=r"^images/NPC0004/T1_roi\.nii\.gz: patient NPC0004, field file: file not found$"):
        load_cohort(tiny_cohort)


def test_orientation_permuted_axes_read_the_same(tiny_cohort):
    before = load_cohort(tiny_cohort, check_images="none")
    ref_img, ref_roi = before.read_image("NPC0003", "T2"), before.read_roi("NPC0003", "T2")
    perm = AFFINE[:, [1, 0, 2, 3]]  # x and y swapped in the voxel order (a transposed export)
    for path in (_img(tiny_cohort), _roi(tiny_cohort)):
        _save(path, np.ascontiguousarray(_data(path).transpose(1, 0, 2)), perm)
    cohort = load_cohort(tiny_cohort)
    np.testing.assert_array_equal(cohort.read_image("NPC0003", "T2").data, ref_img.data)
    np.testing.assert_array_equal(cohort.read_roi("NPC0003", "T2").data, ref_roi.data)
    assert any("1 volume(s) in ARS orientation" in m for m in _texts(cohort.report, "note"))


def test_orientation_mask_in_other_voxel_order_than_image(tiny_cohort):
    before = load_cohort(tiny_cohort, check_images="none")
    ref = before.read_roi("NPC0003", "T2")
    mask, aff = flip_axes(_data(_roi(tiny_cohort)), AFFINE, (0,))
    _save(_roi(tiny_cohort), mask, aff)
    cohort = load_cohort(tiny_cohort)
    assert ("images/NPC0003/T2_roi.nii.gz: patient NPC0003, field affine: mask in LAS voxel order, its image in "
            "RAS: the same grid once both are in RAS") in _texts(cohort.report, "note")
    np.testing.assert_array_equal(cohort.read_roi("NPC0003", "T2").data, ref.data)
