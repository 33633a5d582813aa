"""An ensemble of signature networks: K members with different seeds, one signature (A7).

One network trained on ~450 patients is a draw from a wide distribution: with
the same data and settings, about one training seed in six gave a signature
that barely learnt (issue 8). The mean of several members' risks is far less
variable. Member ``k`` is trained by :func:`~npc_lib.model.training.train_signature`
on the *same* preprocessed instances with seed :func:`member_seed` ``(seed, k)``
(member 0 uses ``seed`` itself, so a one-member ensemble is the plain network)
and checkpoints to ``checkpoint_dir/member<k>``, so an interrupted ensemble
resumes member by member.

The members' patient risks have arbitrary offsets and scales (the Cox loss
fixes neither the offset nor, after early stopping or weight decay, a common
scale), so each is standardised on the *training* patients before averaging:
``z_k = (r_k - mean_train r_k) / sd_train r_k`` and the signature is
``mean_k z_k``, centred (mean 0) on the training cohort by construction:
0 is an average training patient, higher = worse.
"""

from __future__ import annotations

__all__ = ["member_seed", "EnsembleResult", "ensemble_jobs", "train_ensemble", "standardise_members", "ensemble_signature"]

import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from npc_lib.model.train_config import TrainConfig


def _check_members(n_members) -> int:
    if isinstance(n_members, bool) or not isinstance(n_members, (int, np.integer)) or n_members < 1:
        raise ValueError(f"n_members must be a positive integer, got {n_members!r}")
    return int(n_members)


def member_seed(seed: int, k: int) -> int:
    """Training seed of ensemble member ``k``: ``seed`` itself for ``k = 0``, else a derived seed.

    Examples
    --------
    >>> member_seed(3, 0)
    3
    >>> member_seed(3, 1) == member_seed(3, 1) != member_seed(4, 1)
    True
    """
    if int(k) < 0:
        raise ValueError(f"k must be >= 0, got {k!r}")
    if int(k) == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(k), 4242]).generate_state(1)[0] % (2**31 - 1))


@dataclasses.dataclass
class EnsembleResult:
    """Trained ensemble members (:class:`~npc_lib.model.training.TrainResult` each) and their seeds."""

    members: list
    seeds: list[int]

    @property
    def models(self) -> list:
        return [m.model for m in self.members]

    @property
    def seconds(self) -> float:
        return float(sum(m.seconds for m in self.members))

    @property
    def instances(self) -> int:
        return int(sum(m.instances for m in self.members))

    @property
    def resumed(self) -> bool:
        return any(m.resumed for m in self.members)


def ensemble_jobs(instances, time, event, config: TrainConfig, *, seed: int = 0, n_members: int | None = None,
                  checkpoint_dir: str | Path | None = None, name: str = "") -> list:
    """The :class:`~npc_lib.model.pool.NetworkJob` of each member (seed :func:`member_seed`, own checkpoints).

    Parameters are those of :func:`train_ensemble`; ``name`` prefixes the jobs' names.
    """
    from npc_lib.model.pool import NetworkJob

    k_members = _check_members(config.ensemble_size if n_members is None else n_members)
    time = np.asarray(time, dtype=float).reshape(-1)
    event = np.asarray(event).reshape(-1)
    return [NetworkJob(name=f"{name}member {k}".strip(), instances=instances, time=time, event=event, config=config,
                       seed=member_seed(seed, k),
                       checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir) / f"member{k}")
            for k in range(k_members)]


def train_ensemble(instances, time, event, config: TrainConfig, *, seed: int = 0, n_members: int | None = None,
                   checkpoint_dir: str | Path | None = None, progress: bool = True,
                   on_epoch_model: Callable[[int, int, int, Any], None] | None = None,
                   workers: int = 0) -> EnsembleResult:
    """Train ``n_members`` networks (default ``config.ensemble_size``) on the same instances.

    Parameters
    ----------
    instances : InstanceSet
        Bags of the training patients only.
    time, event : arrays, shape (n_patients,)
        Their DFS time (months) and event (0/1).
    config : TrainConfig
    seed : int
        Seed of the ensemble; member ``k`` trains with ``member_seed(seed, k)``.
    n_members : int, optional
        Members (default ``config.ensemble_size``; cross-validation passes
        ``config.cv_ensemble_size``).
    checkpoint_dir : path-like, optional
        Member ``k`` checkpoints to ``checkpoint_dir/member<k>``.
    progress : bool
        Progress bars.
    on_epoch_model : callable, optional
        ``on_epoch_model(member, stage, epoch, model)`` after each epoch
        (members trained in this process only: ``workers=0``).
    workers : int
        0: members one after another in this process; ``k >= 1``: side by
        side in ``k`` one-thread processes (:func:`npc_lib.model.pool.train_networks`).

    Returns
    -------
    EnsembleResult
    """
    from npc_lib.model.pool import train_networks
    from npc_lib.model.training import train_signature

    jobs = ensemble_jobs(instances, time, event, config, seed=seed, n_members=n_members,
                         checkpoint_dir=checkpoint_dir)
    if on_epoch_model is None:
        members = train_networks(jobs, workers=workers, progress=progress)
    elif workers:
        raise ValueError("on_epoch_model needs the members trained in this process: workers=0")
    else:
        members = [train_signature(job.instances, job.time, job.event, config, seed=job.seed, progress=progress,
                                   checkpoint_dir=job.checkpoint_dir,
                                   on_epoch_model=lambda stage, epoch, model, k=k: on_epoch_model(k, stage, epoch,
                                                                                                  model))
                   for k, job in enumerate(jobs)]
    return EnsembleResult(members=members, seeds=[job.seed for job in jobs])


def standardise_members(member_risks: Sequence[pd.Series], train_ids: Sequence[str]) -> list[dict]:
    """``loc`` (mean) and ``scale`` (SD, ddof 0) of each member's risk over the training patients.

    A member whose training risks are all equal gets ``scale = 1`` (it adds
    nothing to the ranking).

    Examples
    --------
    >>> r = pd.Series([1.0, 2.0, 3.0, 10.0], index=["a", "b", "c", "d"])
    >>> standardise_members([r], ["a", "b", "c"])
    [{'loc': 2.0, 'scale': 0.816496580927726}]
    """
    ids = [str(p) for p in train_ids]
    if not ids:
        raise ValueError("train_ids is empty")
    out = []
    for k, r in enumerate(member_risks):
        missing = [p for p in ids if p not in r.index]
        if missing:
            raise ValueError(f"member {k}: no risk for training patient(s) {missing[:5]}")
        v = r.loc[ids].to_numpy(dtype=float)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"member {k}: non-finite risk on the training patients")
        sd = float(np.std(v))
        out.append({"loc": float(np.mean(v)), "scale": sd if sd > 0 else 1.0})
    return out


def ensemble_signature(member_risks: Sequence[pd.Series], standardisation: Sequence[dict]) -> pd.Series:
    """The signature: mean over members of ``(risk - loc) / scale`` (higher = worse).

    Parameters
    ----------
    member_risks : sequence of Series
        Each member's pooled patient risk, indexed by ``patient_id`` (same index).
    standardisation : sequence of dict
        :func:`standardise_members` of the same members (fitted on training patients).

    Returns
    -------
    Series
        Indexed like the first member, named ``risk``.

    Examples
    --------
    >>> a = pd.Series([0.0, 2.0], index=["p", "q"]); b = pd.Series([10.0, 30.0], index=["p", "q"])
    >>> ensemble_signature([a, b], standardise_members([a, b], ["p", "q"])).tolist()
    [-1.0, 1.0]
    """
    if len(member_risks) == 0 or len(member_risks) != len(standardisation):
        raise ValueError(f"{len(member_risks)} member risks for {len(standardisation)} standardisations")
    index = member_risks[0].index
    z = [(r.loc[index].to_numpy(dtype=float) - s["loc"]) / s["scale"] for r, s in zip(member_risks, standardisation)]
    return pd.Series(np.mean(z, axis=0), index=index, name="risk")
