"""Tests of npc_lib.model.checkpoint: atomic per-epoch checkpoints and run fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from npc_lib.imaging.instances import InstanceSet  # noqa: E402
from npc_lib.model.checkpoint import (CHECKPOINT_FORMAT, assign_variables, load_arrays,  # noqa: E402
                                      read_checkpoint, run_fingerprint, snapshot_variables, write_checkpoint)
from npc_lib.model.train_config import TrainConfig  # noqa: E402


def _instances(seed=0):
    rng = np.random.default_rng(seed)
    return InstanceSet(x=rng.normal(size=(5, 4, 4, 1)), bag=[0, 0, 1, 2, 2], patient_ids=["a", "b", "c"],
                       slice_index=np.arange(5), sequence="T1")


def _model():
    inp = keras.Input((3,))
    return keras.Model(inp, keras.layers.Dense(2)(inp))


def test_run_fingerprint_changes_with_every_input():
    inst, time, event, cfg = _instances(), np.array([1.0, 2.0, 3.0]), np.array([1, 0, 1]), TrainConfig()
    base = run_fingerprint(inst, time, event, cfg, 0)
    assert base == run_fingerprint(_instances(), time.copy(), event.copy(), TrainConfig(), 0)
    assert base != run_fingerprint(_instances(seed=1), time, event, cfg, 0)
    assert base != run_fingerprint(inst, time + 1, event, cfg, 0)
    assert base != run_fingerprint(inst, time, 1 - event, cfg, 0)
    assert base != run_fingerprint(inst, time, event, cfg.replace(epochs_cox=1), 0)
    assert base != run_fingerprint(inst, time, event, cfg, 1)


def test_checkpoint_round_trip(tmp_path):
    model = _model()
    model.layers[-1].kernel.assign(np.arange(6.0).reshape(3, 2))
    state = {"format": CHECKPOINT_FORMAT, "fingerprint": "abc", "epoch": 3}
    best = [np.ones((3, 2)), np.zeros(2)]
    write_checkpoint(tmp_path, state, model, None, best)
    assert sorted(p.name for p in (tmp_path / "last").iterdir()) == ["best.npz", "model.npz", "state.json"]
    assert read_checkpoint(tmp_path, "abc") == state
    assert read_checkpoint(tmp_path, "other") is None
    assert read_checkpoint(tmp_path / "missing", "abc") is None
    other = _model()
    assign_variables(other.variables, load_arrays(tmp_path / "last" / "model.npz"), "model")
    assert all(np.array_equal(a, b) for a, b in zip(snapshot_variables(model.variables),
                                                    snapshot_variables(other.variables)))
    np.testing.assert_array_equal(load_arrays(tmp_path / "last" / "best.npz")[0], best[0])
    # a second write replaces the whole folder
    write_checkpoint(tmp_path, {**state, "epoch": 4}, model, None, None)
    assert not (tmp_path / "last" / "best.npz").exists() and read_checkpoint(tmp_path, "abc")["epoch"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["last"]


def test_assign_variables_rejects_mismatch():
    model = _model()
    with pytest.raises(ValueError, match="checkpoint model: 1 arrays for 2 variables"):
        assign_variables(model.variables, [np.zeros((3, 2))], "model")
    with pytest.raises(ValueError, match=r"checkpoint model: shape \(2, 2\) for variable"):
        assign_variables(model.variables, [np.zeros((2, 2)), np.zeros(2)], "model")
