"""Tests of npc_lib.imaging.views and npc_lib.plots.imaging (before/after figure)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from cohort_factory import make_tiny_cohort

from npc_lib.cohort import schema
from npc_lib.cohort.load import load_cohort
from npc_lib.imaging.instances import fit_standardizer
from npc_lib.imaging.views import CHECK_PERCENTILES, before_after_by_scanner, landmark_spread
from npc_lib.plots.imaging import plot_before_after

#: scanner -> (gain, offset, in-plane spacing mm) applied to the tiny cohort's T1 volumes
_SCANNERS = {"S1": (1.0, 0.0, 1.0), "S2": (3.0, 150.0, 0.8), "S3": (0.4, 20.0, 1.2)}


@pytest.fixture(scope="module")
def scanner_cohort(tmp_path_factory):
    """Tiny cohort whose T1 intensities and spacing differ by scanner (S1, S2, S3)."""
    root = make_tiny_cohort(tmp_path_factory.mktemp("views") / "cohort", n=9, shape=(24, 24, 6), seed=4)
    cohort = load_cohort(root)
    for pid, sc in zip(cohort.clinical["patient_id"], cohort.clinical["scanner"]):
        gain, offset, dx = _SCANNERS[sc]
        for rel in (schema.image_relpath(pid, "T1"), schema.roi_relpath(pid, "T1")):
            img = nib.load(str(root / rel))
            data = np.asarray(img.dataobj)
            if not rel.endswith("_roi.nii.gz"):
                data = np.clip(np.round(gain * data + offset), 0, 32000).astype(np.int16)
            out = nib.Nifti1Image(data, np.diag([dx, dx, 4.0, 1.0]))
            nib.save(out, str(root / rel))
    return load_cohort(root)


@pytest.fixture(scope="module")
def view(scanner_cohort):
    std = fit_standardizer(scanner_cohort, "T1", scanner_cohort.patient_ids[:6])
    return before_after_by_scanner(scanner_cohort, "T1", std, n_per_scanner=3, box_mm=16, box_px=16, bins=20)


def test_before_after_view_content(view, scanner_cohort):
    assert view["sequence"] == "T1" and view["scanners"] == ["S1", "S2", "S3"]
    for sc, (_, _, dx) in _SCANNERS.items():
        p = view["panels"][sc]
        assert p["raw"].shape == (24, 24) and p["raw_spacing"] == pytest.approx((dx, dx))
        n_new = round(24 * dx / 1.0)
        assert p["processed"].shape == (n_new, n_new) and p["processed_spacing"] == (1.0, 1.0)
        assert p["box"].shape == (16, 16)
        roi = scanner_cohort.read_roi(p["patient_id"], "T1").data
        assert roi[:, :, p["slice_index"]].any()
    for stage in ("raw", "standardised"):
        h = view["histograms"][stage]
        assert h["edges"].shape == (21,)
        for dens in h["density"].values():
            assert dens.shape == (20,)
            assert np.sum(dens * np.diff(h["edges"])) == pytest.approx(1.0, abs=0.02)
    pct = view["percentiles"]
    assert list(pct.columns) == ["scanner", "patient_id", "percentile", "raw", "standardised"]
    assert len(pct) == 9 * len(CHECK_PERCENTILES)


def test_standardisation_aligns_scanners(view):
    spread = landmark_spread(view)
    assert list(spread.index) == list(CHECK_PERCENTILES)
    # raw scanners differ by gains up to 7.5x; standardised they agree to a few percent
    assert spread["raw"].min() > 0.3
    assert spread["standardised"].max() < 0.1
    assert (spread["ratio"] < 0.2).all()


def test_before_after_explicit_patients_and_errors(scanner_cohort, view):
    std = fit_standardizer(scanner_cohort, "T1", scanner_cohort.patient_ids[:6])
    clinical = scanner_cohort.clinical
    s2 = clinical.loc[clinical["scanner"] == "S2", "patient_id"].tolist()
    v = before_after_by_scanner(scanner_cohort, "T1", std, {"S2": s2[1:]}, box_mm=16, box_px=16)
    assert v["scanners"] == ["S2"] and v["panels"]["S2"]["patient_id"] == s2[1]
    with pytest.raises(ValueError, match="not scanned on 'S1'"):
        before_after_by_scanner(scanner_cohort, "T1", std, {"S1": s2[:1]})
    with pytest.raises(ValueError, match="n_per_scanner"):
        before_after_by_scanner(scanner_cohort, "T1", std, n_per_scanner=0)


def test_plot_before_after_builds(view):
    fig = plot_before_after(view)
    kinds = [t.type for t in fig.data]
    assert kinds.count("heatmap") == 9
    assert kinds.count("scatter") == 6
    assert kinds.count("bar") == 2
    assert "T1" in fig.layout.title.text
    with pytest.raises(ValueError, match="no scanner panels"):
        plot_before_after({"scanners": [], "panels": {}})
