"""Import of DICOM exports written by the tests from the digital twin (tests/dicom_factory.py).

The RTSTRUCT contours are exact pixel-boundary polygons of the twin's masks (an
independent method from the importer's centre-in-polygon fill), so the own
series' masks come back exactly; a contour drawn only on T1C is mapped to T1
and T2 written on grids of their own.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import dicom_factory as f
from cohort_factory import tiny_clinical
from npc_lib.cli import main
from npc_lib.cohort import schema
from npc_lib.dicom import DicomImportError, import_dicom
from npc_lib.dicom.importer import report_path, secret_path

SEQ_RULES = {"T1": ["t1(?!.*(gd|post))"], "T2": ["t2"], "T1C": [r"post|gd|\+c"]}
OWN_RULES = {"sequences": SEQ_RULES, "roi": {"T1": ["^gtv_t1$"], "T2": ["^gtv_t2$"], "T1C": ["^gtv_t1c$"]}}
T1C_RULES = {"sequences": SEQ_RULES, "roi": ["^gtv_?(nx|p)$"]}


def dice(a, b) -> float:
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


def _shuffle_rename(folder: Path, seed: int) -> None:
    """Move every file into random nested folders under random names without an extension."""
    rng = random.Random(seed)
    files = [p for p in folder.rglob("*") if p.is_file()]
    rng.shuffle(files)
    for n, p in enumerate(files):
        target = folder / f"d{rng.randint(0, 3)}" / f"x{rng.randint(0, 2)}" / f"{rng.getrandbits(40):010x}{n}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(p, target)
    for d in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()


def _hole_and_pieces(mask: np.ndarray) -> np.ndarray:
    """The mask with a hole in its largest slice and a second piece beside it on that slice."""
    m = mask.copy()
    k = int(np.argmax(m.sum(axis=(0, 1))))
    ii, jj = np.nonzero(m[:, :, k])
    ci, cj = int(np.median(ii)), int(np.median(jj))
    m[ci - 1:ci + 2, cj - 1:cj + 2, k] = 0  # a 3x3 hole at the centre
    i0 = ii.max() + 3 if ii.max() + 6 < m.shape[0] else ii.min() - 5  # a 2x3 piece two pixels beside it
    m[i0:i0 + 2, cj:cj + 3, k] = 1
    assert m[ci, cj, k] == 0 and m[i0, cj, k] == 1
    return m


@pytest.fixture(scope="module")
def own_export(tmp_path_factory):
    """Three patients, each ROI drawn on its own series: plain; LPS/flipped rows/descending slices with rescale,
    shuffled and renamed; a hole and two pieces on one slice."""
    root = tmp_path_factory.mktemp("dicom_own")
    src = root / "src"
    truth = {}
    truth[1] = f.write_patient_export(src / "p1", 1, own_rois=True)
    specs = {"T1": f.SeriesSpec("t1_tse_tra", 3, flip=(1,)),
             "T2": f.SeriesSpec("t2_tse_tra", 4, flip=(0, 1), slope=0.5, intercept=-100.0),
             "T1C": f.SeriesSpec("T1 AX +C post", 7, flip=(0, 1, 2), slope=2.0, intercept=-1024.0)}
    images = f.twin_images(seed=2, scanner="B")
    for seq in ("T1C",):  # slope 2: values of the same parity as the intercept
        images[seq] = images[seq].__class__(images[seq].image // 2 * 2, images[seq].mask, images[seq].affine)
    truth[2] = f.write_patient_export(src / "p2", 2, images=images, specs=specs, own_rois=True)
    _shuffle_rename(src / "p2", seed=2)
    images3 = f.twin_images(seed=3, scanner="B")
    holed = _hole_and_pieces(images3["T1C"].mask)
    truth[3] = f.write_patient_export(src / "p3", 3, images=images3, own_rois=True, masks={"T1C": holed})
    out = root / "cohort"
    result = import_dicom(src, out, OWN_RULES)
    return root, result, truth


def _load(cohort: Path, pid: str, seq: str):
    img = nib.load(cohort / schema.image_relpath(pid, seq))
    roi = nib.load(cohort / schema.roi_relpath(pid, seq))
    return np.asarray(img.dataobj), img.affine, np.asarray(roi.dataobj), roi.affine


def test_import_dicom_images_voxel_for_voxel(own_export):
    root, result, truth = own_export
    assert result.n_patients == 3
    assert any("without the .dcm extension" in p.message for p in result.problems.of_level("note"))
    for i, written in truth.items():
        pid = result.ids[f.IDENTIFIERS["PatientID"].format(i=i)]
        for seq in schema.SEQUENCES:
            image, affine, _, roi_affine = _load(result.cohort, pid, seq)
            assert np.array_equal(image, written[seq][0]), (i, seq)
            np.testing.assert_allclose(affine, written[seq][1], atol=1e-3)
            np.testing.assert_allclose(roi_affine, affine, atol=1e-6)


def test_import_dicom_masks_on_own_series(own_export):
    root, result, truth = own_export
    for i, written in truth.items():
        pid = result.ids[f.IDENTIFIERS["PatientID"].format(i=i)]
        for seq in schema.SEQUENCES:
            _, _, roi, _ = _load(result.cohort, pid, seq)
            assert dice(roi, written["masks"][seq]) >= 0.97, (i, seq)
            # centres inside pixel-edge polygons: the drawn mask exactly
            assert np.array_equal(roi, written["masks"][seq]), (i, seq)


def test_import_dicom_hole_and_pieces_kept(own_export):
    root, result, truth = own_export
    pid = result.ids[f.IDENTIFIERS["PatientID"].format(i=3)]
    _, _, roi, _ = _load(result.cohort, pid, "T1C")
    from scipy import ndimage

    k = int(np.argmax(truth[3]["masks"]["T1C"].sum(axis=(0, 1))))
    labels, n = ndimage.label(roi[:, :, k])
    assert n >= 2
    filled = ndimage.binary_fill_holes(roi[:, :, k])
    assert filled.sum() > roi[:, :, k].sum()  # the hole is there


def test_import_dicom_no_identifier_in_cohort(own_export):
    root, result, truth = own_export
    secrets_ = [v.format(i=i) for i in truth for v in f.IDENTIFIERS.values()]
    secrets_ += ["1.2.826.0.1.3680043.10.999", "2015-03-01", "1965-04-12", "Zeta", str(root / "src"), "ZZTESTNAME"]
    files = [p for p in result.cohort.rglob("*")]
    assert files
    for p in files:
        for s in secrets_:
            assert s not in str(p.relative_to(result.cohort)), (p, s)
        if p.is_file():
            data = p.read_bytes()
            if p.name.endswith(".gz"):
                data = gzip.decompress(data)
            for s in secrets_:
                assert s.encode() not in data, (p, s)
    # the report beside the cohort is the only place the original ids appear
    report = report_path(result.cohort)
    assert report == result.report and report.parent == result.cohort.parent
    text = report.read_text()
    assert f.IDENTIFIERS["PatientID"].format(i=1) in text and result.ids["MRN770001"] in text
    assert secret_path(result.cohort).is_file()
    assert (os.stat(secret_path(result.cohort)).st_mode & 0o077) == 0


def test_import_dicom_clinical_from_headers(own_export):
    root, result, truth = own_export
    table = pd.read_csv(result.cohort / schema.CLINICAL_FILE)
    assert list(table.columns) == list(schema.CLINICAL_COLUMNS)
    row = table.set_index("patient_id").loc[result.ids["MRN770001"]]
    assert row["age"] == 41 and row["sex"] == "F" and row["scanner"] == "SIEMENS Avanto 1.5T"
    assert table["dfs_time"].isna().all()  # outcomes left for the user


def test_import_dicom_same_ids_again_with_secret(own_export, tmp_path):
    root, result, truth = own_export
    rules = {**OWN_RULES, "patient_ids": {"secret_file": str(secret_path(result.cohort))}}
    again = import_dicom(root / "src" / "p1", tmp_path / "again", rules)
    assert again.ids["MRN770001"] == result.ids["MRN770001"]
    assert not secret_path(tmp_path / "again").exists()


def test_import_dicom_then_validate(own_export, tmp_path, capsys):
    root, result, truth = own_export
    cohort = tmp_path / "cohort"
    shutil.copytree(result.cohort, cohort)
    # npc validate names every missing value first
    assert main(["validate", str(cohort), "--check", "none"]) == 2
    assert "missing value" in capsys.readouterr().err
    table = pd.read_csv(cohort / schema.CLINICAL_FILE)
    filled = tiny_clinical(len(table), seed=1)
    for col in schema.CLINICAL_COLUMNS:
        if col not in ("patient_id", "age", "sex", "scanner"):
            table[col] = filled[col].to_numpy()
    table.to_csv(cohort / schema.CLINICAL_FILE, index=False)
    assert main(["validate", str(cohort)]) == 0


def test_import_dicom_cli(own_export, tmp_path, capsys):
    import yaml

    root, result, truth = own_export
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(OWN_RULES))
    assert main(["import-dicom", str(root / "src" / "p1"), "--out", str(tmp_path / "c"), "--rules", str(rules)]) == 0
    out = capsys.readouterr().out
    assert "1 patients imported" in out and "import-report.json" in out
    assert (tmp_path / "c" / schema.CLINICAL_FILE).is_file()
    # an existing cohort is not overwritten without --overwrite
    assert main(["import-dicom", str(root / "src" / "p1"), "--out", str(tmp_path / "c"), "--rules", str(rules)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_import_dicom_report_inside_cohort_refused(own_export, tmp_path):
    root, result, truth = own_export
    with pytest.raises(ValueError, match="inside the cohort"):
        import_dicom(root / "src" / "p1", tmp_path / "c", OWN_RULES, report=tmp_path / "c" / "report.json")


def test_import_dicom_t1c_contour_mapped_to_other_grids(tmp_path):
    images = f.twin_images(seed=4, scanner="A")
    aff = images["T1C"].affine
    t1 = aff.copy()
    t1[:3, :3] = np.diag([0.9, 0.9, 3.0])
    t1[:3, 3] = aff[:3, 3] + [1.3, -0.7, 1.1]
    t2 = aff.copy()
    t2[:3, :3] = np.diag([1.2, 1.2, 5.0])
    t2[:3, 3] = aff[:3, 3] + [0.4, 0.9, -2.3]
    grids = {"T1": ((124, 124, 19), t1), "T2": ((93, 93, 12), t2)}
    written = f.write_patient_export(tmp_path / "src", 4, images=images, grids=grids, roi_on="T1C")
    result = import_dicom(tmp_path / "src", tmp_path / "cohort", T1C_RULES)
    pid = result.ids["MRN770004"]
    _, _, own, _ = _load(result.cohort, pid, "T1C")
    assert np.array_equal(own, images["T1C"].mask)
    for seq in ("T1", "T2"):
        _, affine, roi, _ = _load(result.cohort, pid, seq)
        shape, target = grids[seq]
        assert roi.shape == shape
        np.testing.assert_allclose(affine, target, atol=1e-3)
        expected = f.resample_nearest(images["T1C"].mask, aff, shape, target)
        assert dice(roi, expected) >= 0.9, seq
        assert not np.array_equal(roi.shape, own.shape)


def test_import_dicom_errors_all_at_once_nothing_written(own_export, tmp_path):
    root, result, truth = own_export
    src = tmp_path / "src"
    shutil.copytree(root / "src" / "p1", src / "p1")
    shutil.copytree(root / "src" / "p3", src / "p3")
    shutil.rmtree(src / "p1" / "series1")  # patient 1: no T2
    files = sorted((src / "p3" / "series0").iterdir())
    files[5].unlink()  # patient 3: a missing T1 slice
    with pytest.raises(DicomImportError) as info:
        import_dicom(src, tmp_path / "cohort", OWN_RULES)
    text = str(info.value)
    assert "patient MRN770001" in text and "no axial series matches the T2 rule" in text
    assert "patient MRN770003" in text and "missing slice" in text and files[6].name in text
    assert not (tmp_path / "cohort").exists()
    assert not report_path(tmp_path / "cohort").exists() and not secret_path(tmp_path / "cohort").exists()


def test_import_dicom_key_file_pseudonyms(own_export, tmp_path):
    root, result, truth = own_export
    key = tmp_path / "keys.csv"
    key.write_text("dicom_patient_id,patient_id\nMRN770001,NPC0001\n")
    rules = {**OWN_RULES, "patient_ids": {"key_file": str(key)}}
    done = import_dicom(root / "src" / "p1", tmp_path / "c1", rules)
    assert done.ids == {"MRN770001": "NPC0001"} and (tmp_path / "c1" / "images" / "NPC0001").is_dir()
    assert not secret_path(tmp_path / "c1").exists()
    with pytest.raises(DicomImportError, match="patient MRN770003: not in the key file"):
        import_dicom(root / "src" / "p3", tmp_path / "c3", rules)


def test_import_dicom_in_processes_same_cohort(own_export, tmp_path):
    root, result, truth = own_export
    rules = {**OWN_RULES, "patient_ids": {"secret_file": str(secret_path(result.cohort))}}
    two = import_dicom(root / "src", tmp_path / "two", rules, n_jobs=2)
    assert two.ids == result.ids
    files = sorted(p.relative_to(result.cohort) for p in result.cohort.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two.cohort) for p in two.cohort.rglob("*") if p.is_file())
    for rel in files:
        assert (two.cohort / rel).read_bytes() == (result.cohort / rel).read_bytes(), rel
    with pytest.raises(ValueError, match="n_jobs must be >= 1"):
        import_dicom(root / "src", tmp_path / "none", rules, n_jobs=0)
