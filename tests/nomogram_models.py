"""Nomogram model documents for the calculator tests: a Cox fit on synthetic clinical data.

``clinical_frame`` draws raw clinical values as ``clinical.csv`` holds them;
``model_doc`` fits a Cox model on the coded covariates (every clinical
covariate and the three signatures by default, a superset of any model that
chapter 05's selection can give) and returns the document that
:func:`write_nomogram_model` writes, with the library's clinical coding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from npc_lib.cohort.covariates import (AXIS_LABELS, CLINICAL_COVARIATES, SIGNATURES, clinical_coding,
                                       code_clinical)
from npc_lib.stats.cox import fit_cox
from npc_lib.stats.nomogram import Nomogram
from npc_lib.stats.nomogram_export import nomogram_model

ALL_COVARIATES = (*CLINICAL_COVARIATES, *SIGNATURES)
#: like the default run's Model_clinic+dl (clinical part: what its selection kept)
SUBSET = ("age", "sex_female", "hgb", "drinking", "alb", "ldh", "ebv_dna_ge_4000", *SIGNATURES)


def clinical_frame(n: int = 300, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    yn = np.array(["no", "yes"])
    d = pd.DataFrame({
        "patient_id": [f"P{i:03d}" for i in range(n)],
        "age": rng.normal(46, 10, n).round(),
        "sex": np.where(rng.random(n) < 0.27, "F", "M"),
        "hgb": rng.normal(140, 14, n).round(),
        "family_history": yn[(rng.random(n) < 0.3).astype(int)],
        "smoking": yn[(rng.random(n) < 0.4).astype(int)],
        "drinking": yn[(rng.random(n) < 0.2).astype(int)],
        "who_type": np.where(rng.random(n) < 0.05, "I-II", "III"),
        "alb": rng.normal(44, 4, n).round(1),
        "crp": np.round(np.exp(rng.normal(0.3, 1.2, n)), 2),
        "ldh": np.round(np.exp(rng.normal(5.2, 0.3, n))),
        "ebv_dna": np.round(np.exp(rng.normal(8.0, 2.0, n))),
    })
    for s in SIGNATURES:
        d[s] = rng.normal(0, 1, n)
    return d


def fitted(covariates=ALL_COVARIATES, n: int = 300, seed: int = 11) -> tuple[Nomogram, pd.DataFrame]:
    """A nomogram fitted on coded synthetic data, and that frame (raw clinical columns kept too)."""
    clinical = clinical_frame(n, seed)
    X = pd.concat([code_clinical(clinical).drop(columns="patient_id"), clinical[list(SIGNATURES)]], axis=1)
    rng = np.random.default_rng(seed + 1)
    lp = (0.03 * (X["age"] - 46) + 0.9 * X["ebv_dna_ge_4000"] - 0.02 * (X["hgb"] - 140) + 0.4 * X["sex_female"]
          + 0.6 * X["DL_T1_sig"] + 0.4 * X["DL_T2_sig"] + 0.5 * X["DL_T1C_sig"])
    X["time"] = np.round(rng.exponential(80 * np.exp(-lp)), 1) + 0.5
    X["event"] = (X["time"] < rng.uniform(20, 120, n)).astype(int)
    X["time"] = np.minimum(X["time"], 120.0)
    covs = list(covariates)
    nom = Nomogram.from_cox(fit_cox(X, "time", "event", covs), X[covs])
    raw = clinical.drop(columns=["patient_id", *SIGNATURES]).add_prefix("raw_")
    return nom, pd.concat([X, raw], axis=1)


def model_doc(covariates=ALL_COVARIATES, n: int = 300, seed: int = 11, times=(36.0, 60.0)) -> dict:
    nom, _ = fitted(covariates, n, seed)
    return nomogram_model(nom, times=list(times), coding=clinical_coding(), labels=AXIS_LABELS,
                          name="Model_clinic+dl")
