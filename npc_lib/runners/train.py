"""Train a sequence's DL signature end to end: cohort -> instances -> network -> signature (A7, A8).

This runner is the one place that ties the cohort layer (loading, the
training/test split), the imaging layer (standardisation fitted on the
training patients, tumour boxes) and the model layer (two-stage MIL training).
Only the training patients' outcomes are handed to the training; the test
cohort's outcomes are read afterwards, to score the finished signature.

Outputs (each written atomically) in ``out_dir``:

* ``signature_<seq>.csv``: ``patient_id``, ``cohort`` (train/test), ``risk``
  (the DL_<seq>_sig; higher = worse) for every patient;
* ``metrics_<seq>.json``: training and test Harrell C-index (95% CI),
  epochs per stage, seconds, instances per second, backend, configuration;
* ``model_<seq>.weights.h5`` and ``preprocess_<seq>.json``: the network's
  weights and the fitted image preprocessing, to reload the signature
  (:func:`load_signature_model`, e.g. for Grad-CAM);
* ``checkpoints_<seq>/``: per-epoch checkpoints (a rerun resumes);
* ``crossval_<seq>.csv`` (:func:`run_crossval`).
"""

from __future__ import annotations

__all__ = ["run_training", "run_crossval", "load_signature_model", "signature_instances", "training_config"]

import json
import time as _time
from pathlib import Path

import numpy as np
import pandas as pd

from npc_lib._io import atomic_path, write_csv, write_json
from npc_lib.cohort import schema

_N_JOBS = 2  # preprocessing threads


def _profile(profile: str | Path) -> dict:
    """The profile's parameters (``book/params/<profile>.yml`` or a YAML path)."""
    from npc_lib.profiles import load_profile

    return load_profile(profile)


def training_config(profile: str | Path = "default"):
    """The :class:`~npc_lib.model.training.TrainConfig` of a profile (preset + its ``train:`` overrides).

    A YAML file whose ``profile`` is not a known preset starts from ``"default"``.

    Examples
    --------
    >>> training_config("smoke").box_px
    32
    """
    from npc_lib.model.train_config import PROFILES, TrainConfig

    params = _profile(profile)
    preset = params["profile"] if params["profile"] in PROFILES else "default"
    return TrainConfig.for_profile(preset, params.get("train") or {})


def _check_sequence(sequence: str) -> str:
    if sequence not in schema.SEQUENCES:
        raise ValueError(f"sequence must be one of {schema.SEQUENCES}, got {sequence!r}")
    return sequence


def _outcomes(cohort, patient_ids) -> tuple[np.ndarray, np.ndarray]:
    """DFS time (months) and event of ``patient_ids`` (and of no one else)."""
    clin = cohort.clinical.set_index("patient_id").loc[list(patient_ids)]
    return (clin[schema.time_col("dfs")].to_numpy(dtype=float),
            clin[schema.event_col("dfs")].to_numpy().astype(int))


def _make_instances(cohort, sequence: str, config, progress: bool):
    """``make(train_ids, ids)``: bags of ``ids`` standardised with a fit on ``train_ids``."""
    from npc_lib.imaging.instances import build_instances, fit_standardizer

    def make(train_ids, ids):
        std = fit_standardizer(cohort, sequence, list(train_ids))
        return build_instances(cohort, sequence, list(ids), std, target_spacing=config.target_spacing,
                               box_mm=config.box_mm, box_px=config.box_px, n_jobs=_N_JOBS, progress=progress)

    return make


def _c_index(time, event, risk) -> dict:
    from npc_lib.stats.concordance import concordance_index

    c = concordance_index(time, event, risk)
    return {"c_index": c.c_index, "lower": c.lower, "upper": c.upper, "se": c.se, "p": c.p_value}


def run_training(cohort_dir, sequence: str, out_dir, *, profile: str | Path = "default", seed: int = 0,
                 split_seed: int | None = None, progress: bool = True) -> dict:
    """Train the DL signature of one MR sequence and score it on the training and test cohorts.

    Parameters
    ----------
    cohort_dir : path-like
        Cohort in the SPEC layout.
    sequence : {"T1", "T2", "T1C"}
    out_dir : path-like
        Output folder (see the module docstring).
    profile : str or path
        ``smoke``, ``default``, ``paper`` or a YAML file: the training preset,
        its ``train:`` overrides, ``split_seed`` and ``train_fraction``.
    seed : int
        Seed of the training.
    split_seed : int, optional
        Seed of the training/test split; default the profile's (the book's split).
    progress : bool
        Progress bars.

    Returns
    -------
    dict
        The metrics written to ``metrics_<seq>.json`` (``train_c_index``,
        ``test_c_index``, their CIs, ``epochs``, ``seconds``, ...).
    """
    import keras

    from npc_lib.cohort.load import load_cohort
    from npc_lib.cohort.split import split_cohort
    from npc_lib.model.checkpoint import quiet_numpy_copy_warning
    from npc_lib.model.training import predict_patient_risk, train_signature

    sequence = _check_sequence(sequence)
    out_dir = Path(out_dir)
    params = _profile(profile)
    config = training_config(profile)
    split_seed = int(params["split_seed"] if split_seed is None else split_seed)
    t_start = _time.perf_counter()
    cohort = load_cohort(cohort_dir, sequences=(sequence,), check_images="header")
    split = split_cohort(cohort.patient_ids, train_fraction=float(params["train_fraction"]), seed=split_seed)
    train_ids = split.loc[split["cohort"] == "train", "patient_id"].tolist()
    test_ids = split.loc[split["cohort"] == "test", "patient_id"].tolist()

    t0 = _time.perf_counter()
    instances = _make_instances(cohort, sequence, config, progress)(train_ids, train_ids + test_ids)
    prep_seconds = _time.perf_counter() - t0
    time, event = _outcomes(cohort, train_ids)  # the training cohort's outcomes only
    result = train_signature(instances.subset(train_ids), time, event, config, seed=seed,
                             checkpoint_dir=out_dir / f"checkpoints_{sequence}", progress=progress)

    risk = predict_patient_risk(result.model, instances, config)
    signature = split.set_index("patient_id").loc[cohort.patient_ids].reset_index()
    signature["risk"] = risk.loc[signature["patient_id"]].to_numpy()
    metrics = {"sequence": sequence, "profile": str(params["profile"]), "seed": int(seed),
               "split_seed": split_seed, "n_train": len(train_ids), "n_test": len(test_ids)}
    for name, ids in (("train", train_ids), ("test", test_ids)):
        t, e = _outcomes(cohort, ids)  # test outcomes: read only now, to score the finished signature
        c = _c_index(t, e, risk.loc[ids].to_numpy())
        metrics.update({f"{name}_c_index": c["c_index"], f"{name}_c_index_lower": c["lower"],
                        f"{name}_c_index_upper": c["upper"], f"{name}_c_index_p": c["p"],
                        f"{name}_events": int(e.sum())})
    metrics.update({
        "epochs": result.epochs, "resumed": result.resumed,
        "train_seconds": result.seconds, "preprocess_seconds": prep_seconds,
        "seconds": _time.perf_counter() - t_start,
        "instances_per_second": result.instances / result.seconds if result.seconds > 0 else None,
        "n_instances": len(instances), "backend": keras.backend.backend(), "config": config.to_dict(),
        "history": result.history.replace({np.nan: None}).to_dict(orient="records"),
        "val_patients": result.val_patients,
    })
    with atomic_path(out_dir / f"model_{sequence}.weights.h5") as tmp, quiet_numpy_copy_warning():
        result.model.save_weights(tmp)
    write_json({"config": config.to_dict(), "instances": instances.meta, "sequence": sequence},
               out_dir / f"preprocess_{sequence}.json")
    write_csv(signature[["patient_id", "cohort", "risk"]], out_dir / f"signature_{sequence}.csv")
    write_json(metrics, out_dir / f"metrics_{sequence}.json")
    return metrics


def load_signature_model(out_dir, sequence: str):
    """The trained network of :func:`run_training` and its config: ``(model, TrainConfig, preprocess)``.

    ``preprocess`` is the dict in ``preprocess_<seq>.json`` (the fitted
    standardiser in ``preprocess["instances"]["standardizer"]``).
    """
    from npc_lib.model.seresnext import build_se_resnext
    from npc_lib.model.checkpoint import quiet_numpy_copy_warning
    from npc_lib.model.train_config import TrainConfig

    sequence = _check_sequence(sequence)
    out_dir = Path(out_dir)
    path = out_dir / f"preprocess_{sequence}.json"
    if not path.is_file():
        raise ValueError(f"no trained {sequence} signature in {out_dir} (missing {path.name})")
    preprocess = json.loads(path.read_text())
    config = TrainConfig.from_dict(preprocess["config"])
    model = build_se_resnext(config.network, name="signature")
    with quiet_numpy_copy_warning():
        model.load_weights(out_dir / f"model_{sequence}.weights.h5")
    return model, config, preprocess


def signature_instances(cohort_dir, out_dir, sequence: str, patient_ids=None):
    """Bags of ``patient_ids`` preprocessed exactly as for the trained signature in ``out_dir``.

    Uses the standardiser fitted during :func:`run_training` (saved in
    ``preprocess_<seq>.json``), so the boxes can be fed to the saved network,
    e.g. for Grad-CAM (:func:`npc_lib.model.gradcam.grad_cam`).

    Parameters
    ----------
    cohort_dir : path-like
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
    from npc_lib.cohort.load import load_cohort
    from npc_lib.imaging.instances import build_instances
    from npc_lib.imaging.standardize import HistogramStandardizer

    _, config, preprocess = load_signature_model(out_dir, sequence)
    cohort = load_cohort(cohort_dir, sequences=(sequence,), check_images="header")
    std = HistogramStandardizer.from_dict(preprocess["instances"]["standardizer"])
    ids = cohort.patient_ids if patient_ids is None else list(patient_ids)
    return build_instances(cohort, sequence, ids, std, target_spacing=config.target_spacing, box_mm=config.box_mm,
                           box_px=config.box_px, n_jobs=_N_JOBS)


def run_crossval(cohort_dir, sequence: str, out_dir, *, profile: str | Path = "default", seed: int = 0,
                 n_folds: int = 3, progress: bool = True) -> pd.DataFrame:
    """A8: ``n_folds``-fold cross-validation inside the training cohort of the book's split.

    Each fold refits the image standardisation and the network on the other
    folds and reports the held-out fold's Harrell C-index (95% CI). Writes
    ``crossval_<seq>.csv`` (checkpoints under ``checkpoints_crossval_<seq>/``).

    Returns
    -------
    DataFrame
        One row per fold (see :func:`npc_lib.model.crossval.cross_validate`)
        plus ``sequence``.
    """
    from npc_lib.cohort.load import load_cohort
    from npc_lib.cohort.split import split_cohort
    from npc_lib.model.crossval import cross_validate

    sequence = _check_sequence(sequence)
    out_dir = Path(out_dir)
    params = _profile(profile)
    config = training_config(profile)
    cohort = load_cohort(cohort_dir, sequences=(sequence,), check_images="header")
    split = split_cohort(cohort.patient_ids, train_fraction=float(params["train_fraction"]),
                         seed=int(params["split_seed"]))
    train_ids = split.loc[split["cohort"] == "train", "patient_id"].tolist()
    time, event = _outcomes(cohort, train_ids)
    table = cross_validate(_make_instances(cohort, sequence, config, progress), train_ids, time, event, config,
                           n_folds=n_folds, seed=seed, checkpoint_dir=out_dir / f"checkpoints_crossval_{sequence}",
                           progress=progress)
    table.insert(0, "sequence", sequence)
    write_csv(table, out_dir / f"crossval_{sequence}.csv")
    return table
