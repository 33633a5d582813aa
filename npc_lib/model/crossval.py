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

__all__ = ["stratified_folds", "cross_validate"]

import time as _time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from npc_lib.model.ensemble import ensemble_signature, standardise_members, train_ensemble
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


def cross_validate(make_instances: Callable, patient_ids: Sequence[str], time, event, config: TrainConfig, *,
                   n_folds: int = 3, seed: int = 0, checkpoint_dir: str | Path | None = None,
                   progress: bool = True) -> pd.DataFrame:
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

    Returns
    -------
    DataFrame
        One row per fold: ``fold``, ``n_train``, ``n_test``, ``events_test``,
        ``c_index``, ``c_lower``, ``c_upper`` (95% CI; NaN, with a ``note``, when a
        small fold has no event or no comparable pair), ``note``, ``members``,
        ``epochs_pretrain``, ``epochs_cox`` (first member), ``seconds``.
    """
    from npc_lib.stats.concordance import concordance_index

    ids = [str(p) for p in patient_ids]
    time = np.asarray(time, dtype=float).reshape(-1)
    folds = stratified_folds(ids, event, n_folds, seed)
    event = np.asarray(event).astype(bool).reshape(-1)
    rows = []
    for k in range(int(n_folds)):
        t0 = _time.perf_counter()
        held = (folds["fold"] == k).to_numpy()
        train_ids = [p for p, h in zip(ids, held) if not h]
        test_ids = [p for p, h in zip(ids, held) if h]
        instances = make_instances(train_ids, train_ids + test_ids)
        result = train_ensemble(
            instances.subset(train_ids), time[~held], event[~held], config, seed=int(seed) + k,
            n_members=config.cv_ensemble_size, progress=progress,
            checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir) / f"fold{k}",
        )
        member_risk = [predict_patient_risk(m, instances, config) for m in result.models]
        risk = ensemble_signature(member_risk, standardise_members(member_risk, train_ids)).loc[test_ids].to_numpy()
        try:
            c = concordance_index(time[held], event[held], risk)
            cvals, note = (c.c_index, c.lower, c.upper), ""
        except ValueError as exc:  # a small fold: no event, or no comparable pair
            cvals, note = (np.nan, np.nan, np.nan), f"no C-index: {exc}"
        first = result.members[0]
        rows.append({
            "fold": k, "n_train": len(train_ids), "n_test": len(test_ids), "events_test": int(event[held].sum()),
            "c_index": cvals[0], "c_lower": cvals[1], "c_upper": cvals[2], "note": note,
            "members": len(result.members),
            "epochs_pretrain": first.epochs["pretrain"], "epochs_cox": first.epochs["cox"],
            "seconds": _time.perf_counter() - t0,
        })
    return pd.DataFrame(rows)
