"""Benchmark: C-index (with Noether SE) and time-dependent AUC against lifelines / scikit-survival.

Simulated data: marker ``x ~ N(0, 1)``, event times ``Exp(rate = exp(x))``,
censoring ``Exp(rate = 0.5)``; AUC at ``t = 0.5`` and ``1.0``. Each timing is
the best of ``repeats`` runs (3 below n = 10^5, 1 at 10^5) and includes input
validation. scikit-survival's ``concordance_index_censored`` is quadratic, so
it is skipped where a run would exceed ``--max-seconds`` (extrapolated from
the previous size). Prints a markdown table ``n | method | seconds | value``.

Usage::

    python benchmarks/bench_stats.py [--sizes 1000 10000 100000] [--max-seconds 120]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from npc_lib.stats import concordance_index, time_dependent_auc

TIMES = [0.5, 1.0]


def _data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_event = rng.exponential(np.exp(-x))
    t_cens = rng.exponential(2.0, size=n)
    return np.minimum(t_event, t_cens), t_event <= t_cens, x


def _best_of(fn, repeats: int):
    best, value = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def _methods(time_, event, x):
    from lifelines.utils import concordance_index as lifelines_cindex
    from sksurv.metrics import concordance_index_censored, cumulative_dynamic_auc
    from sksurv.util import Surv

    y = Surv.from_arrays(event, time_)
    return [
        ("npc_lib concordance_index (C + Noether SE)", 1,
         lambda: concordance_index(time_, event, x).c_index),
        ("lifelines concordance_index (C only)", 1,
         lambda: lifelines_cindex(time_, -x, event)),
        ("sksurv concordance_index_censored (C only)", 2,
         lambda: concordance_index_censored(event, time_, x)[0]),
        ("npc_lib time_dependent_auc nne (2 times)", 1,
         lambda: time_dependent_auc(time_, event, x, TIMES, method="nne").auc[0]),
        ("npc_lib time_dependent_auc marginal (2 times, iid SE)", 1,
         lambda: time_dependent_auc(time_, event, x, TIMES, method="marginal").auc[0]),
        ("sksurv cumulative_dynamic_auc (2 times, no SE)", 1,
         lambda: cumulative_dynamic_auc(y, y, x, TIMES)[0][0]),
    ]


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--max-seconds", type=float, default=120.0)
    args = ap.parse_args(argv)
    lines = ["| n | method | seconds | value (C or AUC(0.5)) |", "|---:|---|---:|---:|"]
    last: dict[str, tuple[int, float]] = {}
    for n in args.sizes:
        time_, event, x = _data(n)
        repeats = 3 if n < 100_000 else 1
        for name, power, fn in _methods(time_, event, x):
            if name in last:
                n0, s0 = last[name]
                if s0 * (n / n0) ** power > args.max_seconds:
                    lines.append(f"| {n} | {name} | skipped (~{s0 * (n / n0) ** power:.0f} s est.) | |")
                    print(lines[-1], flush=True)
                    continue
            seconds, value = _best_of(fn, repeats)
            last[name] = (n, seconds)
            lines.append(f"| {n} | {name} | {seconds:.3f} | {float(value):.4f} |")
            print(lines[-1], flush=True)
    footer = f"\nPython {platform.python_version()}, numpy {np.__version__}, {platform.machine()}"
    table = "\n".join(lines) + footer
    print("\n" + table)
    return table


if __name__ == "__main__":
    main()
