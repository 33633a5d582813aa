"""The files that travel between chapters: one writer and one reader each.

* ``models.json`` (chapter 05 -> 06 and later): the selected Cox models,
  their covariates and coefficients, the coding of the covariates;
  :func:`write_models`, :func:`read_models`, and :func:`refit_models`, which
  refits them on the same training patients and checks the coefficients.

The split (``split.csv``: :func:`npc_lib.cohort.split.write_split` /
``read_split``), the signatures (``signature_<seq>.csv``: written by
:func:`npc_lib.runners.train.run_training`, read by
:func:`npc_lib.cohort.covariates.read_signatures`) and the nomogram model
(``nomogram.json``: :mod:`npc_lib.stats.nomogram_export`) have their writer
and reader beside the code that makes them; :class:`npc_lib.run.Run` hands
them all out.
"""

from __future__ import annotations

__all__ = ["ModelsFile", "write_models", "read_models", "refit_models", "MODELS_VERSION"]

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from npc_lib._io import read_json, write_json

MODELS_VERSION = 1
_MODEL_KEYS = ("covariates", "coef")


def _check_model(name: str, spec: Mapping[str, Any], source: str) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise ValueError(f"{source}: model {name!r} must be a mapping")
    missing = [k for k in _MODEL_KEYS if k not in spec]
    if missing:
        raise ValueError(f"{source}: model {name!r} lacks {missing}")
    covariates = list(spec["covariates"])
    if not all(isinstance(c, str) for c in covariates) or len(set(covariates)) != len(covariates):
        raise ValueError(f"{source}: model {name!r}: covariates must be distinct names, got {covariates!r}")
    coef = spec["coef"]
    absent = [c for c in covariates if c not in coef]
    if absent:
        raise ValueError(f"{source}: model {name!r}: no coefficient for {absent}")
    bad = [c for c in covariates if coef[c] is None or not np.isfinite(float(coef[c]))]
    if bad:
        raise ValueError(f"{source}: model {name!r}: non-finite coefficient for {bad}")
    return {**dict(spec), "covariates": covariates, "coef": {c: float(coef[c]) for c in covariates}}


@dataclasses.dataclass(frozen=True)
class ModelsFile:
    """The content of ``models.json``.

    Attributes
    ----------
    endpoint : str
        ``"dfs"``.
    time_unit : str
        ``"months"``.
    ties : {"efron", "breslow"}
    coding : dict
        ``{covariate: {"column": source column, "meaning": text}}``.
    models : dict
        ``{model name: spec}``; each spec has at least ``covariates`` (list)
        and ``coef`` (``{covariate: log hazard ratio}``), and whatever the
        selection recorded (``selected``, ``aic_path``, ``notes``, ...).
    """

    endpoint: str
    time_unit: str
    ties: str
    coding: dict
    models: dict

    def covariates(self, name: str) -> list[str]:
        """The covariates of model ``name``."""
        if name not in self.models:
            raise ValueError(f"models.json: no model {name!r}; it holds {sorted(self.models)}")
        return list(self.models[name]["covariates"])


def write_models(path: str | os.PathLike, models: Mapping[str, Mapping[str, Any]], *, ties: str,
                 coding: Mapping[str, Any], endpoint: str = "dfs", time_unit: str = "months") -> Path:
    """Validate and write ``models.json`` (strict JSON, atomic).

    Parameters
    ----------
    path : path-like
    models : mapping
        ``{name: spec}`` as :meth:`npc_lib.stats.ModelSelection.to_dict` gives.
    ties : {"efron", "breslow"}
    coding : mapping
        ``{covariate: (source column, meaning)}`` or
        ``{covariate: {"column": ..., "meaning": ...}}``.
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    if not models:
        raise ValueError("models: nothing to write")
    checked = {str(n): _check_model(str(n), s, "models") for n, s in models.items()}
    code = {k: (dict(v) if isinstance(v, Mapping) else {"column": v[0], "meaning": v[1]}) for k, v in coding.items()}
    return write_json({"version": MODELS_VERSION, "endpoint": endpoint, "time_unit": time_unit, "ties": ties,
                       "coding": code, "models": checked}, path)


def read_models(path: str | os.PathLike) -> ModelsFile:
    """Read and validate a ``models.json`` written by :func:`write_models`."""
    path = Path(path)
    data = read_json(path, "models.json", hint=" (run chapter 05_models first)")
    for key in ("endpoint", "time_unit", "ties", "coding", "models"):
        if key not in data:
            raise ValueError(f"{path}: field {key!r} missing")
    if data.get("version", MODELS_VERSION) != MODELS_VERSION:
        raise ValueError(f"{path}: version {data.get('version')!r}, expected {MODELS_VERSION}")
    models = {n: _check_model(n, s, str(path)) for n, s in data["models"].items()}
    return ModelsFile(endpoint=data["endpoint"], time_unit=data["time_unit"], ties=data["ties"],
                      coding=dict(data["coding"]), models=models)


def refit_models(models: ModelsFile, train: pd.DataFrame, *, duration_col: str = "time", event_col: str = "event",
                 rtol: float = 1e-6) -> dict[str, Any]:
    """Refit every model of ``models`` on ``train`` and check it reproduces the saved coefficients.

    Returns
    -------
    dict
        ``{name: CoxResult}`` (:func:`npc_lib.stats.fit_cox`).

    Raises
    ------
    ValueError
        A covariate missing from ``train``, or coefficients that differ from
        the file's by more than ``rtol`` (other training patients or data).
    """
    from npc_lib.stats import fit_cox

    fits = {}
    for name, spec in models.models.items():
        missing = [c for c in spec["covariates"] if c not in train.columns]
        if missing:
            raise ValueError(f"model {name!r}: covariate(s) {missing} not in the training frame")
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            fit = fit_cox(train, duration_col, event_col, spec["covariates"], ties=models.ties)
        saved = np.array([spec["coef"][c] for c in spec["covariates"]])
        if not np.allclose(saved, fit.params.to_numpy(), rtol=rtol, atol=1e-10):
            raise ValueError(f"model {name!r}: refitted coefficients differ from models.json "
                             f"(not the same training patients or data?)")
        fits[name] = fit
    return fits
