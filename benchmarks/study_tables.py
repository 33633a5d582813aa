"""Markdown tables of a replication study folder (what chapter 11 shows), for docs/benchmarks.md.

Reads the study with :func:`npc_lib.runners.study_results.summarize_study` (the
chapter's own functions) and prints: the replicates (status, wall minutes, CPU
minutes where recorded), the claims held (share, Wilson 95% CI), the headline
numbers beside the paper's, and the split-to-split vs twin-to-twin spread.

Usage::

    python benchmarks/study_tables.py studies/default
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _f(x, digits: int = 3) -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    args = parser.parse_args(argv)
    from npc_lib.runners.study_results import summarize_study

    s = summarize_study(args.study)
    reps = s.replicates
    print(f"{s.n_ok} ok, {s.n_failed} failed; settings: {s.settings}\n")
    print("| replicate | status | wall (min) | CPU (min) |")
    print("|---|---|---:|---:|")
    for r in reps.itertuples():
        cpu = getattr(r, "cpu_seconds", float("nan"))
        print(f"| {r.replicate} | {r.status} | {_f(r.seconds / 60, 1)} | {_f(pd.to_numeric(cpu) / 60, 1)} |")
    print("\n| claim | assessed | held | held (%) | Wilson 95% CI (%) |")
    print("|---|---:|---:|---:|---|")
    for c in s.claims.itertuples():
        print(f"| {c.claim} | {c.assessed} | {c.held} | {_f(100 * c.share_held, 0)} | "
              f"{_f(100 * c.lower, 0)}-{_f(100 * c.upper, 0)} |")
    print("\n| headline (test cohort) | paper (95% CI) | n | mean | sd | min | max | inside paper CI |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for h in s.headlines.itertuples():
        paper = "" if not math.isfinite(h.paper) else (
            f"{h.paper:.3g}" + (f" ({h.paper_lower:.3g}-{h.paper_upper:.3g})" if math.isfinite(h.paper_lower) else ""))
        inside = "" if not math.isfinite(h.inside_paper_ci) else f"{100 * h.inside_paper_ci:.0f}%"
        print(f"| {h.label} | {paper} | {h.n} | {_f(h.mean)} | {_f(h.sd)} | {_f(h.min)} | {_f(h.max)} | {inside} |")
    print("\n| headline | twins | replicates | SD split-to-split | SD twin-to-twin | share twin-to-twin | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in s.spread.itertuples():
        print(f"| {r.label} | {r.twins} | {r.replicates} | {_f(r.sd_split_to_split)} | {_f(r.sd_twin_to_twin)} | "
              f"{_f(r.share_twin_to_twin, 2)} | {r.note or ''} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
