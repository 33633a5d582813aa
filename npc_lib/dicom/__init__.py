"""DICOM import: MR series and RTSTRUCT contours of a hospital export into a cohort folder.

``import_dicom(src, out, rules)`` (``npc import-dicom SRC --out COHORT --rules RULES.yml``)
walks the export, chooses each patient's study, T1/T2/T1C series and tumour ROI
by the rules (:mod:`~npc_lib.dicom.rules`), reads each series with its slices
sorted by position (:mod:`~npc_lib.dicom.series`), rasterises the contours on
each sequence's own grid (:mod:`~npc_lib.dicom.rtstruct`) and writes the cohort
layout of :mod:`npc_lib.cohort.schema` with pseudonymous ids
(:mod:`~npc_lib.dicom.privacy`); the mapping report is written beside the cohort.
Every problem is reported at once (:mod:`~npc_lib.dicom.problems`).
"""

from __future__ import annotations

__all__ = ["import_dicom", "ImportResult", "ImportRules", "load_rules", "rules_from_dict", "DicomImportError",
           "Problem", "ProblemList"]

from .importer import ImportResult, import_dicom
from .problems import DicomImportError, Problem, ProblemList
from .rules import ImportRules, load_rules, rules_from_dict
