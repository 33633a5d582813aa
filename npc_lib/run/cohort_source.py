"""Where a run's cohort comes from: a user's folder, or the profile's simulated twin.

:func:`ensure_cohort` returns the cohort folder and a stamp of its content.
A simulated twin lives in ``data/twin_n<N>_seed<S>`` and is re-simulated only
when its stamp (size, seed, the simulator's code) no longer matches; a user's
folder is stamped by its table's content and its image files' sizes and
modification times.
"""

from __future__ import annotations

__all__ = ["ensure_cohort", "ensure_twin", "default_cohort_dir", "simulator_hash", "hash_files"]

import hashlib
import json
from pathlib import Path
from typing import Iterable

from npc_lib._io import write_json
from npc_lib.profiles import project_root
from npc_lib.run.config import CohortSettings


def hash_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the repository-relative names and bytes of ``paths`` (sorted)."""
    h = hashlib.sha256()
    root = project_root()
    for p in sorted(paths):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def simulator_hash() -> str:
    """Hash of the simulator's code (``npc_lib/twin``, less the oracle reader): a change re-simulates."""
    twin = project_root() / "npc_lib" / "twin"
    return hash_files(p for p in twin.glob("*.py") if p.name not in ("truth.py", "__init__.py"))


def default_cohort_dir(settings: CohortSettings) -> Path:
    """Where the simulated twin of ``settings`` lives: ``data/twin_n<N>_seed<S>``."""
    return project_root() / "data" / f"twin_n{settings.n_patients}_seed{settings.seed}"


def ensure_cohort(settings: CohortSettings, *, progress: bool = True) -> tuple[Path, str]:
    """Return ``(cohort_dir, cohort_stamp)``, simulating the twin if needed.

    Parameters
    ----------
    settings : CohortSettings
        ``dir`` set: a user's cohort folder (must hold ``clinical.csv``);
        otherwise the twin of ``n_patients`` and ``seed``.
    progress : bool
        Progress bar while simulating.
    """
    if settings.dir:
        cohort = Path(settings.dir).resolve()
        if not cohort.is_dir():
            raise ValueError(f"cohort_dir: {cohort} is not a folder")
        tables = sorted(cohort.glob("clinical.*"))
        if not tables:
            raise ValueError(f"cohort_dir: {cohort} has no clinical.csv")
        h = hashlib.sha256()
        for table in tables:
            h.update(table.name.encode())
            h.update(table.read_bytes())
        for p in sorted(cohort.rglob("*.nii*")):
            st = p.stat()
            h.update(f"{p.relative_to(cohort)}:{st.st_size}:{st.st_mtime_ns}".encode())
        for extra in (settings.mapping, settings.roi_label):
            h.update(repr(extra).encode())
        if settings.mapping and Path(settings.mapping).is_file():
            h.update(Path(settings.mapping).read_bytes())
        return cohort, h.hexdigest()

    return ensure_twin(default_cohort_dir(settings), n=int(settings.n_patients), seed=int(settings.seed),
                       progress=progress)


def ensure_twin(target: Path, *, n: int, seed: int, centre: str | None = None, progress: bool = False,
                n_jobs: int | None = None) -> tuple[Path, str]:
    """``(target, stamp)``: the twin simulated into ``target`` unless its stamp still matches.

    The stamp (``<target>.stamp.json``) records the size, seed, centre (absent
    for the development centre) and :func:`simulator_hash`; the twin is
    simulated again when any of them changed.
    """
    from npc_lib.twin.simulate import simulate_cohort

    stamp_file = target.with_name(target.name + ".stamp.json")
    want = {"n": int(n), "seed": int(seed), **({"centre": centre} if centre else {}), "simulator": simulator_hash()}
    stamp = hashlib.sha256(json.dumps(want, sort_keys=True).encode()).hexdigest()
    if target.is_dir() and stamp_file.is_file() and json.loads(stamp_file.read_text()) == want:
        return target, stamp
    stamp_file.unlink(missing_ok=True)
    simulate_cohort(target, n=want["n"], seed=want["seed"], progress=progress, n_jobs=n_jobs,
                    centre=centre or "development")
    write_json(want, stamp_file)
    return target, stamp
