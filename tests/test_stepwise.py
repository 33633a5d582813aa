"""Tests for npc_lib.stats.stepwise against MASS::stepAIC (tests/data)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.stats.cox import fit_cox
from npc_lib.stats.stepwise import stepwise_cox

DATA = Path(__file__).parent / "data"


@functools.lru_cache(maxsize=None)
def _load(ds: str):
    return pd.read_csv(DATA / f"{ds}.csv"), json.loads((DATA / f"{ds}.json").read_text())


@pytest.mark.parametrize("ds", ["lung", "veteran"])
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_stepwise_cox_matches_r_stepaic(ds, ties):
    d, J = _load(ds)
    R = J["stepwise"][ties]
    s = stepwise_cox(d, "time", "status", R["start_covariates"], ties=ties)
    assert s.selected == R["selected"]
    assert s.dropped == R["dropped_in_order"]
    np.testing.assert_allclose(s.aic_path, R["path_AIC"], rtol=1e-9)
    assert s.aic_path[0] == pytest.approx(R["start_AIC"], rel=1e-9)
    assert s.final.aic == pytest.approx(R["final_AIC"], rel=1e-9)
    assert s.final.loglik == pytest.approx(R["final_loglik"], rel=1e-9)
    fm = R["final_model"]
    np.testing.assert_allclose(s.final.params[fm["covariates"]].to_numpy(),
                               [fm["coef"][c] for c in fm["covariates"]], rtol=1e-6)
    np.testing.assert_allclose(s.final.summary.loc[fm["covariates"], "se"].to_numpy(),
                               [fm["se"][c] for c in fm["covariates"]], rtol=1e-6)


def test_stepwise_cox_path_is_decreasing_and_steps_complete():
    d, J = _load("veteran")
    start = J["stepwise"]["efron"]["start_covariates"]
    s = stepwise_cox(d, "time", "status", start)
    assert np.all(np.diff(s.aic_path) < 0)
    assert len(s.aic_path) == len(s.dropped) + 1
    assert sorted(s.selected + s.dropped) == sorted(start)
    # every step lists <none> and each remaining covariate; the last step keeps the model
    counts = s.steps.groupby("step").size().tolist()
    assert counts == [len(start) + 1 - k for k in range(len(s.dropped) + 1)]
    last = s.steps[s.steps["step"] == len(s.dropped)]
    assert last.loc[last["aic"].idxmin(), "dropped"] == "<none>"


def test_stepwise_cox_each_drop_is_the_best_available():
    """Naive check: at each step, refit every drop and confirm the chosen one has the lowest AIC."""
    d, J = _load("veteran")
    current = list(J["stepwise"]["efron"]["start_covariates"])
    s = stepwise_cox(d, "time", "status", current)
    for dropped in s.dropped:
        aics = {v: fit_cox(d, "time", "status", [c for c in current if c != v]).aic for v in current}
        assert min(aics, key=aics.get) == dropped
        current.remove(dropped)
    assert current == s.selected


def test_stepwise_cox_can_reach_the_null_model():
    rng = np.random.default_rng(5)
    d = pd.DataFrame(rng.normal(size=(80, 3)), columns=["n1", "n2", "n3"])
    d["t"], d["e"] = rng.exponential(size=80), 1
    s = stepwise_cox(d, "t", "e", ["n1", "n2", "n3"])
    assert s.selected == [] and s.final.covariates == ()
    assert s.aic_path[-1] == pytest.approx(-2 * s.final.loglik_null)


def test_stepwise_cox_rejects_bad_input():
    d, _ = _load("lung")
    with pytest.raises(ValueError, match="covariates is empty"):
        stepwise_cox(d, "time", "status", [])
    with pytest.raises(ValueError, match=r"covariates not in df: \['nope'\]"):
        stepwise_cox(d, "time", "status", ["age", "nope"])
    with pytest.raises(ValueError, match="ties must be one of"):
        stepwise_cox(d, "time", "status", ["age"], ties="exact")
