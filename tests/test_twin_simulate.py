"""Tests of npc_lib.twin.simulate (and outcomes): the digital-twin cohort."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index

from npc_lib.cohort import schema
from npc_lib.twin import simulate as sim
from npc_lib.twin.outcomes import simulate_outcomes
from npc_lib.twin.simulate import (
    IMAGE_COEFFICIENTS,
    LATENT_COLUMNS,
    SCANNER_SHARES,
    simulate_clinical,
    simulate_cohort,
)

SEEDS = (0, 1, 2)
N_BIG = 638 * 3


@pytest.fixture(scope="module")
def big():
    """Three large clinical cohorts (one per seed): (clinical, truth, latent)."""
    return [simulate_clinical(N_BIG, s) for s in SEEDS]


def _abnormal_hgb(c: pd.DataFrame) -> pd.Series:
    return c["hgb"] < np.where(c["sex"] == "M", 130.0, 115.0)


def _harrell(clinical: pd.DataFrame, risk) -> float:
    return concordance_index(clinical["dfs_time"], -np.asarray(risk), clinical["dfs_event"])


# --------------------------------------------------------------------------- clinical table


def test_simulate_clinical_columns_ids_and_levels():
    clinical, truth, latent = simulate_clinical(40, seed=5)
    assert tuple(clinical.columns) == schema.CLINICAL_COLUMNS
    assert tuple(truth.columns) == schema.TRUTH_COLUMNS
    assert tuple(latent.columns[1:6]) == LATENT_COLUMNS
    assert clinical["patient_id"].tolist() == [f"NPC{i:04d}" for i in range(1, 41)]
    assert (truth["patient_id"] == clinical["patient_id"]).all()
    for col, levels in schema.CATEGORIES.items():
        assert set(clinical[col]) <= set(levels), col
    assert set(clinical["scanner"]) <= set(SCANNER_SHARES)
    assert not clinical.isna().any().any()


# paper Table 1 (training / test), with sampling tolerance for n = 1914
TABLE1 = {
    "age median": (lambda c: c["age"].median(), 39.0, 44.0),
    "age mean": (lambda c: c["age"].mean(), 40.0, 43.3),
    "age sd": (lambda c: c["age"].std(), 9.0, 11.5),
    "male": (lambda c: (c["sex"] == "M").mean(), 0.65, 0.74),
    "hgb median": (lambda c: c["hgb"].median(), 137.0, 145.0),
    "hgb abnormal": (lambda c: _abnormal_hgb(c).mean(), 0.09, 0.17),
    "family history": (lambda c: (c["family_history"] == "yes").mean(), 0.25, 0.34),
    "smoking": (lambda c: (c["smoking"] == "yes").mean(), 0.25, 0.35),
    "drinking": (lambda c: (c["drinking"] == "yes").mean(), 0.06, 0.13),
    "who I-II": (lambda c: (c["who_type"] == "I-II").mean(), 0.01, 0.05),
    "alb median": (lambda c: c["alb"].median(), 43.8, 45.3),
    "alb < 40": (lambda c: (c["alb"] < 40).mean(), 0.05, 0.11),
    "crp median": (lambda c: c["crp"].median(), 1.5, 2.05),
    "crp > 3": (lambda c: (c["crp"] > 3).mean(), 0.26, 0.35),
    "ldh median": (lambda c: c["ldh"].median(), 168.0, 184.0),
    "ldh > 250": (lambda c: (c["ldh"] > 250).mean(), 0.045, 0.10),
    "ebv median": (lambda c: c["ebv_dna"].median(), 2000.0, 4500.0),
    "ebv >= 4000": (lambda c: (c["ebv_dna"] >= 4000).mean(), 0.41, 0.53),
    "ebv zero": (lambda c: (c["ebv_dna"] == 0).mean(), 0.07, 0.14),
}


@pytest.mark.parametrize("name", sorted(TABLE1))
def test_simulate_clinical_marginals_match_table1(big, name):
    stat, lo, hi = TABLE1[name]
    for clinical, _, _ in big:
        assert lo <= stat(clinical) <= hi, f"{name} = {stat(clinical):.3f} not in [{lo}, {hi}]"


def test_simulate_clinical_ranges_plausible(big):
    for clinical, _, _ in big:
        assert 10 <= clinical["age"].min() and clinical["age"].max() <= 69
        assert clinical["hgb"].between(55, 190).all()
        assert clinical["alb"].between(25, 60).all()
        assert (clinical["crp"] > 0).all() and clinical["crp"].max() > 30
        assert clinical["ldh"].between(50, 1200).all() and clinical["ldh"].max() > 400
        assert clinical["ebv_dna"].max() >= 1e6


def test_simulate_clinical_correlations_plausible(big):
    for clinical, _, latent in big:
        men = clinical["sex"] == "M"
        smoke = clinical["smoking"] == "yes"
        drink = clinical["drinking"] == "yes"
        assert smoke[men].mean() > 5 * smoke[~men].mean()
        assert drink[men].mean() > 4 * drink[~men].mean()
        assert clinical["hgb"][men].median() - clinical["hgb"][~men].median() >= 10
        spearman = lambda a, b: pd.Series(a).corr(pd.Series(b), method="spearman")  # noqa: E731
        assert spearman(clinical["ebv_dna"], latent["z_size"]) > 0.2
        assert spearman(clinical["ldh"], latent["z_size"]) > 0.15
        assert spearman(clinical["crp"], clinical["ldh"]) > 0.15
        assert spearman(clinical["alb"], clinical["crp"]) < -0.1


def test_simulate_clinical_values_rounded_like_a_lab():
    clinical, _, _ = simulate_clinical(500, seed=3)
    assert (clinical["age"] == clinical["age"].round()).all()
    assert (clinical["hgb"] == clinical["hgb"].round()).all()
    assert np.allclose(clinical["alb"], clinical["alb"].round(1))
    assert np.allclose(clinical["crp"], clinical["crp"].round(2))
    assert np.allclose(clinical["ldh"], clinical["ldh"].round(1))
    ebv = clinical["ebv_dna"][clinical["ebv_dna"] >= 1000].to_numpy()
    digits = np.floor(np.log10(ebv)) + 1
    assert np.all(ebv % 10 ** (digits - 3) == 0)  # three significant figures


# --------------------------------------------------------------------------- outcomes


def test_outcomes_event_rate_and_follow_up(big):
    for clinical, _, _ in big:
        assert 0.15 <= clinical["dfs_event"].mean() <= 0.21
        # reverse Kaplan-Meier (censoring) median follow-up on OS, in years
        km = KaplanMeierFitter().fit(clinical["os_time"] / 12.0, 1 - clinical["os_event"])
        assert 5.0 <= km.median_survival_time_ <= 6.0
        q1, q3 = (np.interp(-p, -km.survival_function_.iloc[:, 0], km.timeline) for p in (0.75, 0.25))
        assert 4.0 <= q1 <= 5.2 and 6.0 <= q3 <= 7.2
        assert clinical["os_time"].max() <= (9.8 * 365.25) / 30.0


def test_outcomes_endpoints_coherent(big):
    for clinical, _, _ in big:
        dfs_t, dfs_e = clinical["dfs_time"], clinical["dfs_event"]
        assert (dfs_t > 0).all()
        for e in ("os", "dmfs", "lrfs"):
            t, ev = clinical[schema.time_col(e)], clinical[schema.event_col(e)]
            assert (dfs_t <= t).all(), e
            assert (dfs_e >= ev).all(), e  # an event of any endpoint is a DFS event
            assert 0 < ev.sum() < dfs_e.sum(), e
        # censored DFS: every endpoint censored at the same last visit
        cens = dfs_e == 0
        for e in ("os", "dmfs", "lrfs"):
            assert (clinical[schema.time_col(e)][cens] == dfs_t[cens]).all()


def test_simulate_outcomes_hazard_rises_with_lp():
    rng = np.random.default_rng(0)
    lp = np.repeat([-1.0, 1.0], 4000)
    out = simulate_outcomes(lp, rng)
    low, high = out["dfs_event"][:4000].mean(), out["dfs_event"][4000:].mean()
    assert high > 3 * low


def test_simulate_outcomes_dfs_follows_the_weibull_baseline():
    from npc_lib.twin import outcomes

    out = simulate_outcomes(np.zeros(20000), np.random.default_rng(1))
    km = KaplanMeierFitter().fit(out["dfs_time"], out["dfs_event"])
    for months in (12.0, 36.0, 60.0):
        expected = np.exp(-((months / outcomes.WEIBULL_SCALE_MONTHS) ** outcomes.WEIBULL_SHAPE))
        assert abs(km.predict(months) - expected) < 0.01


def test_simulate_outcomes_cox_recovers_unit_coefficient():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(2)
    lp = rng.normal(0.0, 1.0, 5000)
    out = simulate_outcomes(lp, rng)
    df = pd.DataFrame({"lp": lp, "T": out["dfs_time"], "E": out["dfs_event"]})
    beta = CoxPHFitter().fit(df, "T", "E").params_["lp"]
    assert abs(beta - 1.0) < 0.08


def test_simulate_outcomes_rejects_bad_lp():
    with pytest.raises(ValueError, match="lp_total must be finite"):
        simulate_outcomes([0.0, np.inf], np.random.default_rng(0))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        simulate_outcomes(np.zeros((2, 2)), np.random.default_rng(0))


# --------------------------------------------------------------------------- truth


def test_truth_decomposes_and_matches_coefficients(big):
    _, truth, latent = big[0]
    np.testing.assert_allclose(truth["lp_image"], truth[["lp_T1", "lp_T2", "lp_T1C"]].sum(axis=1))
    np.testing.assert_allclose(truth["lp_total"], truth["lp_clinical"] + truth["lp_image"])
    for seq, coefs in IMAGE_COEFFICIENTS.items():
        expected = sum(c * latent[name] for name, c in coefs.items())
        np.testing.assert_allclose(truth[f"lp_{seq}"], expected)
    assert abs(truth["lp_clinical"].mean()) < 0.05  # centred on the population mean


def test_oracle_c_index_ranges(big):
    targets = {
        "lp_total": (0.79, 0.85, 0.76, 0.87),
        "lp_clinical": (0.62, 0.69, 0.59, 0.72),
        "lp_T1": (0.71, 0.79, 0.68, 0.81),
        "lp_T2": (0.70, 0.78, 0.67, 0.80),
        "lp_T1C": (0.69, 0.76, 0.66, 0.78),
    }
    for col, (lo_mean, hi_mean, lo_one, hi_one) in targets.items():
        cs = [_harrell(clinical, truth[col]) for clinical, truth, _ in big]
        assert lo_mean <= np.mean(cs) <= hi_mean, (col, cs)
        assert all(lo_one <= c <= hi_one for c in cs), (col, cs)
    # the total beats each part
    clinical, truth, _ = big[0]
    c_total = _harrell(clinical, truth["lp_total"])
    assert all(c_total > _harrell(clinical, truth[c]) for c in ("lp_clinical", "lp_T1", "lp_T2", "lp_T1C"))


# --------------------------------------------------------------------------- determinism, input checks


def test_simulate_clinical_deterministic_and_seed_dependent():
    a = simulate_clinical(100, seed=7)
    b = simulate_clinical(100, seed=7)
    c = simulate_clinical(100, seed=8)
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y)
    assert not a[0]["age"].equals(c[0]["age"])
    assert not np.allclose(a[1]["lp_total"], c[1]["lp_total"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0, "seed": 0}, "n must be a positive integer"),
        ({"n": 2.5, "seed": 0}, "n must be a positive integer"),
        ({"n": True, "seed": 0}, "n must be a positive integer"),
        ({"n": 10000, "seed": 0}, "n must be at most 9999"),
        ({"n": 5, "seed": -1}, "seed must be a non-negative integer"),
        ({"n": 5, "seed": "a"}, "seed must be a non-negative integer"),
    ],
)
def test_simulate_clinical_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_clinical(**kwargs)


def test_simulate_cohort_rejects_bad_n_jobs(tmp_path):
    with pytest.raises(ValueError, match="n_jobs must be a positive integer"):
        simulate_cohort(tmp_path / "c", 2, 0, progress=False, n_jobs=0)
    assert not (tmp_path / "c").exists()


# --------------------------------------------------------------------------- the written cohort


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_simulate_cohort_layout_and_loadable(tmp_path):
    from npc_lib.cohort.load import load_cohort

    root = simulate_cohort(tmp_path / "twin", n=6, seed=4, progress=False, n_jobs=1)
    assert root == tmp_path / "twin"
    clinical = pd.read_csv(root / schema.CLINICAL_FILE)
    truth = pd.read_csv(root / schema.TRUTH_FILE)
    pd.testing.assert_frame_equal(clinical, simulate_clinical(6, 4)[0], check_dtype=False)
    assert tuple(truth.columns) == schema.TRUTH_COLUMNS
    for pid in clinical["patient_id"]:
        for seq in schema.SEQUENCES:
            assert (root / schema.image_relpath(pid, seq)).is_file()
            assert (root / schema.roi_relpath(pid, seq)).is_file()
    cohort = load_cohort(root, check_images="full")
    vol = cohort.read_image("NPC0001", "T1")
    scanner = clinical.loc[0, "scanner"]
    np.testing.assert_allclose(vol.spacing, _scanner_spacing(scanner))
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no leftovers


def _scanner_spacing(scanner: str) -> tuple[float, float, float]:
    from npc_lib.twin.phantom import SCANNERS

    return SCANNERS[scanner].spacing


def test_simulate_cohort_nifti_header_and_gzip_deterministic(tmp_path):
    import gzip

    import nibabel as nib

    root = simulate_cohort(tmp_path / "twin", n=2, seed=0, progress=False, n_jobs=1)
    path = root / schema.image_relpath("NPC0002", "T2")
    raw = path.read_bytes()
    assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip mtime field is zero
    img = nib.load(path)
    assert img.get_data_dtype() == np.int16
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
    np.testing.assert_allclose(img.header.get_zooms(), np.diag(img.affine)[:3])
    assert len(gzip.decompress(raw)) > 0


def test_simulate_cohort_byte_identical_for_any_n_jobs(tmp_path):
    a = simulate_cohort(tmp_path / "a", n=8, seed=1, progress=False, n_jobs=1)
    b = simulate_cohort(tmp_path / "b", n=8, seed=1, progress=False, n_jobs=2)
    c = simulate_cohort(tmp_path / "c", n=8, seed=2, progress=False, n_jobs=1)
    da, db, dc = _digests(a), _digests(b), _digests(c)
    assert da == db
    assert da.keys() == dc.keys()
    assert sum(da[k] != dc[k] for k in da) == len(da)  # every file differs


def test_simulate_cohort_failure_leaves_nothing(tmp_path, monkeypatch):
    def boom(task):
        if task[1] == "NPC0003":
            raise RuntimeError("disk full")
        return original(task)

    original = sim._write_patient
    monkeypatch.setattr(sim, "_write_patient", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_cohort(tmp_path / "twin", n=4, seed=0, progress=False, n_jobs=1)
    assert list(tmp_path.iterdir()) == []


def test_simulate_cohort_replaces_existing_folder_on_success(tmp_path):
    root = tmp_path / "twin"
    root.mkdir()
    (root / "stale.txt").write_text("old")
    simulate_cohort(root, n=2, seed=0, progress=False, n_jobs=1)
    assert not (root / "stale.txt").exists()
    assert (root / schema.CLINICAL_FILE).is_file()
