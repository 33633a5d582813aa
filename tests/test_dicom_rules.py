"""Import rules: every mistake of a rules file reported at once."""

from __future__ import annotations

import pytest

from npc_lib.dicom.rules import load_rules, match_roi, match_sequences, rules_from_dict


def test_rules_every_error_at_once(tmp_path):
    raw = {"sequences": {"T1": ["t1("], "FLAIR": ["x"]}, "axial_max_angle": 95, "colour": 1,
           "patient_ids": {"prefix": "a b", "key_file": "absent.csv"}}
    with pytest.raises(ValueError) as info:
        rules_from_dict(raw, base=tmp_path)
    text = str(info.value)
    for part in ("unknown key(s) ['colour']", "roi: missing", "sequences.T1: 't1(' is not a regular expression",
                 "unknown sequence(s) ['FLAIR']", "axial_max_angle", "patient_ids.prefix", "key_file: file not found"):
        assert part in text


def test_rules_per_sequence_roi_and_matching():
    r = rules_from_dict({"sequences": {"T1": ["t1(?!.*(gd|post))"], "T1C": ["post|gd"]},
                         "roi": {"T1C": ["^gtv_t1c$"], "T1": ["^gtv_t1$"]}})
    assert r.roi_patterns("T1")[0] == "T1" and r.roi_patterns("T2")[0] == "T1C"
    assert match_sequences(r, ("T1 SE AX", "")) == ["T1"] and match_sequences(r, ("t1 AX post", "")) == ["T1C"]
    assert match_roi(r.roi["T1C"], ["GTV_T1C", "gtv_t1"]) == ("^gtv_t1c$", ["GTV_T1C"])


def test_load_rules_file(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text("sequences:\n  T1: ['t1']\nroi: ['gtv']\npatient_ids: {secret_file: my.secret}\n")
    r = load_rules(path)
    assert r.secret_file == tmp_path / "my.secret"
    path.write_text("sequences: [unclosed\n")
    with pytest.raises(ValueError, match="is not YAML"):
        load_rules(path)
    with pytest.raises(ValueError, match="file not found"):
        load_rules(tmp_path / "absent.yml")
