"""Updating a locked nomogram at a new centre, and the transport measures of any nomogram model file.

A model that travels to a new hospital keeps its predictors and coefficients
but may need a new baseline (another era, another case mix) or a new spread
(predictions too extreme or too timid). Three updates of increasing depth
(Su et al. 2018; van Houwelingen 2000; Vergouwe et al. 2017), each written as
a nomogram model file (:mod:`npc_lib.stats.nomogram_export`, ``npc-nomogram/3``)
that names its parent and what was updated, so the calculator page,
``npc nomogram`` and ``npc predict`` read it unchanged:

* :func:`baseline_update`: the same linear predictor ``X'beta``, the baseline
  cumulative hazard re-estimated on the new centre's patients
  (:func:`npc_lib.stats.update_baseline` with ``slope = 1``);
* :func:`recalibration`: the linear predictor multiplied by the calibration
  slope ``s`` (:func:`npc_lib.stats.calibration_slope`) and the baseline
  re-estimated with it (``update_baseline(..., slope=s)``);
* :func:`refit`: the reference, a Cox model with the same covariates refitted
  on the new centre (the networks and their signatures unchanged).

:func:`model_predictions` evaluates any model file on coded patients
(``X'beta``, total points, survival at the horizons, each patient's expected
number of events) and :func:`transport_measures` the external-validation
measures of those predictions (Harrell's C, calibration slope, O/E at each
horizon, Poisson calibration-in-the-large and slope). :func:`updating_split`
draws the patients an update may use and those it is evaluated on, never the
same ones.

References
----------
Su TL, Jaki T, Hickey GL, Buchan I, Sperrin M. A review of statistical updating
methods for clinical prediction models. Stat Methods Med Res 2018;27:185-197.
van Houwelingen HC. Validation, calibration, revision and combination of
prognostic survival models. Stat Med 2000;19:3401-3415.
Vergouwe Y, Nieboer D, Oostenbrink R, et al. A closed testing procedure to
select an appropriate method for updating prediction models. Stat Med
2017;36:4529-4539.
"""

from __future__ import annotations

__all__ = ["UPDATES", "model_xbeta", "step_cumhazard", "model_predictions", "baseline_update", "recalibration",
           "refit", "updating_split", "transport_measures", "update_and_evaluate", "equivalent_cutoff",
           "check_model_document"]

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from npc_lib.stats._validation import check_columns

#: the three updates, in order of depth (the ``update.kind`` of their model files)
UPDATES = ("baseline", "recalibration", "refit")


def check_model_document(doc) -> dict:
    """``doc`` checked as a nomogram model document (errors name the field); returned as a dict."""
    from npc_lib.stats.nomogram_export import NomogramCalculator

    if not isinstance(doc, Mapping):
        raise ValueError(f"doc: expected a nomogram model document (mapping), got {type(doc).__name__}")
    NomogramCalculator.from_model(doc)  # the calculator's own check of every field
    return dict(doc)


def _check_frame(frame, covariates: Sequence[str], name: str = "frame") -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name}: expected a DataFrame, got {type(frame).__name__}")
    check_columns(frame, list(covariates), name)
    x = frame[list(covariates)].apply(pd.to_numeric, errors="coerce")
    bad = [c for c in covariates if not np.all(np.isfinite(x[c].to_numpy(dtype=float)))]
    if bad:
        rows = frame.loc[~np.isfinite(x[bad].to_numpy(dtype=float)).all(axis=1)]
        who = rows["patient_id"].astype(str).tolist()[:5] if "patient_id" in frame.columns else rows.index.tolist()[:5]
        raise ValueError(f"{name}: covariate(s) {bad} missing or not finite (e.g. patient(s) {who})")
    return x


def model_xbeta(doc: Mapping, frame: pd.DataFrame) -> np.ndarray:
    """The uncentred linear predictor ``X'beta`` of a model file for each row of ``frame`` (coded covariates).

    Examples
    --------
    >>> doc = {"covariates": ["a", "b"], "beta": {"a": 0.5, "b": -1.0}}
    >>> model_xbeta(doc, pd.DataFrame({"a": [2.0, 0.0], "b": [1.0, 1.0]})).tolist()
    [0.0, -1.0]
    """
    covs = list(doc["covariates"])
    x = _check_frame(frame, covs)
    return x.to_numpy(dtype=float) @ np.array([float(doc["beta"][c]) for c in covs])


def step_cumhazard(doc: Mapping, times) -> np.ndarray:
    """The model's baseline cumulative hazard at its centre, a right-continuous step function, at ``times``.

    ``times`` may repeat and come in any order (e.g. each patient's follow-up).

    >>> doc = {"baseline_cumhazard_at_center": {"times": [2.0, 5.0], "cumhaz": [0.1, 0.4]}}
    >>> step_cumhazard(doc, [1.0, 2.0, 4.9, 5.0, 9.0]).tolist()
    [0.0, 0.1, 0.1, 0.4, 0.4]
    """
    step = doc["baseline_cumhazard_at_center"]
    jt, h = np.asarray(step["times"], dtype=float), np.asarray(step["cumhaz"], dtype=float)
    t = np.asarray(times, dtype=float)
    k = np.searchsorted(jt, t, side="right") - 1
    return np.where(k >= 0, h[np.maximum(k, 0)], 0.0)


def model_predictions(doc: Mapping, frame: pd.DataFrame, times: Sequence[float]) -> pd.DataFrame:
    """A model file's predictions for coded patients.

    Parameters
    ----------
    doc : mapping
        A nomogram model document (:func:`npc_lib.stats.nomogram_export.read_nomogram_model`).
    frame : DataFrame
        ``patient_id``, the model's coded covariates, and optionally ``time``
        (then each patient's expected number of events is given).
    times : sequence of float
        Horizons (months).

    Returns
    -------
    DataFrame
        ``patient_id, xbeta`` (uncentred ``X'beta``), ``total_points``,
        ``surv_<t>`` and ``risk_<t>`` (``1 - surv``) at each horizon ``t``
        (``{t:g}``), and ``expected`` (``H0(time) exp(X'beta - centre)``) when
        ``frame`` has ``time``. Equal to :class:`~npc_lib.stats.nomogram_export.NomogramCalculator`
        patient by patient.
    """
    doc = check_model_document(doc)
    check_columns(frame, ["patient_id"], "frame")
    xb = model_xbeta(doc, frame)
    lp = xb - float(doc["center"])
    xmin = sum(float(doc["xbeta_min"][c]) for c in doc["covariates"])
    out = pd.DataFrame({"patient_id": frame["patient_id"].astype(str).to_numpy(), "xbeta": xb,
                        "total_points": float(doc["scale"]) * (xb - xmin)})
    for t in times:
        s = np.exp(-step_cumhazard(doc, np.full(len(frame), float(t))) * np.exp(lp))
        out[f"surv_{float(t):g}"] = s
        out[f"risk_{float(t):g}"] = 1.0 - s
    if "time" in frame.columns:
        out["expected"] = step_cumhazard(doc, frame["time"].to_numpy(dtype=float)) * np.exp(lp)
    return out


def _number(v) -> float | int | None:
    """A JSON-ready number: ints stay ints, NaN and infinities become None."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    v = float(v)
    return v if np.isfinite(v) else None


def _survival(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    check_columns(frame, ["time", "event"], "frame")
    return frame["time"].to_numpy(dtype=float), frame["event"].to_numpy().astype(int)


def _jump_step(time: np.ndarray, event: np.ndarray, xbeta: np.ndarray, slope: float):
    """``update_baseline`` at every distinct event time (its jumps): the step function a model file stores."""
    from npc_lib.stats import update_baseline

    jumps = np.unique(time[event == 1])
    if jumps.size == 0:
        raise ValueError("frame: no event among the updating patients: the baseline cannot be re-estimated")
    h = update_baseline(time, event, xbeta, jumps, slope=slope)
    return jumps, h.cumhaz


def baseline_update(doc: Mapping, frame: pd.DataFrame, *, parent: Mapping | None = None, **details) -> dict:
    """``doc`` with its baseline cumulative hazard re-estimated on ``frame``'s patients; ``X'beta`` kept.

    Parameters
    ----------
    doc : mapping
        The locked model document.
    frame : DataFrame
        The updating patients: ``time``, ``event`` and the model's coded covariates.
    parent : mapping, optional
        Extra provenance of the parent (e.g. ``{"sha256": ...}``).
    **details
        Stored in the new document's ``update`` (``n`` and ``events`` are added).

    Returns
    -------
    dict
        A model document with ``update.kind == "baseline"``; the same points for
        every patient, a new survival for each total.
    """
    from npc_lib.stats.nomogram_export import updated_nomogram_model

    doc = check_model_document(doc)
    time, event = _survival(frame)
    jumps, cumhaz = _jump_step(time, event, model_xbeta(doc, frame), 1.0)
    return updated_nomogram_model(doc, kind="baseline", baseline_times=jumps.tolist(), baseline_cumhaz=cumhaz.tolist(),
                                  parent=parent, n=int(time.size), events=int(event.sum()), **details)


def recalibration(doc: Mapping, frame: pd.DataFrame, *, parent: Mapping | None = None, **details) -> dict:
    """``doc`` recalibrated on ``frame``: ``X'beta`` times the calibration slope ``s``, and a new baseline with it.

    ``s`` is :func:`npc_lib.stats.calibration_slope` of ``X'beta`` on the
    updating patients; the baseline is ``update_baseline(..., slope=s)``. The
    new document's ``update`` holds ``slope``, ``slope_se``, ``n``, ``events``.

    Raises
    ------
    ValueError
        A slope that is not positive (the predictor ranks the new patients the
        wrong way round: no recalibration can mend that).
    """
    from npc_lib.stats import calibration_slope
    from npc_lib.stats.nomogram_export import updated_nomogram_model

    doc = check_model_document(doc)
    time, event = _survival(frame)
    xb = model_xbeta(doc, frame)
    s = calibration_slope(time, event, xb)
    if not s.slope > 0:
        raise ValueError(f"frame: calibration slope {s.slope:.3g} is not positive: the model ranks these patients "
                         "the wrong way round, recalibration cannot mend it (refit instead)")
    jumps, cumhaz = _jump_step(time, event, xb, s.slope)
    return updated_nomogram_model(doc, kind="recalibration", slope=s.slope, baseline_times=jumps.tolist(),
                                  baseline_cumhaz=cumhaz.tolist(), parent=parent, slope_se=s.se,
                                  n=int(time.size), events=int(event.sum()), **details)


def refit(doc: Mapping, frame: pd.DataFrame, *, parent: Mapping | None = None, ties: str = "efron",
          name: str | None = None, **details) -> dict:
    """The reference update: a Cox model with ``doc``'s covariates refitted on ``frame`` (a new nomogram).

    Coefficients, point scaling, axes and baseline all come from ``frame``'s
    patients; the clinical coding, labels and horizons are ``doc``'s. The
    document's ``update`` is ``{"kind": "refit", "n", "events", ...}`` and its
    ``parent`` names ``doc``.
    """
    from npc_lib.stats.cox import fit_cox
    from npc_lib.stats.nomogram import Nomogram
    from npc_lib.stats.nomogram_export import nomogram_model

    doc = check_model_document(doc)
    time, event = _survival(frame)
    if event.sum() == 0:
        raise ValueError("frame: no event among the updating patients: no Cox model can be refitted")
    covs = list(doc["covariates"])
    data = pd.concat([frame[["time", "event"]].reset_index(drop=True),
                      _check_frame(frame, covs).reset_index(drop=True)], axis=1)
    nom = Nomogram.from_cox(fit_cox(data, "time", "event", covs, ties=ties), data)
    return nomogram_model(nom, times=doc["times"], coding={c: doc["coding"][c] for c in covs}, labels=doc["labels"],
                          time_unit=doc.get("time_unit", "months"),
                          name=name if name is not None else f"{doc.get('name') or 'model'} (refitted)",
                          parent={"name": doc.get("name") or "model", **dict(parent or {})},
                          update={**details, "kind": "refit", "n": int(time.size), "events": int(event.sum())})


def updating_split(frame: pd.DataFrame, *, update_fraction: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """Which external patients an update may use (``"update"``) and which it is judged on (``"evaluate"``).

    A random split stratified by the event indicator (each stratum shuffled
    with ``numpy.random.default_rng(seed)``), so both parts have events.

    Parameters
    ----------
    frame : DataFrame
        ``patient_id``, ``event``.
    update_fraction : float
        Share of patients (of each stratum) in the updating part, in (0, 1).
    seed : int

    Returns
    -------
    DataFrame
        ``patient_id, part`` in ``frame``'s row order.

    Examples
    --------
    >>> f = pd.DataFrame({"patient_id": list("abcdefgh"), "event": [1, 0, 1, 0, 1, 0, 1, 0]})
    >>> s = updating_split(f, seed=1)
    >>> s["part"].value_counts().to_dict()
    {'update': 4, 'evaluate': 4}
    """
    check_columns(frame, ["patient_id", "event"], "frame")
    if isinstance(update_fraction, bool) or not isinstance(update_fraction, (int, float)) or not (
            0.0 < float(update_fraction) < 1.0):
        raise ValueError(f"update_fraction must be a number strictly between 0 and 1, got {update_fraction!r}")
    ids = frame["patient_id"].astype(str)
    if ids.duplicated().any():
        raise ValueError(f"frame: patient(s) listed twice: {sorted(set(ids[ids.duplicated()]))[:5]}")
    rng = np.random.default_rng(int(seed))
    part = np.full(len(frame), "evaluate", dtype=object)
    event = frame["event"].to_numpy().astype(int)
    for stratum in (1, 0):
        rows = np.flatnonzero(event == stratum)
        rows = rows[rng.permutation(rows.size)]
        part[rows[: int(round(update_fraction * rows.size))]] = "update"
    out = pd.DataFrame({"patient_id": ids.to_numpy(), "part": part})
    for p in ("update", "evaluate"):
        if not (out["part"] == p).any():
            raise ValueError(f"frame: {len(frame)} patients leave the {p!r} part empty (update_fraction "
                             f"{update_fraction})")
    return out


def transport_measures(frame: pd.DataFrame, predictions: pd.DataFrame, times: Sequence[float]) -> dict[str, Any]:
    """External-validation measures of a model's predictions on patients with outcomes.

    Parameters
    ----------
    frame : DataFrame
        ``patient_id, time, event``.
    predictions : DataFrame
        :func:`model_predictions` of the same patients (matched by ``patient_id``).
    times : sequence of float
        Horizons; each needs ``risk_<t>`` in ``predictions``.

    Returns
    -------
    dict
        ``n``, ``events``; ``harrell`` (:func:`npc_lib.stats.concordance_index`
        of ``X'beta``: ``c_index, lower, upper``); ``slope``
        (:func:`npc_lib.stats.calibration_slope`: ``slope, se, lower, upper``);
        ``oe`` (``{t: observed, expected, ratio, lower, upper}``,
        :func:`npc_lib.stats.observed_expected`); ``poisson``
        (:func:`npc_lib.stats.poisson_calibration`: ``citl, citl_se, slope,
        slope_se, n_dropped, events_dropped``). A measure that cannot be
        computed on these patients (no event before ``t``, ...) is ``None``,
        and why is in ``notes``.
    """
    from npc_lib.stats import calibration_slope, observed_expected, poisson_calibration
    from npc_lib.stats.capture import attempt
    from npc_lib.stats.concordance import concordance_index

    check_columns(frame, ["patient_id", "time", "event"], "frame")
    check_columns(predictions, ["patient_id", "xbeta", "expected", *[f"risk_{float(t):g}" for t in times]],
                  "predictions")
    d = frame[["patient_id", "time", "event"]].assign(patient_id=frame["patient_id"].astype(str)).merge(
        predictions.assign(patient_id=predictions["patient_id"].astype(str)), on="patient_id", how="left",
        validate="one_to_one")
    if d["xbeta"].isna().any():
        raise ValueError(f"predictions: no prediction for patient(s) {d.loc[d.xbeta.isna(), 'patient_id'].tolist()[:5]}")
    time, event, xb = d["time"].to_numpy(float), d["event"].to_numpy().astype(int), d["xbeta"].to_numpy(float)
    notes: list[str] = []

    def record(what, fn, *args, fields):
        r, why = attempt(fn, *args)
        if r is None:
            notes.append(f"{what}: {'; '.join(why)}")
            return None
        return {f: _number(getattr(r, f)) for f in fields}

    out: dict[str, Any] = {"n": int(time.size), "events": int(event.sum())}
    out["harrell"] = record("Harrell's C", concordance_index, time, event, xb, fields=("c_index", "lower", "upper"))
    out["slope"] = record("calibration slope", calibration_slope, time, event, xb,
                          fields=("slope", "se", "lower", "upper"))
    out["oe"] = {f"{float(t):g}": record(f"O/E at {t:g}", observed_expected, time, event,
                                        d[f"risk_{float(t):g}"].to_numpy(float), float(t),
                                        fields=("observed", "expected", "ratio", "lower", "upper")) for t in times}
    out["poisson"] = record("Poisson calibration", poisson_calibration, event, d["expected"].to_numpy(float), xb,
                            fields=("citl", "citl_se", "slope", "slope_se", "n_dropped", "events_dropped"))
    out["notes"] = notes
    return out


def update_and_evaluate(doc: Mapping, frame: pd.DataFrame, split: pd.DataFrame, times: Sequence[float], *,
                        parent: Mapping | None = None, **details) -> tuple[dict[str, dict], dict[str, dict], list[str]]:
    """Update ``doc`` on the ``"update"`` patients of ``split`` and judge every model on the ``"evaluate"`` ones.

    Parameters
    ----------
    doc : mapping
        The locked model document.
    frame : DataFrame
        The external patients: ``patient_id, time, event`` and the coded covariates.
    split : DataFrame
        :func:`updating_split` of ``frame`` (``patient_id, part``).
    times : sequence of float
        Horizons of the measures.
    parent : mapping, optional
        Provenance of ``doc`` (e.g. its file's ``sha256``) for the updated files.
    **details
        Stored in each updated document's ``update`` (e.g. ``cohort="external twin"``).

    Returns
    -------
    models : dict
        ``{"baseline" | "recalibration" | "refit": model document}``, each
        made from the updating patients alone (an update that fails is left
        out and explained in ``notes``, as are the warnings of one that was
        made, e.g. a Cox refit that did not converge on few events).
    measures : dict
        ``{"locked" | kind: transport_measures(...)}`` on the evaluation
        patients alone (never those an update used).
    notes : list of str
    """
    from npc_lib.stats.capture import attempt

    check_columns(split, ["patient_id", "part"], "split")
    ids = frame["patient_id"].astype(str)
    part = ids.map(split.assign(patient_id=split["patient_id"].astype(str)).set_index("patient_id")["part"])
    if part.isna().any():
        raise ValueError(f"split: patient(s) {ids[part.isna()].tolist()[:5]} not in the split")
    upd, ev = frame[(part == "update").to_numpy()], frame[(part == "evaluate").to_numpy()]
    if set(upd["patient_id"].astype(str)) & set(ev["patient_id"].astype(str)):
        raise ValueError("split: a patient is in both parts")
    makers = {"baseline": baseline_update, "recalibration": recalibration, "refit": refit}
    models, notes = {}, []
    for kind in UPDATES:
        made, why = attempt(makers[kind], doc, upd, parent=parent, **details)  # warnings become notes
        if made is None:
            notes.append(f"{kind}: not made ({'; '.join(why)})")
            continue
        models[kind] = made
        notes += [f"{kind}: {w}" for w in why]
    measures = {name: transport_measures(ev, model_predictions(m, ev, times), times)
                for name, m in {"locked": check_model_document(doc), **models}.items()}
    return models, measures, notes


def equivalent_cutoff(parent: Mapping, doc: Mapping, cutoff_points: float, t: float) -> float:
    """The total points at which ``doc`` predicts the survival at ``t`` that ``parent`` predicts at ``cutoff_points``.

    A refitted model scores other points, so the locked risk-group cut-off
    (in the parent's points) is carried over as the same predicted risk at
    ``t`` (e.g. 5-year DFS). A baseline update or a recalibration keeps every
    patient's points and needs no such mapping.

    Examples
    --------
    >>> a = {"covariates": ["x"], "beta": {"x": 1.0}, "xbeta_min": {"x": 0.0}, "scale": 10.0, "center": 0.0,
    ...      "intercept": 0.0, "baseline_cumhazard_at_center": {"times": [5.0], "cumhaz": [0.2]}}
    >>> b = {**a, "baseline_cumhazard_at_center": {"times": [5.0], "cumhaz": [0.4]}}
    >>> round(float(equivalent_cutoff(a, b, 10.0, 6.0)), 6)  # 0.2 e^1 = 0.4 e^lp: lp = 1 - log 2
    3.068528
    """
    h_parent = float(step_cumhazard(parent, [t])[0])
    h_new = float(step_cumhazard(doc, [t])[0])
    if not (h_parent > 0 and h_new > 0):
        raise ValueError(f"t: no baseline hazard by {t:g} in one of the models: no risk to carry the cut-off over")
    lp_parent = float(parent["intercept"]) + float(cutoff_points) / float(parent["scale"])
    lp_new = lp_parent + np.log(h_parent / h_new)          # H_new e^lp_new = H_parent e^lp_parent
    return float(float(doc["scale"]) * (lp_new - float(doc["intercept"])))
