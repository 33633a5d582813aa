"""Training speed of the default SE-ResNeXt per Keras backend and grouped-conv formulation.

Measures training instances per second (forward + backward + optimizer step
with the Cox loss, after warm-up, fixed batch size) of
``SEResNeXtConfig.cpu_default()`` on every installed Keras backend
(tensorflow, torch; jax if present), each grouped-convolution formulation,
each backend in its own subprocess (Keras fixes its backend at import). It
also measures the machine's float32 matrix-multiply rate (numpy, GFLOP/s) and
reports which fraction of it the training reaches, counting training FLOPs as
3 x the analytic forward FLOPs (2 x multiply-accumulates of the convolutions
and dense layers, :func:`npc_lib.model.seresnext.forward_macs`).

Usage::

    python benchmarks/bench_train.py [--batch-size 32] [--steps 10] [--repeats 3]
                                     [--json results.json]

Prints a markdown table; the default setup (``configure_backend()`` +
``formulation="auto"``) should reach at least 0.8 x the fastest row.
"""

from __future__ import annotations

__all__ = ["matmul_gflops", "bench_backend", "main"]

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FORMULATIONS = ("native", "split", "masked", "depthwise", "patches")
BACKENDS = ("tensorflow", "torch", "jax")


def matmul_gflops(n: int = 1024, repeats: int = 10) -> float:
    """Best float32 ``n x n`` numpy matmul rate of this machine, GFLOP/s (2 n^3 per product)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def bench_backend(formulations, batch_size: int, steps: int, warmup: int, repeats: int,
                  seed: int = 0) -> dict:
    """Run inside a process whose KERAS_BACKEND is set: instances/s per formulation.

    Repeats go round-robin over the formulations, so a change of machine load
    hits all of them alike.
    """
    import keras

    from npc_lib.model.backend import best_formulation
    from npc_lib.model.cox_loss import CoxPartialLikelihoodLoss
    from npc_lib.model.seresnext import SEResNeXtConfig, build_se_resnext, forward_macs

    backend = keras.backend.backend()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    config = SEResNeXtConfig.cpu_default()
    x = rng.standard_normal((batch_size, *config.input_shape)).astype("float32")
    y = np.stack([rng.exponential(30.0, batch_size), rng.random(batch_size) < 0.5], axis=1)
    y = y.astype("float32")
    models, times = {}, {f: [] for f in formulations}
    for f in formulations:
        model = build_se_resnext(config.replace(formulation=f))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=CoxPartialLikelihoodLoss())
        for _ in range(warmup):
            model.train_on_batch(x, y)
        models[f] = model
    for _ in range(repeats):
        for f in formulations:
            t0 = time.perf_counter()
            for _ in range(steps):
                model_loss = models[f].train_on_batch(x, y)
            float(np.asarray(model_loss))  # make sure the work is done
            times[f].append(time.perf_counter() - t0)
    macs = forward_macs(models[formulations[0]])
    rows = {}
    for f in formulations:
        speeds = [batch_size * steps / t for t in times[f]]
        rows[f] = {"median": statistics.median(speeds), "best": max(speeds), "all": speeds}
    return {"backend": backend, "auto": best_formulation(backend), "macs": macs,
            "threads": _threads(backend), "rows": rows}


def _threads(backend: str) -> int | None:
    if backend == "torch":
        import torch

        return torch.get_num_threads()
    return os.cpu_count()


def _run_worker(backend: str, args) -> dict | str:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, __file__, "--worker", "--batch-size", str(args.batch_size),
           "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--repeats", str(args.repeats), "--formulations", *args.formulations]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return f"failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}"
    return json.loads(lines[-1])


def _table(results: dict, gflops: float, batch_size: int, default_backend: str) -> str:
    ok = {b: r for b, r in results.items() if isinstance(r, dict)}
    fastest = max(row["median"] for r in ok.values() for row in r["rows"].values())
    out = [
        f"numpy float32 matmul: {gflops:.1f} GFLOP/s; batch {batch_size}; "
        "training FLOPs = 3 x forward (2 x MACs)",
        "",
        "| backend | formulation | inst/s (median) | inst/s (best) | train GFLOP/s | % of matmul "
        "| x fastest |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, r in results.items():
        if not isinstance(r, dict):
            out.append(f"| {backend} | - | {r} | | | | |")
            continue
        flops_per_instance = 3 * 2 * r["macs"]
        for f, row in r["rows"].items():
            mark = " (auto)" if f == r["auto"] else ""
            gf = row["median"] * flops_per_instance / 1e9
            out.append(
                f"| {backend} | {f}{mark} | {row['median']:.1f} | {row['best']:.1f} | {gf:.2f} | "
                f"{100 * gf / gflops:.1f}% | {row['median'] / fastest:.2f} |"
            )
    if default_backend in ok:
        r = ok[default_backend]
        default = r["rows"].get(r["auto"], {}).get("median")
        if default is not None:
            ratio = default / fastest
            verdict = "meets" if ratio >= 0.8 else "MISSES"
            out += ["", f"default setup = {default_backend} + {r['auto']}: {default:.1f} inst/s = "
                    f"{ratio:.2f} x fastest ({verdict} the 0.8 target)"]
    any_r = next(iter(ok.values()), None)
    if any_r:
        out.append(f"forward MACs per instance: {any_r['macs'] / 1e6:.1f} M")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formulations", nargs="+", default=list(FORMULATIONS),
                        choices=FORMULATIONS)
    parser.add_argument("--backends", nargs="+", default=None, choices=BACKENDS)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(bench_backend(args.formulations, args.batch_size, args.steps,
                                       args.warmup, args.repeats)))
        return 0

    sys.path.insert(0, str(ROOT))
    from npc_lib.model.backend import DEFAULT_BACKEND, available_backends

    backends = args.backends or available_backends()
    gflops = matmul_gflops()
    results = {b: _run_worker(b, args) for b in backends}
    print(_table(results, gflops, args.batch_size, DEFAULT_BACKEND))
    if args.json is not None:
        from npc_lib._io import write_json

        write_json({"matmul_gflops": gflops, "batch_size": args.batch_size,
                    "results": results}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
