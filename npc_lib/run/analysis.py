"""Chapter-level steps shared by the model chapters (05, 06, 07): scores, summaries, lookups.

Each function is one step a chapter would otherwise write inline: the
scores of every model and signature of a model frame, a model's covariates
as the reader knows them, Table 2 as nested records for ``metrics.json``,
calibration of a fitted model at several horizons in several cohorts, and a
net benefit read off a decision-curve table.
"""

from __future__ import annotations

__all__ = ["model_scores", "covariate_sources", "cindex_records", "calibration_by_cohort", "net_benefit_at",
           "performance_by_cohort", "choose_model", "nomogram_of", "oracle_concordance"]

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from npc_lib.stats._validation import check_columns


def model_scores(frame: pd.DataFrame, fits: Mapping[str, Any], signatures: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Risk scores (higher = worse) of each signature column and each fitted model on ``frame``.

    Parameters
    ----------
    frame : DataFrame
        A model frame (:meth:`npc_lib.run.Run.model_frame`).
    fits : mapping
        ``{model name: fitted Cox model}`` (anything with ``linear_predictor(frame)``).
    signatures : sequence of str
        Signature columns of ``frame`` to include first (``DL_T1_sig``...).

    Examples
    --------
    >>> class Fit:
    ...     def linear_predictor(self, d): return 2 * d["x"].to_numpy()
    >>> s = model_scores(pd.DataFrame({"x": [1.0, 2.0], "DL_T1_sig": [0.1, 0.2]}), {"m": Fit()}, ["DL_T1_sig"])
    >>> list(s), s["m"].tolist()
    (['DL_T1_sig', 'm'], [2.0, 4.0])
    """
    check_columns(frame, list(signatures), "frame")
    out = {s: frame[s].to_numpy(dtype=float) for s in signatures}
    for name, fit in fits.items():
        out[name] = np.asarray(fit.linear_predictor(frame), dtype=float)
    return out


def choose_model(train: pd.DataFrame, candidates: Sequence[str], covariates: str = "stepwise", *, name: str,
                 ties: str = "efron", fallback: Sequence[str] = ()):
    """A chapter's Cox model: backward stepwise AIC on ``candidates``, or covariates fixed by a chapter knob.

    Parameters
    ----------
    train : DataFrame
        The training model frame (``time``, ``event``, the covariates).
    candidates : sequence of str
        The start model of the stepwise search.
    covariates : str
        ``"stepwise"`` (:func:`npc_lib.stats.model_selection.select_model`,
        with ``fallback``); ``"none"``: no covariate at all, the null model
        (a what-if that every later chapter must survive); or a
        comma-separated list of covariates fitted as they are
        (:func:`npc_lib.stats.model_selection.fixed_model`).
    name, ties, fallback
        As :func:`~npc_lib.stats.model_selection.select_model`.

    Returns
    -------
    ModelSelection

    Examples
    --------
    >>> d = pd.DataFrame({"time": [1., 2, 3, 4, 5, 6], "event": [1, 0, 1, 1, 0, 1], "x": [.1, .5, .2, .9, .3, .8]})
    >>> choose_model(d, ["x"], "none", name="m").used
    []
    >>> choose_model(d, ["x"], "y", name="m")
    Traceback (most recent call last):
    ...
    ValueError: model m: covariates ['y'] not in the model frame (known: x)
    """
    from npc_lib.stats.model_selection import fixed_model, select_model

    how = str(covariates).strip()
    if how == "stepwise":
        return select_model(train, list(candidates), name=name, ties=ties, fallback=list(fallback))
    fixed = [] if how.lower() == "none" else [c.strip() for c in how.split(",") if c.strip()]
    unknown = [c for c in fixed if c not in train.columns or c in ("time", "event")]
    if unknown or (not fixed and how.lower() != "none"):
        known = ", ".join(c for c in train.columns if c not in ("patient_id", "cohort", "time", "event"))
        raise ValueError(f"model {name}: covariates {unknown or how!r} not in the model frame (known: {known})")
    return fixed_model(train, fixed, name=name, ties=ties)


def nomogram_of(fit, train: pd.DataFrame, *, name: str = "Model_clinic+dl"):
    """The rms nomogram of a fitted Cox model, or why there is none.

    Returns
    -------
    nomogram : Nomogram or None
        :meth:`npc_lib.stats.Nomogram.from_cox` on the training frame.
    skipped : str or None
        Why there is no nomogram: a model without covariate (its points would
        be scaled by 100 / 0) or with a covariate constant in ``train`` (an
        axis of one value). ``None`` when there is one.

    Examples
    --------
    >>> from npc_lib.stats import fit_cox
    >>> d = pd.DataFrame({"time": [1., 2, 3, 4, 5, 6], "event": [1, 0, 1, 1, 0, 1], "x": [.1, .5, .2, .9, .3, .8]})
    >>> nom, why = nomogram_of(fit_cox(d, "time", "event", []), d, name="m")
    >>> nom, why
    (None, 'm has no covariate: no nomogram (every patient has the same prediction; points would be 100 / 0)')
    """
    from npc_lib.stats import Nomogram

    covariates = list(fit.covariates)
    if not covariates:
        return None, (f"{name} has no covariate: no nomogram (every patient has the same prediction; "
                      f"points would be 100 / 0)")
    constant = [c for c in covariates if train[c].nunique(dropna=False) < 2]
    if constant:
        return None, f"{name}: covariate(s) {constant} constant in the training cohort: no nomogram axis"
    return Nomogram.from_cox(fit, train[covariates]), None


def covariate_sources(covariates: Sequence[str]) -> str:
    """The clinical variables and signatures behind model covariates, as a reader knows them.

    Examples
    --------
    >>> covariate_sources(["age", "ebv_dna_ge_4000", "DL_T1_sig"])
    'age, ebv_dna, DL_T1_sig'
    >>> covariate_sources([])
    '(none)'
    """
    from npc_lib.cohort.covariates import source_variable

    return ", ".join(source_variable(c) for c in covariates) or "(none)"


def cindex_records(table: pd.DataFrame) -> dict[str, dict[str, dict[str, float | None]]]:
    """``{cohort: {model: {c_index, lower, upper, p_value}}}`` from a long C-index table.

    ``table`` has columns ``cohort, model, c_index, lower, upper, p_value``
    (:func:`npc_lib.stats.performance.concordance_table` with a ``cohort``
    column); NaN becomes ``None``.

    Examples
    --------
    >>> t = pd.DataFrame({"cohort": ["test"], "model": ["m"], "c_index": [0.7], "lower": [0.6],
    ...                   "upper": [0.8], "p_value": [float("nan")]})
    >>> cindex_records(t)["test"]["m"]["p_value"] is None
    True
    """
    check_columns(table, ["cohort", "model", "c_index", "lower", "upper", "p_value"], "table")
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for r in table.itertuples():
        out.setdefault(r.cohort, {})[r.model] = {
            k: (None if pd.isna(getattr(r, k)) else float(getattr(r, k))) for k in ("c_index", "lower", "upper", "p_value")}
    return out


def calibration_by_cohort(cohorts: Mapping[str, pd.DataFrame], fit, horizons: Mapping[float, str], *,
                          groups: int = 4, test: str = "gnd") -> tuple[dict[str, dict[str, Any]], pd.DataFrame]:
    """rms-style grouped calibration of ``fit`` at each horizon in each cohort.

    Parameters
    ----------
    cohorts : mapping
        ``{cohort name: model frame}`` with ``time`` (months) and ``event``.
    fit : fitted Cox model
        With ``predict_survival(frame, times)``.
    horizons : mapping
        ``{time in months: label}``.
    groups, test
        As :func:`npc_lib.stats.performance.calibration_at`.

    Returns
    -------
    curves : dict
        ``{cohort: {label: CalibrationResult or None}}``, for plotting.
    table : DataFrame
        One row per cohort and time: mean predicted survival, groups, test,
        chi2, df, p, note.
    """
    from npc_lib.stats.performance import calibration_at

    curves: dict[str, dict[str, Any]] = {}
    rows = []
    for c, d in cohorts.items():
        check_columns(d, ["time", "event"], f"cohorts[{c!r}]")
        curves[c] = {}
        for t, label in horizons.items():
            pred = fit.predict_survival(d, [t])[:, 0]
            cal, note = calibration_at(d["time"], d["event"], pred, t, groups=groups, test=test)
            curves[c][label] = cal
            found = cal is not None
            rows.append({"cohort": c, "time": float(t), "mean predicted": float(pred.mean()),
                         "groups": int(cal.table["km"].notna().sum()) if found else np.nan,
                         "test": cal.test.method if found else None,
                         "chi2": cal.test.statistic if found else np.nan, "df": cal.test.df if found else np.nan,
                         "p": cal.test.p_value if found else np.nan, "note": note})
    return curves, pd.DataFrame(rows)


def net_benefit_at(table: pd.DataFrame, model: str, threshold: float) -> float | None:
    """The net benefit of ``model`` at ``threshold`` in a decision-curve table, or ``None``.

    Examples
    --------
    >>> t = pd.DataFrame({"model": ["m", "m"], "threshold": [0.1, 0.2], "net_benefit": [0.05, 0.03]})
    >>> net_benefit_at(t, "m", 0.2), net_benefit_at(t, "m", 0.3)
    (0.03, None)
    """
    check_columns(table, ["model", "threshold", "net_benefit"], "table")
    r = table[(table["model"] == model) & np.isclose(table["threshold"], threshold)]["net_benefit"]
    return None if r.empty or pd.isna(r.iloc[0]) else float(r.iloc[0])


def performance_by_cohort(cohorts: Mapping[str, pd.DataFrame], fit, times: Sequence[float], *, truth=None,
                          n_grid: int = 50, n_boot: int = 200, seed: int = 0):
    """TRIPOD+AI measures of ``fit`` (and of the twin's true survival) in each cohort, with bootstrap CIs.

    Parameters
    ----------
    cohorts : mapping
        ``{cohort name: model frame}`` with ``patient_id``, ``time`` (months), ``event``.
    fit : fitted Cox model
        ``linear_predictor(frame)`` and ``predict_survival(frame, times)``.
    times : sequence of float
        Horizons (months), increasing; the integrated Brier score runs to the last on
        ``n_grid`` equally spaced times.
    truth : DataFrame, optional
        ORACLE ONLY: ``truth.csv`` (``patient_id``, ``lp_total``); adds an
        ``"oracle"`` model, the simulator's exact DFS survival
        (:func:`npc_lib.twin.truth.true_dfs_survival`).
    n_boot, seed
        :func:`npc_lib.stats.prediction_performance`.

    Returns
    -------
    table : DataFrame
        ``measure, estimate, lower, upper, cohort, model, n_failed``.
    curves : dict
        ``{(cohort, model): {t: CalibrationMetrics}}``.
    notes : list of str
        Cohorts and models whose measures are not estimable, and why (e.g. a
        small cohort followed for less than the last horizon).
    """
    from npc_lib.stats import prediction_performance
    from npc_lib.stats.capture import attempt
    from npc_lib.twin.truth import true_dfs_survival

    times = [float(t) for t in times]
    grid = np.linspace(times[-1] / n_grid, times[-1], int(n_grid))
    parts, curves, notes = [], {}, []
    for c, d in cohorts.items():
        check_columns(d, ["patient_id", "time", "event"], f"cohorts[{c!r}]")
        preds = {"nomogram": (fit.linear_predictor(d), fit.predict_survival(d, times), fit.predict_survival(d, grid))}
        if truth is not None:
            lp = d[["patient_id"]].merge(truth, on="patient_id", how="left")["lp_total"].to_numpy(dtype=float)
            preds["oracle"] = (lp, true_dfs_survival(lp, times), true_dfs_survival(lp, grid))
        for name, (risk, s, g) in preds.items():
            p, why = attempt(prediction_performance, d["time"], d["event"], risk, s, times, grid_surv=g, grid=grid,
                             n_boot=n_boot, seed=seed)
            if p is None:
                notes.append(f"{c}, {name}: not estimable ({'; '.join(why)})")
                continue
            parts.append(p.table.assign(cohort=c, model=name, n_failed=p.n_failed))
            curves[(c, name)] = p.curves
    columns = ["measure", "estimate", "lower", "upper", "cohort", "model", "n_failed"]
    table = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    return table, curves, notes


def oracle_concordance(frame: pd.DataFrame, truth: pd.DataFrame | None, columns: Sequence[str], *,
                       time: str = "time", event: str = "event",
                       scores: Mapping[str, Any] | None = None) -> pd.DataFrame | None:
    """ORACLE ONLY: Harrell's C of the twin's true risks (and of ``scores``) on the patients of ``frame``.

    The ceiling a model or signature can reach on the same patients: the true
    log-hazard (``lp_total``), its clinical part, or the image part one MR
    sequence shows (``lp_T1``...).

    Parameters
    ----------
    frame : DataFrame
        The patients (usually the test cohort): ``patient_id``, ``time``, ``event``.
    truth : DataFrame or None
        The twin's ``truth.csv`` (:meth:`npc_lib.run.Run.truth`); ``None``
        (a real cohort) gives ``None``.
    columns : sequence of str
        Columns of ``truth``; each becomes the model ``"truth: <column>"``.
    time, event : str
        Columns of ``frame``.
    scores : mapping, optional
        ``{name: scores of frame's patients}`` compared beside them.

    Returns
    -------
    DataFrame or None
        :func:`npc_lib.stats.performance.concordance_table`, truths first.

    Examples
    --------
    >>> f = pd.DataFrame({"patient_id": ["a", "b", "c"], "time": [1.0, 2.0, 3.0], "event": [1, 1, 0]})
    >>> t = pd.DataFrame({"patient_id": ["c", "b", "a"], "lp_total": [0.0, 1.0, 2.0]})
    >>> oracle_concordance(f, t, ["lp_total"])[["model", "c_index"]].values.tolist()
    [['truth: lp_total', 1.0]]
    >>> oracle_concordance(f, None, ["lp_total"]) is None
    True
    """
    from npc_lib.stats.performance import concordance_table

    if truth is None:
        return None
    check_columns(frame, ["patient_id", time, event], "frame")
    check_columns(truth, ["patient_id", *columns], "truth")
    merged = frame[["patient_id", time, event]].merge(truth[["patient_id", *columns]], on="patient_id", how="left",
                                                      validate="one_to_one")
    missing = merged.loc[merged[list(columns)].isna().any(axis=1), "patient_id"].tolist()
    if missing:
        raise ValueError(f"truth: no true risk for patient(s) {missing}")
    true_scores = {f"truth: {c}": merged[c].to_numpy(dtype=float) for c in columns}
    return concordance_table(merged[time], merged[event], {**true_scores, **dict(scores or {})})
