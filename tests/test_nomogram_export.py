import json

import numpy as np
import pandas as pd
import pytest
from nomogram_models import ALL_COVARIATES, SUBSET, clinical_frame, fitted, model_doc

from npc_lib.cohort.covariates import AXIS_LABELS, CODING, SIGNATURES, clinical_coding, code_clinical
from npc_lib.stats.cox import fit_cox
from npc_lib.stats.nomogram import Nomogram
from npc_lib.stats.nomogram_export import (MODEL_FORMAT, NomogramCalculator, nomogram_model, read_nomogram_model,
                                           updated_nomogram_model, write_model_document, write_nomogram_model)

NUMBER_CODING = {c: {"variable": c, "kind": "number"} for c in ("age", "ebv", "sig")}

RAW = {"age": 50, "sex": "F", "hgb": 135, "family_history": "no", "smoking": "yes", "drinking": "no",
       "who_type": "III", "alb": 44.0, "crp": 2.5, "ldh": 500, "ebv_dna": 3200,
       "DL_T1_sig": 0.4, "DL_T2_sig": -0.4, "DL_T1C_sig": 0.0}


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


@pytest.fixture(scope="module")
def full():
    nom, frame = fitted(ALL_COVARIATES)
    doc = nomogram_model(nom, times=[36, 60], coding=clinical_coding(), labels=AXIS_LABELS)
    return nom, frame, NomogramCalculator.from_model(doc)


@pytest.fixture(scope="module")
def subset():
    return NomogramCalculator.from_model(model_doc(SUBSET))


def test_calculator_matches_nomogram(nomogram, tmp_path):
    nom, d = nomogram
    path = write_nomogram_model(nom, tmp_path / "nomogram.json", times=[36, 60], coding=NUMBER_CODING)
    calc = NomogramCalculator.from_json(path)
    for i in range(5):
        row = d.iloc[[i]][["age", "ebv", "sig"]]
        r = calc.predict(row.iloc[0].to_dict())
        assert r.total_points == pytest.approx(float(nom.total_points(row)[0]), rel=1e-12)
        for c, p in nom.points(row).iloc[0].items():
            assert r.points[c] == pytest.approx(p, rel=1e-12, abs=1e-12)
        for t in (36, 60):
            assert r.survival[float(t)] == pytest.approx(float(nom.survival([r.total_points], t)[0]), rel=1e-10)


def test_calculator_missing_field(nomogram, tmp_path):
    calc = NomogramCalculator.from_json(write_nomogram_model(nomogram[0], tmp_path / "m.json", times=[36],
                                                             coding=NUMBER_CODING))
    with pytest.raises(ValueError, match=r"values: missing field\(s\) \['sig'\]"):
        calc.predict({"age": 50, "ebv": 1})


def test_calculator_rejects_other_json(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="is not a nomogram file"):
        NomogramCalculator.from_json(f)
    with pytest.raises(ValueError, match="file not found"):
        NomogramCalculator.from_json(tmp_path / "none.json")
    f.write_text("{nope")
    with pytest.raises(ValueError, match="is not JSON"):
        read_nomogram_model(f)


def test_export_needs_times(nomogram, tmp_path):
    with pytest.raises(ValueError, match="times"):
        write_nomogram_model(nomogram[0], tmp_path / "m.json", times=[], coding=NUMBER_CODING)
    with pytest.raises(ValueError, match="times: must be distinct and positive"):
        write_nomogram_model(nomogram[0], tmp_path / "m.json", times=[36, 36], coding={})


def test_clinical_coding_matches_code_clinical(full):
    """The file's coding gives, for every covariate, what code_clinical gives (the fitting data's coding)."""
    _, _, calc = full
    clinical = clinical_frame(60, seed=3)
    clinical.loc[0, ["ebv_dna", "crp"]] = [4000.0, 3.0]      # the cut-offs themselves
    clinical.loc[1, ["ebv_dna", "crp"]] = [3999.0, 3.01]
    coded = code_clinical(clinical)
    for i, row in clinical.iterrows():
        values = {k: row[k] for k in [*{src for src, _ in CODING.values()}, *SIGNATURES]}
        got, filled, unused = calc.encode(values)
        assert filled == {} and unused == []
        expected = {**coded.iloc[i][list(CODING)].to_dict(), **{s: row[s] for s in SIGNATURES}}
        assert got == pytest.approx(expected, abs=0)
    assert calc.encode({**RAW, "ebv_dna": 4000, "crp": 3.0})[0]["ebv_dna_ge_4000"] == 1.0
    assert calc.encode({**RAW, "ebv_dna": 4000, "crp": 3.0})[0]["crp_above_3"] == 0.0


def test_predict_clinical_matches_nomogram(full):
    nom, frame, calc = full
    for i in range(0, 60, 7):
        row = frame.iloc[i]
        raw = {k[4:]: row[k] for k in frame.columns if k.startswith("raw_")}
        raw.update({s: row[s] for s in SIGNATURES})
        r = calc.predict_clinical(raw)
        coded = frame.iloc[[i]][list(nom.covariates)]
        assert r.total_points == pytest.approx(float(nom.total_points(coded)[0]), rel=1e-12)
        for t in (36, 60):
            assert r.survival[float(t)] == pytest.approx(float(nom.survival(nom.total_points(coded), t)[0]),
                                                             rel=1e-10)


def test_predict_clinical_missing_variable_named(subset):
    values = {k: v for k, v in RAW.items() if k not in ("sex", "hgb")}
    with pytest.raises(ValueError, match=r"missing variable\(s\) \['sex', 'hgb'\].*fill-missing"):
        subset.predict_clinical(values)


def test_predict_clinical_fill_missing_says_which(full, subset):
    nom = full[0]
    values = {k: v for k, v in RAW.items() if k not in ("sex", "hgb", "ebv_dna")}
    r = full[2].predict_clinical(values, fill_missing=True)
    adjust = nom.datadist.limits.loc["Adjust to"]
    assert r.filled == {"sex": "M", "hgb": f"{adjust['hgb']:.6g} g/L", "ebv_dna": "< 4000 copy/mL"}
    assert r.covariate_values["hgb"] == adjust["hgb"] and r.covariate_values["sex_female"] == 0.0
    complete = full[2].predict_clinical({**values, "sex": "M", "hgb": adjust["hgb"], "ebv_dna": 10.0})
    assert r.total_points == complete.total_points
    assert subset.predict_clinical(RAW).filled == {}


def test_predict_clinical_unused_and_unknown(subset):
    r = subset.predict_clinical(RAW)
    assert r.unused == ["family_history", "smoking", "who_type", "crp"]
    with pytest.raises(ValueError, match=r"unknown variable\(s\) \['agee'\]"):
        subset.predict_clinical({**RAW, "agee": 50})
    with pytest.raises(ValueError, match=r"\['sex_female'\] are the model's internal coding.*\['sex'\]"):
        subset.predict_clinical({**RAW, "sex_female": 1})


@pytest.mark.parametrize("field, value, message", [
    ("sex", "X", r"sex: unknown value 'X' \(allowed: M, F\)"),
    ("hgb", "abc", r"hgb: not a number: 'abc' \(give g/L\)"),
    ("alb", float("nan"), "alb: not a finite number"),
    ("ebv_dna", "< 3000", r"ebv_dna: not a number: '< 3000'"),
])
def test_predict_clinical_bad_value(subset, field, value, message):
    with pytest.raises(ValueError, match=message):
        subset.predict_clinical({**RAW, field: value})


def test_predict_clinical_printed_classes_and_case(full):
    calc = full[2]
    for text, coded in (("< 4000", 0.0), (">= 4000", 1.0), ("≥4000", 1.0), (">=4000.0", 1.0)):
        assert calc.encode({**RAW, "ebv_dna": text})[0]["ebv_dna_ge_4000"] == coded
    for text, coded in (("<= 3", 0.0), ("> 3", 1.0)):
        assert calc.encode({**RAW, "crp": text})[0]["crp_above_3"] == coded
    got = calc.encode({**RAW, "sex": "f", "smoking": "YES", "who_type": "i-ii", "hgb": "135"})[0]
    assert (got["sex_female"], got["smoking"], got["who_I_II"], got["hgb"]) == (1.0, 1.0, 1.0, 135.0)


def test_predict_clinical_outside_axis(subset):
    r = subset.predict_clinical({**RAW, "DL_T1C_sig": 50.0})
    assert r.outside_axis == ["DL_T1C_sig"]
    assert subset.predict_clinical(RAW).outside_axis == []


def test_write_read_roundtrip_strict_json(tmp_path):
    nom, _ = fitted(SUBSET)
    path = write_nomogram_model(nom, tmp_path / "06" / "nomogram.json", times=[36, 60], coding=clinical_coding(),
                                labels=AXIS_LABELS, name="Model_clinic+dl")

    def no_constants(name):
        raise AssertionError(f"non-strict JSON constant {name}")

    doc = json.loads(path.read_text(), parse_constant=no_constants)
    assert doc["format"] == MODEL_FORMAT and doc["name"] == "Model_clinic+dl"
    assert set(doc["coding"]) == set(SUBSET) and doc["coding"]["ebv_dna_ge_4000"]["cut"] == 4000.0
    assert doc["other_variables"] == ["crp", "family_history", "smoking", "who_type"]
    assert read_nomogram_model(path)["coding"] == doc["coding"]
    assert NomogramCalculator.from_json(path).predict_clinical(RAW) == NomogramCalculator.from_model(
        nomogram_model(nom, times=[36, 60], coding=clinical_coding(), labels=AXIS_LABELS)).predict_clinical(RAW)


def test_write_needs_a_rule_per_covariate(tmp_path):
    nom, _ = fitted(SUBSET)
    coding = {k: v for k, v in clinical_coding().items() if k != "alb"}
    with pytest.raises(ValueError, match=r"coding: no rule for covariate\(s\) \['alb'\]"):
        write_nomogram_model(nom, tmp_path / "m.json", times=[36], coding=coding)
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("change, message", [
    (lambda d: d["beta"].update(age=float("nan")), r"field beta\['age'\]: not a finite number"),
    (lambda d: d["coding"]["age"].update(kind="log"), r"field coding\['age'\]: field 'kind' must be one of"),
    (lambda d: d["coding"]["sex_female"].update(level="X"), r"field coding\['sex_female'\]: field 'level'"),
    (lambda d: d["coding"]["ebv_dna_ge_4000"].update(op="<"), r"field 'op' must be one of"),
    (lambda d: d["coding"].pop("hgb"), r"field coding: no rule for covariate\(s\) \['hgb'\]"),
    (lambda d: d.pop("adjust_to"), "lacks the field 'adjust_to'"),
    (lambda d: d.update(scale=-1.0), "field 'scale' must be positive"),
    (lambda d: d["axis_range"].update(alb=[50.0, 30.0]), r"field axis_range\['alb'\] must be \[low, high\]"),
    (lambda d: d["axis_range"].update(alb=[None, 30.0]), r"field axis_range\['alb'\]: expected a number"),
    (lambda d: d["baseline_cumhazard_at_center"]["cumhaz"].reverse(), "'cumhaz' must be non-negative and non-decr"),
    (lambda d: d["baseline_cumhazard_at_center"]["times"].reverse(), "'times' must be non-negative and strictly"),
    (lambda d: d["baseline_cumhazard_at_center"].pop("times"), "must be {'times': \\[...\\], 'cumhaz'"),
    (lambda d: d.update(times=[36, -1]), "field 'times'"),
    (lambda d: d.update(update={"kind": "baseline"}), "field 'update' needs a 'parent'"),
    (lambda d: d.update(parent={"name": "m", "sha256": "xyz"}), "'sha256' must be 64 lower-case hex"),
    (lambda d: d.update(parent={"name": "m"}, update={"kind": "rescaled"}), "'kind' must be one of"),
    (lambda d: d.update(parent={"name": "m"}, update={"kind": "recalibration"}), r"update.slope: expected a number"),
    (lambda d: d.update(parent={"name": "m", "n": [1, 2]}), "must be strings, numbers or null"),
])
def test_read_rejects_bad_field(tmp_path, change, message):
    doc = model_doc(SUBSET)
    change(doc)
    path = tmp_path / "nomogram.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=f"model: {path}: .*" + message):
        read_nomogram_model(path)


def test_fill_missing_agrees_with_chapter_06_example(full):
    """Chapter 06 fills the paper's example with nomogram_inputs; the calculator's --fill-missing gives the same."""
    from npc_lib import paper
    from npc_lib.cohort.covariates import code_values
    from npc_lib.plots.nomogram import nomogram_inputs

    nom, _, calc = full
    row, filled, _ = nomogram_inputs(nom, code_values(paper.FIGURE2_EXAMPLE["inputs"]))
    r = calc.predict_clinical(paper.FIGURE2_EXAMPLE["inputs"], fill_missing=True)
    assert r.total_points == pytest.approx(float(nom.total_points(row)[0]), rel=1e-12)
    assert sorted(filled) == sorted(c for c in nom.covariates if CODING.get(c, (c,))[0] in r.filled)


def test_survival_at_any_time_matches_nomogram(nomogram, tmp_path):
    """The file's step function gives rms's survival at every time, jumps and extrapolation included."""
    nom, d = nomogram
    calc = NomogramCalculator.from_json(write_nomogram_model(nom, tmp_path / "m.json", times=[36, 60],
                                                             coding=NUMBER_CODING))
    jumps = np.asarray(calc.cumhaz_times)
    times = sorted({0.01, 7.3, 36.0, 59.99, 60.0, 500.0, *jumps[:3], *(jumps[:3] - 1e-9), float(jumps[-1])})
    for i in (0, 3):
        row = d.iloc[[i]][["age", "ebv", "sig"]]
        r = calc.predict(row.iloc[0].to_dict(), times=times)
        assert list(r.survival) == times
        for t in times:
            assert r.survival[t] == float(nom.survival([r.total_points], t)[0])
        assert r.xbeta == pytest.approx(float(nom.model.linear_predictor(row)[0]), rel=1e-12)
    assert calc.predict(row.iloc[0].to_dict()).survival.keys() == {36.0, 60.0}
    with pytest.raises(ValueError, match="times: must be distinct and positive"):
        calc.predict(row.iloc[0].to_dict(), times=[0])


def test_baseline_is_an_aggregate(nomogram):
    """The baseline holds one jump per distinct event time, and no per-patient record."""
    nom, d = nomogram
    doc = nomogram_model(nom, times=[36], coding=NUMBER_CODING)
    step = doc["baseline_cumhazard_at_center"]
    assert step["times"] == sorted(set(d.loc[d["e"] == 1, "t"]))
    assert len(step["cumhaz"]) == len(step["times"]) < len(d)
    assert set(doc) == {"format", "name", "covariates", "labels", "beta", "xbeta_min", "scale", "center",
                        "intercept", "time_unit", "times", "baseline_cumhazard_at_center", "coding",
                        "other_variables", "adjust_to", "axis_range", "parent", "update"}


def test_read_names_the_format_it_got_and_reads(tmp_path):
    doc = {**model_doc(SUBSET), "format": "npc-nomogram/2"}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"format 'npc-nomogram/2' is not read .*reads npc-nomogram/3"):
        read_nomogram_model(path)


def test_updated_models_keep_points_and_name_their_parent(tmp_path):
    doc = model_doc(SUBSET)
    calc = NomogramCalculator.from_model(doc)
    H0 = {"baseline_times": [6.0, 30.0, 50.0], "baseline_cumhaz": [0.01, 0.05, 0.2]}
    base = updated_nomogram_model(doc, kind="baseline", **H0, parent={"sha256": "0" * 64}, cohort="centre B")
    recal = updated_nomogram_model(doc, kind="recalibration", slope=0.7, **H0, n=120, events=30)
    assert base["parent"] == {"name": "Model_clinic+dl", "sha256": "0" * 64}
    assert base["update"] == {"cohort": "centre B", "kind": "baseline"}
    assert recal["update"] == {"n": 120, "events": 30, "kind": "recalibration", "slope": 0.7}
    assert recal["coding"] == doc["coding"] and recal["times"] == doc["times"]
    for new, s in ((base, 1.0), (recal, 0.7)):
        path = write_model_document(new, tmp_path / f"{s}.json")
        got = NomogramCalculator.from_json(path)
        assert got.update == new["update"] and got.parent == new["parent"]
        for t in (5.0, 6.0, 36.0, 80.0):
            r, r0 = got.predict_clinical(RAW, times=[t]), calc.predict_clinical(RAW)
            assert r.points == pytest.approx(r0.points, rel=1e-12, abs=1e-9)
            h = {5.0: 0.0, 6.0: 0.01, 36.0: 0.05, 80.0: 0.2}[t]
            assert r.survival[t] == pytest.approx(np.exp(-h * np.exp(s * r0.xbeta)), rel=1e-12)
            assert r.xbeta == pytest.approx(s * r0.xbeta, rel=1e-12)
    with pytest.raises(ValueError, match="slope: a baseline update keeps"):
        updated_nomogram_model(doc, kind="baseline", slope=0.7, **H0)
    with pytest.raises(ValueError, match="slope: must be positive"):
        updated_nomogram_model(doc, kind="recalibration", slope=-0.7, **H0)
    with pytest.raises(ValueError, match="refit"):
        updated_nomogram_model(doc, kind="refit", **H0)
