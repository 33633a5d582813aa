"""The clinical coding: how a model covariate is computed from a variable as a clinician knows it.

A coding *rule* is plain (JSON-ready) data, one per model covariate; the
rules of the book's Cox models are :func:`npc_lib.cohort.covariates.clinical_coding`,
and every nomogram model file carries the rules of its covariates
(:mod:`npc_lib.stats.nomogram_export`). One function applies a rule,
:func:`code_value`, wherever a value is coded: the analysis table
(:func:`npc_lib.cohort.covariates.code_clinical`), one patient's values
(:func:`~npc_lib.cohort.covariates.code_values`), the calculator
(:class:`~npc_lib.stats.nomogram_export.NomogramCalculator`, ``npc nomogram``).
The calculator page's JavaScript repeats the same steps in the browser; a
browser test checks it against :func:`code_value` on a grid of inputs made
from the rules.

Rules::

    {"variable": "sex", "kind": "level", "levels": ["M", "F"], "level": "F"}
    {"variable": "ebv_dna", "kind": "threshold", "op": ">=", "cut": 4000.0, "unit": "copy/mL"}
    {"variable": "hgb", "kind": "number", "unit": "g/L"}

``level``: covariate = 1 if the value equals ``level`` (case ignored), else 0
(``levels`` lists the allowed values, first = reference); ``threshold``: 1 if
``value <op> cut`` (``op`` ``">"`` or ``">="``), else 0, and the printed
classes ``"< 4000"`` / ``">= 4000"`` (``"≥ 4000"``) are read too; ``number``:
the value itself, in ``unit``. Optional fields: ``variable_label``, ``unit``,
``level_labels`` (level -> words).

This module imports nothing of npc_lib, so the cohort layer and the
statistics layer can both apply the same rules.
"""

from __future__ import annotations

__all__ = ["KINDS", "OPS", "NUMBER_PATTERN", "check_rule", "check_coding", "parse_value", "code_value",
           "describe_value", "below"]

import math
import re
from typing import Mapping, Sequence

KINDS = ("number", "level", "threshold")
OPS = (">", ">=")
#: a number as text: decimal digits, optional sign, point and exponent (no hex, no ``_``, no ``,``);
#: the calculator page reads numbers with this same pattern
NUMBER_PATTERN = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"
_NUMBER = re.compile(NUMBER_PATTERN)


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if _NUMBER.fullmatch(text) else None


def below(op: str) -> str:
    """The comparison of a threshold's lower class: ``">="`` -> ``"<"``, ``">"`` -> ``"<="``."""
    return "<" if op == ">=" else "<="


def check_rule(covariate: str, rule, where: str = "coding") -> dict:
    """Check one rule; return it normalised (labels and unit filled in, ``cut`` a float).

    Errors name ``where``, the covariate and the field.

    >>> check_rule("ebv", {"variable": "ebv_dna", "kind": "threshold", "op": ">=", "cut": 4000})["cut"]
    4000.0
    """
    if not isinstance(rule, Mapping):
        raise ValueError(f"{where}[{covariate!r}]: expected a mapping, got {type(rule).__name__}")
    var = rule.get("variable")
    if not isinstance(var, str) or not var:
        raise ValueError(f"{where}[{covariate!r}]: field 'variable' must be a non-empty string")
    kind = rule.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{where}[{covariate!r}]: field 'kind' must be one of {KINDS}, got {kind!r}")
    out = {"variable": var, "kind": kind, "variable_label": str(rule.get("variable_label", var)),
           "unit": str(rule.get("unit", ""))}
    if kind == "level":
        levels = rule.get("levels")
        if (not isinstance(levels, (list, tuple)) or len(levels) < 2
                or not all(isinstance(v, str) and v for v in levels)
                or len({v.lower() for v in levels}) != len(levels)):
            raise ValueError(f"{where}[{covariate!r}]: field 'levels' must list at least 2 distinct strings")
        if rule.get("level") not in levels:
            raise ValueError(f"{where}[{covariate!r}]: field 'level' must be one of {list(levels)}, "
                             f"got {rule.get('level')!r}")
        labels = rule.get("level_labels") or {}
        out.update(levels=list(levels), level=rule["level"],
                   level_labels={v: str(labels.get(v, v)) for v in levels})
    elif kind == "threshold":
        if rule.get("op") not in OPS:
            raise ValueError(f"{where}[{covariate!r}]: field 'op' must be one of {OPS}, got {rule.get('op')!r}")
        cut = rule.get("cut")
        if isinstance(cut, bool) or not isinstance(cut, (int, float)) or not math.isfinite(cut):
            raise ValueError(f"{where}[{covariate!r}]: field 'cut' must be a finite number, got {cut!r}")
        out.update(op=rule["op"], cut=float(cut))
    return out


def check_coding(covariates: Sequence[str], coding, where: str = "coding") -> dict[str, dict]:
    """Check the rules of ``covariates`` (one each) and that they agree per variable.

    A variable coded by several covariates must be coded the same way
    (all categories with the same levels, or all numbers), and no covariate
    may be named like another covariate's variable. Returns covariate ->
    normalised rule (:func:`check_rule`), in ``covariates`` order.
    """
    if not isinstance(coding, Mapping):
        raise ValueError(f"{where}: expected a mapping covariate -> rule, got {type(coding).__name__}")
    missing = [c for c in covariates if c not in coding]
    if missing:
        raise ValueError(f"{where}: no rule for covariate(s) {missing}")
    rules = {c: check_rule(c, coding[c], where) for c in covariates}
    by_var: dict[str, list[str]] = {}
    for c, r in rules.items():
        by_var.setdefault(r["variable"], []).append(c)
    for var, covs in by_var.items():
        kinds = {rules[c]["kind"] == "level" for c in covs}
        levels = {tuple(rules[c].get("levels", ())) for c in covs}
        if len(kinds) > 1 or len(levels) > 1:
            raise ValueError(f"{where}: variable {var!r} is coded both as a category and a number, "
                             f"or with different levels (covariates {covs})")
    clash = [c for c in covariates if c in by_var and by_var[c] != [c]]
    if clash:
        raise ValueError(f"{where}: covariate(s) {clash} are also the name of another covariate's variable")
    return rules


def parse_value(rule: Mapping, raw) -> str | float:
    """A raw value read for ``rule``: the matching level, a number, or a threshold's printed class.

    A printed class (``"< 4000"``, ``">=4000"``, ``"≥ 4000"``) is returned as
    its comparison (``"<"``, ``">="``) when its number equals the rule's cut.
    Errors say what was wrong (the caller names the patient or field).

    >>> r = {"kind": "threshold", "op": ">=", "cut": 4000.0, "unit": "copy/mL"}
    >>> parse_value(r, "< 4000"), parse_value(r, " 3200 "), parse_value({"kind": "level", "levels": ["M", "F"]}, "f")
    ('<', 3200.0, 'F')
    """
    if rule["kind"] == "level":
        text = str(raw).strip()
        for level in rule["levels"]:
            if text.lower() == level.lower():
                return level
        raise ValueError(f"unknown value {raw!r} (allowed: {', '.join(rule['levels'])})")
    if isinstance(raw, str) and rule["kind"] == "threshold":
        text = "".join(raw.split()).replace("≥", ">=").replace("≤", "<=")
        for prefix in (rule["op"], below(rule["op"])):
            if text.startswith(prefix) and not text[len(prefix):].startswith("="):
                if _number(text[len(prefix):]) == rule["cut"]:
                    return prefix
                break
    if isinstance(raw, str):
        x = _number(raw)
    elif isinstance(raw, bool) or not isinstance(raw, (int, float)) and not hasattr(raw, "__float__"):
        x = None
    else:
        x = float(raw)
    if x is None:
        unit = rule.get("unit")
        raise ValueError(f"not a number: {raw!r}" + (f" (give {unit})" if unit else ""))
    if not math.isfinite(x):
        raise ValueError(f"not a finite number ({raw!r})")
    return x


def code_value(rule: Mapping, raw) -> float:
    """The covariate value of one raw clinical value under ``rule`` (the one place a value is coded).

    Parameters
    ----------
    rule : mapping
        A checked rule (:func:`check_rule`).
    raw : str or number
        As a clinician gives it: a level (any case), a number in the rule's
        unit, or a threshold's printed class.

    Returns
    -------
    float
        0/1 for ``level`` and ``threshold`` rules, the number for ``number``.

    Examples
    --------
    >>> ebv = check_rule("ebv_dna_ge_4000", {"variable": "ebv_dna", "kind": "threshold", "op": ">=", "cut": 4000})
    >>> [code_value(ebv, v) for v in (3999, 4000, "< 4000", "≥ 4000")]
    [0.0, 1.0, 0.0, 1.0]
    >>> code_value(check_rule("sex_female", {"variable": "sex", "kind": "level", "levels": ["M", "F"],
    ...                                       "level": "F"}), "f")
    1.0
    """
    value = parse_value(rule, raw)
    if rule["kind"] == "level":
        return 1.0 if value == rule["level"] else 0.0
    if rule["kind"] == "threshold":
        if isinstance(value, str):
            return 1.0 if value == rule["op"] else 0.0
        return 1.0 if (value > rule["cut"] if rule["op"] == ">" else value >= rule["cut"]) else 0.0
    return float(value)


def describe_value(rule: Mapping, coded: float) -> str:
    """A coded value in the clinician's words (``"M"``, ``"< 4000 copy/mL"``, ``"132 g/L"``).

    >>> describe_value({"kind": "threshold", "op": ">=", "cut": 4000.0, "unit": "copy/mL"}, 0.0)
    '< 4000 copy/mL'
    """
    unit = f" {rule['unit']}" if rule.get("unit") else ""
    if rule["kind"] == "level":
        if coded == 1.0:
            return rule["level"]
        others = [v for v in rule["levels"] if v != rule["level"]]
        return others[0] if len(others) == 1 else f"not {rule['level']}"
    if rule["kind"] == "threshold":
        return f"{rule['op'] if coded == 1.0 else below(rule['op'])} {rule['cut']:g}{unit}"
    return f"{coded:.6g}{unit}"
