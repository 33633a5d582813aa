import numpy as np
import pandas as pd
import pytest

from npc_lib.stats.cox import fit_cox
from npc_lib.stats.nomogram import Nomogram
from npc_lib.stats.nomogram_export import NomogramCalculator, export_nomogram


@pytest.fixture
def nomogram():
    rng = np.random.default_rng(4)
    n = 150
    d = pd.DataFrame({"age": rng.normal(45, 10, n).round(), "ebv": rng.integers(0, 2, n).astype(float),
                      "sig": rng.normal(0, 1, n)})
    lp = 0.03 * d["age"] + 0.7 * d["ebv"] + 0.8 * d["sig"]
    d["t"] = np.round(rng.exponential(60 * np.exp(-lp + lp.mean())), 1) + 0.1
    d["e"] = (rng.random(n) < 0.7).astype(int)
    fit = fit_cox(d, "t", "e", ["age", "ebv", "sig"])
    return Nomogram.from_cox(fit, d[["age", "ebv", "sig"]]), d


def test_calculator_matches_nomogram(nomogram, tmp_path):
    nom, d = nomogram
    path = export_nomogram(nom, [36, 60], tmp_path / "nomogram.json")
    calc = NomogramCalculator.from_json(path)
    for i in range(5):
        row = d.iloc[[i]][["age", "ebv", "sig"]]
        r = calc.predict(row.iloc[0].to_dict())
        assert r["total_points"] == pytest.approx(float(nom.total_points(row)[0]), rel=1e-12)
        for c, p in nom.points(row).iloc[0].items():
            assert r["points"][c] == pytest.approx(p, rel=1e-12, abs=1e-12)
        for t in (36, 60):
            assert r["survival"][float(t)] == pytest.approx(float(nom.survival([r["total_points"]], t)[0]), rel=1e-10)


def test_calculator_missing_field(nomogram, tmp_path):
    calc = NomogramCalculator.from_json(export_nomogram(nomogram[0], [36], tmp_path / "m.json"))
    with pytest.raises(ValueError, match=r"values: missing field\(s\) \['sig'\]"):
        calc.predict({"age": 50, "ebv": 1})


def test_calculator_rejects_other_json(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="is not a nomogram file"):
        NomogramCalculator.from_json(f)
    with pytest.raises(ValueError, match="file not found"):
        NomogramCalculator.from_json(tmp_path / "none.json")


def test_export_needs_times(nomogram, tmp_path):
    with pytest.raises(ValueError, match="times"):
        export_nomogram(nomogram[0], [], tmp_path / "m.json")
