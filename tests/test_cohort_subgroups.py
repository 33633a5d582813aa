"""Tests for npc_lib.cohort.subgroups (the subgroups of Fig. D2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cohort_factory import tiny_clinical

from npc_lib import paper
from npc_lib.cohort.subgroups import HGB_ABNORMAL_BELOW, SUBGROUP_VARIABLES, SUBGROUPS, subgroup_table
from npc_lib.stats.table1 import table1_groups


def test_subgroup_variables_are_the_papers():
    assert SUBGROUP_VARIABLES == paper.SUBGROUPS
    assert HGB_ABNORMAL_BELOW == {"M": 130.0, "F": 115.0}


def test_subgroup_table_cut_offs_at_the_boundaries():
    c = pd.DataFrame({"patient_id": [1, 2, 3, 4, 5, 6], "sex": ["M", "M", "F", "F", "M", "F"],
                      "hgb": [130.0, 129.9, 115.0, 114.9, 120.0, 120.0],
                      "crp": [3.0, 3.0001, 0.0, 246.6, 2.99, 3.5],
                      "family_history": ["yes", "no", "no", "no", "yes", "no"],
                      "smoking": ["no", "yes", "no", "no", "no", "yes"]})
    t = subgroup_table(c)
    assert t["hgb_group"].tolist() == ["Normal", "Abnormal", "Normal", "Abnormal", "Abnormal", "Normal"]
    assert t["crp_group"].tolist() == ["Normal", "Abnormal", "Normal", "Abnormal", "Normal", "Abnormal"]
    assert t["sex"].tolist() == ["Male", "Male", "Female", "Female", "Male", "Female"]
    assert t["family_history"].tolist()[:2] == ["Yes", "No"] and t["smoking"].tolist()[:2] == ["No", "Yes"]
    assert t["patient_id"].tolist() == ["1", "2", "3", "4", "5", "6"]


def test_subgroup_table_levels_are_ordered_categoricals():
    t = subgroup_table(tiny_clinical(12))
    assert list(t.columns) == ["patient_id", *SUBGROUP_VARIABLES]
    for v in SUBGROUP_VARIABLES:
        assert isinstance(t[v].dtype, pd.CategoricalDtype) and t[v].cat.ordered
        assert tuple(t[v].cat.categories) == SUBGROUPS[v].levels


def test_subgroup_table_agrees_with_table1_groups():
    c = tiny_clinical(300, seed=3)
    c.loc[::7, "hgb"] = np.where(c.loc[::7, "sex"] == "M", 130.0, 115.0)     # on the cut-offs
    c.loc[::11, "crp"] = 3.0
    mine = subgroup_table(c)
    theirs = table1_groups(c)
    for v in SUBGROUP_VARIABLES:
        assert mine[v].astype(str).tolist() == theirs[v].tolist(), v


def test_subgroup_table_keeps_row_order_and_subset():
    c = tiny_clinical(10).iloc[::-1]
    t = subgroup_table(c, ["sex"])
    assert list(t.columns) == ["patient_id", "sex"] and t["patient_id"].tolist() == c["patient_id"].tolist()


def test_subgroup_table_bad_input_names_patient_and_field():
    c = tiny_clinical(8)
    with pytest.raises(ValueError, match=r"variables: unknown subgroup\(s\) \['age'\]"):
        subgroup_table(c, ["age"])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['crp'\]"):
        subgroup_table(c.drop(columns="crp"))
    bad = c.copy()
    bad.loc[2, "smoking"] = "sometimes"
    with pytest.raises(ValueError, match=f"patient {c.patient_id[2]}, field smoking: unknown category"):
        subgroup_table(bad)
    bad = c.copy()
    bad.loc[5, "hgb"] = np.nan
    with pytest.raises(ValueError, match=f"patient {c.patient_id[5]}, field hgb: missing"):
        subgroup_table(bad)
    bad = c.astype({"sex": object}).copy()
    bad.loc[1, "sex"] = "X"
    with pytest.raises(ValueError, match=f"patient {c.patient_id[1]}, field sex"):
        subgroup_table(bad, ["hgb_group"])
    with pytest.raises(ValueError, match="clinical must be a pandas DataFrame"):
        subgroup_table([1, 2])
