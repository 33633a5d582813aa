"""Checks of a clinical table: fields, survival logic and units (analyses A1, B5).

:func:`check_clinical` turns a :class:`~npc_lib.cohort.read_table.Table` of
text cells into the typed clinical table, adding to the report every problem
of every row and column (never only the first). Then :func:`check_endpoint_agreement`
checks that the endpoints agree with each other and :func:`check_plausibility`
warns about units and size.

Survival logic (errors; times compared within :data:`TIME_TOL_MONTHS`, the
rounding of the times; the last follow-up is ``os_time``):

* DFS ends at the first of locoregional relapse, distant metastasis or death,
  so ``os_time``, ``dmfs_time`` and ``lrfs_time`` are at least ``dfs_time``;
* no time is after the last follow-up: every ``*_time`` is at most ``os_time``
  (an event after it is named as such);
* an OS, DMFS or LRFS event is a DFS event: it implies ``dfs_event`` 1;
* a DFS event is one of them: with all four endpoints present, a patient with
  ``dfs_event`` 1 has an OS, DMFS or LRFS event at ``dfs_time``.

Warnings (printed, never raised; thresholds are module constants, documented
in the README): times that look like days (:data:`DAYS_MEDIAN_MONTHS`,
:data:`DAYS_MAX_MONTHS`), laboratory values that look like another unit
(:data:`LAB_UNIT_MEDIAN_BELOW`), a small cohort (:data:`SMALL_COHORT_PATIENTS`,
:data:`SMALL_COHORT_EVENTS`), an endpoint without events.
"""

from __future__ import annotations

__all__ = [
    "check_clinical",
    "check_endpoint_agreement",
    "check_plausibility",
    "PLAUSIBLE_RANGES",
    "MISSING_TOKENS",
    "SYNONYMS",
    "REQUIRED_COLUMNS",
    "OPTIONAL_ENDPOINTS",
    "TIME_TOL_MONTHS",
    "DAYS_MEDIAN_MONTHS",
    "DAYS_MAX_MONTHS",
    "LAB_UNIT_MEDIAN_BELOW",
    "SMALL_COHORT_PATIENTS",
    "SMALL_COHORT_EVENTS",
]

import re

import numpy as np
import pandas as pd

from npc_lib.cohort import schema
from npc_lib.cohort.mapping import ColumnMapping
from npc_lib.cohort.problems import ValidationReport
from npc_lib.cohort.read_table import Table

#: plausible range (inclusive) of each continuous clinical column (contract units)
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "age": (0.0, 120.0),
    "hgb": (0.0, np.inf),
    "alb": (0.0, np.inf),
    "crp": (0.0, np.inf),
    "ldh": (0.0, np.inf),
    "ebv_dna": (0.0, np.inf),
}

#: cell texts read as a missing value in numeric and categorical columns
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "-", ".", "?", "missing"})

#: accepted spellings (lower case) of each level, per categorical column
SYNONYMS: dict[str, dict[str, str]] = {
    "sex": {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"},
    **{c: {"yes": "yes", "y": "yes", "1": "yes", "1.0": "yes", "true": "yes",
           "no": "no", "n": "no", "0": "no", "0.0": "no", "false": "no"}
       for c in ("family_history", "smoking", "drinking")},
    "who_type": {"iii": "III", "3": "III", "i-ii": "I-II", "i/ii": "I-II", "i–ii": "I-II", "i+ii": "I-II",
                 "i": "I-II", "ii": "I-II", "1": "I-II", "2": "I-II", "1-2": "I-II"},
}
_EVENT_SYNONYMS = {"1": 1, "1.0": 1, "true": 1, "yes": 1, "y": 1, "0": 0, "0.0": 0, "false": 0, "no": 0, "n": 0}

#: columns every cohort needs (OS, DMFS and LRFS are optional, as pairs)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c for c in schema.CLINICAL_COLUMNS
                                          if not c.startswith(("os_", "dmfs_", "lrfs_")))
#: endpoints a cohort may leave out (both columns absent)
OPTIONAL_ENDPOINTS: tuple[str, ...] = ("os", "dmfs", "lrfs")

#: tolerance of the equalities and inequalities between endpoint times (months)
TIME_TOL_MONTHS = 0.01
#: a time column whose median exceeds this (months, 20 years) looks like days
DAYS_MEDIAN_MONTHS = 240.0
#: ... or whose maximum exceeds this (months, 50 years)
DAYS_MAX_MONTHS = 600.0
#: laboratory column -> (median below which it looks like another unit, the likely unit)
LAB_UNIT_MEDIAN_BELOW: dict[str, tuple[float, str]] = {
    "hgb": (30.0, "g/dL (x 10) or mmol/L (x 16.11)"),
    "alb": (10.0, "g/dL (x 10)"),
    "ldh": (20.0, "µkat/L (x 60)"),
}
#: fewer patients than this: a warning (the analyses will be unstable)
SMALL_COHORT_PATIENTS = 100
#: fewer DFS events than this: a warning
SMALL_COHORT_EVENTS = 20

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_NONFINITE = {"inf": np.inf, "+inf": np.inf, "-inf": -np.inf, "infinity": np.inf, "-infinity": -np.inf}


def _fmt(value) -> str:
    return repr(value) if isinstance(value, str) else f"{value}"


def _match_columns(frame: pd.DataFrame, mapping: ColumnMapping | None, source: str,
                   report: ValidationReport) -> pd.DataFrame:
    """Rename mapped and differently-cased headers to the contract's names."""
    rename: dict[str, str] = {}
    if mapping is not None:
        for name, header in mapping.columns.items():
            if header in frame.columns and name in frame.columns and name != header:
                report.error(f"{mapping.source}: column {header!r} is mapped to {name}, but the table also has "
                             f"a column {name} (rename or drop one)", file=source, field=name)
            elif header in frame.columns:
                rename[header] = name
            else:
                report.error(f"{mapping.source}: column {header!r} (for field {name}) not in the table",
                             file=source, field=name)
        if rename:
            report.note(f"{mapping.source}: {len(rename)} column(s) renamed: "
                        + ", ".join(f"{h} -> {n}" for h, n in rename.items()), file=source)
    taken = set(rename.values()) | set(frame.columns)
    cased = {}
    for col in frame.columns:
        low = col.lower().replace(" ", "_")
        if col not in rename and col not in schema.CLINICAL_COLUMNS and low in schema.CLINICAL_COLUMNS \
                and low not in taken:
            cased[col] = low
            taken.add(low)
    if cased:
        report.note("headers read as the contract's names: " + ", ".join(f"{h!r} -> {n}" for h, n in cased.items()),
                    file=source)
    return frame.rename(columns={**rename, **cased})


def _numbers(cells: pd.Series, decimal_comma: bool):
    """Parse text cells: (values with NaN where not a number, kind per cell)."""
    values = np.full(len(cells), np.nan)
    kind = np.empty(len(cells), dtype=object)  # "ok", "missing", "bad", "comma", "nonfinite"
    for i, raw in enumerate(cells):
        text = raw.strip()
        low = text.lower()
        if low in MISSING_TOKENS:
            kind[i] = "missing"
        elif _NUMBER.match(text):
            values[i], kind[i] = float(text), "ok"
        elif decimal_comma and _DECIMAL_COMMA.match(text):
            values[i], kind[i] = float(text.replace(",", ".")), "comma"
        elif low in _NONFINITE:
            values[i], kind[i] = _NONFINITE[low], "nonfinite"
        else:
            kind[i] = "bad"
    return values, kind


def _missing_text(raw: str, line: int) -> str:
    shown = "" if raw == "" else f" {raw!r}"
    return f"missing value{shown} (line {line})"


def _check_numeric(name, cells, pids, lines, table, mapping, report, gaps: bool = False) -> np.ndarray:
    values, kind = _numbers(cells, table.decimal_comma)
    src = table.source
    for i in np.flatnonzero((kind == "missing") & (not gaps)):
        report.error(_missing_text(cells.iloc[i], lines[i]), file=src, patient_id=pids[i], field=name)
    for i in np.flatnonzero(kind == "bad"):
        report.error(f"non-numeric value {cells.iloc[i]!r}", file=src, patient_id=pids[i], field=name)
    for i in np.flatnonzero(kind == "nonfinite"):
        report.error(f"non-finite value {values[i]:g}", file=src, patient_id=pids[i], field=name)
    if (kind == "comma").any():
        report.note(f"{int((kind == 'comma').sum())} decimal comma(s) read as decimal points",
                    file=src, field=name)
    factor = 1.0 if mapping is None else mapping.factor(name)
    if factor != 1.0:
        values = values * factor
        report.note(f"{mapping.source}: converted from {mapping.units[name]} (x {factor:.6g})", file=src, field=name)
    ok = np.isin(kind, ["ok", "comma"])
    if name in PLAUSIBLE_RANGES:
        lo, hi = PLAUSIBLE_RANGES[name]
        rule = f"must be >= {lo:g}" if np.isinf(hi) else f"must be within {lo:g}-{hi:g}"
        for i in np.flatnonzero(ok & ((values < lo) | (values > hi))):
            report.error(f"implausible value {values[i]} ({rule})", file=src, patient_id=pids[i], field=name)
            ok[i] = False
    elif name.endswith("_time"):
        for i in np.flatnonzero(ok & (values < 0)):
            report.error(f"negative time {values[i]}", file=src, patient_id=pids[i], field=name)
            ok[i] = False
    values[~ok] = np.nan
    return values


def _recode(name, cells, mapping):
    """Apply a mapping's codes, then the built-in synonyms: (levels or None per cell, used)."""
    codes = {} if mapping is None else mapping.categories.get(name, {})
    codes_low = {k.lower(): v for k, v in codes.items()}
    syn = SYNONYMS.get(name, {})
    out, used = [], {}
    for raw in cells:
        text = raw.strip()
        if text in codes:
            level = codes[text]
        elif text.lower() in codes_low:
            level = codes_low[text.lower()]
        else:
            level = syn.get(text.lower())
        out.append(level)
        if level is not None and text != level:
            used.setdefault(text, level)
    return out, used


def _check_category(name, cells, pids, lines, table, mapping, report, gaps: bool = False) -> list:
    levels, used = _recode(name, cells, mapping)
    allowed = ", ".join(schema.CATEGORIES[name])
    for i, (raw, lv) in enumerate(zip(cells, levels)):
        if lv is None:
            if raw.strip().lower() in MISSING_TOKENS:
                if not gaps:
                    report.error(_missing_text(raw, lines[i]), file=table.source, patient_id=pids[i], field=name)
            else:
                report.error(f"unknown category {raw!r} (allowed: {allowed})", file=table.source,
                             patient_id=pids[i], field=name)
    if used:
        shown = ", ".join(f"{k!r} -> {v}" for k, v in list(used.items())[:6])
        report.note(f"values read as the contract's levels: {shown}", file=table.source, field=name)
    return levels


def _check_event(name, cells, pids, lines, table, mapping, report, gaps: bool = False) -> np.ndarray:
    codes = {} if mapping is None else {k.lower(): int(v) for k, v in mapping.categories.get(name, {}).items()}
    out = np.full(len(cells), np.nan)
    used = {}
    for i, raw in enumerate(cells):
        text = raw.strip().lower()
        ev = codes.get(text, _EVENT_SYNONYMS.get(text))
        if ev is not None:
            out[i] = ev
            if text not in ("0", "1"):
                used.setdefault(raw, ev)
        elif text in MISSING_TOKENS:
            if not gaps:
                report.error(_missing_text(raw, lines[i]), file=table.source, patient_id=pids[i], field=name)
        else:
            shown = _fmt(float(text)) if _NUMBER.match(text) else repr(raw)
            report.error(f"event not 0/1: {shown}", file=table.source, patient_id=pids[i], field=name)
    if used:
        shown = ", ".join(f"{k!r} -> {v}" for k, v in list(used.items())[:6])
        report.note(f"event codes read as 0/1: {shown}", file=table.source, field=name)
    return out


def _check_ids(cells, lines, source, report) -> list[str | None]:
    pids: list[str | None] = []
    for raw, line in zip(cells, lines):
        if raw == "":
            report.error(f"missing value (line {line})", file=source, field="patient_id")
            pids.append(None)
        elif "/" in raw or "\\" in raw or raw in (".", "..") or any(ord(ch) < 32 for ch in raw):
            report.error(f"patient_id {raw!r} cannot name an image folder (a path separator or control "
                         f"character, line {line})", file=source, field="patient_id")
            pids.append(None)
        else:
            pids.append(raw)
    seen: dict[str, list[int]] = {}
    for pid, line in zip(pids, lines):
        if pid is not None:
            seen.setdefault(pid, []).append(line)
    for pid, at in seen.items():
        if len(at) > 1:
            report.error("duplicate patient_id (lines " + ", ".join(map(str, at)) + ")", file=source,
                         patient_id=pid, field="patient_id")
    return pids


def check_clinical(table: Table, report: ValidationReport, mapping: ColumnMapping | None = None,
                   required: tuple[str, ...] | None = None):
    """Check every cell of a clinical table; return the typed table and the endpoints present.

    Parameters
    ----------
    table : Table
        Text cells (:func:`~npc_lib.cohort.read_table.read_table`).
    report : ValidationReport
        Receives every error and note.
    mapping : ColumnMapping, optional
        Renames, units and codes (:mod:`npc_lib.cohort.mapping`).
    required : tuple of str, optional
        Columns that must be present and complete (default :data:`REQUIRED_COLUMNS`).
        Other contract columns may be absent or have missing cells (NaN), e.g.
        a cohort to predict: outcomes and the clinical values a model does not use.

    Returns
    -------
    clinical : DataFrame or None
        ``patient_id`` and ``scanner`` as str, continuous columns and
        ``*_time`` (months) float64, ``*_event`` int64 0/1, categorical
        columns pandas Categorical with the schema's levels; extra columns as
        text. None when the table has an error (every one is in ``report``).
    values : DataFrame
        The parsed values of every row (NaN or None where a cell is invalid),
        so that the cross-column checks (:func:`check_endpoint_agreement`,
        :func:`check_plausibility`) run even when some cells are invalid.
    endpoints : tuple of str
        Endpoints whose two columns are present (``dfs`` first).
    """
    n_errors = len(report.errors)
    frame = _match_columns(table.frame, mapping, table.source, report)
    src, lines = table.source, table.lines
    need = REQUIRED_COLUMNS if required is None else ("patient_id", *required)
    lenient = set() if required is None else set(schema.CLINICAL_COLUMNS) - set(need)
    for col in dict.fromkeys(need):
        if col not in frame.columns:
            report.error("required column missing", file=src, field=col)
    dfs_needed = schema.time_col("dfs") in need
    endpoints = ["dfs"] if dfs_needed else []
    for e in OPTIONAL_ENDPOINTS if dfs_needed else ("dfs", *OPTIONAL_ENDPOINTS):
        t, ev = schema.time_col(e), schema.event_col(e)
        have = [c for c in (t, ev) if c in frame.columns]
        if len(have) == 2:
            endpoints.append(e)
        elif have:
            missing = ev if have == [t] else t
            report.error(f"required column missing ({have[0]} is present; an endpoint needs both)",
                         file=src, field=missing)
        else:
            report.note(f"endpoint {e.upper()} absent ({t}, {ev}): its analyses are skipped", file=src)
    pids = _check_ids(frame["patient_id"], lines, src, report) if "patient_id" in frame.columns \
        else [None] * len(frame)
    values = pd.DataFrame({"patient_id": pids}, dtype=object)
    for name in frame.columns:
        cells, gaps = frame[name], name in lenient
        if name in schema.CONTINUOUS or (name.endswith("_time") and name[:-5] in endpoints):
            values[name] = _check_numeric(name, cells, pids, lines, table, mapping, report, gaps)
        elif name in schema.CATEGORIES:
            values[name] = _check_category(name, cells, pids, lines, table, mapping, report, gaps)
        elif name.endswith("_event") and name[:-6] in endpoints:
            values[name] = _check_event(name, cells, pids, lines, table, mapping, report, gaps)
        elif name == "scanner":
            missing = cells.str.strip().str.lower().isin(MISSING_TOKENS).to_numpy()
            for i in np.flatnonzero(missing & (not gaps)):
                report.error(_missing_text(cells.iloc[i], lines[i]), file=src, patient_id=pids[i], field=name)
            values[name] = cells.to_numpy()
        elif name != "patient_id":
            values[name] = cells.to_numpy()
    endpoints = tuple(endpoints)
    if len(report.errors) > n_errors:
        return None, values, endpoints
    out = values.copy()
    out["patient_id"] = out["patient_id"].astype(str)
    if "scanner" in out.columns:
        out["scanner"] = out["scanner"].astype(str)
    for name, levels in schema.CATEGORIES.items():
        if name in out.columns:
            out[name] = pd.Categorical(out[name], categories=list(levels))
    for name in schema.CONTINUOUS:
        if name in out.columns:
            out[name] = out[name].astype(np.float64)
    for e in endpoints:
        out[schema.time_col(e)] = out[schema.time_col(e)].astype(np.float64)
        event = out[schema.event_col(e)].astype(np.float64)  # NaN only where a cell may be missing (required)
        out[schema.event_col(e)] = event if event.isna().any() else event.astype(np.int64)
    order = [c for c in schema.CLINICAL_COLUMNS if c in out.columns]
    out = out[order + [c for c in out.columns if c not in order]]
    return out.reset_index(drop=True), values, endpoints


_EVENT_NAMES = {"os": "a death", "dmfs": "a distant metastasis", "lrfs": "a locoregional relapse"}


def check_endpoint_agreement(values: pd.DataFrame, endpoints: tuple[str, ...], report: ValidationReport,
                   source: str = schema.CLINICAL_FILE, tol: float = TIME_TOL_MONTHS) -> None:
    """Add an error for every row whose endpoints contradict each other (rules in the module doc).

    Rows whose values involved in a rule are missing or invalid are skipped
    for that rule (their cells already have an error).
    """
    def col(name):
        return values[name].to_numpy(dtype=float) if name in values.columns else None

    pids = values["patient_id"].tolist()
    t = {e: col(schema.time_col(e)) for e in endpoints}
    ev = {e: col(schema.event_col(e)) for e in endpoints}
    if t.get("dfs") is None or ev.get("dfs") is None:
        return
    def err(i, msg, fld):
        report.error(msg, file=source, patient_id=pids[i], field=fld)

    others = [e for e in OPTIONAL_ENDPOINTS if e in endpoints]
    for e in others:
        for i in np.flatnonzero(t[e] < t["dfs"] - tol):
            err(i, f"{e}_time {t[e][i]:g} is shorter than dfs_time {t['dfs'][i]:g} (DFS ends at the first "
                   "relapse, metastasis or death, so no endpoint ends before it)", f"{e}_time")
    if "os" in endpoints:
        for e in ("dfs", "dmfs", "lrfs"):
            if e not in endpoints:
                continue
            for i in np.flatnonzero(t[e] > t["os"] + tol):
                what = "event after the last follow-up" if ev[e][i] == 1 else "follow-up after the last follow-up"
                err(i, f"{what}: {e}_time {t[e][i]:g} is longer than os_time {t['os'][i]:g} "
                       "(the last follow-up)", f"{e}_time")
    for e in others:
        for i in np.flatnonzero((ev[e] == 1) & (ev["dfs"] == 0)):
            err(i, f"dfs_event 0 although {e}_event 1 ({_EVENT_NAMES[e]} is a DFS event)", "dfs_event")
    if len(others) == len(OPTIONAL_ENDPOINTS):
        at_dfs = np.zeros(len(values), dtype=bool)
        for e in others:
            at_dfs |= (ev[e] == 1) & (np.abs(t[e] - t["dfs"]) <= tol)
        valid = np.all([np.isfinite(a) for d in (t, ev) for a in d.values()], axis=0)
        for i in np.flatnonzero(valid & (ev["dfs"] == 1) & ~at_dfs):
            err(i, f"dfs_event 1 at dfs_time {t['dfs'][i]:g} but no OS, DMFS or LRFS event at that time "
                   "(the DFS event is the first relapse, metastasis or death)", "dfs_event")


def check_plausibility(values: pd.DataFrame, endpoints: tuple[str, ...], report: ValidationReport,
                       source: str = schema.CLINICAL_FILE, mapping: ColumnMapping | None = None) -> None:
    """Warnings: units that look wrong, a small cohort, endpoints without events."""
    for e in endpoints:
        name = schema.time_col(e)
        if name not in values.columns or (mapping is not None and name in mapping.units):
            continue
        x = values[name].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        if x.size and (np.median(x) > DAYS_MEDIAN_MONTHS or x.max() > DAYS_MAX_MONTHS):
            report.warning(f"times look like days, not months (median {np.median(x):.0f}, max {x.max():.0f}; "
                           f"over {DAYS_MEDIAN_MONTHS:g} months median or {DAYS_MAX_MONTHS:g} max): divide by 30 "
                           f"or declare 'units: {{{name}: days}}' in a mapping file", file=source, field=name)
    for name, (below, unit) in LAB_UNIT_MEDIAN_BELOW.items():
        if name not in values.columns or (mapping is not None and name in mapping.units):
            continue
        x = values[name].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        if x.size and np.median(x) < below:
            report.warning(f"values look like {unit}, not {schema.CONTINUOUS[name]} (median {np.median(x):.3g}, "
                           f"under {below:g}): convert them or declare the unit in a mapping file",
                           file=source, field=name)
    n = len(values)
    if 0 < n < SMALL_COHORT_PATIENTS:
        report.warning(f"only {n} patients (under {SMALL_COHORT_PATIENTS}): the analyses will be unstable",
                       file=source)
    for e in endpoints:
        name = schema.event_col(e)
        if name not in values.columns:
            continue
        k = int(np.nansum(values[name].to_numpy(dtype=float) == 1))
        if n and k == 0:
            report.warning(f"no {e.upper()} event: its analyses cannot be fitted", file=source, field=name)
        elif e == "dfs" and n and k < SMALL_COHORT_EVENTS:
            report.warning(f"only {k} DFS events (under {SMALL_COHORT_EVENTS}): the analyses will be unstable",
                           file=source, field=name)
