"""Handcrafted-radiomics extraction time (A20): settings per image, a whole cohort, the selection.

1. CPU milliseconds per image (one process, one SimpleITK thread, reading the
   NIfTI files included) for the default settings and variants of bin width,
   resampled spacing, interpolator and feature classes, on a sample of patients;
2. wall seconds of :func:`npc_lib.radiomics.extract.extract_cohort` for every
   patient x sequence of the cohort with ``--n-jobs`` workers (the book's
   setting: 2), with the machine's load average before and after;
3. wall seconds of :func:`npc_lib.radiomics.signature.fit_signatures` on the
   paper's 447/191-style split, and the Harrell C of each signature.

Usage::

    python benchmarks/bench_radiomics.py --cohort data/twin_n638_seed0 [--sample 15]
                                         [--n-jobs 2] [--skip-cohort] [--json out.json]

Prints markdown tables (pasted into docs/benchmarks.md).
"""

from __future__ import annotations

__all__ = ["cpu_ms_per_image", "main"]

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from npc_lib.cohort.load import load_cohort  # noqa: E402
from npc_lib.cohort.split import split_cohort  # noqa: E402
from npc_lib.radiomics.extract import DEFAULT_SETTINGS, cached_features, extract_cohort, extract_features  # noqa: E402
from npc_lib.radiomics.extract import _extractor  # noqa: E402
from npc_lib.radiomics.signature import fit_signatures  # noqa: E402
from npc_lib.stats import concordance_index  # noqa: E402

VARIANTS = {
    "default (bin width 10, 1.25x1.25x5 mm, B-spline, 7 classes)": DEFAULT_SETTINGS,
    "bin width 5": replace(DEFAULT_SETTINGS, bin_width=5.0),
    "bin width 20": replace(DEFAULT_SETTINGS, bin_width=20.0),
    "1x1x5 mm": replace(DEFAULT_SETTINGS, resampled_spacing=(1.0, 1.0, 5.0)),
    "1x1x1 mm (isotropic)": replace(DEFAULT_SETTINGS, resampled_spacing=(1.0, 1.0, 1.0)),
    "no resampling": replace(DEFAULT_SETTINGS, resampled_spacing=None),
    "linear interpolation": replace(DEFAULT_SETTINGS, interpolator="sitkLinear"),
    "first order + shape only": replace(DEFAULT_SETTINGS, feature_classes=("firstorder", "shape")),
}


def cpu_ms_per_image(cohort, patient_ids, settings) -> tuple[float, int]:
    """CPU ms per image (read + extract) in this process, and the number of features per image."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    ex = _extractor(settings)
    n, n_feat = 0, 0
    t0 = time.process_time()
    for pid in patient_ids:
        for seq in cohort.sequences:
            feats = extract_features(cohort.read_image(pid, seq), cohort.read_roi(pid, seq), settings, extractor=ex)
            n, n_feat = n + 1, len(feats)
    return 1000.0 * (time.process_time() - t0) / n, n_feat


def _cpu_seconds() -> dict[int, float]:
    """User + system CPU seconds of this process and each of its (joblib) children, by pid."""
    import psutil

    me = psutil.Process()
    out = {}
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", required=True, help="cohort folder (e.g. a 638-patient twin)")
    ap.add_argument("--sample", type=int, default=15, help="patients for the per-image CPU times")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--skip-cohort", action="store_true", help="per-image times only")
    ap.add_argument("--skip-variants", action="store_true", help="whole cohort and selection only")
    ap.add_argument("--cache", default=None, help="folder of a cached feature table (cached_features)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    cohort = load_cohort(args.cohort, check_images="none")
    ids = cohort.patient_ids
    out = {"cohort": str(args.cohort), "n_patients": len(ids), "cpu_count": os.cpu_count(), "variants": {}}
    print(f"cohort {args.cohort}: {len(ids)} patients x {len(cohort.sequences)} sequences; "
          f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}\n")
    print("| settings | features / image | CPU ms / image | 638 x 3 at 2 workers, s (CPU-bound estimate) |")
    print("|---|---:|---:|---:|")
    for name, settings in ({} if args.skip_variants else VARIANTS).items():
        ms, n_feat = cpu_ms_per_image(cohort, ids[:args.sample], settings)
        out["variants"][name] = {"cpu_ms_per_image": ms, "features": n_feat}
        print(f"| {name} | {n_feat} | {ms:.1f} | {638 * 3 * ms / 1000 / 2:.0f} |", flush=True)
    if args.skip_cohort:
        return out

    load0 = os.getloadavg()[0]
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    if args.cache:
        cached = cached_features(cohort, args.cache, settings=DEFAULT_SETTINGS, n_jobs=args.n_jobs)
        table = cached.features
        wall = cached.seconds
    else:
        table = extract_cohort(cohort, settings=DEFAULT_SETTINGS, n_jobs=args.n_jobs)
        wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    cpu = sum(_cpu_seconds().get(pid, 0.0) - c for pid, c in cpu0.items()) + sum(
        v for pid, v in _cpu_seconds().items() if pid not in cpu0)
    out["extract"] = {"wall_s": wall, "cpu_s": cpu, "n_jobs": args.n_jobs, "load_before": load0,
                      "load_after": load1, "shape": list(table.shape)}
    print(f"\nextract_cohort, default settings, n_jobs={args.n_jobs}: {wall:.1f} s wall, {cpu:.1f} CPU s "
          f"(this process and its workers; CPU-bound wall at {args.n_jobs} workers {cpu / args.n_jobs:.0f} s) for "
          f"{len(ids)} x {len(cohort.sequences)} images ({table.shape[1] - 1} columns); "
          f"load {load0:.1f} -> {load1:.1f}", flush=True)

    split = split_cohort(ids, seed=2020)
    t0 = time.perf_counter()
    sig = fit_signatures(table, cohort.clinical, split, seed=0)
    fit_s = time.perf_counter() - t0
    scores = sig.scores(table, split).merge(cohort.clinical[["patient_id", "dfs_time", "dfs_event"]])
    out["fit_s"] = fit_s
    out["signatures"] = {}
    print(f"fit_signatures (10-fold CV, lambda.min): {fit_s:.1f} s; path fits not converged: "
          f"{sum(v.cv.n_unconverged for v in sig.selections.values())}\n")
    print("| signature | selected | train C | test C |\n|---|---:|---:|---:|")
    for name, (key, selection) in zip(sig.names, sig.selections.items()):
        cs = {}
        for coh in ("train", "test"):
            d = scores[scores["cohort"] == coh]
            cs[coh] = (float("nan") if not selection.features else
                       concordance_index(d["dfs_time"], d["dfs_event"], d[name]).c_index)
        out["signatures"][name] = {"selected": len(selection.features), **cs}
        print(f"| {name} | {len(selection.features)} | {cs['train']:.3f} | {cs['test']:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
