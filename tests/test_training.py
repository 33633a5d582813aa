"""Tests of npc_lib.model.training (A7): config, labels, splits, training, resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from npc_lib.imaging.instances import InstanceSet  # noqa: E402
from npc_lib.model.cox_loss import cox_partial_nll_numpy  # noqa: E402
from npc_lib.model.mil import pool_instances_numpy  # noqa: E402
from npc_lib.model.checkpoint import snapshot_variables  # noqa: E402
from npc_lib.model.training import (TrainConfig, inner_validation_split, predict_instance_risk,  # noqa: E402
                                    predict_patient_risk, pretrain_labels, train_signature)
from npc_lib.stats.concordance import concordance_index  # noqa: E402


def _toy(n=40, seed=0, size=32):
    """Bags whose central blob brightness is the true log-hazard ``z``; DFS from an exponential model."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, n)
    sizes = rng.integers(2, 6, n)
    bag = np.repeat(np.arange(n), sizes)
    yy, xx = np.mgrid[:size, :size]
    blob = np.exp(-((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / (2 * (size / 6) ** 2))
    x = rng.normal(0.0, 0.3, (bag.size, size, size)) + blob * (1.5 + z[bag])[:, None, None]
    t_event = rng.exponential(40.0 * np.exp(-1.2 * z))
    t_cens = rng.uniform(20.0, 90.0, n)
    time = np.minimum(t_event, t_cens).round(2)
    event = (t_event <= t_cens).astype(int)
    inst = InstanceSet(x=x[..., None].astype("float32"), bag=bag, patient_ids=[f"P{i:03d}" for i in range(n)],
                       slice_index=np.concatenate([np.arange(s) for s in sizes]), sequence="T1")
    return inst, time, event, z


def _smoke(**changes) -> TrainConfig:
    return TrainConfig.for_preset("smoke", changes)


def _same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- helpers
def test_pretrain_labels_leave_out_early_censoring():
    labels = pretrain_labels([10.0, 35.9, 36.0, 20.0, 80.0], [1, 1, 1, 0, 0], 36.0)
    np.testing.assert_array_equal(labels, [1.0, 1.0, 0.0, np.nan, 0.0])


def test_inner_validation_split_is_stratified_and_seeded():
    event = np.r_[np.ones(20), np.zeros(80)].astype(int)
    a = inner_validation_split(event, 0.2, seed=3)
    assert a.sum() == 20 and a[:20].sum() == 4
    assert np.array_equal(a, inner_validation_split(event, 0.2, seed=3))
    assert not np.array_equal(a, inner_validation_split(event, 0.2, seed=4))
    assert inner_validation_split(event, 0.0, seed=3).sum() == 0


def test_sampler_splits_patients_into_equal_batches_with_events():
    from npc_lib.model.trainer import stage_sampler as _sampler

    event = np.zeros(357, bool)
    event[::6] = True  # 60 events
    s = _sampler(event, TrainConfig(batch_patients=120, min_events_per_batch=2), seed=0)
    assert (s.n_batches, s.batch_size) == (3, 119)
    # too few events for 3 batches of >= 25 events: fewer, larger batches
    s = _sampler(event, TrainConfig(batch_patients=120, min_events_per_batch=25), seed=0)
    assert (s.n_batches, s.batch_size) == (2, 178)
    assert min(int(event[b].sum()) for b in s.batches(0)) >= 25


def test_predict_patient_risk_pools_instance_risks():
    inst, _, _, _ = _toy(n=6)
    cfg = _smoke(pooling="lme", temperature=0.7)
    keras.utils.set_random_seed(0)
    from npc_lib.model.seresnext import build_se_resnext

    model = build_se_resnext(cfg.network)
    s = predict_instance_risk(model, inst.x, batch_size=7)
    np.testing.assert_allclose(s, predict_instance_risk(model, inst.x, batch_size=1000), rtol=1e-5, atol=1e-6)
    risk = predict_patient_risk(model, inst, cfg)
    assert list(risk.index) == inst.patient_ids
    np.testing.assert_allclose(risk, pool_instances_numpy(s, inst.bag, 6, method="lme", temperature=0.7))


def test_predict_patient_risk_does_not_depend_on_the_other_patients():
    # plumbing (issue 8): a patient's risk is the same whether predicted with the training or the test
    # patients, alone or in a large set (inference-mode batch norm, padded last chunk, whole bags)
    inst, _, _, _ = _toy(n=12)
    cfg = _smoke(predict_batch=7)
    keras.utils.set_random_seed(2)
    from npc_lib.model.seresnext import build_se_resnext

    model = build_se_resnext(cfg.network)
    full = predict_patient_risk(model, inst, cfg)
    for ids in (inst.patient_ids[:3], inst.patient_ids[5:], inst.patient_ids[4:5]):
        np.testing.assert_allclose(predict_patient_risk(model, inst.subset(ids), cfg), full.loc[ids],
                                   rtol=1e-5, atol=1e-6)


def test_predict_patient_risk_flip_averages_mirrored_slices():
    inst, _, _, _ = _toy(n=5)
    cfg = _smoke()
    keras.utils.set_random_seed(1)
    from npc_lib.imaging.augment import flip_lr
    from npc_lib.model.seresnext import build_se_resnext

    model = build_se_resnext(cfg.network)
    s = 0.5 * (predict_instance_risk(model, inst.x) + predict_instance_risk(model, flip_lr(inst.x)))
    risk = predict_patient_risk(model, inst, cfg.replace(predict_flip=True))
    np.testing.assert_allclose(risk, pool_instances_numpy(s, inst.bag, 5, method=cfg.pooling), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def toy():
    return _toy(n=40, seed=1)


@pytest.fixture(scope="module")
def trained(toy):
    inst, time, event, _ = toy
    return train_signature(inst, time, event, _smoke(), seed=3, progress=False)


def test_train_signature_history_and_epochs(trained):
    cfg = trained.config
    h = trained.history
    assert list(h.columns) == ["stage", "epoch", "loss", "val_loss", "val_cindex", "seconds", "instances"]
    assert trained.epochs["pretrain"] == (h["stage"] == 1).sum() <= cfg.epochs_pretrain
    assert trained.epochs["cox"] == (h["stage"] == 2).sum() <= cfg.epochs_cox
    assert np.all(np.isfinite(h["loss"])) and trained.instances == h["instances"].sum() > 0
    assert len(trained.val_patients) == 8 and not trained.resumed


def _val_scores(result, toy):
    inst, time, event, _ = toy
    val = [inst.patient_ids.index(p) for p in result.val_patients]
    risk = predict_patient_risk(result.model, inst.subset(result.val_patients), result.config).to_numpy()
    return (cox_partial_nll_numpy(risk, time[val], event[val], ties=result.config.ties),
            concordance_index(time[val], event[val], risk).c_index)


def test_train_signature_restores_best_validation_epoch(toy, trained):
    assert trained.config.monitor == "cox"
    loss, _ = _val_scores(trained, toy)
    stage2 = trained.history[trained.history["stage"] == 2]
    assert loss == pytest.approx(stage2["val_loss"].min(), rel=1e-4)
    assert trained.epochs["best_cox"] == int(stage2.loc[stage2["val_loss"].idxmin(), "epoch"])


@pytest.mark.slow
def test_train_signature_restores_best_validation_cindex(toy):
    inst, time, event, _ = toy
    result = train_signature(inst, time, event, _smoke(monitor="cindex", epochs_cox=4), seed=5, progress=False)
    _, c = _val_scores(result, toy)
    stage2 = result.history[result.history["stage"] == 2]
    assert c == pytest.approx(stage2["val_cindex"].max())
    assert result.epochs["best_cox"] == int(stage2.loc[stage2["val_cindex"].idxmax(), "epoch"])


def test_train_signature_same_seed_same_weights(toy, trained):
    inst, time, event, _ = toy
    again = train_signature(inst, time, event, _smoke(), seed=3, progress=False)
    assert _same(snapshot_variables(trained.model.variables), snapshot_variables(again.model.variables))
    pd.testing.assert_frame_equal(trained.history.drop(columns="seconds"), again.history.drop(columns="seconds"))


@pytest.mark.slow
def test_train_signature_resumes_to_same_weights(toy, trained, tmp_path):
    inst, time, event, _ = toy

    class Interrupt(Exception):
        pass

    for stop_after in (1, 3):  # once inside stage 1, once inside stage 2
        seen = []

        def stop(row):
            seen.append(row)
            if len(seen) == stop_after:
                raise Interrupt

        with pytest.raises(Interrupt):
            train_signature(inst, time, event, _smoke(), seed=3, progress=False, checkpoint_dir=tmp_path,
                            on_epoch_end=stop)
    resumed = train_signature(inst, time, event, _smoke(), seed=3, progress=False, checkpoint_dir=tmp_path)
    assert resumed.resumed
    assert _same(snapshot_variables(trained.model.variables), snapshot_variables(resumed.model.variables))
    pd.testing.assert_frame_equal(trained.history.drop(columns="seconds"), resumed.history.drop(columns="seconds"))
    # a finished checkpoint only reloads: no further epoch runs
    rows = []
    train_signature(inst, time, event, _smoke(), seed=3, progress=False, checkpoint_dir=tmp_path,
                    on_epoch_end=rows.append)
    assert rows == []


@pytest.mark.slow
def test_train_signature_ignores_checkpoint_of_other_settings(toy, tmp_path):
    inst, time, event, _ = toy
    cfg = _smoke(epochs_pretrain=1, epochs_cox=1)
    train_signature(inst, time, event, cfg, seed=0, progress=False, checkpoint_dir=tmp_path)
    other = train_signature(inst, time, event, cfg, seed=1, progress=False, checkpoint_dir=tmp_path)
    assert not other.resumed and len(other.history) == 2


@pytest.mark.slow
def test_train_signature_learns_an_obvious_signal():
    inst, time, event, z = _toy(n=60, seed=2)
    cfg = _smoke(epochs_pretrain=2, epochs_cox=8, patience=8, val_fraction=0.0, batch_patients=20, lr_cox=3e-3)
    result = train_signature(inst, time, event, cfg, seed=0, progress=False)
    risk = predict_patient_risk(result.model, inst, cfg).to_numpy()
    assert np.corrcoef(risk, z)[0, 1] > 0.5
    assert concordance_index(time, event, risk).c_index > 0.65


def test_train_signature_rejects_bad_outcomes(toy):
    inst, time, event, _ = toy
    cfg = _smoke()
    with pytest.raises(ValueError, match=r"time \(39\) and event \(40\) must have one value per patient"):
        train_signature(inst, time[:-1], event, cfg, progress=False)
    bad = time.copy()
    bad[0] = -1.0
    with pytest.raises(ValueError, match="time must be finite and >= 0"):
        train_signature(inst, bad, event, cfg, progress=False)
    with pytest.raises(ValueError, match="event must be 0/1"):
        train_signature(inst, time, np.full(40, 2), cfg, progress=False)
    with pytest.raises(ValueError, match="the training patients have no events"):
        train_signature(inst, time, np.zeros(40, int), cfg.replace(epochs_pretrain=0), progress=False)
    with pytest.raises(ValueError, match=r"the network expects \(48, 48, 1\)"):
        train_signature(inst, time, event, _smoke(box_px=48, box_mm=72.0), progress=False)


@pytest.mark.slow
def test_train_signature_averages_the_last_epochs_weights(toy, tmp_path):
    inst, time, event, _ = toy
    cfg = _smoke(epochs_pretrain=0, epochs_cox=4, val_fraction=0.0, average_last=3)
    seen = []

    def hook(stage, epoch, model):
        seen.append((stage, epoch, snapshot_variables(model.variables)))

    result = train_signature(inst, time, event, cfg, seed=2, progress=False, on_epoch_model=hook)
    assert [(s, e) for s, e, _ in seen] == [(2, 1), (2, 2), (2, 3), (2, 4)]
    final = snapshot_variables(result.model.variables)
    for got, *epochs in zip(final, *(w for _, _, w in seen[1:])):
        if np.issubdtype(got.dtype, np.floating):
            np.testing.assert_allclose(got, np.mean(epochs, axis=0), rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(got, epochs[-1])
    assert not all(np.array_equal(a, b) for a, b in zip(final, seen[-1][2]))
    # interrupted after epoch 3 (inside the averaging window): resumes to the same average
    class Interrupt(Exception):
        pass

    def stop(row):
        if row["stage"] == 2 and row["epoch"] == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_signature(inst, time, event, cfg, seed=2, progress=False, checkpoint_dir=tmp_path, on_epoch_end=stop)
    resumed = train_signature(inst, time, event, cfg, seed=2, progress=False, checkpoint_dir=tmp_path)
    assert resumed.resumed and _same(final, snapshot_variables(resumed.model.variables))
