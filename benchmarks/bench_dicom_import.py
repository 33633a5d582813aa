"""Benchmark of ``npc import-dicom`` (issue 19): a twin exported as DICOM, imported back.

The export (made once, then reused: ``--src``) has, per patient, three axial MR
series (T1, T2, T1C, one file per slice) and one RTSTRUCT with the tumour drawn
on T1C, from twin patients on the three development scanners in turn (A: 15
slices of 112x112, B: 12 of 90x90, C: 10 of 140x140). The import's time is split
by stage: scanning (every header parsed, grouped, rules applied), reading
(pixels of the chosen series), sorting (slices ordered and checked, volume
assembled), rasterising (contours to masks on each sequence's grid) and writing
(NIfTI + clinical table). Also compared: reading one series with pydicom (as the
importer does) and with SimpleITK's GDCM series reader.

Usage::

    nice -n 10 python benchmarks/bench_dicom_import.py --n 638 --src runs/bench_dicom/src
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import dicom_factory as f  # noqa: E402
from npc_lib.dicom import import_dicom  # noqa: E402

RULES = {"sequences": {"T1": ["t1(?!.*(gd|post))"], "T2": ["t2"], "T1C": [r"post|gd|\+c"]},
         "roi": ["^gtv_?(nx|p)$"]}
SCANNERS = ("A", "B", "C")


def _write_one(args) -> None:
    src, i = args
    folder = Path(src) / f"p{i:04d}"
    if (folder / "rt" / "RS.dcm").is_file():
        return
    shutil.rmtree(folder, ignore_errors=True)
    f.write_patient_export(folder, i, images=f.twin_images(seed=i, scanner=SCANNERS[i % 3]))


def make_export(src: Path, n: int, jobs: int) -> float:
    """Write (or complete) an ``n``-patient export under ``src``; seconds taken."""
    t0 = time.perf_counter()
    tasks = [(str(src), i) for i in range(1, n + 1)]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_write_one, tasks, chunksize=4))
    else:
        for t in tasks:
            _write_one(t)
    return time.perf_counter() - t0


def compare_readers(folder: Path, repeats: int = 3) -> dict[str, float]:
    """Milliseconds per file to read one series: pydicom (header + pixels) vs SimpleITK (GDCM sort + read)."""
    import pydicom
    import SimpleITK as sitk

    files = sorted(p for p in folder.iterdir() if p.is_file())
    from npc_lib.dicom.series import native_pixels

    best = {"pydicom header only (the scan)": 1e9, "pydicom file + pixel_array": 1e9,
            "pydicom file + PixelData read directly (the importer)": 1e9,
            "SimpleITK GetGDCMSeriesFileNames (sort)": 1e9, "SimpleITK ImageSeriesReader (read)": 1e9}
    for _ in range(repeats):
        t0 = time.perf_counter()
        for p in files:
            pydicom.dcmread(p, stop_before_pixels=True)
        t1 = time.perf_counter()
        for p in files:
            pydicom.dcmread(p).pixel_array
        t2 = time.perf_counter()
        for p in files:
            native_pixels(pydicom.dcmread(p))
        t3 = time.perf_counter()
        reader = sitk.ImageSeriesReader()
        names = reader.GetGDCMSeriesFileNames(str(folder))
        t4 = time.perf_counter()
        reader.SetFileNames(names)
        sitk.GetArrayFromImage(reader.Execute())
        t5 = time.perf_counter()
        for key, dt in zip(best, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            best[key] = min(best[key], 1000.0 * dt / len(files))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=638)
    p.add_argument("--src", type=Path, default=ROOT / "runs" / "bench_dicom" / "src")
    p.add_argument("--jobs", type=int, default=1, help="processes writing the export")
    p.add_argument("--import-jobs", type=int, default=None, help="processes of the import (default: its own)")
    args = p.parse_args()
    gen = make_export(args.src, args.n, args.jobs)
    n_files = sum(len(fs) for _, _, fs in os.walk(args.src))
    out = args.src.parent / "cohort"
    shutil.rmtree(out, ignore_errors=True)
    for extra in (out.parent / f"{out.name}.import-report.json", out.parent / f"{out.name}.secret"):
        extra.unlink(missing_ok=True)
    load = os.getloadavg()[0]
    c0, ch0 = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = import_dicom(args.src, out, RULES, n_jobs=args.import_jobs)
    total = time.perf_counter() - t0
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c0 + (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; "
          f"export of {result.n_patients} patients ({n_files} files) written in {gen:.0f} s")
    print("\n| stage (seconds summed over the worker processes) | seconds | share |\n|---|---:|---:|")
    summed = sum(result.timings.values())
    for stage, s in result.timings.items():
        print(f"| {stage} | {s:.1f} | {100 * s / summed:.0f}% |")
    print(f"| **wall clock** | **{total:.1f}** | **{result.n_patients / total:.1f} patients/s** |")
    print(f"| CPU time (all processes) | {cpu:.1f} | {result.n_patients / cpu:.1f} patients per CPU-second |")
    print("\n| one series (ms per file, best of 3) | ms |\n|---|---:|")
    for key, ms in compare_readers(args.src / "p0001" / "series0").items():
        print(f"| {key} | {ms:.2f} |")


if __name__ == "__main__":
    main()
