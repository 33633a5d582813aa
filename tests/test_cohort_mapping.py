"""The column-mapping YAML: names, units and category codes (issue 10)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cohort_factory import make_tiny_cohort, tiny_clinical
from npc_lib.cli import main
from npc_lib.cohort import schema
from npc_lib.cohort.load import CohortError, load_cohort, validate_cohort
from npc_lib.cohort.mapping import ColumnMapping, load_mapping

MAPPING_YML = """\
columns:
  patient_id: ID
  age: Age
  ldh: LDH_UL
  dfs_time: DFS_days
  dfs_event: relapse
units:
  dfs_time: days
  hgb: g/dL
categories:
  sex: {1: M, 2: F}
  dfs_event: {relapsed: 1, censored: 0}
"""


def _user_table(clinical: pd.DataFrame) -> pd.DataFrame:
    """The same patients as a user's hospital export would give them."""
    df = clinical.rename(columns={"patient_id": "ID", "age": "Age", "ldh": "LDH_UL", "dfs_time": "DFS_days",
                                  "dfs_event": "relapse"})
    df["DFS_days"] = (df["DFS_days"] * schema.MONTH_DAYS).round(1)
    df["hgb"] = df["hgb"] / 10
    df["sex"] = np.where(clinical["sex"] == "M", 1, 2)
    df["relapse"] = np.where(clinical["dfs_event"] == 1, "relapsed", "censored")
    return df


@pytest.fixture
def mapped(tmp_path):
    root = make_tiny_cohort(tmp_path / "c")
    clinical = pd.read_csv(root / schema.CLINICAL_FILE, dtype={"patient_id": str})
    _user_table(clinical).to_csv(root / schema.CLINICAL_FILE, index=False)
    (tmp_path / "mapping.yml").write_text(MAPPING_YML)
    return root, tmp_path / "mapping.yml", clinical


def test_mapping_yaml_maps_names_units_and_codes(mapped):
    root, mapping, clinical = mapped
    cohort = load_cohort(root, mapping=mapping, check_images="none")
    c = cohort.clinical
    assert c["patient_id"].tolist() == clinical["patient_id"].tolist()
    np.testing.assert_allclose(c["dfs_time"], clinical["dfs_time"], atol=0.01)
    np.testing.assert_allclose(c["hgb"], clinical["hgb"])
    assert c["sex"].tolist() == clinical["sex"].tolist()
    assert c["dfs_event"].tolist() == clinical["dfs_event"].tolist()
    notes = [p.text for p in cohort.report.notes]
    assert any("mapping.yml: 5 column(s) renamed: ID -> patient_id, Age -> age" in m for m in notes)
    assert any("field dfs_time: mapping.yml: converted from days (x 0.0333333)" in m for m in notes)
    assert any("field hgb: mapping.yml: converted from g/dL (x 10)" in m for m in notes)
    assert not cohort.report.warnings or all("days" not in p.message for p in cohort.report.warnings)


def test_mapping_needed_without_it(mapped):
    root, _, _ = mapped
    report = validate_cohort(root, check_images="none")
    errors = [p.text for p in report.errors]
    assert "clinical.csv: field patient_id: required column missing" in errors
    assert "clinical.csv: field ldh: required column missing" in errors


def test_mapping_full_image_check_with_mapped_ids(mapped):
    root, mapping, _ = mapped
    assert validate_cohort(root, mapping=mapping, check_images="header").ok


def test_mapping_dict_and_object_accepted():
    m = load_mapping({"columns": {"age": "Age"}, "units": {"lrfs_time": "Years"}})
    assert isinstance(m, ColumnMapping) and m.factor("lrfs_time") == 12.0 and m.factor("age") == 1.0
    assert load_mapping(m) is m and load_mapping(None) is None


def test_mapping_either_direction_and_user_headers():
    m = load_mapping({"columns": {"Age": "age", "ldh": "LDH_UL", "DFS_days": "dfs_time"},
                      "units": {"DFS_days": "days"}})
    assert m.columns == {"age": "Age", "ldh": "LDH_UL", "dfs_time": "DFS_days"}
    assert m.units == {"dfs_time": "days"}


def test_mapping_yaml_booleans_as_codes(tmp_path):
    path = tmp_path / "m.yml"
    path.write_text("categories:\n  smoking: {S: yes, N: no}\n  drinking: {yes: no}\n"
                    "  os_event: {dead: 1, alive: 0}\n")
    m = load_mapping(path)
    assert m.source == "m.yml"
    assert m.categories == {"smoking": {"S": "yes", "N": "no"}, "drinking": {"yes": "no", "true": "no"},
                            "os_event": {"dead": "1", "alive": "0"}}


@pytest.mark.parametrize("data, message", [
    ({"colums": {}}, r"mapping: unknown section 'colums' \(sections: columns, units, categories\)"),
    ({"columns": {"Age": "Years"}}, r"mapping: columns: unknown field 'Age'"),
    ({"columns": {"age": "A", "B": "age"}}, r"mapping: columns: field 'age' mapped twice \('A' and 'B'\)"),
    ({"units": {"dfs_time": "fortnights"}}, r"mapping: units: field dfs_time: unknown unit 'fortnights' \(allowed: months"),
    ({"units": {"sex": "g/L"}}, r"mapping: units: field sex: unknown unit 'g/L' \(allowed: none"),
    ({"categories": {"sex": {"1": "male"}}}, r"mapping: categories: field sex: level 'male' for code '1' is not one of M, F"),
    ({"categories": {"age": {"1": "x"}}}, r"mapping: categories: field age is not categorical"),
    ({"columns": {"age": "A", "hgb": "A"}}, r"mapping: columns: fields 'age' and 'hgb' both map to 'A'"),
])
def test_mapping_bad_content_named(data, message):
    with pytest.raises(ValueError, match=message):
        load_mapping(data)


def test_mapping_file_errors(tmp_path):
    with pytest.raises(ValueError, match=r"mapping: file not found"):
        load_mapping(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("columns: [unclosed")
    with pytest.raises(ValueError, match=r"bad\.yml: unreadable YAML"):
        load_mapping(bad)


def test_mapping_header_not_in_table(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    tiny_clinical(8).to_csv(root / schema.CLINICAL_FILE, index=False)
    with pytest.raises(CohortError, match=r"field age: mapping: column 'Alter' \(for field age\) not in the table"):
        load_cohort(root, mapping={"columns": {"age": "Alter"}}, check_images="none")


def test_mapping_target_already_in_table(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    df = tiny_clinical(8)
    df["DFS_days"] = df["dfs_time"] * 30
    df.to_csv(root / schema.CLINICAL_FILE, index=False)
    with pytest.raises(CohortError, match=r"field dfs_time: mapping: column 'DFS_days' is mapped to dfs_time, but "
                                          r"the table also has a column dfs_time"):
        load_cohort(root, mapping={"columns": {"dfs_time": "DFS_days"}}, check_images="none")


def test_mapping_cli_validate(mapped, capsys):
    root, mapping, _ = mapped
    assert main(["-q", "validate", str(root), "--map", str(mapping)]) == 0
    assert "8 patients, valid" in capsys.readouterr().out
    assert main(["-q", "validate", str(root), "--format", "json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["counts"]["error"] >= 5


def test_mapping_readme_example_is_valid():
    import re
    from pathlib import Path

    import yaml

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Your own cohort"):]
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]
    mappings = [b for b in blocks if isinstance(b, dict) and "columns" in b]  # (the DICOM rules block comes first)
    assert mappings, "the README's 'Your own cohort' section shows a column mapping"
    m = load_mapping(mappings[0])
    assert m.columns["ldh"] == "LDH_UL" and m.units["dfs_time"] == "days"
    assert m.factor("ldh") == 60.0 and m.categories["who_type"] == {"2": "I-II", "3": "III"}
