"""The run layer: a profile resolved once, a run folder and its artefacts.

* :mod:`npc_lib.run.config`: :func:`resolve_profile` -> :class:`RunConfig`
  (cohort, split, training configuration, per-chapter parameters);
* :mod:`npc_lib.run.run`: :class:`Run`, a run folder that hands out the cohort,
  the split, the training configuration, the signatures, the models and the
  nomogram;
* :mod:`npc_lib.run.artefacts`: the writer and reader of each file that
  travels between chapters;
* :mod:`npc_lib.run.cohort_source`: the cohort of a run (a user's folder or the
  simulated twin).
* :mod:`npc_lib.run.results`: each chapter's results (``metrics.json``) as a
  typed dataclass, the registry of chapter folders, one writer and one reader;
* :mod:`npc_lib.run.verdicts`: the paper's claims and one rule per claim
  (:func:`~npc_lib.run.verdicts.claim_verdicts_for_run`).

With the CLI and :mod:`npc_lib.runners`, this is the only layer that imports
every other one.
"""

from npc_lib.run.artefacts import ModelsFile, read_models, refit_models, write_models
from npc_lib.run.config import CohortSettings, RunConfig, SplitSettings, resolve_profile
from npc_lib.run.run import Run

__all__ = ["Run", "RunConfig", "CohortSettings", "SplitSettings", "resolve_profile", "ModelsFile",
           "read_models", "write_models", "refit_models"]
