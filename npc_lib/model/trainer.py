"""One training stage of a DL signature, in the steps a reader can follow: resume, epoch, selection, checkpoint.

:func:`npc_lib.model.training.train_signature` runs stage 1 (3-year DFS
pre-training) and stage 2 (Cox fine-tuning), each as a :class:`StageTrainer`:

1. :meth:`StageTrainer.prepare` - the stage's patients, targets, batch
   sampler, losses and optimizer (``False`` if there is nothing to train);
2. :meth:`StageTrainer.resume` - the optimizer and best weights of a checkpoint;
3. :meth:`StageTrainer.run_epoch` - one pass over event-stratified batches
   (instance draws, augmentation, one optimizer step per batch);
4. :meth:`StageTrainer.select` - validation, early stopping and the best (or
   averaged) weights;
5. :meth:`StageTrainer.checkpoint` - the epoch's state written atomically,
   then the callbacks.

:meth:`StageTrainer.run` chains them until the epochs run out or early
stopping, then restores the selected weights. Random numbers are drawn in a
fixed order that depends on ``(seed, stage, epoch)`` alone, so a resumed run
ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

__all__ = ["TrainingData", "StageTrainer", "stage_sampler", "bag_losses", "running_mean"]

import dataclasses
import time as _time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from npc_lib.model.checkpoint import (assign_variables, load_arrays, quiet_numpy_copy_warning, snapshot_variables,
                                      write_checkpoint)
from npc_lib.model.mil import BagSampler, pool_instances, sample_instances
from npc_lib.model.train_config import TrainConfig


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """The training patients' bags and outcomes, as both stages use them.

    Attributes
    ----------
    instances : InstanceSet
    members : list of ndarray
        Instance indices of each patient's bag.
    time, event : ndarray, shape (n_patients,)
        DFS in months; event as bool.
    labels : ndarray, shape (n_patients,)
        3-year DFS labels (1, 0 or NaN), :func:`~npc_lib.model.training.pretrain_labels`.
    val : ndarray of bool, shape (n_patients,)
        The inner validation patients.
    """

    instances: Any
    members: list
    time: np.ndarray
    event: np.ndarray
    labels: np.ndarray
    val: np.ndarray


def stage_sampler(event: np.ndarray, config: TrainConfig, seed: int) -> BagSampler:
    """``round(n / batch_patients)`` equal batches, fewer if the events cannot fill each one."""
    n, n_events = event.size, int(event.sum())
    if n_events == 0:
        raise ValueError("the training patients have no events: nothing to learn")
    k = min(config.min_events_per_batch, n_events)
    n_batches = max(1, int(np.floor(n / config.batch_patients + 0.5)))
    if k > 0:
        n_batches = min(n_batches, max(n_events // k, 1))
    return BagSampler(event, batch_size=n // n_batches, min_events=k, seed=seed)


def bag_losses(num_segments: int, config: TrainConfig):
    """Keras losses ``(bag BCE, bag Cox)`` on ``y_true = [segment, weight, a, b]`` per instance.

    ``a, b``: the label (stage 1) or time and event (stage 2) of the
    instance's patient; instance risks are pooled per bag first.
    """
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


def running_mean(mean: list | None, current: list, k: int) -> list:
    """Mean of ``k`` snapshots from the mean of the first ``k - 1`` and the ``k``-th.

    Float variables (weights, batch-norm statistics) are averaged; integer
    ones (seed-generator states, counters) keep their current value.

    >>> [a.tolist() for a in running_mean([np.array([1.0]), np.array([5])], [np.array([3.0]), np.array([7])], 2)]
    [[2.0], [7]]
    """
    if mean is None or k <= 1:
        return [np.array(c, copy=True) for c in current]
    return [m + (c - m) / np.asarray(k, m.dtype) if np.issubdtype(c.dtype, np.floating) else np.array(c, copy=True)
            for m, c in zip(mean, current)]


def _harrell(time, event, risk) -> float:
    """Harrell's C (survcomp's definition), 0.5 for a constant risk."""
    from npc_lib.stats.concordance import concordance_index

    if np.ptp(risk) == 0 or not np.any(event):
        return 0.5
    try:
        return float(concordance_index(time, event, risk).c_index)
    except ValueError:
        return 0.5


class StageTrainer:
    """Stage 1 (pre-training) or 2 (Cox) of one signature's training; see the module docstring.

    Parameters
    ----------
    stage : {1, 2}
    model : keras.Model
    data : TrainingData
    config : TrainConfig
    seed : int
    state : dict
        The run's checkpoint state; this stage's entry ``state["stages"][str(stage)]``
        (epoch, best, best_epoch, wait, stopped) and ``state["history"]`` are updated in place.
    directory : Path, optional
        Checkpoint folder.
    progress : bool
    on_epoch_end, on_epoch_model : callable, optional
        As :func:`~npc_lib.model.training.train_signature`.
    """

    def __init__(self, stage: int, model, data: TrainingData, config: TrainConfig, seed: int, state: dict,
                 directory: Path | None = None, progress: bool = True,
                 on_epoch_end: Callable[[dict], None] | None = None,
                 on_epoch_model: Callable[[int, int, Any], None] | None = None):
        self.stage, self.model, self.data, self.config, self.seed = stage, model, data, config, seed
        self.state, self.directory, self.progress = state, directory, progress
        self.on_epoch_end, self.on_epoch_model = on_epoch_end, on_epoch_model
        self.status = state["stages"][str(stage)]
        self.max_epochs = config.epochs_pretrain if stage == 1 else config.epochs_cox
        self.best = None  # the selected (or averaged) weights so far
        self.instances_seen = 0

    # ------------------------------------------------------------------ 1. prepare
    def prepare(self) -> bool:
        """The stage's patients, targets, sampler, losses and optimizer; ``False`` if nothing to train."""
        import keras

        d, config = self.data, self.config
        if self.stage == 1:
            self.train = np.flatnonzero(~d.val & ~np.isnan(d.labels))
            strat = d.labels[self.train] == 1
            self.target = np.stack([d.labels, np.zeros_like(d.labels)], axis=1)
            lr = config.lr_pretrain
            if self.max_epochs == 0 or strat.sum() == 0 or (~strat).sum() == 0:
                return False  # nothing to pre-train on (no labelled event or non-event)
        else:
            self.train = np.flatnonzero(~d.val)
            strat = d.event[self.train]
            self.target = np.stack([d.time, d.event.astype(float)], axis=1)
            lr = config.lr_cox
            if self.max_epochs == 0:
                return False
        self.sampler = stage_sampler(strat, config, self.seed + 1000 * self.stage)
        bce, cox = bag_losses(self.sampler.batch_size, config)
        if config.lr_schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=self.max_epochs * self.sampler.n_batches,
                                                        alpha=0.05)
        self.optimizer = keras.optimizers.Adam(learning_rate=lr)
        with quiet_numpy_copy_warning():
            self.model.compile(optimizer=self.optimizer, loss=bce if self.stage == 1 else cox, jit_compile=False)
            self.optimizer.build(self.model.trainable_variables)
        self._prepare_validation()
        return True

    def _prepare_validation(self) -> None:
        d = self.data
        self.val_idx = np.flatnonzero(d.val)
        self.val_set = (d.instances.subset([d.instances.patient_ids[i] for i in self.val_idx])
                        if self.val_idx.size else None)
        if self.stage == 1 and self.val_set is not None:
            self.val_labelled = ~np.isnan(d.labels[self.val_idx])
            self.has_val = bool(self.val_labelled.any())
        else:
            self.has_val = self.val_set is not None and bool(d.event[self.val_idx].any())
        self.average_from = None
        if self.stage == 2 and not self.has_val and self.config.average_last > 1:
            self.average_from = max(self.max_epochs - self.config.average_last, 0)

    # ------------------------------------------------------------------ 2. resume
    def resume(self) -> None:
        """Load the optimizer state and best weights that the checkpoint holds for this stage."""
        last = self.directory / "last"
        if (last / "optimizer.npz").is_file():
            assign_variables(self.optimizer.variables, load_arrays(last / "optimizer.npz"), "optimizer")
        if (last / "best.npz").is_file():
            self.best = load_arrays(last / "best.npz")

    # ------------------------------------------------------------------ 3. epoch
    def run_epoch(self, epoch: int) -> dict:
        """Train one epoch (``epoch`` counts from 0); the history row (loss, seconds, instances)."""
        import keras
        from tqdm import tqdm

        d, config = self.data, self.config
        t_epoch = _time.perf_counter()
        rng = np.random.default_rng([self.seed, self.stage, epoch, 11])
        # global RNGs (e.g. torch's unseeded dropout) restart per epoch: a resumed run draws the same
        keras.utils.set_random_seed(int(np.random.SeedSequence([self.seed, self.stage, epoch]).generate_state(1)[0]))
        losses, n_epoch = [], 0
        bar = tqdm(self.sampler.batches(epoch), disable=not self.progress, leave=False,
                   desc=f"{d.instances.sequence} {'pretrain' if self.stage == 1 else 'cox'} epoch {epoch + 1}")
        for batch in bar:
            patients = self.train[batch]
            idx, seg, w = sample_instances(d.members, patients, config.max_instances, rng)
            x = d.instances.x[idx]
            if config.augment:
                from npc_lib.imaging.augment import augment_batch

                x = augment_batch(x, rng, flip=config.flip, max_rotation_deg=config.max_rotation_deg,
                                  max_shift_px=config.max_shift_px, intensity_jitter=config.intensity_jitter)
            y = np.column_stack([seg, w, self.target[patients][seg]]).astype(np.float32)
            with quiet_numpy_copy_warning():
                loss = self.model.train_on_batch(x, y)
            losses.append(float(np.asarray(loss).reshape(-1)[0]))
            n_epoch += len(idx)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        bar.close()
        self.instances_seen += n_epoch
        return {"stage": self.stage, "epoch": epoch + 1, "loss": float(np.mean(losses)), "val_loss": None,
                "val_cindex": None, "seconds": _time.perf_counter() - t_epoch, "instances": n_epoch}

    # ------------------------------------------------------------------ 4. selection
    def select(self, epoch: int, row: dict) -> None:
        """Validate (filling ``row``), update early stopping and the best weights, or average the last epochs."""
        if self.has_val:
            value = self._validate(row)
            st = self.status
            if st["best"] is None or value > st["best"]:
                st.update(best=value, best_epoch=epoch + 1, wait=0)
                self.best = snapshot_variables(self.model.variables)
            else:
                st["wait"] += 1
                st["stopped"] = st["wait"] >= self.config.patience
        if self.average_from is not None and epoch + 1 > self.average_from:
            self.best = running_mean(self.best, snapshot_variables(self.model.variables), epoch + 1 - self.average_from)

    def _validate(self, row: dict) -> float:
        """Validation loss (and C-index in stage 2) into ``row``; the monitored value (higher = better)."""
        from npc_lib.model.cox_loss import cox_partial_nll_numpy
        from npc_lib.model.training import predict_patient_risk

        d, vi = self.data, self.val_idx
        risk = predict_patient_risk(self.model, self.val_set, self.config).to_numpy()
        if self.stage == 1:
            keep = self.val_labelled
            lab = d.labels[vi][keep]
            p = np.clip(1 / (1 + np.exp(-risk[keep])), 1e-7, 1 - 1e-7)
            row["val_loss"] = float(-np.mean(lab * np.log(p) + (1 - lab) * np.log(1 - p)))
            return -row["val_loss"]
        row["val_loss"] = cox_partial_nll_numpy(risk, d.time[vi], d.event[vi], ties=self.config.ties)
        row["val_cindex"] = _harrell(d.time[vi], d.event[vi], risk)
        return row["val_cindex"] if self.config.monitor == "cindex" else -row["val_loss"]

    # ------------------------------------------------------------------ 5. checkpoint
    def checkpoint(self, epoch: int, row: dict) -> None:
        """Record the finished epoch, write the checkpoint atomically, then call the callbacks."""
        self.status["epoch"] = epoch + 1
        self.state["history"].append(row)
        if self.directory is not None:
            write_checkpoint(self.directory, self.state, self.model, self.optimizer, self.best)
        if self.on_epoch_end is not None:
            self.on_epoch_end(dict(row))
        if self.on_epoch_model is not None:
            self.on_epoch_model(self.stage, epoch + 1, self.model)

    # ------------------------------------------------------------------ all together
    def run(self, resuming: bool = False) -> int:
        """Train the stage (resuming it from the checkpoint if ``resuming``); the instances processed.

        Ends with the selected weights: the best validation epoch's, or
        without validation in stage 2 the mean of the last
        ``config.average_last`` epochs' (kept, and checkpointed, in the slot
        of the best weights).
        """
        if not self.prepare():
            return 0
        if resuming and self.directory is not None:
            self.resume()
        while self.status["epoch"] < self.max_epochs and not self.status["stopped"]:
            epoch = self.status["epoch"]
            row = self.run_epoch(epoch)
            self.select(epoch, row)
            self.checkpoint(epoch, row)
        if self.best is not None:
            assign_variables(self.model.variables, self.best, "best weights")
        return self.instances_seen
