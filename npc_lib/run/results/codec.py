"""Typed chapter results to and from JSON: one strict codec for every chapter's ``metrics.json``.

A chapter's results are a dataclass deriving from :class:`ChapterResults`;
its fields are typed with ``bool``, ``int``, ``float``, ``str``, ``None``
unions, ``list[...]``, ``dict[str, ...]`` and nested dataclasses. Building
one (by keyword, or :meth:`ChapterResults.from_dict` from JSON) converts and
checks every field: a key the dataclass does not have, a value of the wrong
type or a required field missing is a ``ValueError`` naming the path
(``"05_models.cindex.test.DL_T1_sig.c_index"``). So a field renamed in the
library breaks the reader (and every test that builds or reads results) at
test time, not in a chapter at run time.
"""

from __future__ import annotations

__all__ = ["Checked", "ChapterResults", "coerce", "to_jsonable"]

import dataclasses
import math
import numbers
import types
import typing
from typing import Any, ClassVar, Mapping, Union

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def coerce(tp: Any, value: Any, where: str) -> Any:
    """``value`` converted to type ``tp`` (checked), or a ``ValueError`` naming ``where``.

    Examples
    --------
    >>> coerce(dict[str, float], {"a": 1}, "x")
    {'a': 1.0}
    >>> coerce(int | None, float("nan"), "x.groups") is None
    True
    >>> coerce(float | None, "high", "x.hr")
    Traceback (most recent call last):
    ...
    ValueError: x.hr: expected float or None, got 'high'
    """
    origin = typing.get_origin(tp)
    if tp is Any:
        raise ValueError(f"{where}: a field typed Any is not allowed in chapter results")
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        if type(None) in args and float not in args and isinstance(value, float) and math.isnan(value):
            return None  # a count or label the statistic could not give (NaN in its table): not defined
        errors = []
        alternatives = [a for a in args if a is not type(None)]
        if len(alternatives) == 1 and (dataclasses.is_dataclass(alternatives[0]) or typing.get_origin(alternatives[0])):
            return coerce(alternatives[0], value, where)  # its own, more precise message
        for a in alternatives:
            try:
                return coerce(a, value, where)
            except ValueError as exc:
                errors.append(exc)
        names = " or ".join("None" if a is type(None) else getattr(a, "__name__", str(a)) for a in args)
        raise ValueError(f"{where}: expected {names}, got {_describe(value)}")
    if origin is dict:
        _, item = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {_describe(value)}")
        return {str(k): coerce(item, v, f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {_describe(value)}")
        return [coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"{where}: expected {tp.__name__} (a mapping), got {_describe(value)}")
        return _build(tp, value, where)
    if tp is bool:
        if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
            return bool(value)
    elif tp is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is type(None):
        if value is None:
            return None
    else:
        raise ValueError(f"{where}: unsupported field type {tp!r}")
    raise ValueError(f"{where}: expected {tp.__name__}, got {_describe(value)}")


def _build(cls: type, data: Mapping[str, Any], where: str):
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; {cls.__name__} has {sorted(fields)}")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{where}: field(s) {missing} missing ({cls.__name__})")
    hints = _hints(cls)
    return cls(**{n: coerce(hints[n], v, f"{where}.{n}") for n, v in data.items()})


def to_jsonable(obj: Any) -> Any:
    """Plain JSON data of results (dataclasses as mappings; NaN stays NaN for :func:`npc_lib._io.write_json`).

    >>> to_jsonable({"a": [1.5, None]})
    {'a': [1.5, None]}
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj


class Checked:
    """Base of a results dataclass: its fields are converted and checked on construction (:func:`coerce`)."""

    def __post_init__(self):
        hints = _hints(type(self))
        where = getattr(type(self), "chapter", "") or type(self).__name__
        for f in dataclasses.fields(self):
            value = coerce(hints[f.name], getattr(self, f.name), f"{where}.{f.name}")
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """An instance from its JSON data (unknown keys, wrong types and missing required fields are errors)."""
        where = getattr(cls, "chapter", "") or cls.__name__
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {_describe(data)}")
        return _build(cls, data, where)

    def to_dict(self) -> dict[str, Any]:
        """The JSON data of this instance (:meth:`from_dict` reads it back)."""
        return to_jsonable(self)


class ChapterResults(Checked):
    """Base of every chapter's results dataclass.

    Subclasses are ``@dataclass(frozen=True, kw_only=True)`` and set
    :attr:`chapter` (the chapter folder, ``"05_models"``).

    Examples
    --------
    >>> @dataclasses.dataclass(frozen=True, kw_only=True)
    ... class Demo(ChapterResults):
    ...     chapter: ClassVar[str] = "99_demo"
    ...     n: int = 0
    ...     c: dict[str, float | None] = dataclasses.field(default_factory=dict)
    >>> Demo(n=3.0, c={"a": 1}).c
    {'a': 1.0}
    >>> Demo.from_dict({"n": 1, "m": 2})
    Traceback (most recent call last):
    ...
    ValueError: 99_demo: unknown field(s) ['m']; Demo has ['c', 'n']
    """

    chapter: ClassVar[str] = ""
