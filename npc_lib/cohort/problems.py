"""Problems found in a cohort, collected into one report (analysis A1, B5).

Validation never stops at the first problem: every check adds a
:class:`Problem` (an error, a warning or a note) to a :class:`ValidationReport`,
which renders them grouped by patient and file, capped with a total, or as
strict JSON for scripts. :class:`CohortError` (a ``ValueError``) carries every
error of a report in its message.

* **error**: the cohort breaks the data contract; nothing may run on it.
* **warning**: the cohort is usable but something looks wrong or will make the
  analyses unstable (times that look like days, a tiny cohort, ...).
* **note**: an unambiguous difference from the contract that was normalised
  (a semicolon delimiter, a 0/255 mask, an LPS volume, ...).
"""

from __future__ import annotations

__all__ = ["LEVELS", "Problem", "ValidationReport", "CohortError", "MAX_SHOWN"]

import json
from dataclasses import asdict, dataclass, field
from typing import Iterable

#: problem levels, most severe first
LEVELS: tuple[str, ...] = ("error", "warning", "note")

#: problems of one level shown by :meth:`ValidationReport.render` before "... and N more"
MAX_SHOWN = 40


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    return level


@dataclass(frozen=True)
class Problem:
    """One finding about a cohort.

    Attributes
    ----------
    level : {"error", "warning", "note"}
    message : str
        What is wrong or what was done, e.g. ``"negative time -3.0"``.
    file : str or None
        File or folder relative to the cohort root (``"clinical.csv"``).
    patient_id : str or None
        Patient concerned.
    field : str or None
        Column, or image property (``"shape"``, ``"voxels"``, ...).
    """

    level: str
    message: str
    file: str | None = None
    patient_id: str | None = None
    field: str | None = None

    def __post_init__(self):
        _check_level(self.level)

    @property
    def where(self) -> str:
        """``"patient <id>, field <field>"`` with the parts that do not apply left out."""
        return ", ".join(
            p for p in (
                None if self.patient_id is None else f"patient {self.patient_id}",
                None if self.field is None else f"field {self.field}",
            ) if p
        )

    @property
    def text(self) -> str:
        """One line: ``"<file>: patient <id>, field <field>: <message>"``."""
        prefix = ": ".join(p for p in (self.file, self.where) if p)
        return f"{prefix}: {self.message}" if prefix else self.message


@dataclass
class ValidationReport:
    """Every error, warning and note found in one cohort, in the order found.

    Attributes
    ----------
    source : str
        The cohort folder (shown in the header of :meth:`render`).
    problems : list of Problem
    n_patients : int or None
        Rows of the clinical table, when it could be read.
    endpoints : tuple of str
        Endpoints present (``dfs`` always when the table is valid).
    sequences : tuple of str
        MR sequences present (checked when images were checked).
    """

    source: str = ""
    problems: list[Problem] = field(default_factory=list)
    n_patients: int | None = None
    endpoints: tuple[str, ...] = ()
    sequences: tuple[str, ...] = ()

    # ----------------------------------------------------------------- adding
    def add(self, level: str, message: str, *, file: str | None = None,
            patient_id: str | None = None, field: str | None = None) -> Problem:
        """Append a problem and return it."""
        p = Problem(level, message, file=file,
                    patient_id=None if patient_id is None else str(patient_id), field=field)
        self.problems.append(p)
        return p

    def error(self, message: str, **where) -> Problem:
        return self.add("error", message, **where)

    def warning(self, message: str, **where) -> Problem:
        return self.add("warning", message, **where)

    def note(self, message: str, **where) -> Problem:
        return self.add("note", message, **where)

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    # ----------------------------------------------------------------- reading
    def of_level(self, level: str) -> list[Problem]:
        _check_level(level)
        return [p for p in self.problems if p.level == level]

    @property
    def errors(self) -> list[Problem]:
        return self.of_level("error")

    @property
    def warnings(self) -> list[Problem]:
        return self.of_level("warning")

    @property
    def notes(self) -> list[Problem]:
        return self.of_level("note")

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings and notes allowed)."""
        return not any(p.level == "error" for p in self.problems)

    def counts(self) -> dict[str, int]:
        return {lvl: sum(p.level == lvl for p in self.problems) for lvl in LEVELS}

    # ----------------------------------------------------------------- output
    def to_dict(self) -> dict:
        """A JSON-ready dict: summary counts and every problem (nothing capped)."""
        return {
            "cohort": self.source,
            "ok": self.ok,
            "n_patients": self.n_patients,
            "endpoints": list(self.endpoints),
            "sequences": list(self.sequences),
            "counts": self.counts(),
            "problems": [asdict(p) for p in self.problems],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (missing parts are ``null``) of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def render(self, levels: Iterable[str] = LEVELS, max_shown: int = MAX_SHOWN) -> str:
        """Readable text: a summary line, then each level grouped by patient and file.

        Cohort-wide problems come first, then one group per patient (in the
        order first met); inside a group, one full line per problem (file,
        patient, field), sorted by file. At most ``max_shown`` problems per level are listed, then
        ``"... and N more (T errors in total)"``.
        """
        c = self.counts()
        head = f"cohort {self.source}" if self.source else "cohort"
        if self.n_patients is not None:
            head += f": {self.n_patients} patients"
        head += "; " + ", ".join(f"{c[lvl]} {lvl}{'' if c[lvl] == 1 else 's'}" for lvl in LEVELS)
        lines = [head]
        for lvl in levels:
            items = self.of_level(lvl)
            if not items:
                continue
            lines.append(f"{lvl}s ({len(items)}):")
            shown = items[:max(0, int(max_shown))]
            groups: dict[str | None, list[Problem]] = {}
            for p in shown:
                groups.setdefault(p.patient_id, []).append(p)
            for pid, group in sorted(groups.items(), key=lambda kv: kv[0] is not None):
                if pid is None:
                    lines.extend("  " + p.text for p in group)
                    continue
                lines.append(f"  patient {pid}:")
                lines.extend("    " + p.text for p in sorted(group, key=lambda q: q.file or ""))
            if len(items) > len(shown):
                lines.append(f"  ... and {len(items) - len(shown)} more ({len(items)} {lvl}s in total; "
                             "npc validate --format json lists them all)")
        return "\n".join(lines)

    def raise_if_errors(self) -> None:
        """Raise one :class:`CohortError` listing every error, if there is any."""
        if not self.ok:
            raise CohortError.from_report(self)


class CohortError(ValueError):
    """A cohort does not follow the data contract.

    Parameters
    ----------
    problem : str
        What is wrong (e.g. ``"negative time -3.0"``).
    file, patient_id, field : str, optional
        Where (see :class:`Problem`).

    With one problem the message is ``"<file>: patient <id>, field <field>:
    <problem>"``; :meth:`from_report` builds one error listing every error of
    a report (attributes then describe the first one, ``problems`` all).
    """

    def __init__(self, problem: str, *, file: str | None = None,
                 patient_id: str | None = None, field: str | None = None):
        self.problem = problem
        self.file = file
        self.patient_id = patient_id
        self.field = field
        self.problems: list[Problem] = [Problem("error", problem, file, patient_id, field)]
        self.report: ValidationReport | None = None
        super().__init__(self.problems[0].text)

    @classmethod
    def from_report(cls, report: ValidationReport) -> "CohortError":
        errors = report.errors
        if not errors:
            raise ValueError("report has no error")
        first = errors[0]
        err = cls(first.message, file=first.file, patient_id=first.patient_id, field=first.field)
        err.problems = errors
        err.report = report
        if len(errors) > 1:
            err.args = (report.render(levels=("error",)),)
        return err
