"""Two-stage training of a deep-learning signature (A7) with MIL bags (A6).

Stage 1 pre-trains the network on 3-year DFS classification: a patient's label
is 1 if the DFS event happened before ``horizon_months`` (36), 0 if the
patient was followed beyond it; patients censored earlier have no label and
are left out of that stage. The pooled bag logit enters a binary
cross-entropy. Stage 2 fine-tunes the same output unit with the Cox partial
likelihood of the pooled patient risks of a batch
(:func:`npc_lib.model.cox_loss.cox_partial_nll`, mean over events).

Each stage is a :class:`~npc_lib.model.trainer.StageTrainer` (prepare, resume,
epoch, selection, checkpoint). Both stages draw event-stratified batches of whole patients
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
                                      read_checkpoint, run_fingerprint, write_checkpoint)
from npc_lib.model.mil import bag_members, pool_instances_numpy
from npc_lib.model.train_config import TrainConfig, check_fraction
from npc_lib.model.trainer import StageTrainer, TrainingData


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
    fraction = check_fraction("val_fraction", fraction)
    rng = np.random.default_rng([int(seed), 7])
    mask = np.zeros(event.size, dtype=bool)
    for group in (np.flatnonzero(event), np.flatnonzero(~event)):
        k = int(np.floor(fraction * group.size + 0.5))
        mask[rng.choice(group, size=k, replace=False)] = True
    return mask


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

    val = inner_validation_split(event, config.val_fraction, seed)
    data = TrainingData(instances=instances, members=bag_members(instances.bag, instances.n_patients), time=time,
                        event=event, labels=pretrain_labels(time, event, config.horizon_months), val=val)
    model = _build_model(config, seed)
    if resumed:
        assign_variables(model.variables, load_arrays(directory / "last" / "model.npz"), "model")
    t0, n_inst = _time.perf_counter(), 0
    resume_stage = state["stage"] if resumed else None  # the stage the checkpoint stopped in
    for stage in (1, 2):
        if state["stage"] > stage:
            continue
        trainer = StageTrainer(stage, model, data, config, seed, state, directory, progress=progress,
                               on_epoch_end=on_epoch_end, on_epoch_model=on_epoch_model)
        n_inst += trainer.run(resuming=resume_stage == stage)
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
