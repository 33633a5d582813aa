"""Tests of the second-centre twin (npc_lib.twin.centres) and that the development twin is unchanged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from npc_lib.cli import main
from npc_lib.cohort import schema
from npc_lib.twin import centres, outcomes
from npc_lib.twin.centres import DEVELOPMENT, EXTERNAL, EXTERNAL_SCANNERS, CaseMix, centre
from npc_lib.twin.outcomes import simulate_outcomes
from npc_lib.twin.phantom import SCANNERS, TISSUE_SIGNAL, _tissue_signal, synthesize_patient
from npc_lib.twin.simulate import (
    CENTRE_FILE,
    RISK_COEFFICIENTS,
    SCANNER_SHARES,
    simulate_clinical,
    simulate_cohort,
)
from npc_lib.twin.truth import read_centre, true_dfs_survival

REFERENCE = Path(__file__).parent / "data" / "twin_development_reference"
N_BIG = 3000


@pytest.fixture(scope="module")
def external_big():
    return simulate_clinical(N_BIG, seed=11, centre="external")


@pytest.fixture(scope="module")
def development_big():
    return simulate_clinical(N_BIG, seed=11)


def _reverse_km_curve(time, event):
    """Naive reverse Kaplan-Meier (censoring is the event): times and P(censoring time > t)."""
    time, cens = np.asarray(time, float), 1 - np.asarray(event)
    times = np.unique(time[cens == 1])
    factors = [1.0 - ((time == u) & (cens == 1)).sum() / (time >= u).sum() for u in times]
    return times, np.cumprod(factors)


def _reverse_km(time, event, t):
    times, s = _reverse_km_curve(time, event)
    return float(s[times <= t][-1]) if np.any(times <= t) else 1.0


def _reverse_km_median(time, event):
    times, s = _reverse_km_curve(time, event)
    return float(times[np.argmax(s <= 0.5)])


# --------------------------------------------------------------------------- development unchanged


def test_development_twin_clinical_and_truth_unchanged_number_for_number():
    clinical, truth, _ = simulate_clinical(40, seed=7)
    ref = pd.read_csv(REFERENCE / "clinical_n40_seed7.csv", dtype={"patient_id": str})
    assert list(clinical.columns) == list(ref.columns)
    for col in ref.columns:
        if ref[col].dtype == object:
            assert clinical[col].tolist() == ref[col].tolist(), col
        else:  # reported values: rounded, so equal up to the last reported digit on any CPU
            np.testing.assert_allclose(clinical[col].to_numpy(float), ref[col].to_numpy(float), rtol=0, atol=0.011,
                                       err_msg=col)
    ref_truth = pd.read_csv(REFERENCE / "truth_n40_seed7.csv", dtype={"patient_id": str})
    assert truth["patient_id"].tolist() == ref_truth["patient_id"].tolist()
    np.testing.assert_allclose(truth.iloc[:, 1:].to_numpy(float), ref_truth.iloc[:, 1:].to_numpy(float), rtol=1e-9)


def test_development_twin_images_unchanged(tmp_path):
    import nibabel as nib

    simulate_cohort(tmp_path / "c", n=3, seed=5, progress=False, n_jobs=1)
    ref = json.loads((REFERENCE / "images_n3_seed5.json").read_text())
    files = sorted(p.relative_to(tmp_path / "c").as_posix() for p in (tmp_path / "c" / "images").rglob("*.nii.gz"))
    assert files == [r["file"] for r in ref]
    assert not (tmp_path / "c" / CENTRE_FILE).exists()
    for r in ref:
        img = np.asarray(nib.load(tmp_path / "c" / r["file"]).dataobj).astype(np.float64)
        assert list(img.shape) == r["shape"]
        assert img.sum() == pytest.approx(r["sum"], rel=1e-6, abs=5)
        assert (img**2).sum() == pytest.approx(r["sumsq"], rel=1e-6)


def test_development_default_path_same_as_explicit_centre():
    a = simulate_clinical(25, seed=3)
    for c in ("development", DEVELOPMENT):
        b = simulate_clinical(25, seed=3, centre=c)
        for x, y in zip(a, b):
            pd.testing.assert_frame_equal(x, y)


def test_development_centre_repeats_the_twin_constants():
    assert DEVELOPMENT.scanner_shares == SCANNER_SHARES
    assert DEVELOPMENT.weibull_scale == outcomes.WEIBULL_SCALE_MONTHS
    assert (DEVELOPMENT.accrual_start, DEVELOPMENT.accrual_end) == (outcomes.ACCRUAL_START, outcomes.ACCRUAL_END)
    assert DEVELOPMENT.last_follow_up == outcomes.LAST_FOLLOW_UP
    assert DEVELOPMENT.loss_mean_years == outcomes.LOSS_MEAN_YEARS
    assert all(p.contrast == (1.0, 1.0, 1.0) for p in SCANNERS.values())
    assert _tissue_signal(SCANNERS["A"]) is TISSUE_SIGNAL


# --------------------------------------------------------------------------- the second centre


def test_external_ids_scanners_and_independent_draws():
    ext, ext_truth, ext_latent = simulate_clinical(30, seed=7, centre="external")
    dev, _, dev_latent = simulate_clinical(30, seed=7)
    assert ext["patient_id"].tolist() == [f"EXT{i:04d}" for i in range(1, 31)]
    assert tuple(ext.columns) == schema.CLINICAL_COLUMNS and tuple(ext_truth.columns) == schema.TRUTH_COLUMNS
    assert set(ext["scanner"]) <= set(EXTERNAL_SCANNERS)
    assert not np.allclose(ext_latent["z_size"], dev_latent["z_size"])
    again = simulate_clinical(30, seed=7, centre="external")
    pd.testing.assert_frame_equal(ext, again[0])


def test_external_same_true_risk_model(external_big):
    clinical, truth, latent = external_big
    b = RISK_COEFFICIENTS
    lp_clin = (b["age"] * (clinical["age"] - 42.0) + b["ln_ldh"] * np.log(clinical["ldh"] / 176.0)
               + b["log10_ebv"] * (np.log10(clinical["ebv_dna"] + 1.0) - 3.0)
               + b["ln_crp"] * np.log(clinical["crp"] / 1.76) + b["male"] * (clinical["sex"] == "M") - 0.160)
    np.testing.assert_allclose(truth["lp_clinical"], lp_clin, atol=1e-12)
    np.testing.assert_allclose(truth["lp_T1C"], 0.52 * latent["z_enhancement"], atol=1e-12)


def test_external_case_mix_shifted(external_big, development_big):
    ext, dev = external_big[0], development_big[0]
    assert ext["age"].mean() == pytest.approx(EXTERNAL.case_mix.age_mean, abs=1.0)
    assert ext["age"].mean() > dev["age"].mean() + 4
    assert ext["ldh"].median() == pytest.approx(EXTERNAL.case_mix.ldh_median, rel=0.04)
    assert (ext["ebv_dna"] == 0).mean() == pytest.approx(EXTERNAL.case_mix.ebv_undetectable, abs=0.02)
    assert ext["ebv_dna"].median() > dev["ebv_dna"].median()
    shares = ext["scanner"].value_counts(normalize=True)
    for name, share in EXTERNAL.scanner_shares.items():
        assert shares[name] == pytest.approx(share, abs=0.03)
    # unchanged parts of the case mix
    assert (ext["sex"] == "M").mean() == pytest.approx((dev["sex"] == "M").mean(), abs=0.04)


def test_external_follow_up_median_and_five_year_share(external_big):
    c = external_big[0]
    median = _reverse_km_median(c["dfs_time"].to_numpy(), c["dfs_event"].to_numpy())
    assert 3.2 * 12 <= median <= 3.9 * 12
    assert _reverse_km(c["dfs_time"].to_numpy(), c["dfs_event"].to_numpy(), 60.0) >= 0.24
    assert c["dfs_time"].max() < (EXTERNAL.last_follow_up - EXTERNAL.accrual_start) / np.timedelta64(30, "D") + 1


def test_external_baseline_hazard_lower_and_weibull(external_big):
    """Breslow baseline of the true lp (an offset) against the centre's Weibull baseline, at 36 months."""
    c, truth = external_big[0], external_big[1]
    t, e, r = c["dfs_time"].to_numpy(), c["dfs_event"].to_numpy(), np.exp(truth["lp_total"].to_numpy())
    h = sum(1.0 / r[t >= u].sum() * ((t == u) & (e == 1)).sum() for u in np.unique(t[(e == 1) & (t <= 36.0)]))
    expected = (36.0 / EXTERNAL.weibull_scale) ** outcomes.WEIBULL_SHAPE
    assert h == pytest.approx(expected, rel=0.15)
    assert h < (36.0 / DEVELOPMENT.weibull_scale) ** outcomes.WEIBULL_SHAPE


def test_external_scanners_geometry_and_contrast():
    z = dict(z_size=0.5, z_invasion=0, z_heterogeneity=0, z_necrosis=0, z_enhancement=0)
    for name, prof in EXTERNAL_SCANNERS.items():
        out = synthesize_patient(z, name, seed=4)
        for item in out.values():
            assert item.image.shape == prof.shape and item.mask.shape == prof.shape
            np.testing.assert_allclose(np.diag(item.affine)[:3], prof.spacing)
            assert item.mask.sum() > 0
        fov = np.array(prof.spacing) * np.array(prof.shape)
        assert np.all(np.abs(fov[:2] - 112.0) < 2.0) and abs(fov[2] - 60.0) <= 4.0
    d, e = EXTERNAL_SCANNERS["D"], EXTERNAL_SCANNERS["E"]
    assert d.spacing[2] < min(p.spacing[2] for p in SCANNERS.values())  # thin slices at 3 T
    assert e.spacing[2] > max(p.spacing[2] for p in SCANNERS.values())  # thick slices at 1.5 T
    assert e.noise > max(p.noise for p in SCANNERS.values())
    table = _tissue_signal(d)
    assert table["muscle"][0] == pytest.approx(TISSUE_SIGNAL["muscle"][0] ** d.contrast[0])
    assert table["fat"][0] == pytest.approx(1.0)


def test_external_truth_survival_uses_the_centre_baseline():
    s_dev = true_dfs_survival([0.3], [36.0, 60.0])
    s_ext = true_dfs_survival([0.3], [36.0, 60.0], centre="external")
    assert np.all(s_ext > s_dev)
    np.testing.assert_allclose(-np.log(s_ext[0]) / np.exp(0.3), (np.array([36.0, 60.0]) / 1150.0) ** 0.9)
    with pytest.raises(ValueError, match="centre must be one of"):
        true_dfs_survival([0.0], [1.0], centre="mars")


def test_cli_simulate_external_writes_twin_with_centre(tmp_path, capsys):
    assert main(["-q", "simulate", "--out", str(tmp_path / "ext"), "--n", "2", "--seed", "1", "--centre", "external"]) == 0
    clinical = pd.read_csv(tmp_path / "ext" / schema.CLINICAL_FILE)
    assert clinical["patient_id"].tolist() == ["EXT0001", "EXT0002"]
    assert (tmp_path / "ext" / schema.TRUTH_FILE).is_file()
    assert read_centre(tmp_path / "ext") == "external"
    assert read_centre(REFERENCE) == "development"
    with pytest.raises(SystemExit):
        main(["simulate", "--out", str(tmp_path / "x"), "--centre", "moon"])


def test_read_centre_bad_file(tmp_path):
    (tmp_path / CENTRE_FILE).write_text('{"centre": "moon"}')
    with pytest.raises(ValueError, match="twin_centre.json: centre must be one of"):
        read_centre(tmp_path)


def test_centre_and_case_mix_bad_input():
    with pytest.raises(ValueError, match="centre must be one of"):
        centre("mars")
    with pytest.raises(ValueError, match="centre must be one of"):
        simulate_clinical(5, 0, centre="mars")
    with pytest.raises(ValueError, match="ebv_undetectable must lie in"):
        dataclasses.replace(EXTERNAL.case_mix, ebv_undetectable=1.5)
    with pytest.raises(ValueError, match="age: need"):
        CaseMix(50, -1, 18, 80, 190, 0.3, 0.1, 3.5, 1.0)


def test_simulate_outcomes_bad_centre_design_named_at_once():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="weibull_scale must be.*last_follow_up.*loss_mean_years"):
        simulate_outcomes(np.zeros(3), rng, weibull_scale=-1.0, last_follow_up=np.datetime64("2000-01-01"),
                          loss_mean_years=0.0)


def test_centres_module_constants_documented():
    doc = centres.__doc__
    for text in ("1150", "2022-04-15", "47.5", "192", "3 T", "1.5 T"):
        assert text in doc
