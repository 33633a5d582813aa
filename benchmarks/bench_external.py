"""How long does chapter 10 (external validation) take on the default profile? (issue 17, item 5)

The chapter's steps, timed one by one in one process, as the chapter runs
them on the default profile (400 external patients, 200 bootstrap resamples):

1. simulate the second-centre twin (``npc_lib.run.external.ensure_external_cohort``;
   into a fresh temporary folder here, so it is always measured);
2. load and validate it;
3. the locked signatures of every patient under both intensity standardisers,
   each volume read once (``external_signatures``): network loading, reading
   and resampling, scoring;
4. the analyses: discrimination and calibration with bootstrap CIs beside the
   oracle, transport measures, the harmonised model, the three updates on half
   the patients judged on the other half, three derived bundles.

The bundle: one built from ``--source`` (any exported bundle, e.g. a smoke
run's ``model/``) whose networks are replaced by the *default* profile's
architecture and ensemble size with seeded, untrained weights
(``bench_predict.default_architecture_bundle``; inference time does not depend
on the weights). Wall and CPU seconds are printed with the load average: on
a shared machine wall time overstates what the chapter takes alone.

    nice -n 10 python benchmarks/bench_external.py --source runs/h16_smoke/model [--n 400]
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import os
import platform
import resource
import sys
import tempfile
import time as _time
from pathlib import Path


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the simulator's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, required=True, help="an exported model bundle (e.g. a smoke run's model/)")
    p.add_argument("--n", type=int, default=400, help="external patients (default 400, the default profile's)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--n-boot", type=int, default=200)
    p.add_argument("--profile", default="default", help="whose network architecture and ensemble size")
    args = p.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_predict import default_architecture_bundle

    rows, t, c = [], _time.perf_counter(), _cpu()

    def step(name):
        nonlocal t, c
        now, cpu = _time.perf_counter(), _cpu()
        rows.append((name, now - t, cpu - c))
        t, c = now, cpu

    with tempfile.TemporaryDirectory(prefix="bench_external_") as tmp:
        tmp = Path(tmp)
        bundle_dir = default_architecture_bundle(args.source, tmp / "bundle", profile=args.profile)
        import numpy as np  # noqa: F401  (imports before the clock)

        from npc_lib.run.bundle import derive_bundle, load_bundle
        from npc_lib.run.external import ExternalSettings, external_frame, external_signatures, load_external_cohort
        from npc_lib.run.external_eval import DocumentModel, external_performance
        from npc_lib.run.updating import model_predictions, transport_measures, update_and_evaluate, updating_split
        from npc_lib.twin.simulate import simulate_cohort
        from npc_lib.twin.truth import read_truth
        step("setup (default-architecture bundle, imports)")

        settings = ExternalSettings(n_patients=args.n, seed=args.seed)
        folder = simulate_cohort(tmp / "external", n=args.n, seed=args.seed, centre="external", progress=False)
        step(f"simulate {args.n} second-centre patients")
        bundle = load_bundle(bundle_dir)
        cohort = load_external_cohort(settings, folder, sequences=bundle.sequences)
        step("load bundle (hashes) and cohort")
        sigs = external_signatures(bundle.signature_dir, cohort, bundle.sequences)
        total = _time.perf_counter() - t
        step("signatures, both standardisers")
        name, wall, cpu = rows.pop()
        rows += [("  networks loaded", total - sigs.seconds["read"] - sigs.seconds["score"], float("nan")),
                 ("  volumes read and resampled (once)", sigs.seconds["read"], float("nan")),
                 ("  scored twice (locked, refitted standardiser)", sigs.seconds["score"], float("nan")),
                 (name, wall, cpu)]
        frame, frame_refit = external_frame(cohort, sigs.locked), external_frame(cohort, sigs.refitted)
        doc, times = bundle.nomogram, [36.0, 60.0]
        external_performance(frame, DocumentModel(doc), times, truth=read_truth(folder), n_boot=args.n_boot)
        step(f"discrimination and calibration, {args.n_boot} bootstrap resamples (model and oracle)")
        transport_measures(frame, model_predictions(doc, frame, times), times)
        transport_measures(frame_refit, model_predictions(doc, frame_refit, times), times)
        models, _, _ = update_and_evaluate(doc, frame, updating_split(frame), times)
        for kind, new in models.items():
            derive_bundle(bundle, new, tmp / f"derived_{kind}", note="benchmark")
        step("transport measures, harmonisation, 3 updates, 3 derived bundles")

    chapter = sum(w for n, w, _ in rows if not n.startswith(("setup", "  ")))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{args.profile} architecture, {bundle.manifest['members']} networks")
    print(f"| step | wall s | CPU s |\n|---|---:|---:|")
    for n, w, cpu in rows:
        print(f"| {n} | {w:.1f} | {'' if cpu != cpu else f'{cpu:.1f}'} |")
    print(f"| **chapter's steps in all** | **{chapter:.1f}** | |")
    return {"rows": rows, "chapter_seconds": chapter}


if __name__ == "__main__":
    main()
