"""K-fold cross-validation of a DL signature inside the training cohort (A8).

The paper ran a 3-fold cross-validation per MR sequence "in the training
cohort using the same network architecture and training strategies" and
reported the held-out folds' C-indices (0.690-0.746). Here the training
patients are dealt into ``n_folds`` folds stratified by the DFS event
(seeded); for each fold a network is trained on the other folds
with the same protocol as the full signature
(:func:`npc_lib.model.ensemble.train_ensemble`, with
``config.cv_ensemble_size`` members per fold, which may be fewer than the
signature's ``ensemble_size`` to fit the time budget) and scored on the
held-out fold with Harrell's C-index (survcomp definition, Noether 95% CI).

Everything that depends on the training patients, including the intensity
standardisation of the images, is refitted per fold: the caller passes a
``make_instances(train_ids, all_ids)`` function (the runner fits the
histogram standardiser on ``train_ids`` only), so this module never touches
the cohort files.
"""

from __future__ import annotations

__all__ = ["stratified_folds", "CrossValidationPlan", "plan_cross_validation", "score_cross_validation",
           "cross_validate"]

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from npc_lib.model.ensemble import ensemble_jobs, ensemble_signature, standardise_members
from npc_lib.model.training import TrainConfig, predict_patient_risk


def _check_n_folds(n_folds, n_patients: int) -> int:
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    if n_folds > n_patients:
        raise ValueError(f"n_folds ({n_folds}) exceeds the number of patients ({n_patients})")
    return int(n_folds)


def stratified_folds(patient_ids: Sequence[str], event, n_folds: int = 3, seed: int = 0) -> pd.DataFrame:
    """Assign patients to ``n_folds`` folds, events and censored patients dealt evenly.

    Parameters
    ----------
    patient_ids : sequence of str
        Distinct patients.
    event : array, shape (n,)
        DFS event (0/1) of each patient.
    n_folds : int
        Number of folds (>= 2).
    seed : int
        Seed of the shuffling.

    Returns
    -------
    DataFrame
        ``patient_id`` (input order) and ``fold`` (0 .. n_folds-1). Fold sizes
        differ by at most one, and so do their event counts.

    Examples
    --------
    >>> f = stratified_folds([f"P{i}" for i in range(9)], [1, 1, 1, 0, 0, 0, 0, 0, 0], 3, seed=0)
    >>> f.groupby("fold").size().tolist(), f[f.patient_id.isin(["P0", "P1", "P2"])].fold.nunique()
    ([3, 3, 3], 3)
    """
    ids = [str(p) for p in patient_ids]
    if len(set(ids)) != len(ids):
        raise ValueError("patient_ids has duplicates")
    event = np.asarray(event).reshape(-1)
    if event.size != len(ids):
        raise ValueError(f"event has {event.size} values for {len(ids)} patients")
    if not np.all(np.isin(event, (0, 1))):
        raise ValueError("event must be 0/1")
    k = _check_n_folds(n_folds, len(ids))
    rng = np.random.default_rng([int(seed), 31])
    event = event.astype(bool)
    # events first, then censored, each shuffled; deal round-robin from a random start
    order = np.concatenate([rng.permutation(np.flatnonzero(event)), rng.permutation(np.flatnonzero(~event))])
    fold = np.empty(len(ids), dtype=int)
    fold[order] = (np.arange(order.size) + int(rng.integers(k))) % k
    return pd.DataFrame({"patient_id": ids, "fold": fold})


@dataclasses.dataclass
class CrossValidationPlan:
    """The folds of :func:`plan_cross_validation` and the network jobs that train them.

    Attributes
    ----------
    folds : list of dict
        Per fold: ``fold``, ``train_ids``, ``test_ids``, ``held`` (bool mask
        over the patients), ``instances`` (bags of the fold's patients,
        preprocessed on its training folds), ``jobs`` (its networks).
    time, event : ndarray, shape (n,)
        The patients' DFS time (months) and event.
    """

    folds: list
    time: np.ndarray
    event: np.ndarray

    @property
    def jobs(self) -> list:
        """Every fold's network jobs, fold by fold."""
        return [job for f in self.folds for job in f["jobs"]]


def plan_cross_validation(make_instances: Callable, patient_ids: Sequence[str], time, event, config: TrainConfig, *,
                          n_folds: int = 3, seed: int = 0, checkpoint_dir: str | Path | None = None,
                          name: str = "") -> CrossValidationPlan:
    """Deal the folds, preprocess each on its training folds and list its networks (nothing trained yet).

    Parameters are those of :func:`cross_validate`; ``name`` prefixes the jobs' names.
    """
    ids = [str(p) for p in patient_ids]
    time = np.asarray(time, dtype=float).reshape(-1)
    folds = stratified_folds(ids, event, n_folds, seed)
    event = np.asarray(event).astype(bool).reshape(-1)
    plan = []
    for k in range(int(n_folds)):
        held = (folds["fold"] == k).to_numpy()
        train_ids = [p for p, h in zip(ids, held) if not h]
        test_ids = [p for p, h in zip(ids, held) if h]
        instances = make_instances(train_ids, train_ids + test_ids)
        jobs = ensemble_jobs(instances.subset(train_ids), time[~held], event[~held], config, seed=int(seed) + k,
                             n_members=config.cv_ensemble_size, name=f"{name}fold {k} ",
                             checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir) / f"fold{k}")
        plan.append({"fold": k, "train_ids": train_ids, "test_ids": test_ids, "held": held, "instances": instances,
                     "jobs": jobs})
    return CrossValidationPlan(folds=plan, time=time, event=event)


def score_cross_validation(plan: CrossValidationPlan, results: Sequence) -> pd.DataFrame:
    """Each fold's held-out C-index from its trained networks (``results`` in ``plan.jobs`` order)."""
    from npc_lib.stats.concordance import concordance_index

    results = list(results)
    if len(results) != len(plan.jobs):
        raise ValueError(f"results has {len(results)} networks for the plan's {len(plan.jobs)} jobs")
    rows, at = [], 0
    time, event = plan.time, plan.event
    for f in plan.folds:
        members = results[at:at + len(f["jobs"])]
        at += len(f["jobs"])
        held, instances, config = f["held"], f["instances"], f["jobs"][0].config
        member_risk = [predict_patient_risk(m.model, instances, config) for m in members]
        risk = ensemble_signature(member_risk, standardise_members(member_risk, f["train_ids"]))
        risk = risk.loc[f["test_ids"]].to_numpy()
        try:
            c = concordance_index(time[held], event[held], risk)
            cvals, note = (c.c_index, c.lower, c.upper), ""
        except ValueError as exc:  # a small fold: no event, or no comparable pair
            cvals, note = (np.nan, np.nan, np.nan), f"no C-index: {exc}"
        first = members[0]
        rows.append({
            "fold": f["fold"], "n_train": len(f["train_ids"]), "n_test": len(f["test_ids"]),
            "events_test": int(event[held].sum()),
            "c_index": cvals[0], "c_lower": cvals[1], "c_upper": cvals[2], "note": note,
            "members": len(members),
            "epochs_pretrain": first.epochs["pretrain"], "epochs_cox": first.epochs["cox"],
            "seconds": float(sum(m.seconds for m in members)),
        })
    return pd.DataFrame(rows)


def cross_validate(make_instances: Callable, patient_ids: Sequence[str], time, event, config: TrainConfig, *,
                   n_folds: int = 3, seed: int = 0, checkpoint_dir: str | Path | None = None,
                   progress: bool = True, workers: int = 0) -> pd.DataFrame:
    """Train on ``n_folds - 1`` folds, score the held-out fold; once per fold.

    Parameters
    ----------
    make_instances : callable
        ``make_instances(train_ids, ids) -> InstanceSet`` holding the bags of
        ``ids``, preprocessed with everything fitted on ``train_ids`` only.
    patient_ids : sequence of str
        The training cohort's patients.
    time, event : arrays, shape (n,)
        Their DFS time (months) and event (0/1).
    config : TrainConfig
    n_folds : int
        Folds (3 in the paper).
    seed : int
        Seed of the folds and of each fold's training (``seed + fold``).
    checkpoint_dir : path-like, optional
        Per-fold checkpoints go to ``checkpoint_dir/fold<k>/member<j>`` (resumable).
    progress : bool
        Progress bars.
    workers : int
        0: the networks one after another in this process; ``k >= 1``: side
        by side in ``k`` one-thread processes (:func:`npc_lib.model.pool.train_networks`).

    Returns
    -------
    DataFrame
        One row per fold: ``fold``, ``n_train``, ``n_test``, ``events_test``,
        ``c_index``, ``c_lower``, ``c_upper`` (95% CI; NaN, with a ``note``, when a
        small fold has no event or no comparable pair), ``note``, ``members``,
        ``epochs_pretrain``, ``epochs_cox`` (first member), ``seconds`` (training
        time of the fold's networks).
    """
    from npc_lib.model.pool import train_networks

    plan = plan_cross_validation(make_instances, patient_ids, time, event, config, n_folds=n_folds, seed=seed,
                                 checkpoint_dir=checkpoint_dir)
    return score_cross_validation(plan, train_networks(plan.jobs, workers=workers, progress=progress))
