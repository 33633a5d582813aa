"""Choosing study, series, structure set and ROI: each problem of issue 19 item 3, end to end.

One twin patient is exported once (tests/dicom_factory.py); each test copies it,
changes one thing and imports it.
"""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pytest

import dicom_factory as f
from npc_lib.cohort import schema
from npc_lib.dicom import DicomImportError, import_dicom
from npc_lib.dicom.plan import registration_transform

RULES = {"sequences": {"T1": ["t1(?!.*(gd|post))"], "T2": ["t2"], "T1C": [r"post|gd|\+c"]},
         "roi": ["^gtv_?(nx|p)$"]}
PID = "MRN770011"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicom_plan")
    images = f.twin_images(seed=11, scanner="B")
    written = f.write_patient_export(root / "p", 11, images=images)
    return root / "p", images, written


@pytest.fixture
def src(base, tmp_path):
    shutil.copytree(base[0], tmp_path / "src")
    return tmp_path / "src"


def _refused(src, tmp_path, rules=RULES) -> str:
    with pytest.raises(DicomImportError) as info:
        import_dicom(src, tmp_path / "cohort", rules)
    assert not (tmp_path / "cohort").exists()
    return str(info.value)


def _mask(result, seq="T1C"):
    return np.asarray(nib.load(result.cohort / schema.roi_relpath(result.ids[PID], seq)).dataobj)


def test_plan_no_series_matching_a_rule(src, tmp_path):
    shutil.rmtree(src / "series1")
    text = _refused(src, tmp_path)
    assert f"patient {PID}" in text and "no axial series matches the T2 rule" in text
    assert "3 't1_tse_tra'" in text  # the series found are listed


def test_plan_two_series_matching_one_rule(src, tmp_path):
    shutil.copytree(src / "series1", src / "series1b")

    def again(ds):
        f.new_uids(71)(ds)
        ds.SeriesNumber, ds.SeriesDescription, ds.ProtocolName = 14, "t2_tse_tra repeat", "t2 repeat"
    f.edit_files(src / "series1b", again)
    text = _refused(src, tmp_path)
    assert "2 series match the T2 rule: 4 't2_tse_tra fs', 14 't2_tse_tra repeat'" in text
    assert "series1b" in text  # the file named


def test_plan_one_series_matching_two_rules(src, tmp_path):
    rules = {**RULES, "sequences": {"T1": ["t1"], "T2": ["t2"], "T1C": ["post"]}}
    text = _refused(src, tmp_path, rules)
    assert "series 7 't1_tse_tra post Gd'" in text and "matches the rules of T1 and T1C" in text


def test_plan_two_rois_matching_the_winning_pattern(src, tmp_path):
    f.edit_files(src / "rt", lambda ds: setattr(ds.StructureSetROISequence[1], "ROIName", "GTVp"))
    text = _refused(src, tmp_path)
    assert "2 ROIs match the pattern '^gtv_?(nx|p)$': ['GTVnx', 'GTVp']" in text and "RS.dcm" in text


def test_plan_rtstruct_without_matching_roi(src, tmp_path):
    f.edit_files(src / "rt", lambda ds: setattr(ds.StructureSetROISequence[0], "ROIName", "CTV_high"))
    text = _refused(src, tmp_path)
    assert "no ROI matches the roi rule" in text and "'Brainstem', 'CTV_high'" in text


def test_plan_no_rtstruct(src, tmp_path):
    shutil.rmtree(src / "rt")
    assert "no RTSTRUCT" in _refused(src, tmp_path)


def test_plan_coronal_series_left_out_with_a_note(base, src, tmp_path):
    _, images, _ = base
    img, aff = images["T2"].image, images["T2"].affine
    cor = np.ascontiguousarray(img.transpose(0, 2, 1))  # columns x, rows z, slices y
    cor_aff = aff[:, [0, 2, 1, 3]]
    f.write_series(src / "cor", 11, cor, cor_aff, f.SeriesSpec("t2_tse_cor", 5), 9)
    result = import_dicom(src, tmp_path / "cohort", RULES)
    notes = [p.message for p in result.problems.of_level("note")]
    assert any("matches T2 but is not axial (90.0 deg" in n for n in notes)
    # only the coronal T2: refused with the reason
    shutil.rmtree(src / "series1")
    text = _refused(src, tmp_path / "again")
    assert "no axial series matches the T2 rule" in text and "5 't2_tse_cor' (90 deg from axial)" in text


def test_plan_oblique_series_kept_with_its_rotation(base, tmp_path):
    _, images, _ = base
    angle = np.radians(6.0)
    rot = np.eye(4)
    rot[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    tilted = {seq: images[seq].__class__(images[seq].image, images[seq].mask, rot @ images[seq].affine)
              for seq in images}
    f.write_patient_export(tmp_path / "src", 11, images=tilted)
    result = import_dicom(tmp_path / "src", tmp_path / "cohort", RULES)
    assert any("oblique by 6.0 deg" in p.message for p in result.problems.of_level("note"))
    img = nib.load(result.cohort / schema.image_relpath(result.ids[PID], "T1C"))
    np.testing.assert_allclose(img.affine, rot @ images["T1C"].affine, atol=1e-3)
    assert np.array_equal(_mask(result), images["T1C"].mask)


def test_plan_contour_on_series_not_in_folder_mapped_with_warning(src, tmp_path):
    shutil.rmtree(src / "series2")  # the T1C series the tumour was drawn on
    rules = {**RULES, "sequences": {"T1": RULES["sequences"]["T1"], "T2": ["t2"]}}
    result = import_dicom(src, tmp_path / "cohort", rules)
    warnings = [p for p in result.problems.of_level("warning")]
    assert any("drawn on a series that is not in the folder" in p.message and p.patient == PID for p in warnings)
    assert _mask(result, "T1").any()


def test_plan_empty_mask(base, src, tmp_path):
    written = base[2]
    lps = written["series"]["T1C"]["affine_lps"]
    tiny = np.array([[0.1, 0.1, 5], [0.4, 0.1, 5], [0.2, 0.4, 5]], float)
    pts = (lps @ np.c_[tiny, np.ones(3)].T)[:3].T  # between pixel centres: no centre inside
    f.set_contours(src / "rt" / "RS.dcm", "GTVnx", [pts])
    text = _refused(src, tmp_path)
    assert "ROI 'GTVnx' gives an empty mask on T1C's grid" in text


def test_plan_mask_outside_image(base, tmp_path):
    _, images, _ = base
    written = f.write_patient_export(tmp_path / "src", 11, images=images, rtstruct=False)
    rois = {"GTVnx": (images["T1C"].mask, written["series"]["T1C"])}
    f.write_rtstruct(tmp_path / "src" / "rt" / "RS.dcm", 11, rois, move_mm=(300.0, 0.0, 0.0))
    text = _refused(tmp_path / "src", tmp_path)
    assert "falls outside the T1C image" in text


def test_plan_other_frame_of_reference_refused_unless_registered(base, tmp_path):
    _, images, _ = base
    written = f.write_patient_export(tmp_path / "src", 11, images=images, rtstruct=False)
    rois = {"GTVnx": (images["T1C"].mask, written["series"]["T1C"])}
    ct_for = "1.2.826.0.1.3680043.10.999.77.1"
    f.write_rtstruct(tmp_path / "src" / "rt" / "RS.dcm", 11, rois, frame_of_reference=ct_for, move_mm=(10, -5, 2))
    text = _refused(tmp_path / "src", tmp_path)
    assert "another frame of reference" in text and "refused" in text and f"patient {PID}" in text
    shift = np.eye(4)
    shift[:3, 3] = (-10, 5, -2)  # CT frame -> MR frame
    f.write_registration(tmp_path / "src" / "reg" / "REG.dcm", 11, ct_for, shift)
    result = import_dicom(tmp_path / "src", tmp_path / "cohort", RULES)
    assert np.array_equal(_mask(result), images["T1C"].mask)
    assert any("spatial registration" in p.message for p in result.problems.of_level("note"))


def test_plan_study_referenced_by_rtstruct_chosen(src, tmp_path):
    for n, key in enumerate(("series0", "series1", "series2")):
        shutil.copytree(src / key, src / "followup" / key)

        def other_study(ds, n=n):
            f.new_uids(80 + n)(ds)
            ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.999.55.1"
            ds.StudyDescription = "follow-up MR"
        f.edit_files(src / "followup" / key, other_study)
    result = import_dicom(src, tmp_path / "cohort", RULES)
    report = result.report.read_text()
    assert "NPC staging MR" in report and "follow-up MR" not in report
    rules = {**RULES, "study": "nothing like this"}
    text = _refused(src, tmp_path / "again", rules)
    assert "the study rule 'nothing like this' matches 0 of the 2 studies" in text


def test_registration_transform_composes_frames():
    class Inst:
        def __init__(self, ds):
            self.dataset = ds
    import pydicom
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.FrameOfReferenceUID = "1.1"
    items = []
    for uid, t in (("1.2", 5.0), ("1.3", -2.0)):
        m = np.eye(4)
        m[0, 3] = t
        mat = Dataset()
        mat.FrameOfReferenceTransformationMatrix = list(m.ravel())
        reg = Dataset()
        reg.MatrixSequence = pydicom.Sequence([mat])
        item = Dataset()
        item.FrameOfReferenceUID = uid
        item.MatrixRegistrationSequence = pydicom.Sequence([reg])
        items.append(item)
    ds.RegistrationSequence = pydicom.Sequence(items)
    t = registration_transform([Inst(ds)], "1.2", "1.3")
    assert t[0, 3] == pytest.approx(7.0)
    assert registration_transform([Inst(ds)], "1.2", "9.9") is None
