"""Properties of the classical compositor on synthetic linear frames."""
from __future__ import annotations

import numpy as np

from ml.composite.classical import composite_classical, estimate_noise, harmonize, linear_to_oklab, oklab_to_linear, ring_mask
from ml.io.colour import linear_to_srgb
from ml.pipeline.synthetic import linear_plate, synth_render

W, H = 96, 64


def _inputs():
    plate = linear_plate(W, H, 1)
    r = synth_render(W, H, 1)
    return plate, r["rgba"], r["shadow_catcher"]


def test_oklab_round_trip():
    rgb = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    assert np.allclose(oklab_to_linear(linear_to_oklab(rgb)), rgb, atol=1e-4)


def test_outside_product_and_shadow_unchanged_except_wrap():
    plate, rgba, shadow = _inputs()
    out = composite_classical(plate, rgba, shadow, params={"grain": 0.0})
    alpha = rgba[..., 3]
    untouched = (alpha == 0) & (shadow[..., 0] >= 0.999)
    assert np.array_equal(out[untouched], plate[untouched])
    # with grain: outside alpha still bit-identical (grain goes on the product only)
    out_g = composite_classical(plate, rgba, shadow, params={"grain": 1.0})
    assert np.array_equal(out_g[alpha == 0], composite_classical(plate, rgba, shadow, params={"grain": 0.0})[alpha == 0])


def test_shadow_darkens_plate():
    plate, rgba, shadow = _inputs()
    out = composite_classical(plate, rgba, shadow, params={"grain": 0.0})
    shaded = (shadow[..., 0] < 0.6) & (rgba[..., 3] == 0)
    assert shaded.sum() > 20
    assert (out[shaded] < plate[shaded] * 0.8).all()
    weaker = composite_classical(plate, rgba, shadow, params={"grain": 0.0, "shadow": 0.5})
    assert (weaker[shaded].mean() > out[shaded].mean())


def test_harmonization_moves_product_stats_towards_ring():
    plate, rgba, _ = _inputs()
    alpha = rgba[..., 3]
    ring = ring_mask(alpha, 8)
    prod = rgba[..., :3]
    core = alpha > 0.5
    lab_ring = linear_to_oklab(plate[ring]).mean(0)
    before = linear_to_oklab(prod[core]).mean(0)
    after = linear_to_oklab(harmonize(prod, alpha, plate, ring, 1.0)[core]).mean(0)
    assert np.linalg.norm(after - lab_ring) < np.linalg.norm(before - lab_ring) * 0.9
    # strength 0 = untouched; the product keeps most of its own colour at full strength
    assert np.array_equal(harmonize(prod, alpha, plate, ring, 0.0), prod)
    assert after[1] > lab_ring[1]  # still redder than the ground


def test_grain_matches_plate_noise_and_is_seeded():
    plate, rgba, shadow = _inputs()
    alpha = rgba[..., 3]
    p = {"harmonize": 0.0, "light_wrap": 0.0}
    a = composite_classical(plate, rgba, shadow, params={**p, "seed": 7}, frame_index=3)
    b = composite_classical(plate, rgba, shadow, params={**p, "seed": 7}, frame_index=3)
    c = composite_classical(plate, rgba, shadow, params={**p, "seed": 8}, frame_index=3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    core = alpha > 0.99
    from scipy.ndimage import binary_erosion

    core = binary_erosion(core, iterations=2)
    plate_sigma = estimate_noise(linear_to_srgb(plate)).mean()
    added = (linear_to_srgb(a) - linear_to_srgb(composite_classical(plate, rgba, shadow, params={**p, "grain": 0.0})))[core]
    assert 0.5 * plate_sigma < added.std() < 2.0 * plate_sigma


def test_noise_estimate_tracks_true_sigma():
    rng = np.random.default_rng(1)
    base = np.tile(np.linspace(0.2, 0.8, 128, dtype=np.float32), (128, 1))[..., None].repeat(3, -1)
    for s in (0.01, 0.04):
        est = estimate_noise(base + rng.normal(0, s, base.shape).astype(np.float32))
        assert np.allclose(est, s, rtol=0.2)


def test_defocus_auto_and_depth_run_and_change_only_product_region():
    plate, rgba, shadow = _inputs()
    r = synth_render(W, H, 1)
    out = composite_classical(plate, rgba, shadow, depth=r["depth"], params={"grain": 0.0, "focus_m": 2.0, "defocus_px": 2.0})
    sharp = composite_classical(plate, rgba, shadow, params={"grain": 0.0})
    far = (rgba[..., 3] == 0) & (shadow[..., 0] > 0.999)
    from scipy.ndimage import binary_dilation

    far &= ~binary_dilation(rgba[..., 3] > 0, iterations=8)
    assert np.array_equal(out[far], sharp[far]) and not np.array_equal(out, sharp)
    auto = composite_classical(plate, rgba, shadow, params={"grain": 0.0, "defocus": "auto"})
    assert np.isfinite(auto).all()


def test_empty_alpha_gives_shadowed_plate():
    plate, rgba, shadow = _inputs()
    rgba = rgba.copy()
    rgba[..., 3] = 0
    out = composite_classical(plate, rgba, shadow)
    assert np.allclose(out, plate * shadow)


def test_shadow_density_and_colour_follow_the_plates_own_shadows():
    from ml.composite.classical import match_shadow_density, plate_light_defaults
    from shotcache.schema import Lighting

    mult = np.ones((40, 40, 3), np.float32)
    mult[10:30, 10:30] = 0.2  # a dense grey umbra
    mult[10:30, 30:34] = 0.6  # its penumbra
    target = [0.5, 0.55, 0.7]  # the plate's shadows: lighter and bluer
    out = match_shadow_density(mult, target)
    assert np.allclose(out[20, 20], target, atol=0.02)
    assert (out[20, 31] > out[20, 20]).all() and (out[20, 31] < 1).all()  # penumbra keeps its place in between
    assert np.allclose(out[0, 0], 1.0)
    soft = np.full((40, 40, 3), 0.9, np.float32)  # an occlusion-only shadow: no umbra, untouched
    assert np.array_equal(match_shadow_density(soft, target), soft)
    contact = np.ones((40, 40, 3), np.float32)
    contact[10:30, 6:34] = 0.4  # a cast shadow's body...
    contact[28:30, 14:26] = 0.05  # ...and the product's contact, where it hides the sky too
    out = match_shadow_density(contact, target)
    assert np.allclose(out[15, 20], target, atol=0.03)  # the body takes the plate's density
    assert (out[29, 20] < out[15, 20] - 0.15).all()  # the contact stays darker (matching it lifted it to the target)
    pale = np.ones((40, 40, 3), np.float32)
    pale[10:30, 10:30] = 0.7  # a render shadow lighter than the plate's...
    pale[28:30, 14:26] = 0.3
    assert np.array_equal(match_shadow_density(pale, [0.2, 0.2, 0.2]), pale)  # ...is not deepened (it crushed a real clip's to black)
    lit = Lighting(method="plate", shadow_ratio=target)
    p = plate_light_defaults(lit, {"grain": 0})
    assert p["shadow_match"] == target and p["harmonize"] < 0.5 and p["grain"] == 0
    assert plate_light_defaults(lit, {"harmonize": 0.5})["harmonize"] == 0.5  # explicit wins
    assert plate_light_defaults(Lighting(), {}) == {}
    edited = plate_light_defaults(Lighting(method="user", shadow_ratio=target), {})  # the artist's light is not undone
    assert edited["harmonize"] == 0.0 and edited["shadow_match"] == target
