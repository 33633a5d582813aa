"""What a replication study found: each replicate's headline numbers and claim verdicts, and the study's tables.

A replicate's record (``replicate.json``, written by
:func:`npc_lib.runners.replicate.run_replicate`) holds its headline numbers
(:func:`headline_numbers`, read from its chapters' ``metrics.json``) and its
claim verdicts (:func:`claim_verdicts_of`). :func:`write_study_tables` gathers
the records into ``replicates.csv`` and ``verdicts.csv``;
:func:`summarize_study` turns those into the tables of the Replication
chapter: the share of replicates in which each claim held (Wilson 95% CI), the
distribution of each headline number beside the paper's, and how much of its
spread is split-to-split and how much twin-to-twin (one-way random-effects
variance components, the twin as the group).
"""

from __future__ import annotations

__all__ = ["HEADLINES", "headline_numbers", "claim_verdicts_of", "collect_study", "write_study_tables",
           "claim_shares", "headline_distribution", "headline_values", "spread_decomposition", "StudySummary",
           "summarize_study", "replication_results",
           "execute_replication_chapter", "REPLICATES_FILE", "VERDICTS_FILE", "RECORD_FILE", "STUDY_FILE"]

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from npc_lib import paper
from npc_lib._io import read_json, write_csv
from npc_lib.run.reproduction import read_metrics
from npc_lib.run.verdicts import claim_verdicts_for_run
from npc_lib.stats.replication import variance_components, wilson_interval

REPLICATES_FILE = "replicates.csv"
VERDICTS_FILE = "verdicts.csv"
RECORD_FILE = "replicate.json"
STUDY_FILE = "study.json"
_SIGNATURES = (("DL_T1_sig", "T1"), ("DL_T2_sig", "T2"), ("DL_T1C_sig", "T1C"))


# -- what a replicate reports -------------------------------------------------------------------
def _num(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v if math.isfinite(v) else float("nan")


def _paper_c(model: str) -> tuple[float, float, float]:
    r = paper.TABLE2.set_index(["model", "cohort"]).loc[(model, "test")]
    return float(r.c_index), float(r.ci_lower), float(r.ci_upper)


def _headlines() -> pd.DataFrame:
    nan = float("nan")
    rows = [(f"c_test_{s}", f"C-index, {s}, test", *_paper_c(s)) for s, _ in _SIGNATURES]
    rows += [(f"oracle_ratio_{s}", f"C / oracle C, {s}, test", nan, nan, nan) for s, _ in _SIGNATURES]
    rows += [(f"c_test_{m}", f"C-index, {m}, test", *_paper_c(m)) for m in ("Model_clinic", "Model_clinic+dl")]
    diff = _paper_c("Model_clinic+dl")[0] - _paper_c("Model_clinic")[0]
    rows += [("c_diff_test", "C difference, Model_clinic+dl - Model_clinic, test", diff, nan, nan),
             ("p_clinic_vs_dl_test", "p, Model_clinic+dl vs Model_clinic, test",
              float(paper.CLINIC_VS_DL_P["test"].lstrip("<")), nan, nan)]
    rg = paper.RISK_GROUPS.set_index("cohort").loc["test"]
    rows += [("hr_test", "HR high vs low risk, test", float(rg.hr), float(rg.hr_lower), float(rg.hr_upper)),
             ("dfs5_high_test", "5-year DFS (%), high risk, test", float(rg.dfs5_high), nan, nan),
             ("dfs5_low_test", "5-year DFS (%), low risk, test", float(rg.dfs5_low), nan, nan)]
    groups = ["C-index"] * 3 + ["C / oracle C"] * 3 + ["C-index"] * 2 + ["C difference", "p", "hazard ratio"] \
        + ["5-year DFS (%)"] * 2
    return pd.DataFrame([(*r, g) for r, g in zip(rows, groups)],
                        columns=["number", "label", "paper", "paper_lower", "paper_upper", "group"])


#: the headline numbers of a replicate, with the paper's value and 95% CI (NaN where it printed none;
#: the paper's p of the model comparison is its printed value, an upper bound where it printed "<")
HEADLINES: pd.DataFrame = _headlines()


def headline_numbers(run_dir: str | os.PathLike) -> dict[str, float]:
    """The headline numbers of a run (:data:`HEADLINES`), read from its chapters' ``metrics.json``.

    Test cohort: each signature's C and its ratio to the oracle C of the true
    log-hazard shown by its sequence, both models' C, their difference and
    its p (survcomp's ``cindex.comp``), the risk groups' hazard ratio and
    5-year DFS by group (in %). A number whose chapter did not run is NaN.
    """
    m = read_metrics(run_dir)
    m05, m06 = m.get("05_models") or {}, m.get("06_nomogram") or {}
    test = (m05.get("cindex") or {}).get("test") or {}
    oracle = m05.get("oracle_test") or {}
    out: dict[str, float] = {}
    for sig, seq in _SIGNATURES:
        out[f"c_test_{sig}"] = _num((test.get(sig) or {}).get("c_index"))
        out[f"oracle_ratio_{sig}"] = out[f"c_test_{sig}"] / _num(oracle.get(f"truth: lp_{seq}"))
    for model in ("Model_clinic", "Model_clinic+dl"):
        out[f"c_test_{model}"] = _num((test.get(model) or {}).get("c_index"))
    cmp_ = (m05.get("clinic_vs_dl") or {}).get("test") or {}
    out["c_diff_test"] = _num(cmp_.get("c_new")) - _num(cmp_.get("c_ref"))
    out["p_clinic_vs_dl_test"] = _num(cmp_.get("p_value"))
    rg = (m06.get("risk_groups") or {}).get("test") or {}
    out["hr_test"] = _num(rg.get("hr"))
    out["dfs5_high_test"] = 100 * _num(rg.get("surv_high"))
    out["dfs5_low_test"] = 100 * _num(rg.get("surv_low"))
    return {k: out[k] for k in HEADLINES["number"]}


def claim_verdicts_of(run_dir: str | os.PathLike) -> list[dict[str, str]]:
    """``[{claim_id, claim, chapter, verdict}]`` of a run: ``held``, ``not held`` or ``not assessed``.

    The one adapter between a study and the run layer's rule per claim
    (:func:`npc_lib.run.verdicts.claim_verdicts_for_run`).
    """
    return [{"claim_id": v.claim_id, "claim": v.claim, "chapter": v.chapter, "verdict": v.verdict}
            for v in claim_verdicts_for_run(run_dir)]



_RECORD_COLUMNS = ["replicate", "twin_seed", "split_seed", "status", "error", "seconds", "cpu_seconds", "worker"]


def collect_study(study_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(replicates, verdicts)`` of every replicate folder of a study holding a record.

    ``replicates``: one row per replicate, the record's columns and the
    :data:`HEADLINES` numbers; ``verdicts``: ``replicate, twin_seed,
    split_seed, claim_id, claim, chapter, verdict`` (ok replicates only).
    """
    rows, verdicts = [], []
    for path in sorted(Path(study_dir).glob(f"*/{RECORD_FILE}")):
        rec = read_json(path, "replicate record")
        rows.append({**{c: rec.get(c) for c in _RECORD_COLUMNS},
                     **{k: _num((rec.get("headlines") or {}).get(k)) for k in HEADLINES["number"]}})
        if rec.get("status") == "ok":
            verdicts += [{"replicate": rec["replicate"], "twin_seed": rec["twin_seed"], "split_seed": rec["split_seed"],
                          **v} for v in rec.get("verdicts") or []]
    reps = pd.DataFrame(rows, columns=[*_RECORD_COLUMNS, *HEADLINES["number"]])
    reps = reps.sort_values(["twin_seed", "split_seed"], kind="stable").reset_index(drop=True)
    return reps, pd.DataFrame(verdicts, columns=["replicate", "twin_seed", "split_seed", "claim_id", "claim", "chapter",
                                                 "verdict"])


def write_study_tables(study_dir: str | os.PathLike) -> pd.DataFrame:
    """Rewrite ``replicates.csv`` and ``verdicts.csv`` (atomically) from the records; return the first."""
    reps, verdicts = collect_study(study_dir)
    write_csv(reps, Path(study_dir) / REPLICATES_FILE)
    write_csv(verdicts, Path(study_dir) / VERDICTS_FILE)
    return reps




# -- the chapter's tables -----------------------------------------------------------------------
def claim_shares(verdicts: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per claim: replicates assessed, held, the share held and its Wilson CI (claims in report order).

    ``verdicts`` is ``verdicts.csv``'s table; a ``not assessed`` verdict counts in neither.
    """
    rows = []
    for claim_id, g in verdicts.groupby("claim_id", sort=False):
        assessed = int(g["verdict"].isin(["held", "not held"]).sum())
        ci = wilson_interval(int((g["verdict"] == "held").sum()), assessed, level)
        rows.append({"claim_id": claim_id, "claim": g["claim"].iloc[-1], "chapter": g["chapter"].iloc[-1],
                     "assessed": assessed, "held": ci.successes, "share_held": ci.proportion, "lower": ci.lower,
                     "upper": ci.upper})
    return pd.DataFrame(rows, columns=["claim_id", "claim", "chapter", "assessed", "held", "share_held", "lower",
                                       "upper"])


def headline_distribution(replicates: pd.DataFrame) -> pd.DataFrame:
    """Each headline number over the ok replicates beside the paper's value and 95% CI.

    Columns ``number, label, paper, paper_lower, paper_upper, n, mean, sd,
    median, q025, q975, min, max, inside_paper_ci`` (the share of replicates
    inside the paper's CI; NaN where the paper printed none).
    """
    ok = replicates[replicates["status"] == "ok"]
    rows = []
    for h in HEADLINES.itertuples():
        v = pd.to_numeric(ok[h.number], errors="coerce").dropna().to_numpy(float) if len(ok) else np.array([])
        q = np.quantile(v, [0.025, 0.5, 0.975]) if len(v) else [np.nan] * 3
        inside = float(np.mean((v >= h.paper_lower) & (v <= h.paper_upper))) \
            if len(v) and np.isfinite(h.paper_lower) else float("nan")
        rows.append({"number": h.number, "label": h.label, "paper": h.paper, "paper_lower": h.paper_lower,
                     "paper_upper": h.paper_upper, "n": len(v), "mean": v.mean() if len(v) else np.nan,
                     "sd": v.std(ddof=1) if len(v) > 1 else np.nan, "median": q[1], "q025": q[0], "q975": q[2],
                     "min": v.min() if len(v) else np.nan, "max": v.max() if len(v) else np.nan,
                     "inside_paper_ci": inside})
    return pd.DataFrame(rows)


def spread_decomposition(replicates: pd.DataFrame) -> pd.DataFrame:
    """Split-to-split vs twin-to-twin spread of each headline number (ok replicates).

    One-way random-effects variance components with the twin seed as the
    group (:func:`npc_lib.stats.replication.variance_components`; twins with
    fewer than 2 splits are left out; a negative twin-to-twin component is
    shown as 0). SDs are square roots of the components.
    """
    ok = replicates[replicates["status"] == "ok"]
    rows = []
    for h in HEADLINES.itertuples():
        vc = variance_components(pd.to_numeric(ok[h.number], errors="coerce").to_numpy(float),
                                 ok["twin_seed"].to_numpy())
        rows.append({"number": h.number, "label": h.label, "twins": vc.n_groups, "replicates": vc.n_obs,
                     "sd_split_to_split": math.sqrt(vc.within) if np.isfinite(vc.within) else np.nan,
                     "sd_twin_to_twin": math.sqrt(vc.between) if np.isfinite(vc.between) else np.nan,
                     "share_twin_to_twin": vc.share_between, "twin_component_raw": vc.between_raw,
                     "note": vc.note})
    return pd.DataFrame(rows)


def headline_values(replicates: pd.DataFrame, group: str) -> tuple[dict, dict]:
    """``({label: values over the ok replicates}, {label: (paper, lower, upper)})`` of one :data:`HEADLINES` group.

    The input of :func:`npc_lib.plots.replication.plot_replicate_distribution`.
    """
    rows = HEADLINES[HEADLINES["group"] == group]
    if rows.empty:
        raise ValueError(f"group: unknown {group!r}; known: {', '.join(HEADLINES['group'].unique())}")
    ok = replicates[replicates["status"] == "ok"]
    values = {r.label: pd.to_numeric(ok[r.number], errors="coerce").to_numpy(float) for r in rows.itertuples()}
    return values, {r.label: (r.paper, r.paper_lower, r.paper_upper) for r in rows.itertuples()}


@dataclasses.dataclass(frozen=True)
class StudySummary:
    """The Replication chapter's tables of one study folder."""

    study_dir: Path
    settings: dict[str, Any]
    replicates: pd.DataFrame
    claims: pd.DataFrame
    headlines: pd.DataFrame
    spread: pd.DataFrame

    @property
    def n_ok(self) -> int:
        return int((self.replicates["status"] == "ok").sum())

    @property
    def n_failed(self) -> int:
        return int((self.replicates["status"] != "ok").sum())


def summarize_study(study_dir: str | os.PathLike) -> StudySummary:
    """Read a study folder (``study.json`` and the replicates' records) into its tables.

    Raises
    ------
    ValueError
        ``study_dir`` holds no study.
    """
    study_dir = Path(study_dir).resolve()
    settings = read_json(study_dir / STUDY_FILE, "study", hint=" (run `npc replicate` first)")
    reps, verdicts = collect_study(study_dir)
    return StudySummary(study_dir, settings, reps, claim_shares(verdicts), headline_distribution(reps),
                        spread_decomposition(reps))


def replication_results(study: StudySummary | None):
    """Chapter 11's typed results (:class:`~npc_lib.run.results.replication.ReplicationResults`) of a study summary.

    ``None`` (a book built without a study) gives empty results with ``study_dir = None``.
    """
    from npc_lib.run.results.replication import ReplicationResults

    if study is None:
        return ReplicationResults()

    def records(frame: pd.DataFrame) -> list[dict]:
        return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                for row in frame.to_dict(orient="records")]

    return ReplicationResults.from_dict({"study_dir": str(study.study_dir), "n_ok": study.n_ok,
                                         "n_failed": study.n_failed, "claims": records(study.claims),
                                         "headlines": records(study.headlines), "spread": records(study.spread)})


def execute_replication_chapter(run_dir: str | os.PathLike, study_dir: str | os.PathLike) -> Path:
    """Execute chapter 11 (Replication) of ``run_dir`` on a study folder; return the executed notebook.

    The notebook replaces the run's ``notebooks/11_replication.ipynb`` (for
    ``npc book``); the chapter's stamp is removed, so a later ``npc run``
    executes it again with its profile's parameters.
    """
    import tempfile

    import jupytext
    import papermill as pm

    from npc_lib._io import atomic_path
    from npc_lib.profiles import project_root
    from npc_lib.run import Run

    run = Run.open(run_dir)
    study_dir = Path(study_dir).resolve()
    if not (study_dir / STUDY_FILE).is_file():
        raise ValueError(f"study: {study_dir} holds no study ({STUDY_FILE} missing); run `npc replicate` first")
    name = "11_replication"
    notebook = jupytext.read(project_root() / "book" / f"{name}.md")
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (run.dir / name / ".stamp").unlink(missing_ok=True)
    out = run.dir / "notebooks" / f"{name}.ipynb"
    with tempfile.TemporaryDirectory() as tmp, atomic_path(out) as dst:
        src = Path(tmp) / f"{name}.ipynb"
        jupytext.write(notebook, src)
        pm.execute_notebook(str(src), str(dst), parameters={"run_dir": str(run.dir), "study_dir": str(study_dir)},
                            kernel_name="python3", cwd=str(run.chapter_dir(name)), progress_bar=False,
                            log_output=False)
    return out
