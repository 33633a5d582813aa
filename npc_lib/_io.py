"""Atomic file output: results appear whole or not at all."""

from __future__ import annotations

__all__ = ["atomic_path", "atomic_dir", "write_json", "read_json", "write_csv", "to_strict_json", "file_lock"]

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file keeps the final suffixes (``.nii.gz``, ``.csv``) so
    writers that dispatch on the extension behave as for the real name. On
    error the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; move it onto ``path`` on success.

    An existing ``path`` is replaced only after the new content is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (POSIX ``flock``; none elsewhere), held for the block.

    The lock is per open file: a process must not take it twice.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_json(obj, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented, strict JSON, atomically.

    NaN and infinite numbers (Python or NumPy floats, inside any nesting of
    dicts, lists and tuples) are written as ``null``: bare ``NaN`` is not JSON
    for other tools (jq, JavaScript). NumPy scalars and arrays and paths are
    converted.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.json"
    >>> _ = write_json({"c": float("nan"), "n": [1.5, float("inf")]}, p)
    >>> p.read_text().split()
    ['{', '"c":', 'null,', '"n":', '[', '1.5,', 'null', ']', '}']
    """
    text = json.dumps(to_strict_json(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def read_json(path: str | os.PathLike, what: str, *, hint: str = ""):
    """Read a JSON file; errors say what it is: ``"<what>: file not found: <path><hint>"`` or ``"... is not JSON"``.

    Examples
    --------
    >>> read_json("/nonexistent.json", "model", hint=" (run chapter 06)")
    Traceback (most recent call last):
    ...
    ValueError: model: file not found: /nonexistent.json (run chapter 06)
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what}: file not found: {path}{hint}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: {path} is not JSON: {exc}") from exc


def to_strict_json(obj):
    """``obj`` with NaN/inf as None and NumPy scalars, arrays and paths as plain Python.

    Examples
    --------
    >>> to_strict_json({"a": (1, float("nan"))})
    {'a': [1, None]}
    """
    import math

    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, (str, int, float, bool)) or k is None else k: to_strict_json(v)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_strict_json(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return to_strict_json(_json_default(obj))


def write_csv(df, path: str | os.PathLike, **kwargs) -> Path:
    """Write a DataFrame as CSV (no index unless asked), atomically."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, **kwargs)
    return Path(path)


def _pd_na():
    """pandas' NA singleton (None if pandas is absent)."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return None
    return pd.NA


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if o is _pd_na():
        return None
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
