"""Two-stage training of a deep-learning signature (A7) with MIL bags (A6).

Stage 1 pre-trains the network on 3-year DFS classification: a patient's label
is 1 if the DFS event happened before ``horizon_months`` (36), 0 if the
patient was followed beyond it; patients censored earlier have no label and
are left out of that stage. The pooled bag logit enters a binary
cross-entropy. Stage 2 fine-tunes the same output unit with the Cox partial
likelihood of the pooled patient risks of a batch
(:func:`npc_lib.model.cox_loss.cox_partial_nll`, mean over events).

Both stages draw event-stratified batches of whole patients
(:class:`~npc_lib.model.mil.BagSampler`) with at most ``max_instances``
slices per bag and augment the boxes (:func:`npc_lib.imaging.augment.augment_batch`).
Model selection: with ``val_fraction > 0`` both stages stop early on an
inner validation split of the *training* patients (stage 1: validation
cross-entropy; stage 2: validation Harrell C-index or Cox loss), restoring
the best epoch's weights; with ``val_fraction = 0`` (the default profile:
one noisy epoch on ~90 validation patients picked noise, issue 8) every
training patient trains for the fixed number of epochs, optionally ending
with the mean weights of the last ``average_last`` epochs. Only the outcomes
handed to :func:`train_signature` are ever read: pass the training cohort's
only.

Reproducibility: every random draw (initial weights, validation split,
batches, instance subsets, augmentation, dropout) derives from ``seed``; the
batches and augmentation of an epoch depend on ``(seed, stage, epoch)`` alone.
After each epoch the model, optimizer, early-stopping state and history are
written atomically to ``checkpoint_dir``; a rerun with the same inputs
resumes after the last completed epoch and ends with the same weights as an
uninterrupted run (on the same backend and machine).
"""

from __future__ import annotations

__all__ = ["TrainConfig", "TrainResult", "train_signature", "predict_instance_risk", "predict_patient_risk",
           "pretrain_labels", "inner_validation_split"]

import dataclasses
import time as _time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from npc_lib.model.checkpoint import (CHECKPOINT_FORMAT, assign_variables, load_arrays, quiet_numpy_copy_warning,
                                      read_checkpoint, run_fingerprint, snapshot_variables, write_checkpoint)
from npc_lib.model.mil import BagSampler, bag_members, pool_instances, pool_instances_numpy, sample_instances
from npc_lib.model.train_config import TrainConfig, _check_fraction


@dataclasses.dataclass
class TrainResult:
    """A trained signature network.

    Attributes
    ----------
    model : keras.Model
        Instance network (weights of the best validation epoch of stage 2).
    config : TrainConfig
    history : DataFrame
        One row per epoch: stage, epoch, loss, val_loss, val_cindex, seconds, instances.
    epochs : dict
        Epochs run per stage, ``{"pretrain": e1, "cox": e2}``, and best epochs.
    seconds : float
        Training time (this process; a resumed run counts only its own part).
    instances : int
        Training instances processed (this process).
    val_patients : list of str
        The inner validation patients.
    resumed : bool
        Whether a checkpoint was resumed.
    """

    model: Any
    config: TrainConfig
    history: pd.DataFrame
    epochs: dict
    seconds: float
    instances: int
    val_patients: list
    resumed: bool


# ----------------------------------------------------------------------------- helpers
def pretrain_labels(time, event, horizon_months: float = 36.0) -> np.ndarray:
    """3-year DFS labels: 1 = event before the horizon, 0 = followed beyond it, NaN = unknown.

    Examples
    --------
    >>> pretrain_labels([10, 20, 40, 50], [1, 0, 1, 0]).tolist()
    [1.0, nan, 0.0, 0.0]
    """
    time, event = np.asarray(time, dtype=float), np.asarray(event).astype(bool)
    out = np.full(time.shape, np.nan)
    out[event & (time < horizon_months)] = 1.0
    out[time >= horizon_months] = 0.0
    return out


def inner_validation_split(event, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of validation patients, stratified by event (seeded).

    ``round(fraction * n_events)`` events and ``round(fraction * n_censored)``
    censored patients are held out.

    Examples
    --------
    >>> m = inner_validation_split(np.r_[np.ones(10), np.zeros(40)], 0.2, seed=0)
    >>> int(m.sum()), int(m[:10].sum())
    (10, 2)
    """
    event = np.asarray(event).astype(bool)
    fraction = _check_fraction("val_fraction", fraction)
    rng = np.random.default_rng([int(seed), 7])
    mask = np.zeros(event.size, dtype=bool)
    for group in (np.flatnonzero(event), np.flatnonzero(~event)):
        k = int(np.floor(fraction * group.size + 0.5))
        mask[rng.choice(group, size=k, replace=False)] = True
    return mask


def _sampler(event: np.ndarray, config: TrainConfig, seed: int) -> BagSampler:
    """``round(n / batch_patients)`` equal batches, fewer if the events cannot fill each one."""
    n, n_events = event.size, int(event.sum())
    if n_events == 0:
        raise ValueError("the training patients have no events: nothing to learn")
    k = min(config.min_events_per_batch, n_events)
    n_batches = max(1, int(np.floor(n / config.batch_patients + 0.5)))
    if k > 0:
        n_batches = min(n_batches, max(n_events // k, 1))
    return BagSampler(event, batch_size=n // n_batches, min_events=k, seed=seed)


def predict_instance_risk(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Instance risks (inference mode), float64 shape (N,).

    The last chunk is zero-padded to ``batch_size`` so a compiled predict
    step sees one shape only (no retracing).
    """
    out = []
    with quiet_numpy_copy_warning():
        for start in range(0, len(x), batch_size):
            chunk = x[start:start + batch_size]
            n = len(chunk)
            if n < batch_size and len(x) > batch_size:
                chunk = np.concatenate([chunk, np.zeros((batch_size - n, *chunk.shape[1:]), chunk.dtype)])
            out.append(np.asarray(model.predict_on_batch(chunk), dtype=float).reshape(-1)[:n])
    return np.concatenate(out) if out else np.zeros(0)


def predict_patient_risk(model, instances, config: TrainConfig) -> pd.Series:
    """Pooled patient risk (higher = worse), a Series indexed by ``patient_id``.

    Every slice of every bag is scored (whole bags, unlike training's
    ``max_instances`` draws) and pooled with ``config.pooling``; with
    ``config.predict_flip`` each slice's risk is the mean over the slice and
    its left-right mirror image.
    """
    s = predict_instance_risk(model, instances.x, config.predict_batch)
    if config.predict_flip:
        from npc_lib.imaging.augment import flip_lr

        s = 0.5 * (s + predict_instance_risk(model, flip_lr(instances.x), config.predict_batch))
    risk = pool_instances_numpy(s, instances.bag, instances.n_patients, method=config.pooling,
                                temperature=config.temperature)
    return pd.Series(risk, index=pd.Index(instances.patient_ids, name="patient_id"), name="risk")


def _harrell(time, event, risk) -> float:
    """Harrell's C (survcomp's definition), 0.5 for a constant risk."""
    from npc_lib.stats.concordance import concordance_index

    if np.ptp(risk) == 0 or not np.any(event):
        return 0.5
    try:
        return float(concordance_index(time, event, risk).c_index)
    except ValueError:
        return 0.5


# ----------------------------------------------------------------------------- losses
def _make_losses(num_segments: int, config: TrainConfig):
    """Keras losses on ``y_true = [segment, weight, a, b]`` per instance (a, b: label or time, event)."""
    import keras
    from keras import ops

    from npc_lib.model.cox_loss import cox_partial_nll

    def pooled(y_true, y_pred):
        seg = ops.cast(y_true[:, 0], "int32")
        risk = pool_instances(y_pred, seg, num_segments, method=config.pooling,
                              temperature=config.temperature, weights=y_true[:, 1])
        return risk, ops.segment_max(y_true[:, 2], seg, num_segments), ops.segment_max(y_true[:, 3], seg,
                                                                                        num_segments)

    class BagBCE(keras.losses.Loss):
        def call(self, y_true, y_pred):
            logit, label, _ = pooled(y_true, y_pred)
            return ops.mean(ops.binary_crossentropy(label, logit, from_logits=True))

    class BagCox(keras.losses.Loss):
        def call(self, y_true, y_pred):
            risk, t, e = pooled(y_true, y_pred)
            return cox_partial_nll(risk, t, e, ties=config.ties)

    return BagBCE(name="bag_bce"), BagCox(name="bag_cox")


# ----------------------------------------------------------------------------- training
def train_signature(instances, time, event, config: TrainConfig, *, seed: int = 0,
                    checkpoint_dir: str | Path | None = None, progress: bool = True,
                    on_epoch_end: Callable[[dict], None] | None = None,
                    on_epoch_model: Callable[[int, int, Any], None] | None = None) -> TrainResult:
    """Train one DL signature on the training patients' bags (stages 1 and 2).

    Parameters
    ----------
    instances : InstanceSet
        Bags of the *training* patients only (``patient_ids`` order).
    time : array, shape (n_patients,)
        DFS time in months of each patient of ``instances``.
    event : array, shape (n_patients,)
        DFS event (0/1).
    config : TrainConfig
    seed : int
        Seed of every random step.
    checkpoint_dir : path-like, optional
        Resume from / write per-epoch checkpoints here.
    progress : bool
        tqdm bar per epoch.
    on_epoch_end : callable, optional
        Called with the epoch's history row (a dict) after its checkpoint is written.
    on_epoch_model : callable, optional
        ``on_epoch_model(stage, epoch, model)`` after each epoch (``epoch``
        counts from 1), e.g. to follow a benchmark's test C-index epoch by
        epoch; the model holds that epoch's weights (not yet averaged).

    Returns
    -------
    TrainResult
    """
    import keras

    time = np.asarray(time, dtype=float).reshape(-1)
    event = np.asarray(event).reshape(-1)
    if time.size != instances.n_patients or event.size != instances.n_patients:
        raise ValueError(f"time ({time.size}) and event ({event.size}) must have one value per patient "
                         f"of instances ({instances.n_patients})")
    if not np.all(np.isfinite(time)) or np.any(time < 0):
        raise ValueError("time must be finite and >= 0")
    if not np.all(np.isin(event, (0, 1))):
        raise ValueError("event must be 0/1")
    event = event.astype(bool)
    if tuple(instances.x.shape[1:]) != tuple(config.network.input_shape):
        raise ValueError(f"instances have shape {instances.x.shape[1:]}, the network expects "
                         f"{config.network.input_shape}: build them with box_px={config.box_px}")
    seed = int(seed)
    _set_determinism(seed)
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else None
    fingerprint = run_fingerprint(instances, time, event, config, seed)
    state = read_checkpoint(directory, fingerprint) if directory is not None else None
    resumed = state is not None
    if state is None:
        state = {"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "stage": 1, "history": [],
                 "stages": {s: {"epoch": 0, "best": None, "best_epoch": None, "wait": 0, "stopped": False}
                            for s in ("1", "2")}}

    members = bag_members(instances.bag, instances.n_patients)
    val = inner_validation_split(event, config.val_fraction, seed)
    labels = pretrain_labels(time, event, config.horizon_months)
    model = _build_model(config, seed)
    if resumed:
        assign_variables(model.variables, load_arrays(directory / "last" / "model.npz"), "model")
    t0, n_inst = _time.perf_counter(), 0
    resume_stage = state["stage"] if resumed else None  # the stage the checkpoint stopped in
    for stage in (1, 2):
        if state["stage"] > stage:
            continue
        n_inst += _run_stage(stage, model, instances, members, time, event, labels, val, config, seed,
                             state, directory, progress, on_epoch_end, resume_stage == stage, on_epoch_model)
        state["stage"] = stage + 1
        if directory is not None:
            write_checkpoint(directory, state, model, None, None)
    history = pd.DataFrame(state["history"], columns=["stage", "epoch", "loss", "val_loss", "val_cindex",
                                                      "seconds", "instances"])
    s1, s2 = state["stages"]["1"], state["stages"]["2"]
    epochs = {"pretrain": s1["epoch"], "cox": s2["epoch"], "best_pretrain": s1["best_epoch"],
              "best_cox": s2["best_epoch"]}
    return TrainResult(model=model, config=config, history=history, epochs=epochs,
                       seconds=_time.perf_counter() - t0, instances=n_inst,
                       val_patients=[instances.patient_ids[i] for i in np.flatnonzero(val)], resumed=resumed)


def _running_mean(mean: list | None, current: list, k: int) -> list:
    """Mean of ``k`` snapshots from the mean of the first ``k - 1`` and the ``k``-th.

    Float variables (weights, batch-norm statistics) are averaged; integer
    ones (seed-generator states, counters) keep their current value.
    """
    if mean is None or k <= 1:
        return [np.array(c, copy=True) for c in current]
    return [m + (c - m) / np.asarray(k, m.dtype) if np.issubdtype(c.dtype, np.floating) else np.array(c, copy=True)
            for m, c in zip(mean, current)]


def _set_determinism(seed: int) -> None:
    """Seed every RNG and ask the backend for deterministic kernels (process-wide).

    Without ``enable_op_determinism`` two TensorFlow processes running at the
    same time on a loaded CPU gave weights that differed in the last bits
    (measured); with it they are identical, at no measurable cost.
    """
    import keras

    keras.utils.set_random_seed(seed)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)


def _build_model(config: TrainConfig, seed: int):
    import keras

    from npc_lib.model.seresnext import build_se_resnext

    keras.utils.set_random_seed(seed)
    return build_se_resnext(config.network, name="signature")


def _run_stage(stage, model, instances, members, time, event, labels, val, config, seed, state, directory,
               progress, on_epoch_end, resume_stage, on_epoch_model=None) -> int:
    """Train one stage until its epochs run out or early stopping; restore the best weights.

    Without a validation split, stage 2 ends with the mean of the weights of
    its last ``config.average_last`` epochs (kept, and checkpointed, in the
    slot of the best weights).
    """
    import keras
    from tqdm import tqdm

    from npc_lib.model.cox_loss import cox_partial_nll_numpy

    st = state["stages"][str(stage)]
    max_epochs = config.epochs_pretrain if stage == 1 else config.epochs_cox
    if stage == 1:
        train = np.flatnonzero(~val & ~np.isnan(labels))
        strat = labels[train] == 1
        target = np.stack([labels, np.zeros_like(labels)], axis=1)
        lr = config.lr_pretrain
        if max_epochs == 0 or strat.sum() == 0 or (~strat).sum() == 0:
            return 0  # nothing to pre-train on (no labelled event or non-event)
    else:
        train = np.flatnonzero(~val)
        strat = event[train]
        target = np.stack([time, event.astype(float)], axis=1)
        lr = config.lr_cox
        if max_epochs == 0:
            return 0
    sampler = _sampler(strat, config, seed + 1000 * stage)
    bce, cox = _make_losses(sampler.batch_size, config)
    if config.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max_epochs * sampler.n_batches, alpha=0.05)
    optimizer = keras.optimizers.Adam(learning_rate=lr)
    with quiet_numpy_copy_warning():
        model.compile(optimizer=optimizer, loss=bce if stage == 1 else cox, jit_compile=False)
        optimizer.build(model.trainable_variables)
    best = None
    if resume_stage and directory is not None:
        if (directory / "last" / "optimizer.npz").is_file():
            assign_variables(optimizer.variables, load_arrays(directory / "last" / "optimizer.npz"), "optimizer")
        if (directory / "last" / "best.npz").is_file():
            best = load_arrays(directory / "last" / "best.npz")
    val_idx = np.flatnonzero(val)
    val_set = instances.subset([instances.patient_ids[i] for i in val_idx]) if val_idx.size else None
    if stage == 1 and val_set is not None:
        keep = ~np.isnan(labels[val_idx])
        has_val = keep.any()
    else:
        has_val = val_set is not None and event[val_idx].any()
    average_from = None
    if stage == 2 and not has_val and config.average_last > 1:
        average_from = max(max_epochs - config.average_last, 0)
    n_inst = 0
    while st["epoch"] < max_epochs and not st["stopped"]:
        epoch, t_epoch = st["epoch"], _time.perf_counter()
        rng = np.random.default_rng([seed, stage, epoch, 11])
        # global RNGs (e.g. torch's unseeded dropout) restart per epoch: a resumed run draws the same
        keras.utils.set_random_seed(int(np.random.SeedSequence([seed, stage, epoch]).generate_state(1)[0]))
        batches = sampler.batches(epoch)
        losses, n_epoch = [], 0
        bar = tqdm(batches, desc=f"{instances.sequence} {'pretrain' if stage == 1 else 'cox'} epoch {epoch + 1}",
                   disable=not progress, leave=False)
        for batch in bar:
            patients = train[batch]
            idx, seg, w = sample_instances(members, patients, config.max_instances, rng)
            x = instances.x[idx]
            if config.augment:
                from npc_lib.imaging.augment import augment_batch

                x = augment_batch(x, rng, flip=config.flip, max_rotation_deg=config.max_rotation_deg,
                                  max_shift_px=config.max_shift_px, intensity_jitter=config.intensity_jitter)
            y = np.column_stack([seg, w, target[patients][seg]]).astype(np.float32)
            with quiet_numpy_copy_warning():
                loss = model.train_on_batch(x, y)
            losses.append(float(np.asarray(loss).reshape(-1)[0]))
            n_epoch += len(idx)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        bar.close()
        row = {"stage": stage, "epoch": epoch + 1, "loss": float(np.mean(losses)), "val_loss": None,
               "val_cindex": None, "seconds": _time.perf_counter() - t_epoch,
               "instances": n_epoch}
        n_inst += n_epoch
        if has_val:
            risk = predict_patient_risk(model, val_set, config).to_numpy()
            if stage == 1:
                lab = labels[val_idx][keep]
                p = np.clip(1 / (1 + np.exp(-risk[keep])), 1e-7, 1 - 1e-7)
                row["val_loss"] = float(-np.mean(lab * np.log(p) + (1 - lab) * np.log(1 - p)))
                value = -row["val_loss"]
            else:
                row["val_loss"] = cox_partial_nll_numpy(risk, time[val_idx], event[val_idx], ties=config.ties)
                row["val_cindex"] = _harrell(time[val_idx], event[val_idx], risk)
                value = row["val_cindex"] if config.monitor == "cindex" else -row["val_loss"]
            if st["best"] is None or value > st["best"]:
                st.update(best=value, best_epoch=epoch + 1, wait=0)
                best = snapshot_variables(model.variables)
            else:
                st["wait"] += 1
                st["stopped"] = st["wait"] >= config.patience
        if average_from is not None and epoch + 1 > average_from:
            best = _running_mean(best, snapshot_variables(model.variables), epoch + 1 - average_from)
        st["epoch"] = epoch + 1
        state["history"].append(row)
        if directory is not None:
            write_checkpoint(directory, state, model, optimizer, best)
        if on_epoch_end is not None:
            on_epoch_end(dict(row))
        if on_epoch_model is not None:
            on_epoch_model(stage, epoch + 1, model)
    if best is not None:
        assign_variables(model.variables, best, "best weights")
    return n_inst
