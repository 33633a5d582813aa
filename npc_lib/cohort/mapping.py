"""A column-mapping file: a user's column names, units and codes (analysis B5).

A table that says ``Age``, ``LDH_UL`` or gives DFS in days is mapped onto the
data contract of :mod:`npc_lib.cohort.schema` by a small YAML file::

    columns:              # cohort field: the header in your table
      age: Age
      ldh: LDH_UL
      dfs_time: DFS_days
      dfs_event: relapse
    units:                # cohort field: the unit your table uses
      dfs_time: days      # divided by 30 (the paper's month)
      hgb: g/dL           # multiplied by 10 (g/L)
    categories:           # cohort field: {your code: the contract's level}
      sex: {1: M, 2: F}
      who_type: {"2": I-II, "3": III}
      dfs_event: {relapsed: 1, censored: 0}

Every part is optional. ``columns`` also accepts ``your header: cohort field``
(whichever side is a cohort field is taken as such), and ``units`` and
``categories`` may name a column by your header. Mapped columns are renamed
before any check; units
are converted and codes recoded while the columns are checked, each with a
note in the report. :data:`UNITS` lists the units understood and their factor
to the contract's unit.
"""

from __future__ import annotations

__all__ = ["ColumnMapping", "load_mapping", "UNITS", "FIELDS"]

import os
from dataclasses import dataclass, field
from pathlib import Path

from npc_lib.cohort import schema

#: every field a mapping may name
FIELDS: tuple[str, ...] = schema.CLINICAL_COLUMNS

_TIME_UNITS = {"months": 1.0, "month": 1.0, "days": 1.0 / schema.MONTH_DAYS, "day": 1.0 / schema.MONTH_DAYS,
               "weeks": 7.0 / schema.MONTH_DAYS, "week": 7.0 / schema.MONTH_DAYS,
               "years": 12.0, "year": 12.0}

#: per field: unit name (lower case) -> factor that converts it to the contract's unit
UNITS: dict[str, dict[str, float]] = {
    "age": {"years": 1.0, "year": 1.0},
    "hgb": {"g/l": 1.0, "g/dl": 10.0, "mmol/l": 16.11},
    "alb": {"g/l": 1.0, "g/dl": 10.0},
    "crp": {"mg/l": 1.0, "mg/dl": 10.0},
    "ldh": {"u/l": 1.0, "iu/l": 1.0, "ukat/l": 60.0, "µkat/l": 60.0},
    "ebv_dna": {"copy/ml": 1.0, "copies/ml": 1.0},
    **{schema.time_col(e): dict(_TIME_UNITS) for e in schema.ENDPOINTS},
}

_SECTIONS = ("columns", "units", "categories")


@dataclass(frozen=True)
class ColumnMapping:
    """How a user's table maps onto the contract.

    Attributes
    ----------
    columns : dict
        Contract field -> the user's header.
    units : dict
        Field -> the user's unit (a key of :data:`UNITS` ``[field]``).
    categories : dict
        Field -> {user's code (str): contract level (str)}; for ``*_event``
        fields the level is ``"0"`` or ``"1"``.
    source : str
        Where the mapping came from (file name), for messages.
    """

    columns: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    categories: dict[str, dict[str, str]] = field(default_factory=dict)
    source: str = "mapping"

    def factor(self, name: str) -> float:
        """Multiplier from the user's unit of ``name`` to the contract's (1 without a unit)."""
        unit = self.units.get(name)
        return 1.0 if unit is None else UNITS[name][unit.lower()]


def _text(value) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_section(data: dict, key: str, source: str, headers: dict[str, str] | None = None) -> dict:
    """A section keyed by field; a key that is one of the user's mapped headers is read as its field."""
    part = data.get(key) or {}
    if not isinstance(part, dict):
        raise ValueError(f"{source}: {key} must be a mapping (field: value), got {type(part).__name__}")
    out = {}
    for name, value in part.items():
        name = _text(name)
        if name not in FIELDS and headers and name in headers:
            name = headers[name]
        if name not in FIELDS:
            raise ValueError(f"{source}: {key}: unknown field {name!r} (fields: {', '.join(FIELDS)})")
        out[name] = value
    return out


def _columns(data: dict, source: str) -> dict[str, str]:
    """``columns`` as field -> header; ``header: field`` entries (the other direction) are accepted too."""
    part = data.get("columns") or {}
    if not isinstance(part, dict):
        raise ValueError(f"{source}: columns must be a mapping (field: header), got {type(part).__name__}")
    out: dict[str, str] = {}
    for key, value in part.items():
        key, value = _text(key), _text(value)
        if key in FIELDS:
            name, header = key, value
        elif value in FIELDS:
            name, header = value, key
        else:
            raise ValueError(f"{source}: columns: unknown field {key!r} (fields: {', '.join(FIELDS)})")
        if name in out:
            raise ValueError(f"{source}: columns: field {name!r} mapped twice ({out[name]!r} and {header!r})")
        out[name] = header
    return out


def load_mapping(mapping) -> ColumnMapping | None:
    """Read a mapping from a YAML file, a dict, or pass a :class:`ColumnMapping` through.

    Parameters
    ----------
    mapping : None, path-like, dict or ColumnMapping
        The YAML layout of this module's docstring.

    Returns
    -------
    ColumnMapping or None

    Raises
    ------
    ValueError
        Unreadable YAML, an unknown section or field, a unit not in
        :data:`UNITS`, a category level not in the contract, or two fields
        mapped to one header; the message names the mapping file and field.

    Examples
    --------
    >>> m = load_mapping({"columns": {"age": "Age"}, "units": {"dfs_time": "days"}})
    >>> m.columns, round(m.factor("dfs_time") * 300, 6)
    ({'age': 'Age'}, 10.0)
    """
    if mapping is None or isinstance(mapping, ColumnMapping):
        return mapping
    if isinstance(mapping, (str, os.PathLike)):
        import yaml

        path = Path(mapping)
        source = path.name
        if not path.is_file():
            raise ValueError(f"mapping: file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ValueError(f"{source}: unreadable YAML ({' '.join(str(exc).split())})") from None
    elif isinstance(mapping, dict):
        data, source = mapping, "mapping"
    else:
        raise ValueError(f"mapping must be a YAML path, a dict or a ColumnMapping, got {type(mapping).__name__}")
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected sections {', '.join(_SECTIONS)}, got {type(data).__name__}")
    unknown = [k for k in data if k not in _SECTIONS]
    if unknown:
        raise ValueError(f"{source}: unknown section {unknown[0]!r} (sections: {', '.join(_SECTIONS)})")

    columns = _columns(data, source)
    by_header: dict[str, str] = {}
    for name, header in columns.items():
        if header in by_header:
            raise ValueError(f"{source}: columns: fields {by_header[header]!r} and {name!r} both map to {header!r}")
        by_header[header] = name

    units = {}
    for name, unit in _check_section(data, "units", source, by_header).items():
        allowed = UNITS.get(name, {})
        if _text(unit).lower() not in allowed:
            raise ValueError(f"{source}: units: field {name}: unknown unit {unit!r} "
                             f"(allowed: {', '.join(allowed) or 'none, the field has no unit'})")
        units[name] = _text(unit)

    categories = {}
    for name, codes in _check_section(data, "categories", source, by_header).items():
        if not isinstance(codes, dict):
            raise ValueError(f"{source}: categories: field {name}: expected {{code: level}}, got {codes!r}")
        if name in schema.CATEGORIES:
            levels = schema.CATEGORIES[name]
        elif name.endswith("_event"):
            levels = ("0", "1")
        else:
            raise ValueError(f"{source}: categories: field {name} is not categorical")
        recoded = {}
        for code, level in codes.items():
            # YAML 1.1 reads yes/no/true/false as booleans: give them back as the words
            if isinstance(level, bool) and levels == ("no", "yes"):
                level = "yes" if level else "no"
            lv = _text(level)
            if isinstance(code, bool):
                for word in (("yes", "true") if code else ("no", "false")):
                    recoded[word] = lv
                continue
            if lv not in levels:
                raise ValueError(f"{source}: categories: field {name}: level {level!r} for code {code!r} "
                                 f"is not one of {', '.join(levels)}")
            recoded[_text(code)] = lv
        categories[name] = recoded
    return ColumnMapping(columns=columns, units=units, categories=categories, source=source)
