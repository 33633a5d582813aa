"""Replication study on Dask: speed-up of 2 workers over 1, scheduler overhead, projection to 64 workers.

1. The same replicates (default 4: twins 0-1 x split seeds 2020-2021 of the smoke
   profile, chapters up to ``--chapters``) run as a study on a ``LocalCluster`` of
   1 worker, then as a fresh study on 2 workers (their twins simulated beforehand,
   outside the timings, so that neither study pays for them): wall seconds of each, the speed-up,
   the replicates' own seconds (their records), and whether every replicate's
   chapter results (``metrics.json`` less paths) are equal across the two studies
   (whichever worker ran it, in whatever order).
2. Scheduler overhead per task: start-up of a 2-worker ``LocalCluster``; ``--tasks``
   no-op tasks submitted one after the other (round trip: submit, run, result) and
   all at once (throughput); and, per replicate, the 1-worker study's wall time less
   the sum of the replicates' own seconds, divided by their number.
3. Projection to a 64-worker cluster: ``ceil(R / 64)`` waves of one replicate's time
   plus the per-task overhead, for R replicates; a replicate's time on a core of its
   own is its CPU seconds (``cpu_seconds`` of its record: on a shared machine its wall
   time says more about the neighbours than about the replicate), measured here for
   the profile benchmarked and given by ``--default-minutes`` for the default profile.

Usage::

    nice -n 10 python benchmarks/bench_replicate.py [--chapters 02_table1] [--twins 0-1]
        [--split-seeds 2020-2021] [--tasks 200] [--default-minutes 15] [--out /tmp/bench_replicate]

Prints markdown tables (pasted into docs/benchmarks.md).
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from npc_lib.run.cohort_source import ensure_cohort  # noqa: E402
from npc_lib.runners.replicate import run_study, study_client, study_from_seeds  # noqa: E402


def _noop(i: int) -> dict:
    return {"i": i}


def _chapter_results(rep_dir: Path) -> dict:
    out = {}
    for path in sorted(rep_dir.glob("*/metrics.json")):
        m = json.loads(path.read_text())
        out[path.parent.name] = {k: v for k, v in m.items() if "file" not in k and "dir" not in k}
    return out


def _study(study, out: Path, workers: int) -> tuple[float, list[float], list[float]]:
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    table = run_study(study, out, workers=workers, progress=False, poll_seconds=2)
    wall = time.perf_counter() - t0
    if (table["status"] != "ok").any():
        raise RuntimeError(f"replicates failed: {table.loc[table.status != 'ok', ['replicate', 'error']]}")
    print(f"{workers} worker(s): load average {load:.2f} before, {os.getloadavg()[0]:.2f} after", flush=True)
    return wall, table["seconds"].astype(float).tolist(), table["cpu_seconds"].astype(float).tolist()


def _overhead(n_tasks: int) -> dict[str, float]:
    t0 = time.perf_counter()
    with study_client(workers=2) as client:
        start = time.perf_counter() - t0
        client.submit(_noop, -1, pure=False).result()  # warm
        t1 = time.perf_counter()
        for i in range(n_tasks):
            client.submit(_noop, i, pure=False).result()
        serial = (time.perf_counter() - t1) / n_tasks
        t2 = time.perf_counter()
        client.gather(client.map(_noop, range(n_tasks), pure=False))
        bulk = (time.perf_counter() - t2) / n_tasks
    return {"cluster_start_s": start, "round_trip_ms": 1000 * serial, "bulk_ms": 1000 * bulk}


def _hms(s: float) -> str:
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min" if s >= 3600 else f"{s / 60:.1f} min"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="smoke")
    p.add_argument("--chapters", nargs="+", default=["02_table1"])
    p.add_argument("--twins", default="0-1")
    p.add_argument("--split-seeds", default="2020-2021")
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--default-minutes", type=float, default=15.0,
                   help="one default-profile replicate (no cross-validation) on one core, minutes")
    p.add_argument("--out", type=Path, default=Path("/tmp/bench_replicate"))
    args = p.parse_args(argv)

    study = study_from_seeds(args.profile, args.twins, split_seeds=args.split_seeds, chapters=args.chapters)
    n = len(study.replicates)
    print(f"machine: {os.cpu_count()} cores, load average before {os.getloadavg()[0]:.2f}; profile {args.profile}, "
          f"{n} replicates, chapters up to {study.chapters[-1]}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for twin in sorted({r.twin_seed for r in study.replicates}):  # simulated once, before either study
        ensure_cohort(study.config(next(r for r in study.replicates if r.twin_seed == twin)).cohort, progress=False)
    wall1, own1, cpu1 = _study(study, args.out / "one_worker", 1)
    wall2, own2, cpu2 = _study(study, args.out / "two_workers", 2)
    same = all(_chapter_results(args.out / "one_worker" / r.name) == _chapter_results(args.out / "two_workers" / r.name)
               for r in study.replicates)
    print("\n| study | workers | wall (s) | replicate's own seconds, mean | its CPU seconds, mean | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| {n} replicates | 1 | {wall1:.1f} | {sum(own1) / n:.1f} | {sum(cpu1) / n:.1f} | 1.00 |")
    print(f"| {n} replicates | 2 | {wall2:.1f} | {sum(own2) / n:.1f} | {sum(cpu2) / n:.1f} | {wall1 / wall2:.2f} |")
    print(f"\nchapter results equal on 1 and 2 workers for every replicate: {same}")

    ov = _overhead(args.tasks)
    per_rep = (wall1 - sum(own1)) / n
    print("\n| scheduler overhead | value |")
    print("|---|---:|")
    print(f"| LocalCluster start (2 workers) | {ov['cluster_start_s']:.2f} s |")
    print(f"| no-op task, one at a time (round trip) | {ov['round_trip_ms']:.1f} ms |")
    print(f"| no-op task, {args.tasks} at once (per task) | {ov['bulk_ms']:.2f} ms |")
    print(f"| per replicate: 1-worker wall less the replicates' own seconds | {per_rep:.1f} s |")

    # one replicate on a core of its own: its CPU seconds (one thread), not its wall time on this shared machine
    t_smoke = sum(cpu1) / n
    t_default = 60.0 * args.default_minutes
    print(f"\nprojection from one replicate's CPU time (smoke: {t_smoke:.1f} s measured here; default profile: "
          f"{args.default_minutes:g} min, --default-minutes) plus the per-replicate overhead above")
    print("\n| projection (64 workers, one replicate each at a time) | replicates | smoke-sized | default profile |")
    print("|---|---:|---:|---:|")
    for r in (30, 192, 640):
        waves = math.ceil(r / 64)
        smoke = waves * (t_smoke + per_rep)
        default = waves * (t_default + per_rep)
        two = math.ceil(r / 2) * (t_default + per_rep)
        print(f"| {waves} wave(s); 2 workers would take {_hms(two)} on the default profile | {r} | "
              f"{_hms(smoke)} | {_hms(default)} |")
    print(f"\nload average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
