"""Problems found while importing DICOM: each names the patient, series and file.

An import collects every problem of every patient before it decides anything
(as ``npc validate`` does for a cohort): errors stop the import before anything
is written, warnings and notes are reported and the import goes on.
"""

from __future__ import annotations

__all__ = ["LEVELS", "Problem", "ProblemList", "DicomImportError"]

from dataclasses import asdict, dataclass, field

#: problem levels, most severe first
LEVELS: tuple[str, ...] = ("error", "warning", "note")


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"problem level must be one of {LEVELS}, got {level!r}")
    return level


@dataclass(frozen=True)
class Problem:
    """One finding of an import.

    Attributes
    ----------
    level : str
        ``"error"`` (nothing is written), ``"warning"`` or ``"note"``.
    message : str
        What is wrong and, where it helps, what to do.
    patient : str
        The DICOM PatientID ("" when the problem is not a patient's). It appears only
        in the printed problems and in the mapping report, never in the cohort.
    series : str
        ``"<number> '<SeriesDescription>'"`` of the series concerned, or "".
    file : str
        A file of the source folder concerned, or "".
    """

    level: str
    message: str
    patient: str = ""
    series: str = ""
    file: str = ""

    def __post_init__(self):
        _check_level(self.level)

    def render(self) -> str:
        """One line: ``level: patient P, series S, file F: message``."""
        where = [f"patient {self.patient}" if self.patient else "",
                 f"series {self.series}" if self.series else "",
                 f"file {self.file}" if self.file else ""]
        where = ", ".join(w for w in where if w)
        return f"{self.level}: {where + ': ' if where else ''}{self.message}"


@dataclass
class ProblemList:
    """The problems of one import, in the order found."""

    items: list[Problem] = field(default_factory=list)

    def add(self, level: str, message: str, *, patient: str = "", series: str = "", file: str = "") -> None:
        """Record one problem."""
        self.items.append(Problem(level, message, str(patient), str(series), str(file)))

    def extend(self, other: "ProblemList") -> None:
        """Append every problem of ``other``."""
        self.items.extend(other.items)

    def of_level(self, level: str) -> list[Problem]:
        """The problems of one level."""
        _check_level(level)
        return [p for p in self.items if p.level == level]

    @property
    def errors(self) -> list[Problem]:
        return self.of_level("error")

    @property
    def ok(self) -> bool:
        """True when there is no error."""
        return not self.errors

    def render(self, levels: tuple[str, ...] = LEVELS) -> str:
        """Every problem of ``levels``, errors first, one per line, with counts."""
        lines = []
        for level in levels:
            found = self.of_level(level)
            if found:
                lines.append(f"{len(found)} {level}{'s' if len(found) > 1 else ''}:")
                lines.extend("  " + p.render() for p in found)
        return "\n".join(lines)

    def to_records(self) -> list[dict]:
        """Plain dicts (for the JSON report)."""
        return [asdict(p) for p in self.items]


class DicomImportError(ValueError):
    """The import found errors; ``problems`` holds all of them (and the warnings and notes)."""

    def __init__(self, problems: ProblemList):
        self.problems = problems
        n = len(problems.errors)
        super().__init__(f"DICOM import refused: {n} error{'s' if n > 1 else ''}; nothing written\n"
                         + problems.render())
