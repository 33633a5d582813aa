"""External validation of a locked nomogram model file: discrimination, calibration, the oracle, the signatures.

The steps of chapter 10 that are not model updating
(:mod:`npc_lib.run.updating`): a model file as a fitted model for the
analysis helpers (:class:`DocumentModel`), TRIPOD+AI measures of the model and
of the twin's oracle at the new centre with confidence intervals
(:func:`external_performance`), the oracle's own transport measures
(:func:`oracle_predictions`), each signature's C at both centres beside its
oracle (:func:`signature_transport`) and the locked risk groups
(:func:`locked_risk_groups`).

The oracle is the twin's true model at the centre the patients come from
(:func:`npc_lib.twin.truth.true_dfs_survival` with the centre's baseline
hazard): the best any model could do on the same patients. A real cohort has
none (``truth=None``).
"""

from __future__ import annotations

__all__ = ["DocumentModel", "external_performance", "oracle_predictions", "signature_transport",
           "locked_risk_groups", "MEASURE_ORDER", "transport_column", "cohort_summary", "write_updates"]

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from npc_lib.stats._validation import check_columns

#: measures of :func:`external_performance` besides those of :func:`npc_lib.stats.prediction_performance`
MEASURE_ORDER = ("Harrell's C", "Uno's C", "td-AUC at {t}")


class DocumentModel:
    """A nomogram model file as a fitted model: ``linear_predictor`` (centred) and ``predict_survival``.

    Lets the helpers of :mod:`npc_lib.run.analysis` and :mod:`npc_lib.stats.performance`
    that take a fitted Cox model take a locked or updated model file instead.
    """

    def __init__(self, doc: Mapping):
        from npc_lib.run.updating import check_model_document

        self.doc = check_model_document(doc)
        self.covariates = list(self.doc["covariates"])

    def linear_predictor(self, frame: pd.DataFrame) -> np.ndarray:
        """``X'beta - centre`` of each row (higher = worse)."""
        from npc_lib.run.updating import model_xbeta

        return model_xbeta(self.doc, frame) - float(self.doc["center"])

    def predict_survival(self, frame: pd.DataFrame, times: Sequence[float]) -> np.ndarray:
        """``S(t | x)``, shape ``(n, len(times))``."""
        from npc_lib.run.updating import step_cumhazard

        lp = self.linear_predictor(frame)
        h0 = step_cumhazard(self.doc, np.asarray(times, dtype=float))
        return np.exp(-np.outer(np.exp(lp), h0))

    def total_points(self, frame: pd.DataFrame) -> np.ndarray:
        """Total points of each row (the locked risk-group cut-off is in points)."""
        from npc_lib.run.updating import model_xbeta

        xmin = sum(float(self.doc["xbeta_min"][c]) for c in self.covariates)
        return float(self.doc["scale"]) * (model_xbeta(self.doc, frame) - xmin)


def _true_lp(frame: pd.DataFrame, truth: pd.DataFrame, column: str = "lp_total") -> np.ndarray:
    check_columns(truth, ["patient_id", column], "truth")
    lp = frame[["patient_id"]].astype(str).merge(truth.assign(patient_id=truth["patient_id"].astype(str)),
                                                 on="patient_id", how="left")[column].to_numpy(dtype=float)
    if np.isnan(lp).any():
        raise ValueError(f"truth: no {column} for {int(np.isnan(lp).sum())} patient(s)")
    return lp


def oracle_predictions(frame: pd.DataFrame, truth: pd.DataFrame, times: Sequence[float], centre: str) -> pd.DataFrame:
    """ORACLE ONLY: the twin's true model as :func:`npc_lib.run.updating.model_predictions` would give it.

    ``xbeta`` = ``lp_total``; ``risk_<t>`` and ``expected`` (true cumulative
    hazard at each patient's follow-up) from the centre's true baseline.
    """
    from npc_lib.twin.centres import centre as _centre
    from npc_lib.twin.outcomes import WEIBULL_SHAPE
    from npc_lib.twin.truth import true_dfs_survival

    check_columns(frame, ["patient_id", "time"], "frame")
    lp = _true_lp(frame, truth)
    out = pd.DataFrame({"patient_id": frame["patient_id"].astype(str).to_numpy(), "xbeta": lp})
    s = true_dfs_survival(lp, [float(t) for t in times], centre)
    for k, t in enumerate(times):
        out[f"surv_{float(t):g}"] = s[:, k]
        out[f"risk_{float(t):g}"] = 1.0 - s[:, k]
    time = frame["time"].to_numpy(dtype=float)
    out["expected"] = (time / _centre(centre).weibull_scale) ** WEIBULL_SHAPE * np.exp(lp)  # -log S(own time)
    return out


def external_performance(frame: pd.DataFrame, model: DocumentModel, times: Sequence[float], *,
                         truth: pd.DataFrame | None = None, centre: str = "external", n_grid: int = 50,
                         n_boot: int = 200, seed: int = 0):
    """Discrimination, accuracy and calibration of ``model`` (and of the oracle) on ``frame``, with 95% CIs.

    Measures: Harrell's C (Noether interval), Uno's C truncated at the last
    horizon, Brier, IPA, integrated Brier, ICI/E50/E90 at each horizon
    (:func:`npc_lib.stats.prediction_performance`, percentile bootstrap over
    patients), and the time-dependent AUC at each horizon (timeROC's
    cumulative/dynamic AUC with its iid standard-error interval, clipped to
    [0, 1], :func:`npc_lib.stats.time_dependent_auc` ``method="marginal"``).

    Returns
    -------
    table : DataFrame
        ``model, measure, estimate, lower, upper`` (``model``: ``"nomogram"``, ``"oracle"``).
    curves : dict
        ``{model: {t: CalibrationMetrics}}`` (smoothed calibration curves).
    notes : list of str
        What could not be estimated, and why.
    """
    from npc_lib.stats import prediction_performance
    from npc_lib.stats.capture import attempt
    from npc_lib.stats.concordance import concordance_index
    from npc_lib.stats.tdroc import time_dependent_auc
    from npc_lib.twin.truth import true_dfs_survival

    check_columns(frame, ["patient_id", "time", "event"], "frame")
    times = [float(t) for t in times]
    grid = np.linspace(times[-1] / n_grid, times[-1], int(n_grid))
    time, event = frame["time"].to_numpy(dtype=float), frame["event"].to_numpy().astype(int)
    preds = {"nomogram": (model.linear_predictor(frame), model.predict_survival(frame, times),
                          model.predict_survival(frame, grid))}
    if truth is not None:
        lp = _true_lp(frame, truth)
        preds["oracle"] = (lp, true_dfs_survival(lp, times, centre), true_dfs_survival(lp, grid, centre))
    rows, curves, notes = [], {}, []
    for name, (risk, surv, grid_surv) in preds.items():
        c, why = attempt(concordance_index, time, event, risk)
        if c is None:
            notes.append(f"{name}, Harrell's C: {'; '.join(why)}")
        else:
            rows.append({"model": name, "measure": "Harrell's C", "estimate": c.c_index, "lower": c.lower,
                         "upper": c.upper})
        auc, why = attempt(time_dependent_auc, time, event, risk, times, method="marginal")
        if auc is None:
            notes.append(f"{name}, td-AUC: {'; '.join(why)}")
        else:
            rows += [{"model": name, "measure": f"td-AUC at {r.time:g}", "estimate": r.auc,
                      "lower": max(r.lower, 0.0), "upper": min(r.upper, 1.0)} for r in auc.itertuples()]
        p, why = attempt(prediction_performance, time, event, risk, surv, times, grid_surv=grid_surv, grid=grid,
                         n_boot=n_boot, seed=seed)
        if p is None:
            notes.append(f"{name}, TRIPOD+AI measures: {'; '.join(why)}")
            continue
        rows += [{"model": name, **r} for r in p.table.to_dict(orient="records")]
        curves[name] = p.curves
    table = pd.DataFrame(rows, columns=["model", "measure", "estimate", "lower", "upper"])
    return table, curves, notes


def signature_transport(development: pd.DataFrame, development_truth: pd.DataFrame | None,
                        external: Mapping[str, pd.DataFrame], external_truth: pd.DataFrame | None,
                        signatures: Sequence[str]) -> pd.DataFrame:
    """Harrell's C of each signature at the development test cohort and at the new centre, beside its oracle.

    Parameters
    ----------
    development : DataFrame
        The development test cohort: ``patient_id, time, event, DL_<seq>_sig...``.
    development_truth, external_truth : DataFrame or None
        ``truth.csv`` of each twin (``lp_T1``...: the true image risk each
        sequence shows); ``None`` for a real cohort.
    external : mapping
        ``{"external": frame, "external_refitted": frame}``: the external
        patients' signatures under each standardiser.
    signatures : sequence of str
        ``DL_<seq>_sig`` columns.

    Returns
    -------
    DataFrame
        One row per signature: ``signature, development_test, development_test_oracle,
        external, external_refitted, external_oracle`` (NaN where undefined).
    """
    from npc_lib.stats.capture import attempt
    from npc_lib.stats.concordance import concordance_index

    def c_of(frame, score):
        r, _ = attempt(concordance_index, frame["time"].to_numpy(float), frame["event"].to_numpy().astype(int),
                       np.asarray(score, dtype=float))
        return np.nan if r is None else float(r.c_index)

    rows = []
    for sig in signatures:
        seq = sig.removeprefix("DL_").removesuffix("_sig")
        row = {"signature": sig, "development_test": c_of(development, development[sig])}
        row["development_test_oracle"] = (np.nan if development_truth is None else
                                          c_of(development, _true_lp(development, development_truth, f"lp_{seq}")))
        for name, frame in external.items():
            row[name] = c_of(frame, frame[sig])
        first = next(iter(external.values()))
        row["external_oracle"] = (np.nan if external_truth is None else
                                  c_of(first, _true_lp(first, external_truth, f"lp_{seq}")))
        rows.append(row)
    return pd.DataFrame(rows)


def locked_risk_groups(frame: pd.DataFrame, model: DocumentModel, cutoff_points: float, *, at: float = 60.0):
    """The locked risk groups at the new centre: high where total points exceed the development cut-off.

    Returns
    -------
    group : ndarray of int
        1 = high risk.
    summary : dict
        :func:`npc_lib.stats.endpoints.compare_risk_groups` (HR, log-rank, DFS at ``at``).
    """
    from npc_lib.stats.endpoints import compare_risk_groups

    check_columns(frame, ["time", "event"], "frame")
    cut = float(cutoff_points)
    if not np.isfinite(cut):
        raise ValueError(f"cutoff_points must be finite, got {cutoff_points!r}")
    group = (model.total_points(frame) > cut).astype(int)
    return group, compare_risk_groups(frame["time"], frame["event"], group, at=at)


def transport_column(measures: Mapping, label: str) -> pd.Series:
    """One column of a chapter table: :func:`~npc_lib.run.updating.transport_measures` formatted with 95% CIs.

    Rows: Harrell's C, calibration slope, O/E at each horizon, Poisson
    calibration-in-the-large (Wald interval); ``"NA"`` where not estimable.
    """
    from scipy.stats import norm

    from npc_lib.report import format_ci

    z = float(norm.ppf(0.975))
    h, s, p = measures.get("harrell"), measures.get("slope"), measures.get("poisson")
    rows = {"Harrell's C": "NA" if not h else format_ci(h["c_index"], h["lower"], h["upper"]),
            "calibration slope": "NA" if not s else format_ci(s["slope"], s["lower"], s["upper"])}
    for t, o in (measures.get("oe") or {}).items():
        rows[f"O/E at {t} months"] = "NA" if not o else format_ci(o["ratio"], o["lower"], o["upper"])
    ok = p and p.get("citl") is not None and p.get("citl_se") is not None
    rows["calibration-in-the-large (Poisson)"] = "NA" if not ok else format_ci(
        p["citl"], p["citl"] - z * p["citl_se"], p["citl"] + z * p["citl_se"])
    return pd.Series(rows, name=label)


def cohort_summary(frame: pd.DataFrame, clinical: pd.DataFrame, *, beyond: float = 60.0) -> dict:
    """Who the patients are, in aggregates only: patients, events, follow-up, case mix, scanners.

    Parameters
    ----------
    frame : DataFrame
        A model frame (``time``, ``event``).
    clinical : DataFrame
        The validated clinical table of the same patients (``age``, ``ebv_dna``, ``ldh``, ``scanner``).
    beyond : float
        Months: the share of patients followed beyond it.
    """
    from npc_lib.stats.followup import median_follow_up

    fu = median_follow_up(frame["time"].to_numpy(float), frame["event"].to_numpy(int))
    scanners = (", ".join(f"{k} {v}" for k, v in clinical["scanner"].astype(str).value_counts().sort_index().items())
                if "scanner" in clinical.columns else "not recorded")
    return {"patients": len(frame), "DFS events": int(frame["event"].sum()),
            "median follow-up (months)": round(float(fu.median), 1),
            f"followed beyond {beyond / 12:g} years": f"{(frame['time'] > beyond).mean():.0%}",
            "age, median": float(clinical["age"].median()),
            "EBV DNA >= 4000 copies/mL": f"{(clinical['ebv_dna'] >= 4000).mean():.0%}",
            "LDH, median (U/L)": float(clinical["ldh"].median()), "scanners": scanners}


_WHAT = {"baseline": "baseline re-estimated", "recalibration": "recalibration (slope {slope:.3f}) and baseline",
         "refit": "Cox model refitted (same covariates)"}


def write_updates(bundle, models: Mapping[str, Mapping], measures: Mapping[str, Mapping], out, *, where: str,
                  t: float = 60.0, relative_to=None) -> dict[str, dict]:
    """Write each updated model as a nomogram model file and as a bundle derived from ``bundle``.

    Files: ``out/models/nomogram_<kind>.json`` (the calculator, ``npc nomogram``
    read it unchanged) and ``out/bundles/<kind>/`` (:func:`npc_lib.run.bundle.derive_bundle`,
    naming its parent; ``npc predict`` reads it). A refit scores other points,
    so its risk-group cut-off is the locked one's predicted risk at ``t``
    (:func:`npc_lib.run.updating.equivalent_cutoff`).

    Returns
    -------
    dict
        ``{kind: {"kind", "model_file", "bundle", "update", "evaluation"}}``
        (:class:`npc_lib.run.results.external.UpdatedModel` fields; paths relative
        to ``relative_to``, ``evaluation`` the measures on the evaluation patients).
    """
    from pathlib import Path

    from npc_lib.run.bundle import derive_bundle
    from npc_lib.run.results.external import TransportRecord
    from npc_lib.run.updating import equivalent_cutoff
    from npc_lib.stats.nomogram_export import NomogramCalculator, write_model_document

    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    base = Path(relative_to) if relative_to is not None else out
    written = {}
    for kind, doc in models.items():
        path = write_model_document(doc, out / "models" / f"nomogram_{kind}.json")
        NomogramCalculator.from_json(path)  # the calculator reads it unchanged
        what = _WHAT[kind].format(slope=float(doc["update"].get("slope") or 1.0))
        cut = (equivalent_cutoff(bundle.nomogram, doc, bundle.locked["cutoff_points"], t)
               if kind == "refit" and bundle.locked else None)
        b = derive_bundle(bundle, doc, out / "bundles" / kind, cutoff_points=cut, note=f"{what} on {where}")
        written[kind] = {"kind": kind, "model_file": str(path.relative_to(base)), "bundle": str(Path(b).relative_to(base)),
                         "update": dict(doc["update"]), "evaluation": TransportRecord.from_measures(measures[kind])}
    return written
