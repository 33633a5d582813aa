"""Typed chapter results: a dataclass per chapter's ``metrics.json``, one registry, one writer, one reader.

* :mod:`~npc_lib.run.results.codec`: the strict JSON codec of results dataclasses;
* :mod:`~npc_lib.run.results.records`: records shared by chapters (a C-index,
  a comparison, a risk-group contrast, a claim's verdict);
* :mod:`~npc_lib.run.results.chapters`: one dataclass per chapter;
* :mod:`~npc_lib.run.results.external`: chapter 10's results (registered on import);
* :mod:`~npc_lib.run.results.replication`: chapter 11's results (registered on import);
* :mod:`~npc_lib.run.results.registry`: chapter folder names, :func:`write_results`,
  :func:`read_results`, :func:`register` for a new chapter.
"""

from npc_lib.run.results.codec import ChapterResults
from npc_lib.run.results.registry import (CHAPTERS, as_results, read_all_results, read_results, register,
                                          results_class, write_results)
from npc_lib.run.results import external as _external  # noqa: E402,F401  registers chapter 10's results
from npc_lib.run.results import replication as _replication  # noqa: E402,F401  registers chapter 11's results

__all__ = ["ChapterResults", "CHAPTERS", "as_results", "read_all_results", "read_results", "register",
           "results_class", "write_results"]
