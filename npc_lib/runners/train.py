"""Train a sequence's DL signature end to end: cohort -> instances -> network -> signature (A7, A8).

This runner is the one place that ties the cohort layer (loading, the
training/test split), the imaging layer (standardisation fitted on the
training patients, tumour boxes) and the model layer (two-stage MIL training).
Runners take what they need: a loaded cohort (or its folder), a
:class:`~npc_lib.model.train_config.TrainConfig` and the split table of
chapter 01; profiles are resolved by the caller (the run layer, the CLI).
Only the training patients' outcomes are handed to the training; the test
cohort's outcomes are read afterwards, to score the finished signature.

Outputs (each written atomically) in ``out_dir``:

* ``signature_<seq>.csv``: ``patient_id``, ``cohort`` (train/test), ``risk``
  (the DL_<seq>_sig; higher = worse; centred: mean 0 over the training
  patients) for every patient;
* ``metrics_<seq>.json``: training and test Harrell C-index (95% CI),
  epochs per stage, seconds, instances per second, backend, configuration;
* ``members_<seq>.csv``: each ensemble member's standardised risk;
* ``development_<seq>.json``: the training images' range of voxel spacing and
  intensity landmarks (the model bundle's development ranges; aggregates only);
* ``model_<seq>_member<k>.weights.h5`` and ``preprocess_<seq>.json``: the
  members' weights, the fitted image preprocessing and each member's
  standardisation, to reload the signature (:func:`signature_risk`) or one
  network (:func:`load_signature_model`, e.g. for Grad-CAM);
* ``checkpoints_<seq>/member<k>/``: per-epoch checkpoints (a rerun resumes);
* ``crossval_<seq>.csv`` (:func:`run_crossval`).
"""

from __future__ import annotations

__all__ = ["run_training", "run_crossval", "run_signatures", "SignatureTraining", "load_signature_model",
           "signature_risk", "signature_instances"]

import dataclasses
import time as _time
from pathlib import Path

import numpy as np
import pandas as pd

from npc_lib._io import atomic_path, write_csv, write_json
from npc_lib.cohort import schema

_N_JOBS = 2  # preprocessing threads


def _check_sequence(sequence: str) -> str:
    if sequence not in schema.SEQUENCES:
        raise ValueError(f"sequence must be one of {schema.SEQUENCES}, got {sequence!r}")
    return sequence


def _check_config(config):
    from npc_lib.model.train_config import TrainConfig

    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig (TrainConfig.for_preset), got {type(config).__name__}")
    return config


def _cohort(cohort, sequence: str):
    """A loaded :class:`~npc_lib.cohort.load.Cohort` able to read ``sequence`` (loads a path)."""
    from npc_lib.cohort.load import Cohort, load_cohort

    if isinstance(cohort, Cohort):
        if sequence not in cohort.sequences:
            raise ValueError(f"cohort: loaded without sequence {sequence!r} (has {cohort.sequences})")
        return cohort
    return load_cohort(cohort, sequences=(sequence,), check_images="header")


def _check_split(split, cohort) -> pd.DataFrame:
    """The split table (``patient_id``, ``cohort``) in the cohort's patient order; it must cover the cohort."""
    if not isinstance(split, pd.DataFrame):
        raise ValueError(f"split must be a DataFrame with columns patient_id, cohort; got {type(split).__name__}")
    missing = [c for c in ("patient_id", "cohort") if c not in split.columns]
    if missing:
        raise ValueError(f"split: missing column(s) {missing}")
    table = split[["patient_id", "cohort"]].astype(str)
    if table["patient_id"].duplicated().any():
        raise ValueError(f"split: duplicate patient_id {table.loc[table['patient_id'].duplicated(), 'patient_id'].iloc[0]!r}")
    bad = ~table["cohort"].isin(("train", "test"))
    if bad.any():
        raise ValueError(f"split: patient {table.loc[bad, 'patient_id'].iloc[0]}: cohort must be 'train' or 'test'")
    ids = [str(p) for p in cohort.patient_ids]
    absent = sorted(set(ids) - set(table["patient_id"]))
    if absent:
        raise ValueError(f"split: patient {absent[0]} of the cohort is missing from the split ({len(absent)} in all)")
    extra = sorted(set(table["patient_id"]) - set(ids))
    if extra:
        raise ValueError(f"split: patient {extra[0]} is not in the cohort ({len(extra)} in all)")
    table = table.set_index("patient_id").loc[ids].reset_index()
    for label in ("train", "test"):
        if not (table["cohort"] == label).any():
            raise ValueError(f"split: no {label} patient")
    return table


def _outcomes(cohort, patient_ids) -> tuple[np.ndarray, np.ndarray]:
    """DFS time (months) and event of ``patient_ids`` (and of no one else)."""
    clin = cohort.clinical.set_index("patient_id").loc[list(patient_ids)]
    return (clin[schema.time_col("dfs")].to_numpy(dtype=float),
            clin[schema.event_col("dfs")].to_numpy().astype(int))


def _make_instances(cohort, sequence: str, config, progress: bool):
    """``make(train_ids, ids)``: bags of ``ids`` standardised with a fit on ``train_ids``.

    Each volume is read once, on the first call (:func:`~npc_lib.imaging.instances.raw_bags`:
    boxes and landmarks do not depend on the training patients); every call
    then refits the standardiser on its ``train_ids`` alone, so the folds of a
    cross-validation share the reading and resampling, not the fit.
    """
    from npc_lib.imaging.instances import raw_bags

    cache: dict = {}

    def make(train_ids, ids):
        needed = list(dict.fromkeys([*map(str, train_ids), *map(str, ids)]))
        if "raw" not in cache or not set(needed) <= set(cache["raw"].patient_ids):
            cache["raw"] = raw_bags(cohort, sequence, needed, target_spacing=config.target_spacing,
                                    box_mm=config.box_mm, box_px=config.box_px, n_jobs=_N_JOBS, progress=progress)
        raw = cache["raw"]
        return raw.instances(list(ids), raw.fit_standardizer(list(train_ids)))

    make.raw = lambda: cache["raw"]  # the bags read so far (landmarks and spacing of every image)
    return make


def _c_index(time, event, risk) -> dict:
    from npc_lib.stats.concordance import concordance_index

    c = concordance_index(time, event, risk)
    return {"c_index": c.c_index, "lower": c.lower, "upper": c.upper, "se": c.se, "p": c.p_value}


@dataclasses.dataclass
class _SignaturePlan:
    """A sequence's preprocessed bags and the ensemble's network jobs (nothing trained yet)."""

    sequence: str
    split: pd.DataFrame
    train_ids: list
    test_ids: list
    instances: object
    jobs: list
    prep_seconds: float
    ranges: dict | None  # the training images' development ranges (run.model_card.sequence_ranges)


def _plan_signature(cohort, sequence: str, out_dir: Path, config, split: pd.DataFrame, seed: int,
                    make) -> _SignaturePlan:
    from npc_lib.model.ensemble import ensemble_jobs
    from npc_lib.run.model_card import sequence_ranges

    train_ids = split.loc[split["cohort"] == "train", "patient_id"].tolist()
    test_ids = split.loc[split["cohort"] == "test", "patient_id"].tolist()
    t0 = _time.perf_counter()
    instances = make(train_ids, train_ids + test_ids)
    prep_seconds = _time.perf_counter() - t0
    time, event = _outcomes(cohort, train_ids)  # the training cohort's outcomes only
    jobs = ensemble_jobs(instances.subset(train_ids), time, event, config, seed=seed,
                         checkpoint_dir=out_dir / f"checkpoints_{sequence}", name=f"{sequence} ")
    raw = make.raw()
    pos = {p: i for i, p in enumerate(raw.patient_ids)}
    rows = [pos[p] for p in train_ids]
    ranges = (None if raw.spacing is None else
              sequence_ranges(raw.spacing[rows], raw.landmarks[rows][:, [0, -1]], raw.template.percentiles))
    return _SignaturePlan(sequence, split, train_ids, test_ids, instances, jobs, prep_seconds, ranges)


def _finish_signature(plan: _SignaturePlan, results: list, cohort, config, out_dir: Path, seed: int) -> dict:
    """Score the trained ensemble on every patient, write the signature's files; its metrics."""
    import keras

    from npc_lib.model.checkpoint import quiet_numpy_copy_warning
    from npc_lib.model.ensemble import EnsembleResult, ensemble_signature, standardise_members
    from npc_lib.model.training import predict_patient_risk
    from npc_lib.run.model_card import development_ranges_name

    sequence, split, train_ids, test_ids, instances = (plan.sequence, plan.split, plan.train_ids, plan.test_ids,
                                                       plan.instances)
    result = EnsembleResult(members=list(results), seeds=[job.seed for job in plan.jobs])
    t0 = _time.perf_counter()
    member_risk = [predict_patient_risk(m, instances, config) for m in result.models]  # same instances for all
    standardisation = standardise_members(member_risk, train_ids)
    risk = ensemble_signature(member_risk, standardisation)
    predict_seconds = _time.perf_counter() - t0
    signature = split.copy()
    signature["risk"] = risk.loc[signature["patient_id"]].to_numpy()
    members = split.copy()
    for k, (r, st) in enumerate(zip(member_risk, standardisation)):
        members[f"member{k}"] = (r.loc[members["patient_id"]].to_numpy() - st["loc"]) / st["scale"]
    metrics = {"sequence": sequence, "seed": int(seed), "n_train": len(train_ids), "n_test": len(test_ids)}
    t_train, e_train = _outcomes(cohort, train_ids)
    t_test, e_test = _outcomes(cohort, test_ids)  # test outcomes: read only now, to score the finished signature
    for name, ids, t, e in (("train", train_ids, t_train, e_train), ("test", test_ids, t_test, e_test)):
        c = _c_index(t, e, risk.loc[ids].to_numpy())
        metrics.update({f"{name}_c_index": c["c_index"], f"{name}_c_index_lower": c["lower"],
                        f"{name}_c_index_upper": c["upper"], f"{name}_c_index_p": c["p"],
                        f"{name}_events": int(e.sum())})
    member_rows = []
    for k, (res, r, st) in enumerate(zip(result.members, member_risk, standardisation)):
        member_rows.append({"member": k, "seed": result.seeds[k], "loc": st["loc"], "scale": st["scale"],
                            "train_c_index": _c_index(t_train, e_train, r.loc[train_ids].to_numpy())["c_index"],
                            "test_c_index": _c_index(t_test, e_test, r.loc[test_ids].to_numpy())["c_index"],
                            "epochs": res.epochs, "seconds": res.seconds})
    first = result.members[0]
    metrics.update({
        "ensemble_size": len(result.members), "members": member_rows,
        "epochs": first.epochs, "resumed": result.resumed,
        "train_seconds": result.seconds, "preprocess_seconds": plan.prep_seconds, "predict_seconds": predict_seconds,
        "seconds": plan.prep_seconds + result.seconds + predict_seconds,
        "instances_per_second": result.instances / result.seconds if result.seconds > 0 else None,
        "n_instances": len(instances), "backend": keras.backend.backend(), "config": config.to_dict(),
        "history": first.history.replace({np.nan: None}).to_dict(orient="records"),
        "val_patients": first.val_patients,
    })
    for k, model in enumerate(result.models):
        with atomic_path(out_dir / _weights_name(sequence, k)) as tmp, quiet_numpy_copy_warning():
            model.save_weights(tmp)
    write_json({"config": config.to_dict(), "instances": instances.meta, "sequence": sequence,
                "members": [{"seed": r["seed"], "loc": r["loc"], "scale": r["scale"]} for r in member_rows]},
               out_dir / f"preprocess_{sequence}.json")
    if plan.ranges is not None:
        write_json(plan.ranges, out_dir / development_ranges_name(sequence))
    write_csv(members, out_dir / f"members_{sequence}.csv")
    write_csv(signature[["patient_id", "cohort", "risk"]], out_dir / f"signature_{sequence}.csv")
    write_json(metrics, out_dir / f"metrics_{sequence}.json")
    return metrics


def run_training(cohort, sequence: str, out_dir, *, config, split: pd.DataFrame, seed: int = 0,
                 progress: bool = True, workers: int = 0) -> dict:
    """Train the DL signature of one MR sequence and score it on the training and test cohorts.

    Parameters
    ----------
    cohort : Cohort or path-like
        A loaded :class:`~npc_lib.cohort.load.Cohort` (with ``sequence``) or a
        cohort folder in the SPEC layout.
    sequence : {"T1", "T2", "T1C"}
    out_dir : path-like
        Output folder (see the module docstring).
    config : TrainConfig
        The training (:meth:`TrainConfig.for_preset`).
    split : DataFrame
        ``patient_id``, ``cohort`` (``train``/``test``) of every patient of the
        cohort (:func:`npc_lib.cohort.split.read_split`); used as given.
    seed : int
        Seed of the training.
    progress : bool
        Progress bars.
    workers : int
        0: the ensemble's networks one after another in this process;
        ``k >= 1``: side by side in ``k`` one-thread processes
        (:func:`npc_lib.model.pool.train_networks`; the numbers do not depend on ``k``).

    Returns
    -------
    dict
        The metrics written to ``metrics_<seq>.json`` (``train_c_index``,
        ``test_c_index``, their CIs, ``epochs``, ``seconds``, ``members``, ...).

    Notes
    -----
    ``config.ensemble_size`` networks are trained on the same preprocessed
    instances (:mod:`npc_lib.model.ensemble`); the signature is the mean of
    their pooled risks, each standardised on the training patients. It is
    therefore centred on the training cohort (mean 0: 0 is an average
    training patient; the Cox loss leaves the offset arbitrary). Higher = worse.
    """
    return run_signatures(cohort, [sequence], out_dir, config=config, split=split, seed=seed, progress=progress,
                          workers=workers).metrics[sequence]


@dataclasses.dataclass
class SignatureTraining:
    """What :func:`run_signatures` trained: per sequence its metrics, and the cross-validation folds.

    Attributes
    ----------
    metrics : dict
        ``{sequence: metrics of metrics_<seq>.json}``.
    crossval : DataFrame
        One row per sequence and fold (:func:`run_crossval`'s columns); empty without cross-validation.
    """

    metrics: dict
    crossval: pd.DataFrame


def run_signatures(cohort, sequences, out_dir, *, config, split: pd.DataFrame, seed: int = 0,
                   crossval_sequences=(), n_folds: int = 3, progress: bool = True,
                   workers: int | None = 0) -> SignatureTraining:
    """Train the signatures of ``sequences`` and cross-validate ``crossval_sequences``, all networks in one pool.

    The outputs are those of :func:`run_training` and :func:`run_crossval`
    for each sequence (the same files, the same numbers for the same
    ``workers`` choice); each sequence's volumes are read once for both.

    Parameters
    ----------
    cohort, out_dir, config, split, seed, progress
        As in :func:`run_training`.
    sequences : sequence of str
        Sequences to train a signature for.
    crossval_sequences : sequence of str
        Sequences to cross-validate in the training cohort.
    n_folds : int
        Folds of the cross-validation.
    workers : int or None
        0: every network in this process, one after another; ``k >= 1``: all
        networks (signature members first, then folds) side by side in ``k``
        one-thread processes; None: :func:`npc_lib.model.pool.default_workers`.

    Returns
    -------
    SignatureTraining
    """
    from npc_lib.model.crossval import plan_cross_validation, score_cross_validation
    from npc_lib.model.pool import default_workers, train_networks

    config = _check_config(config)
    sequences = [_check_sequence(q) for q in sequences]
    cv_sequences = [_check_sequence(q) for q in crossval_sequences]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plans, cv_plans = {}, {}
    for q in dict.fromkeys([*sequences, *cv_sequences]):
        loaded = _cohort(cohort, q)
        table = _check_split(split, loaded)
        make = _make_instances(loaded, q, config, progress)  # the volumes are read once for both
        if q in sequences:
            plans[q] = (loaded, _plan_signature(loaded, q, out_dir, config, table, seed, make))
        if q in cv_sequences:
            train_ids = table.loc[table["cohort"] == "train", "patient_id"].tolist()
            time, event = _outcomes(loaded, train_ids)
            cv_plans[q] = plan_cross_validation(make, train_ids, time, event, config, n_folds=n_folds, seed=seed,
                                                checkpoint_dir=out_dir / f"checkpoints_crossval_{q}",
                                                name=f"{q} cross-validation ")
    jobs = [j for _, p in plans.values() for j in p.jobs] + [j for p in cv_plans.values() for j in p.jobs]
    trained = dict(zip((j.name for j in jobs),
                       train_networks(jobs, workers=default_workers(len(jobs)) if workers is None else workers,
                                      progress=progress)))
    metrics = {q: _finish_signature(p, [trained[j.name] for j in p.jobs], loaded, config, out_dir, seed)
               for q, (loaded, p) in plans.items()}
    tables = []
    for q, p in cv_plans.items():
        table = score_cross_validation(p, [trained[j.name] for j in p.jobs])
        table.insert(0, "sequence", q)
        write_csv(table, out_dir / f"crossval_{q}.csv")
        tables.append(table)
    return SignatureTraining(metrics=metrics, crossval=pd.concat(tables, ignore_index=True) if tables
                             else pd.DataFrame())


def _weights_name(sequence: str, member: int) -> str:
    from npc_lib.model.signature import weights_name

    return weights_name(sequence, member)


def load_signature_model(out_dir, sequence: str, member: int = 0):
    """One trained network of :func:`run_training` and its config: ``(model, TrainConfig, preprocess)``.

    See :func:`npc_lib.model.signature.load_signature_model` (the one loader,
    shared with the model bundle).
    """
    from npc_lib.model.signature import load_signature_model as load

    return load(out_dir, _check_sequence(sequence), member)


def signature_risk(out_dir, sequence: str, instances) -> pd.Series:
    """The signature of :func:`run_training` for the bags in ``instances`` (a Series by ``patient_id``).

    See :func:`npc_lib.model.signature.signature_risk`: reproduces
    ``signature_<seq>.csv`` for the trained cohort's patients and scores new
    ones on the same scale.
    """
    from npc_lib.model.signature import signature_risk as risk

    return risk(out_dir, _check_sequence(sequence), instances)


def signature_instances(cohort, out_dir, sequence: str, patient_ids=None):
    """Bags of ``patient_ids`` preprocessed exactly as for the trained signature in ``out_dir``.

    Uses the standardiser fitted during :func:`run_training` (saved in
    ``preprocess_<seq>.json``), so the boxes can be fed to the saved network,
    e.g. for Grad-CAM (:func:`npc_lib.model.gradcam.grad_cam`).

    Parameters
    ----------
    cohort : Cohort or path-like
        The cohort the signature was trained on (or another in the same layout).
    out_dir : path-like
        Output folder of :func:`run_training`.
    sequence : {"T1", "T2", "T1C"}
    patient_ids : sequence of str, optional
        Default: every patient of the cohort.

    Returns
    -------
    InstanceSet
    """
    from npc_lib.imaging.instances import build_instances
    from npc_lib.imaging.standardize import HistogramStandardizer

    _, config, preprocess = load_signature_model(out_dir, sequence)
    cohort = _cohort(cohort, sequence)
    std = HistogramStandardizer.from_dict(preprocess["instances"]["standardizer"])
    ids = cohort.patient_ids if patient_ids is None else list(patient_ids)
    return build_instances(cohort, sequence, ids, std, target_spacing=config.target_spacing, box_mm=config.box_mm,
                           box_px=config.box_px, n_jobs=_N_JOBS)


def run_crossval(cohort, sequence: str, out_dir, *, config, split: pd.DataFrame, seed: int = 0,
                 n_folds: int = 3, progress: bool = True, workers: int = 0) -> pd.DataFrame:
    """A8: ``n_folds``-fold cross-validation inside the training cohort of ``split``.

    Each fold refits the image standardisation and the network on the other
    folds (the signature's protocol with ``config.cv_ensemble_size`` networks:
    one in the default profile, against the signature's three, to fit the
    time budget) and reports the held-out fold's Harrell C-index (95% CI). Writes
    ``crossval_<seq>.csv`` (checkpoints under ``checkpoints_crossval_<seq>/``).
    The test cohort of ``split`` is never used.

    Parameters
    ----------
    cohort, sequence, config, split, seed, progress
        As in :func:`run_training`.
    n_folds : int
        Folds (3 in the paper).
    workers : int
        As in :func:`run_training`.

    Returns
    -------
    DataFrame
        One row per fold (see :func:`npc_lib.model.crossval.cross_validate`)
        plus ``sequence``.
    """
    return run_signatures(cohort, [], out_dir, config=config, split=split, seed=seed,
                          crossval_sequences=[sequence], n_folds=n_folds, progress=progress,
                          workers=workers).crossval
