"""Tests of npc_lib.model.ensemble: member seeds, standardisation, the ensemble signature, training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from npc_lib.model.ensemble import ensemble_signature, member_seed, standardise_members


def test_member_seed_first_member_keeps_the_seed():
    assert member_seed(5, 0) == 5
    seeds = [member_seed(5, k) for k in range(6)]
    assert len(set(seeds)) == 6 and all(0 <= s < 2**31 for s in seeds)
    assert member_seed(5, 2) != member_seed(6, 2)
    with pytest.raises(ValueError, match="k must be >= 0"):
        member_seed(1, -1)


def test_standardise_members_uses_training_patients_only():
    r = pd.Series([1.0, 3.0, 100.0], index=["a", "b", "c"])
    (st,) = standardise_members([r], ["a", "b"])
    assert st == {"loc": 2.0, "scale": 1.0}
    flat = pd.Series([2.0, 2.0, 5.0], index=["a", "b", "c"])
    assert standardise_members([flat], ["a", "b"]) == [{"loc": 2.0, "scale": 1.0}]
    with pytest.raises(ValueError, match=r"member 0: no risk for training patient\(s\) \['z'\]"):
        standardise_members([r], ["a", "z"])
    with pytest.raises(ValueError, match="train_ids is empty"):
        standardise_members([r], [])


def test_ensemble_signature_is_the_mean_of_standardised_risks_centred_on_training():
    rng = np.random.default_rng(0)
    ids = [f"P{i}" for i in range(30)]
    train = ids[:20]
    members = [pd.Series(rng.normal(loc, sd, 30), index=ids) for loc, sd in ((-5, 1), (3, 10), (0, 0.1))]
    sig = ensemble_signature(members, standardise_members(members, train))
    naive = np.mean([(m - m[train].mean()) / m[train].std(ddof=0) for m in members], axis=0)
    np.testing.assert_allclose(sig.to_numpy(), naive, rtol=1e-12, atol=1e-12)
    assert sig[train].mean() == pytest.approx(0.0, abs=1e-12)
    # invariant to each member's offset and (positive) scale
    shifted = [members[0] * 7 + 3, members[1], members[2] - 40]
    np.testing.assert_allclose(ensemble_signature(shifted, standardise_members(shifted, train)), sig, atol=1e-12)
    with pytest.raises(ValueError, match="2 member risks for 3 standardisations"):
        ensemble_signature(members[:2], standardise_members(members, train))


@pytest.mark.slow
def test_train_ensemble_members_differ_and_first_member_is_the_plain_network(tmp_path):
    pytest.importorskip("keras")
    from npc_lib.model.checkpoint import snapshot_variables
    from npc_lib.model.ensemble import train_ensemble
    from npc_lib.model.train_config import TrainConfig
    from npc_lib.model.training import train_signature
    from test_training import _toy

    inst, time, event, _ = _toy(n=30, seed=1)
    cfg = TrainConfig.for_preset("smoke", {"epochs_pretrain": 1, "epochs_cox": 1, "ensemble_size": 2})
    ens = train_ensemble(inst, time, event, cfg, seed=4, checkpoint_dir=tmp_path, progress=False)
    assert len(ens.models) == 2 and ens.seeds == [4, member_seed(4, 1)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["member0", "member1"]
    w0, w1 = (snapshot_variables(m.variables) for m in ens.models)
    assert not all(np.array_equal(a, b) for a, b in zip(w0, w1))
    plain = snapshot_variables(train_signature(inst, time, event, cfg, seed=4, progress=False).model.variables)
    assert all(np.array_equal(a, b) for a, b in zip(w0, plain))
    again = train_ensemble(inst, time, event, cfg, seed=4, checkpoint_dir=tmp_path, progress=False)
    assert again.resumed and all(np.array_equal(a, b) for a, b in zip(
        w1, snapshot_variables(again.models[1].variables)))


_TORCH_SCRIPT = """
import hashlib, sys, tempfile
sys.path.insert(0, "tests")
from npc_lib.model.backend import configure_backend
configure_backend("torch")
import keras
from npc_lib.model.checkpoint import snapshot_variables
from npc_lib.model.ensemble import train_ensemble
from npc_lib.model.train_config import TrainConfig
from test_training import _toy

inst, time, event, _ = _toy(n=30, seed=1)
cfg = TrainConfig.for_preset("smoke", {"epochs_pretrain": 1, "epochs_cox": 3, "ensemble_size": 2,
                                        "val_fraction": 0.0, "average_last": 2})

class Stop(Exception):
    pass

def digest(ens):
    h = hashlib.sha256()
    for m in ens.models:
        for a in snapshot_variables(m.variables):
            h.update(a.tobytes())
    return h.hexdigest()

with tempfile.TemporaryDirectory() as d:
    whole = digest(train_ensemble(inst, time, event, cfg, seed=3, progress=False))
    def stop(member, stage, epoch, model):
        if member == 1 and stage == 2 and epoch == 2:
            raise Stop
    try:
        train_ensemble(inst, time, event, cfg, seed=3, progress=False, checkpoint_dir=d, on_epoch_model=stop)
    except Stop:
        pass
    again = train_ensemble(inst, time, event, cfg, seed=3, progress=False, checkpoint_dir=d)
    print(keras.backend.backend(), again.resumed, whole == digest(again))
"""


@pytest.mark.slow
def test_train_ensemble_on_torch_is_reproducible_and_resumes():
    pytest.importorskip("torch")
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.run([sys.executable, "-c", _TORCH_SCRIPT], env=env, cwd=root, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "torch True True"
