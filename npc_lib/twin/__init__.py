"""The digital twin: a simulator of the paper's cohort whose true risk is known.

* :mod:`npc_lib.twin.simulate`: patients, clinical table, ``truth.csv`` and the
  image cohort in the SPEC layout (:func:`~npc_lib.twin.simulate.simulate_cohort`);
* :mod:`npc_lib.twin.outcomes`: accrual, censoring and the four endpoints;
* :mod:`npc_lib.twin.phantom`: the MR phantom (three sequences, three scanners);
* :mod:`npc_lib.twin.centres`: the development centre and a second, external
  one (other scanners, case mix, baseline hazard and follow-up);
* :mod:`npc_lib.twin.truth`: ORACLE ONLY, the true risk and survival.

The twin writes the data contract of :mod:`npc_lib.cohort.schema`; nothing in
the analysis layers imports the twin, except the book's oracle sections.
"""

__all__ = ["simulate", "outcomes", "phantom", "centres", "truth"]
