"""Train several signature networks at once, each in a worker process with one thread.

One network of the default profile keeps two cores only about two-thirds busy:
TensorFlow traces each new model's training step on one thread (about 4 s per
stage), and the small 32-pixel batches do not scale to a second intra-op
thread (1.45 x for two threads against 1.9 x for two one-thread processes,
measured on the 2-core reference machine, docs/benchmarks.md). Chapter 04
trains 18 independent networks (three ensemble members and three
cross-validation folds per sequence), so it runs them side by side:
:func:`train_networks` hands each :class:`NetworkJob` to a pool of
``workers`` spawned processes, each pinned to one thread
(:func:`~npc_lib.model.backend.thread_env`) and on the parent's Keras
backend, and returns the trained models in job order.

Determinism: a network trained in a worker depends on its job alone (inputs,
configuration, seed; one thread), never on ``workers``, on which worker ran it
or on the order in which jobs finished. With ``workers=0`` the jobs run one
after another in this process, with this process's threads (tests,
benchmarks that follow a network epoch by epoch); on a multi-core process
those weights may differ from a worker's in the last bits.

The weights travel back as arrays and are set on a model built in this
process from the same configuration; nothing is pickled to disk (checkpoints
are written by the worker exactly as in-process, so an interrupted pool
resumes job by job).
"""

from __future__ import annotations

__all__ = ["NetworkJob", "default_workers", "train_networks"]

import dataclasses
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from npc_lib.model.train_config import TrainConfig

#: the most worker processes :func:`default_workers` picks (each holds a TensorFlow of ~0.5 GB)
MAX_DEFAULT_WORKERS = 4


@dataclasses.dataclass(frozen=True)
class NetworkJob:
    """One network to train: the arguments of :func:`~npc_lib.model.training.train_signature`.

    Attributes
    ----------
    name : str
        Names the network in progress and errors (e.g. ``"T1 member 2"``).
    instances : InstanceSet
        Bags of the network's training patients only.
    time, event : ndarray, shape (n_patients,)
        Their DFS time (months) and event (0/1).
    config : TrainConfig
    seed : int
    checkpoint_dir : Path or None
        Per-epoch checkpoints (resumable).
    """

    name: str
    instances: Any
    time: np.ndarray
    event: np.ndarray
    config: TrainConfig
    seed: int
    checkpoint_dir: Path | None = None


def _check_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
        raise ValueError(f"workers must be a whole number >= 0 (0: train in this process), got {workers!r}")
    return int(workers)


def _check_jobs(jobs) -> list[NetworkJob]:
    jobs = list(jobs)
    bad = [i for i, j in enumerate(jobs) if not isinstance(j, NetworkJob)]
    if bad:
        raise TypeError(f"jobs must be NetworkJob objects; items {bad} are not")
    names = [j.name for j in jobs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"job names must be distinct; repeated: {twice}")
    return jobs


def default_workers(n_jobs: int | None = None) -> int:
    """Worker processes for ``n_jobs`` networks: one per CPU, at most 4 and at most ``n_jobs``.

    Examples
    --------
    >>> 1 <= default_workers(18) <= 4
    True
    >>> default_workers(1)
    1
    """
    n = min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS)
    return max(1, n if n_jobs is None else min(n, int(n_jobs)))


def _train_in_process(job: NetworkJob, progress: bool):
    from npc_lib.model.training import train_signature

    return train_signature(job.instances, job.time, job.event, job.config, seed=job.seed, progress=progress,
                           checkpoint_dir=job.checkpoint_dir)


# -- the worker side -----------------------------------------------------------------------------
def _start_worker(backend: str) -> None:
    """Pin this fresh process to one thread and the parent's backend, before Keras starts."""
    from npc_lib.model.backend import configure_backend, thread_env

    os.environ.update(thread_env(1))
    os.environ["KERAS_BACKEND"] = backend
    configure_backend(backend)


def _train_job(job: NetworkJob) -> dict:
    """Train ``job`` in a worker: its result with the weights as arrays, no model object."""
    result = _train_in_process(job, progress=False)
    return {"weights": result.model.get_weights(), "history": result.history, "epochs": result.epochs,
            "seconds": result.seconds, "instances": result.instances, "val_patients": result.val_patients,
            "resumed": result.resumed}


# -- the parent side -----------------------------------------------------------------------------
def _as_result(job: NetworkJob, payload: dict):
    from npc_lib.model.seresnext import build_se_resnext
    from npc_lib.model.training import TrainResult

    model = build_se_resnext(job.config.network, name="signature")  # as train_signature builds it
    model.set_weights(payload["weights"])
    return TrainResult(model=model, config=job.config, history=payload["history"], epochs=payload["epochs"],
                       seconds=payload["seconds"], instances=payload["instances"],
                       val_patients=payload["val_patients"], resumed=payload["resumed"])


def train_networks(jobs: Sequence[NetworkJob], *, workers: int = 0, progress: bool = True) -> list:
    """Train every job's network; the :class:`~npc_lib.model.training.TrainResult` of each, in job order.

    Parameters
    ----------
    jobs : sequence of NetworkJob
        Distinct names. Longer jobs first keeps the workers evenly busy.
    workers : int
        0: one after another in this process (its threads; progress bars per
        epoch). ``k >= 1``: ``k`` spawned processes of one thread each
        (:func:`default_workers` picks ``k``); the numbers do not depend on ``k``.
    progress : bool
        Progress bar (per job with workers, per epoch without).

    Returns
    -------
    list of TrainResult
        ``seconds`` and ``instances`` count the worker's own time.

    Raises
    ------
    RuntimeError
        A job failed or a worker died (the names of the jobs that did not
        finish; their checkpoints let a rerun resume them).
    """
    jobs = _check_jobs(jobs)
    workers = _check_workers(workers)
    if workers == 0 or not jobs:
        return [_train_in_process(job, progress) for job in jobs]
    import keras  # the parent's backend, for the workers and the models built here
    from tqdm import tqdm

    results: dict[str, Any] = {}
    failed: dict[str, str] = {}
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked TensorFlow state
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx, initializer=_start_worker,
                             initargs=(keras.backend.backend(),)) as pool:
        futures = {pool.submit(_train_job, job): job for job in jobs}
        bar = tqdm(total=len(jobs), disable=not progress, desc="networks", leave=False)
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                results[job.name] = _as_result(job, fut.result())
            except BrokenProcessPool as exc:
                failed[job.name] = f"worker died ({exc})"
            except Exception as exc:  # a job's own error: named, the others go on
                failed[job.name] = f"{type(exc).__name__}: {exc}"
            bar.update()
        bar.close()
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(jobs)} networks failed: "
                           + "; ".join(f"{name}: {why}" for name, why in failed.items()))
    return [results[job.name] for job in jobs]
