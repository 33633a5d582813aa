"""A run's configuration: a profile resolved once into one validated, typed object.

A *profile* is a YAML mapping (``book/params/<name>.yml``, or any file with the
same keys). :func:`resolve_profile` reads it once, checks every key and type
(an unknown or mistyped key is named in the error), merges the training
preset with the profile's ``train:`` overrides into a
:class:`~npc_lib.model.train_config.TrainConfig`, checks the per-chapter
parameters against each chapter's ``parameters`` cell, and returns a frozen
:class:`RunConfig`. The run folder keeps it as ``run.json``
(:meth:`RunConfig.write`, :meth:`RunConfig.read`); every chapter, runner and
command of that run reads the same object.

Profile keys
------------
``profile`` (str, required)
    The run's name (``runs/<profile>`` by default); any name.
``train_preset`` (str)
    Training preset (:data:`npc_lib.model.train_config.PRESETS`); default:
    ``profile`` when that is a preset's name, else ``"default"``.
``n_patients``, ``cohort_seed`` (int)
    Size and seed of the simulated twin (ignored with ``cohort_dir``).
``cohort_dir`` (str or null)
    A cohort folder in the SPEC layout instead of the twin (relative paths are
    relative to the profile file).
``mapping`` (str or null), ``roi_label`` (int or null)
    A column-mapping YAML for a user's table, and the mask label of the tumour.
``split_seed`` (int), ``train_fraction`` (float in (0, 1))
    The random training/test split.
``train`` (mapping)
    Overrides of the preset's :class:`TrainConfig` fields (``network``: a
    mapping of :class:`~npc_lib.model.seresnext.SEResNeXtConfig` fields).
``chapters`` (mapping)
    ``{chapter name: {parameter: value}}``: a chapter's own knobs.
"""

from __future__ import annotations

__all__ = ["RunConfig", "CohortSettings", "SplitSettings", "resolve_profile", "chapter_knobs", "PROFILE_KEYS"]

import ast
import dataclasses
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from npc_lib._io import read_json, write_json
from npc_lib.model.train_config import PRESETS as TRAIN_PRESETS
from npc_lib.model.train_config import TrainConfig
from npc_lib.profiles import params_dir, project_root

#: every key a profile may hold, with its type(s); ``None`` allowed where listed
PROFILE_KEYS: dict[str, tuple[type, ...]] = {
    "profile": (str,),
    "train_preset": (str,),
    "n_patients": (int,),
    "cohort_seed": (int,),
    "cohort_dir": (str, type(None)),
    "mapping": (str, type(None)),
    "roi_label": (int, type(None)),
    "split_seed": (int,),
    "train_fraction": (float, int),
    "train": (dict, type(None)),
    "chapters": (dict, type(None)),
}
_REQUIRED = ("profile",)
_DEFAULTS: dict[str, Any] = {"n_patients": 638, "cohort_seed": 0, "split_seed": 2020, "train_fraction": 0.7006}
#: parameters every chapter has (filled by the run, not by a profile's ``chapters:``)
RUN_PARAMETERS = ("run_dir", "profile", "n_patients", "cohort_seed", "split_seed", "cohort_dir")


def _check_type(where: str, key: str, value: Any, types: tuple[type, ...]) -> None:
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise ValueError(f"{where}: {key} must be {names}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class CohortSettings:
    """Where the cohort comes from: a simulated twin (``n_patients``, ``seed``) or a folder (``dir``)."""

    n_patients: int = 638
    seed: int = 0
    dir: str | None = None
    mapping: str | None = None
    roi_label: int | None = None

    def __post_init__(self):
        if self.n_patients < 2:
            raise ValueError(f"n_patients must be at least 2, got {self.n_patients}")


@dataclasses.dataclass(frozen=True)
class SplitSettings:
    """The random training/test split (:func:`npc_lib.cohort.split.split_cohort`)."""

    seed: int = 2020
    train_fraction: float = 0.7006

    def __post_init__(self):
        if not 0.0 < float(self.train_fraction) < 1.0:
            raise ValueError(f"train_fraction must lie strictly between 0 and 1, got {self.train_fraction!r}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, resolved once from a profile.

    Attributes
    ----------
    name : str
        The profile's ``profile`` key.
    cohort : CohortSettings
    split : SplitSettings
    train_preset : str
        The :class:`TrainConfig` preset the ``train`` overrides start from.
    train : TrainConfig
        The training configuration every signature of the run uses.
    chapters : dict
        ``{chapter name: {parameter: value}}``, checked against the chapters.
    source : str
        The profile's name or file it was resolved from.
    """

    name: str
    cohort: CohortSettings
    split: SplitSettings
    train_preset: str
    train: TrainConfig
    chapters: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    source: str = ""

    def chapter_parameters(self, chapter: str) -> dict[str, Any]:
        """This run's knobs for one chapter (``chapters:`` of the profile), a new dict."""
        return dict(self.chapters.get(chapter, {}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``train`` as :meth:`TrainConfig.to_dict`)."""
        return {"name": self.name, "source": self.source, "cohort": dataclasses.asdict(self.cohort),
                "split": dataclasses.asdict(self.split), "train_preset": self.train_preset,
                "train": self.train.to_dict(), "chapters": {k: dict(v) for k, v in self.chapters.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunConfig":
        """Inverse of :meth:`to_dict`.

        Examples
        --------
        >>> cfg = resolve_profile("smoke")
        >>> RunConfig.from_dict(cfg.to_dict()) == cfg
        True
        """
        try:
            return cls(name=d["name"], source=d.get("source", ""), cohort=CohortSettings(**d["cohort"]),
                       split=SplitSettings(**d["split"]), train_preset=d["train_preset"],
                       train=TrainConfig.from_dict(d["train"]), chapters=dict(d.get("chapters") or {}))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"run configuration: malformed ({exc})") from exc

    def write(self, path: str | os.PathLike) -> Path:
        """Write as strict JSON, atomically."""
        return write_json(self.to_dict(), path)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "RunConfig":
        """Read a file written by :meth:`write`."""
        return cls.from_dict(read_json(path, "run configuration"))

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


# -- chapters' parameter cells ------------------------------------------------------------------
@lru_cache(maxsize=None)
def _parameters_of(md_path: str, mtime_ns: int) -> dict[str, Any]:
    text = Path(md_path).read_text(encoding="utf-8")
    marker = ":tags: [parameters"
    i = text.find(marker)
    if i < 0:
        return {}
    body = text[text.index("\n", i) + 1:text.index("```", i)]
    out: dict[str, Any] = {}
    for node in ast.parse(body).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def chapter_knobs(chapter: str) -> dict[str, Any]:
    """The parameters (name -> default literal) of a chapter's ``parameters`` cell.

    ``chapter`` is a chapter name (``"04_signatures"``) of ``book/``.

    Examples
    --------
    >>> "run_dir" in chapter_knobs("01_cohort")
    True
    """
    md = project_root() / "book" / f"{chapter}.md"
    if not md.is_file():
        raise ValueError(f"chapters: unknown chapter {chapter!r}")
    return _parameters_of(str(md), md.stat().st_mtime_ns)


def _check_chapters(where: str, chapters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, knobs in chapters.items():
        if not isinstance(knobs, dict):
            raise ValueError(f"{where}: chapters.{name} must be a mapping of parameters")
        known = chapter_knobs(str(name))
        for key, value in knobs.items():
            if key in RUN_PARAMETERS:
                raise ValueError(f"{where}: chapters.{name}.{key} is set by the run, not per chapter "
                                 f"(use the profile's top-level key)")
            if key not in known:
                raise ValueError(f"{where}: chapters.{name}.{key}: unknown parameter of {name}; "
                                 f"known: {', '.join(k for k in known if k not in RUN_PARAMETERS)}")
            default = known[key]
            types: tuple[type, ...] = (float, int) if isinstance(default, float) else (type(default),)
            if default is not None:
                _check_type(where, f"chapters.{name}.{key}", value, types)
        out[str(name)] = dict(knobs)
    return out


# -- resolution ---------------------------------------------------------------------------------
def _read_profile(name_or_path: str | os.PathLike) -> tuple[dict[str, Any], str, Path | None]:
    import yaml

    path = Path(name_or_path)
    if path.suffix not in (".yml", ".yaml"):
        name = str(name_or_path)
        path = params_dir() / f"{name}.yml"
        if not name or not path.is_file():
            known = sorted(p.stem for p in params_dir().glob("*.yml"))
            raise ValueError(f"profile: unknown profile {name!r}; known: {', '.join(known)} (or give a YAML file)")
    if not path.is_file():
        raise ValueError(f"profile: file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"profile: {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"profile: {path} must hold a mapping of keys")
    return data, str(path), path.parent


def resolve_profile(profile: str | os.PathLike | Mapping[str, Any] = "default",
                    overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Resolve a profile (name, YAML file or mapping) and overrides into a :class:`RunConfig`.

    Parameters
    ----------
    profile : str, path or mapping
        ``smoke``, ``default``, ``paper``, a YAML file with the keys of the
        module docstring, or such a mapping.
    overrides : mapping, optional
        Top-level keys replacing the profile's (``None`` values are ignored),
        e.g. ``{"n_patients": 60, "cohort_dir": "/data/mine"}``.

    Raises
    ------
    ValueError
        An unknown or mistyped key (named), an unknown chapter or chapter
        parameter, an invalid training field.

    Examples
    --------
    >>> cfg = resolve_profile("smoke", {"split_seed": 7})
    >>> cfg.name, cfg.split.seed, cfg.train.epochs_cox
    ('smoke', 7, 3)
    """
    if isinstance(profile, Mapping):
        data, where, base = dict(profile), "profile", None
    else:
        data, where, base = _read_profile(profile)
        where = f"profile {where}"
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None and v != ""}}
    unknown = sorted(set(data) - set(PROFILE_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {', '.join(PROFILE_KEYS)}")
    for key in _REQUIRED:
        if key not in data:
            raise ValueError(f"{where}: the key {key!r} is required")
    for key, value in data.items():
        _check_type(where, key, value, PROFILE_KEYS[key])
    values = {**_DEFAULTS, **data}
    name = values["profile"]
    preset = values.get("train_preset") or (name if name in TRAIN_PRESETS else "default")
    if preset not in TRAIN_PRESETS:
        raise ValueError(f"{where}: train_preset must be one of {TRAIN_PRESETS}, got {preset!r}")
    try:
        train = TrainConfig.for_preset(preset, dict(values.get("train") or {}))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: train: {exc}") from exc
    cohort_dir = values.get("cohort_dir") or None
    mapping = values.get("mapping") or None
    if base is not None:
        cohort_dir = str((base / cohort_dir).resolve()) if cohort_dir and not Path(cohort_dir).is_absolute() else cohort_dir
        mapping = str((base / mapping).resolve()) if mapping and not Path(mapping).is_absolute() else mapping
    try:
        cohort = CohortSettings(n_patients=values["n_patients"], seed=values["cohort_seed"], dir=cohort_dir,
                                mapping=mapping, roi_label=values.get("roi_label"))
        split = SplitSettings(seed=values["split_seed"], train_fraction=float(values["train_fraction"]))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    chapters = _check_chapters(where, values.get("chapters") or {})
    return RunConfig(name=name, cohort=cohort, split=split, train_preset=preset, train=train,
                     chapters=chapters, source=str(profile) if not isinstance(profile, Mapping) else "mapping")
