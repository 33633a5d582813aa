"""Benchmark: survival statistics of npc_lib against lifelines / scikit-survival.

Simulated data: marker ``x ~ N(0, 1)``, event times ``Exp(rate = exp(x))``,
censoring ``Exp(rate = 0.5)``; AUC, Brier score and calibration at ``t = 0.5``
and ``1.0``, integrated Brier score on 50 times up to 1.0, predicted survival
the true ``S(t | x) = exp(-exp(x) t)`` (for calibration a miscalibrated
``1 - exp(-0.5 exp(0.8 x) t)``; for the transport measures the true model, so the
calibration slope, O/E at ``t = 1``, ``exp(citl)`` with ``expected = exp(x) t`` and the
updated baseline ``H0(1)`` should all be near 1, ``citl`` near 0). Each timing is the
best of ``repeats`` runs (3 below n = 10^5, 1 at 10^5) and includes input validation.
scikit-survival's ``concordance_index_censored`` is quadratic, so it is
skipped where a run would exceed ``--max-seconds`` (extrapolated from the
previous size). Prints a markdown table ``n | method | seconds | value``,
then the NNE time-dependent AUC of today's implementation beside the
previous one (``benchmarks/_nne_reference.py``), run one after the other on
the same data, with the ratio.

Usage::

    python benchmarks/bench_stats.py [--sizes 1000 10000 100000] [--max-seconds 120]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import pandas as pd

from npc_lib.stats import (brier_score, calibration_metrics, calibration_slope, concordance_index,
                           integrated_brier_score, observed_expected, poisson_calibration,
                           proportional_hazards_test, time_dependent_auc, update_baseline, weighted_concordance)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _nne_reference import nne_auc_reference  # noqa: E402  (the pre-issue-9 NNE, the baseline)

TIMES = [0.5, 1.0]
GRID = np.linspace(0.02, 1.0, 50)


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
    from sksurv.metrics import brier_score as sk_brier
    from sksurv.metrics import concordance_index_censored, concordance_index_ipcw, cumulative_dynamic_auc
    from sksurv.metrics import integrated_brier_score as sk_ibs
    from sksurv.util import Surv

    y = Surv.from_arrays(event, time_)
    surv = np.exp(-np.outer(np.exp(x), TIMES))
    surv_grid = np.exp(-np.outer(np.exp(x), GRID))
    risk_cal = 1.0 - np.exp(-0.5 * np.exp(0.8 * x) * 1.0)
    frame = pd.DataFrame({"t": time_, "e": event.astype(int), "x": x,
                          "z": np.random.default_rng(1).normal(size=x.size)})
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
        ("npc_lib weighted_concordance n/G2 (Uno's C + IJ SE)", 1,
         lambda: weighted_concordance(time_, event, x, timewt="n/G2").c_index),
        ("sksurv concordance_index_ipcw (Uno's C, no SE)", 2,
         lambda: concordance_index_ipcw(y, y, x)[0]),
        ("npc_lib brier_score (2 times, SE, null model, IPA)", 1,
         lambda: brier_score(time_, event, surv, TIMES).brier[0]),
        ("sksurv brier_score (2 times, no SE)", 1,
         lambda: sk_brier(y, y, surv, TIMES)[1][0]),
        ("npc_lib integrated_brier_score (50 times)", 1,
         lambda: integrated_brier_score(time_, event, surv_grid, GRID)),
        ("sksurv integrated_brier_score (50 times)", 1,
         lambda: sk_ibs(y, y, surv_grid, GRID)),
        ("npc_lib calibration_metrics rcs (ICI at t = 1)", 1,
         lambda: calibration_metrics(time_, event, risk_cal, 1.0).ici),
        ("npc_lib proportional_hazards_test (Cox fit + test, 2 covariates; global p)", 1,
         lambda: proportional_hazards_test(frame, "t", "e", ["x", "z"]).loc["GLOBAL", "p"]),
        ("npc_lib calibration_slope (Cox fit on lp; slope)", 1,
         lambda: calibration_slope(time_, event, x).slope),
        ("npc_lib observed_expected (KM at t = 1; O/E)", 1,
         lambda: observed_expected(time_, event, 1.0 - surv[:, 1], 1.0).ratio),
        ("npc_lib poisson_calibration (2 Poisson GLMs; citl)", 1,
         lambda: poisson_calibration(event, np.exp(x) * time_, x).citl),
        ("npc_lib update_baseline (Breslow, 50 times; H0(1))", 1,
         lambda: update_baseline(time_, event, x, GRID).cumhaz[-1]),
    ]


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--max-seconds", type=float, default=120.0)
    args = ap.parse_args(argv)
    lines = ["| n | method | seconds | value (C, AUC(0.5), Brier(0.5), IBS, ICI, p, slope, O/E, citl or H0(1)) |", "|---:|---|---:|---:|"]
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
    nne = ["", "| n | NNE AUC (2 times) | seconds | AUC(0.5) |", "|---:|---|---:|---:|"]
    for n in args.sizes:
        time_, event, x = _data(n)
        t_new, new = _best_of(lambda: time_dependent_auc(time_, event, x, TIMES, method="nne"), 1)
        t_old, old = _best_of(lambda: nne_auc_reference(time_, event, x, TIMES), 1)
        diff = float(np.max(np.abs(new.auc.to_numpy() - np.array([a for a, _ in old]))))
        nne += [f"| {n} | previous implementation (baseline) | {t_old:.3f} | {old[0][0]:.4f} |",
                f"| {n} | today's implementation | {t_new:.3f} | {new.auc[0]:.4f} |",
                f"| {n} | ratio previous / today (max AUC difference {diff:.1e}) | {t_old / t_new:.2f} | |"]
        print("\n".join(nne[-3:]), flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    footer = (f"\nPython {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
              f"{os.cpu_count()} CPUs, load average {load:.1f} at the end")
    table = "\n".join(lines + nne) + footer
    print("\n" + table)
    return table


if __name__ == "__main__":
    main()
