"""What a model bundle says about itself: its development aggregates and its model card.

A bundle (:mod:`npc_lib.run.bundle`) carries no patient record, only
aggregates of the development (training) cohort, each listed in its manifest
(:data:`AGGREGATES`): the cohort's size, events and follow-up
(:func:`development_cohort`), the range of voxel spacing and image intensity
landmarks per sequence (:func:`development_ranges`, for the warnings of
:func:`npc_lib.run.predict.predict`), and the performance the run measured
(:func:`performance_summary`). :func:`render_model_card` writes the model card
(TRIPOD+AI items 3b, 5-6, 9, 20, 22, 23a, 26-27).

Development-range rule (:data:`WIDEN`): a new image is flagged when its value
lies outside ``[lo - w, hi + w]``, ``lo`` and ``hi`` the training cohort's
minimum and maximum, ``w = WIDEN * (hi - lo)`` but at least ``MIN_WIDEN *
|(lo + hi) / 2|`` (so a cohort scanned at one spacing still tolerates small
deviations).
"""

from __future__ import annotations

__all__ = ["AGGREGATES", "WIDEN", "MIN_WIDEN", "development_cohort", "development_ranges", "development_ranges_name",
           "sequence_ranges", "performance_summary", "render_model_card"]

from concurrent.futures import ThreadPoolExecutor
from typing import Mapping

import numpy as np

#: the development range widened by this share of its width (each side)
WIDEN = 0.5
#: ... but by at least this share of its midpoint
MIN_WIDEN = 0.1
_N_JOBS = 2

#: the aggregates a bundle holds (listed in its manifest): no per-patient record
AGGREGATES = [
    "signatures/preprocess_<seq>.json: the intensity standardiser's standard landmarks (means over the training "
    "patients of their rescaled histogram landmarks), the number of images it was fitted on, and each member's "
    "loc/scale (mean and SD of its risk over the training patients)",
    "nomogram/nomogram.json: adjust-to values (training medians or reference levels), axis ranges (training "
    "minimum and maximum of each predictor), the baseline cumulative hazard at the centre (jump times: the "
    "distinct DFS event times of the training cohort) and the centre (mean linear predictor)",
    "nomogram/locked.json: the risk-group cut-off in total points (the total points of a training patient, "
    "chosen by the maximally selected log-rank statistic)",
    "development.json: minimum and maximum over the training patients of voxel spacing and of the lowest and "
    "highest intensity landmarks",
    "manifest.json and model_card.md: patients, events and median follow-up (reverse Kaplan-Meier) per cohort, "
    "patients per scanner model, performance measures with 95% CIs",
]


def development_cohort(run) -> dict:
    """Size, DFS events and median follow-up (reverse Kaplan-Meier, IQR) of the run's cohorts; scanners."""
    from npc_lib.stats.followup import median_follow_up

    frame = run.model_frame("dfs", with_signatures=False)
    out: dict = {"n_patients": int(len(frame)), "endpoint": "dfs", "time_unit": "months"}
    for c in ("train", "test"):
        d = frame[frame["cohort"] == c]
        fu = median_follow_up(d["time"].to_numpy(float), d["event"].to_numpy(int))
        out[c] = {"n_patients": int(len(d)), "events": int(d["event"].sum()),
                  "median_follow_up": float(fu.median), "follow_up_iqr": [float(fu.q1), float(fu.q3)]}
    scanners = run.clinical()["scanner"].astype(str).value_counts().sort_index()
    out["scanners"] = {str(k): int(v) for k, v in scanners.items()}
    return out


def development_ranges_name(sequence: str) -> str:
    """File in chapter 04's folder holding one sequence's development ranges: ``development_<seq>.json``."""
    return f"development_{sequence}.json"


def sequence_ranges(spacing, landmarks, percentiles) -> dict:
    """One sequence's development ranges from its training images.

    Parameters
    ----------
    spacing : array, shape (n_patients, 3)
        Each training image's voxel spacing (mm, RAS x, y, z).
    landmarks : array, shape (n_patients, 2)
        Each image's lowest and highest intensity landmark (raw intensities).
    percentiles : sequence of float
        The standardiser's lowest and highest landmark percentiles.

    Returns
    -------
    dict
        ``{"n_patients", "spacing_mm": {"min": [x, y, z], "max": [...]}, "intensity":
        {"low": {"min", "max"}, "high": {"min", "max"}, "percentiles": [p_low, p_high]}}``.

    Examples
    --------
    >>> r = sequence_ranges([[1, 1, 3], [0.5, 0.5, 4]], [[10, 900], [20, 800]], [1, 99])
    >>> r["spacing_mm"]["min"], r["intensity"]["high"]
    ([0.5, 0.5, 3.0], {'min': 800.0, 'max': 900.0})
    """
    sp = np.asarray(spacing, dtype=float)
    it = np.asarray(landmarks, dtype=float)
    if sp.ndim != 2 or sp.shape[1] != 3 or it.shape != (sp.shape[0], 2) or not sp.shape[0]:
        raise ValueError(f"spacing must have shape (n, 3) and landmarks (n, 2), n >= 1; got {sp.shape} and "
                         f"{it.shape}")
    return {"n_patients": int(sp.shape[0]),
            "spacing_mm": {"min": sp.min(axis=0).tolist(), "max": sp.max(axis=0).tolist()},
            "intensity": {"low": {"min": float(it[:, 0].min()), "max": float(it[:, 0].max())},
                          "high": {"min": float(it[:, 1].min()), "max": float(it[:, 1].max())},
                          "percentiles": [float(percentiles[0]), float(percentiles[-1])]}}


def development_ranges(cohort, standardizers: Mapping[str, dict], patient_ids, *,
                       known: Mapping[str, dict] | None = None) -> dict:
    """Per sequence: min/max over ``patient_ids`` of voxel spacing (mm, RAS x, y, z) and intensity landmarks.

    Parameters
    ----------
    cohort : Cohort
        The development cohort (``read_image``).
    standardizers : mapping
        Sequence -> the fitted standardiser's description (``preprocess_<seq>.json``);
        its settings give each image's landmarks.
    patient_ids : sequence of str
        The training patients.
    known : mapping, optional
        Sequence -> its :func:`sequence_ranges`, computed when the training
        read the images (``development_<seq>.json`` of chapter 04); those
        sequences' images are not read again.

    Returns
    -------
    dict
        ``rule``, ``widen``, ``min_widen`` and ``sequences``: ``{seq: sequence_ranges(...)}``.
    """
    from npc_lib.imaging.standardize import HistogramStandardizer

    ids = [str(p) for p in patient_ids]
    known = dict(known or {})
    out = {}
    for seq, desc in standardizers.items():
        if seq in known:
            out[seq] = known[seq]
            continue
        std = HistogramStandardizer.from_dict({**desc, "standard_landmarks": None})

        def one(pid, seq=seq, std=std):
            vol = cohort.read_image(pid, seq)
            lm = std.image_landmarks(vol)
            return list(vol.spacing), [float(lm[0]), float(lm[-1])]

        with ThreadPoolExecutor(max_workers=_N_JOBS) as pool:
            parts = list(pool.map(one, ids))
        out[seq] = sequence_ranges([p[0] for p in parts], [p[1] for p in parts], std.percentiles)
    rule = (f"an image is flagged when a voxel spacing (mm, RAS x, y, z) or its lowest or highest intensity "
            f"landmark lies outside [lo - w, hi + w], lo and hi the training cohort's minimum and maximum, "
            f"w = max({WIDEN} x (hi - lo), {MIN_WIDEN} x |(lo + hi) / 2|)")
    return {"rule": rule, "widen": WIDEN, "min_widen": MIN_WIDEN, "sequences": out}


def _fmt(e) -> str:
    if e is None or e.get("estimate") is None:
        return "n/a"
    lo, hi = e.get("lower"), e.get("upper")
    ci = f" ({lo:.3f}-{hi:.3f})" if lo is not None and hi is not None else ""
    return f"{e['estimate']:.3f}{ci}"


def performance_summary(run) -> list[dict]:
    """Rows ``{"measure", "model", "train", "test"}`` (each a formatted estimate with its 95% CI).

    Harrell's C of each signature and of Model_clinic+dl (chapter 05) and the
    nomogram's TRIPOD+AI measures (chapter 06: Uno's C, Brier, IPA, ICI ...);
    empty when those chapters have not run.
    """
    rows: list[dict] = []
    try:
        models = run.metrics("05_models")
    except ValueError:
        models = {}
    cindex = models.get("cindex") or {}
    names = list(dict.fromkeys(k for c in cindex.values() for k in c))
    for name in names:
        rows.append({"measure": "Harrell's C", "model": name,
                     **{c: _fmt({"estimate": (v := cindex.get(c, {}).get(name) or {}).get("c_index"),
                                 "lower": v.get("lower"), "upper": v.get("upper")}) for c in ("train", "test")}})
    try:
        perf = run.metrics("06_nomogram").get("prediction_performance") or {}
    except ValueError:
        perf = {}
    measures = list(dict.fromkeys(m for c in perf.values() for m in (c.get("nomogram") or {})))
    for m in measures:
        rows.append({"measure": m, "model": "nomogram",
                     **{c: _fmt((perf.get(c, {}).get("nomogram") or {}).get(m)) for c in ("train", "test")}})
    return rows


def _table(rows: list[dict], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def render_model_card(manifest: Mapping, nomogram: Mapping | None, locked: Mapping | None,
                      development: Mapping, performance: list[dict]) -> str:
    """The model card (Markdown) of a bundle, from its manifest and parts (no patient record)."""
    dev = manifest["development_cohort"]
    soft = manifest["software"]
    seqs = manifest["sequences"]
    parts = [
        "# Model card: deep-learning MR radiomic nomogram for nasopharyngeal carcinoma (DFS)",
        "",
        f"Bundle format {manifest['format']}, created {manifest['created']} by npc_lib {soft.get('npc_lib')} "
        f"(Keras {soft.get('keras')}, trained with the {soft.get('keras_backend_trained')} backend) from a run "
        f"of profile `{manifest['run']['profile']}`.",
        "",
        "## Intended use (TRIPOD+AI 3b, 5)",
        "",
        "Estimates disease-free survival (DFS: free of locoregional relapse, distant metastasis and death) of a "
        "patient with non-metastatic nasopharyngeal carcinoma before treatment, from pre-treatment T1-weighted, "
        "T2-weighted and contrast-enhanced T1-weighted MR with a delineated tumour, plus clinical values. It "
        "re-implements Zhong et al. 2020; this bundle was developed on "
        + ("a simulated (digital-twin) cohort: it demonstrates the method and is **not for clinical use**."
           if manifest["run"]["config"].get("cohort", {}).get("dir") in (None, "") else
           "the cohort named below; it has not been validated for clinical use."),
        "",
        "## Development population (TRIPOD+AI 5-6, 20)",
        "",
        _table([{"cohort": c, "patients": dev[c]["n_patients"], "DFS events": dev[c]["events"],
                 "median follow-up (months, IQR)": "{:.1f} ({:.1f}-{:.1f})".format(dev[c]["median_follow_up"],
                                                                                 *dev[c]["follow_up_iqr"])}
                for c in ("train", "test")], ["cohort", "patients", "DFS events", "median follow-up (months, IQR)"]),
        "",
        "Scanners seen in development: " + ", ".join(f"{k} ({v} patients)" for k, v in dev["scanners"].items()) + ".",
        "",
        "## Predictors (TRIPOD+AI 9)",
        "",
        "Deep-learning signatures " + ", ".join(f"DL_{s}_sig" for s in seqs) + " (an ensemble of SE-ResNeXt "
        "networks per sequence; tumour-centred boxes on every tumour slice, pooled per patient; centred on the "
        "training cohort, higher = worse)."
        + ("" if nomogram is None else
           " Nomogram covariates: " + ", ".join(
               f"{c} ({nomogram['coding'][c]['variable_label']}"
               + (f", {nomogram['coding'][c]['unit']}" if nomogram['coding'][c].get('unit') else "") + ")"
               for c in nomogram["covariates"]) + "."),
        "",
    ]
    for s in seqs:
        p = manifest["preprocessing"][s]
        parts.append(f"- {s}: boxes of {p['box_mm'][0]:g} mm resampled to {p['box_px'][0]} px "
                     f"({p['target_spacing'][0]:g} mm pixels), slices with at least {p['min_area']} tumour voxel(s), "
                     f"{manifest['members'][s]} network(s).")
    parts += ["", "## Model and risk groups (TRIPOD+AI 22)", ""]
    if nomogram is None:
        parts.append(f"No nomogram: {manifest['nomogram']['note']}.")
    else:
        parts += [
            f"Cox model {manifest['nomogram']['model']}: "
            + ", ".join(f"{c} beta {nomogram['beta'][c]:.4g}" for c in nomogram["covariates"])
            + f". Points: {nomogram['scale']:.4g} per unit of linear predictor; survival S(t) = "
            "exp(-H0(t) exp(lp)) with the baseline cumulative hazard H0 at the centre stored as a step function "
            f"(any time; {', '.join(f'{t:g}' for t in nomogram['times'])} {nomogram.get('time_unit', 'months')} "
            f"by default). Risk groups: high where the total points exceed {locked['cutoff_points']:.4g} "
            f"(chosen on the training cohort by {locked.get('method')}, locked).",
        ]
    parts += ["", "## Performance (TRIPOD+AI 23a)", ""]
    if performance:
        parts.append(_table(performance, ["measure", "model", "train", "test"]))
        parts.append("")
        parts.append("95% confidence intervals: Harrell's C analytic (chapter 05), the nomogram's measures by "
                     "percentile bootstrap over patients (chapter 06).")
    else:
        parts.append("Not measured (chapters 05-06 did not run).")
    rule = development.get("rule", "")
    parts += [
        "", "## Limits (TRIPOD+AI 26-27)", "",
        "- Developed at one centre; external validation is required before any use elsewhere "
        "(`npc predict` on the new centre's cohort, then calibration at that centre).",
        "- Images outside the development ranges are flagged by `npc predict` (" + rule + ").",
        "- Survival beyond the development cohort's follow-up is an extrapolation of the last baseline step.",
        "- Predictors outside the nomogram's axes (the training range) get extrapolated points; each is flagged.",
        "",
        "## Contents and integrity",
        "",
        "Every file's SHA-256 is in `manifest.json`; `load_bundle` refuses a changed file. The bundle holds no "
        "patient identifier and no per-patient record; its aggregates are listed in `manifest.json` (field "
        "`aggregates`).",
        "",
    ]
    return "\n".join(parts)
