"""How fast does a model bundle score new patients? (issue 16: benchmark, not a timed test)

Two measurements, each a fresh ``npc predict`` process (Python and Keras
start-up, bundle verification with every hash, cohort validation, reading
every volume once, three signatures and the nomogram, the CSV written):

* the whole cohort (``--cohort``, default the 638-patient default twin,
  simulated into ``data/twin_n638_seed0`` if missing): patients per second;
* one patient from the command line (``--patient`` with ``--value``): seconds.

Peak memory is each process's maximum resident set size; CPU seconds (user +
system) show what the wall time would be on an idle machine (the 2 cores
are shared with other jobs: wall time depends on the load). Targets (issue 16):
>= 10 patients/s, one patient < 20 s.

The bundle: ``--bundle`` (e.g. ``runs/default/model``), or by default one built
from ``--source`` (any exported bundle, e.g. a smoke run's ``model/``) whose
networks are replaced by the *default* profile's architecture and ensemble size
with seeded, untrained weights (inference time does not depend on the weight
values; the nomogram and preprocessing are the source's). Network size sets
the speed: say which bundle was measured.

    nice -n 10 python benchmarks/bench_predict.py --source runs/h16_smoke/model [--n 638]
"""

from __future__ import annotations

__all__ = ["main", "default_architecture_bundle"]

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time as _time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def default_architecture_bundle(source: Path, out: Path, profile: str = "default", seed: int = 0) -> Path:
    """A copy of ``source`` whose signatures are ``profile``'s networks (ensemble size, architecture), untrained."""
    from npc_lib.model.backend import configure_backend

    configure_backend()
    import keras

    from npc_lib._io import write_json
    from npc_lib.model.seresnext import build_se_resnext
    from npc_lib.model.signature import preprocess_name, read_preprocess, weights_name
    from npc_lib.run.bundle import MANIFEST, file_sha256, load_bundle
    from npc_lib.run.config import resolve_profile

    config = resolve_profile(profile).train
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(source, out)
    manifest = json.loads((out / MANIFEST).read_text())
    sig = out / "signatures"
    for seq in manifest["sequences"]:
        pre = read_preprocess(sig, seq)
        for old in sig.glob(f"model_{seq}_member*.weights.h5"):
            old.unlink()
        members = []
        for k in range(config.ensemble_size):
            keras.utils.set_random_seed(seed + k)
            build_se_resnext(config.network, name="signature").save_weights(sig / weights_name(seq, k))
            members.append({"seed": seed + k, "loc": 0.0, "scale": 1.0})
        write_json({**pre, "config": config.to_dict(), "members": members}, sig / preprocess_name(seq))
        manifest["members"][seq] = config.ensemble_size
    manifest["run"] = {**manifest["run"], "note": f"benchmark bundle: {profile} architecture, untrained weights"}
    manifest["files"] = {p.relative_to(out).as_posix(): file_sha256(p)
                         for p in sorted(out.rglob("*")) if p.is_file() and p.name != MANIFEST}
    write_json(manifest, out / MANIFEST)
    load_bundle(out)
    return out


def _timed(cmd: list[str]) -> tuple[float, float, float]:
    """``(wall seconds, CPU seconds, peak RSS GB)`` of a child process (peak: run the smaller child first)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = _time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = _time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return seconds, cpu, after.ru_maxrss / 1024 ** 2


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, help="a bundle to measure as it is")
    p.add_argument("--source", type=Path, help="a bundle whose networks are replaced by the default architecture")
    p.add_argument("--cohort", type=Path, help="cohort folder (default: the 638-patient default twin)")
    p.add_argument("--n", type=int, help="use the first N patients only")
    a = p.parse_args(argv)
    if (a.bundle is None) == (a.source is None):
        p.error("give --bundle or --source")
    from npc_lib.run.cohort_source import ensure_cohort
    from npc_lib.run.config import resolve_profile

    cohort = a.cohort or ensure_cohort(resolve_profile("default").cohort, progress=False)[0]
    work = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    try:
        bundle = a.bundle or default_architecture_bundle(a.source, work / "model")
        table = pd.read_csv(Path(cohort) / "clinical.csv", dtype=str, keep_default_na=False)
        if a.n:  # a smaller cohort: the first N rows and their folders (symlinked)
            small = work / "cohort"
            (small / "images").mkdir(parents=True)
            table = table.head(a.n)
            table.to_csv(small / "clinical.csv", index=False)
            for pid in table["patient_id"]:
                (small / "images" / pid).symlink_to(Path(cohort).resolve() / "images" / pid)
            cohort = small
        from npc_lib.run.bundle import load_bundle

        b = load_bundle(bundle)
        pid = table["patient_id"].iloc[0]
        row = table.iloc[0]
        npc = [sys.executable, "-m", "npc_lib.cli", "-q", "predict", "--model", str(bundle)]
        one_s, one_cpu, one_gb = _timed([*npc, "--patient", str(Path(cohort) / "images" / pid),
                                *[f"--value={v}={row[v]}" for v in b.clinical_variables()]])
        all_s, all_cpu, all_gb = _timed([*npc, "--cohort", str(cohort), "--out", str(work / "predictions.csv")])
        n = len(pd.read_csv(work / "predictions.csv"))
        members = ", ".join(f"{s}: {k}" for s, k in b.manifest["members"].items())
        rows = [("patients", f"{n}", ""),
                ("cohort: seconds end to end", f"{all_s:.1f}", ""),
                ("cohort: patients/s", f"{n / all_s:.1f}", ">= 10"),
                ("cohort: CPU seconds (user + system)", f"{all_cpu:.1f}", ""),
                ("cohort: patients per CPU second x 2 cores", f"{2 * n / all_cpu:.1f}", "(idle 2-core bound)"),
                ("cohort: peak RSS (GB)", f"{all_gb:.2f}", ""),
                ("one patient (CLI): seconds", f"{one_s:.1f}", "< 20"),
                ("one patient: CPU seconds", f"{one_cpu:.1f}", ""),
                ("one patient: peak RSS (GB)", f"{one_gb:.2f}", "")]
        print(f"bundle {bundle} ({b.manifest['run'].get('note') or b.manifest['run']['profile']}; networks per "
              f"sequence {members}); cohort {cohort}")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}, Keras backend {os.environ.get('KERAS_BACKEND', 'default')}")
        print(pd.DataFrame(rows, columns=["measure", "value", "target"]).to_string(index=False))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
