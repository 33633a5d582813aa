"""A nomogram as a small JSON model file, and the calculator that reads it (A22).

The file holds what a clinician's calculator needs and nothing about patients:
the coefficients, the rms point scaling and the baseline survival at chosen
times. :class:`NomogramCalculator` turns one patient's (coded) covariate values
into points per predictor, total points and survival at those times, exactly
as :class:`~npc_lib.stats.nomogram.Nomogram` does.
"""

from __future__ import annotations

__all__ = ["export_nomogram", "NomogramCalculator"]

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .._io import write_json

_FORMAT = "npc-nomogram/1"


def export_nomogram(nomogram, times: Sequence[float], path: str | Path, *, time_unit: str = "months",
                    labels: Mapping[str, str] | None = None) -> Path:
    """Write ``nomogram`` (a fitted :class:`Nomogram`) as a JSON model file, atomically.

    Parameters
    ----------
    nomogram : Nomogram
    times : sequence of float
        Times at which survival is offered (e.g. 36 and 60 months).
    path : path-like
    time_unit : str
        Unit of ``times``.
    labels : mapping, optional
        Display names of the covariates.
    """
    times = [float(t) for t in times]
    if not times:
        raise ValueError("times: give at least one time")
    cumhaz = nomogram.model.baseline_cumhazard(times, lp=nomogram.center)
    doc = {
        "format": _FORMAT,
        "covariates": list(nomogram.covariates),
        "labels": {c: (labels or {}).get(c, c) for c in nomogram.covariates},
        "beta": {c: float(nomogram.beta[c]) for c in nomogram.covariates},
        "xbeta_min": {c: float(nomogram.xbeta_min[c]) for c in nomogram.covariates},
        "scale": float(nomogram.scale),
        "center": float(nomogram.center),
        "intercept": float(nomogram.intercept),
        "baseline_cumhazard_at_center": {f"{t:g}": float(h) for t, h in zip(times, cumhaz)},
        "time_unit": time_unit,
    }
    return write_json(doc, path)


@dataclass(frozen=True)
class NomogramCalculator:
    """Points and survival of one patient from an exported nomogram file.

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

    @classmethod
    def from_json(cls, path: str | Path) -> "NomogramCalculator":
        """Read a file written by :func:`export_nomogram` (errors name the file and field)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"model: file not found: {path}")
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"model: {path} is not JSON: {exc}") from exc
        if doc.get("format") != _FORMAT:
            raise ValueError(f"model: {path} is not a nomogram file (field 'format' is {doc.get('format')!r})")
        for key in ("covariates", "beta", "xbeta_min", "scale", "intercept", "baseline_cumhazard_at_center"):
            if key not in doc:
                raise ValueError(f"model: {path} lacks the field {key!r}")
        return cls(covariates=tuple(doc["covariates"]), beta=doc["beta"], xbeta_min=doc["xbeta_min"],
                   scale=float(doc["scale"]), intercept=float(doc["intercept"]),
                   cumhaz={float(t): float(h) for t, h in doc["baseline_cumhazard_at_center"].items()},
                   labels=doc.get("labels"), time_unit=doc.get("time_unit", "months"))

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
