"""Parameter profiles (``book/params/<name>.yml``): smoke, default, paper."""

from __future__ import annotations

__all__ = ["PROFILES", "project_root", "params_dir", "load_profile"]

from pathlib import Path
from typing import Any

PROFILES: tuple[str, ...] = ("smoke", "default", "paper")

_REQUIRED = ("profile", "n_patients", "cohort_seed", "split_seed", "train_fraction")


def project_root() -> Path:
    """The repository root (the folder holding ``book/`` and ``_toc.yml``)."""
    return Path(__file__).resolve().parents[1]


def params_dir() -> Path:
    """Folder of the profile files."""
    return project_root() / "book" / "params"


def _check_profile_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"profile: expected a profile name, got {name!r}")


def load_profile(name_or_path: str | Path) -> dict[str, Any]:
    """Read a profile by name (``smoke``) or from a YAML path.

    Returns
    -------
    dict
        At least ``profile``, ``n_patients``, ``cohort_seed``, ``split_seed``,
        ``train_fraction`` and ``train`` (a mapping of training overrides).

    Raises
    ------
    ValueError
        Unknown profile name, unreadable file or a missing key (named).

    Examples
    --------
    >>> load_profile("smoke")["profile"]
    'smoke'
    """
    import yaml

    path = Path(name_or_path)
    if path.suffix not in (".yml", ".yaml"):
        _check_profile_name(str(name_or_path))
        path = params_dir() / f"{name_or_path}.yml"
        if not path.is_file():
            known = sorted(p.stem for p in params_dir().glob("*.yml"))
            raise ValueError(f"profile: unknown profile {str(name_or_path)!r}; known: {', '.join(known)}")
    if not path.is_file():
        raise ValueError(f"profile: file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"profile: {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"profile: {path} must hold a mapping")
    for key in _REQUIRED:
        if key not in data:
            raise ValueError(f"profile: {path} lacks the field {key!r}")
    data.setdefault("train", {})
    data["train"] = dict(data["train"] or {})
    return data
