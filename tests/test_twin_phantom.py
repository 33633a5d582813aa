"""Tests of npc_lib.twin.phantom: MR synthesis of the digital twin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage, stats

from npc_lib.cohort import schema
from npc_lib.twin.phantom import (
    HEAD_CENTRE_MM,
    HEAD_SEMI_AXES_MM,
    SCANNERS,
    synthesize_patient,
    tumour_features,
    world_grid,
)

LATENTS = ("z_size", "z_invasion", "z_heterogeneity", "z_necrosis", "z_enhancement")


def _latent(**kw) -> dict[str, float]:
    z = dict.fromkeys(LATENTS, 0.0)
    z.update(kw)
    return z


def _world(affine: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """World coordinates (mm) of voxel indices, shape (k, 3)."""
    return idx @ affine[:3, :3].T + affine[:3, 3]


def _middle_slice(mask: np.ndarray) -> int:
    return int(np.argmax(mask.sum(axis=(0, 1))))


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
def test_synthesize_patient_dtypes_shapes_affine(scanner):
    out = synthesize_patient(_latent(), scanner, seed=3)
    prof = SCANNERS[scanner]
    assert set(out) == set(schema.SEQUENCES)
    for item in out.values():
        assert item.image.dtype == np.int16 and item.image.shape == prof.shape
        assert item.mask.dtype == np.uint8 and item.mask.shape == prof.shape
        assert set(np.unique(item.mask)) == {0, 1}
        assert item.image.min() >= 0
        np.testing.assert_allclose(np.diag(item.affine)[:3], prof.spacing)


def test_scanners_differ_in_spacing_and_intensity_scale():
    spacings = {s: p.spacing for s, p in SCANNERS.items()}
    assert len({sp[:2] for sp in spacings.values()}) == 3  # in-plane
    assert len({sp[2] for sp in spacings.values()}) == 3  # slice thickness
    medians = {}
    for scanner in SCANNERS:
        img = synthesize_patient(_latent(), scanner, seed=0)["T1"].image
        medians[scanner] = np.median(img[img > img.mean()])
    assert max(medians.values()) / min(medians.values()) > 3.0


def test_mask_inside_head():
    (hx, hy), (ha, hb) = HEAD_CENTRE_MM, HEAD_SEMI_AXES_MM
    for seed, scanner in enumerate(("A", "B", "C", "A")):
        z = _latent(z_size=2.5, z_invasion=2.5) if seed == 3 else _latent()
        for item in synthesize_patient(z, scanner, seed).values():
            xyz = _world(item.affine, np.argwhere(item.mask > 0))
            q = ((xyz[:, 0] - hx) / ha) ** 2 + ((xyz[:, 1] - hy) / hb) ** 2
            assert q.max() < 0.5  # well inside the head outline


def test_mask_not_touching_field_of_view_edges():
    out = synthesize_patient(_latent(z_size=2.5, z_invasion=2.5), "C", seed=5)
    mask = out["T1"].mask
    assert mask[0].sum() == mask[-1].sum() == mask[:, 0].sum() == mask[:, -1].sum() == 0


def test_masks_of_sequences_are_close_but_not_identical():
    out = synthesize_patient(_latent(), "A", seed=11)
    m1, m2 = out["T1"].mask.astype(bool), out["T2"].mask.astype(bool)
    dice = 2 * (m1 & m2).sum() / (m1.sum() + m2.sum())
    assert 0.8 < dice < 1.0


def test_tumour_volume_increases_with_size_latent():
    z_size = np.linspace(-2.0, 2.0, 8)
    volumes = []
    for seed, z in enumerate(z_size):
        item = synthesize_patient(_latent(z_size=z), "A", seed)["T1"]
        volumes.append(item.mask.sum() * np.prod(SCANNERS["A"].spacing) / 1000.0)  # ml
    rho = stats.spearmanr(z_size, volumes).statistic
    assert rho > 0.9
    assert 2.0 < volumes[3] < 30.0  # plausible ml near the median


def test_invasion_reaches_higher_into_skull_base():
    for seed in range(3):
        tops = []
        for z in (-2.0, 2.0):
            item = synthesize_patient(_latent(z_invasion=z), "A", seed)["T1"]
            tops.append(_world(item.affine, np.argwhere(item.mask > 0))[:, 2].max())
        assert tops[1] - tops[0] >= 4.0  # one slice or more


def test_invasion_shows_as_dark_tumour_in_bright_t1_marrow():
    item = synthesize_patient(_latent(z_invasion=2.5), "A", seed=2)["T1"]
    k = int(np.flatnonzero(item.mask.sum(axis=(0, 1)))[-1])  # top tumour slice
    img, m = item.image[:, :, k].astype(float), item.mask[:, :, k].astype(bool)
    ring = ndimage.binary_dilation(m, iterations=4) & ~ndimage.binary_dilation(m, iterations=1)
    assert img[ring].mean() > 1.8 * img[m].mean()


def _core_and_rim(item):
    k = _middle_slice(item.mask)
    img, m = item.image[:, :, k].astype(float), item.mask[:, :, k].astype(bool)
    core = ndimage.binary_erosion(m, iterations=4)
    rim = m & ~ndimage.binary_erosion(m, iterations=2)
    return img[core].mean(), img[rim].mean()


def test_necrosis_brightens_t2_core():
    ratios = {}
    for z in (-2.0, 2.0):
        core, rim = _core_and_rim(synthesize_patient(_latent(z_necrosis=z, z_size=1.0), "A", 4)["T2"])
        ratios[z] = core / rim
    assert ratios[2.0] > ratios[-2.0] + 0.2


def test_enhancement_deficit_darkens_t1c_centre():
    ratios = {}
    for z in (-2.0, 2.0):
        core, rim = _core_and_rim(synthesize_patient(_latent(z_enhancement=z, z_size=1.0), "A", 6)["T1C"])
        ratios[z] = core / rim
    assert ratios[2.0] < ratios[-2.0] - 0.2


def test_heterogeneity_raises_t2_texture():
    cvs = {}
    for z in (-2.0, 2.0):
        item = synthesize_patient(_latent(z_heterogeneity=z, z_necrosis=-3.0, z_size=1.0), "A", 8)["T2"]
        k = _middle_slice(item.mask)
        inner = ndimage.binary_erosion(item.mask[:, :, k].astype(bool), iterations=2)
        vals = item.image[:, :, k][inner].astype(float)
        cvs[z] = vals.std() / vals.mean()
    assert cvs[2.0] > 2.0 * cvs[-2.0]


def test_synthesize_patient_deterministic_for_seed():
    a = synthesize_patient(_latent(z_size=0.5), "B", seed=np.random.SeedSequence(9))
    b = synthesize_patient(_latent(z_size=0.5), "B", seed=np.random.SeedSequence(9))
    c = synthesize_patient(_latent(z_size=0.5), "B", seed=np.random.SeedSequence(10))
    for seq in schema.SEQUENCES:
        np.testing.assert_array_equal(a[seq].image, b[seq].image)
        np.testing.assert_array_equal(a[seq].mask, b[seq].mask)
        assert not np.array_equal(a[seq].image, c[seq].image)


def test_world_grid_centred_with_spacing():
    x, y, z, affine = world_grid("C")
    assert x.size == SCANNERS["C"].shape[0]
    np.testing.assert_allclose(np.diff(x), SCANNERS["C"].spacing[0])
    np.testing.assert_allclose(affine @ [0, 0, 0, 1], [x[0], y[0], z[0], 1])
    assert abs(x.mean()) < 1e-9


def test_synthesize_patient_rejects_bad_input():
    with pytest.raises(ValueError, match="scanner must be one of"):
        synthesize_patient(_latent(), "Z", seed=0)
    with pytest.raises(ValueError, match="missing 'z_necrosis'"):
        synthesize_patient({k: 0.0 for k in LATENTS if k != "z_necrosis"}, "A", seed=0)
    with pytest.raises(ValueError, match="z_size must be finite"):
        synthesize_patient(_latent(z_size=np.nan), "A", seed=0)


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(LATENTS),
    st.floats(-4.0, 4.0),
    st.floats(0.01, 2.0),
)
def test_tumour_features_monotone_in_each_latent(name, z, step):
    lo = tumour_features(**_latent(**{name: z}))
    hi = tumour_features(**_latent(**{name: z + step}))
    for field in lo.__dataclass_fields__:
        assert np.all(getattr(hi, field) >= getattr(lo, field)), field
