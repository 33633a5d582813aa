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


def bench_backend(formulations, batch_size: int, seconds: float, warmup: int, repeats: int,
                  threads: int, seed: int = 0) -> dict:
    """Run inside a process whose KERAS_BACKEND is set: instances/s per formulation.

    Each repeat runs whole training steps until ``seconds`` have passed (at
    least 2 steps). Repeats go round-robin over the formulations, so a change
    of machine load hits all of them alike. ``threads`` = intra-op threads.
    """
    _set_threads(os.environ["KERAS_BACKEND"], threads)
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
            steps, t0 = 0, time.perf_counter()
            while steps < 2 or time.perf_counter() - t0 < seconds:
                float(np.asarray(models[f].train_on_batch(x, y)))  # synchronous
                steps += 1
            times[f].append(batch_size * steps / (time.perf_counter() - t0))
    macs = forward_macs(models[formulations[0]])
    rows = {f: {"median": statistics.median(v), "best": max(v), "all": v} for f, v in times.items()}
    return {"backend": backend, "auto": best_formulation(backend), "macs": macs,
            "threads": threads, "rows": rows}


def _set_threads(backend: str, threads: int) -> None:
    """Intra-op threads of the backend (before it runs anything)."""
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))


def _run_worker(backend: str, threads: int, args) -> dict | str:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY=args.omp_wait_policy,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, __file__, "--worker", "--batch-size", str(args.batch_size),
           "--seconds", str(args.seconds), "--warmup", str(args.warmup),
           "--repeats", str(args.repeats), "--threads", str(threads),
           "--formulations", *args.formulations]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return f"failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}"
    return json.loads(lines[-1])


def _table(results: dict, gflops: float, batch_size: int, default_key: str, omp: str,
           load: tuple) -> str:
    ok = {k: r for k, r in results.items() if isinstance(r, dict)}
    fastest = max(row["median"] for r in ok.values() for row in r["rows"].values())
    out = [
        f"numpy float32 matmul: {gflops:.1f} GFLOP/s; batch {batch_size}; "
        f"training FLOPs = 3 x forward (2 x MACs); OMP_WAIT_POLICY={omp}; "
        f"load average before/after {load[0]:.1f}/{os.getloadavg()[0]:.1f}",
        "",
        "| backend | threads | formulation | inst/s (median) | inst/s (best) | train GFLOP/s "
        "| % of matmul | x fastest |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, r in results.items():
        backend, threads = key.split("/")
        if not isinstance(r, dict):
            out.append(f"| {backend} | {threads} | - | {r} | | | | |")
            continue
        flops_per_instance = 3 * 2 * r["macs"]
        for f, row in r["rows"].items():
            mark = " (auto)" if f == r["auto"] else ""
            gf = row["median"] * flops_per_instance / 1e9
            out.append(
                f"| {backend} | {threads} | {f}{mark} | {row['median']:.1f} | {row['best']:.1f} "
                f"| {gf:.2f} | {100 * gf / gflops:.1f}% | {row['median'] / fastest:.2f} |"
            )
    if default_key in ok:
        r = ok[default_key]
        default = r["rows"].get(r["auto"], {}).get("median")
        if default is not None:
            ratio = default / fastest
            verdict = "meets" if ratio >= 0.8 else "MISSES"
            out += ["", f"default setup = {default_key} threads + {r['auto']}: {default:.1f} "
                    f"inst/s = {ratio:.2f} x fastest ({verdict} the 0.8 target)"]
    any_r = next(iter(ok.values()), None)
    if any_r:
        out.append(f"forward MACs per instance: {any_r['macs'] / 1e6:.1f} M")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per repeat")
    parser.add_argument("--threads", nargs="+", type=int, default=None,
                        help="intra-op thread counts to try (default: 1 and all cores)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formulations", nargs="+", default=list(FORMULATIONS),
                        choices=FORMULATIONS)
    parser.add_argument("--backends", nargs="+", default=None, choices=BACKENDS)
    parser.add_argument("--omp-wait-policy", default="PASSIVE", choices=["PASSIVE", "ACTIVE"],
                        help="OpenMP wait policy of the workers (configure_backend sets PASSIVE)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(bench_backend(args.formulations, args.batch_size, args.seconds,
                                       args.warmup, args.repeats, args.threads[0])))
        return 0

    sys.path.insert(0, str(ROOT))
    from npc_lib.model.backend import DEFAULT_BACKEND, available_backends, default_threads

    backends = args.backends or available_backends()
    load = os.getloadavg()
    gflops = matmul_gflops()
    threads = args.threads or sorted({1, os.cpu_count() or 1})
    results = {f"{b}/{t}": _run_worker(b, t, args) for b in backends for t in threads}
    print(_table(results, gflops, args.batch_size, f"{DEFAULT_BACKEND}/{default_threads()}",
                 args.omp_wait_policy, load))
    if args.json is not None:
        from npc_lib._io import write_json

        write_json({"matmul_gflops": gflops, "batch_size": args.batch_size,
                    "results": results}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
