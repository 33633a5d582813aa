"""Which part of npc_lib may import which: the layering rules, read from the source with ``ast``.

Every ``import`` and ``from ... import`` of every module under ``npc_lib/`` counts,
at module level or inside a function alike. The rules (the README's layout section
quotes them):

1. Leaves: ``npc_lib._io``, ``npc_lib.report``, ``npc_lib.paper``, ``npc_lib.profiles`` and
   ``npc_lib.coding`` (the clinical coding rules) import nothing of npc_lib.
2. ``npc_lib.cohort`` (the data contract, loading, splitting) imports only ``_io`` and ``coding``.
3. ``npc_lib.twin`` (the simulator) and ``npc_lib.dicom`` (DICOM import) import only ``_io``
   and ``npc_lib.cohort.schema``.
4. ``npc_lib.stats`` (statistics on arrays and DataFrames) imports only ``_io`` and ``coding``: nothing of Keras/TensorFlow/PyTorch, imaging, model, cohort, twin, plots,
   radiomics, runners, run or cli.
5. ``npc_lib.imaging`` imports only ``_io`` and ``cohort`` (the ``Volume`` type), no Keras.
6. ``npc_lib.radiomics`` imports only ``_io``, ``cohort``, ``imaging`` and ``stats``.
7. ``npc_lib.model`` imports only ``_io``, ``imaging`` and ``stats`` (not cohort, twin,
   plots, runners, run).
8. ``npc_lib.plots`` imports only ``_io``, ``coding``, ``report``, ``stats`` and ``imaging``
   (no model, cohort, twin, runners, run).
9. ``npc_lib.run`` (the run layer: profiles resolved, artefacts read and written) may
   import everything except ``runners``, ``plots`` and ``cli``; ``npc_lib.runners``
   everything except ``cli``; ``npc_lib.cli`` everything.
10. Keras, TensorFlow and PyTorch are imported only in ``npc_lib.model`` and
    ``npc_lib.runners``; plotly only in ``npc_lib.plots``.

Also: no module has more than 600 lines, and no module imports a private name
(``_something``) from another npc_lib module (a helper used elsewhere is public in
its module, or lives in ``npc_lib.stats._validation``); the few existing exceptions
are listed in ``_PRIVATE_IMPORTS_TO_REMOVE`` and may only shrink.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "npc_lib"
MAX_LINES = 600

LEAVES = {"npc_lib._io", "npc_lib.report", "npc_lib.paper", "npc_lib.profiles", "npc_lib.coding"}
EVERY_PART = {"npc_lib._io", "npc_lib.coding", "npc_lib.report", "npc_lib.paper", "npc_lib.profiles", "npc_lib.cohort",
              "npc_lib.twin", "npc_lib.dicom", "npc_lib.stats", "npc_lib.imaging", "npc_lib.radiomics", "npc_lib.model",
              "npc_lib.plots", "npc_lib.run", "npc_lib.runners", "npc_lib.cli"}

#: part -> npc_lib parts it may import (besides itself); a part is a package or a root module
ALLOWED = {
    **{leaf: set() for leaf in LEAVES},
    "npc_lib.cohort": {"npc_lib._io", "npc_lib.coding"},
    "npc_lib.twin": {"npc_lib._io", "npc_lib.cohort.schema"},
    "npc_lib.dicom": {"npc_lib._io", "npc_lib.cohort.schema"},
    "npc_lib.stats": {"npc_lib._io", "npc_lib.coding"},
    "npc_lib.imaging": {"npc_lib._io", "npc_lib.cohort"},
    "npc_lib.radiomics": {"npc_lib._io", "npc_lib.cohort", "npc_lib.imaging", "npc_lib.stats"},
    "npc_lib.model": {"npc_lib._io", "npc_lib.imaging", "npc_lib.stats"},
    "npc_lib.plots": {"npc_lib._io", "npc_lib.coding", "npc_lib.report", "npc_lib.stats", "npc_lib.imaging"},
    "npc_lib.run": EVERY_PART - {"npc_lib.runners", "npc_lib.plots", "npc_lib.cli"},
    "npc_lib.runners": EVERY_PART - {"npc_lib.cli"},
    "npc_lib.cli": EVERY_PART,
}

DEEP_LEARNING = {"keras", "tensorflow", "torch", "jax"}
DEEP_LEARNING_ALLOWED = {"npc_lib.model", "npc_lib.runners"}
PLOTTING = {"plotly"}
PLOTTING_ALLOWED = {"npc_lib.plots"}

#: (importing module, imported module, name): private imports that predate the rule
_PRIVATE_IMPORTS_TO_REMOVE = {
    ("npc_lib.imaging.views", "npc_lib.imaging.instances", "_check_ids"),
}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        is_init = parts[-1] == "__init__"
        if is_init:
            parts = parts[:-1]
        yield ".".join(parts), path, is_init


MODULES = list(_modules())


@functools.lru_cache(maxsize=None)
def _module_imports(name: str, path: Path, is_init: bool) -> tuple:
    return tuple(_imports(name, path, is_init))


def _imports(name: str, path: Path, is_init: bool):
    """``(imported module, imported names or None, line)`` for every import of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name.split(".") if is_init else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            # "from npc_lib.cohort import schema": a name that is a module counts as that module
            submodules = [n for n in names if _is_module(f"{target}.{n}")]
            for n in submodules:
                yield f"{target}.{n}", None, node.lineno
            rest = [n for n in names if n not in submodules]
            if rest:
                yield target, rest, node.lineno


def _is_module(dotted: str) -> bool:
    if not dotted.startswith("npc_lib."):
        return False
    path = ROOT.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _part(module: str) -> str:
    """``npc_lib.stats.cox`` -> ``npc_lib.stats``; ``npc_lib.report`` -> ``npc_lib.report``."""
    return ".".join(module.split(".")[:2])


def _allowed(target: str, allowed: set) -> bool:
    return any(target == a or target.startswith(a + ".") for a in allowed)


def test_every_part_has_a_rule():
    parts = {_part(m) for m, _, _ in MODULES if m != "npc_lib"}
    assert parts <= set(ALLOWED), f"add a layering rule for {sorted(parts - set(ALLOWED))}"


@pytest.mark.parametrize("name,path,is_init", MODULES, ids=[m for m, _, _ in MODULES])
def test_module_respects_layering(name, path, is_init):
    if name == "npc_lib":
        return
    part = _part(name)
    allowed = ALLOWED[part]
    bad = []
    for target, _, line in _module_imports(name, path, is_init):
        top = target.split(".")[0]
        if target.startswith("npc_lib.") and _part(target) != part and not _allowed(target, allowed):
            bad.append(f"line {line}: {target}")
        if top in DEEP_LEARNING and part not in DEEP_LEARNING_ALLOWED:
            bad.append(f"line {line}: {target} (deep-learning framework)")
        if top in PLOTTING and part not in PLOTTING_ALLOWED:
            bad.append(f"line {line}: {target} (plotting)")
    assert not bad, f"{name} ({part}) may import only {sorted(allowed)}: " + "; ".join(bad)


def test_no_private_names_imported_across_modules():
    found = set()
    for name, path, is_init in MODULES:
        for target, names, line in _module_imports(name, path, is_init):
            if not target.startswith("npc_lib") or target == name or names is None:
                continue
            found |= {(name, target, n) for n in names if n.startswith("_") and not n.startswith("__")}
    new = found - _PRIVATE_IMPORTS_TO_REMOVE
    assert not new, f"private names imported across modules (make them public): {sorted(new)}"


@pytest.mark.parametrize("name,path,is_init", MODULES, ids=[m for m, _, _ in MODULES])
def test_module_is_at_most_600_lines(name, path, is_init):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{name}: {n} lines (limit {MAX_LINES}): split it by concept"


def test_import_parser_resolves_relative_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("from .cox import fit_cox\nfrom .. import report\nimport numpy as np\n"
                 "def f():\n    from npc_lib.cohort import schema, load\n    from npc_lib.stats import fit_cox\n")
    got = sorted((t, n) for t, n, _ in _imports("npc_lib.stats.x", f, False))
    assert got == [("npc_lib.cohort.load", None), ("npc_lib.cohort.schema", None), ("npc_lib.report", None),
                   ("npc_lib.stats", ["fit_cox"]), ("npc_lib.stats.cox", ["fit_cox"]), ("numpy", None)]
    assert not _allowed("npc_lib.cohort", ALLOWED["npc_lib.stats"])
    assert _allowed("npc_lib.cohort.schema", ALLOWED["npc_lib.twin"])
    assert not _allowed("npc_lib.cohort.load", ALLOWED["npc_lib.twin"])
