"""The model bundle and predictions from it (npc_lib.run.bundle, npc_lib.run.predict): fidelity and safety.

Every test reads the session's smoke run (``smoke_run``) and never changes it;
the bundle is exported from a copy of the run, moved elsewhere, and the copy
deleted, so nothing of the run folder can answer for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from real_mr_cohort import flip_axes, write_volume
from npc_lib.cli import main
from npc_lib.run import Run
from npc_lib.run.bundle import BUNDLE_FORMAT, BundleError, derive_bundle, export_bundle, load_bundle, predict
from npc_lib.run.predict import OutsideDevelopmentWarning, PREDICTION_COLUMNS, predict_patient

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-5  # same backend (the bound)
TOL_OTHER_BACKEND = 1e-4


@pytest.fixture(scope="module")
def bundle_dir(smoke_run, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("bundle")
    run_copy = base / "run"
    shutil.copytree(smoke_run, run_copy, ignore=shutil.ignore_patterns("checkpoints_*", "notebooks", "*.html",
                                                                       "model"))
    made = base / "made" / "model"
    assert main(["-q", "export", "--run", str(run_copy), "--out", str(made), "--archive"]) == 0  # npc export
    assert (base / "made" / "model.zip").is_file()
    moved = base / "elsewhere" / "model"
    shutil.copytree(made, moved)
    shutil.rmtree(run_copy)
    shutil.rmtree(base / "made")
    return moved


@pytest.fixture(scope="module")
def run(smoke_run) -> Run:
    return Run.open(smoke_run)


@pytest.fixture(scope="module")
def predictions(bundle_dir, run) -> pd.DataFrame:
    return predict(bundle_dir, run.cohort_dir(), times=(24.0,))


def _sub_cohort(src: Path, ids, dst: Path, *, rename=None, drop_columns=(), edit=None) -> Path:
    """A cohort of some patients of ``src`` (ids renamed by ``rename``), images copied."""
    clinical = pd.read_csv(src / "clinical.csv", dtype=str, keep_default_na=False)
    rows = clinical.set_index("patient_id").loc[list(ids)].reset_index()
    new_ids = [(rename or {}).get(p, p) for p in ids]
    rows["patient_id"] = new_ids
    rows = rows.drop(columns=list(drop_columns))
    if edit:
        edit(rows)
    dst.mkdir(parents=True)
    rows.to_csv(dst / "clinical.csv", index=False)
    for old, new in zip(ids, new_ids):
        shutil.copytree(src / "images" / old, dst / "images" / new)
    return dst


def _rewrite(folder: Path, name: str, transform) -> None:
    img = nib.load(str(folder / name))
    data, affine = transform(np.asarray(img.dataobj), np.asarray(img.affine, float))
    (folder / name).unlink()
    write_volume(folder / name, data, affine)


# ----------------------------------------------------------------------------- fidelity


def test_predict_reproduces_the_run_from_a_moved_bundle(bundle_dir, run, predictions):
    bundle = load_bundle(bundle_dir)
    expected = [c for c in PREDICTION_COLUMNS if c in {"patient_id", *bundle.signatures} or not c.startswith("DL_")]
    expected.insert(expected.index("dfs_60") + 1, "dfs_24")  # extra times after the default ones
    assert list(predictions.columns) == expected
    sig = run.signatures().set_index("patient_id")
    got = predictions.set_index("patient_id").loc[sig.index]
    for s in bundle.signatures:
        assert np.max(np.abs(got[s] - sig[s])) <= TOL, s
    frame = run.model_frame("dfs")
    fit = run.fitted_models(frame[frame["cohort"] == "train"])["Model_clinic+dl"]
    surv = fit.predict_survival(frame, [36.0, 60.0, 24.0])
    mine = got.loc[frame["patient_id"], ["dfs_36", "dfs_60", "dfs_24"]].to_numpy()
    assert np.max(np.abs(mine - surv)) <= TOL
    groups = run.risk_groups().set_index("patient_id")
    scale = bundle.nomogram["scale"]
    assert np.max(np.abs(got.loc[groups.index, "total_points"] - groups["points"])) <= TOL * scale
    # the cut-off lies midway between two training patients: rounding moves nobody across it
    assert (got.loc[groups.index, "risk_group"] == np.where(groups["high_risk"] == 1, "high", "low")).all()
    centre = bundle.nomogram["center"]
    assert np.allclose(got["linear_predictor"] - centre,
                       bundle.nomogram["intercept"] + got["total_points"] / scale, atol=1e-9)


def test_predict_does_not_depend_on_other_patients_or_order(bundle_dir, run, predictions):
    ids = predictions["patient_id"].iloc[[3, 0, 11, 7]].tolist()[::-1]
    alone = predict(bundle_dir, run.cohort_dir(), patient_ids=ids).set_index("patient_id")
    full = predictions.set_index("patient_id").loc[ids, alone.columns]
    num = [c for c in alone.columns if c not in ("risk_group", "outside_axes")]
    # float32 networks: other batches, other roundings; points are the signatures times the scale
    tol = pd.Series(TOL, index=num)
    if "total_points" in tol.index:
        tol["total_points"] = TOL * load_bundle(bundle_dir).nomogram["scale"]
    assert (np.abs(alone[num] - full[num]).max() <= tol).all()
    assert (alone["risk_group"] == full["risk_group"]).all()


def test_predict_same_patient_exported_in_ras_and_lps(bundle_dir, run, predictions, tmp_path):
    src = Path(run.cohort_dir())
    pid = predictions["patient_id"].iloc[2]
    clinical = pd.read_csv(src / "clinical.csv", dtype=str, keep_default_na=False)
    rows = pd.concat([clinical[clinical.patient_id == pid]] * 2, ignore_index=True)
    rows["patient_id"] = ["A_RAS", "B_LPS"]
    root = tmp_path / "orient"
    (root / "images").mkdir(parents=True)
    rows.to_csv(root / "clinical.csv", index=False)
    shutil.copytree(src / "images" / pid, root / "images" / "A_RAS")
    shutil.copytree(src / "images" / pid, root / "images" / "B_LPS")
    for f in sorted((root / "images" / "B_LPS").glob("*.nii.gz")):
        _rewrite(f.parent, f.name, lambda d, a: flip_axes(d, a, (0, 1)))
    assert "".join(nib.aff2axcodes(nib.load(str(root / "images/B_LPS/T1.nii.gz")).affine))[:2] != \
        "".join(nib.aff2axcodes(nib.load(str(root / "images/A_RAS/T1.nii.gz")).affine))[:2]
    got = predict(bundle_dir, root).set_index("patient_id")
    num = [c for c in got.columns if c not in ("risk_group", "outside_axes")]
    assert np.max(np.abs(got.loc["A_RAS", num].to_numpy(float) - got.loc["B_LPS", num].to_numpy(float))) <= TOL
    ref = predictions.set_index("patient_id").loc[pid, num].to_numpy(float)
    assert np.max(np.abs(got.loc["A_RAS", num].to_numpy(float) - ref)) <= TOL


# ----------------------------------------------------------------------------- the bundle itself


def test_bundle_layout_manifest_and_model_card(bundle_dir, run):
    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    assert m["format"] == BUNDLE_FORMAT and m["created"] and m["software"]["keras"]
    assert m["software"]["keras_backend_trained"] in ("tensorflow", "torch", "jax")
    dev = m["development_cohort"]
    assert dev["train"]["n_patients"] == len(run.patient_ids("train"))
    assert dev["train"]["events"] + dev["test"]["events"] == int(run.clinical()["dfs_event"].sum())
    listed = set(m["files"])
    on_disk = {p.relative_to(bundle_dir).as_posix() for p in bundle_dir.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk
    assert not any(p.endswith((".pkl", ".pickle", ".npy", ".npz")) for p in listed)
    assert {f"signatures/model_{s}_member0.weights.h5" for s in bundle.sequences} <= listed
    card = bundle.model_card
    for heading in ("Intended use", "Development population", "Predictors", "Performance", "Limits"):
        assert f"## {heading}" in card
    assert "Harrell's C" in card and "not for clinical use" in card
    step = bundle.nomogram["baseline_cumhazard_at_center"]
    assert len(step["times"]) == len(step["cumhaz"]) > 2


def test_bundle_holds_no_patient_identifier(bundle_dir, run):
    ids = [str(p) for p in run.cohort().patient_ids]
    for f in bundle_dir.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            found = [p for p in ids if p.encode() in data]
            assert not found, f"{f.relative_to(bundle_dir)} holds patient id(s) {found[:3]}"


def test_load_bundle_lists_every_changed_file(bundle_dir, tmp_path):
    b = tmp_path / "model"
    shutil.copytree(bundle_dir, b)
    w = next((b / "signatures").glob("*.weights.h5"))
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))
    nom = b / "nomogram" / "nomogram.json"
    nom.write_text(nom.read_text().replace('"scale": ', '"scale": 1', 1))
    (b / "extra.txt").write_text("x")
    with pytest.raises(BundleError) as err:
        load_bundle(b)
    msg = str(err.value)
    assert f"signatures/{w.name}: SHA-256 does not match" in msg
    assert "nomogram/nomogram.json: SHA-256 does not match" in msg
    assert "extra.txt: file not listed in manifest.json" in msg
    assert len(err.value.problems) == 3


def test_load_bundle_refuses_files_outside_it(bundle_dir, tmp_path):
    b = tmp_path / "model"
    shutil.copytree(bundle_dir, b)
    m = json.loads((b / "manifest.json").read_text())
    m["files"]["../secret.txt"] = "0" * 64
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=r"\.\./secret\.txt: manifest\.json lists a file outside the bundle"):
        load_bundle(b)


def test_load_bundle_refuses_a_newer_format(bundle_dir, tmp_path):
    b = tmp_path / "model"
    shutil.copytree(bundle_dir, b)
    m = json.loads((b / "manifest.json").read_text())
    m["format"] = "npc-bundle/99"
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=r"bundle format npc-bundle/99 is newer than this release"):
        load_bundle(b)


def test_derive_bundle_names_parent_and_update(bundle_dir, run, tmp_path):
    from npc_lib.stats.nomogram_export import updated_nomogram_model

    parent = load_bundle(bundle_dir)
    step = parent.nomogram["baseline_cumhazard_at_center"]
    at_zero = np.exp(-parent.nomogram["center"])  # the update's baseline is at X'beta = 0
    doc = updated_nomogram_model(parent.nomogram, kind="baseline", baseline_times=step["times"],
                                 baseline_cumhaz=[2 * h * at_zero for h in step["cumhaz"]],
                                 parent={"sha256": parent.sha256}, cohort="centre B")
    child = load_bundle(derive_bundle(parent, doc, tmp_path / "child", note="twice the hazard, for the test"))
    assert child.manifest["parent"]["sha256"] == parent.sha256
    assert child.manifest["parent"]["update"]["kind"] == "baseline"
    assert child.nomogram["parent"]["sha256"] == parent.sha256
    assert "Derived bundle" in child.model_card
    ids = run.patient_ids("test")[:2]
    a = predict(parent, run.cohort_dir(), patient_ids=ids)
    b = predict(child, run.cohort_dir(), patient_ids=ids)
    assert np.allclose(a["total_points"], b["total_points"]) and (a["risk_group"] == b["risk_group"]).all()
    assert np.allclose(np.log(b["dfs_60"]), 2 * np.log(a["dfs_60"]), rtol=1e-4, atol=0)  # H0 doubled
    with pytest.raises(ValueError, match="fields 'parent' and 'update'"):
        derive_bundle(parent, parent.nomogram, tmp_path / "bad", note="x")


# ----------------------------------------------------------------------------- hostile cohorts


def test_predict_names_every_missing_sequence_file(bundle_dir, run, tmp_path):
    ids = run.patient_ids("test")[:3]
    root = _sub_cohort(Path(run.cohort_dir()), ids, tmp_path / "c")
    seq = load_bundle(bundle_dir).sequences[-1]
    for p in ids[:2]:
        (root / "images" / p / f"{seq}.nii.gz").unlink()
    with pytest.raises(ValueError) as err:
        predict(bundle_dir, root)
    for p in ids[:2]:
        assert f"images/{p}/{seq}.nii.gz" in str(err.value)
    assert ids[2] not in str(err.value)


def test_predict_needs_only_the_model_variables(bundle_dir, run, tmp_path):
    bundle = load_bundle(bundle_dir)
    need = bundle.clinical_variables()
    unused = [c for c in ("age", "sex", "hgb", "alb", "crp", "ldh", "ebv_dna", "smoking") if c not in need]
    ids = run.patient_ids("test")[:3]
    outcomes = [c for c in pd.read_csv(Path(run.cohort_dir()) / "clinical.csv", nrows=1).columns
                if c.endswith(("_time", "_event"))]

    def blank_unused(rows):
        rows.loc[0, unused[0]] = ""

    root = _sub_cohort(Path(run.cohort_dir()), ids, tmp_path / "ok", drop_columns=outcomes, edit=blank_unused)
    got = predict(bundle, root).set_index("patient_id")
    ref = predict(bundle, run.cohort_dir(), patient_ids=ids).set_index("patient_id")
    assert np.allclose(got["dfs_60"], ref["dfs_60"], atol=TOL, rtol=0)
    if not need:
        pytest.skip("the smoke nomogram uses no clinical variable")

    def blank_needed(rows):
        rows.loc[0, need[0]] = ""
        rows.loc[2, need[-1]] = "NA"

    root = _sub_cohort(Path(run.cohort_dir()), ids, tmp_path / "bad", drop_columns=outcomes, edit=blank_needed)
    with pytest.raises(ValueError) as err:
        predict(bundle, root)
    assert f"patient {ids[0]}, field {need[0]}: missing value" in str(err.value)
    assert f"patient {ids[2]}, field {need[-1]}: missing value" in str(err.value)


def test_predict_warns_about_images_outside_the_development_ranges(bundle_dir, run, tmp_path):
    ids = run.patient_ids("test")[:2]
    root = _sub_cohort(Path(run.cohort_dir()), ids, tmp_path / "c", rename={ids[0]: "ODD1"})
    seq = load_bundle(bundle_dir).sequences[0]
    folder = root / "images" / "ODD1"

    def coarse(d, a):
        a = a.copy()
        a[:3, 2] *= 4.0  # slices four times thicker
        return d, a

    _rewrite(folder, f"{seq}.nii.gz", lambda d, a: coarse(d.astype(np.float32) * 40.0, a))
    _rewrite(folder, f"{seq}_roi.nii.gz", coarse)
    with pytest.warns(OutsideDevelopmentWarning) as caught:
        got = predict(bundle_dir, root)
    text = " | ".join(str(w.message) for w in caught)
    assert f"{seq}: voxel spacing (mm) far outside" in text and "ODD1" in text
    assert "intensity landmark far outside" in text
    assert ids[1] not in text
    assert len(got) == 2


def test_predict_patient_folder_gives_the_cohort_row(bundle_dir, run, predictions):
    bundle = load_bundle(bundle_dir)
    pid = predictions["patient_id"].iloc[5]
    clin = run.clinical().set_index("patient_id").loc[pid]
    values = {v: (str(clin[v]) if not isinstance(clin[v], (float, np.floating)) else float(clin[v]))
              for v in bundle.clinical_variables()}
    r = predict_patient(bundle, Path(run.cohort_dir()) / "images" / pid, values)
    row = predictions.set_index("patient_id").loc[pid]
    for s, v in r.signatures.items():
        assert abs(v - row[s]) <= TOL
    assert abs(r.nomogram.total_points - row["total_points"]) <= TOL * bundle.nomogram["scale"]
    assert abs(r.nomogram.survival[60.0] - row["dfs_60"]) <= TOL and r.risk_group == row["risk_group"]
    assert r.to_dict()["risk_group"] == r.risk_group and r.to_dict()["survival"] == r.nomogram.survival
    with pytest.raises(ValueError, match=r"\['DL_T1_sig'\] are computed from the patient's images"):
        predict_patient(bundle, Path(run.cohort_dir()) / "images" / pid, {**values, "DL_T1_sig": 0.4})


# ----------------------------------------------------------------------------- the other backend


def test_predict_with_torch_backend_matches_tensorflow(bundle_dir, run, predictions, tmp_path):
    pytest.importorskip("torch")
    trained = load_bundle(bundle_dir).manifest["software"]["keras_backend_trained"]
    other = "torch" if trained != "torch" else "tensorflow"
    ids = run.patient_ids("test")[:6]
    out = tmp_path / "other.csv"
    code = ("import sys, json; from npc_lib.run.bundle import predict; "
            "ids = json.loads(sys.argv[3]); predict(sys.argv[1], sys.argv[2], patient_ids=ids).to_csv(sys.argv[4], "
            "index=False); import keras; print(keras.backend.backend())")
    env = {**os.environ, "KERAS_BACKEND": other}
    done = subprocess.run([sys.executable, "-c", code, str(bundle_dir), str(run.cohort_dir()), json.dumps(ids),
                           str(out)], env=env, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == other
    got = pd.read_csv(out, dtype={"patient_id": str}).set_index("patient_id")
    ref = predictions.set_index("patient_id").loc[ids]
    num = [c for c in ("DL_T1_sig", "DL_T2_sig", "DL_T1C_sig", "dfs_36", "dfs_60") if c in got.columns]
    assert np.max(np.abs(got[num].to_numpy() - ref[num].to_numpy())) <= TOL_OTHER_BACKEND
    assert (got["risk_group"] == ref["risk_group"]).all()


# ----------------------------------------------------------------------------- command line


def test_cli_predict_cohort_and_patient(bundle_dir, run, predictions, tmp_path, capsys):
    ids = run.patient_ids("test")[:2]
    root = _sub_cohort(Path(run.cohort_dir()), ids, tmp_path / "c")
    out = tmp_path / "p.csv"
    assert main(["-q", "predict", "--model", str(bundle_dir), "--cohort", str(root), "--out", str(out),
                 "--time", "12"]) == 0
    assert "2 patients predicted" in capsys.readouterr().out
    got = pd.read_csv(out, dtype={"patient_id": str}, keep_default_na=False).set_index("patient_id")
    assert "dfs_12" in got.columns
    ref = predictions.set_index("patient_id").loc[ids]
    assert np.allclose(got["dfs_60"].astype(float), ref["dfs_60"], atol=TOL, rtol=0)
    capsys.readouterr()
    pid = ids[0]
    clin = run.clinical().set_index("patient_id").loc[pid]
    values = [f"--value={v}={clin[v]}" for v in load_bundle(bundle_dir).clinical_variables()]
    assert main(["predict", "--model", str(bundle_dir), "--patient", str(root / "images" / pid), *values]) == 0
    text = capsys.readouterr().out
    assert "total points" in text and "risk group" in text and "(from the images)" in text
    assert main(["predict", "--model", str(bundle_dir), "--patient", str(root / "images" / pid)]) == 2
    assert "missing variable(s)" in capsys.readouterr().err


def test_run_writes_its_bundle_at_the_end_of_chapter_06(run):
    bundle = load_bundle(run.dir / "model")
    assert bundle.signatures == run.signature_columns()
    assert bundle.locked["cutoff_points"] == run.metrics("06_nomogram")["cutoff"]["points"]


def test_run_without_nomogram_exports_its_signatures_only(smoke_run, run, tmp_path):
    run_copy = tmp_path / "run"
    shutil.copytree(smoke_run, run_copy, ignore=shutil.ignore_patterns("checkpoints_*", "notebooks", "*.html",
                                                                       "model"))
    (run_copy / "06_nomogram" / "nomogram.json").unlink()  # as chapter 06 leaves it for a model without covariate
    bundle = load_bundle(export_bundle(run_copy, tmp_path / "model"))
    assert bundle.nomogram is None and not (tmp_path / "model" / "nomogram").exists()
    assert "signatures only" in bundle.manifest["nomogram"]["note"] and "No nomogram" in bundle.model_card
    got = predict(bundle, run.cohort_dir(), patient_ids=run.patient_ids("test")[:2])
    assert got[list(bundle.signatures)].notna().all().all()
    assert got["dfs_60"].isna().all() and (got["risk_group"] == "").all()


def test_training_records_the_development_ranges_the_images_give(run, bundle_dir):
    from npc_lib.model.signature import read_preprocess
    from npc_lib.run.model_card import development_ranges, development_ranges_name

    sig = run.dir / "04_signatures"
    seqs = [s for s in ("T1", "T2", "T1C") if (sig / development_ranges_name(s)).is_file()]
    assert seqs == list(run.sequences)
    read = development_ranges(run.cohort(), {s: read_preprocess(sig, s)["instances"]["standardizer"] for s in seqs},
                              run.patient_ids("train"))  # every training image read again
    recorded = {s: json.loads((sig / development_ranges_name(s)).read_text()) for s in seqs}
    assert recorded == read["sequences"]
    assert load_bundle(bundle_dir).development["sequences"] == recorded


def test_sequence_ranges_refuses_mismatched_shapes():
    from npc_lib.run.model_card import sequence_ranges

    with pytest.raises(ValueError, match=r"spacing must have shape \(n, 3\) and landmarks \(n, 2\)"):
        sequence_ranges([[1.0, 1.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]], [1, 99])
    with pytest.raises(ValueError, match="n >= 1"):
        sequence_ranges(np.zeros((0, 3)), np.zeros((0, 2)), [1, 99])
