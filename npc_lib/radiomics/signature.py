"""Handcrafted radiomic signatures: one per sequence and one combined (A20).

:func:`fit_signatures` takes a feature table (:func:`~npc_lib.radiomics.extract.extract_cohort`),
the clinical table and the training/test split, and fits, on the **training
patients only** (their features and outcomes; test outcomes are never read):

* ``HC_<seq>_sig`` for each sequence: :func:`~npc_lib.radiomics.select.select_features`
  on that sequence's features;
* ``HC_combined_sig``: the same reduction on the union of the features the
  per-sequence lassos kept (if none kept any: on the union of their filter
  survivors; :attr:`HandcraftedSignatures.combined_pool` says which).

Each signature is its lasso Cox linear predictor on the training z-scores
(higher = worse; mean 0 over the training cohort), applied unchanged to every
patient by :meth:`HandcraftedSignatures.scores`.
"""

from __future__ import annotations

__all__ = ["COMBINED", "signature_name", "HandcraftedSignatures", "fit_signatures"]

from dataclasses import dataclass, field

import pandas as pd

from npc_lib.cohort import schema
from npc_lib.radiomics.extract import feature_columns
from npc_lib.radiomics.select import FeatureSelection, select_features

#: key of the combined signature
COMBINED = "combined"


def signature_name(key: str) -> str:
    """Display name: ``"T1"`` -> ``"HC_T1_sig"``, ``"combined"`` -> ``"HC_combined_sig"``."""
    return f"HC_{key}_sig"


def _check_table(features: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(features, pd.DataFrame) or "patient_id" not in features.columns:
        raise ValueError("features must be a DataFrame with a patient_id column")
    ids = features["patient_id"].astype(str)
    if ids.duplicated().any():
        raise ValueError(f"features: duplicate patient_id {ids[ids.duplicated()].iloc[0]!r}")
    return features.assign(patient_id=ids).set_index("patient_id")


def _check_split(split: pd.DataFrame, ids) -> pd.Series:
    if not isinstance(split, pd.DataFrame) or not {"patient_id", "cohort"} <= set(split.columns):
        raise ValueError("split must be a DataFrame with patient_id and cohort columns")
    s = split.assign(patient_id=split["patient_id"].astype(str)).set_index("patient_id")["cohort"]
    missing = sorted(set(ids) - set(s.index))
    if missing:
        raise ValueError(f"split: patients of the feature table missing: {missing[:5]}")
    bad = sorted(set(s.loc[list(ids)]) - {"train", "test"})
    if bad:
        raise ValueError(f"split: cohort must be 'train' or 'test', got {bad}")
    return s.loc[list(ids)]


def _train_outcome(clinical: pd.DataFrame, train_ids: list[str], endpoint: str):
    if endpoint not in schema.ENDPOINTS:
        raise ValueError(f"endpoint must be one of {schema.ENDPOINTS}, got {endpoint!r}")
    tcol, ecol = schema.time_col(endpoint), schema.event_col(endpoint)
    if not isinstance(clinical, pd.DataFrame) or not {"patient_id", tcol, ecol} <= set(clinical.columns):
        raise ValueError(f"clinical must be a DataFrame with patient_id, {tcol} and {ecol} columns")
    c = clinical.assign(patient_id=clinical["patient_id"].astype(str)).set_index("patient_id")
    missing = sorted(set(train_ids) - set(c.index))
    if missing:
        raise ValueError(f"clinical: training patients missing: {missing[:5]}")
    train = c.loc[train_ids, [tcol, ecol]]  # only training rows are ever read
    return train[tcol].to_numpy(dtype=float), train[ecol].to_numpy()


@dataclass(frozen=True)
class HandcraftedSignatures:
    """Fitted handcrafted signatures.

    Attributes
    ----------
    selections : dict
        ``"T1"``, ``"T2"``, ``"T1C"`` (those fitted) and ``"combined"`` ->
        :class:`~npc_lib.radiomics.select.FeatureSelection`.
    combined_pool : str
        ``"selected"`` (union of the per-sequence lasso features) or
        ``"candidates"`` (union of the per-sequence filter survivors, used only
        when no sequence kept a feature).
    train_ids : list of str
    endpoint : str
    """

    selections: dict
    combined_pool: str
    train_ids: list = field(repr=False)
    endpoint: str = "dfs"

    @property
    def names(self) -> list[str]:
        """Display names, in fitting order (sequences, then combined)."""
        return [signature_name(k) for k in self.selections]

    def scores(self, features: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
        """Every patient's signatures.

        Parameters
        ----------
        features : DataFrame
            Feature table (``patient_id`` + feature columns).
        split : DataFrame
            ``patient_id``, ``cohort``.

        Returns
        -------
        DataFrame
            ``patient_id``, ``cohort``, one column per signature
            (:attr:`names`), in the feature table's row order, and ``imputed``:
            how many selected feature values of the patient were non-finite
            and replaced by the training mean (0 for every training patient,
            whose features passed the non-finite filter).
        """
        table = _check_table(features)
        cohort = _check_split(split, table.index)
        out = pd.DataFrame({"patient_id": table.index, "cohort": cohort.to_numpy()})
        imputed = 0
        for key, sel in self.selections.items():
            out[signature_name(key)] = sel.predict(table, impute=True)
            imputed = imputed + sel.n_imputed(table)
        out["imputed"] = imputed
        return out

    def coefficients(self) -> pd.DataFrame:
        """One row per (signature, feature): ``coefficient`` (log HR per training SD), ``mean``, ``scale``."""
        rows = [{"signature": signature_name(k), "feature": f, "coefficient": float(sel.coefficients[f]),
                 "mean": float(sel.mean[f]), "scale": float(sel.scale[f])}
                for k, sel in self.selections.items() for f in sel.features]
        return pd.DataFrame(rows, columns=["signature", "feature", "coefficient", "mean", "scale"])

    def summary(self) -> pd.DataFrame:
        """Per signature: features in, dropped by each filter, lasso candidates, selected, rule, penalty,
        and how many of the cross-validation's path fits hit their iteration limit."""
        rows = []
        for k, sel in self.selections.items():
            n_in = len(sel.candidates) + sum(len(v) for v in sel.dropped.values())
            rows.append({"signature": signature_name(k), "features": n_in,
                         "non-finite": len(sel.dropped["nonfinite"]),
                         "near-zero variance": len(sel.dropped["near_zero_variance"]),
                         "correlated": len(sel.dropped["correlated"]),
                         "lasso candidates": len(sel.candidates), "selected": len(sel.features),
                         "rule": sel.rule, "penalty": sel.alpha,
                         "fits not converged": sel.cv.n_unconverged})
        return pd.DataFrame(rows)


def fit_signatures(features: pd.DataFrame, clinical: pd.DataFrame, split: pd.DataFrame, *,
                   sequences=None, endpoint: str = "dfs", rule: str = "lambda.min", n_folds: int = 10,
                   seed: int = 0, corr_threshold: float = 0.9) -> HandcraftedSignatures:
    """Fit the per-sequence and the combined handcrafted signature on the training cohort.

    Parameters
    ----------
    features : DataFrame
        ``patient_id`` + ``"<seq>_<class>_<Feature>"`` columns, all patients.
    clinical : DataFrame
        ``patient_id`` and the endpoint's time/event columns; only the
        training patients' rows are read.
    split : DataFrame
        ``patient_id``, ``cohort`` (``"train"``/``"test"``).
    sequences : iterable of str, optional
        Default: every sequence with columns in ``features``, in
        :data:`~npc_lib.cohort.schema.SEQUENCES` order.
    endpoint : str
        Outcome (``"dfs"``, the paper's primary endpoint).
    rule, n_folds, seed, corr_threshold
        :func:`~npc_lib.radiomics.select.select_features`; the same seed
        (fold assignment) for every signature.

    Returns
    -------
    HandcraftedSignatures
    """
    table = _check_table(features)
    cohort = _check_split(split, table.index)
    train_ids = [p for p in table.index if cohort[p] == "train"]
    if len(train_ids) < n_folds:
        raise ValueError(f"split: {len(train_ids)} training patients, fewer than n_folds={n_folds}")
    time, event = _train_outcome(clinical, train_ids, endpoint)
    seqs = ([s for s in schema.SEQUENCES if feature_columns(table, s)] if sequences is None
            else ([sequences] if isinstance(sequences, str) else list(sequences)))
    empty = [s for s in seqs if not feature_columns(table, s)]
    if not seqs or empty:
        raise ValueError(f"features: no feature columns for sequence(s) {empty or seqs}")
    X = table.loc[train_ids]
    kw = dict(rule=rule, n_folds=n_folds, seed=seed, corr_threshold=corr_threshold)
    selections: dict[str, FeatureSelection] = {
        s: select_features(X[feature_columns(table, s)], time, event, **kw) for s in seqs}
    pool = [f for s in seqs for f in selections[s].features]
    combined_pool = "selected"
    if not pool:
        pool, combined_pool = [f for s in seqs for f in selections[s].candidates], "candidates"
    selections[COMBINED] = select_features(X[pool], time, event, **kw)
    return HandcraftedSignatures(selections=selections, combined_pool=combined_pool,
                                 train_ids=train_ids, endpoint=endpoint)
