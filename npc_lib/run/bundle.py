"""The model bundle: a run's signatures and nomogram, locked in one folder that leaves the book.

A bundle (format :data:`BUNDLE_FORMAT`) holds everything needed to go from a
patient's MR volumes and clinical values to the nomogram's prediction, and
nothing about any patient::

    MODEL/
      manifest.json               format, versions, creation time, run configuration,
                                  development cohort (size, events, follow-up), the
                                  aggregates it holds, SHA-256 of every other file
      model_card.md               intended use, population, predictors, performance, limits
      signatures/
        preprocess_<seq>.json     training configuration (network, pooling, target spacing,
                                  box mm/px, slice rule), the fitted intensity standardiser's
                                  landmarks, each member's seed and loc/scale (the centring)
        model_<seq>_member<k>.weights.h5
                                  each member's network (Keras weights; the network is
                                  rebuilt from the configuration; never pickled)
      nomogram/                   absent when Model_clinic+dl kept no covariate
        nomogram.json             the nomogram model file (npc-nomogram/3: coefficients,
                                  coding, point scaling, the baseline cumulative hazard at
                                  the centre as a step function; what `npc nomogram` and
                                  the calculator page read)
        locked.json               the locked risk-group cut-off (total points; centred
                                  linear predictor) and its rule
      development.json            per sequence: the development cohort's range of voxel
                                  spacing and image intensity landmarks (for warnings)

The signatures folder has the run's own layout, so the one loader
(:func:`npc_lib.model.signature.load_signature`) reads both. :func:`load_bundle`
checks every hash; :func:`check_bundle` lists every problem without raising.
Predictions: :func:`predict` (:mod:`npc_lib.run.predict`).

Compatibility promise: a release reads every bundle whose format is
``npc-bundle/N`` with ``N <=`` :data:`BUNDLE_VERSION`; a newer bundle is refused
with a message naming its format.
"""

from __future__ import annotations

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "MANIFEST", "Bundle", "BundleError", "export_bundle", "load_bundle",
           "check_bundle", "derive_bundle", "file_sha256", "predict", "bundle_signatures"]

import datetime as _dt
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from npc_lib._io import atomic_dir, atomic_path, read_json, write_json

BUNDLE_VERSION = 1
BUNDLE_FORMAT = f"npc-bundle/{BUNDLE_VERSION}"
MANIFEST = "manifest.json"
_SIG_DIR = "signatures"
_NOM_DIR = "nomogram"
_NOMOGRAM = f"{_NOM_DIR}/nomogram.json"
_LOCKED = f"{_NOM_DIR}/locked.json"
_DEVELOPMENT = "development.json"
_CARD = "model_card.md"
_MODEL_NAME = "Model_clinic+dl"
_SEQUENCES = ("T1", "T2", "T1C")


class BundleError(ValueError):
    """A bundle that cannot be used; ``problems`` lists every problem found (each naming the file)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        head = f"model bundle: {len(self.problems)} problems:\n  " if len(self.problems) > 1 else "model bundle: "
        super().__init__(head + "\n  ".join(self.problems))


def file_sha256(path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict:
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for pkg, key in (("npc-radiomics-book", "npc_lib"), ("keras", "keras"), ("numpy", "numpy"),
                     ("tensorflow", "tensorflow"), ("torch", "torch")):
        try:
            out[key] = md.version(pkg)
        except md.PackageNotFoundError:
            out[key] = None
    return out


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True, eq=False)
class Bundle:
    """A verified model bundle (:func:`load_bundle`).

    Attributes
    ----------
    path : Path
    manifest : dict
    nomogram : dict or None
        The nomogram model document (``nomogram/nomogram.json``, checked by
        :func:`~npc_lib.stats.nomogram_export.read_nomogram_model`); None when the
        bundle has no nomogram part (the reason: ``manifest["nomogram"]["note"]``).
    locked : dict or None
        ``cutoff_points`` (high risk where total points exceed it), ``cutoff_lp``, ``method``.
    development : dict
        ``rule`` and per sequence the development cohort's ``spacing_mm`` and ``intensity`` ranges.
    """

    path: Path
    manifest: dict
    nomogram: dict | None
    locked: dict | None
    development: dict

    @property
    def sequences(self) -> tuple[str, ...]:
        """The MR sequences of the bundle's signatures."""
        return tuple(self.manifest["sequences"])

    @property
    def signature_dir(self) -> Path:
        return self.path / _SIG_DIR

    @property
    def signatures(self) -> tuple[str, ...]:
        """``DL_<seq>_sig`` of each signature."""
        return tuple(f"DL_{s}_sig" for s in self.sequences)

    @property
    def model_card(self) -> str:
        """The model card (Markdown)."""
        return (self.path / _CARD).read_text(encoding="utf-8")

    def model_card_section(self, level: int = 3) -> str:
        """The model card with its title at heading ``level`` (to show it inside a page)."""
        shift = "#" * (int(level) - 1)
        return "\n".join(shift + line if line.startswith("#") else line for line in self.model_card.splitlines())

    @property
    def sha256(self) -> str:
        """SHA-256 of ``manifest.json`` (which hashes every other file): the bundle's identity."""
        return file_sha256(self.path / MANIFEST)

    def clinical_variables(self) -> list[str]:
        """The clinical variables the nomogram needs (not the signatures), in covariate order."""
        if self.nomogram is None:
            return []
        out: list[str] = []
        for c in self.nomogram["covariates"]:
            v = self.nomogram["coding"][c]["variable"]
            if v not in self.signatures and v not in out:
                out.append(v)
        return out


def _format_version(fmt) -> int | None:
    if isinstance(fmt, str) and fmt.startswith("npc-bundle/"):
        tail = fmt.split("/", 1)[1]
        return int(tail) if tail.isdigit() else None
    return None


def check_bundle(path) -> list[str]:
    """Every problem of the bundle in ``path`` (empty when usable); never raises on bad content.

    Checked: ``manifest.json`` present and readable, its format not newer than
    :data:`BUNDLE_VERSION`, every listed file present with the listed SHA-256,
    no unlisted file, every part readable (signature files, nomogram model,
    locked cut-off, development ranges).
    """
    from npc_lib.model.signature import preprocess_name, read_preprocess, weights_name
    from npc_lib.stats.nomogram_export import read_nomogram_model

    path = Path(path)
    if not path.is_dir():
        return [f"{path}: not a folder (give the bundle folder written by `npc export`)"]
    try:
        manifest = read_json(path / MANIFEST, "model bundle")
    except ValueError as exc:
        return [str(exc)]
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    version = _format_version(fmt)
    if version is None:
        return [f"{MANIFEST}: field format is {fmt!r}, not an npc-bundle format"]
    if version > BUNDLE_VERSION:
        return [f"{MANIFEST}: field format: bundle format {fmt} is newer than this release of npc_lib reads "
                f"(npc-bundle/1 to {BUNDLE_FORMAT}); update npc_lib"]
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return [f"{MANIFEST}: field files must map every file to its SHA-256"]
    problems = [f"{MANIFEST}: field {key} missing" for key in ("sequences", "nomogram", "created")
                if key not in manifest]
    for rel, digest in sorted(files.items()):
        f = path / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            problems.append(f"{rel}: {MANIFEST} lists a file outside the bundle")
        elif not f.is_file():
            problems.append(f"{rel}: file missing (listed in {MANIFEST})")
        elif file_sha256(f) != digest:
            problems.append(f"{rel}: SHA-256 does not match {MANIFEST} (file changed or damaged)")
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()} - {MANIFEST}
    problems += [f"{rel}: file not listed in {MANIFEST} (added after export?)" for rel in sorted(present - set(files))]
    if problems:
        return problems
    seqs = manifest["sequences"]
    if not isinstance(seqs, list) or not seqs or any(s not in _SEQUENCES for s in seqs):
        return [f"{MANIFEST}: field sequences must list some of {_SEQUENCES}, got {seqs!r}"]
    for seq in seqs:
        try:
            pre = read_preprocess(path / _SIG_DIR, seq)
        except ValueError as exc:
            problems.append(f"{_SIG_DIR}/{preprocess_name(seq)}: {exc}")
            continue
        problems += [f"{_SIG_DIR}/{weights_name(seq, k)}: file missing" for k in range(len(pre["members"]))
                     if not (path / _SIG_DIR / weights_name(seq, k)).is_file()]
    if (manifest["nomogram"] or {}).get("present"):
        for rel, reader in ((_NOMOGRAM, read_nomogram_model), (_LOCKED, lambda p: read_json(p, "locked cut-off"))):
            try:
                doc = reader(path / rel)
            except ValueError as exc:
                problems.append(f"{rel}: {exc}")
                continue
            if rel == _LOCKED:
                problems += [f"{rel}: field {k} missing" for k in ("cutoff_points", "cutoff_lp") if k not in doc]
    try:
        read_json(path / _DEVELOPMENT, "development ranges")
    except ValueError as exc:
        problems.append(f"{_DEVELOPMENT}: {exc}")
    return problems


def load_bundle(path) -> Bundle:
    """Open and verify a bundle (every hash); raise :class:`BundleError` listing every problem.

    Examples
    --------
    >>> load_bundle("no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    npc_lib.run.bundle.BundleError: model bundle: no/such/folder: not a folder (give the bundle folder ...)
    """
    from npc_lib.stats.nomogram_export import read_nomogram_model

    problems = check_bundle(path)
    if problems:
        raise BundleError(problems)
    path = Path(path).resolve()
    manifest = read_json(path / MANIFEST, "model bundle")
    present = bool((manifest["nomogram"] or {}).get("present"))
    nomogram = read_nomogram_model(path / _NOMOGRAM) if present else None
    locked = read_json(path / _LOCKED, "locked cut-off") if present else None
    return Bundle(path=path, manifest=manifest, nomogram=nomogram, locked=locked,
                  development=read_json(path / _DEVELOPMENT, "development ranges"))


def predict(bundle, cohort, *, times=(36.0, 60.0), **kwargs):
    """One row per patient: signatures, points, survival, risk group (see :func:`npc_lib.run.predict.predict`)."""
    from npc_lib.run.predict import predict as _predict

    return _predict(bundle, cohort, times=times, **kwargs)


def bundle_signatures(bundle, cohort, **kwargs):
    """Every signature of the bundle for a cohort's patients (see :func:`npc_lib.run.predict.bundle_signatures`)."""
    from npc_lib.run.predict import bundle_signatures as _signatures

    return _signatures(bundle, cohort, **kwargs)


# ----------------------------------------------------------------------------- writing


def _nomogram_part(run, cutoff: Mapping | None) -> tuple[dict | None, dict | None, str]:
    """``(nomogram document, locked document, note)``; Nones and the reason without a nomogram."""
    models = run.models()
    if _MODEL_NAME not in models.models or not models.covariates(_MODEL_NAME):
        return None, None, f"{_MODEL_NAME} kept no covariate in chapter 05: the bundle holds the signatures only"
    if not run.nomogram_path().is_file():
        return None, None, "chapter 06 wrote no nomogram.json: the bundle holds the signatures only"
    nomogram = run.nomogram()
    if cutoff is None:
        cutoff = run.metrics("06_nomogram").get("cutoff")
    if not cutoff or "points" not in cutoff:
        raise ValueError(f"run {run.dir}: no locked risk-group cut-off (chapter 06's metrics.json lacks 'cutoff')")
    points = float(cutoff["points"])
    locked = {"model": _MODEL_NAME, "cutoff_points": points,
              "cutoff_lp": float(nomogram["intercept"]) + points / float(nomogram["scale"]),
              "method": cutoff.get("method"), "rule": "risk_group is 'high' where total_points > cutoff_points "
                                                      "(chapter 06's high_risk = 1), else 'low'",
              "chosen_on": "the training cohort; locked for every other cohort"}
    return nomogram, locked, ""


def _write_manifest(folder: Path, manifest: dict) -> None:
    files = {p.relative_to(folder).as_posix(): file_sha256(p)
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    write_json({**manifest, "files": files}, folder / MANIFEST)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def export_bundle(run, out, *, cutoff: Mapping | None = None, archive: bool = False) -> Path:
    """Write the model bundle of a finished run (chapters 04-06) to ``out``, atomically.

    Parameters
    ----------
    run : Run or path-like
        The run (:class:`npc_lib.run.Run`) or its folder.
    out : path-like
        The bundle folder (replaced whole if it exists).
    cutoff : mapping, optional
        The locked risk-group cut-off (``points``, ``method``); default: chapter 06's results.
    archive : bool
        Also write ``<out>.zip`` (the same files).

    Returns
    -------
    Path
        ``out``.

    Notes
    -----
    A run whose Model_clinic+dl kept no covariate exports its signatures only
    (no ``nomogram/``; ``manifest["nomogram"]["note"]`` says why). The bundle
    is verified (:func:`load_bundle`) before it replaces ``out``.
    """
    from npc_lib.model.signature import preprocess_name, read_preprocess, weights_name
    from npc_lib.run.model_card import (AGGREGATES, development_cohort, development_ranges, development_ranges_name,
                                        performance_summary, render_model_card)
    from npc_lib.run.run import Run
    from npc_lib.stats.nomogram_export import write_model_document

    run = run if isinstance(run, Run) else Run.open(run)
    sig_dir = run.dir / "04_signatures"
    sequences = [s for s in _SEQUENCES if (sig_dir / preprocess_name(s)).is_file()]
    if not sequences:
        raise ValueError(f"run {run.dir}: no trained signature (run chapter 04_signatures first)")
    nomogram, locked, note = _nomogram_part(run, cutoff)
    pre = {s: read_preprocess(sig_dir, s) for s in sequences}
    known = {s: read_json(sig_dir / development_ranges_name(s), "development ranges") for s in sequences
             if (sig_dir / development_ranges_name(s)).is_file()}  # written by the training: no image read again
    development = development_ranges(run.cohort(), {s: pre[s]["instances"]["standardizer"] for s in sequences},
                                     run.patient_ids("train"), known=known)
    manifest = {
        "format": BUNDLE_FORMAT, "created": _now(),
        "software": {**_versions(), "keras_backend_trained": _trained_backend(sig_dir, sequences)},
        "run": {"profile": run.config.name, "config": _public_config(run)},
        "development_cohort": development_cohort(run),
        "sequences": sequences, "signatures": [f"DL_{s}_sig" for s in sequences],
        "members": {s: len(pre[s]["members"]) for s in sequences},
        "preprocessing": {s: {k: pre[s]["instances"].get(k) for k in ("target_spacing", "box_mm", "box_px",
                                                                      "centre", "min_area")} for s in sequences},
        "nomogram": {"present": nomogram is not None, "model": _MODEL_NAME,
                     "covariates": None if nomogram is None else list(nomogram["covariates"]),
                     "times": None if nomogram is None else nomogram["times"], "note": note},
        "parent": None, "aggregates": AGGREGATES,
    }
    card = render_model_card(manifest, nomogram, locked, development, performance_summary(run))
    out = Path(out)
    with atomic_dir(out) as tmp:
        (tmp / _SIG_DIR).mkdir()
        for seq in sequences:
            shutil.copy2(sig_dir / preprocess_name(seq), tmp / _SIG_DIR / preprocess_name(seq))
            for k in range(len(pre[seq]["members"])):
                shutil.copy2(sig_dir / weights_name(seq, k), tmp / _SIG_DIR / weights_name(seq, k))
        if nomogram is not None:
            (tmp / _NOM_DIR).mkdir()
            write_model_document(nomogram, tmp / _NOMOGRAM)
            write_json(locked, tmp / _LOCKED)
        write_json(development, tmp / _DEVELOPMENT)
        (tmp / _CARD).write_text(card, encoding="utf-8")
        _write_manifest(tmp, manifest)
        problems = check_bundle(tmp)
        if problems:
            raise BundleError(problems)
    if archive:
        _archive(out)
    return out


def _trained_backend(sig_dir: Path, sequences) -> str | None:
    for s in sequences:
        path = sig_dir / f"metrics_{s}.json"
        if path.is_file():
            return read_json(path, "signature metrics").get("backend")
    return None


def _public_config(run) -> dict:
    """The run configuration; the cohort folder and mapping file reduced to their names (no local paths)."""
    doc = read_json(run.dir / "run.json", "run configuration")
    cohort = dict(doc.get("cohort") or {})
    for key in ("dir", "mapping"):
        if cohort.get(key):
            cohort[key] = Path(str(cohort[key])).name
    return {**doc, "cohort": cohort}


def _archive(folder: Path) -> Path:
    target = folder.with_name(folder.name + ".zip")
    with atomic_path(target) as tmp:
        made = shutil.make_archive(str(tmp.with_name(tmp.name + "_z")), "zip", root_dir=folder)
        Path(made).replace(tmp)
    return target


def derive_bundle(parent, nomogram_doc, out, *, note: str, cutoff_points: float | None = None) -> Path:
    """Write a bundle whose nomogram is an updated model; networks, preprocessing and ranges unchanged.

    Parameters
    ----------
    parent : Bundle or path-like
        The bundle updated (verified).
    nomogram_doc : mapping or path-like
        The updated nomogram model document, e.g.
        :func:`~npc_lib.stats.nomogram_export.updated_nomogram_model` (a new
        baseline, a recalibration) or a refitted model with ``update={"kind": "refit"}``;
        it must name its parent and what was updated (fields ``parent`` and ``update``).
    out : path-like
        The new bundle folder (written atomically, verified).
    note : str
        Why and where it was updated (e.g. "baseline re-estimated on centre B, 200 patients, 41 events").
    cutoff_points : float, optional
        A new risk-group cut-off in total points; default: the parent's (an
        updated baseline or a recalibration keeps every patient's points).

    Returns
    -------
    Path
        ``out``. Its manifest's ``parent`` names the parent bundle (SHA-256,
        creation time, format), the update (``nomogram_doc["update"]``) and ``note``.
    """
    from npc_lib.stats.nomogram_export import read_nomogram_model, write_model_document

    parent = parent if isinstance(parent, Bundle) else load_bundle(parent)
    if isinstance(nomogram_doc, (str, Path)):
        nomogram_doc = read_nomogram_model(nomogram_doc)
    if not isinstance(nomogram_doc, Mapping):
        raise ValueError(f"nomogram_doc must be a model document or its file, got {type(nomogram_doc).__name__}")
    if not nomogram_doc.get("update") or not nomogram_doc.get("parent"):
        raise ValueError("nomogram_doc: fields 'parent' and 'update' must say which model it updates and how "
                         "(stats.nomogram_export.updated_nomogram_model writes them)")
    missing = [v for v in nomogram_doc.get("covariates", []) if v.startswith("DL_") and v not in parent.signatures]
    if missing:
        raise ValueError(f"nomogram_doc: covariate(s) {missing} are not signatures of the parent bundle "
                         f"({', '.join(parent.signatures)})")
    if cutoff_points is None and not parent.locked:
        raise ValueError("cutoff_points: the parent bundle has no locked cut-off (no nomogram); give one")
    points = float(parent.locked["cutoff_points"] if cutoff_points is None else cutoff_points)
    out = Path(out)
    with atomic_dir(out) as tmp:
        shutil.copytree(parent.path / _SIG_DIR, tmp / _SIG_DIR)
        shutil.copy2(parent.path / _DEVELOPMENT, tmp / _DEVELOPMENT)
        (tmp / _NOM_DIR).mkdir()
        write_model_document(nomogram_doc, tmp / _NOMOGRAM)
        locked = {**(parent.locked or {}), "cutoff_points": points,
                  "cutoff_lp": float(nomogram_doc["intercept"]) + points / float(nomogram_doc["scale"])}
        if cutoff_points is not None:
            locked["method"] = "given when the bundle was derived"
        write_json(locked, tmp / _LOCKED)
        manifest = {k: v for k, v in parent.manifest.items() if k != "files"}
        update = dict(nomogram_doc["update"])
        manifest.update(created=_now(), parent={"sha256": parent.sha256, "created": parent.manifest["created"],
                                                "format": parent.manifest["format"], "update": update,
                                                "note": str(note)})
        manifest["nomogram"] = {**manifest["nomogram"], "present": True,
                                "covariates": list(nomogram_doc["covariates"]), "times": list(nomogram_doc["times"])}
        card = parent.model_card + (
            f"\n\n## Derived bundle\n\nThis bundle's nomogram is an update ({update['kind']}) of the parent "
            f"bundle's (SHA-256 {parent.sha256}): {note}. The networks, their preprocessing and the development "
            f"ranges are the parent's, unchanged; the performance above is the parent's, on its development "
            f"cohort. Risk-group cut-off: {points:g} total points.\n")
        (tmp / _CARD).write_text(card, encoding="utf-8")
        _write_manifest(tmp, manifest)
        problems = check_bundle(tmp)
        if problems:
            raise BundleError(problems)
    return out
