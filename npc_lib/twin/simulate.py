"""The digital-twin cohort: clinical table, latent tumour phenotype, true risk, images.

Generative model (every number below is a module constant, cited by the book)
----------------------------------------------------------------------------
**Latent tumour phenotype.** Each patient has five standard-normal latent
variables (:data:`LATENT_COLUMNS`) with the correlation matrix
:data:`LATENT_CORRELATION` (0.25-0.45: aggressive tumours tend to be big,
invasive, necrotic and poorly enhancing together):

* ``z_size``: tumour burden (tumour radius ~ 12 mm x exp(0.2 z));
* ``z_invasion``: skull-base invasion depth and margin irregularity;
* ``z_heterogeneity``: amplitude of the internal texture;
* ``z_necrosis``: size and signal of a central necrotic core;
* ``z_enhancement``: enhancement deficit (high = weak, rim-like enhancement).

plus ``z_inflammation`` (systemic inflammation, no image trace).

**Clinical table** (Table 1 of Zhong et al. 2020). Age ~ normal(41.65, 10.2)
truncated to 10-69 years; 69.3% men; smoking 42% of men and 3% of women;
drinking mostly among male smokers (~9% overall); family history of cancer
29%; WHO type I-II 2.5%. HGB ~ normal(145, 10.5) g/L in men and (127.5, 10.5)
in women, lowered by inflammation and in a 3% anaemic minority;
ALB ~ normal(44.6, 3.1) g/L, lowered by inflammation. CRP (median ~1.76 mg/L,
log-SD 1.1) and LDH (median ~176 U/L, log-SD 0.26) are log-normal below the
median and log-t (6 df) above it (long upper tails); CRP rises with
inflammation, necrosis and size, LDH with size and inflammation (so the two
correlate). Pre-EBV DNA: 10% undetectable (0), otherwise log10 copies/mL =
3.5 + 1.15 x a normal latent correlated 0.35 with ``z_size``. Values are
rounded as a laboratory reports them; the scanner is A, B or C with shares
:data:`SCANNER_SHARES`.

**True risk** (log relative hazard, higher = worse; :data:`RISK_COEFFICIENTS`)::

    lp_clinical = 0.02 (age - 42) + 0.6 ln(LDH / 176) + 0.1 (log10(EBV + 1) - 3)
                  + 0.08 ln(CRP / 1.76) + 0.2 [male] - 0.160   (centred)
    lp_T1  = 0.40 z_size + 0.28 z_invasion           (size, skull-base invasion)
    lp_T2  = 0.30 z_heterogeneity + 0.38 z_necrosis  (texture, necrotic core)
    lp_T1C = 0.52 z_enhancement                      (enhancement pattern)
    lp_image = lp_T1 + lp_T2 + lp_T1C;  lp_total = lp_clinical + lp_image

``lp_<seq>`` is the part of the image risk that is shown specifically by that
sequence (the tumour outline, hence its size, is visible on all three).
Outcomes are drawn by :func:`npc_lib.twin.outcomes.simulate_outcomes`: DFS is
an exact Weibull-Cox model in ``lp_total`` (shape 0.9, scale 820 months; about
18% events); the first failure is a locoregional relapse (32%), a distant
metastasis (55%) or a death (13%), and OS, DMFS and LRFS follow from it.
Entry is spread over 2010-01 to 2016-03 (Beta(3.1, 1.7), rising), follow-up
ends on 2019-10-19 or at a loss to follow-up (mean 60 years): median
follow-up about 5.5 years. The
population oracle Harrell C-index on DFS is about 0.82 for ``lp_total``,
0.67 for ``lp_clinical``, 0.76 for ``lp_T1``, 0.75 for ``lp_T2`` and 0.72 for
``lp_T1C`` (a 638-patient cohort varies by about +-0.02-0.04 around these).

**Images** are drawn by :func:`npc_lib.twin.phantom.synthesize_patient`
from the latent phenotype (see that module for the anatomy, the tissue
contrasts of T1, T2 and T1C and the three scanners).
"""

from __future__ import annotations

__all__ = [
    "simulate_clinical",
    "simulate_cohort",
    "LATENT_COLUMNS",
    "LATENT_CORRELATION",
    "RISK_COEFFICIENTS",
    "IMAGE_COEFFICIENTS",
    "SCANNER_SHARES",
    "patient_ids",
    "CENTRE_FILE",
]

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from npc_lib._io import atomic_dir, write_csv, write_json
from npc_lib.cohort import schema
from npc_lib.twin.centres import DEVELOPMENT, CaseMix, Centre
from npc_lib.twin.centres import centre as _centre
from npc_lib.twin.outcomes import simulate_outcomes

#: latent tumour phenotype variables (standard normal), as in the ``latent`` table
LATENT_COLUMNS: tuple[str, ...] = (
    "z_size",
    "z_invasion",
    "z_heterogeneity",
    "z_necrosis",
    "z_enhancement",
)
#: correlation matrix of :data:`LATENT_COLUMNS`
LATENT_CORRELATION = np.array(
    [
        [1.00, 0.45, 0.25, 0.40, 0.30],
        [0.45, 1.00, 0.25, 0.30, 0.30],
        [0.25, 0.25, 1.00, 0.45, 0.30],
        [0.40, 0.30, 0.45, 1.00, 0.35],
        [0.30, 0.30, 0.30, 0.35, 1.00],
    ]
)
#: clinical log-hazard coefficients (per year, per ln U/L, per log10 copy/mL,
#: per ln mg/L, male vs female)
RISK_COEFFICIENTS: dict[str, float] = {
    "age": 0.02,
    "ln_ldh": 0.6,
    "log10_ebv": 0.1,
    "ln_crp": 0.08,
    "male": 0.2,
}
#: image log-hazard coefficients: sequence -> {latent: coefficient}
IMAGE_COEFFICIENTS: dict[str, dict[str, float]] = {
    "T1": {"z_size": 0.40, "z_invasion": 0.28},
    "T2": {"z_heterogeneity": 0.30, "z_necrosis": 0.38},
    "T1C": {"z_enhancement": 0.52},
}
#: share of patients scanned on each scanner (the development centre's,
#: :data:`npc_lib.twin.centres.DEVELOPMENT`: A 45%, B 35%, C 20%)
SCANNER_SHARES: dict[str, float] = DEVELOPMENT.scanner_shares

# reference values the clinical part is centred on
_REF = {"age": 42.0, "ldh": 176.0, "log10_ebv": 3.0, "crp": 1.76}
_LOG_T_DF = 6.0  # degrees of freedom of the upper tail of log CRP and log LDH
#: population mean of the uncentred clinical linear predictor (Monte Carlo, 10^6 patients)
#: of the development centre; every centre's true risk is centred on this same constant
_CLINICAL_LP_MEAN = 0.160
#: ORACLE ONLY: beside ``truth.csv``, the centre of a twin not of the development centre
CENTRE_FILE = "twin_centre.json"


# --------------------------------------------------------------------------- validators


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n > 9999:
        raise ValueError(f"n must be at most 9999 (patient ids NPC0001-NPC9999), got {n}")
    return int(n)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_n_jobs(n_jobs) -> int:
    if n_jobs is None:
        return max(1, os.cpu_count() or 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer or None, got {n_jobs!r}")
    return int(n_jobs)


# --------------------------------------------------------------------------- pieces


def patient_ids(n: int, prefix: str = "NPC") -> list[str]:
    """Patient identifiers ``NPC0001`` ... for ``n`` patients (``EXT0001``... at the second centre).

    >>> patient_ids(2)
    ['NPC0001', 'NPC0002']
    >>> patient_ids(1, prefix="EXT")
    ['EXT0001']
    """
    return [f"{prefix}{i:04d}" for i in range(1, _check_n(n) + 1)]


def _check_centre(centre) -> Centre:
    return centre if isinstance(centre, Centre) else _centre(centre)


def _seeds(seed: int, centre: Centre = DEVELOPMENT) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The clinical and the image seed sequences of a cohort seed at ``centre``."""
    clinical, images = centre.seed_sequence(seed).spawn(2)
    return clinical, images


def _latent(rng: np.random.Generator, n: int) -> pd.DataFrame:
    chol = np.linalg.cholesky(LATENT_CORRELATION)
    z = rng.standard_normal((n, len(LATENT_COLUMNS))) @ chol.T
    latent = pd.DataFrame(z, columns=list(LATENT_COLUMNS))
    latent["z_inflammation"] = rng.standard_normal(n)
    return latent


def _upper_heavy(rng: np.random.Generator, n: int) -> np.ndarray:
    """Lab noise with median 0: a half-normal below, a (unit-SD) Student-t half above.

    Laboratory values such as CRP and LDH have a long upper tail (acute
    inflammation, bulky disease) but no long lower one.
    """
    t = rng.standard_t(_LOG_T_DF, n) / np.sqrt(_LOG_T_DF / (_LOG_T_DF - 2.0))
    return np.where(t > 0, t, -np.abs(rng.standard_normal(n)))


def _clinical(rng: np.random.Generator, latent: pd.DataFrame, mix: CaseMix = DEVELOPMENT.case_mix,
              scanner_shares: dict[str, float] = SCANNER_SHARES) -> pd.DataFrame:
    n = len(latent)
    size = latent["z_size"].to_numpy()
    necrosis = latent["z_necrosis"].to_numpy()
    inflam = latent["z_inflammation"].to_numpy()

    lo = special.ndtr((mix.age_min - mix.age_mean) / mix.age_sd)
    hi = special.ndtr((mix.age_max - mix.age_mean) / mix.age_sd)
    age = mix.age_mean + mix.age_sd * special.ndtri(lo + (hi - lo) * rng.random(n))  # truncated normal
    male = rng.random(n) < 0.693
    smoking = rng.random(n) < np.where(male, 0.42, 0.03)
    drinking = rng.random(n) < np.where(male, np.where(smoking, 0.22, 0.06), 0.01)
    family = rng.random(n) < 0.29
    who_i_ii = rng.random(n) < 0.025

    anaemic = rng.random(n) < 0.03
    hgb = np.where(male, 145.0, 127.5) + 10.5 * rng.standard_normal(n)
    hgb = hgb - 3.0 * inflam - anaemic * rng.uniform(20.0, 55.0, n)
    alb = 44.6 + 3.1 * (0.93 * rng.standard_normal(n) - 0.37 * inflam)
    crp_z = 0.55 * inflam + 0.25 * necrosis + 0.2 * size
    crp_z = crp_z + np.sqrt(1.0 - 0.55**2 - 0.25**2 - 0.2**2) * _upper_heavy(rng, n)
    crp = 1.76 * np.exp(1.1 * crp_z)
    ldh_z = 0.3 * size + 0.3 * inflam + np.sqrt(1.0 - 2 * 0.3**2) * _upper_heavy(rng, n)
    ldh = mix.ldh_median * np.exp(mix.ldh_log_sd * ldh_z)
    ebv_z = 0.35 * size + np.sqrt(1.0 - 0.35**2) * rng.standard_normal(n)
    ebv_log10 = np.minimum(mix.ebv_log10_mean + mix.ebv_log10_sd * ebv_z, 7.2)
    ebv = np.where(ebv_z < special.ndtri(mix.ebv_undetectable), 0.0, 10.0**ebv_log10)

    scanners = list(scanner_shares)
    shares = np.array([scanner_shares[s] for s in scanners])
    scanner = np.array(scanners)[rng.choice(len(scanners), size=n, p=shares / shares.sum())]

    yes_no = np.array(["no", "yes"])
    return pd.DataFrame(
        {
            "age": np.round(age).astype(np.int64),
            "sex": np.where(male, "M", "F"),
            "hgb": np.round(np.clip(hgb, 60.0, 185.0)),
            "family_history": yes_no[family.astype(int)],
            "smoking": yes_no[smoking.astype(int)],
            "drinking": yes_no[drinking.astype(int)],
            "who_type": np.where(who_i_ii, "I-II", "III"),
            "alb": np.round(np.clip(alb, 28.0, 56.0), 1),
            "crp": np.round(np.clip(crp, 0.01, 300.0), 2),
            "ldh": np.round(np.clip(ldh, 50.0, 1200.0), 1),
            "ebv_dna": _round_significant(ebv, 3).astype(np.int64),
            "scanner": scanner,
        }
    )


def _round_significant(x: np.ndarray, digits: int) -> np.ndarray:
    """Round positive values to ``digits`` significant figures (0 stays 0; at least 1)."""
    x = np.asarray(x, dtype=float)
    out = np.zeros_like(x)
    pos = x > 0
    mag = np.floor(np.log10(x[pos]))
    scale = 10.0 ** (mag - digits + 1)
    out[pos] = np.maximum(np.round(x[pos] / scale) * scale, 1.0)
    return np.round(out)


def _linear_predictors(clinical: pd.DataFrame, latent: pd.DataFrame) -> pd.DataFrame:
    b = RISK_COEFFICIENTS
    lp_clinical = (
        b["age"] * (clinical["age"] - _REF["age"])
        + b["ln_ldh"] * np.log(clinical["ldh"] / _REF["ldh"])
        + b["log10_ebv"] * (np.log10(clinical["ebv_dna"] + 1.0) - _REF["log10_ebv"])
        + b["ln_crp"] * np.log(clinical["crp"] / _REF["crp"])
        + b["male"] * (clinical["sex"] == "M")
    ).to_numpy(dtype=float)
    # centre on the population mean of the generating model (a constant, not
    # the sample mean, so a patient's lp does not depend on the others)
    lp_clinical = lp_clinical - _CLINICAL_LP_MEAN
    truth = {"lp_clinical": lp_clinical}
    for seq in schema.SEQUENCES:
        truth[f"lp_{seq}"] = sum(
            coef * latent[name].to_numpy() for name, coef in IMAGE_COEFFICIENTS[seq].items()
        )
    truth["lp_image"] = sum(truth[f"lp_{seq}"] for seq in schema.SEQUENCES)
    truth["lp_total"] = truth["lp_clinical"] + truth["lp_image"]
    return pd.DataFrame(truth)



# --------------------------------------------------------------------------- public API


def simulate_clinical(n: int, seed: int, centre: str | Centre = "development",
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Simulate the clinical table, true risk and latent phenotype (no images).

    Parameters
    ----------
    n : int
        Number of patients (1-9999).
    seed : int
        Non-negative seed; the same ``(n, seed, centre)`` gives the same tables.
    centre : str or Centre
        ``"development"`` (the paper's centre, the default) or ``"external"``
        (:mod:`npc_lib.twin.centres`: other scanners, case mix, baseline
        hazard and follow-up; the same true risk model).

    Returns
    -------
    clinical : pandas.DataFrame, shape (n, 21)
        Columns :data:`npc_lib.cohort.schema.CLINICAL_COLUMNS` (times in months).
    truth : pandas.DataFrame, shape (n, 7)
        Columns :data:`npc_lib.cohort.schema.TRUTH_COLUMNS`: true log relative
        hazards (higher = worse) of DFS.
    latent : pandas.DataFrame, shape (n, 7)
        ``patient_id``, :data:`LATENT_COLUMNS` and ``z_inflammation``.

    Examples
    --------
    >>> clinical, truth, latent = simulate_clinical(5, seed=0)
    >>> clinical["patient_id"].tolist()[:2], clinical.shape, truth.shape
    (['NPC0001', 'NPC0002'], (5, 21), (5, 7))
    >>> bool((clinical["dfs_time"] <= clinical["os_time"]).all())
    True
    """
    n, seed, site = _check_n(n), _check_seed(seed), _check_centre(centre)
    rng = np.random.default_rng(_seeds(seed, site)[0])
    ids = patient_ids(n, site.id_prefix)
    latent = _latent(rng, n)
    covariates = _clinical(rng, latent, site.case_mix, site.scanner_shares)
    truth = _linear_predictors(covariates, latent)
    outcomes = simulate_outcomes(truth["lp_total"].to_numpy(), rng, **site.follow_up_design())
    clinical = pd.concat([covariates, outcomes], axis=1)
    clinical.insert(0, "patient_id", ids)
    truth.insert(0, "patient_id", ids)
    latent.insert(0, "patient_id", ids)
    return (
        clinical[list(schema.CLINICAL_COLUMNS)],
        truth[list(schema.TRUTH_COLUMNS)],
        latent,
    )


def _write_patient(task: tuple) -> str:
    """Synthesise and write one patient's images (in this process)."""
    from npc_lib.twin.phantom import write_patient_images

    return write_patient_images(*task)


def simulate_cohort(
    out_dir: str | os.PathLike,
    n: int = 638,
    seed: int = 0,
    *,
    progress: bool = True,
    n_jobs: int | None = None,
    centre: str | Centre = "development",
) -> Path:
    """Write a digital-twin cohort (clinical table, truth, MR images) to ``out_dir``.

    The folder appears whole or not at all (written beside ``out_dir`` and
    moved into place; an existing ``out_dir`` is replaced only on success).

    Parameters
    ----------
    out_dir : path-like
        Cohort root; gets ``clinical.csv``, ``truth.csv`` and
        ``images/<patient_id>/{T1,T2,T1C}[_roi].nii.gz`` (and, at a centre
        other than the development one, :data:`CENTRE_FILE`, which tells
        the oracle that centre's baseline hazard).
    n : int
        Number of patients.
    seed : int
        Non-negative seed. Same ``(n, seed)`` => byte-identical files, for
        any ``n_jobs``.
    progress : bool
        Show a tqdm progress bar over patients.
    n_jobs : int or None
        Worker processes (None: all cores).
    centre : str or Centre
        ``"development"`` (default) or ``"external"``, as in
        :func:`simulate_clinical`.

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    n, seed, n_jobs, site = _check_n(n), _check_seed(seed), _check_n_jobs(n_jobs), _check_centre(centre)
    out_dir = Path(out_dir)
    clinical, truth, latent = simulate_clinical(n, seed, site)
    image_seeds = _seeds(seed, site)[1].spawn(n)
    with atomic_dir(out_dir) as tmp:
        tasks = [
            (
                str(tmp),
                pid,
                latent.loc[i, list(LATENT_COLUMNS)].to_dict(),
                clinical.at[i, "scanner"],
                image_seeds[i],
            )
            for i, pid in enumerate(clinical["patient_id"])
        ]
        _run_tasks(tasks, n_jobs, progress)
        write_csv(clinical, tmp / schema.CLINICAL_FILE)
        write_csv(truth, tmp / schema.TRUTH_FILE)
        if site.name != DEVELOPMENT.name:  # ORACLE ONLY: whose baseline hazard the truth follows
            write_json({"centre": site.name, "weibull_scale_months": site.weibull_scale}, tmp / CENTRE_FILE)
    return out_dir


def _run_tasks(tasks: list[tuple], n_jobs: int, progress: bool) -> None:
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="patients", unit="pt", disable=not progress)
    try:
        if n_jobs == 1 or len(tasks) < 8:
            for task in tasks:
                _write_patient(task)
                bar.update()
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")  # safe even if the parent holds threads
            from npc_lib.twin.phantom import write_patient_task  # light module: fast worker start

            with ctx.Pool(min(n_jobs, len(tasks))) as pool:
                for _ in pool.imap_unordered(write_patient_task, tasks, chunksize=4):
                    bar.update()
    finally:
        bar.close()
