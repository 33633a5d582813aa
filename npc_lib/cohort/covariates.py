"""The analysis table of the Cox models: coded clinical covariates, DL signatures, outcome.

The paper's models (A9-A10) start from the clinical factors of Table 1 and,
for Model_clinic+dl, the three DL signatures. This module fixes one numeric
coding of the clinical factors (:data:`CLINICAL_RULES`), reads the signature files
that ``npc train`` / chapter 04 write, and joins everything by
``patient_id`` into one frame (:func:`model_frame`), stopping with a clear
message on any missing or unmatched patient.

Coding (higher value = more of the named quantity; the sign of a Cox
coefficient then says whether it raises the risk); the rules themselves are
data, :data:`CLINICAL_RULES` (the rule language: :mod:`npc_lib.coding`)

=================  ======================================  ==================
covariate          meaning                                 source column
=================  ======================================  ==================
age                years                                   age
sex_female         1 = female, 0 = male                    sex
hgb                haemoglobin, g/L                        hgb
family_history     1 = family history of cancer            family_history
smoking            1 = smoker                              smoking
drinking           1 = drinker                             drinking
who_I_II           1 = WHO type I-II, 0 = type III         who_type
alb                albumin, g/L                            alb
crp_above_3        1 = CRP > 3 mg/L (abnormal)             crp
ldh                lactate dehydrogenase, U/L              ldh
ebv_dna_ge_4000    1 = pre-EBV DNA >= 4000 copy/mL         ebv_dna
=================  ======================================  ==================

Why these choices: the paper's nomogram (Fig. 2A) enters LDH in U/L (an
axis reaching 500 U/L) and pre-EBV DNA as "< 4000" vs ">= 4000" copy/mL,
so we do the same. CRP is entered as the clinical cut used by the paper
itself (Table 1 "abnormal > 3 mg/L" and the CRP subgroups of Fig. D2): its
distribution spans four decades (0.03-247 mg/L), so a linear term in mg/L
would be driven by a handful of extreme values, and a logarithm needs an
arbitrary offset for CRP = 0. Age, HGB and ALB are linear, in their units.

Signatures are named ``DL_T1_sig``, ``DL_T2_sig``, ``DL_T1C_sig`` (the
paper's names); their ``risk`` is higher = worse.

``truth.csv`` (simulator only) is read by :func:`npc_lib.twin.truth.read_truth` and nowhere
else: it feeds the book's clearly labelled oracle sections and returns
``None`` for a user's own cohort.
"""

from __future__ import annotations

__all__ = [
    "CLINICAL_RULES",
    "CODING",
    "CLINICAL_COVARIATES",
    "AXIS_LABELS",
    "VALUE_LABELS",
    "SIGNATURES",
    "EBV_DNA_CUT",
    "CRP_CUT",
    "signature_name",
    "source_variable",
    "code_clinical",
    "code_values",
    "clinical_coding",
    "read_signatures",
    "model_frame",
]

import os
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from npc_lib.coding import check_rule, code_value
from npc_lib.cohort import schema
from npc_lib.cohort.split import COHORT_LABELS

#: pre-EBV DNA cut (copy/mL): the paper's nomogram and Table 1
EBV_DNA_CUT = 4000.0
#: CRP cut (mg/L): Table 1's "Normal (<= 3)"
CRP_CUT = 3.0


def _yes_no(variable: str, label: str) -> dict:
    return {"variable": variable, "kind": "level", "levels": list(schema.CATEGORIES[variable]), "level": "yes",
            "variable_label": label, "unit": "", "level_labels": {"no": "no", "yes": "yes"}}


def _number(variable: str, label: str) -> dict:
    return {"variable": variable, "kind": "number", "variable_label": label, "unit": schema.CONTINUOUS[variable]}


#: the clinical coding: one rule (:mod:`npc_lib.coding`) per clinical covariate, in Table 1 order;
#: every coding of a clinical value (analysis table, one patient, nomogram file, calculator) applies these
CLINICAL_RULES: dict[str, dict] = {
    "age": _number("age", "Age"),
    "sex_female": {"variable": "sex", "kind": "level", "levels": list(schema.CATEGORIES["sex"]), "level": "F",
                   "variable_label": "Sex", "unit": "", "level_labels": {"M": "male", "F": "female"}},
    "hgb": _number("hgb", "Haemoglobin (HGB)"),
    "family_history": _yes_no("family_history", "Family history of cancer"),
    "smoking": _yes_no("smoking", "Smoking"),
    "drinking": _yes_no("drinking", "Drinking"),
    "who_I_II": {"variable": "who_type", "kind": "level", "levels": list(schema.CATEGORIES["who_type"]),
                 "level": "I-II", "variable_label": "WHO histological type", "unit": "",
                 "level_labels": {"III": "type III", "I-II": "type I-II"}},
    "alb": _number("alb", "Albumin (ALB)"),
    "crp_above_3": {**_number("crp", "C-reactive protein (CRP)"), "kind": "threshold", "op": ">", "cut": CRP_CUT},
    "ldh": _number("ldh", "Lactate dehydrogenase (LDH)"),
    "ebv_dna_ge_4000": {**_number("ebv_dna", "Pre-treatment plasma EBV DNA"), "kind": "threshold", "op": ">=",
                        "cut": EBV_DNA_CUT},
}

#: coded covariate -> display label (forest plots, tables)
_DISPLAY_LABELS = {
    "age": "Age (years)", "sex_female": "Sex: female vs male", "hgb": "HGB (g/L)",
    "family_history": "Family history of cancer: yes vs no", "smoking": "Smoking: yes vs no",
    "drinking": "Drinking: yes vs no", "who_I_II": "WHO type I-II vs III", "alb": "ALB (g/L)",
    "crp_above_3": "CRP > 3 mg/L", "ldh": "LDH (U/L)", "ebv_dna_ge_4000": "pre-EBV DNA >= 4000 copy/mL",
}

#: coded covariate -> (source column, display label), from :data:`CLINICAL_RULES`
CODING: dict[str, tuple[str, str]] = {c: (r["variable"], _DISPLAY_LABELS[c]) for c, r in CLINICAL_RULES.items()}

#: the clinical covariates of Model_clinic's start model, in Table 1 order
CLINICAL_COVARIATES: tuple[str, ...] = tuple(CLINICAL_RULES)

#: signature column names, in :data:`schema.SEQUENCES` order
SIGNATURES: tuple[str, ...] = tuple(f"DL_{s}_sig" for s in schema.SEQUENCES)

#: short axis names for nomograms and forest plots (covariate -> label)
AXIS_LABELS: dict[str, str] = {
    "age": "Age (years)", "sex_female": "Sex", "hgb": "HGB (g/L)", "family_history": "Family history",
    "smoking": "Smoking", "drinking": "Drinking", "who_I_II": "WHO type", "alb": "ALB (g/L)",
    "crp_above_3": "CRP (mg/L)", "ldh": "LDH (U/L)", "ebv_dna_ge_4000": "pre-EBV DNA (copy/mL)",
    **{s: s for s in SIGNATURES},
}

#: tick labels of the binary covariates (covariate -> {0: label, 1: label})
VALUE_LABELS: dict[str, dict[float, str]] = {
    "sex_female": {0.0: "Male", 1.0: "Female"},
    "family_history": {0.0: "No", 1.0: "Yes"},
    "smoking": {0.0: "No", 1.0: "Yes"},
    "drinking": {0.0: "No", 1.0: "Yes"},
    "who_I_II": {0.0: "III", 1.0: "I-II"},
    "crp_above_3": {0.0: "<=3", 1.0: ">3"},
    "ebv_dna_ge_4000": {0.0: "<4000", 1.0: ">=4000"},
}

_SIGNATURE_COLUMNS = ("patient_id", "cohort", "risk")


def _check_sequence(sequence: str) -> str:
    if sequence not in schema.SEQUENCES:
        raise ValueError(f"sequence must be one of {schema.SEQUENCES}, got {sequence!r}")
    return sequence


def _check_clinical(clinical) -> pd.DataFrame:
    if not isinstance(clinical, pd.DataFrame):
        raise ValueError(f"clinical must be a pandas DataFrame, got {type(clinical).__name__}")
    need = ["patient_id", *dict.fromkeys(src for src, _ in CODING.values())]
    missing = [c for c in need if c not in clinical.columns]
    if missing:
        raise ValueError(f"clinical: missing column(s) {missing}")
    dup = clinical["patient_id"].astype(str).duplicated()
    if dup.any():
        raise ValueError(f"clinical: patient {clinical.loc[dup, 'patient_id'].iloc[0]}, "
                         "field patient_id: duplicate patient_id")
    return clinical


def signature_name(sequence: str) -> str:
    """Column name of a sequence's signature.

    >>> signature_name("T1C")
    'DL_T1C_sig'
    """
    return f"DL_{_check_sequence(sequence)}_sig"


def source_variable(covariate: str) -> str:
    """The clinical/paper variable a coded covariate comes from (signatures map to themselves).

    Used to compare selected covariates with the paper's lists
    (:data:`npc_lib.paper.MODEL_CLINIC_COVARIATES`).

    >>> [source_variable(c) for c in ("sex_female", "ebv_dna_ge_4000", "DL_T1_sig")]
    ['sex', 'ebv_dna', 'DL_T1_sig']
    """
    if covariate in CODING:
        return CODING[covariate][0]
    if covariate in SIGNATURES:
        return covariate
    raise ValueError(f"covariate: unknown covariate {covariate!r}")


def _rules() -> dict[str, dict]:
    return {c: check_rule(c, r) for c, r in CLINICAL_RULES.items()}


def code_clinical(clinical: pd.DataFrame) -> pd.DataFrame:
    """The coded clinical covariates (rules :data:`CLINICAL_RULES`), one row per patient.

    Each value is coded by :func:`npc_lib.coding.code_value`, the function
    that also codes the calculator's inputs.

    Parameters
    ----------
    clinical : pandas.DataFrame
        Validated ``clinical.csv`` table (:func:`npc_lib.cohort.load.load_cohort`).

    Returns
    -------
    pandas.DataFrame
        ``patient_id`` (str) and the float columns of :data:`CLINICAL_COVARIATES`,
        in the row order of ``clinical``.

    Raises
    ------
    ValueError
        A value no rule can code (unknown category, not a number, missing),
        naming the patient and the field.

    Examples
    --------
    >>> c = pd.DataFrame({"patient_id": ["P1", "P2"], "age": [50, 40], "sex": ["F", "M"],
    ...                   "hgb": [140, 120], "family_history": ["no", "yes"], "smoking": ["no", "no"],
    ...                   "drinking": ["yes", "no"], "who_type": ["III", "I-II"], "alb": [44, 40],
    ...                   "crp": [3.0, 3.5], "ldh": [180, 500], "ebv_dna": [3999, 4000]})
    >>> code_clinical(c)[["sex_female", "crp_above_3", "ebv_dna_ge_4000"]].values.tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]
    """
    c = _check_clinical(clinical)
    ids = c["patient_id"].astype(str).to_numpy()
    out = pd.DataFrame({"patient_id": ids})
    for name, rule in _rules().items():
        column = np.empty(len(c))
        for i, raw in enumerate(c[rule["variable"]].to_numpy()):
            try:
                column[i] = code_value(rule, raw)
            except ValueError as exc:
                raise ValueError(f"patient {ids[i]}, field {rule['variable']}: {exc}") from None
        out[name] = column
    return out


def code_values(values: Mapping[str, object]) -> dict[str, float]:
    """Code one patient's raw values (any subset) as the model's covariates.

    Accepts the clinical columns of :data:`CLINICAL_RULES` as a clinician
    gives them (``sex`` ``"M"``/``"F"``, yes/no fields, ``who_type``, numbers
    in their units, the printed classes ``"< 4000"`` / ``">= 4000"`` of
    ``ebv_dna`` and ``"<= 3"`` / ``"> 3"`` of ``crp``, as in the paper's
    Figure 2 example), coded by :func:`npc_lib.coding.code_value`. Signature
    values (``DL_*_sig``) and already-coded names pass through.

    >>> code_values({"age": 50, "ldh": 500.0, "ebv_dna": "< 4000", "DL_T1_sig": 0.4})
    {'age': 50.0, 'ldh': 500.0, 'ebv_dna_ge_4000': 0.0, 'DL_T1_sig': 0.4}
    """
    rules = _rules()
    by_source = {r["variable"]: name for name, r in rules.items()}
    out: dict[str, float] = {}
    for key, raw in values.items():
        if key in SIGNATURES or (key in rules and key not in by_source):
            out[key] = float(raw)
            continue
        if key not in by_source:
            raise ValueError(f"values: unknown field {key!r}")
        try:
            out[by_source[key]] = code_value(rules[by_source[key]], raw)
        except ValueError as exc:
            raise ValueError(f"values: field {key}: {exc}") from None
    return out


def clinical_coding() -> dict[str, dict]:
    """The coding rules of every covariate of the book's models, as plain (JSON-ready) data.

    :data:`CLINICAL_RULES` (checked by :func:`npc_lib.coding.check_rule`) and
    one ``number`` rule per signature. The nomogram model file stores the
    rules of its covariates, so ``npc nomogram`` and the calculator page code
    a clinician's values exactly as :func:`code_clinical` coded the fitting data.

    >>> c = clinical_coding()
    >>> c["sex_female"]["kind"], c["sex_female"]["level"], c["sex_female"]["levels"]
    ('level', 'F', ['M', 'F'])
    >>> c["ebv_dna_ge_4000"]["op"], c["ebv_dna_ge_4000"]["cut"], c["ebv_dna_ge_4000"]["unit"]
    ('>=', 4000.0, 'copy/mL')
    >>> c["hgb"]["kind"], c["hgb"]["unit"]
    ('number', 'g/L')
    """
    out = _rules()
    for seq, sig in zip(schema.SEQUENCES, SIGNATURES):
        out[sig] = check_rule(sig, {"variable": sig, "kind": "number", "unit": "",
                                    "variable_label": f"{seq} deep-learning signature ({sig}; higher = worse)"})
    return out



def read_signatures(folder: str | os.PathLike, sequences: Iterable[str] = schema.SEQUENCES) -> pd.DataFrame:
    """Join the signature files ``signature_<seq>.csv`` of a folder by ``patient_id``.

    Parameters
    ----------
    folder : path-like
        Folder with one ``signature_<seq>.csv`` per sequence (columns
        ``patient_id, cohort, risk``; risk higher = worse), as written by
        ``npc train`` and chapter 04 (``<run>/04_signatures``).
    sequences : iterable of str
        Sequences to read (default T1, T2, T1C).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``cohort`` and one column per signature
        (:func:`signature_name`), sorted by ``patient_id``.

    Raises
    ------
    FileNotFoundError
        A signature file is missing.
    ValueError
        Missing column or value, duplicate patient, non-finite risk, a
        patient present in one file but not in another, or cohort labels that
        differ between files; the message names the file and the patient.
    """
    folder = Path(folder)
    seqs = [_check_sequence(s) for s in sequences]
    if not seqs:
        raise ValueError("sequences is empty")
    joined: pd.DataFrame | None = None
    first = ""
    for seq in seqs:
        path = folder / f"signature_{seq}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"signature file not found: {path} (run chapter 04 or `npc train`)")
        df = pd.read_csv(path, dtype={"patient_id": str, "cohort": str})
        missing = [c for c in _SIGNATURE_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; expected {list(_SIGNATURE_COLUMNS)}")
        df = df[list(_SIGNATURE_COLUMNS)]
        for col in _SIGNATURE_COLUMNS:
            na = df[col].isna()
            if na.any():
                raise ValueError(f"{path}: row {int(np.flatnonzero(na)[0]) + 2}, field {col}: missing value")
        dup = df["patient_id"].duplicated()
        if dup.any():
            raise ValueError(f"{path}: patient {df.loc[dup, 'patient_id'].iloc[0]}, field patient_id: duplicate")
        bad = ~df["cohort"].isin(COHORT_LABELS)
        if bad.any():
            raise ValueError(f"{path}: patient {df.loc[bad, 'patient_id'].iloc[0]}, field cohort: "
                             f"unknown label {df.loc[bad, 'cohort'].iloc[0]!r}")
        risk = pd.to_numeric(df["risk"], errors="coerce")
        if not np.all(np.isfinite(risk)):
            raise ValueError(f"{path}: patient {df.loc[~np.isfinite(risk), 'patient_id'].iloc[0]}, "
                             "field risk: not a finite number")
        df = df.assign(risk=risk.astype(float)).rename(columns={"risk": signature_name(seq)})
        if joined is None:
            joined, first = df, path.name
            continue
        for a, b, name_a, name_b in ((joined, df, first, path.name), (df, joined, path.name, first)):
            extra = sorted(set(a["patient_id"]) - set(b["patient_id"]))
            if extra:
                raise ValueError(f"{folder}: patient {extra[0]} is in {name_a} but not in {name_b} "
                                 f"({len(extra)} in all)")
        joined = joined.merge(df, on="patient_id", suffixes=("", "_other"))
        differ = joined["cohort"] != joined["cohort_other"]
        if differ.any():
            row = joined[differ].iloc[0]
            raise ValueError(f"{folder}: patient {row['patient_id']}, field cohort: {row['cohort']!r} in "
                             f"{first} but {row['cohort_other']!r} in {path.name}")
        joined = joined.drop(columns="cohort_other")
    return joined.sort_values("patient_id").reset_index(drop=True)


def model_frame(clinical: pd.DataFrame, split: pd.DataFrame, signatures: pd.DataFrame | None = None,
                endpoint: str = "dfs") -> pd.DataFrame:
    """One row per patient: cohort, outcome, coded clinical covariates and signatures.

    Parameters
    ----------
    clinical : pandas.DataFrame
        Validated clinical table.
    split : pandas.DataFrame
        ``patient_id, cohort`` (:func:`npc_lib.cohort.split.read_split`), covering
        every patient of ``clinical``.
    signatures : pandas.DataFrame, optional
        From :func:`read_signatures`; every patient of ``clinical`` needs a
        row, and its cohort label must agree with ``split``.
    endpoint : str
        One of :data:`schema.ENDPOINTS`; its time (months) and event become
        the columns ``time`` and ``event``.

    Returns
    -------
    pandas.DataFrame
        ``patient_id, cohort, time, event``, :data:`CLINICAL_COVARIATES` and
        (if given) :data:`SIGNATURES`, in the row order of ``clinical``.

    Raises
    ------
    ValueError
        Unknown endpoint, a patient missing from ``split`` or ``signatures``
        (named), or cohort labels that disagree.

    Examples
    --------
    >>> c = pd.DataFrame({"patient_id": ["P1", "P2"], "age": [50, 40], "sex": ["F", "M"],
    ...                   "hgb": [140, 120], "family_history": ["no", "yes"], "smoking": ["no", "no"],
    ...                   "drinking": ["yes", "no"], "who_type": ["III", "I-II"], "alb": [44, 40],
    ...                   "crp": [3.0, 3.5], "ldh": [180, 500], "ebv_dna": [3999, 4000],
    ...                   "dfs_time": [60.0, 12.5], "dfs_event": [0, 1]})
    >>> s = pd.DataFrame({"patient_id": ["P2", "P1"], "cohort": ["test", "train"]})
    >>> model_frame(c, s)[["patient_id", "cohort", "time", "event"]].values.tolist()
    [['P1', 'train', 60.0, 0], ['P2', 'test', 12.5, 1]]
    """
    if endpoint not in schema.ENDPOINTS:
        raise ValueError(f"endpoint must be one of {schema.ENDPOINTS}, got {endpoint!r}")
    coded = code_clinical(clinical)
    for col in (schema.time_col(endpoint), schema.event_col(endpoint)):
        if col not in clinical.columns:
            raise ValueError(f"clinical: missing column {col!r}")
    ids = coded["patient_id"]
    cohort_of = split.assign(patient_id=split["patient_id"].astype(str)).set_index("patient_id")["cohort"]
    missing = ids[~ids.isin(cohort_of.index)]
    if len(missing):
        raise ValueError(f"split: patient {missing.iloc[0]} is not in the split ({len(missing)} in all)")
    frame = pd.DataFrame({
        "patient_id": ids,
        "cohort": ids.map(cohort_of).astype(str).to_numpy(),
        "time": clinical[schema.time_col(endpoint)].to_numpy(dtype=float),
        "event": clinical[schema.event_col(endpoint)].to_numpy().astype(int),
    })
    frame = pd.concat([frame, coded.drop(columns="patient_id")], axis=1)
    if signatures is not None:
        sig = signatures.set_index("patient_id")
        absent = ids[~ids.isin(sig.index)]
        if len(absent):
            raise ValueError(f"signatures: patient {absent.iloc[0]} has no signature "
                             f"({len(absent)} patients in all)")
        if "cohort" in sig.columns:
            differ = sig.loc[ids, "cohort"].to_numpy() != frame["cohort"].to_numpy()
            if differ.any():
                pid = ids[differ].iloc[0]
                raise ValueError(f"signatures: patient {pid}, field cohort: {sig.loc[pid, 'cohort']!r} "
                                 f"but the split says {frame.loc[differ, 'cohort'].iloc[0]!r}")
        cols = [c for c in SIGNATURES if c in sig.columns]
        if not cols:
            raise ValueError(f"signatures: no signature column (expected some of {list(SIGNATURES)})")
        for c in cols:
            frame[c] = sig.loc[ids, c].to_numpy(dtype=float)
    return frame
