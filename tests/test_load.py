"""Tests of npc_lib.cohort.load: every failure names file, patient and field."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from npc_lib.cohort import schema
from npc_lib.cohort.load import (
    AFFINE_ATOL_MM,
    Cohort,
    CohortError,
    load_cohort,
    validate_clinical,
)


# --------------------------------------------------------------------------- helpers


def _edit_csv(root: Path, fn) -> None:
    path = root / schema.CLINICAL_FILE
    df = pd.read_csv(path, dtype={"patient_id": str})
    df = fn(df)
    df.to_csv(path, index=False)


def _set(root: Path, row: int, column: str, value) -> None:
    def fn(df):
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
        return df

    _edit_csv(root, fn)


def _save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> None:
    affine = np.diag([1.0, 1.0, 4.0, 1.0]) if affine is None else affine
    nib.save(nib.Nifti1Image(data, affine), str(path))


def _roi(root: Path, pid: str = "NPC0003", seq: str = "T2") -> Path:
    return root / schema.roi_relpath(pid, seq)


def _img(root: Path, pid: str = "NPC0003", seq: str = "T2") -> Path:
    return root / schema.image_relpath(pid, seq)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


# --------------------------------------------------------------------------- valid cohort


def test_load_cohort_valid_dtypes(tiny_cohort):
    cohort = load_cohort(tiny_cohort)
    assert isinstance(cohort, Cohort)
    df = cohort.clinical
    assert cohort.patient_ids == [f"NPC{i:04d}" for i in range(1, 9)]
    assert list(df.columns) == list(schema.CLINICAL_COLUMNS)
    for name, levels in schema.CATEGORIES.items():
        assert isinstance(df[name].dtype, pd.CategoricalDtype)
        assert df[name].cat.categories.tolist() == list(levels)
    for name in schema.CONTINUOUS:
        assert df[name].dtype == np.float64
    for e in schema.ENDPOINTS:
        assert df[schema.time_col(e)].dtype == np.float64
        assert df[schema.event_col(e)].dtype == np.int64
        assert set(df[schema.event_col(e)]) <= {0, 1}


def test_load_cohort_read_image_and_roi(tiny_cohort):
    cohort = load_cohort(tiny_cohort, check_images="header")
    vol = cohort.read_image("NPC0002", "T1C")
    roi = cohort.read_roi("NPC0002", "T1C")
    assert vol.data.dtype == np.float32 and roi.data.dtype == np.uint8
    assert vol.shape == roi.shape == (24, 24, 6)
    assert vol.spacing == (1.0, 1.0, 4.0)
    assert set(np.unique(roi.data)) == {0, 1}
    raw = np.asarray(nib.load(str(_img(tiny_cohort, "NPC0002", "T1C"))).dataobj)
    np.testing.assert_array_equal(vol.data, raw.astype(np.float32))
    assert cohort.image_path("NPC0002", "T1") == tiny_cohort / "images/NPC0002/T1.nii.gz"
    assert cohort.roi_path("NPC0002", "T1") == tiny_cohort / "images/NPC0002/T1_roi.nii.gz"


def test_cohort_read_unknown_patient_or_sequence(tiny_cohort):
    cohort = load_cohort(tiny_cohort, sequences=("T1",), check_images="none")
    with pytest.raises(ValueError, match="patient_id 'NPC9999'"):
        cohort.image_path("NPC9999", "T1")
    with pytest.raises(ValueError, match="sequence must be one of .*'T2'"):
        cohort.read_image("NPC0001", "T2")


def test_load_cohort_writes_nothing_and_ignores_truth(tiny_cohort):
    (tiny_cohort / schema.TRUTH_FILE).write_text("this is not a CSV \x00\x01")
    before = _snapshot(tiny_cohort)
    load_cohort(tiny_cohort)
    assert _snapshot(tiny_cohort) == before


def test_load_cohort_sequence_subset(tiny_cohort):
    _img(tiny_cohort, "NPC0001", "T2").unlink()
    cohort = load_cohort(tiny_cohort, sequences=("T1", "T1C"))
    assert cohort.sequences == ("T1", "T1C")


def test_load_cohort_bad_arguments(tiny_cohort):
    with pytest.raises(ValueError, match="check_images must be one of"):
        load_cohort(tiny_cohort, check_images="fast")
    with pytest.raises(ValueError, match="sequences must be distinct names"):
        load_cohort(tiny_cohort, sequences=("T3",))
    with pytest.raises(CohortError, match="cohort folder not found"):
        load_cohort(tiny_cohort / "nope")


def test_validate_clinical_does_not_modify_input(tiny_cohort):
    raw = pd.read_csv(tiny_cohort / schema.CLINICAL_FILE)
    copy = raw.copy()
    out = validate_clinical(raw)
    pd.testing.assert_frame_equal(raw, copy)
    assert out["patient_id"].tolist() == raw["patient_id"].tolist()


def test_validate_clinical_bool_events_and_extra_columns(tiny_cohort):
    raw = pd.read_csv(tiny_cohort / schema.CLINICAL_FILE)
    raw["dfs_event"] = raw["dfs_event"].astype(bool)
    raw["comment"] = "x"
    out = validate_clinical(raw)
    assert out["dfs_event"].dtype == np.int64
    assert out["comment"].tolist() == ["x"] * len(raw)


# --------------------------------------------------------------------------- clinical.csv errors


def test_load_cohort_clinical_missing(tiny_cohort):
    (tiny_cohort / schema.CLINICAL_FILE).unlink()
    with pytest.raises(CohortError, match=r"^clinical\.csv: file not found in ") as info:
        load_cohort(tiny_cohort)
    assert info.value.file == "clinical.csv" and info.value.patient_id is None


def test_load_cohort_clinical_unreadable(tiny_cohort):
    (tiny_cohort / schema.CLINICAL_FILE).write_bytes(b"")
    with pytest.raises(CohortError, match=r"^clinical\.csv: unreadable CSV"):
        load_cohort(tiny_cohort)


def test_load_cohort_required_column_missing(tiny_cohort):
    _edit_csv(tiny_cohort, lambda df: df.drop(columns=["ldh"]))
    with pytest.raises(CohortError, match=r"^clinical\.csv: field ldh: required column missing$") as info:
        load_cohort(tiny_cohort)
    assert (info.value.file, info.value.patient_id, info.value.field) == ("clinical.csv", None, "ldh")


def test_load_cohort_missing_value(tiny_cohort):
    _set(tiny_cohort, 4, "hgb", np.nan)
    with pytest.raises(CohortError, match=r"^clinical\.csv: patient NPC0005, field hgb: missing value \(line 6\)$"):
        load_cohort(tiny_cohort)


def test_load_cohort_missing_category_value(tiny_cohort):
    _set(tiny_cohort, 1, "smoking", np.nan)
    with pytest.raises(CohortError, match=r"patient NPC0002, field smoking: missing value"):
        load_cohort(tiny_cohort)


def test_load_cohort_missing_patient_id(tiny_cohort):
    _set(tiny_cohort, 2, "patient_id", np.nan)
    with pytest.raises(CohortError, match=r"^clinical\.csv: field patient_id: missing value \(line 4\)$"):
        load_cohort(tiny_cohort, check_images="none")
    # with the images checked, the folder left without a row is reported too
    with pytest.raises(CohortError, match=r"(?s)2 errors.*missing value \(line 4\).*images/NPC0003: .*has no row"):
        load_cohort(tiny_cohort)


def test_load_cohort_non_numeric(tiny_cohort):
    _set(tiny_cohort, 2, "ldh", "high")
    with pytest.raises(CohortError, match=r"^clinical\.csv: patient NPC0003, field ldh: non-numeric value 'high'$"):
        load_cohort(tiny_cohort)


def test_load_cohort_negative_time(tiny_cohort):
    _set(tiny_cohort, 6, "dfs_time", -3.0)
    with pytest.raises(CohortError, match=r"^clinical\.csv: patient NPC0007, field dfs_time: negative time -3\.0$") as info:
        load_cohort(tiny_cohort)
    assert (info.value.patient_id, info.value.field) == ("NPC0007", "dfs_time")


def test_load_cohort_missing_time(tiny_cohort):
    _set(tiny_cohort, 0, "os_time", np.nan)
    with pytest.raises(CohortError, match=r"^clinical\.csv: patient NPC0001, field os_time: missing value"):
        load_cohort(tiny_cohort)


def test_load_cohort_event_not_binary(tiny_cohort):
    _set(tiny_cohort, 3, "lrfs_event", 2)
    with pytest.raises(CohortError, match=r"^clinical\.csv: patient NPC0004, field lrfs_event: event not 0/1: 2\.0$"):
        load_cohort(tiny_cohort)


def test_load_cohort_unknown_category(tiny_cohort):
    _set(tiny_cohort, 1, "sex", "X")
    with pytest.raises(CohortError, match=r"^clinical\.csv: patient NPC0002, field sex: unknown category 'X' \(allowed: M, F\)$"):
        load_cohort(tiny_cohort)


def test_load_cohort_duplicate_patient_id(tiny_cohort):
    _set(tiny_cohort, 5, "patient_id", "NPC0002")
    with pytest.raises(CohortError, match=r"^clinical\.csv: patient NPC0002, field patient_id: duplicate patient_id \(lines 3, 7\)$"):
        load_cohort(tiny_cohort, check_images="none")
    with pytest.raises(CohortError, match=r"(?s)duplicate patient_id \(lines 3, 7\).*images/NPC0006: patient NPC0006"):
        load_cohort(tiny_cohort)


def test_load_cohort_implausible_age(tiny_cohort):
    _set(tiny_cohort, 7, "age", 130)
    with pytest.raises(CohortError, match=r"patient NPC0008, field age: implausible value 130\.0 \(must be within 0-120\)"):
        load_cohort(tiny_cohort)


def test_load_cohort_negative_lab_value(tiny_cohort):
    _set(tiny_cohort, 2, "crp", -0.5)
    with pytest.raises(CohortError, match=r"patient NPC0003, field crp: implausible value -0\.5 \(must be >= 0\)"):
        load_cohort(tiny_cohort)


def test_load_cohort_every_table_problem_reported(tiny_cohort):
    # a missing column and a bad value in another row: both reported
    _set(tiny_cohort, 0, "sex", "X")
    _edit_csv(tiny_cohort, lambda df: df.drop(columns=["os_event"]))
    with pytest.raises(CohortError, match=r"field os_event: required column missing") as info:
        load_cohort(tiny_cohort)
    assert "clinical.csv: patient NPC0001, field sex: unknown category 'X'" in str(info.value)


# --------------------------------------------------------------------------- folders and files


def test_load_cohort_patient_without_image_folder(tiny_cohort):
    shutil.rmtree(tiny_cohort / "images" / "NPC0004")
    with pytest.raises(CohortError, match=r"^images/NPC0004: patient NPC0004, field patient_id: no image folder for this clinical\.csv row$"):
        load_cohort(tiny_cohort, check_images="header")


def test_load_cohort_image_folder_without_row(tiny_cohort):
    _edit_csv(tiny_cohort, lambda df: df[df["patient_id"] != "NPC0006"])
    with pytest.raises(CohortError, match=r"^images/NPC0006: patient NPC0006, field patient_id: image folder has no row in clinical\.csv"):
        load_cohort(tiny_cohort, check_images="header")


def test_load_cohort_images_dir_missing(tiny_cohort):
    shutil.rmtree(tiny_cohort / "images")
    with pytest.raises(CohortError, match=r"^images: field images: image folder not found"):
        load_cohort(tiny_cohort)
    assert len(load_cohort(tiny_cohort, check_images="none").patient_ids) == 8


def test_load_cohort_missing_image_file(tiny_cohort):
    _img(tiny_cohort).unlink()
    with pytest.raises(CohortError, match=r"^images/NPC0003/T2\.nii\.gz: patient NPC0003, field file: file not found$"):
        load_cohort(tiny_cohort, check_images="header")


def test_load_cohort_missing_mask_file(tiny_cohort):
    _roi(tiny_cohort, "NPC0008", "T1C").unlink()
    with pytest.raises(CohortError, match=r"^images/NPC0008/T1C_roi\.nii\.gz: patient NPC0008, field file: file not found$"):
        load_cohort(tiny_cohort)


def test_load_cohort_corrupt_nifti(tiny_cohort):
    _img(tiny_cohort).write_bytes(gzip.compress(b"not a nifti file at all" * 20))
    with pytest.raises(CohortError, match=r"^images/NPC0003/T2\.nii\.gz: patient NPC0003, field file: unreadable NIfTI"):
        load_cohort(tiny_cohort, check_images="header")


def test_load_cohort_truncated_nifti_voxels(tiny_cohort):
    path = _img(tiny_cohort)
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    load_cohort(tiny_cohort, check_images="header")  # the header is intact
    with pytest.raises(CohortError, match=r"^images/NPC0003/T2\.nii\.gz: patient NPC0003, field voxels: unreadable NIfTI voxels"):
        load_cohort(tiny_cohort, check_images="full")


def test_load_cohort_image_not_3d(tiny_cohort):
    _save(_img(tiny_cohort), np.zeros((24, 24, 6, 2), np.int16))
    with pytest.raises(CohortError, match=r"^images/NPC0003/T2\.nii\.gz: patient NPC0003, field dims: image is not 3D: shape \(24, 24, 6, 2\)$"):
        load_cohort(tiny_cohort, check_images="header")


def test_load_cohort_shape_mismatch(tiny_cohort):
    mask = np.zeros((24, 24, 5), np.uint8)
    mask[10:14, 10:14, 2] = 1
    _save(_roi(tiny_cohort), mask)
    with pytest.raises(CohortError, match=r"^images/NPC0003/T2_roi\.nii\.gz: patient NPC0003, field shape: mask shape \(24, 24, 5\) differs from image shape \(24, 24, 6\)"):
        load_cohort(tiny_cohort, check_images="header")


def test_load_cohort_affine_mismatch(tiny_cohort):
    mask = np.asarray(nib.load(str(_roi(tiny_cohort))).dataobj)
    affine = np.diag([1.0, 1.0, 4.0, 1.0])
    affine[0, 3] = 0.5  # half a millimetre shift
    _save(_roi(tiny_cohort), mask, affine)
    with pytest.raises(CohortError, match=r"^images/NPC0003/T2_roi\.nii\.gz: patient NPC0003, field affine: mask affine differs from image affine .* by up to 0\.5 mm"):
        load_cohort(tiny_cohort, check_images="header")


def test_load_cohort_affine_within_tolerance(tiny_cohort):
    mask = np.asarray(nib.load(str(_roi(tiny_cohort))).dataobj)
    affine = np.diag([1.0, 1.0, 4.0, 1.0])
    affine[0, 3] = AFFINE_ATOL_MM / 4  # float32 storage keeps it below the tolerance
    _save(_roi(tiny_cohort), mask, affine)
    load_cohort(tiny_cohort, check_images="header")


def test_load_cohort_empty_mask(tiny_cohort):
    _save(_roi(tiny_cohort), np.zeros((24, 24, 6), np.uint8))
    load_cohort(tiny_cohort, check_images="header")  # voxels are not read
    with pytest.raises(CohortError, match=r"^images/NPC0003/T2_roi\.nii\.gz: patient NPC0003, field voxels: empty mask"):
        load_cohort(tiny_cohort, check_images="full")


def test_load_cohort_mask_not_binary(tiny_cohort):
    mask = np.asarray(nib.load(str(_roi(tiny_cohort))).dataobj).astype(np.uint8)
    mask[mask == 1] = 2
    mask[0, 0, 0] = 1
    _save(_roi(tiny_cohort), mask)
    with pytest.raises(CohortError, match=r"^images/NPC0003/T2_roi\.nii\.gz: patient NPC0003, field voxels: mask is not binary \(values 0, 1, 2\): several labels; name the tumour's with --roi-label N"):
        load_cohort(tiny_cohort)


def test_cohort_read_roi_rejects_non_binary(tiny_cohort):
    cohort = load_cohort(tiny_cohort, check_images="none")
    mask = np.asarray(nib.load(str(_roi(tiny_cohort))).dataobj).astype(np.float32) * 0.5
    mask[0, 0, 0] = 0.25  # 0 and one other value would be a binary mask (with a note)
    _save(_roi(tiny_cohort), mask)
    with pytest.raises(CohortError, match=r"patient NPC0003, field voxels: mask is not binary \(values 0, 0\.25, 0\.5\): not 0/1"):
        cohort.read_roi("NPC0003", "T2")


def test_load_cohort_nan_voxels(tiny_cohort):
    data = np.asarray(nib.load(str(_img(tiny_cohort))).dataobj).astype(np.float32)
    data[3, 4, 5] = np.nan
    data[0, 0, 0] = np.inf
    _save(_img(tiny_cohort), data)
    load_cohort(tiny_cohort, check_images="header")
    with pytest.raises(CohortError, match=r"^images/NPC0003/T2\.nii\.gz: patient NPC0003, field voxels: 2 NaN/inf voxels$"):
        load_cohort(tiny_cohort, check_images="full")


def test_load_cohort_every_bad_patient_reported(tiny_cohort):
    _save(_roi(tiny_cohort, "NPC0007", "T1"), np.zeros((24, 24, 6), np.uint8))
    _save(_roi(tiny_cohort, "NPC0002", "T1C"), np.zeros((24, 24, 6), np.uint8))
    with pytest.raises(CohortError) as info:
        load_cohort(tiny_cohort)
    msg = str(info.value)
    first = msg.index("images/NPC0002/T1C_roi.nii.gz: patient NPC0002, field voxels: empty mask")
    assert msg.index("images/NPC0007/T1_roi.nii.gz: patient NPC0007, field voxels: empty mask") > first
    assert [p.patient_id for p in info.value.problems] == ["NPC0002", "NPC0007"]


def test_load_cohort_error_is_value_error(tiny_cohort):
    os.remove(tiny_cohort / schema.CLINICAL_FILE)
    with pytest.raises(ValueError):
        load_cohort(tiny_cohort)


def test_load_cohort_non_finite_value(tiny_cohort):
    _set(tiny_cohort, 1, "ebv_dna", "inf")
    with pytest.raises(CohortError, match=r"^clinical\.csv: patient NPC0002, field ebv_dna: non-finite value inf$"):
        load_cohort(tiny_cohort)


def test_load_cohort_no_patients(tiny_cohort):
    _edit_csv(tiny_cohort, lambda df: df.iloc[:0])
    with pytest.raises(CohortError, match=r"^clinical\.csv: no patients"):
        load_cohort(tiny_cohort, check_images="none")


@pytest.mark.slow
def test_load_cohort_full_size_is_quick(tmp_path):
    import time

    from cohort_factory import make_tiny_cohort

    root = make_tiny_cohort(tmp_path / "big", n=638, shape=(48, 48, 12))
    start = time.perf_counter()
    cohort = load_cohort(root, check_images="full")
    elapsed = time.perf_counter() - start
    assert len(cohort.patient_ids) == 638
    assert elapsed < 60, f"full validation of 638 patients took {elapsed:.1f} s"


def test_load_cohort_required_columns_only(tiny_cohort):
    """A cohort to predict: outcomes absent, an unused value missing; a required value missing is an error."""
    _edit_csv(tiny_cohort, lambda df: df.drop(columns=[c for c in df.columns if c.endswith(("_time", "_event"))]))
    _set(tiny_cohort, 1, "hgb", "")
    cohort = load_cohort(tiny_cohort, check_images="none", required=("age", "ldh"))
    assert cohort.endpoints == () and np.isnan(cohort.clinical.loc[1, "hgb"])
    with pytest.raises(CohortError, match=r"patient NPC0002, field hgb: missing value"):
        load_cohort(tiny_cohort, check_images="none", required=("hgb",))
    with pytest.raises(CohortError, match=r"field dfs_time: required column missing"):
        load_cohort(tiny_cohort, check_images="none")
