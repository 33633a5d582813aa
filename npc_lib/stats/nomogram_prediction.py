"""One patient's prediction by a nomogram model file: points, total, linear predictor and survival.

The result of :meth:`~npc_lib.stats.nomogram_export.NomogramCalculator.predict`
(coded covariates) and of
:meth:`~npc_lib.stats.nomogram_export.NomogramCalculator.predict_clinical`
(clinical values, which also fills ``covariate_values``, ``filled``,
``unused`` and ``outside_axis``).
"""

from __future__ import annotations

__all__ = ["NomogramPrediction"]

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NomogramPrediction:
    """A nomogram's prediction for one patient.

    Attributes
    ----------
    points : dict
        Covariate -> points (in covariate order).
    total_points : float
        Sum of the points (higher = worse).
    linear_predictor : float
        Centred linear predictor ``intercept + total_points / scale``.
    xbeta : float
        Uncentred ``X'beta`` (``linear_predictor`` + the model's centre).
    survival : dict
        Time (the model's unit) -> ``S(t)``, survival probability in [0, 1].
    covariate_values : dict
        Covariate -> coded value (clinical values only).
    filled : dict
        Variable -> the adjust-to value used for a missing variable, in words.
    unused : list of str
        Given variables the model does not use.
    outside_axis : list of str
        Covariates whose value lies outside the nomogram's axis (points extrapolated).

    Examples
    --------
    >>> p = NomogramPrediction(points={"x": 50.0}, total_points=50.0, linear_predictor=0.5, xbeta=0.5,
    ...                        survival={36.0: 0.848})
    >>> p.to_dict()["survival"], p.outside_axis
    ({36.0: 0.848}, [])
    """

    points: dict[str, float]
    total_points: float
    linear_predictor: float
    xbeta: float
    survival: dict[float, float]
    covariate_values: dict[str, float] = field(default_factory=dict)
    filled: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    outside_axis: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The fields as plain data (for JSON: survival keys become strings there)."""
        return dataclasses.asdict(self)
