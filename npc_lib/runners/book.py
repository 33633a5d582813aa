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
    "ensure_cohort",
    "run_chapters",
    "build_book",
    "default_cohort_dir",
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

from .._io import atomic_dir, atomic_path, write_json
from ..profiles import load_profile, project_root

_KERNEL = "python3"


def _hash_files(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(project_root())).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def library_hash() -> str:
    """Hash of the library source (``npc_lib/**/*.py``): results depend on it."""
    return _hash_files((project_root() / "npc_lib").rglob("*.py"))


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


def default_cohort_dir(params: dict[str, Any]) -> Path:
    """Where the simulated twin of a profile lives: ``data/twin_n<N>_seed<S>``."""
    return project_root() / "data" / f"twin_n{params['n_patients']}_seed{params['cohort_seed']}"


def _simulator_hash() -> str:
    """Hash of the simulator's code (``npc_lib/twin``, less the oracle reader): a change re-simulates."""
    twin = project_root() / "npc_lib" / "twin"
    return _hash_files(p for p in twin.glob("*.py") if p.name not in ("truth.py", "__init__.py"))


def ensure_cohort(params: dict[str, Any], cohort: Path | None = None, *, progress: bool = True) -> tuple[Path, str]:
    """Return ``(cohort_dir, cohort_stamp)``, simulating the profile's twin if needed.

    A user cohort (``cohort`` given) is stamped by the content hash of its
    ``clinical.csv`` and the sizes/mtimes of its image files. A simulated twin is
    reused while its stamp (n, seed, simulator code) still matches.
    """
    if cohort is not None:
        cohort = Path(cohort).resolve()
        if not (cohort / "clinical.csv").is_file():
            raise ValueError(f"cohort: {cohort} has no clinical.csv")
        h = hashlib.sha256((cohort / "clinical.csv").read_bytes())
        for p in sorted((cohort / "images").rglob("*.nii*")):
            st = p.stat()
            h.update(f"{p.relative_to(cohort)}:{st.st_size}:{st.st_mtime_ns}".encode())
        return cohort, h.hexdigest()

    from ..twin.simulate import simulate_cohort

    target = default_cohort_dir(params)
    stamp_file = target.with_name(target.name + ".stamp.json")
    want = {"n": int(params["n_patients"]), "seed": int(params["cohort_seed"]), "simulator": _simulator_hash()}
    if target.is_dir() and stamp_file.is_file() and json.loads(stamp_file.read_text()) == want:
        return target, hashlib.sha256(json.dumps(want, sort_keys=True).encode()).hexdigest()
    stamp_file.unlink(missing_ok=True)
    simulate_cohort(target, n=want["n"], seed=want["seed"], progress=progress)
    write_json(want, stamp_file)
    return target, hashlib.sha256(json.dumps(want, sort_keys=True).encode()).hexdigest()


def chapter_parameters(params: dict[str, Any], cohort_dir: Path, run_dir: Path, chapter: str) -> dict[str, Any]:
    """The papermill parameters of one chapter.

    The profile's scalars, the training overrides (as JSON), the paths, and the
    profile's ``chapters: {<chapter name>: {...}}`` entries for this chapter.
    """
    name = Path(chapter).name
    out = {k: v for k, v in params.items() if isinstance(v, (str, int, float, bool)) or v is None}
    out["train_overrides"] = json.dumps(params.get("train", {}), sort_keys=True)
    out.update(cohort_dir=str(cohort_dir), run_dir=str(run_dir), out_dir=str(run_dir / name))
    per_chapter = (params.get("chapters") or {}).get(name) or {}
    if not isinstance(per_chapter, dict):
        raise ValueError(f"profile: chapters.{name} must be a mapping of parameters")
    out.update(per_chapter)
    return out


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
    profile: str | Path = "default",
    *,
    cohort: str | Path | None = None,
    out: str | Path | None = None,
    only: Iterable[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Execute the chapters on a profile; returns the run folder.

    Parameters
    ----------
    profile : str or path
        Profile name (``smoke``, ``default``, ``paper``) or a YAML file.
    cohort : path, optional
        A cohort folder in the SPEC layout; default: the profile's simulated twin.
    out : path, optional
        Run folder; default ``runs/<profile>``.
    only : iterable of str, optional
        Chapter names (``01_cohort``) to execute; earlier chapters are still
        executed when their results are missing or stale, since later ones read them.
    force : bool
        Re-execute even when stamps match.
    """
    from tqdm import tqdm

    params = load_profile(profile)
    run_dir = Path(out or project_root() / "runs" / params["profile"]).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    cohort_dir, cohort_stamp = ensure_cohort(params, Path(cohort) if cohort else None, progress=progress)
    lib = library_hash()
    todo = chapters()
    wanted = set(only) if only else None
    if wanted is not None:
        unknown = wanted - {Path(c).name for c in todo}
        if unknown:
            raise ValueError(f"only: unknown chapter(s) {sorted(unknown)}")
        last = max(i for i, c in enumerate(todo) if Path(c).name in wanted)
        todo = todo[: last + 1]
    chain = hashlib.sha256(f"{cohort_stamp}:{lib}".encode()).hexdigest()
    bar = tqdm(todo, desc=f"chapters ({params['profile']})", unit="ch", disable=not progress)
    for chapter in bar:
        name = Path(chapter).name
        bar.set_postfix_str(name)
        md = project_root() / f"{chapter}.md"
        parameters = chapter_parameters(params, cohort_dir, run_dir, chapter)
        key = hashlib.sha256(
            (chain + md.read_text() + json.dumps(parameters, sort_keys=True)).encode()
        ).hexdigest()
        chain = key
        nb_out = run_dir / "notebooks" / f"{name}.ipynb"
        stamp = run_dir / name / ".stamp"
        if not force and nb_out.is_file() and stamp.is_file() and stamp.read_text() == key:
            continue
        stamp.unlink(missing_ok=True)
        (run_dir / name).mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        _execute(md, nb_out, parameters, cwd=run_dir / name)
        with atomic_path(stamp) as tmp:
            tmp.write_text(key)
        write_json(
            {"chapter": name, "seconds": round(time.perf_counter() - t0, 2), "profile": params["profile"]},
            run_dir / name / "timing.json",
        )
    return run_dir


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
            shutil.copy(run_dir / "notebooks" / f"{Path(chapter).name}.ipynb", dst)
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
