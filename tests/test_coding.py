"""The clinical coding rules and the one function that applies them."""

import numpy as np
import pytest

from npc_lib.coding import check_coding, check_rule, code_value, describe_value, parse_value

EBV = check_rule("ebv_dna_ge_4000", {"variable": "ebv_dna", "kind": "threshold", "op": ">=", "cut": 4000,
                                     "unit": "copy/mL"})
CRP = check_rule("crp_above_3", {"variable": "crp", "kind": "threshold", "op": ">", "cut": 3.0, "unit": "mg/L"})
SEX = check_rule("sex_female", {"variable": "sex", "kind": "level", "levels": ["M", "F"], "level": "F"})
HGB = check_rule("hgb", {"variable": "hgb", "kind": "number", "unit": "g/L"})


def test_code_value_matches_naive_comparison():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(0, 8000, 200), [0.0, 3.0, 4000.0, np.nextafter(4000.0, 0), 3.0000001]])
    for x in values:
        assert code_value(EBV, x) == float(x >= 4000) and code_value(EBV, repr(float(x))) == float(x >= 4000)
        assert code_value(CRP, x) == float(x > 3) and code_value(CRP, str(x)) == float(x > 3)
        assert code_value(HGB, x) == x


@pytest.mark.parametrize("rule, raw, coded", [
    (EBV, "< 4000", 0.0), (EBV, ">=4000", 1.0), (EBV, "≥ 4000", 1.0), (EBV, ">= 4000.0", 1.0),
    (CRP, "<= 3", 0.0), (CRP, "≤3", 0.0), (CRP, "> 3", 1.0), (SEX, "f", 1.0), (SEX, " M ", 0.0),
    (HGB, " 135 ", 135.0), (HGB, "1.35e2", 135.0), (HGB, np.float32(2.5), 2.5),
])
def test_code_value_reads_printed_classes_and_case(rule, raw, coded):
    assert code_value(rule, raw) == coded


@pytest.mark.parametrize("rule, raw, message", [
    (EBV, "< 3000", r"not a number: '< 3000' \(give copy/mL\)"),
    (EBV, "> 4000", "not a number"),            # '>' is not this rule's comparison
    (CRP, ">= 3", "not a number"),
    (HGB, "0x10", "not a number"), (HGB, "1_000", "not a number"), (HGB, "1,5", "not a number"),
    (HGB, "nan", "not a number"), (HGB, float("inf"), "not a finite number"), (HGB, True, "not a number"),
    (HGB, None, "not a number"), (SEX, "X", r"unknown value 'X' \(allowed: M, F\)"),
])
def test_code_value_refuses(rule, raw, message):
    with pytest.raises(ValueError, match=message):
        code_value(rule, raw)


def test_parse_and_describe():
    assert parse_value(EBV, "<4000") == "<" and parse_value(SEX, "m") == "M"
    assert [describe_value(EBV, x) for x in (0.0, 1.0)] == ["< 4000 copy/mL", ">= 4000 copy/mL"]
    assert [describe_value(CRP, x) for x in (0.0, 1.0)] == ["<= 3 mg/L", "> 3 mg/L"]
    assert describe_value(SEX, 0.0) == "M" and describe_value(HGB, 132.0) == "132 g/L"
    three = check_rule("w", {"variable": "who", "kind": "level", "levels": ["a", "b", "c"], "level": "b"})
    assert describe_value(three, 0.0) == "not b"


@pytest.mark.parametrize("rule, message", [
    ([], "expected a mapping"),
    ({"variable": "", "kind": "number"}, "'variable' must be a non-empty string"),
    ({"variable": "x", "kind": "log"}, "'kind' must be one of"),
    ({"variable": "x", "kind": "level", "levels": ["a"], "level": "a"}, "at least 2 distinct"),
    ({"variable": "x", "kind": "level", "levels": ["a", "A"], "level": "a"}, "at least 2 distinct"),
    ({"variable": "x", "kind": "level", "levels": ["a", "b"], "level": "c"}, "'level' must be one of"),
    ({"variable": "x", "kind": "threshold", "op": "<", "cut": 1}, "'op' must be one of"),
    ({"variable": "x", "kind": "threshold", "op": ">", "cut": float("nan")}, "'cut' must be a finite number"),
])
def test_check_rule_names_the_field(rule, message):
    with pytest.raises(ValueError, match=r"coding\['c'\]: .*" + message):
        check_rule("c", rule)


def test_check_coding_agreement_per_variable():
    num = {"variable": "sex", "kind": "number"}
    with pytest.raises(ValueError, match=r"no rule for covariate\(s\) \['b'\]"):
        check_coding(["a", "b"], {"a": num})
    with pytest.raises(ValueError, match="variable 'sex' is coded both as a category and a number"):
        check_coding(["a", "b"], {"a": num, "b": dict(SEX)})
    with pytest.raises(ValueError, match=r"covariate\(s\) \['sex'\] are also the name of another"):
        check_coding(["sex", "b"], {"sex": {"variable": "sex", "kind": "number"}, "b": num})
    assert list(check_coding(["b", "a"], {"a": EBV, "b": HGB})) == ["b", "a"]
