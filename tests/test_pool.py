"""Tests of npc_lib.model.pool: networks trained side by side in one-thread worker processes."""

from __future__ import annotations

import numpy as np
import pytest

from npc_lib.model.pool import NetworkJob, default_workers, train_networks


def _jobs(names=("a", "b", "c"), **changes):
    from npc_lib.model.train_config import TrainConfig
    from test_training import _toy

    inst, time, event, _ = _toy(n=30, seed=1)
    cfg = TrainConfig.for_preset("smoke", {"epochs_pretrain": 1, "epochs_cox": 2, "val_fraction": 0.0})
    return [NetworkJob(name=n, instances=inst, time=time, event=event, config=cfg, seed=10 + k, **changes)
            for k, n in enumerate(names)]


def _weights(results):
    return [[np.asarray(w) for w in r.model.get_weights()] for r in results]


def test_default_workers_bounded_by_cpus_jobs_and_four():
    assert default_workers(1) == 1
    assert 1 <= default_workers() <= 4
    assert default_workers(100) == default_workers()


def test_train_networks_rejects_bad_workers_and_repeated_names():
    with pytest.raises(ValueError, match="workers must be a whole number >= 0"):
        train_networks([], workers=-1)
    with pytest.raises(ValueError, match="workers must be a whole number >= 0"):
        train_networks([], workers=True)
    with pytest.raises(TypeError, match=r"items \[1\] are not"):
        train_networks([_jobs(("a",))[0], "b"])
    with pytest.raises(ValueError, match=r"repeated: \['a'\]"):
        train_networks(_jobs(("a", "a")))
    assert train_networks([], workers=2) == []


@pytest.mark.slow
def test_train_networks_weights_independent_of_workers_and_in_job_order(tmp_path):
    pytest.importorskip("keras")
    jobs = _jobs(("a", "b"))
    one = train_networks(jobs, workers=1, progress=False)
    two = train_networks(jobs[::-1], workers=2, progress=False)[::-1]  # other order, other worker
    for a, b in zip(_weights(one), _weights(two)):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    w = _weights(one)
    assert not all(np.array_equal(x, y) for x, y in zip(w[0], w[1]))  # each job's own seed
    assert [r.epochs["cox"] for r in one] == [2, 2] and all(r.instances > 0 for r in one)
    assert [r.config for r in one] == [j.config for j in jobs]
    # a network from a worker predicts like one of its kind built here: same weights, same risks
    from npc_lib.model.training import predict_patient_risk

    risk = predict_patient_risk(one[0].model, jobs[0].instances, jobs[0].config)
    assert risk.index.tolist() == jobs[0].instances.patient_ids and np.isfinite(risk).all()


@pytest.mark.slow
def test_train_networks_names_the_failed_job_and_resumes_from_checkpoints(tmp_path):
    pytest.importorskip("keras")
    good, bad = _jobs(("good", "bad"), checkpoint_dir=None)
    good = NetworkJob(**{**good.__dict__, "checkpoint_dir": tmp_path / "good"})
    bad = NetworkJob(**{**bad.__dict__, "time": bad.time[:-1]})  # one time too few
    with pytest.raises(RuntimeError, match=r"1 of 2 networks failed: bad: ValueError: time \(29\) and event"):
        train_networks([good, bad], workers=2, progress=False)
    assert (tmp_path / "good" / "last").is_dir()  # the good job finished and checkpointed
    (again,) = train_networks([good], workers=0, progress=False)  # the worker's checkpoint, read here
    assert again.resumed and again.instances == 0
