"""A run folder and what is in it: :class:`Run`.

A run is a folder (``runs/<profile>`` by default) holding its resolved
configuration (``run.json``), the training/test split (``split.csv``), one
folder per chapter with that chapter's outputs, and the executed notebooks.
:class:`Run` opens it and hands out each artefact through one reader (and the
shared ones through one writer):

================  =======================================  =========================
artefact          where                                    reader / writer
================  =======================================  =========================
configuration     ``run.json``                             :attr:`Run.config`
cohort            the profile's twin or ``cohort_dir``     :meth:`Run.cohort`
split             ``split.csv``                            :meth:`Run.split`
training config   ``run.json``                             :attr:`Run.train_config`
signatures        ``04_signatures/signature_<seq>.csv``    :meth:`Run.signatures`
models            ``05_models/models.json``                :meth:`Run.models`, :meth:`Run.write_models`
nomogram          ``06_nomogram/nomogram.json``            :meth:`Run.nomogram`
risk groups       ``06_nomogram/patient_risk_groups.csv``  :meth:`Run.risk_groups`
================  =======================================  =========================

In a chapter, :meth:`Run.for_chapter` opens ``run_dir`` when it holds a run
(under ``npc run``), or resolves the smoke profile (or another) plus the
notebook's overrides into a new run there (a chapter executed by hand with
papermill on an empty folder).
"""

from __future__ import annotations

__all__ = ["Run", "CONFIG_FILE", "SPLIT_FILE"]

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from npc_lib.run.artefacts import ModelsFile, read_models, write_models
from npc_lib.run.config import RunConfig, resolve_profile
from npc_lib.run.results.registry import MODELS, NOMOGRAM, SIGNATURES

CONFIG_FILE = "run.json"
SPLIT_FILE = "split.csv"
_OVERRIDABLE = ("n_patients", "cohort_seed", "split_seed", "cohort_dir", "train_fraction")


_RISK_GROUP_COLUMNS = ("patient_id", "cohort", "points", "high_risk")


def _check_risk_groups(df: pd.DataFrame, source: str) -> None:
    missing = [c for c in _RISK_GROUP_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: column(s) {missing} missing")
    bad = sorted(set(df["high_risk"].tolist()) - {0, 1})
    if bad:
        raise ValueError(f"{source}: high_risk must be 0 or 1, got {bad}")
    if df["patient_id"].duplicated().any():
        raise ValueError(f"{source}: patient(s) listed twice: {sorted(df.loc[df.patient_id.duplicated(), 'patient_id'])}")


def _config_value(config: RunConfig, key: str) -> Any:
    return {"n_patients": config.cohort.n_patients, "cohort_seed": config.cohort.seed,
            "split_seed": config.split.seed, "cohort_dir": config.cohort.dir,
            "train_fraction": config.split.train_fraction}[key]


class Run:
    """An open run folder.

    Parameters
    ----------
    run_dir : path-like
        The folder (must hold ``run.json``; see :meth:`create`, :meth:`open`).
    config : RunConfig

    Examples
    --------
    >>> import tempfile
    >>> run = Run.create(tempfile.mkdtemp(), resolve_profile("smoke"))
    >>> Run.open(run.dir).config == run.config
    True
    """

    def __init__(self, run_dir: str | os.PathLike, config: RunConfig):
        self.dir = Path(run_dir).resolve()
        self.config = config
        self._cohort_dir: Path | None = None
        self._cohort_stamp: str | None = None
        self._cohorts: dict[tuple, Any] = {}

    def __repr__(self) -> str:
        return f"Run({str(self.dir)!r}, profile={self.config.name!r})"

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: str | os.PathLike, config: RunConfig) -> "Run":
        """Start (or continue) a run in ``run_dir`` with ``config``.

        A folder that already holds a run with another configuration keeps it
        only if they agree; otherwise its ``run.json`` is replaced (the
        chapters' stamps then make ``npc run`` execute them again).
        """
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / CONFIG_FILE
        if not path.is_file() or RunConfig.read(path) != config:
            config.write(path)
            (run_dir / SPLIT_FILE).unlink(missing_ok=True)  # a new configuration draws its split anew
        return cls(run_dir, config)

    @classmethod
    def open(cls, run_dir: str | os.PathLike) -> "Run":
        """Open an existing run (``run_dir/run.json``)."""
        path = Path(run_dir) / CONFIG_FILE
        if not path.is_file():
            raise ValueError(f"run_dir: {run_dir} holds no run ({CONFIG_FILE} missing); "
                             f"start one with `npc run` or Run.for_chapter")
        return cls(run_dir, RunConfig.read(path))

    @classmethod
    def for_chapter(cls, run_dir: str | os.PathLike, *, profile: str = "smoke", **overrides: Any) -> "Run":
        """The run a chapter works in.

        Parameters
        ----------
        run_dir : path-like
            Under ``npc run``: the run's folder (holding ``run.json``). Run by
            hand on an empty or new folder: a run is created there from
            ``profile`` and ``overrides``.
        profile : str
            Profile name or YAML file used when ``run_dir`` holds no run.
        **overrides
            ``n_patients``, ``cohort_seed``, ``split_seed``, ``train_fraction``,
            ``cohort_dir``; ``None`` or ``""`` means "the profile's".

        Raises
        ------
        ValueError
            An override that contradicts the run already in ``run_dir``
            (use another ``run_dir``), or an unknown override.
        """
        unknown = sorted(set(overrides) - set(_OVERRIDABLE))
        if unknown:
            raise ValueError(f"unknown override(s) {unknown}; known: {', '.join(_OVERRIDABLE)}")
        given = {k: v for k, v in overrides.items() if v is not None and v != ""}
        if (Path(run_dir) / CONFIG_FILE).is_file():
            run = cls.open(run_dir)
            clash = {k: v for k, v in given.items() if _config_value(run.config, k) != v
                     and not (k == "cohort_dir" and Path(str(v)).resolve() == Path(str(run.config.cohort.dir)))}
            if clash:
                raise ValueError(f"run_dir {run_dir} holds a run of profile {run.config.name!r} with other "
                                 f"settings than {clash}; use an empty run_dir for other parameters")
            return run
        return cls.create(run_dir, resolve_profile(profile, given))

    @classmethod
    def chapter(cls, chapter: str, parameters: Mapping[str, Any]) -> tuple["Run", Path]:
        """A chapter's run and output folder, from the chapter's papermill parameters.

        Parameters
        ----------
        chapter : str
            The chapter folder (:mod:`npc_lib.run.results.registry`: ``MODELS``...).
        parameters : mapping
            The notebook's parameters (its ``globals()``): ``run_dir``,
            ``profile`` and whichever overrides it has (``n_patients``,
            ``cohort_seed``, ``split_seed``, ``train_fraction``, ``cohort_dir``),
            passed to :meth:`for_chapter`.

        Examples
        --------
        >>> import tempfile
        >>> run, out = Run.chapter("05_models", {"run_dir": tempfile.mkdtemp(), "profile": "smoke", "n_patients": None})
        >>> out.name, out.is_dir()
        ('05_models', True)
        """
        from npc_lib.run.results.registry import CHAPTERS

        name = Path(chapter).name
        if name not in CHAPTERS:
            raise ValueError(f"chapter {name!r} is not in the book ({', '.join(CHAPTERS)})")
        if "run_dir" not in parameters:
            raise ValueError(f"chapter {name}: parameters lack run_dir")
        run = cls.for_chapter(parameters["run_dir"], profile=parameters.get("profile") or "smoke",
                              **{k: parameters[k] for k in _OVERRIDABLE if k in parameters})
        return run, run.chapter_dir(name)

    # -- folders ---------------------------------------------------------------------------
    def chapter_dir(self, chapter: str) -> Path:
        """The output folder of ``chapter`` (``"04_signatures"``), created if needed."""
        out = self.dir / Path(chapter).name
        out.mkdir(parents=True, exist_ok=True)
        return out

    @property
    def train_config(self):
        """The :class:`~npc_lib.model.train_config.TrainConfig` of this run."""
        return self.config.train

    # -- cohort and split ------------------------------------------------------------------
    def cohort_dir(self, *, progress: bool = False) -> Path:
        """The cohort folder: a user's, or the profile's twin (simulated on first use)."""
        if self._cohort_dir is None:
            from npc_lib.run.cohort_source import ensure_cohort

            self._cohort_dir, self._cohort_stamp = ensure_cohort(self.config.cohort, progress=progress)
        return self._cohort_dir

    def cohort_stamp(self, *, progress: bool = False) -> str:
        """A hash of the cohort's content (chapters are re-executed when it changes)."""
        self.cohort_dir(progress=progress)
        return str(self._cohort_stamp)

    def cohort(self, *, check_images: str = "none", sequences: Iterable[str] | None = None):
        """The loaded, validated :class:`~npc_lib.cohort.load.Cohort` (cached per check level).

        ``sequences=None``: the sequences present in the cohort (a cohort may
        lack one); the profile's column mapping and ROI label apply.
        """
        from npc_lib.cohort.load import load_cohort

        seqs = None if sequences is None else tuple(sequences)
        key = (check_images, seqs)
        if key not in self._cohorts:
            self._cohorts[key] = load_cohort(self.cohort_dir(), sequences=seqs, check_images=check_images,
                                             mapping=self.config.cohort.mapping,
                                             roi_label=self.config.cohort.roi_label)
        return self._cohorts[key]

    @property
    def sequences(self) -> tuple[str, ...]:
        """The MR sequences the cohort has (a sequence absent for every patient is left out)."""
        return tuple(self.cohort().sequences)

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The endpoints the cohort's table has (``dfs`` always; ``os``, ``dmfs``, ``lrfs`` when present)."""
        return tuple(self.cohort().endpoints)

    def signature_columns(self) -> tuple[str, ...]:
        """``DL_<seq>_sig`` of each sequence with a trained signature in chapter 04."""
        from npc_lib.cohort import schema
        from npc_lib.cohort.covariates import signature_name

        folder = self.dir / SIGNATURES
        return tuple(signature_name(s) for s in schema.SEQUENCES if (folder / f"signature_{s}.csv").is_file())

    def clinical(self) -> pd.DataFrame:
        """The validated clinical table (one row per patient)."""
        return self.cohort().clinical

    def split(self) -> pd.DataFrame:
        """The training/test split (``patient_id``, ``cohort``), drawn once per run.

        Made from the cohort's patient ids and the profile's split settings on
        first use and kept as ``split.csv``; every chapter and runner reads it.
        """
        from npc_lib.cohort.split import read_split, split_cohort, write_split

        path = self.dir / SPLIT_FILE
        ids = self.cohort().patient_ids
        if not path.is_file():
            s = self.config.split
            write_split(split_cohort(ids, train_fraction=s.train_fraction, seed=s.seed), path)
        return read_split(path, patient_ids=ids)

    def patient_ids(self, cohort: str) -> list[str]:
        """Ids of the ``"train"`` or ``"test"`` cohort."""
        if cohort not in ("train", "test"):
            raise ValueError(f"cohort must be 'train' or 'test', got {cohort!r}")
        split = self.split()
        return split.loc[split["cohort"] == cohort, "patient_id"].tolist()

    # -- results of chapters ---------------------------------------------------------------
    def signatures(self, sequences: Iterable[str] | None = None) -> pd.DataFrame:
        """The DL signatures of chapter 04 (``patient_id``, ``cohort``, ``DL_<seq>_sig``...)."""
        from npc_lib.cohort import schema
        from npc_lib.cohort.covariates import read_signatures

        folder = self.dir / SIGNATURES
        seqs = tuple(sequences) if sequences is not None else tuple(
            s for s in schema.SEQUENCES if (folder / f"signature_{s}.csv").is_file())
        if not seqs:
            raise ValueError(f"run {self.dir}: no signatures yet (run chapter 04_signatures first)")
        return read_signatures(folder, seqs)

    def model_frame(self, endpoint: str = "dfs", *, with_signatures: bool = True) -> pd.DataFrame:
        """One row per patient: cohort, ``time``/``event`` of ``endpoint``, coded covariates, signatures."""
        from npc_lib.cohort.covariates import model_frame

        sig = self.signatures() if with_signatures else None
        return model_frame(self.clinical(), self.split(), sig, endpoint=endpoint)

    def models_path(self) -> Path:
        return self.dir / MODELS / "models.json"

    def write_models(self, models, *, ties: str, coding) -> Path:
        """Write chapter 05's ``models.json`` (:func:`npc_lib.run.artefacts.write_models`)."""
        return write_models(self.models_path(), models, ties=ties, coding=coding)

    def models(self) -> ModelsFile:
        """Chapter 05's models (:func:`npc_lib.run.artefacts.read_models`)."""
        return read_models(self.models_path())

    def fitted_models(self, train: pd.DataFrame) -> dict[str, Any]:
        """Chapter 05's models refitted on ``train`` (coefficients checked against ``models.json``)."""
        from npc_lib.run.artefacts import refit_models

        return refit_models(self.models(), train)

    def nomogram_path(self) -> Path:
        """Chapter 06's exported nomogram model (``nomogram.json``)."""
        return self.dir / NOMOGRAM / "nomogram.json"

    def nomogram(self) -> dict:
        """Chapter 06's nomogram model, read and checked (:func:`~npc_lib.stats.nomogram_export.read_nomogram_model`)."""
        from npc_lib.stats.nomogram_export import read_nomogram_model

        if not self.nomogram_path().is_file():
            raise ValueError(f"run {self.dir}: no nomogram.json yet (run chapter 06_nomogram first)")
        return read_nomogram_model(self.nomogram_path())

    def write_nomogram(self, nomogram, **kwargs) -> Path | None:
        """Write chapter 06's ``nomogram.json`` (:func:`~npc_lib.stats.nomogram_export.write_nomogram_model`).

        ``nomogram=None`` (a model without covariate has no nomogram): no
        file, and one left by an earlier execution is removed.
        """
        from npc_lib.stats.nomogram_export import write_nomogram_model

        if nomogram is None:
            self.nomogram_path().unlink(missing_ok=True)
            return None
        return write_nomogram_model(nomogram, self.nomogram_path(), **kwargs)

    def write_risk_groups(self, groups: pd.DataFrame | None) -> Path | None:
        """Write chapter 06's locked risk groups (``patient_id, cohort, points, high_risk``).

        ``groups=None`` (no nomogram, no risk groups): no file, and one left
        by an earlier execution is removed.
        """
        from npc_lib._io import atomic_path

        path = self.risk_groups_path()
        if groups is None:
            path.unlink(missing_ok=True)
            return None
        _check_risk_groups(groups, "groups")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            groups[list(_RISK_GROUP_COLUMNS)].to_csv(tmp, index=False)
        return path

    def risk_groups_path(self) -> Path:
        """Chapter 06's locked risk groups per patient (``patient_risk_groups.csv``)."""
        return self.dir / NOMOGRAM / "patient_risk_groups.csv"

    def risk_groups(self) -> pd.DataFrame:
        """``patient_id, cohort, points, high_risk`` of every patient (chapter 06's locked cut-off)."""
        path = self.risk_groups_path()
        if not path.is_file():
            raise ValueError(f"run {self.dir}: no patient_risk_groups.csv yet (run chapter 06_nomogram first)")
        df = pd.read_csv(path, dtype={"patient_id": str})
        _check_risk_groups(df, str(path))
        return df

    def results(self, chapter: str):
        """The typed results chapter ``chapter`` wrote (:func:`npc_lib.run.results.read_results`)."""
        from npc_lib.run.results import read_results

        return read_results(self.dir, chapter)

    def write_results(self, results) -> Path:
        """Write a chapter's typed results (:func:`npc_lib.run.results.write_results`)."""
        from npc_lib.run.results import write_results

        return write_results(self.dir, results)

    def metrics(self, chapter: str) -> dict:
        """The ``metrics.json`` a chapter wrote, as JSON data (checked by its results type when it has one)."""
        from npc_lib._io import read_json
        from npc_lib.run.results import CHAPTERS

        name = Path(chapter).name
        if CHAPTERS.get(name) is not None:
            return self.results(name).to_dict()
        path = self.dir / name / "metrics.json"
        if not path.is_file():
            raise ValueError(f"run {self.dir}: chapter {chapter} has not run (no {path.name})")
        return read_json(path, f"chapter {name}")

    def truth(self) -> pd.DataFrame | None:
        """ORACLE ONLY: the twin's ``truth.csv``, or ``None`` for a real cohort."""
        from npc_lib.twin.truth import read_truth

        return read_truth(self.cohort_dir())
