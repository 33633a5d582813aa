"""A nomogram as a small JSON model file, and the calculator that reads it (A22).

The file (``nomogram.json``, format ``npc-nomogram/2``) holds what a
clinician's calculator needs and nothing about patients: the coefficients,
the rms point scaling, the baseline survival at chosen times, the "adjust
to" value and axis range of each predictor, and the *clinical coding*: how
each model covariate is computed from a variable as a clinician knows it
(``sex = F``, ``ebv_dna = 3200`` copy/mL, ``hgb = 135`` g/L). Both the
command line (``npc nomogram``) and the book's calculator page
(:mod:`npc_lib.plots.calculator`) code a patient's values from that file, so
neither asks for internal codings.

A coding rule (plain data, one per covariate; see
:func:`npc_lib.cohort.covariates.clinical_coding`)::

    {"variable": "sex", "kind": "level", "levels": ["M", "F"], "level": "F", ...}
    {"variable": "ebv_dna", "kind": "threshold", "op": ">=", "cut": 4000.0, "unit": "copy/mL", ...}
    {"variable": "hgb", "kind": "number", "unit": "g/L", ...}

``level``: covariate = 1 if the value equals ``level``, else 0;
``threshold``: 1 if ``value <op> cut`` (``op`` ``">"`` or ``">="``), else 0;
``number``: the value itself.

Points and survival, exactly as :class:`~npc_lib.stats.nomogram.Nomogram`
(rms): points of predictor j ``= scale * (beta_j x_j - xbeta_min_j)``; total
points ``T`` = their sum (higher = worse); linear predictor ``lp = intercept
+ T / scale``; ``S(t) = exp(-H0(t) exp(lp))``, ``H0`` the baseline
cumulative hazard at the mean linear predictor.
"""

from __future__ import annotations

__all__ = [
    "MODEL_FORMAT",
    "nomogram_model",
    "write_nomogram_model",
    "read_nomogram_model",
    "export_nomogram",
    "NomogramCalculator",
]

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .._io import atomic_path, read_json

MODEL_FORMAT = "npc-nomogram/2"
_FORMATS = ("npc-nomogram/1", MODEL_FORMAT)  # /1: no clinical coding (written by export_nomogram)
_KINDS = ("number", "level", "threshold")
_OPS = (">", ">=")
_NUMBER_FIELDS = ("beta", "xbeta_min")


def _check_rule(cov: str, rule, where: str = "coding") -> dict:
    if not isinstance(rule, Mapping):
        raise ValueError(f"{where}[{cov!r}]: expected a mapping, got {type(rule).__name__}")
    var = rule.get("variable")
    if not isinstance(var, str) or not var:
        raise ValueError(f"{where}[{cov!r}]: field 'variable' must be a non-empty string")
    kind = rule.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"{where}[{cov!r}]: field 'kind' must be one of {_KINDS}, got {kind!r}")
    out = {"variable": var, "kind": kind, "variable_label": str(rule.get("variable_label", var)),
           "unit": str(rule.get("unit", ""))}
    if kind == "level":
        levels = rule.get("levels")
        if (not isinstance(levels, (list, tuple)) or len(levels) < 2
                or not all(isinstance(v, str) and v for v in levels) or len(set(levels)) != len(levels)):
            raise ValueError(f"{where}[{cov!r}]: field 'levels' must list at least 2 distinct strings")
        if rule.get("level") not in levels:
            raise ValueError(f"{where}[{cov!r}]: field 'level' must be one of {list(levels)}, "
                             f"got {rule.get('level')!r}")
        labels = rule.get("level_labels") or {}
        out.update(levels=list(levels), level=rule["level"],
                   level_labels={v: str(labels.get(v, v)) for v in levels})
    elif kind == "threshold":
        if rule.get("op") not in _OPS:
            raise ValueError(f"{where}[{cov!r}]: field 'op' must be one of {_OPS}, got {rule.get('op')!r}")
        cut = rule.get("cut")
        if isinstance(cut, bool) or not isinstance(cut, (int, float)) or not math.isfinite(cut):
            raise ValueError(f"{where}[{cov!r}]: field 'cut' must be a finite number, got {cut!r}")
        out.update(op=rule["op"], cut=float(cut))
    return out


def _check_coding(covariates: Sequence[str], coding, where: str = "coding") -> dict[str, dict]:
    if not isinstance(coding, Mapping):
        raise ValueError(f"{where}: expected a mapping covariate -> rule, got {type(coding).__name__}")
    missing = [c for c in covariates if c not in coding]
    if missing:
        raise ValueError(f"{where}: no rule for covariate(s) {missing}")
    rules = {c: _check_rule(c, coding[c], where) for c in covariates}
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


def _finite(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}: not a finite number ({value})")
    return value


def _check_times(times) -> list[float]:
    times = [_finite(t, "times") for t in times]
    if not times:
        raise ValueError("times: give at least one time")
    if any(t <= 0 for t in times) or len(set(times)) != len(times):
        raise ValueError(f"times: must be distinct and positive, got {times}")
    return times


def _core(nomogram, times: Sequence[float], time_unit: str, labels: Mapping[str, str] | None) -> dict:
    times = _check_times(times)
    covs = list(nomogram.covariates)
    cumhaz = nomogram.model.baseline_cumhazard(times, lp=nomogram.center)
    doc = {
        "covariates": covs,
        "labels": {c: str((labels or {}).get(c, c)) for c in covs},
        "beta": {c: _finite(nomogram.beta[c], f"beta[{c!r}]") for c in covs},
        "xbeta_min": {c: _finite(nomogram.xbeta_min[c], f"xbeta_min[{c!r}]") for c in covs},
        "scale": _finite(nomogram.scale, "scale"),
        "center": _finite(nomogram.center, "center"),
        "intercept": _finite(nomogram.intercept, "intercept"),
        "baseline_cumhazard_at_center": {f"{t:g}": _finite(h, f"baseline cumulative hazard at {t:g}")
                                         for t, h in zip(times, cumhaz)},
        "time_unit": str(time_unit),
    }
    return doc


def nomogram_model(nomogram, *, times: Sequence[float], coding: Mapping[str, Mapping],
                   labels: Mapping[str, str] | None = None, time_unit: str = "months",
                   name: str | None = None) -> dict:
    """The model document of ``nomogram`` (what :func:`write_nomogram_model` writes), as a dict.

    Parameters
    ----------
    nomogram : Nomogram
        A fitted :class:`~npc_lib.stats.nomogram.Nomogram`.
    times : sequence of float
        Times at which survival is offered (e.g. 36 and 60 months), distinct and positive.
    coding : mapping
        Covariate -> coding rule (module docstring), e.g.
        :func:`npc_lib.cohort.covariates.clinical_coding`; every covariate of
        the nomogram needs one. Rules of other covariates are not stored, but
        their variables are listed as ``other_variables`` (a calculator then
        says "not used by this model" instead of "unknown").
    labels : mapping, optional
        Display names of the covariates (nomogram axis names).
    time_unit : str
    name : str, optional
        The model's name (e.g. ``"Model_clinic+dl"``).

    Returns
    -------
    dict
        JSON-ready (every number finite), format :data:`MODEL_FORMAT`.
    """
    doc = {"format": MODEL_FORMAT, **_core(nomogram, times, time_unit, labels)}
    covs = doc["covariates"]
    rules = _check_coding(covs, coding)
    adjust = nomogram.datadist.limits.loc["Adjust to"]
    used = {r["variable"] for r in rules.values()}
    other = sorted({_check_rule(c, r)["variable"] for c, r in coding.items() if c not in rules} - used)
    doc.update(
        name=None if name is None else str(name),
        coding=rules,
        other_variables=other,
        adjust_to={c: _finite(adjust[c], f"adjust_to[{c!r}]") for c in covs},
        axis_range={c: [_finite(float(np.min(nomogram.axis_values[c])), f"axis_range[{c!r}]"),
                        _finite(float(np.max(nomogram.axis_values[c])), f"axis_range[{c!r}]")] for c in covs},
    )
    return doc


def _write(doc: dict, path: str | Path) -> Path:
    text = json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_nomogram_model(nomogram, path: str | Path, *, times: Sequence[float], coding: Mapping[str, Mapping],
                         labels: Mapping[str, str] | None = None, time_unit: str = "months",
                         name: str | None = None) -> Path:
    """Write ``nomogram`` with its clinical coding as ``nomogram.json`` (strict JSON, atomically).

    Parameters as :func:`nomogram_model`; returns ``path``. Read it back with
    :func:`read_nomogram_model` or :meth:`NomogramCalculator.from_json`.

    Examples
    --------
    >>> from npc_lib.stats.cox import fit_cox
    >>> from npc_lib.stats.nomogram import Nomogram
    >>> d = pd.DataFrame({"t": [5, 8, 9, 12, 15, 20, 22, 30], "e": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                   "x": [2.1, 1.5, 1.9, 0.3, 1.0, 0.2, 0.8, 0.1], "z": [1, 0, 1, 0, 1, 1, 0, 0]})
    >>> nom = Nomogram.from_cox(fit_cox(d, "t", "e", ["x", "z"]), d)
    >>> coding = {"x": {"variable": "x", "kind": "number"},
    ...           "z": {"variable": "sex", "kind": "level", "levels": ["M", "F"], "level": "F"}}
    >>> import tempfile, os
    >>> path = write_nomogram_model(nom, os.path.join(tempfile.mkdtemp(), "m.json"), times=[10], coding=coding)
    >>> calc = NomogramCalculator.from_json(path)
    >>> r = calc.predict_clinical({"x": 1.0, "sex": "F"})
    >>> r["covariate_values"], r["total_points"] == calc.predict({"x": 1.0, "z": 1.0})["total_points"]
    ({'x': 1.0, 'z': 1.0}, True)
    """
    return _write(nomogram_model(nomogram, times=times, coding=coding, labels=labels, time_unit=time_unit,
                                 name=name), path)


def export_nomogram(nomogram, times: Sequence[float], path: str | Path, *, time_unit: str = "months",
                    labels: Mapping[str, str] | None = None) -> Path:
    """Write the legacy model file (format ``npc-nomogram/1``: no clinical coding).

    Superseded by :func:`write_nomogram_model`, which stores the clinical
    coding the calculator needs; kept so that older callers still work.
    """
    return _write({"format": _FORMATS[0], **_core(nomogram, times, time_unit, labels)}, path)


def read_nomogram_model(path: str | Path) -> dict:
    """Read and check a model file; errors name the file and the field.

    Returns the document as a dict (format ``npc-nomogram/2``, or ``/1`` with
    ``coding`` set to ``None``).
    """
    path = Path(path)
    doc = read_json(path, "model")
    try:
        return _check_model(doc)
    except ValueError as exc:
        raise ValueError(f"model: {path}: {exc}") from None


def _check_model(doc) -> dict:
    if not isinstance(doc, Mapping) or doc.get("format") not in _FORMATS:
        fmt = doc.get("format") if isinstance(doc, Mapping) else None
        raise ValueError(f"this is not a nomogram file (field 'format' is {fmt!r})")
    need = ["covariates", "beta", "xbeta_min", "scale", "intercept", "baseline_cumhazard_at_center"]
    if doc["format"] == MODEL_FORMAT:
        need += ["coding", "adjust_to"]
    for key in need:
        if key not in doc:
            raise ValueError(f"lacks the field {key!r}")
    covs = doc["covariates"]
    if not isinstance(covs, list) or not covs or not all(isinstance(c, str) for c in covs):
        raise ValueError("field 'covariates' must be a non-empty list of names")
    for key in _NUMBER_FIELDS + (("adjust_to",) if "adjust_to" in doc else ()):
        if not isinstance(doc[key], Mapping):
            raise ValueError(f"field {key!r} must be a mapping covariate -> number")
        for c in covs:
            if c not in doc[key]:
                raise ValueError(f"field {key!r} has no entry for covariate {c!r}")
            _finite(doc[key][c], f"field {key}[{c!r}]")
    for key in ("scale", "intercept"):
        _finite(doc[key], f"field {key!r}")
    rng = doc.get("axis_range")
    if rng is not None:
        for c in covs:
            r = rng.get(c) if isinstance(rng, Mapping) else None
            if (not isinstance(r, list) or len(r) != 2
                    or _finite(r[0], f"field axis_range[{c!r}]") > _finite(r[1], f"field axis_range[{c!r}]")):
                raise ValueError(f"field axis_range[{c!r}] must be [low, high]")
    if _finite(doc["scale"], "field 'scale'") <= 0:
        raise ValueError("field 'scale' must be positive")
    cumhaz = doc["baseline_cumhazard_at_center"]
    if not isinstance(cumhaz, Mapping) or not cumhaz:
        raise ValueError("field 'baseline_cumhazard_at_center' must map times to numbers")
    for t, h in cumhaz.items():
        try:
            float(t)
        except ValueError:
            raise ValueError(f"field 'baseline_cumhazard_at_center': time {t!r} is not a number") from None
        if _finite(h, f"field baseline_cumhazard_at_center[{t!r}]") < 0:
            raise ValueError(f"field baseline_cumhazard_at_center[{t!r}] is negative")
    out = dict(doc)
    coding = doc.get("coding")
    out["coding"] = None if coding is None and doc["format"] != MODEL_FORMAT else _check_coding(
        covs, coding, "field coding")
    return out


def _parse_level(rule: dict, raw, var: str) -> str:
    text = str(raw).strip()
    for level in rule["levels"]:
        if text.lower() == level.lower():
            return level
    raise ValueError(f"values: {var}: unknown value {raw!r} (allowed: {', '.join(rule['levels'])})")


def _parse_number(rule: dict, raw, var: str) -> float | str:
    if isinstance(raw, str) and rule["kind"] == "threshold":
        text = "".join(raw.split()).replace("≥", ">=").replace("≤", "<=")
        below = "<" if rule["op"] == ">=" else "<="
        for prefix in (rule["op"], below):
            if text.startswith(prefix) and not text[len(prefix):].startswith("="):
                try:
                    cut = float(text[len(prefix):])
                except ValueError:
                    break
                if cut == rule["cut"]:  # the page's parse() does the same
                    return prefix  # a printed class, e.g. "< 4000"
                break
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"values: {var}: not a number: {raw!r}"
                         + (f" (give {rule['unit']})" if rule.get("unit") else "")) from None
    if not math.isfinite(x):
        raise ValueError(f"values: {var}: not a finite number ({raw!r})")
    return x


def _code(rule: dict, value) -> float:
    """Covariate value of one parsed clinical value (same arithmetic as the calculator page)."""
    if rule["kind"] == "level":
        return 1.0 if value == rule["level"] else 0.0
    if rule["kind"] == "threshold":
        if isinstance(value, str):
            return 1.0 if value == rule["op"] else 0.0
        return 1.0 if (value > rule["cut"] if rule["op"] == ">" else value >= rule["cut"]) else 0.0
    return float(value)


def _describe(rule: dict, coded: float) -> str:
    """A coded value in the clinician's words (``"M"``, ``"< 4000 copy/mL"``, ``"132 g/L"``)."""
    unit = f" {rule['unit']}" if rule.get("unit") else ""
    if rule["kind"] == "level":
        if coded == 1.0:
            return rule["level"]
        others = [v for v in rule["levels"] if v != rule["level"]]
        return others[0] if len(others) == 1 else f"not {rule['level']}"
    if rule["kind"] == "threshold":
        below = "<" if rule["op"] == ">=" else "<="
        return f"{rule['op'] if coded == 1.0 else below} {rule['cut']:g}{unit}"
    return f"{coded:.6g}{unit}"


@dataclass(frozen=True)
class NomogramCalculator:
    """Points and survival of one patient from an exported nomogram file.

    :meth:`predict` takes coded covariate values; :meth:`predict_clinical`
    takes the clinical variables as a clinician knows them and codes them
    with the file's ``coding``.

    Examples
    --------
    >>> calc = NomogramCalculator(covariates=("x",), beta={"x": 0.5}, xbeta_min={"x": 0.0}, scale=50.0,
    ...                           intercept=-0.5, cumhaz={36.0: 0.1})
    >>> r = calc.predict({"x": 2.0})
    >>> r["total_points"], round(r["survival"][36.0], 4)
    (50.0, 0.848)
    """

    covariates: tuple[str, ...]
    beta: Mapping[str, float]
    xbeta_min: Mapping[str, float]
    scale: float
    intercept: float
    cumhaz: Mapping[float, float]
    labels: Mapping[str, str] | None = None
    time_unit: str = "months"
    coding: Mapping[str, dict] | None = None
    adjust_to: Mapping[str, float] | None = None
    axis_range: Mapping[str, Sequence[float]] | None = None
    other_variables: tuple[str, ...] = field(default=())

    @classmethod
    def from_model(cls, doc: Mapping, coding: Mapping[str, Mapping] | None = None) -> "NomogramCalculator":
        """From a model document (:func:`nomogram_model`); ``coding`` only for a format-1 document."""
        doc = _check_model(doc)
        rules, other = doc["coding"], doc.get("other_variables") or ()
        if rules is None and coding is not None:
            rules = _check_coding(doc["covariates"], coding)
            used = {r["variable"] for r in rules.values()}
            other = sorted({_check_rule(c, r)["variable"] for c, r in coding.items() if c not in rules} - used)
        return cls(covariates=tuple(doc["covariates"]), beta=doc["beta"], xbeta_min=doc["xbeta_min"],
                   scale=float(doc["scale"]), intercept=float(doc["intercept"]),
                   cumhaz={float(t): float(h) for t, h in doc["baseline_cumhazard_at_center"].items()},
                   labels=doc.get("labels"), time_unit=doc.get("time_unit", "months"), coding=rules,
                   adjust_to=doc.get("adjust_to"), axis_range=doc.get("axis_range"),
                   other_variables=tuple(other))

    @classmethod
    def from_json(cls, path: str | Path, coding: Mapping[str, Mapping] | None = None) -> "NomogramCalculator":
        """Read a model file (errors name the file and field).

        ``coding`` is used only for a legacy file without one (format ``/1``).
        """
        doc = read_nomogram_model(path)
        try:
            return cls.from_model(doc, coding=coding)
        except ValueError as exc:
            raise ValueError(f"model: {path}: {exc}") from None

    def _check_values(self, values: Mapping[str, float]) -> np.ndarray:
        missing = [c for c in self.covariates if c not in values]
        if missing:
            raise ValueError(f"values: missing field(s) {missing} (the model uses {list(self.covariates)})")
        x = np.array([float(values[c]) for c in self.covariates])
        bad = [c for c, v in zip(self.covariates, x) if not np.isfinite(v)]
        if bad:
            raise ValueError(f"values: field(s) {bad} not finite")
        return x

    def points(self, values: Mapping[str, float]) -> pd.Series:
        """Points of each predictor (coded values, as the model's covariates)."""
        x = self._check_values(values)
        beta = np.array([self.beta[c] for c in self.covariates])
        lo = np.array([self.xbeta_min[c] for c in self.covariates])
        return pd.Series(self.scale * (beta * x - lo), index=list(self.covariates), name="points")

    def predict(self, values: Mapping[str, float]) -> dict:
        """``{"points": {...}, "total_points": float, "survival": {t: S(t)}}`` for one patient."""
        pts = self.points(values)
        total = float(pts.sum())
        lp = self.intercept + total / self.scale
        surv = {t: float(np.exp(-h * np.exp(lp))) for t, h in self.cumhaz.items()}
        return {"points": pts.to_dict(), "total_points": total, "linear_predictor": lp, "survival": surv}

    # ------------------------------------------------------------------ clinical values

    @property
    def variables(self) -> list[dict]:
        """The clinical variables the model asks for, in covariate order.

        Each: ``variable``, ``label``, ``kind`` (``"level"`` or ``"number"``),
        ``unit``, ``levels`` and ``level_labels`` (categories), ``covariates``.
        """
        rules = self._rules()
        out: dict[str, dict] = {}
        for c in self.covariates:
            r = rules[c]
            v = out.setdefault(r["variable"], {
                "variable": r["variable"], "label": r["variable_label"],
                "kind": "level" if r["kind"] == "level" else "number", "unit": r["unit"],
                **({"levels": r["levels"], "level_labels": r["level_labels"]} if r["kind"] == "level" else {}),
                "covariates": []})
            v["covariates"].append(c)
        return list(out.values())

    def _rules(self) -> Mapping[str, dict]:
        if self.coding is None:
            raise ValueError("model: the file has no clinical coding (format npc-nomogram/1); "
                             "write it with write_nomogram_model")
        return self.coding

    def describe(self, covariate: str, value: float) -> str:
        """A covariate's coded ``value`` in the clinician's words (``"F"``, ``">= 4000 copy/mL"``, ``"132 g/L"``)."""
        rules = self._rules()
        if covariate not in rules:
            raise ValueError(f"covariate: unknown covariate {covariate!r}")
        return _describe(rules[covariate], float(value))

    def encode(self, values: Mapping[str, object], fill_missing: bool = False) -> tuple[dict, dict, list]:
        """Code clinical values as the model's covariates.

        Parameters
        ----------
        values : mapping
            Clinical variable -> value as a clinician knows it: ``sex`` ``"M"``
            or ``"F"``, yes/no fields, ``who_type``, numbers in their units
            (``ebv_dna`` copy/mL, ``hgb`` g/L), signature scores; a
            threshold variable also takes its printed class (``"< 4000"``).
        fill_missing : bool
            Set a variable the model needs but ``values`` lacks to the model's
            "adjust to" value (training median or reference level); otherwise
            a missing variable is an error naming it.

        Returns
        -------
        coded : dict
            Covariate -> value.
        filled : dict
            Variable -> the adjust-to value used, in the clinician's words.
        unused : list of str
            Given variables that this model does not use.
        """
        rules = self._rules()
        if not isinstance(values, Mapping):
            raise ValueError("values must be a mapping variable -> value")
        names = [v["variable"] for v in self.variables]
        internal = [k for k in values if k in self.covariates and k not in names]
        if internal:
            wanted = sorted({rules[k]["variable"] for k in internal})
            raise ValueError(f"values: {internal} are the model's internal coding; give the clinical "
                             f"variable(s) {wanted} instead")
        unknown = [k for k in values if k not in names and k not in self.other_variables]
        if unknown:
            raise ValueError(f"values: unknown variable(s) {unknown} (the model uses {names})")
        missing = [v for v in names if v not in values or values[v] is None or str(values[v]).strip() == ""]
        if missing and not fill_missing:
            raise ValueError(f"values: missing variable(s) {missing} (the model uses {names}; "
                             "or fill them with the model's adjust-to values: fill_missing / --fill-missing)")
        if missing and self.adjust_to is None:
            raise ValueError("model: the file has no adjust-to values to fill missing variables with")
        coded, filled = {}, {}
        for c in self.covariates:
            r = rules[c]
            var = r["variable"]
            if var in missing:
                coded[c] = float(self.adjust_to[c])
                filled.setdefault(var, []).append(_describe(r, coded[c]))
                continue
            raw = values[var]
            parsed = _parse_level(r, raw, var) if r["kind"] == "level" else _parse_number(r, raw, var)
            coded[c] = _code(r, parsed)
        unused = [k for k in values if k in self.other_variables]
        return coded, {k: ", ".join(v) for k, v in filled.items()}, unused

    def predict_clinical(self, values: Mapping[str, object], fill_missing: bool = False) -> dict:
        """:meth:`predict` from clinical values (coded by :meth:`encode`).

        Returns :meth:`predict`'s dict plus ``covariate_values`` (coded),
        ``filled`` (variable -> adjust-to value used), ``unused`` (given
        variables the model does not use) and ``outside_axis`` (covariates
        whose value lies outside the nomogram's axis: points extrapolated).
        """
        coded, filled, unused = self.encode(values, fill_missing=fill_missing)
        out = self.predict(coded)
        rng = self.axis_range or {}
        outside = [c for c in self.covariates if c in rng and not rng[c][0] <= coded[c] <= rng[c][1]]
        out.update(covariate_values=coded, filled=filled, unused=unused, outside_axis=outside)
        return out
