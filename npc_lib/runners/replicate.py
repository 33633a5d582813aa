"""A replication study: the book's pipeline once per (twin seed, split seed), on Dask.

A *study* (:class:`Study`) is a profile, the chapters to execute and a list of
replicates (:class:`Replicate`, a twin seed and a split seed). Each replicate
is an ordinary run folder ``STUDY/twin<T>_split<S>`` made by
:func:`npc_lib.runners.book.run_chapters` (the same run layer and papermill as
``npc run``): its ``run.json`` is ``resolve_profile(profile, {cohort_seed: T,
split_seed: S, chapters: ...})``, so ``npc run`` with that profile and seeds
and the same thread settings gives the same numbers, and one replicate opens
as a book of its own.

Execution (:func:`run_study`): one Dask task per replicate, on a
``LocalCluster`` (worker processes of one thread each) or an existing cluster
(``scheduler="tcp://host:8786"``). The task simulates its twin on the worker
(nothing large travels through the scheduler) and returns a small record
(status, error, headline numbers, claim verdicts), also kept as
``replicate.json`` in the replicate's folder. The chapters run in papermill
kernels, one process per chapter, so TensorFlow never loads into the
long-lived worker (its threads and memory go with the kernel); the kernels
inherit thread settings pinned by the task (:func:`thread_env`). A kernel that
dies at start-up (ZMQ port races between kernels started at once, papermill
issue #511) is retried; the chapters already finished are not re-executed
(their stamps).

Resumable: a replicate counts as done only when its record says ``ok`` and
every chapter it needs has its stamp; a replicate interrupted in the middle
of a chapter is executed again (from that chapter). A failed replicate is
recorded with its error and the study goes on; running the study again
retries it. ``STUDY/replicates.csv`` (one row per finished replicate) and
``STUDY/verdicts.csv`` (one row per replicate and claim) are rewritten
atomically from the records after every replicate.
"""

from __future__ import annotations

__all__ = ["Replicate", "Study", "parse_seeds", "read_study", "study_from_seeds", "run_study", "run_replicate",
           "replicate_done", "replicate_profile", "study_client", "thread_env", "kernel_start_failure", "progress_line",
           "DEFAULT_CHAPTERS", "RECORD_FILE", "STUDY_FILE", "PROFILE_FILE"]

import contextlib
import dataclasses
import json
import math
import os
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pandas as pd

from npc_lib._io import file_lock, read_json, write_json
from npc_lib.model.backend import THREAD_VARS, thread_env
from npc_lib.run import RunConfig, resolve_profile
from npc_lib.run.cohort_source import default_cohort_dir
from npc_lib.runners.book import chapters as book_chapters
from npc_lib.runners.book import run_chapters
from npc_lib.runners.study_results import RECORD_FILE, claim_verdicts_of, headline_numbers, write_study_tables

STUDY_FILE = "study.json"
PROFILE_FILE = "profile.yml"
#: the last chapter executed by default: every claim of the reproduction report is decided by then
DEFAULT_CHAPTERS = ("05_models", "06_nomogram", "07_endpoints_subgroups", "08_radiomics")
_KERNEL_START_MARKERS = ("Address already in use", "Kernel died before replying", "kernel_info",
                         "Kernel didn't respond", "DeadKernelError", "ZMQError")


# -- the study ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, order=True)
class Replicate:
    """One replicate: the twin simulated with ``twin_seed``, split with ``split_seed``."""

    twin_seed: int
    split_seed: int

    @property
    def name(self) -> str:
        """Its folder under the study: ``twin<T>_split<S>``."""
        return f"twin{self.twin_seed}_split{self.split_seed}"


def _check_chapter_names(names: Iterable[str]) -> tuple[str, ...]:
    known = [Path(c).name for c in book_chapters()]
    names = tuple(str(n) for n in names)
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise ValueError(f"chapters: unknown chapter(s) {unknown or '(none given)'}; known: {', '.join(known)}")
    return names


@dataclasses.dataclass(frozen=True)
class Study:
    """A replication study.

    Attributes
    ----------
    profile : str
        Profile name (``smoke``, ``default``, ``paper``) or an absolute YAML path.
    replicates : tuple of Replicate
    chapters : tuple of str
        Chapters to execute (with every chapter before the last of them, as ``npc run --only``).
    crossval : bool
        Keep chapter 04's cross-validation (off by default: it does not enter any claim's verdict here).
    threads : int
        Threads of each replicate (OpenMP, BLAS, TensorFlow intra-op; radiomics extraction processes).
    chapter_parameters : mapping
        ``{chapter: {parameter: value}}`` merged over the profile's ``chapters:``.
    """

    profile: str
    replicates: tuple[Replicate, ...]
    chapters: tuple[str, ...] = DEFAULT_CHAPTERS
    crossval: bool = False
    threads: int = 1
    chapter_parameters: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not self.replicates:
            raise ValueError("study: no replicates")
        if len(set(self.replicates)) != len(self.replicates):
            raise ValueError("study: a replicate (twin seed, split seed) is listed twice")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"study: threads must be a positive whole number, got {self.threads!r}")
        object.__setattr__(self, "chapters", _check_chapter_names(self.chapters))

    def chapters_run(self) -> list[str]:
        """Every chapter a replicate executes (the root up to the last of :attr:`chapters`)."""
        names = [Path(c).name for c in book_chapters()]
        return names[: max(names.index(c) for c in self.chapters) + 1]

    def config(self, replicate: Replicate) -> RunConfig:
        """The resolved configuration (``run.json``) of one replicate."""
        base = resolve_profile(self.profile)
        knobs = {name: dict(v) for name, v in base.chapters.items()}
        # the task's threads train the networks, one process of one thread each (as npc run does)
        extra: dict[str, dict[str, Any]] = {"04_signatures": {"train_workers": self.threads}}
        if not self.crossval:
            extra["04_signatures"]["crossval_sequences"] = ""
        if "08_radiomics" in self.chapters_run():
            extra["08_radiomics"] = {"n_jobs": self.threads}
        for name, values in {**extra, **{k: dict(v) for k, v in self.chapter_parameters.items()}}.items():
            knobs[name] = {**knobs.get(name, {}), **values}
        return resolve_profile(self.profile, {"cohort_seed": replicate.twin_seed, "split_seed": replicate.split_seed,
                                              "chapters": knobs})

    def settings(self) -> dict[str, Any]:
        """What every replicate of the study shares (a study folder keeps one set)."""
        return {"profile": self.profile, "chapters": list(self.chapters), "crossval": self.crossval,
                "threads": self.threads, "chapter_parameters": {k: dict(v) for k, v in self.chapter_parameters.items()}}

    def to_dict(self) -> dict[str, Any]:
        return {**self.settings(), "replicates": [[r.twin_seed, r.split_seed] for r in self.replicates]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Study":
        return cls(profile=d["profile"], replicates=tuple(Replicate(int(t), int(s)) for t, s in d["replicates"]),
                   chapters=tuple(d["chapters"]), crossval=bool(d["crossval"]), threads=int(d["threads"]),
                   chapter_parameters=dict(d.get("chapter_parameters") or {}))


def parse_seeds(text: str | int | Iterable[int], what: str = "seeds") -> list[int]:
    """Seeds from ``"11-20"``, ``"1,4,7-9"``, an int or a list.

    Examples
    --------
    >>> parse_seeds("11-13,20")
    [11, 12, 13, 20]
    """
    if isinstance(text, bool):
        raise ValueError(f"{what}: expected seeds like 11-20 or 1,4,7, got {text!r}")
    if isinstance(text, int):
        return [text]
    if not isinstance(text, str):
        return [s for item in text for s in parse_seeds(item, what)]
    out: list[int] = []
    for part in text.replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ValueError(f"{what}: expected seeds like 11-20 or 1,4,7, got {text!r}") from None
        if last < first:
            raise ValueError(f"{what}: empty range {part!r}")
        out += range(first, last + 1)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: a seed is listed twice in {text!r}")
    return out


def _profile_ref(profile: str, base: Path | None) -> str:
    p = Path(profile)
    if p.suffix in (".yml", ".yaml"):
        p = p if p.is_absolute() or base is None else base / p
        return str(p.resolve())
    return str(profile)


def study_from_seeds(profile: str, twins, *, splits: int | None = None, split_seeds=None,
                     chapters: Iterable[str] = DEFAULT_CHAPTERS, crossval: bool = False, threads: int = 1,
                     chapter_parameters: Mapping | None = None) -> Study:
    """A study of every twin seed crossed with the split seeds.

    ``splits=k`` takes the profile's split seed and the ``k - 1`` after it
    (``2020, 2021, 2022`` for the shipped profiles: a replicate of the first
    split is the profile's own); ``split_seeds`` lists them instead.
    """
    if (splits is None) == (split_seeds is None):
        raise ValueError("give either splits (a number) or split_seeds (a list)")
    profile = _profile_ref(str(profile), Path.cwd())
    if split_seeds is None:
        if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
            raise ValueError(f"splits must be a positive whole number, got {splits!r}")
        first = resolve_profile(profile).split.seed
        split_seeds = list(range(first, first + splits))
    reps = tuple(Replicate(t, s) for t in parse_seeds(twins, "twins") for s in parse_seeds(split_seeds, "split_seeds"))
    return Study(profile=profile, replicates=reps, chapters=tuple(chapters), crossval=crossval, threads=threads,
                 chapter_parameters=dict(chapter_parameters or {}))


_STUDY_KEYS = ("profile", "twins", "splits", "split_seeds", "chapters", "crossval", "threads", "chapter_parameters")


def read_study(path: str | os.PathLike) -> Study:
    """A study from a YAML file.

    Keys: ``profile`` (required; a name, or a YAML path relative to the study
    file), ``twins`` (``"11-20"`` or a list), ``splits`` (a number) or
    ``split_seeds``, and optionally ``chapters`` (list), ``crossval`` (bool),
    ``threads`` (int), ``chapter_parameters`` (``{chapter: {parameter: value}}``).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"study file: not found: {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"study file {path}: must hold a mapping of keys")
    problems = [f"unknown key(s) {sorted(set(data) - set(_STUDY_KEYS))}"] if set(data) - set(_STUDY_KEYS) else []
    problems += [f"the key {k!r} is required" for k in ("profile", "twins") if k not in data]
    if problems:
        raise ValueError(f"study file {path}: " + "; ".join(problems) + f" (keys: {', '.join(_STUDY_KEYS)})")
    try:
        return study_from_seeds(_profile_ref(str(data["profile"]), path.parent), data["twins"],
                                splits=data.get("splits"), split_seeds=data.get("split_seeds"),
                                chapters=data.get("chapters") or DEFAULT_CHAPTERS,
                                crossval=bool(data.get("crossval", False)), threads=data.get("threads", 1),
                                chapter_parameters=data.get("chapter_parameters"))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"study file {path}: {exc}") from exc


# -- one replicate (a Dask task) ----------------------------------------------------------------
@contextlib.contextmanager
def _pinned_threads(threads: int) -> Iterator[None]:
    old = {v: os.environ.get(v) for v in THREAD_VARS}
    os.environ.update(thread_env(threads))
    try:
        yield
    finally:
        for v, value in old.items():
            if value is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = value


@contextlib.contextmanager
def _twin_lock(config: RunConfig) -> Iterator[None]:
    """One process at a time simulates a twin (replicates of one twin share its folder)."""
    if config.cohort.dir:
        yield
        return
    with file_lock(default_cohort_dir(config.cohort).with_suffix(".lock")):
        yield


def _write_profile(profile: Mapping[str, Any], path: Path) -> None:
    import yaml

    from npc_lib._io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text("# this replicate's profile: `npc run --profile <this file>` repeats it\n"
                       + yaml.safe_dump(dict(profile), sort_keys=False))


def _ensure_twin(config: RunConfig) -> None:
    """Simulate the replicate's twin if needed, in a child interpreter.

    The simulator writes patients with a process pool, which a daemonic
    process (a Dask worker) may not start; a child interpreter may.
    """
    if config.cohort.dir:
        return
    code = ("import json, sys\nfrom npc_lib.run.config import CohortSettings\n"
            "from npc_lib.run.cohort_source import ensure_cohort\n"
            "ensure_cohort(CohortSettings(**json.loads(sys.argv[1])), progress=False)")
    res = subprocess.run([sys.executable, "-c", code, json.dumps(dataclasses.asdict(config.cohort))],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"simulating twin {config.cohort.seed} failed: {res.stderr.strip()[-2000:]}")


def kernel_start_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a papermill kernel that failed to start (worth a retry), not a failing cell."""
    if type(exc).__name__ == "PapermillExecutionError":
        return False
    text = f"{type(exc).__name__}: {exc}"
    return any(m in text for m in _KERNEL_START_MARKERS)


def _run_chapters_retrying(config: RunConfig, out: Path, only: list[str], attempts: int = 3) -> None:
    for attempt in range(1, attempts + 1):
        try:
            run_chapters(config, out=out, only=only, progress=False)
            return
        except Exception as exc:
            if attempt == attempts or not kernel_start_failure(exc):
                raise
            print(f"replicate {out.name}: a kernel failed to start ({type(exc).__name__}); retry {attempt}",
                  file=sys.stderr)
            time.sleep(1.0 + attempt)


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this thread and of this process's finished children.

    The children are a replicate's chapter kernels and twin simulation (and
    their own children); with one task at a time per worker process (one
    Dask thread), the difference over a replicate is that replicate's CPU
    time, whatever else shares the machine. NaN where ``resource`` is missing.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return float("nan")
    own = resource.getrusage(getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF))
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _one_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 500 else text[:497] + "..."


def run_replicate(study: Study | Mapping[str, Any], study_dir: str | os.PathLike, twin_seed: int,
                  split_seed: int) -> dict[str, Any]:
    """Execute one replicate into ``study_dir/twin<T>_split<S>``; return its record (never raises).

    The record (also written as ``replicate.json``): ``replicate``,
    ``twin_seed``, ``split_seed``, ``status`` (``ok`` or ``failed``),
    ``error`` (one line; the traceback goes to ``error.txt``), ``seconds``
    (wall), ``cpu_seconds`` (its processes' CPU time: what the replicate costs
    on a machine of its own, however loaded this one is),
    ``worker``, ``tensorflow_in_worker`` (False: training stays in the
    kernels), ``headlines`` (:func:`headline_numbers`) and ``verdicts``
    (:func:`claim_verdicts_of`). A replicate already finished
    (:func:`replicate_done`) is not touched: its record is returned as it is.
    """
    study = study if isinstance(study, Study) else Study.from_dict(study)
    rep = Replicate(int(twin_seed), int(split_seed))
    rep_dir = Path(study_dir) / rep.name
    if replicate_done(study, study_dir, rep):  # e.g. a finished task that Dask reran after losing its worker
        return read_json(rep_dir / RECORD_FILE, "replicate record")
    rep_dir.mkdir(parents=True, exist_ok=True)
    (rep_dir / RECORD_FILE).unlink(missing_ok=True)
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    record: dict[str, Any] = {"replicate": rep.name, "twin_seed": rep.twin_seed, "split_seed": rep.split_seed,
                              "status": "failed", "error": "", "worker": f"{socket.gethostname()}:{os.getpid()}",
                              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "headlines": {}, "verdicts": []}
    try:
        with _pinned_threads(study.threads):
            config = study.config(rep)
            _write_profile(replicate_profile(config), rep_dir / PROFILE_FILE)
            with _twin_lock(config):
                _ensure_twin(config)
            _run_chapters_retrying(config, rep_dir, study.chapters_run())
        record.update(status="ok", headlines=headline_numbers(rep_dir), verdicts=claim_verdicts_of(rep_dir))
        (rep_dir / "error.txt").unlink(missing_ok=True)
    except Exception as exc:  # a failed replicate is recorded, the study goes on
        record["error"] = _one_line(exc)
        (rep_dir / "error.txt").write_text(traceback.format_exc())
    record["seconds"] = round(time.perf_counter() - t0, 2)
    record["cpu_seconds"] = round(_cpu_seconds() - cpu0, 2)
    record["tensorflow_in_worker"] = "tensorflow" in sys.modules
    write_json(record, rep_dir / RECORD_FILE)
    return record


def replicate_profile(config: RunConfig) -> dict[str, Any]:
    """A profile mapping that resolves to ``config`` (``npc run --profile <replicate>/profile.yml``).

    Examples
    --------
    >>> cfg = resolve_profile("smoke", {"cohort_seed": 11, "split_seed": 2021})
    >>> resolve_profile(replicate_profile(cfg)).to_dict() == {**cfg.to_dict(), "source": "mapping"}
    True
    """
    c = config.cohort
    profile = {"profile": config.name, "train_preset": config.train_preset, "n_patients": c.n_patients,
               "cohort_seed": c.seed, "cohort_dir": c.dir, "mapping": c.mapping, "roi_label": c.roi_label,
               "split_seed": config.split.seed, "train_fraction": config.split.train_fraction,
               "train": config.train.to_dict(), "chapters": {k: dict(v) for k, v in config.chapters.items()}}
    return {k: v for k, v in profile.items() if v is not None}


def replicate_done(study: Study, study_dir: str | os.PathLike, replicate: Replicate) -> bool:
    """Whether a replicate finished: its record says ``ok`` and every chapter it needs has its stamp."""
    rep_dir = Path(study_dir) / replicate.name
    try:
        record = read_json(rep_dir / RECORD_FILE, "replicate record")
    except ValueError:
        return False
    return record.get("status") == "ok" and all(
        (rep_dir / c / ".stamp").is_file() and (rep_dir / "notebooks" / f"{c}.ipynb").is_file()
        for c in study.chapters_run())


def _check_study_folder(study: Study, out: Path) -> None:
    path = out / STUDY_FILE
    if path.is_file():
        kept = read_json(path, "study")
        settings = {k: kept.get(k) for k in study.settings()}
        if settings != study.settings():
            diff = sorted(k for k in settings if settings[k] != study.settings()[k])
            raise ValueError(f"out: {out} holds a study with other settings ({', '.join(diff)}); "
                             f"use another folder, or the same settings to add replicates")
        known = {tuple(r) for r in kept.get("replicates", [])}
        study = dataclasses.replace(study, replicates=tuple(
            sorted({Replicate(*r) for r in known} | set(study.replicates))))
    write_json(study.to_dict(), path)


# -- the study on Dask --------------------------------------------------------------------------
@contextlib.contextmanager
def study_client(workers: int = 2, scheduler: str | None = None, threads: int = 1):
    """A ``distributed.Client``: of an existing scheduler, or of a new ``LocalCluster``.

    The local cluster has ``workers`` worker processes of one Dask thread each
    (one replicate at a time per worker), their OpenMP/BLAS/TensorFlow threads
    pinned to ``threads`` (:func:`thread_env`), its dashboard on a free port.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive whole number, got {workers!r}")
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      env=thread_env(threads)) as cluster, Client(cluster) as client:
        yield client


def progress_line(done: int, failed: int, running: int, total: int, seconds: list[float], slots: int) -> str:
    """The study's progress: replicates done, running, failed, queued, and the ETA.

    The ETA is the mean seconds of the replicates finished in this session
    times the waves left (``ceil(remaining / slots)``); unknown before the first.

    Examples
    --------
    >>> progress_line(3, 1, 2, 10, [600.0, 660.0], slots=2)
    'replicates: 3/10 done, 2 running, 1 failed, 4 queued; ETA 31 min 30 s'
    """
    remaining = total - done - failed
    if remaining == 0:
        eta = "ETA 0 s"
    elif not seconds:
        eta = "ETA unknown"
    else:
        s = sum(seconds) / len(seconds) * math.ceil(remaining / max(1, slots))
        eta = (f"ETA {int(s // 3600)} h {int(s % 3600 // 60)} min" if s >= 3600
               else f"ETA {int(s // 60)} min {int(s % 60)} s")
    return (f"replicates: {done}/{total} done, {running} running, {failed} failed, "
            f"{remaining - running} queued; {eta}")


def run_study(study: Study, out: str | os.PathLike, *, workers: int = 2, scheduler: str | None = None,
              progress: bool = True, poll_seconds: float = 30.0) -> pd.DataFrame:
    """Run every replicate not yet done, one Dask task each; return ``replicates.csv``'s table.

    Parameters
    ----------
    study : Study
    out : path
        The study folder (created): one run folder per replicate, ``study.json``,
        ``replicates.csv``, ``verdicts.csv``.
    workers : int
        Worker processes of the local cluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    progress : bool
        A line on stderr at every finished replicate and every ``poll_seconds``:
        done, running, failed, queued, and the ETA.

    Raises
    ------
    ValueError
        ``out`` holds a study with other settings (profile, chapters, threads, ...).
    """
    from distributed import wait

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _check_study_folder(study, out)
    todo = [r for r in study.replicates if not replicate_done(study, out, r)]
    n_done, failed, durations = len(study.replicates) - len(todo), 0, []
    if todo:
        with study_client(workers, scheduler, study.threads) as client:
            slots = sum(client.nthreads().values())
            payload = study.to_dict()
            pending = {client.submit(run_replicate, payload, str(out), r.twin_seed, r.split_seed, pure=False,
                                     key=f"npc-replicate-{r.name}-{time.time_ns()}"): r for r in todo}
            while pending:
                try:
                    finished = wait(list(pending), timeout=poll_seconds, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    finished = set()
                for fut in finished:
                    rep = pending.pop(fut)
                    try:
                        record = fut.result()
                    except Exception as exc:  # the worker died (KilledWorker) or the task could not run
                        record = {"replicate": rep.name, "twin_seed": rep.twin_seed, "split_seed": rep.split_seed,
                                  "status": "failed", "error": _one_line(exc), "seconds": None, "cpu_seconds": None,
                                  "worker": "", "headlines": {}, "verdicts": []}
                        write_json(record, out / rep.name / RECORD_FILE)
                    n_done += record["status"] == "ok"
                    failed += record["status"] != "ok"
                    if record["status"] == "ok" and record.get("seconds"):
                        durations.append(float(record["seconds"]))
                    write_study_tables(out)
                    if progress and record["status"] != "ok":
                        print(f"replicate {rep.name} failed: {record['error']}", file=sys.stderr)
                if progress:
                    # a worker may hold more tasks than threads (Dask's worker saturation): at most `slots` execute
                    running = min(len(pending), slots, sum(len(v) for v in client.processing().values()))
                    print(progress_line(n_done, failed, running, len(study.replicates), durations, slots),
                          file=sys.stderr)
    return write_study_tables(out)
