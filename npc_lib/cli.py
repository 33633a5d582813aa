"""The ``npc`` command line: simulate a twin, run the book, build it, train signatures."""

from __future__ import annotations

__all__ = ["main", "build_parser"]

import argparse
import json
import sys
from pathlib import Path

from .profiles import shipped_profiles


def _cmd_simulate(args) -> int:
    from .twin.simulate import simulate_cohort

    out = simulate_cohort(args.out, n=args.n, seed=args.seed, progress=not args.quiet, centre=args.centre)
    print(f"cohort written to {out}")
    return 0


def _cmd_validate(args) -> int:
    from .cohort.load import validate_cohort

    report = validate_cohort(args.cohort, mapping=args.map, roi_label=args.roi_label, check_images=args.check,
                             progress=not args.quiet and args.format == "text")
    if args.format == "json":
        print(report.to_json())
        return 0 if report.ok else 2
    if not report.ok:
        print(f"npc validate: error: {report.render()}", file=sys.stderr)
        return 2
    print(f"{args.cohort}: {report.n_patients} patients, valid ({args.check} check)")
    if report.warnings or report.notes:
        print(report.render(levels=("warning", "note")))
    return 0


def _cmd_import_dicom(args) -> int:
    from .dicom import import_dicom

    result = import_dicom(args.src, args.out, args.rules, report=args.report, overwrite=args.overwrite,
                          progress=not args.quiet, n_jobs=args.jobs)
    print(f"{result.n_patients} patients imported into {result.cohort}")
    print(f"mapping report (the original patient ids: keep it out of shared folders): {result.report}")
    if result.problems.items:
        print(result.problems.render(levels=("warning", "note")))
    return 0


def _cmd_run(args) -> int:
    from .runners.book import run_chapters

    overrides = {"mapping": str(args.map.resolve()) if args.map else None, "roi_label": args.roi_label}
    run = run_chapters(
        args.profile, cohort=args.cohort, out=args.out, only=args.only, force=args.force, progress=not args.quiet,
        overrides=overrides,
    )
    print(f"executed chapters in {run}")
    return 0


def _cmd_book(args) -> int:
    from .profiles import project_root
    from .runners.book import build_book

    run = Path(args.run) if args.run else project_root() / "runs" / "default"
    if args.study:
        from .runners.study_results import execute_replication_chapter

        execute_replication_chapter(run, args.study)
    html = build_book(run, out=args.out)
    print(f"book built: {html / 'index.html'}")
    return 0


def _cmd_replicate(args) -> int:
    from .runners.replicate import DEFAULT_CHAPTERS, read_study, run_study, study_from_seeds

    if args.study_file:
        study = read_study(args.study_file)
    elif args.twins is None:
        raise ValueError("replicate: give a study file, or --twins with --splits or --split-seeds")
    else:
        study = study_from_seeds(args.profile, args.twins, splits=args.splits, split_seeds=args.split_seeds,
                                 chapters=args.chapters or DEFAULT_CHAPTERS, crossval=args.crossval,
                                 threads=args.threads)
    table = run_study(study, args.out, workers=args.workers, scheduler=args.scheduler, progress=not args.quiet)
    table = table[table["replicate"].isin({r.name for r in study.replicates})]
    ok = int((table["status"] == "ok").sum())
    print(f"{ok} of {len(study.replicates)} replicates ok, {len(table) - ok} failed: {args.out / 'replicates.csv'}")
    return 0 if ok == len(study.replicates) else 1


def _training_inputs(args):
    """``(cohort, config, split)`` of ``npc train`` / ``npc crossval``: the profile resolved here."""
    from .cohort.load import load_cohort
    from .cohort.split import split_cohort
    from .run import resolve_profile

    run_config = resolve_profile(args.profile)
    config = run_config.train
    cohort = load_cohort(args.cohort, sequences=(args.sequence,), check_images="header")
    split = split_cohort(cohort.patient_ids, train_fraction=run_config.split.train_fraction,
                         seed=run_config.split.seed)
    return cohort, config, split


def _cmd_train(args) -> int:
    from .model.backend import configure_backend

    configure_backend()
    from .runners.train import run_training

    cohort, config, split = _training_inputs(args)
    metrics = run_training(cohort, args.sequence, args.out, config=config, split=split, seed=args.seed,
                           progress=not args.quiet, workers=args.workers)
    print(json.dumps({k: metrics[k] for k in metrics if "c_index" in k}, indent=2))
    return 0


def _cmd_crossval(args) -> int:
    from .model.backend import configure_backend

    configure_backend()
    from .runners.train import run_crossval

    cohort, config, split = _training_inputs(args)
    table = run_crossval(cohort, args.sequence, args.out, config=config, split=split, seed=args.seed,
                         n_folds=args.folds, progress=not args.quiet, workers=args.workers)
    print(table.to_string(index=False))
    return 0


def _parse_values(items: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--value: expected NAME=VALUE, got {item!r}")
        if key in values:
            raise ValueError(f"--value: {key} given twice")
        values[key] = raw.strip()
    return values


def _time_label(t: float, unit: str) -> str:
    if unit == "months" and t % 12 == 0:
        return f"{t / 12:g}-year DFS ({t:g} months)"
    return f"DFS at {t:g} {unit}"


def _cmd_nomogram(args) -> int:
    from .stats.nomogram_export import NomogramCalculator

    calc = NomogramCalculator.from_json(args.model)
    result = calc.predict_clinical(_parse_values(args.value), fill_missing=args.fill_missing, times=args.time)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
        return 0
    labels = calc.labels or {}
    width = max(32, *(len(labels.get(c, c)) for c in calc.covariates))
    print(f"{'predictor':>{width}}  {'value':<24}{'points':>8}")
    filled_covs = {c for v in calc.variables if v["variable"] in result.filled for c in v["covariates"]}
    for cov, pts in result.points.items():
        value = calc.describe(cov, result.covariate_values[cov]) + (" *" if cov in filled_covs else "")
        print(f"{labels.get(cov, cov):>{width}}  {value:<24}{pts:8.1f}")
    print(f"{'total points':>{width}}  {'':<24}{result.total_points:8.1f}")
    for t, s in result.survival.items():
        print(f"{_time_label(t, calc.time_unit):>{width}}  {'':<24}{100 * s:7.1f}%")
    for var, used in result.filled.items():
        print(f"* {var} not given: set to the model's adjust-to value {used} (--fill-missing)")
    if result.unused:
        print(f"not used by this model: {', '.join(result.unused)}")
    if result.outside_axis:
        print("outside the nomogram's axis (points extrapolated): "
              + ", ".join(labels.get(c, c) for c in result.outside_axis))
    if calc.update:
        print(f"model {calc.name}: {calc.update['kind']} update of {calc.parent['name']}")
    return 0


def _cmd_export(args) -> int:
    from .run.bundle import export_bundle, load_bundle

    out = export_bundle(args.run, args.out, archive=args.archive)
    bundle = load_bundle(out)
    part = "signatures and nomogram" if bundle.nomogram else f"signatures only ({bundle.manifest['nomogram']['note']})"
    print(f"model bundle written to {out}: {', '.join(bundle.signatures)}; {part}; sha256 {bundle.sha256}")
    return 0


def _print_warnings(caught, command: str) -> None:
    for w in caught:
        print(f"npc {command}: warning: {w.message}", file=sys.stderr)


def _cmd_predict(args) -> int:
    import warnings

    from .model.backend import configure_backend

    if (args.cohort is None) == (args.patient is None):
        raise ValueError("predict: give --cohort DIR (with --out) or --patient DIR (with --value), not both")
    configure_backend()
    from .run.predict import predict, predict_patient

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.patient is not None:
            result = predict_patient(args.model, args.patient, _parse_values(args.value), times=args.time,
                                     fill_missing=args.fill_missing, roi_label=args.roi_label)
        else:
            if args.out is None:
                raise ValueError("predict: --cohort needs --out PREDICTIONS.csv")
            table = predict(args.model, args.cohort, times=args.time or (), mapping=args.map,
                            roi_label=args.roi_label, progress=not args.quiet)
    _print_warnings(caught, "predict")
    if args.patient is None:
        from ._io import write_csv

        write_csv(table, args.out)
        high, outside = int((table["risk_group"] == "high").sum()), int((table["outside_axes"] != "").sum())
        print(f"{len(table)} patients predicted: {args.out} ({high} high risk; {outside} with a predictor outside "
              "the nomogram's axes, see column outside_axes)")
        return 0
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
        return 0
    for name, v in result.signatures.items():
        print(f"{name:>32}  {v:8.4f}  (from the images)")
    nomogram = result.nomogram
    if nomogram is not None:
        print(f"{'total points':>32}  {nomogram.total_points:8.1f}")
        for t, s in nomogram.survival.items():
            print(f"{_time_label(t, 'months'):>32}  {100 * s:7.1f}%")
        print(f"{'risk group':>32}  {result.risk_group}")
        for var, used in nomogram.filled.items():
            print(f"* {var} not given: set to the model's adjust-to value {used} (--fill-missing)")
        if nomogram.outside_axis:
            print("outside the nomogram's axis (points extrapolated): " + ", ".join(nomogram.outside_axis))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``npc`` (one sub-command per task)."""
    p = argparse.ArgumentParser(prog="npc", description=__doc__)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="write a digital-twin cohort in the SPEC layout")
    s.add_argument("--out", required=True, type=Path, help="cohort folder to create")
    s.add_argument("--n", type=int, default=638, help="number of patients (default 638)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--centre", choices=("development", "external"), default="development",
                   help="development (default: the paper's centre) or external: a second centre with other "
                        "scanners, case mix, baseline hazard and follow-up (npc_lib.twin.centres)")
    s.set_defaults(func=_cmd_simulate)

    v = sub.add_parser("validate", help="check a cohort folder; every problem reported with patient, file, field")
    v.add_argument("cohort", type=Path)
    v.add_argument("--check", choices=("full", "header", "none"), default="full")
    v.add_argument("--map", type=Path, metavar="MAPPING.yml", help="column names, units and codes of your table")
    v.add_argument("--roi-label", type=int, metavar="N", help="the tumour's label in multi-label masks")
    v.add_argument("--format", choices=("text", "json"), default="text", help="json: every problem, for scripts")
    v.set_defaults(func=_cmd_validate)

    d = sub.add_parser("import-dicom", help="MR DICOM series + RTSTRUCT of a hospital export into a cohort folder")
    d.add_argument("src", type=Path, help="folder of the DICOM export (any layout, names and order)")
    d.add_argument("--out", required=True, type=Path, help="cohort folder to create")
    d.add_argument("--rules", required=True, type=Path, metavar="RULES.yml",
                   help="which series is T1, T2, T1C and which ROI the tumour (see README, 'Your own cohort')")
    d.add_argument("--report", type=Path, help="mapping report, beside the cohort (default <out>.import-report.json)")
    d.add_argument("--overwrite", action="store_true", help="replace an existing cohort folder once the new one is whole")
    d.add_argument("--jobs", type=int, help="processes (default: 1 for small exports, else the CPUs, at most 4)")
    d.set_defaults(func=_cmd_import_dicom)

    r = sub.add_parser("run", help="execute the book's chapters with papermill on a profile")
    r.add_argument("--profile", default="default", help=f"one of {', '.join(shipped_profiles())} or a YAML file")
    r.add_argument("--cohort", type=Path, help="your cohort folder (default: the profile's simulated twin)")
    r.add_argument("--out", type=Path, help="run folder (default runs/<profile>)")
    r.add_argument("--only", nargs="+", metavar="CHAPTER", help="execute up to these chapters (e.g. 02_table1)")
    r.add_argument("--force", action="store_true", help="re-execute even if results are up to date")
    r.add_argument("--map", type=Path, help="column-mapping YAML for your cohort's table (see README)")
    r.add_argument("--roi-label", type=int, help="mask label of the tumour when masks hold several labels")
    r.set_defaults(func=_cmd_run)

    b = sub.add_parser("book", help="build the HTML book from a run folder (offline-ready)")
    b.add_argument("--run", type=Path, help="run folder (default runs/default)")
    b.add_argument("--out", type=Path, help="build folder (default _build)")
    b.add_argument("--study", type=Path, help="a study folder of `npc replicate` for the Replication chapter")
    b.set_defaults(func=_cmd_book)

    q = sub.add_parser("replicate", help="the pipeline over many (twin seed, split seed) replicates, on Dask")
    q.add_argument("study_file", nargs="?", type=Path, help="a YAML study file (instead of the options below)")
    q.add_argument("--profile", default="default", help=f"one of {', '.join(shipped_profiles())} or a YAML file")
    q.add_argument("--twins", help="twin seeds, e.g. 11-20 or 1,4,7")
    q.add_argument("--splits", type=int, help="split seeds per twin: the profile's and the next ones")
    q.add_argument("--split-seeds", help="split seeds, e.g. 2020-2022 (instead of --splits)")
    q.add_argument("--chapters", nargs="+", metavar="CHAPTER", help="execute up to these (default: up to 08)")
    q.add_argument("--crossval", action="store_true", help="keep chapter 04's cross-validation")
    q.add_argument("--threads", type=int, default=1, help="threads per replicate (default 1)")
    q.add_argument("--out", required=True, type=Path, help="study folder (resumed when it exists)")
    q.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    q.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (tcp://host:8786)")
    q.set_defaults(func=_cmd_replicate)

    m = sub.add_parser("nomogram", help="one patient's nomogram points and DFS from a nomogram.json (A22)")
    m.add_argument("--model", required=True, type=Path, help="nomogram.json written by chapter 06")
    m.add_argument("--value", action="append", default=[], metavar="NAME=VALUE",
                   help="a clinical variable as a clinician knows it (age=50, sex=F, hgb=135, ebv_dna=3200, "
                        "smoking=yes, who_type=III) or a signature score (DL_T1_sig=0.4); repeat for each")
    m.add_argument("--fill-missing", action="store_true",
                   help="set a variable not given to the model's adjust-to value (training median or "
                        "reference level) instead of stopping; the output names each one")
    m.add_argument("--time", type=float, action="append", metavar="T",
                   help="DFS at T (the model's time unit, e.g. months); repeat for several (default: the model's)")
    m.add_argument("--json", action="store_true", help="print the result as JSON")
    m.set_defaults(func=_cmd_nomogram)

    x = sub.add_parser("export", help="write a run's model bundle (signatures, nomogram, model card; no patient data)")
    x.add_argument("--run", required=True, type=Path, help="a finished run folder (chapters 04-06)")
    x.add_argument("--out", required=True, type=Path, help="the bundle folder to write (replaced whole)")
    x.add_argument("--archive", action="store_true", help="also write <out>.zip")
    x.set_defaults(func=_cmd_export)

    pr = sub.add_parser("predict", help="score new patients with a model bundle (signatures, points, DFS, risk group)")
    pr.add_argument("--model", required=True, type=Path, help="a model bundle folder (npc export)")
    pr.add_argument("--cohort", type=Path, help="a cohort folder in the SPEC layout (outcomes optional)")
    pr.add_argument("--out", type=Path, metavar="PREDICTIONS.csv", help="where --cohort's predictions go")
    pr.add_argument("--patient", type=Path, metavar="DIR", help="one patient's image folder (with --value)")
    pr.add_argument("--value", action="append", default=[], metavar="NAME=VALUE",
                    help="with --patient: a clinical variable as `npc nomogram` takes it; repeat for each")
    pr.add_argument("--fill-missing", action="store_true", help="with --patient: as `npc nomogram --fill-missing`")
    pr.add_argument("--time", "--times", dest="time", type=float, action="append", metavar="T",
                    help="also DFS at T months (column dfs_<T>); repeat for several (36 and 60 always)")
    pr.add_argument("--map", type=Path, help="column-mapping YAML for the cohort's table (as npc run)")
    pr.add_argument("--roi-label", type=int, help="mask label of the tumour when masks hold several labels")
    pr.add_argument("--json", action="store_true", help="with --patient: print the result as JSON")
    pr.set_defaults(func=_cmd_predict)

    for name, func, helptext in (
        ("train", _cmd_train, "train one sequence's DL signature (SE-ResNeXt, MIL, Cox loss)"),
        ("crossval", _cmd_crossval, "3-fold cross-validation inside the training cohort (A8)"),
    ):
        t = sub.add_parser(name, help=helptext)
        t.add_argument("--cohort", required=True, type=Path)
        t.add_argument("--sequence", required=True, choices=("T1", "T2", "T1C"))
        t.add_argument("--out", required=True, type=Path)
        t.add_argument("--profile", default="default", help=f"one of {', '.join(shipped_profiles())} or a YAML file")
        t.add_argument("--seed", type=int, default=0)
        t.add_argument("--workers", type=int, default=0,
                       help="train the networks side by side in this many one-thread processes (0: in this process)")
        if name == "crossval":
            t.add_argument("--folds", type=int, default=3)
        t.set_defaults(func=func)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``npc`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"npc {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
