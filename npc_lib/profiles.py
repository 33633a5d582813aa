"""Where the project and its shipped parameter profiles live (``book/params/<name>.yml``).

Profiles are read and validated by :func:`npc_lib.run.resolve_profile`; this
module only locates them.
"""

from __future__ import annotations

__all__ = ["project_root", "params_dir", "shipped_profiles"]

from pathlib import Path


def project_root() -> Path:
    """The repository root (the folder holding ``book/`` and ``_toc.yml``)."""
    return Path(__file__).resolve().parents[1]


def params_dir() -> Path:
    """Folder of the profile files."""
    return project_root() / "book" / "params"


def shipped_profiles() -> tuple[str, ...]:
    """Names of the profiles shipped in :func:`params_dir` (``smoke``, ``default``, ``paper``).

    Examples
    --------
    >>> {"smoke", "default", "paper"} <= set(shipped_profiles())
    True
    """
    return tuple(sorted(p.stem for p in params_dir().glob("*.yml")))
