"""Handcrafted signatures (A20): per sequence and combined, fitted on the training cohort only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from npc_lib.cohort.split import split_cohort
from npc_lib.radiomics.signature import COMBINED, fit_signatures, signature_name

SEQS = ("T1", "T2", "T1C")


def _cohort(n=240, seed=0, signal="T2_glcm_F2", beta=1.0):
    """A feature table (8 features per sequence), clinical DFS driven by ``signal``, and a split."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:04d}" for i in range(n)]
    cols = {f"{s}_{cls}_F{i}": rng.normal(size=n) * (i + 1) + 10 * i
            for s in SEQS for i, cls in enumerate(["firstorder", "shape", "glcm", "glrlm",
                                                    "glszm", "gldm", "ngtdm", "glcm"])}
    features = pd.DataFrame({"patient_id": ids, **cols})
    lp = np.zeros(n) if signal is None else beta * (features[signal] - features[signal].mean()) / features[signal].std()
    T = rng.exponential(30 * np.exp(-lp))
    C = rng.uniform(6, 90, n)
    clinical = pd.DataFrame({"patient_id": ids, "dfs_time": np.minimum(T, C), "dfs_event": (T <= C).astype(int)})
    return features, clinical, split_cohort(ids, seed=1)


def test_fit_signatures_finds_the_signal_sequence():
    features, clinical, split = _cohort()
    sig = fit_signatures(features, clinical, split, n_folds=5, seed=0, rule="lambda.1se")
    assert list(sig.selections) == [*SEQS, COMBINED]
    assert sig.names == ["HC_T1_sig", "HC_T2_sig", "HC_T1C_sig", "HC_combined_sig"]
    t2, comb = sig.selections["T2"], sig.selections[COMBINED]
    assert "T2_glcm_F2" in t2.features and t2.coefficients["T2_glcm_F2"] > 0
    assert "T2_glcm_F2" in comb.features and sig.combined_pool == "selected"
    pool = {f for s in SEQS for f in sig.selections[s].features}
    assert set(comb.features) <= pool
    assert all(f.startswith("T1_") for f in sig.selections["T1"].features)


def test_fit_signatures_never_reads_test_outcomes():
    features, clinical, split = _cohort(seed=2)
    ref = fit_signatures(features, clinical, split, n_folds=5, seed=0)
    test_ids = set(split.loc[split["cohort"] == "test", "patient_id"])
    scrambled = clinical.copy()
    is_test = scrambled["patient_id"].isin(test_ids)
    scrambled.loc[is_test, "dfs_time"] = np.nan
    scrambled.loc[is_test, "dfs_event"] = 7
    other = fit_signatures(features, scrambled, split, n_folds=5, seed=0)
    assert ref.coefficients().equals(other.coefficients())
    only_train = fit_signatures(features, clinical[~is_test], split, n_folds=5, seed=0)
    assert ref.coefficients().equals(only_train.coefficients())
    assert len(ref.train_ids) == (split["cohort"] == "train").sum()


def test_scores_apply_the_training_fit_to_everyone():
    features, clinical, split = _cohort(seed=3)
    sig = fit_signatures(features, clinical, split, n_folds=5, seed=0)
    scores = sig.scores(features, split)
    assert list(scores.columns) == ["patient_id", "cohort", *sig.names, "imputed"]
    assert (scores["imputed"] == 0).all()
    assert scores["patient_id"].tolist() == features["patient_id"].tolist()
    assert scores["cohort"].tolist() == split.set_index("patient_id").loc[features["patient_id"], "cohort"].tolist()
    train = scores[scores["cohort"] == "train"]
    assert np.allclose(train[sig.names].mean(), 0.0, atol=1e-9)  # centred on the training cohort
    coefs = sig.coefficients()
    c = coefs[coefs["signature"] == "HC_T2_sig"]
    z = (features[c["feature"]] - c["mean"].to_numpy()) / c["scale"].to_numpy()
    assert np.allclose(scores["HC_T2_sig"], z.to_numpy() @ c["coefficient"].to_numpy())


def test_summary_counts_add_up():
    features, clinical, split = _cohort(seed=4)
    sig = fit_signatures(features, clinical, split, n_folds=5, seed=0)
    s = sig.summary()
    assert s["signature"].tolist() == sig.names
    assert (s["features"] == s["non-finite"] + s["near-zero variance"] + s["correlated"]
            + s["lasso candidates"]).all()
    assert s.loc[:2, "features"].tolist() == [8, 8, 8]
    assert s["selected"].tolist() == [len(v.features) for v in sig.selections.values()]


def test_fit_signatures_combined_pool_when_nothing_selected():
    features, clinical, split = _cohort(seed=5, signal=None)
    sig = fit_signatures(features, clinical, split, n_folds=5, seed=0, rule="lambda.1se")
    assert all(not sig.selections[s].features for s in SEQS)
    assert sig.combined_pool == "candidates"
    assert len(sig.selections[COMBINED].candidates) > 8
    assert np.all(sig.scores(features, split)["HC_T1_sig"] == 0.0)


def test_fit_signatures_one_sequence():
    features, clinical, split = _cohort(seed=6)
    sig = fit_signatures(features, clinical, split, sequences="T2", n_folds=5)
    assert list(sig.selections) == ["T2", COMBINED]


def test_fit_signatures_bad_input_named():
    features, clinical, split = _cohort(n=60)
    with pytest.raises(ValueError, match="split: patients of the feature table missing"):
        fit_signatures(features, clinical, split.iloc[1:], n_folds=5)
    with pytest.raises(ValueError, match="endpoint"):
        fit_signatures(features, clinical, split, endpoint="pfs", n_folds=5)
    with pytest.raises(ValueError, match="no feature columns for sequence"):
        fit_signatures(features, clinical, split, sequences=["T1", "FLAIR"], n_folds=5)
    with pytest.raises(ValueError, match="clinical: training patients missing"):
        fit_signatures(features, clinical.iloc[:10], split, n_folds=5)
    with pytest.raises(ValueError, match="duplicate patient_id"):
        fit_signatures(pd.concat([features, features.iloc[:1]]), clinical, split, n_folds=5)
    bad = split.assign(cohort="validation")
    with pytest.raises(ValueError, match="cohort must be 'train' or 'test'"):
        fit_signatures(features, clinical, bad, n_folds=5)
    assert signature_name("T1C") == "HC_T1C_sig"


def test_scores_impute_a_test_patients_missing_feature():
    features, clinical, split = _cohort(seed=7)
    sig = fit_signatures(features, clinical, split, n_folds=5, seed=0, rule="lambda.1se")
    pid = split.loc[split["cohort"] == "test", "patient_id"].iloc[0]
    broken = features.copy()
    broken.loc[broken["patient_id"] == pid, "T2_glcm_F2"] = np.nan
    scores = sig.scores(broken, split).set_index("patient_id")
    n_uses = sum("T2_glcm_F2" in s.features for s in sig.selections.values())
    assert n_uses >= 1 and scores.loc[pid, "imputed"] == n_uses
    assert scores.drop(index=pid)["imputed"].eq(0).all()
    sel = sig.selections["T2"]
    row = broken[broken["patient_id"] == pid]
    z = ((row[sel.features] - sel.mean) / sel.scale).fillna(0.0).to_numpy()[0]
    assert scores.loc[pid, "HC_T2_sig"] == pytest.approx(float(z @ sel.coefficients.to_numpy()))
