"""A nomogram as a small JSON model file, and the calculator that reads it (A22).

The file (``nomogram.json``, format ``npc-nomogram/3``) holds what a
calculator needs and nothing about patients: coefficients, the rms point
scaling, the baseline cumulative hazard as a step function (survival at any
time), adjust-to values, axis ranges, the *clinical coding* (rules of
:mod:`npc_lib.coding`: ``sex = F``, ``ebv_dna = 3200`` copy/mL) and, for a
derived model, its provenance. ``npc nomogram`` and the calculator page
(:mod:`npc_lib.plots.calculator`) code a patient's values from that file.

Fields (strict JSON)::

    format                     "npc-nomogram/3"
    name                       the model's name, or null
    covariates                 model covariates, in order
    labels                     covariate -> display name
    beta, xbeta_min            covariate -> number
    scale, center, intercept   numbers (rms)
    time_unit                  e.g. "months"
    times                      the times a calculator offers by default, e.g. [36, 60]
    baseline_cumhazard_at_center
                               {"times": [t_1 < ... < t_k], "cumhaz": [H_1 <= ... <= H_k]}
    coding                     covariate -> rule (npc_lib.coding)
    other_variables            clinical variables the model does not use
    adjust_to                  covariate -> value (training median / reference level)
    axis_range                 covariate -> [low, high]
    parent                     null, or {"name": ..., "sha256": ..., ...}: the model this one was derived from
    update                     null, or {"kind": "baseline" | "recalibration" | "refit", ...}: what changed

Points and survival, exactly as :class:`~npc_lib.stats.nomogram.Nomogram`
(rms): points of predictor j ``= scale * (beta_j x_j - xbeta_min_j)``; total
points ``T`` = their sum (higher = worse); centred linear predictor
``lp = intercept + T / scale`` (``X'beta = lp + center``);
``S(t) = exp(-H0(t) exp(lp))``, ``H0`` the baseline cumulative hazard at the
centre: a right-continuous step function, 0 before ``t_1``, ``H_i`` on
``[t_i, t_{i+1})`` and ``H_k`` from ``t_k`` on (as ``survfit``; beyond the
development cohort's follow-up it is an extrapolation). Jump times are
event times of the development cohort: an aggregate, no patient record.
"""

from __future__ import annotations

__all__ = [
    "MODEL_FORMAT",
    "READ_FORMATS",
    "UPDATE_KINDS",
    "nomogram_model",
    "updated_nomogram_model",
    "write_nomogram_model",
    "write_model_document",
    "read_nomogram_model",
    "NomogramCalculator",
]

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .._io import atomic_path, read_json
from ..coding import check_coding, check_rule, code_value, describe_value
from ._validation import check_number, check_times
from .nomogram_prediction import NomogramPrediction

MODEL_FORMAT = "npc-nomogram/3"
#: the formats :func:`read_nomogram_model` reads
READ_FORMATS = (MODEL_FORMAT,)
#: what a derived model's ``update`` may say was updated
UPDATE_KINDS = ("baseline", "recalibration", "refit")
_NUMBER_FIELDS = ("beta", "xbeta_min", "adjust_to")
_REQUIRED = ("covariates", "beta", "xbeta_min", "scale", "center", "intercept", "times",
             "baseline_cumhazard_at_center", "coding", "adjust_to")


def _offered_times(times, where: str = "times") -> list[float]:
    ts = check_times(times, name=where).tolist()
    if any(t <= 0 for t in ts) or len(set(ts)) != len(ts):
        raise ValueError(f"{where}: must be distinct and positive, got {ts}")
    return ts


def _check_step(step, where: str) -> tuple[list[float], list[float]]:
    """A baseline cumulative hazard ``{"times": [...], "cumhaz": [...]}``: increasing times, H >= 0 non-decreasing."""
    if not isinstance(step, Mapping) or "times" not in step or "cumhaz" not in step:
        raise ValueError(f"{where} must be {{'times': [...], 'cumhaz': [...]}} (a step function)")
    t, h = step["times"], step["cumhaz"]
    if not isinstance(t, list) or not isinstance(h, list) or len(t) != len(h):
        raise ValueError(f"{where}: 'times' and 'cumhaz' must be lists of the same length")
    t = [check_number(x, f"{where}.times[{i}]") for i, x in enumerate(t)]
    h = [check_number(x, f"{where}.cumhaz[{i}]") for i, x in enumerate(h)]
    if any(x < 0 for x in t) or any(b <= a for a, b in zip(t, t[1:])):
        raise ValueError(f"{where}: 'times' must be non-negative and strictly increasing")
    if any(x < 0 for x in h) or any(b < a for a, b in zip(h, h[1:])):
        raise ValueError(f"{where}: 'cumhaz' must be non-negative and non-decreasing")
    return t, h


def _check_provenance(doc: Mapping) -> None:
    parent, update = doc.get("parent"), doc.get("update")
    for key, value in (("parent", parent), ("update", update)):
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise ValueError(f"field {key!r} must be null or a mapping, got {type(value).__name__}")
        bad = [k for k, v in value.items() if not isinstance(k, str)
               or not (v is None or isinstance(v, (str, int, float)))]
        if bad:
            raise ValueError(f"field {key!r}: entries {bad} must be strings, numbers or null")
    if parent is not None:
        if not isinstance(parent.get("name"), str) or not parent["name"]:
            raise ValueError("field 'parent': 'name' must be a non-empty string")
        sha = parent.get("sha256")
        if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise ValueError(f"field 'parent': 'sha256' must be 64 lower-case hex digits, got {sha!r}")
    if update is not None:
        if parent is None:
            raise ValueError("field 'update' needs a 'parent' (the model that was updated)")
        if update.get("kind") not in UPDATE_KINDS:
            raise ValueError(f"field 'update': 'kind' must be one of {UPDATE_KINDS}, got {update.get('kind')!r}")
        if update["kind"] == "recalibration":
            if check_number(update.get("slope"), "field update.slope") <= 0:
                raise ValueError("field 'update': 'slope' must be positive")


def _baseline_step(nomogram) -> dict:
    """The nomogram's baseline cumulative hazard at its centre, at every jump (event time)."""
    jumps = np.asarray(nomogram.model.event_times, dtype=float)
    cumhaz = nomogram.model.baseline_cumhazard(jumps, lp=nomogram.center)
    return {"times": [check_number(t, "baseline jump time") for t in jumps],
            "cumhaz": [check_number(h, f"baseline cumulative hazard at {t:g}") for t, h in zip(jumps, cumhaz)]}


def nomogram_model(nomogram, *, times: Sequence[float], coding: Mapping[str, Mapping],
                   labels: Mapping[str, str] | None = None, time_unit: str = "months",
                   name: str | None = None, parent: Mapping | None = None,
                   update: Mapping | None = None) -> dict:
    """The model document of ``nomogram`` (what :func:`write_nomogram_model` writes), as a dict.

    Parameters
    ----------
    nomogram : Nomogram
        A fitted :class:`~npc_lib.stats.nomogram.Nomogram`.
    times : sequence of float
        Times a calculator offers by default (e.g. 36 and 60 months), distinct
        and positive; survival at any other time comes from the same step function.
    coding : mapping
        Covariate -> coding rule (:mod:`npc_lib.coding`), e.g.
        :func:`npc_lib.cohort.covariates.clinical_coding`; every covariate of
        the nomogram needs one. Rules of other covariates are not stored, but
        their variables are listed as ``other_variables`` (a calculator then
        says "not used by this model" instead of "unknown").
    labels : mapping, optional
        Display names of the covariates (nomogram axis names).
    time_unit : str
    name : str, optional
        The model's name (e.g. ``"Model_clinic+dl"``).
    parent, update : mapping, optional
        Provenance of a model derived from another one (module docstring),
        e.g. a Cox model refitted at a new centre: ``update={"kind": "refit", ...}``.

    Returns
    -------
    dict
        JSON-ready (every number finite), format :data:`MODEL_FORMAT`.
    """
    times = _offered_times(times)
    covs = list(nomogram.covariates)
    rules = check_coding(covs, coding)
    adjust = nomogram.datadist.limits.loc["Adjust to"]
    used = {r["variable"] for r in rules.values()}
    other = sorted({check_rule(c, r)["variable"] for c, r in coding.items() if c not in rules} - used)
    doc = {
        "format": MODEL_FORMAT,
        "name": None if name is None else str(name),
        "covariates": covs,
        "labels": {c: str((labels or {}).get(c, c)) for c in covs},
        "beta": {c: check_number(nomogram.beta[c], f"beta[{c!r}]") for c in covs},
        "xbeta_min": {c: check_number(nomogram.xbeta_min[c], f"xbeta_min[{c!r}]") for c in covs},
        "scale": check_number(nomogram.scale, "scale"),
        "center": check_number(nomogram.center, "center"),
        "intercept": check_number(nomogram.intercept, "intercept"),
        "time_unit": str(time_unit),
        "times": times,
        "baseline_cumhazard_at_center": _baseline_step(nomogram),
        "coding": rules,
        "other_variables": other,
        "adjust_to": {c: check_number(adjust[c], f"adjust_to[{c!r}]") for c in covs},
        "axis_range": {c: [check_number(float(np.min(nomogram.axis_values[c])), f"axis_range[{c!r}]"),
                           check_number(float(np.max(nomogram.axis_values[c])), f"axis_range[{c!r}]")] for c in covs},
        "parent": None if parent is None else dict(parent),
        "update": None if update is None else dict(update),
    }
    return _check_model(doc)


def updated_nomogram_model(doc: Mapping, *, kind: str, baseline_times: Sequence[float],
                           baseline_cumhaz: Sequence[float], slope: float = 1.0, name: str | None = None,
                           parent: Mapping | None = None, **details) -> dict:
    """A model derived from ``doc`` by a new baseline hazard, optionally recalibrated by ``slope``.

    The new model's linear predictor is ``slope * X'beta`` (``X'beta`` the
    parent's, uncentred) and its baseline cumulative hazard at
    ``slope * X'beta = 0`` is the step function ``baseline_times`` ->
    ``baseline_cumhaz`` (e.g. :func:`npc_lib.stats.update_baseline` on the
    new centre's patients). Points are unchanged: ``beta``, ``xbeta_min``,
    ``center`` and ``intercept`` are multiplied by ``slope`` and ``scale``
    divided by it, so the same patient scores the same points, and the
    points map to a recalibrated risk.

    Parameters
    ----------
    doc : mapping
        The parent model document (:func:`read_nomogram_model`).
    kind : {"baseline", "recalibration"}
        ``"baseline"`` needs ``slope == 1``; ``"recalibration"`` a positive slope.
    baseline_times, baseline_cumhaz : sequence of float
        Jump times (increasing) and cumulative hazards (non-decreasing) at 0.
    slope : float
    name : str, optional
        Default: the parent's name with `` (updated baseline)`` or `` (recalibrated)``.
    parent : mapping, optional
        Extra provenance of the parent, e.g. ``{"sha256": <hash of its file>}``;
        ``name`` defaults to the parent's name.
    **details
        Numbers or strings stored in ``update`` (e.g. ``cohort="centre B"``,
        ``n=180``, ``events=41``, ``slope_se=0.1``).

    Examples
    --------
    >>> from npc_lib.stats.cox import fit_cox
    >>> from npc_lib.stats.nomogram import Nomogram
    >>> d = pd.DataFrame({"t": [5, 8, 9, 12, 15, 20, 22, 30], "e": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                   "x": [2.1, 1.5, 1.9, 0.3, 1.0, 0.2, 0.8, 0.1]})
    >>> doc = nomogram_model(Nomogram.from_cox(fit_cox(d, "t", "e", ["x"]), d), times=[10], name="m",
    ...                      coding={"x": {"variable": "x", "kind": "number"}})
    >>> new = updated_nomogram_model(doc, kind="recalibration", slope=0.5, baseline_times=[4.0, 11.0],
    ...                              baseline_cumhaz=[0.1, 0.3], cohort="centre B")
    >>> new["parent"], new["update"]
    ({'name': 'm'}, {'cohort': 'centre B', 'kind': 'recalibration', 'slope': 0.5})
    >>> a, b = NomogramCalculator.from_model(doc), NomogramCalculator.from_model(new)
    >>> r = b.predict({"x": 1.0})
    >>> bool(abs(r.total_points - a.predict({"x": 1.0}).total_points) < 1e-9)
    True
    >>> bool(abs(r.survival[10.0] - math.exp(-0.1 * math.exp(0.5 * doc["beta"]["x"]))) < 1e-12)
    True
    """
    doc = _check_model(doc)
    if kind not in ("baseline", "recalibration"):
        raise ValueError(f"kind must be 'baseline' or 'recalibration', got {kind!r} "
                         "(a refitted model is a new nomogram_model with update={'kind': 'refit'})")
    s = check_number(slope, "slope")
    if kind == "baseline" and s != 1.0:
        raise ValueError(f"slope: a baseline update keeps the linear predictor (slope 1), got {s}")
    if s <= 0:
        raise ValueError(f"slope: must be positive, got {s}")
    t, h = _check_step({"times": list(baseline_times), "cumhaz": list(baseline_cumhaz)}, "baseline")
    center = s * doc["center"]
    covs = doc["covariates"]
    out = {**doc,
           "name": name if name is not None else f"{doc.get('name') or 'model'} "
                                                 f"({'updated baseline' if kind == 'baseline' else 'recalibrated'})",
           "beta": {c: s * doc["beta"][c] for c in covs},
           "xbeta_min": {c: s * doc["xbeta_min"][c] for c in covs},
           "scale": doc["scale"] / s, "center": center, "intercept": s * doc["intercept"],
           "baseline_cumhazard_at_center": {"times": t, "cumhaz": [x * math.exp(center) for x in h]},
           "parent": {"name": doc.get("name") or "model", **dict(parent or {})},
           "update": {**details, "kind": kind, **({"slope": s} if kind == "recalibration" else {})}}
    return _check_model(out)


def write_nomogram_model(nomogram, path: str | Path, *, times: Sequence[float], coding: Mapping[str, Mapping],
                         labels: Mapping[str, str] | None = None, time_unit: str = "months",
                         name: str | None = None, parent: Mapping | None = None,
                         update: Mapping | None = None) -> Path:
    """Write ``nomogram`` with its clinical coding as ``nomogram.json`` (strict JSON, atomically).

    Parameters as :func:`nomogram_model`; returns ``path``. Read it back with
    :func:`read_nomogram_model`; a document already made is written by :func:`write_model_document`.

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
    >>> r = calc.predict_clinical({"x": 1.0, "sex": "F"}, times=[10, 25])
    >>> r.covariate_values, r.total_points == calc.predict({"x": 1.0, "z": 1.0}).total_points
    ({'x': 1.0, 'z': 1.0}, True)
    >>> sorted(r.survival)
    [10.0, 25.0]
    """
    return write_model_document(nomogram_model(nomogram, times=times, coding=coding, labels=labels,
                                               time_unit=time_unit, name=name, parent=parent, update=update), path)


def write_model_document(doc: Mapping, path: str | Path) -> Path:
    """Write a model document (checked first) as strict JSON, atomically; returns ``path``."""
    text = json.dumps(_check_model(doc), indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def read_nomogram_model(path: str | Path) -> dict:
    """Read and check a model file; errors name the file and the field.

    Returns the document as a dict (format :data:`MODEL_FORMAT`; a file of
    another format is refused with the format it has and the ones this
    version reads, :data:`READ_FORMATS`).
    """
    path = Path(path)
    doc = read_json(path, "model")
    try:
        return _check_model(doc)
    except ValueError as exc:
        raise ValueError(f"model: {path}: {exc}") from None


def _check_model(doc) -> dict:
    fmt = doc.get("format") if isinstance(doc, Mapping) else None
    if not isinstance(fmt, str) or not fmt.startswith("npc-nomogram/"):
        raise ValueError(f"this is not a nomogram file (field 'format' is {fmt!r})")
    if fmt not in READ_FORMATS:
        raise ValueError(f"nomogram format {fmt!r} is not read by this version of npc_lib "
                         f"(it reads {', '.join(READ_FORMATS)}); export the model again")
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise ValueError(f"lacks the field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
    covs = doc["covariates"]
    if not isinstance(covs, list) or not covs or not all(isinstance(c, str) for c in covs):
        raise ValueError("field 'covariates' must be a non-empty list of names")
    for key in _NUMBER_FIELDS:
        if not isinstance(doc[key], Mapping):
            raise ValueError(f"field {key!r} must be a mapping covariate -> number")
        for c in covs:
            if c not in doc[key]:
                raise ValueError(f"field {key!r} has no entry for covariate {c!r}")
            check_number(doc[key][c], f"field {key}[{c!r}]")
    for key in ("scale", "center", "intercept"):
        check_number(doc[key], f"field {key!r}")
    if doc["scale"] <= 0:
        raise ValueError("field 'scale' must be positive")
    rng = doc.get("axis_range")
    if rng is not None:
        for c in covs:
            r = rng.get(c) if isinstance(rng, Mapping) else None
            if (not isinstance(r, list) or len(r) != 2
                    or check_number(r[0], f"field axis_range[{c!r}]") > check_number(r[1], f"field axis_range[{c!r}]")):
                raise ValueError(f"field axis_range[{c!r}] must be [low, high]")
    out = dict(doc)
    out["times"] = _offered_times(doc["times"], "field 'times'")
    t, h = _check_step(doc["baseline_cumhazard_at_center"], "field 'baseline_cumhazard_at_center'")
    if not t:
        raise ValueError("field 'baseline_cumhazard_at_center' has no jump (no event)")
    out["baseline_cumhazard_at_center"] = {"times": t, "cumhaz": h}
    _check_provenance(doc)
    out["coding"] = check_coding(covs, doc["coding"], "field coding")
    other = doc.get("other_variables") or []
    if not isinstance(other, list) or not all(isinstance(v, str) for v in other):
        raise ValueError("field 'other_variables' must be a list of names")
    out.setdefault("parent", None)
    out.setdefault("update", None)
    return out


@dataclass(frozen=True)
class NomogramCalculator:
    """Points and survival of one patient from a nomogram model file.

    :meth:`predict` takes coded covariate values; :meth:`predict_clinical`
    takes the clinical variables as a clinician knows them and codes them
    with the file's ``coding`` (:func:`npc_lib.coding.code_value`).
    Survival is offered at :attr:`times` by default and at any time on request.

    Examples
    --------
    >>> calc = NomogramCalculator(covariates=("x",), beta={"x": 0.5}, xbeta_min={"x": 0.0}, scale=50.0,
    ...                           intercept=-0.5, cumhaz_times=(12.0, 36.0), cumhaz=(0.05, 0.1), times=(36.0,))
    >>> r = calc.predict({"x": 2.0})
    >>> r.total_points, round(r.survival[36.0], 4)
    (50.0, 0.848)
    >>> round(calc.predict({"x": 2.0}, times=[24]).survival[24.0], 4)
    0.9209
    """

    covariates: tuple[str, ...]
    beta: Mapping[str, float]
    xbeta_min: Mapping[str, float]
    scale: float
    intercept: float
    cumhaz_times: tuple[float, ...]
    cumhaz: tuple[float, ...]
    times: tuple[float, ...]
    center: float = 0.0
    labels: Mapping[str, str] | None = None
    time_unit: str = "months"
    coding: Mapping[str, dict] | None = None
    adjust_to: Mapping[str, float] | None = None
    axis_range: Mapping[str, Sequence[float]] | None = None
    other_variables: tuple[str, ...] = field(default=())
    name: str | None = None
    parent: Mapping | None = None
    update: Mapping | None = None

    @classmethod
    def from_model(cls, doc: Mapping) -> "NomogramCalculator":
        """From a model document (:func:`nomogram_model`, :func:`read_nomogram_model`)."""
        doc = _check_model(doc)
        step = doc["baseline_cumhazard_at_center"]
        return cls(covariates=tuple(doc["covariates"]), beta=doc["beta"], xbeta_min=doc["xbeta_min"],
                   scale=float(doc["scale"]), intercept=float(doc["intercept"]),
                   cumhaz_times=tuple(step["times"]), cumhaz=tuple(step["cumhaz"]), times=tuple(doc["times"]),
                   center=float(doc["center"]), labels=doc.get("labels"), time_unit=doc.get("time_unit", "months"),
                   coding=doc["coding"], adjust_to=doc["adjust_to"], axis_range=doc.get("axis_range"),
                   other_variables=tuple(doc.get("other_variables") or ()), name=doc.get("name"),
                   parent=doc["parent"], update=doc["update"])

    @classmethod
    def from_json(cls, path: str | Path) -> "NomogramCalculator":
        """Read a model file (errors name the file and field)."""
        doc = read_nomogram_model(path)
        try:
            return cls.from_model(doc)
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

    def baseline_cumhazard(self, times: Sequence[float]) -> np.ndarray:
        """``H0(t)`` at the centre for each of ``times`` (the step function of the file), shape ``(m,)``."""
        t = np.asarray(_offered_times(times), dtype=float)
        idx = np.searchsorted(np.asarray(self.cumhaz_times), t, side="right") - 1
        return np.where(idx >= 0, np.asarray(self.cumhaz)[np.maximum(idx, 0)], 0.0)

    def points(self, values: Mapping[str, float]) -> pd.Series:
        """Points of each predictor (coded values, as the model's covariates)."""
        x = self._check_values(values)
        beta = np.array([self.beta[c] for c in self.covariates])
        lo = np.array([self.xbeta_min[c] for c in self.covariates])
        return pd.Series(self.scale * (beta * x - lo), index=list(self.covariates), name="points")

    def predict(self, values: Mapping[str, float], times: Sequence[float] | None = None) -> NomogramPrediction:
        """One patient's points and survival, from coded covariate values.

        Returns a :class:`~npc_lib.stats.nomogram_prediction.NomogramPrediction`:
        ``points``, ``total_points``, ``linear_predictor`` (centred,
        ``intercept + total / scale``), ``xbeta`` (uncentred ``X'beta`` =
        linear predictor + centre) and ``survival`` ``{t: S(t)}`` at ``times``
        (default :attr:`times`).
        """
        times = list(self.times if times is None else _offered_times(times))
        pts = self.points(values)
        total = float(pts.sum())
        lp = self.intercept + total / self.scale
        cumhaz = self.baseline_cumhazard(times)
        surv = {float(t): float(np.exp(-h * np.exp(lp))) for t, h in zip(times, cumhaz)}
        return NomogramPrediction(points=pts.to_dict(), total_points=total, linear_predictor=lp,
                                  xbeta=lp + self.center, survival=surv)

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
            raise ValueError("model: this calculator has no clinical coding (give coded covariates to predict)")
        return self.coding

    def describe(self, covariate: str, value: float) -> str:
        """A covariate's coded ``value`` in the clinician's words (``"F"``, ``">= 4000 copy/mL"``, ``"132 g/L"``)."""
        rules = self._rules()
        if covariate not in rules:
            raise ValueError(f"covariate: unknown covariate {covariate!r}")
        return describe_value(rules[covariate], float(value))

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
            raise ValueError("model: no adjust-to values to fill missing variables with")
        coded, filled = {}, {}
        for c in self.covariates:
            r = rules[c]
            var = r["variable"]
            if var in missing:
                coded[c] = float(self.adjust_to[c])
                filled.setdefault(var, []).append(describe_value(r, coded[c]))
                continue
            try:
                coded[c] = code_value(r, values[var])
            except ValueError as exc:
                raise ValueError(f"values: {var}: {exc}") from None
        unused = [k for k in values if k in self.other_variables]
        return coded, {k: ", ".join(v) for k, v in filled.items()}, unused

    def predict_clinical(self, values: Mapping[str, object], fill_missing: bool = False,
                         times: Sequence[float] | None = None) -> NomogramPrediction:
        """:meth:`predict` from clinical values (coded by :meth:`encode`).

        Returns :meth:`predict`'s result with ``covariate_values`` (coded),
        ``filled`` (variable -> adjust-to value used), ``unused`` (given
        variables the model does not use) and ``outside_axis`` (covariates
        whose value lies outside the nomogram's axis: points extrapolated).
        """
        coded, filled, unused = self.encode(values, fill_missing=fill_missing)
        rng = self.axis_range or {}
        outside = [c for c in self.covariates if c in rng and not rng[c][0] <= coded[c] <= rng[c][1]]
        return dataclasses.replace(self.predict(coded, times=times), covariate_values=coded, filled=filled,
                                   unused=unused, outside_axis=outside)
