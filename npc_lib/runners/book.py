"""Run the book: simulate (or take) a cohort, execute each chapter with papermill,
and build the Jupyter Book from the executed notebooks.

Executed notebooks, tables, figures and ``metrics.json`` files go to the run
folder (default ``runs/<profile>``, gitignored). A chapter is re-executed only
when its source, its parameters, the cohort, the library code or an earlier
chapter changed (a stamp per chapter records the hash of all of these).
"""

from __future__ import annotations

__all__ = [
    "chapters",
    "chapter_parameters",
    "check_cohort_for_run",
    "run_chapters",
    "rerun_chapters",
    "build_book",
    "library_hash",
    "stage_notebook",
    "strip_online_scripts",
]

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from npc_lib._io import atomic_dir, atomic_path, write_json
from npc_lib.profiles import project_root
from npc_lib.run import Run, RunConfig, resolve_profile
from npc_lib.run.cohort_source import ensure_cohort, hash_files

_KERNEL = "python3"


def library_hash() -> str:
    """Hash of the library source (``npc_lib/**/*.py``): results depend on it."""
    return hash_files((project_root() / "npc_lib").rglob("*.py"))


def chapters(toc: Path | None = None) -> list[str]:
    """Chapter paths (``book/NN_topic``, no suffix) in the order of ``_toc.yml``."""
    import yaml

    toc = toc or project_root() / "_toc.yml"
    data = yaml.safe_load(toc.read_text())
    out: list[str] = [data["root"]]

    def walk(node):
        for key in ("chapters", "sections", "parts"):
            for child in node.get(key, []) or []:
                if "file" in child:
                    out.append(child["file"])
                walk(child)

    walk(data)
    return out


def chapter_parameters(config: RunConfig, run_dir: Path, chapter: str) -> dict[str, Any]:
    """The papermill parameters of one chapter under ``npc run``: ``run_dir`` and the chapter's own knobs.

    Everything else (cohort, split, training) the chapter reads from the run
    (:class:`npc_lib.run.Run`), whose ``run.json`` holds the resolved profile.
    """
    return {"run_dir": str(run_dir), **config.chapter_parameters(Path(chapter).name)}


def _execute(md: Path, nb_out: Path, parameters: dict[str, Any], cwd: Path) -> None:
    import jupytext
    import papermill as pm

    notebook = jupytext.read(md)
    notebook.metadata["kernelspec"] = {"name": _KERNEL, "display_name": "Python 3", "language": "python"}
    nb_out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmpdir, atomic_path(nb_out) as dst:
        src = Path(tmpdir) / f"{md.stem}.ipynb"
        jupytext.write(notebook, src)
        pm.execute_notebook(
            str(src),
            str(dst),
            parameters=parameters,
            kernel_name=_KERNEL,
            cwd=str(cwd),
            progress_bar=False,
            log_output=False,
        )


def run_chapters(
    profile: str | Path | RunConfig = "default",
    *,
    cohort: str | Path | None = None,
    out: str | Path | None = None,
    only: Iterable[str] | None = None,
    force: bool = False,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Execute the chapters on a profile; returns the run folder.

    Parameters
    ----------
    profile : str, path or RunConfig
        Profile name (``smoke``, ``default``, ``paper``), a YAML file, or an
        already resolved configuration.
    cohort : path, optional
        A cohort folder in the SPEC layout; default: the profile's (its
        ``cohort_dir``, or the simulated twin).
    out : path, optional
        Run folder; default ``runs/<profile name>``.
    only : iterable of str, optional
        Chapter names (``01_cohort``) to execute; earlier chapters are still
        executed when their results are missing or stale, since later ones read them.
    force : bool
        Re-execute even when stamps match.
    overrides : dict, optional
        Top-level profile keys to replace (:func:`npc_lib.run.resolve_profile`).

    Raises
    ------
    ValueError
        A bad profile, or a cohort that does not validate: nothing is executed
        or written into the run's chapters then.
    """
    from tqdm import tqdm

    extra = dict(overrides or {})
    if cohort is not None:
        extra["cohort_dir"] = str(Path(cohort).resolve())
    if isinstance(profile, RunConfig):
        config = profile if not extra else resolve_profile({**_as_profile(profile), **extra})
    else:
        config = resolve_profile(profile, extra)
    todo = chapters()
    wanted = set(only) if only else None
    if wanted is not None:
        unknown = wanted - {Path(c).name for c in todo}
        if unknown:
            raise ValueError(f"only: unknown chapter(s) {sorted(unknown)}")
        last = max(i for i, c in enumerate(todo) if Path(c).name in wanted)
        todo = todo[: last + 1]
    run_dir = Path(out or project_root() / "runs" / config.name).resolve()
    cohort_dir, cohort_stamp = ensure_cohort(config.cohort, progress=progress)
    check_cohort_for_run(cohort_dir, config, progress=progress)
    run = Run.create(run_dir, config)
    lib = library_hash()
    chain = hashlib.sha256(f"{cohort_stamp}:{lib}:{json.dumps(config.to_dict(), sort_keys=True)}".encode()).hexdigest()
    bar = tqdm(todo, desc=f"chapters ({config.name})", unit="ch", disable=not progress)
    for chapter in bar:
        name = Path(chapter).name
        bar.set_postfix_str(name)
        md = project_root() / f"{chapter}.md"
        parameters = chapter_parameters(config, run.dir, chapter)
        key = hashlib.sha256(
            (chain + md.read_text() + json.dumps(parameters, sort_keys=True)).encode()
        ).hexdigest()
        chain = key
        nb_out = run.dir / "notebooks" / f"{name}.ipynb"
        stamp = run.dir / name / ".stamp"
        if not force and nb_out.is_file() and stamp.is_file() and stamp.read_text() == key:
            continue
        stamp.unlink(missing_ok=True)
        chapter_dir = run.chapter_dir(name)
        t0 = time.perf_counter()
        _execute(md, nb_out, parameters, cwd=chapter_dir)
        with atomic_path(stamp) as tmp:
            tmp.write_text(key)
        write_json(
            {"chapter": name, "seconds": round(time.perf_counter() - t0, 2), "profile": config.name},
            chapter_dir / "timing.json",
        )
    return run.dir


def rerun_chapters(run_dir: str | Path, *, first: str, parameters: dict[str, dict[str, Any]] | None = None) -> Path:
    """Execute chapter ``first`` and every later one again in an existing run, with extra parameters (a what-if).

    For trying a chapter knob on a finished run without redoing the earlier
    chapters (chapter 04's training), e.g. ``parameters={"05_models":
    {"model_clinic_dl_covariates": "none"}}`` on a copy of a run folder. The
    re-executed chapters lose their stamps: a later ``npc run`` executes them
    again with the profile's own parameters.

    Raises
    ------
    ValueError
        ``first`` or a chapter of ``parameters`` not in the book, or a
        parameter that chapter does not have (its ``parameters`` cell).
    """
    import jupytext

    run = Run.open(run_dir)
    parameters = dict(parameters or {})
    names = [Path(c).name for c in chapters()]
    unknown = sorted({first, *parameters} - set(names))
    if unknown:
        raise ValueError(f"chapter(s) {unknown} not in the book ({', '.join(names)})")
    todo = chapters()[names.index(first):]
    for chapter in todo:
        name = Path(chapter).name
        md = project_root() / f"{chapter}.md"
        extra = parameters.get(name, {})
        if extra:
            cell = next((c.source for c in jupytext.read(md).cells if "parameters" in c.metadata.get("tags", [])), "")
            absent = sorted(k for k in extra if not re.search(rf"^{re.escape(k)}\s*=", cell, re.M))
            if absent:
                raise ValueError(f"chapter {name} has no parameter(s) {absent}")
        (run.dir / name / ".stamp").unlink(missing_ok=True)
        _execute(md, run.dir / "notebooks" / f"{name}.ipynb", {**chapter_parameters(run.config, run.dir, chapter),
                                                                **extra}, cwd=run.chapter_dir(name))
    return run.dir


def _as_profile(config: RunConfig) -> dict[str, Any]:
    """A profile mapping equivalent to ``config`` (for re-resolving it with overrides)."""
    return {"profile": config.name, "train_preset": config.train_preset, "n_patients": config.cohort.n_patients,
            "cohort_seed": config.cohort.seed, "cohort_dir": config.cohort.dir, "mapping": config.cohort.mapping,
            "roi_label": config.cohort.roi_label, "split_seed": config.split.seed,
            "train_fraction": config.split.train_fraction, "train": config.train.to_dict(),
            "chapters": {k: dict(v) for k, v in config.chapters.items()}}


def check_cohort_for_run(cohort_dir: Path, config: RunConfig, *, progress: bool = False):
    """Stop before any chapter runs when the cohort cannot be analysed; return the loaded cohort.

    Every validation problem is listed at once
    (:func:`npc_lib.cohort.load.check_run_ready`: also no DFS event, too few
    patients), and the profile's split must leave at least two patients in
    each cohort. Warnings and notes are printed for the user.
    """
    from npc_lib.cohort.load import check_run_ready
    from npc_lib.cohort.split import n_train_for

    cohort = check_run_ready(cohort_dir, mapping=config.cohort.mapping, roi_label=config.cohort.roi_label,
                             check_images="header", progress=progress)
    n = len(cohort.patient_ids)
    n_train = n_train_for(n, config.split.train_fraction)
    if n_train < 2 or n - n_train < 2:
        raise ValueError(f"cohort {cohort_dir}: {n} patients are too few to split into training and test cohorts "
                         f"(train_fraction {config.split.train_fraction})")
    report = getattr(cohort, "report", None)
    if report is not None and (report.warnings or report.notes):
        print(report.render(levels=("warning", "note")), file=sys.stderr)
    return cohort


def build_book(run_dir: str | Path, *, out: str | Path | None = None) -> Path:
    """Build the HTML book from a run folder's executed notebooks.

    The sources are staged in ``_build/src`` (``_config.yml``, ``_toc.yml``, the
    executed ``.ipynb`` and ``plotly.min.js`` in ``_static``), then Jupyter Book
    1.x builds them with ``execute_notebooks: off``. Returns the HTML folder.
    """
    from ..plots.render import plotly_js_path

    root = project_root()
    run_dir = Path(run_dir).resolve()
    build = Path(out or root / "_build").resolve()
    missing = [c for c in chapters() if not (run_dir / "notebooks" / f"{Path(c).name}.ipynb").is_file()]
    if missing:
        raise ValueError(f"run: {run_dir} lacks executed chapters {missing}; run `npc run` first")
    with atomic_dir(build / "src") as src:
        shutil.copy(root / "_config.yml", src / "_config.yml")
        shutil.copy(root / "_toc.yml", src / "_toc.yml")
        (src / "_static").mkdir()
        shutil.copy(plotly_js_path(), src / "_static" / "plotly.min.js")
        for extra in (root / "book" / "_static").glob("*"):
            shutil.copy(extra, src / "_static" / extra.name)
        for chapter in chapters():
            dst = src / f"{chapter}.ipynb"
            dst.parent.mkdir(parents=True, exist_ok=True)
            stage_notebook(run_dir / "notebooks" / f"{Path(chapter).name}.ipynb", dst)
    html = build / "html"
    env = dict(os.environ)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(build / "src"), "--path-output", str(build / "jb")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    built = build / "jb" / "_build" / "html"
    with atomic_dir(html) as tmp:
        shutil.copytree(built, tmp, dirs_exist_ok=True)
        strip_online_scripts(tmp)
    return html


def stage_notebook(src: Path, dst: Path) -> None:
    """Copy an executed notebook for the book, hiding papermill's injected-parameters cell.

    That cell only repeats the run folder's path (machine-specific, not part of
    the narrative); the chapters' own parameters cells are hidden already.
    """
    nb = json.loads(Path(src).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    Path(dst).write_text(json.dumps(nb, indent=1), encoding="utf-8")


_ONLINE_SCRIPT = re.compile(
    r'<script>const THEBE_JS_URL = "https?://[^<]*</script>\s*|<script[^>]*src="[^"]*sphinx-thebe\.js[^"]*"[^>]*></script>\s*'
)


def strip_online_scripts(html_dir: str | Path) -> int:
    """Remove the (unused) Thebe launcher that Jupyter Book 1 links from a CDN.

    Launch buttons are off, so Thebe never runs; removing its loader leaves
    every page free of scripts fetched from the network. Returns the number
    of files changed.
    """
    changed = 0
    for page in Path(html_dir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _ONLINE_SCRIPT.sub("", text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed
