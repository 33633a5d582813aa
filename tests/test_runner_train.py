"""Tests of npc_lib.runners.train: the `npc train` / `npc crossval` runners (A7, A8)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

from cohort_factory import make_tiny_cohort  # noqa: E402

from npc_lib.cohort import schema  # noqa: E402
from npc_lib.cohort.split import split_cohort  # noqa: E402
from npc_lib.model.checkpoint import snapshot_variables  # noqa: E402
from npc_lib.run import resolve_profile  # noqa: E402
from npc_lib.model.gradcam import grad_cam  # noqa: E402
from npc_lib.model.training import predict_patient_risk  # noqa: E402
from npc_lib.model.train_config import TrainConfig  # noqa: E402
from npc_lib.runners.train import (load_signature_model, run_crossval, run_training,  # noqa: E402
                                   signature_instances, signature_risk)

CONFIG = resolve_profile("smoke").train.replace(ensemble_size=2)


def _split(cohort: Path) -> pd.DataFrame:
    split = resolve_profile("smoke").split
    ids = pd.read_csv(cohort / schema.CLINICAL_FILE, dtype={"patient_id": str})["patient_id"]
    return split_cohort(ids, train_fraction=split.train_fraction, seed=split.seed)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return make_tiny_cohort(tmp_path_factory.mktemp("cohort") / "c", n=24, seed=4)


@pytest.fixture(scope="module")
def trained(cohort, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    return out, run_training(cohort, "T2", out, config=CONFIG, split=_split(cohort), seed=1, progress=False)


def _weights(out: Path, sequence: str) -> list[np.ndarray]:
    model, _, _ = load_signature_model(out, sequence)
    return snapshot_variables(model.variables)


def test_run_training_writes_signature_and_metrics(cohort, trained):
    out, metrics = trained
    sig = pd.read_csv(out / "signature_T2.csv", dtype={"patient_id": str})
    assert list(sig.columns) == ["patient_id", "cohort", "risk"]
    clinical = pd.read_csv(cohort / schema.CLINICAL_FILE, dtype={"patient_id": str})
    assert sig["patient_id"].tolist() == clinical["patient_id"].tolist()
    split = _split(cohort)
    assert sig["cohort"].tolist() == split.set_index("patient_id").loc[sig["patient_id"], "cohort"].tolist()
    assert np.all(np.isfinite(sig["risk"]))
    on_disk = json.loads((out / "metrics_T2.json").read_text())
    for key in ("train_c_index", "test_c_index", "epochs", "seconds", "instances_per_second", "backend", "config"):
        assert key in on_disk
    assert on_disk["test_c_index"] == pytest.approx(metrics["test_c_index"])
    assert 0 <= metrics["train_c_index"] <= 1 and 0 <= metrics["test_c_index"] <= 1
    assert metrics["n_train"] == (sig["cohort"] == "train").sum()
    assert metrics["config"] == CONFIG.to_dict()
    # centred on the training cohort: an average training patient scores 0
    assert sig.loc[sig["cohort"] == "train", "risk"].mean() == pytest.approx(0.0, abs=1e-9)
    assert sig.loc[sig["cohort"] == "test", "risk"].mean() != pytest.approx(0.0, abs=1e-9)
    assert (out / "checkpoints_T2" / "member1" / "last" / "state.json").is_file()
    # the signature is the mean of the members' standardised risks
    members = pd.read_csv(out / "members_T2.csv", dtype={"patient_id": str})
    assert list(members.columns) == ["patient_id", "cohort", "member0", "member1"]
    np.testing.assert_allclose(sig["risk"], members[["member0", "member1"]].mean(axis=1), rtol=1e-12, atol=1e-12)
    train = members["cohort"] == "train"
    np.testing.assert_allclose(members.loc[train, ["member0", "member1"]].std(ddof=0), 1.0, rtol=1e-9)
    assert metrics["ensemble_size"] == 2 and [m["member"] for m in metrics["members"]] == [0, 1]
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no temporary leftovers


def test_run_training_signature_reloads(trained):
    out, _ = trained
    model, config, preprocess = load_signature_model(out, "T2")
    other, _, _ = load_signature_model(out, "T2", member=1)
    assert config == CONFIG and model.output_shape == (None, 1)
    assert not all(np.array_equal(a, b) for a, b in zip(snapshot_variables(model.variables),
                                                          snapshot_variables(other.variables)))
    assert preprocess["instances"]["box_px"] == [config.box_px, config.box_px]
    assert [m["seed"] for m in preprocess["members"]] == [m["seed"] for m in trained[1]["members"]]
    with pytest.raises(ValueError, match="no trained T1 signature"):
        load_signature_model(out, "T1")
    with pytest.raises(ValueError, match="member must lie in 0..1"):
        load_signature_model(out, "T2", member=2)


def test_signature_instances_reproduce_the_signature_and_feed_grad_cam(cohort, trained):
    out, _ = trained
    model, config, preprocess = load_signature_model(out, "T2")
    sig = pd.read_csv(out / "signature_T2.csv", dtype={"patient_id": str}).set_index("patient_id")
    members = pd.read_csv(out / "members_T2.csv", dtype={"patient_id": str}).set_index("patient_id")
    ids = sig.index[:5].tolist()
    inst = signature_instances(cohort, out, "T2", ids)
    # the restored weights are the ones that were scored: the whole signature and each member reproduce
    np.testing.assert_allclose(signature_risk(out, "T2", inst).to_numpy(), sig.loc[ids, "risk"], rtol=1e-5, atol=1e-5)
    st = preprocess["members"][0]
    np.testing.assert_allclose((predict_patient_risk(model, inst, config).to_numpy() - st["loc"]) / st["scale"],
                               members.loc[ids, "member0"], rtol=1e-5, atol=1e-5)
    cam = grad_cam(model, inst.x)
    assert cam.shape == inst.x.shape[:3] and cam.min() >= 0 and cam.max() <= 1


def test_run_training_never_reads_test_outcomes(cohort, trained, tmp_path):
    out, metrics = trained
    # change every test patient's outcomes in a copy of the cohort
    copy = tmp_path / "cohort"
    shutil.copytree(cohort, copy)
    clinical = pd.read_csv(copy / schema.CLINICAL_FILE, dtype={"patient_id": str})
    sig = pd.read_csv(out / "signature_T2.csv", dtype={"patient_id": str})
    test = clinical["patient_id"].isin(sig.loc[sig["cohort"] == "test", "patient_id"])
    # every test patient gets another test patient's outcomes (all endpoints together: a consistent record)
    cols = [c for e in schema.ENDPOINTS for c in (schema.time_col(e), schema.event_col(e))]
    clinical.loc[test, cols] = clinical.loc[test, cols].iloc[::-1].to_numpy()
    clinical.to_csv(copy / schema.CLINICAL_FILE, index=False)
    other = run_training(copy, "T2", tmp_path / "run", config=CONFIG, split=_split(cohort), seed=1, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(_weights(out, "T2"), _weights(tmp_path / "run", "T2")))
    pd.testing.assert_frame_equal(pd.read_csv(out / "signature_T2.csv"), pd.read_csv(tmp_path / "run/signature_T2.csv"))
    assert other["test_c_index"] != pytest.approx(metrics["test_c_index"])  # the change was seen by scoring only


@pytest.mark.slow
def test_run_training_rerun_resumes_from_checkpoint(cohort, trained):
    out, metrics = trained
    again = run_training(cohort, "T2", out, config=CONFIG, split=_split(cohort), seed=1, progress=False)
    assert again["resumed"] and again["epochs"] == metrics["epochs"]
    assert again["test_c_index"] == pytest.approx(metrics["test_c_index"])


def test_run_training_rejects_unknown_sequence(cohort, tmp_path):
    with pytest.raises(ValueError, match="sequence must be one of"):
        run_training(cohort, "FLAIR", tmp_path, config=CONFIG, split=_split(cohort), progress=False)


def test_run_training_rejects_split_not_covering_cohort(cohort, tmp_path):
    split = _split(cohort)
    with pytest.raises(ValueError, match="split: patient .* missing from the split"):
        run_training(cohort, "T2", tmp_path, config=CONFIG, split=split.iloc[1:], progress=False)
    with pytest.raises(ValueError, match="config must be a TrainConfig"):
        run_training(cohort, "T2", tmp_path, config="smoke", split=split, progress=False)


@pytest.mark.slow
def test_run_crossval_three_folds_inside_training_cohort(cohort, tmp_path):
    split = _split(cohort)
    table = run_crossval(cohort, "T1", tmp_path, config=CONFIG, split=split, seed=0, n_folds=3, progress=False)
    assert list(table.columns[:2]) == ["sequence", "fold"] and len(table) == 3
    assert table["n_test"].sum() == (split["cohort"] == "train").sum()
    on_disk = pd.read_csv(tmp_path / "crossval_T1.csv")
    np.testing.assert_allclose(on_disk["c_index"], table["c_index"])
