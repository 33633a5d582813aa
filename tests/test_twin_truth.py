"""Tests of npc_lib.twin.truth: the oracle's true risk and survival."""

import numpy as np
import pandas as pd
import pytest

from npc_lib.cohort import schema
from npc_lib.twin.outcomes import WEIBULL_SCALE_MONTHS, WEIBULL_SHAPE
from npc_lib.twin.truth import read_truth, true_dfs_risk, true_dfs_survival


def test_read_truth_only_when_present(tmp_path):
    assert read_truth(tmp_path) is None
    pd.DataFrame({c: ["P1"] if c == "patient_id" else [0.1] for c in schema.TRUTH_COLUMNS}).to_csv(
        tmp_path / schema.TRUTH_FILE, index=False)
    assert read_truth(tmp_path).columns.tolist() == list(schema.TRUTH_COLUMNS)
    pd.DataFrame({"patient_id": ["P1"]}).to_csv(tmp_path / schema.TRUTH_FILE, index=False)
    with pytest.raises(ValueError, match="missing column"):
        read_truth(tmp_path)


def test_true_dfs_survival_matches_weibull_ph():
    lp = np.array([-1.0, 0.0, 1.5])
    t = np.array([0.0, 36.0, 60.0])
    s = true_dfs_survival(lp, t)
    assert s.shape == (3, 3)
    want = np.exp(-((60.0 / WEIBULL_SCALE_MONTHS) ** WEIBULL_SHAPE) * np.exp(1.5))
    assert s[2, 2] == pytest.approx(want, rel=1e-12)
    assert np.all(np.diff(s, axis=1) <= 0) and np.all(np.diff(s, axis=0) <= 0)
    assert true_dfs_risk(lp, 60.0) == pytest.approx(1 - s[:, 2])


def test_true_dfs_survival_bad_input():
    with pytest.raises(ValueError, match="lp_total"):
        true_dfs_survival([np.nan], [1.0])
    with pytest.raises(ValueError, match="times"):
        true_dfs_survival([0.0], [-1.0])
