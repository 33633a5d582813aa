"""A cohort built from a real MR scan: validated, preprocessed, orientation-invariant (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from npc_lib.cohort import schema
from npc_lib.cohort.load import load_cohort, validate_cohort
from npc_lib.cohort.volume import orientation, read_nifti
from npc_lib.imaging.boxes import tumour_boxes, tumour_slices
from npc_lib.imaging.instances import build_instances, fit_standardizer, patient_boxes
from real_mr_cohort import build_real_mr_cohort, flip_axes, read_real_mr, write_volume


@pytest.fixture(scope="module")
def real_cohort(tmp_path_factory):
    return build_real_mr_cohort(tmp_path_factory.mktemp("real_mr") / "cohort", n=12, seed=0)


def test_real_mr_data_has_the_real_geometry():
    image, roi, affine = read_real_mr()
    assert image.shape == roi.shape == (96, 96, 25) and image.dtype == np.int16
    np.testing.assert_allclose(np.sqrt((affine[:3, :3] ** 2).sum(axis=0)), [0.78125, 0.78125, 6.5])
    assert orientation(affine) == "LAS"
    assert set(np.unique(roi)) == {0, 1}


def test_real_mr_cohort_validates_with_orientation_notes(real_cohort):
    report = validate_cohort(real_cohort)
    assert report.ok, report.render()
    assert report.n_patients == 12 and report.sequences == schema.SEQUENCES
    notes = [p.text for p in report.notes]
    assert "images: field affine: 18 volume(s) in LAS orientation: every volume is reoriented to RAS " \
           "(closest canonical) before preprocessing" in notes
    assert any("in RPS orientation" in m for m in notes)
    assert any("only 12 patients (under 100)" in p.message for p in report.warnings)


def test_real_mr_cohort_reads_canonical_volumes(real_cohort):
    cohort = load_cohort(real_cohort, check_images="none")
    _, roi, _ = read_real_mr()
    for pid in cohort.patient_ids[:2]:  # one stored as-is, one flipped
        vol, mask = cohort.read_image(pid, "T1"), cohort.read_roi(pid, "T1")
        assert orientation(vol.affine) == orientation(mask.affine) == "RAS"
        np.testing.assert_allclose(vol.spacing, (0.78125, 0.78125, 6.5))
        assert int(mask.data.sum()) == int(roi.sum())
        np.testing.assert_array_equal(tumour_slices(mask), tumour_slices(roi))


def test_real_mr_cohort_preprocessed(real_cohort):
    cohort = load_cohort(real_cohort, check_images="none")
    ids = cohort.patient_ids
    fitted = fit_standardizer(cohort, "T1C", ids[:8])
    inst = build_instances(cohort, "T1C", ids, fitted, box_mm=48, box_px=32)
    _, roi, _ = read_real_mr()
    n_slices = tumour_slices(roi).size
    assert inst.n_patients == 12 and len(inst) == 12 * n_slices
    assert inst.x.shape == (12 * n_slices, 32, 32, 1) and np.isfinite(inst.x).all()
    # the same scan under another crop, flip and intensity scale: the centre of the boxes (inside
    # every crop) agrees after standardisation, and not when mirrored
    centre = [inst.x[b][:, 10:22, 10:22] for b in inst.bags()]
    for j in range(1, 12):
        same = np.corrcoef(centre[0].ravel(), centre[j].ravel())[0, 1]
        mirror = np.corrcoef(centre[0].ravel(), centre[j][:, ::-1, ::-1].ravel())[0, 1]
        assert same > 0.99 and mirror < 0.5, (j, same, mirror)


@pytest.fixture
def two_exports(tmp_path):
    """One real scan exported twice: LPS voxel order (patient A) and RAS (patient B)."""
    from npc_lib.twin.simulate import simulate_clinical

    root = tmp_path / "c"
    clinical, _, _ = simulate_clinical(2, 5)
    clinical["patient_id"] = ["A_LPS", "B_RAS"]
    root.mkdir()
    clinical.to_csv(root / schema.CLINICAL_FILE, index=False)
    image, roi, affine = read_real_mr()  # stored LAS
    for pid, axes in (("A_LPS", (1,)), ("B_RAS", (0,))):
        img_f, aff = flip_axes(image, affine, axes)
        roi_f, _ = flip_axes(roi, affine, axes)
        for seq in schema.SEQUENCES:
            write_volume(root / schema.image_relpath(pid, seq), img_f, aff)
            write_volume(root / schema.roi_relpath(pid, seq), roi_f, aff)
    return root


def test_real_mr_lps_and_ras_exports_give_the_same_boxes(two_exports):
    root = two_exports
    assert orientation(nib.load(str(root / schema.image_relpath("A_LPS", "T1"))).affine) == "LPS"
    assert orientation(nib.load(str(root / schema.image_relpath("B_RAS", "T1"))).affine) == "RAS"
    cohort = load_cohort(root)
    fitted = fit_standardizer(cohort, "T1", cohort.patient_ids)
    a = patient_boxes(cohort.read_image("A_LPS", "T1"), cohort.read_roi("A_LPS", "T1"), fitted, box_mm=48, box_px=32)
    b = patient_boxes(cohort.read_image("B_RAS", "T1"), cohort.read_roi("B_RAS", "T1"), fitted, box_mm=48, box_px=32)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    # without the canonical reorientation the two exports' boxes are mirror images, not equal
    raw = [read_nifti(root / schema.image_relpath(p, "T1")) for p in ("A_LPS", "B_RAS")]
    raw_roi = [read_nifti(root / schema.roi_relpath(p, "T1"), dtype=np.uint8) for p in ("A_LPS", "B_RAS")]
    ra, _ = tumour_boxes(raw[0], raw_roi[0], 32, pixel_mm=1.5)
    rb, _ = tumour_boxes(raw[1], raw_roi[1], 32, pixel_mm=1.5)
    assert not np.allclose(ra, rb)


def test_real_mr_instances_identical_for_both_exports(two_exports):
    cohort = load_cohort(two_exports, check_images="header")
    fitted = fit_standardizer(cohort, "T2", cohort.patient_ids)
    inst = build_instances(cohort, "T2", cohort.patient_ids, fitted, box_mm=48, box_px=32)
    a, b = (inst.x[bag] for bag in inst.bags())
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.slow
def test_real_mr_cohort_runs_the_smoke_book(tmp_path):
    from npc_lib.runners.book import chapters, run_chapters

    cohort = build_real_mr_cohort(tmp_path / "cohort", n=12, seed=0, n_events=6)
    run = run_chapters("smoke", cohort=cohort, out=tmp_path / "run", progress=False)
    for chapter in chapters():
        assert (run / Path(chapter).name / ".stamp").is_file(), chapter
    assert sorted(p.name for p in (run / "04_signatures").glob("signature_T*.csv")) == [
        "signature_T1.csv", "signature_T1C.csv", "signature_T2.csv"]
    verdicts = json.loads((run / "12_reproduction" / "metrics.json").read_text())["verdicts"]
    assert set(verdicts.values()) <= {"held", "not held", "not assessed"}
    assert not any(p.name.startswith(".") for p in cohort.iterdir())  # nothing written into the cohort
