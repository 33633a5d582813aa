"""The book's chapters: one registry of folder names and results types, one writer and one reader.

Every chapter folder of a run (``05_models``) is named here once
(:data:`MODELS`, ...); :data:`CHAPTERS` maps each to the dataclass of its
``metrics.json`` (:mod:`npc_lib.run.results.chapters`), or ``None`` for a
chapter whose results are not typed yet. A new chapter registers its results
class with :func:`register`::

    @register
    @dataclass(frozen=True, kw_only=True)
    class ExternalValidationResults(ChapterResults):
        chapter: ClassVar[str] = EXTERNAL_VALIDATION
        ...

:func:`write_results` is the one writer (checked, strict JSON, atomic) and
:func:`read_results` the one reader (checked: a key the class does not know
is an error naming it).
"""

from __future__ import annotations

__all__ = ["INTRO", "COHORT", "TABLE1", "PREPROCESSING", "SIGNATURES", "MODELS", "NOMOGRAM", "ENDPOINTS",
           "RADIOMICS", "CALCULATOR", "EXTERNAL_VALIDATION", "REPLICATION", "REPRODUCTION", "TRIPOD", "CHAPTERS",
           "RESULTS_FILE", "register", "results_class", "as_results", "write_results", "read_results",
           "read_all_results"]

import os
from pathlib import Path
from typing import Any, Mapping

from npc_lib._io import read_json, write_json
from npc_lib.run.results import chapters as _c
from npc_lib.run.results.codec import ChapterResults

INTRO = "00_intro"
COHORT = "01_cohort"
TABLE1 = "02_table1"
PREPROCESSING = "03_preprocessing"
SIGNATURES = "04_signatures"
MODELS = "05_models"
NOMOGRAM = "06_nomogram"
ENDPOINTS = "07_endpoints_subgroups"
RADIOMICS = "08_radiomics"
CALCULATOR = "09_calculator"
EXTERNAL_VALIDATION = "10_external_validation"
REPLICATION = "11_replication"
REPRODUCTION = "12_reproduction"
TRIPOD = "13_tripod"
#: the results file of every chapter folder
RESULTS_FILE = "metrics.json"

#: chapter folder -> its results dataclass (None: not typed yet), in book order
CHAPTERS: dict[str, type[ChapterResults] | None] = {
    INTRO: _c.IntroResults, COHORT: _c.CohortResults, TABLE1: _c.Table1Results,
    PREPROCESSING: _c.PreprocessingResults, SIGNATURES: _c.SignaturesResults, MODELS: _c.ModelsResults,
    NOMOGRAM: _c.NomogramResults, ENDPOINTS: _c.EndpointsResults, RADIOMICS: _c.RadiomicsResults,
    CALCULATOR: _c.CalculatorResults, EXTERNAL_VALIDATION: None, REPLICATION: None,
    REPRODUCTION: _c.ReproductionResults, TRIPOD: _c.TripodResults,
}


def register(cls: type[ChapterResults]) -> type[ChapterResults]:
    """Register ``cls`` as the results of its chapter (``cls.chapter``); usable as a class decorator."""
    if not (isinstance(cls, type) and issubclass(cls, ChapterResults)) or not cls.chapter:
        raise ValueError(f"register: {cls!r} is not a ChapterResults with a chapter")
    if CHAPTERS.get(cls.chapter) not in (None, cls):
        raise ValueError(f"chapter {cls.chapter} already has results {CHAPTERS[cls.chapter].__name__}")
    CHAPTERS[cls.chapter] = cls
    return cls


def results_class(chapter: str) -> type[ChapterResults]:
    """The results dataclass of ``chapter`` (``"05_models"``).

    >>> results_class("05_models").__name__
    'ModelsResults'
    """
    name = Path(chapter).name
    if name not in CHAPTERS:
        raise ValueError(f"chapter {name!r} is not in the book ({', '.join(CHAPTERS)})")
    cls = CHAPTERS[name]
    if cls is None:
        raise ValueError(f"chapter {name}: its results have no registered type (npc_lib.run.results.register)")
    return cls


def as_results(chapter: str, data: ChapterResults | Mapping[str, Any]) -> ChapterResults:
    """``data`` as the typed results of ``chapter`` (a mapping is read and checked).

    >>> as_results("02_table1", {"p_values": {"age": 0.5}}).p_values
    {'age': 0.5}
    """
    cls = results_class(chapter)
    if isinstance(data, cls):
        return data
    if isinstance(data, ChapterResults):
        raise ValueError(f"chapter {chapter}: expected {cls.__name__}, got {type(data).__name__}")
    return cls.from_dict(data)


def write_results(run_dir: str | os.PathLike, results: ChapterResults) -> Path:
    """Write a chapter's results to ``run_dir/<chapter>/metrics.json`` (checked, strict JSON, atomic)."""
    if not isinstance(results, ChapterResults) or results_class(results.chapter) is not type(results):
        raise ValueError(f"results: expected a registered chapter's results, got {type(results).__name__}")
    return write_json(results.to_dict(), Path(run_dir) / results.chapter / RESULTS_FILE)


def read_results(run_dir: str | os.PathLike, chapter: str) -> ChapterResults:
    """Read and check the results ``chapter`` wrote in ``run_dir``."""
    name = Path(chapter).name
    cls = results_class(name)
    path = Path(run_dir) / name / RESULTS_FILE
    if not path.is_file():
        raise ValueError(f"run {run_dir}: chapter {name} has not run (no {RESULTS_FILE})")
    return cls.from_dict(read_json(path, f"chapter {name}"))


def read_all_results(run_dir: str | os.PathLike) -> dict[str, ChapterResults]:
    """``{chapter: results}`` of every chapter with typed results that has run in ``run_dir``."""
    return {name: read_results(run_dir, name) for name, cls in CHAPTERS.items()
            if cls is not None and (Path(run_dir) / name / RESULTS_FILE).is_file()}
