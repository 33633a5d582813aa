"""The subgroups of the paper's Fig. D2, derived from the clinical table (A17).

"When stratified by family history of cancer (yes or no), sex (male or
female), C-reactive protein (normal or abnormal), hemoglobin (normal or
abnormal) and smoking (yes or no), the radiomic nomogram remained a
statistically significant prognostic model (Figure D2)." The definitions of
"normal" are Table 1's:

=================  ==========================================================
subgroup           levels (first = reference)
=================  ==========================================================
family_history     Yes / No (family history of cancer)
sex                Male / Female
crp_group          Normal (CRP <= 3 mg/L) / Abnormal (> 3 mg/L)
hgb_group          Normal / Abnormal (HGB < 130 g/L in men, < 115 g/L in women)
smoking            Yes / No
=================  ==========================================================

Level names and order are those of Table 1 (:mod:`npc_lib.stats.table1`), so a
subgroup's counts can be read against Table 1's rows. Keys are those of
:data:`npc_lib.paper.SUBGROUPS`.
"""

from __future__ import annotations

__all__ = ["HGB_ABNORMAL_BELOW", "SUBGROUPS", "SUBGROUP_VARIABLES", "subgroup_table"]

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from npc_lib.cohort import schema
from npc_lib.cohort.covariates import CRP_CUT

#: HGB (g/L) below which a value is abnormal, by sex (Table 1 footnote *)
HGB_ABNORMAL_BELOW: dict[str, float] = {"M": 130.0, "F": 115.0}


@dataclass(frozen=True)
class Subgroup:
    """One subgroup variable: display ``title``, ``levels`` (first = reference), ``definition``, ``source`` columns."""

    title: str
    levels: tuple[str, ...]
    definition: str
    source: tuple[str, ...]


#: subgroup variable -> definition, in the paper's order (Fig. D2 / Results, paragraph 5)
SUBGROUPS: dict[str, Subgroup] = {
    "family_history": Subgroup("Family history of cancer", ("Yes", "No"), "family_history yes / no",
                               ("family_history",)),
    "sex": Subgroup("Sex", ("Male", "Female"), "sex M / F", ("sex",)),
    "crp_group": Subgroup("CRP", ("Normal", "Abnormal"), f"normal: CRP <= {CRP_CUT:g} mg/L", ("crp",)),
    "hgb_group": Subgroup("HGB", ("Normal", "Abnormal"),
                          f"abnormal: HGB < {HGB_ABNORMAL_BELOW['M']:g} g/L (male), "
                          f"< {HGB_ABNORMAL_BELOW['F']:g} g/L (female)", ("hgb", "sex")),
    "smoking": Subgroup("Smoking", ("Yes", "No"), "smoking yes / no", ("smoking",)),
}

#: the subgroup variables, in order
SUBGROUP_VARIABLES: tuple[str, ...] = tuple(SUBGROUPS)

_YES_NO = {"yes": "Yes", "no": "No"}


def _check_categories(clinical: pd.DataFrame, ids: pd.Series, field: str) -> pd.Series:
    s = clinical[field].astype(str)
    bad = ~s.isin(schema.CATEGORIES[field]) | clinical[field].isna()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"patient {ids.iloc[i]}, field {field}: unknown category {clinical[field].iloc[i]!r} "
                         f"(allowed: {', '.join(schema.CATEGORIES[field])})")
    return s


def _check_numeric(clinical: pd.DataFrame, ids: pd.Series, field: str) -> np.ndarray:
    x = pd.to_numeric(clinical[field], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"patient {ids.iloc[i]}, field {field}: missing or not a number "
                         f"({clinical[field].iloc[i]!r})")
    return x


def subgroup_table(clinical: pd.DataFrame, variables: Sequence[str] = SUBGROUP_VARIABLES) -> pd.DataFrame:
    """Each patient's level of every subgroup of Fig. D2.

    Parameters
    ----------
    clinical : pandas.DataFrame
        The clinical table (``clinical.csv`` columns; at least ``patient_id``
        and the source columns of ``variables``).
    variables : sequence of str
        Keys of :data:`SUBGROUPS` (default: all five, in the paper's order).

    Returns
    -------
    pandas.DataFrame
        ``patient_id`` (str) and one ordered ``Categorical`` column per
        variable, with the levels of :data:`SUBGROUPS` (first = reference), in
        the row order of ``clinical``.

    Raises
    ------
    ValueError
        Unknown variable, missing column, unknown category or a missing /
        non-numeric HGB or CRP; the message names the patient and the field.

    Examples
    --------
    >>> c = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "sex": ["M", "F", "F"],
    ...                   "hgb": [129.0, 120.0, 114.9], "crp": [3.0, 3.01, 0.5],
    ...                   "family_history": ["no", "yes", "no"], "smoking": ["yes", "no", "no"]})
    >>> t = subgroup_table(c)
    >>> t["hgb_group"].tolist(), t["crp_group"].tolist()
    (['Abnormal', 'Normal', 'Abnormal'], ['Normal', 'Abnormal', 'Normal'])
    """
    if not isinstance(clinical, pd.DataFrame):
        raise ValueError(f"clinical must be a pandas DataFrame, got {type(clinical).__name__}")
    if isinstance(variables, str):
        variables = [variables]
    unknown = [v for v in variables if v not in SUBGROUPS]
    if unknown:
        raise ValueError(f"variables: unknown subgroup(s) {unknown} (known: {', '.join(SUBGROUPS)})")
    need = ["patient_id", *dict.fromkeys(c for v in variables for c in SUBGROUPS[v].source)]
    missing = [c for c in need if c not in clinical.columns]
    if missing:
        raise ValueError(f"clinical: missing column(s) {missing}")
    ids = clinical["patient_id"].astype(str).reset_index(drop=True)
    clinical = clinical.reset_index(drop=True)
    out = pd.DataFrame({"patient_id": ids})
    for v in variables:
        if v in ("family_history", "smoking"):
            values = _check_categories(clinical, ids, v).map(_YES_NO)
        elif v == "sex":
            values = _check_categories(clinical, ids, "sex").map({"M": "Male", "F": "Female"})
        elif v == "crp_group":
            values = np.where(_check_numeric(clinical, ids, "crp") <= CRP_CUT, "Normal", "Abnormal")
        else:
            sex = _check_categories(clinical, ids, "sex")
            cut = sex.map(HGB_ABNORMAL_BELOW).to_numpy(dtype=float)
            values = np.where(_check_numeric(clinical, ids, "hgb") < cut, "Abnormal", "Normal")
        out[v] = pd.Categorical(np.asarray(values, dtype=object), categories=SUBGROUPS[v].levels, ordered=True)
    return out
