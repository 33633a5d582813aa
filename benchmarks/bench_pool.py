"""Chapter 04's networks side by side: ``train_networks`` in this process vs in one-thread workers.

The same ``--networks`` jobs (the default profile's network and protocol, 1 + 7
epochs, on synthetic bags of ``--patients`` patients x 10 slices of 32 px: the
size of the default twin's training cohort) are trained

* ``workers=0``: one after another in this process, with all its threads
  (what chapter 04 did before the pool);
* ``workers=k``: side by side in ``k`` spawned one-thread processes (chapter 04's
  default: one per CPU), start-up of the workers included;

and the table gives the wall seconds of each, networks per minute and the speed-up
over ``workers=0``, and whether ``workers=1`` and ``workers=k`` gave the same weights
(with ``--check``: one more run).

Usage::

    python benchmarks/bench_pool.py [--networks 4] [--patients 447] [--workers 2] [--check]

Prints a markdown table (pasted into docs/benchmarks.md).
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _jobs(n_networks: int, n_patients: int):
    from npc_lib.imaging.instances import InstanceSet
    from npc_lib.model.pool import NetworkJob
    from npc_lib.model.train_config import TrainConfig

    rng = np.random.default_rng(0)
    per = 10
    x = rng.standard_normal((n_patients * per, 32, 32, 1)).astype(np.float32)
    inst = InstanceSet(x=x, bag=np.repeat(np.arange(n_patients), per),
                       patient_ids=[f"p{i}" for i in range(n_patients)],
                       slice_index=np.tile(np.arange(per), n_patients), sequence="T1")
    time_ = rng.exponential(60.0, n_patients).round(2)
    event = (rng.random(n_patients) < 0.3).astype(int)
    config = TrainConfig.for_preset("default")
    return [NetworkJob(name=f"network {k}", instances=inst, time=time_, event=event, config=config, seed=k)
            for k in range(n_networks)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=4)
    parser.add_argument("--patients", type=int, default=447)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check", action="store_true", help="also train with workers=1 and compare the weights")
    args = parser.parse_args(argv)

    from npc_lib.model.backend import configure_backend

    backend = configure_backend()
    from npc_lib.model.pool import train_networks

    jobs = _jobs(args.networks, args.patients)
    rows, weights = [], {}
    settings = [0, args.workers] + ([1] if args.check else [])
    for w in settings:
        t0 = time.perf_counter()
        results = train_networks(jobs, workers=w, progress=False)
        seconds = time.perf_counter() - t0
        weights[w] = [r.model.get_weights() for r in results]
        rows.append((w, seconds))
    base = rows[0][1]
    print(f"{args.networks} networks (default profile, {args.patients} patients x 10 slices), backend {backend}, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    print()
    print("| workers | wall s | networks / min | speed-up over in-process |")
    print("|---|---:|---:|---:|")
    for w, seconds in rows:
        label = "0 (in this process, all threads)" if w == 0 else f"{w} (one thread each)"
        print(f"| {label} | {seconds:.1f} | {60 * args.networks / seconds:.2f} | {base / seconds:.2f} |")
    if args.check:
        same = all(np.array_equal(a, b) for x, y in zip(weights[1], weights[args.workers]) for a, b in zip(x, y))
        print(f"\nweights with workers=1 and workers={args.workers} identical: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
