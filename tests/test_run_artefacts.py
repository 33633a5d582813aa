"""Tests of npc_lib.run.artefacts: models.json writer, reader and refit check."""

import json

import numpy as np
import pandas as pd
import pytest

from npc_lib.run.artefacts import read_models, refit_models, write_models
from npc_lib.stats import fit_cox


@pytest.fixture
def train():
    rng = np.random.default_rng(1)
    x = rng.normal(size=80)
    t = rng.exponential(np.exp(-0.7 * x))
    return pd.DataFrame({"time": np.minimum(t, 2.0), "event": (t < 2.0).astype(int), "x": x,
                         "z": rng.normal(size=80)})


def _spec(fit, covs):
    return {"covariates": covs, "coef": dict(zip(covs, fit.params.to_numpy().tolist())), "notes": []}


def test_models_round_trip_and_refit(tmp_path, train):
    fit = fit_cox(train, "time", "event", ["x", "z"])
    path = write_models(tmp_path / "models.json", {"m": _spec(fit, ["x", "z"])}, ties="efron",
                        coding={"x": ("x", "a marker"), "z": {"column": "z", "meaning": "noise"}})
    mf = read_models(path)
    assert mf.ties == "efron" and mf.covariates("m") == ["x", "z"]
    assert mf.coding["x"] == {"column": "x", "meaning": "a marker"}
    fits = refit_models(mf, train)
    assert np.allclose(fits["m"].params.to_numpy(), fit.params.to_numpy())
    with pytest.raises(ValueError, match="refitted coefficients differ"):
        refit_models(mf, train.iloc[:60])
    with pytest.raises(ValueError, match=r"no model 'n'"):
        mf.covariates("n")


def test_models_strict_json(tmp_path, train):
    fit = fit_cox(train, "time", "event", ["x"])
    spec = {**_spec(fit, ["x"]), "p": {"x": float("nan")}}
    text = write_models(tmp_path / "m.json", {"m": spec}, ties="breslow", coding={}).read_text()
    assert "NaN" not in text and json.loads(text)["models"]["m"]["p"]["x"] is None


@pytest.mark.parametrize("spec, match", [
    ({"covariates": ["x"]}, r"lacks \['coef'\]"),
    ({"covariates": ["x"], "coef": {}}, r"no coefficient for \['x'\]"),
    ({"covariates": ["x", "x"], "coef": {"x": 1.0}}, "distinct names"),
    ({"covariates": ["x"], "coef": {"x": float("inf")}}, "non-finite coefficient"),
])
def test_write_models_bad_spec(tmp_path, spec, match):
    with pytest.raises(ValueError, match=match):
        write_models(tmp_path / "m.json", {"m": spec}, ties="efron", coding={})
    assert not (tmp_path / "m.json").exists()


def test_write_models_bad_ties_and_empty(tmp_path):
    with pytest.raises(ValueError, match="ties must be"):
        write_models(tmp_path / "m.json", {"m": {"covariates": [], "coef": {}}}, ties="exact", coding={})
    with pytest.raises(ValueError, match="nothing to write"):
        write_models(tmp_path / "m.json", {}, ties="efron", coding={})


def test_read_models_missing_and_malformed(tmp_path):
    with pytest.raises(ValueError, match="run chapter 05_models first"):
        read_models(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"endpoint": "dfs"}')
    with pytest.raises(ValueError, match="field 'time_unit' missing"):
        read_models(tmp_path / "bad.json")
