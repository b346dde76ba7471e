"""The plate's cast shadows given to the product (ml/light/key_shadow.py).

A ground patch whose half y < 0 is in the key's shadow; the key comes from +x, 45 deg up. A
product point's shadow is read where its ray away from the light meets the ground.
"""
import math

import numpy as np
import pytest

from ml.light.key_shadow import KeyShadowMap, apply, visibility_from_ground
from shotcache.schema import Light, Lighting

S, HALF = 64, 1.0
L = np.array([1.0, 0.0, 1.0]) / math.sqrt(2)


@pytest.fixture
def shadow_map() -> KeyShadowMap:
    vis = np.ones((S, S), np.float32)
    vis[S // 2 :, :] = 0.0  # rows below the centre: -e2 = y < 0
    return KeyShadowMap(vis, np.zeros(3), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0]), HALF)


def test_points_are_shadowed_where_their_way_to_the_light_leaves_the_ground_in_shadow(shadow_map):
    m = shadow_map
    assert m.at_ground(np.array([[0.0, 0.5, 0.0], [0.0, -0.5, 0.0]])).tolist() == pytest.approx([1.0, 0.0])
    assert m.at_ground(np.array([[5.0, 5.0, 0.0]]))[0] == 1.0  # off the patch: lit
    # the map's band is along x, the light along x: height moves the foot along x, not across
    assert m.at_points(np.array([[0.0, -0.5, 0.3]]), L)[0] == pytest.approx(0.0)

    band = KeyShadowMap(np.where(np.arange(S)[None, :] < S // 2, 0.0, 1.0).repeat(S, 0).astype(np.float32), m.centre, m.e1, m.e2, m.normal, HALF)
    # x < 0 in shadow: a point at x = 0.1 is lit at the foot, but 0.3 m up its ray goes back
    # to x = -0.2 on the ground: an occluder there, taller than it, hides the light
    assert band.at_points(np.array([[0.1, 0.0, 0.0]]), L)[0] > 0.9
    assert band.at_points(np.array([[0.1, 0.0, 0.3]]), L)[0] < 0.1
    assert band.at_points(np.array([[0.1, 0.0, 0.3]]), np.array([1.0, 0, -0.1]))[0] == 1.0  # light below the horizon


def _frame(shadow_map):
    """4 x 4 px: column 0-1 product over the shadowed ground, 2-3 over lit ground; row 3 is ground."""
    pos = np.zeros((4, 4, 3), np.float32)
    pos[:, :, 1] = np.array([-0.5, -0.5, 0.5, 0.5])[None, :]
    pos[:3, :, 2] = 0.05
    rgba = np.zeros((4, 4, 4), np.float32)
    rgba[:3] = [0.6, 0.5, 0.2, 1.0]
    key = np.zeros((4, 4, 3), np.float32)
    key[:3] = [0.4, 0.3, 0.1]
    catcher = np.ones((4, 4, 3), np.float32)
    catcher[3] = 0.3  # the product's own key shadow, on both grounds
    depth = np.full((4, 4, 1), 2.0, np.float32)
    return rgba, {"position": pos, "key": key, "shadow_catcher": catcher, "depth": depth}


def test_apply_takes_the_key_off_the_product_in_shadow_and_fades_its_shadow_there(shadow_map):
    rgba, passes = _frame(shadow_map)
    lighting = Lighting(lights=[Light(direction=L.tolist())], shadow_ratio=[0.4, 0.4, 0.5])
    out = apply(rgba, passes, lighting, shadow_map)
    assert out[1, 0, :3] == pytest.approx([0.2, 0.2, 0.1], abs=1e-6)  # in shadow: sky share only
    assert out[1, 3, :3] == pytest.approx([0.6, 0.5, 0.2])  # lit: as rendered
    assert (out[..., 3] == rgba[..., 3]).all()
    sc = passes["shadow_catcher"]
    assert sc[3, 3] == pytest.approx([0.3, 0.3, 0.3])  # lit ground: the product's key shadow stays
    # shadowed ground: the key is blocked already; 0.3 is darker than the plate's own shadow
    # (0.4 of lit): what is left is the product taking some of the sky, 0.3 / 0.4
    assert sc[3, 0] == pytest.approx([0.75, 0.75, 0.6])


def test_apply_without_a_key_light_changes_nothing(shadow_map):
    rgba, passes = _frame(shadow_map)
    before = {k: v.copy() for k, v in passes.items()}
    out = apply(rgba, passes, Lighting(lights=[]), shadow_map)
    assert np.array_equal(out, rgba) and all(np.array_equal(passes[k], before[k]) for k in before)


def test_visibility_from_ground_reads_levels_and_tells_mortar_from_shadow():
    lit, shadow = np.array([0.5, 0.45, 0.35]), np.array([0.12, 0.13, 0.15])  # the shadow is bluer
    med = np.tile(lit, (S, S, 1)).astype(np.float32)
    med[:, : S // 2] = shadow  # left half in the key's shadow
    med[S // 2 - 2 : S // 2 + 2, S - 20 :] = lit * 0.3  # a dark mortar line, lit ground's colour
    vis = visibility_from_ground(med, np.ones((S, S), bool), shadow, lit, 2 * HALF / S)
    assert vis[10, 5] < 0.05 and vis[10, S - 5] > 0.95
    assert vis[S // 2, S - 10] > 0.9  # mortar: dark but not blue, lit
    unseen = np.ones((S, S), bool)
    unseen[:, S - 8 :] = False
    vis = visibility_from_ground(med, unseen, shadow, lit, 2 * HALF / S)
    assert vis[5, S - 2] > 0.9  # filled from lit neighbours


def test_the_map_survives_shot_json_and_its_file(tmp_path, shadow_map):
    from ml.light.key_shadow import load, save

    rec = save(tmp_path, shadow_map)
    back = load(tmp_path, rec)
    assert back is not None and np.abs(back.visibility - shadow_map.visibility).max() < 1e-4
    assert np.allclose(back.e1, shadow_map.e1) and back.half_m == HALF
    assert load(tmp_path, {}) is None and load(tmp_path, {**rec, "path": "light/none.png"}) is None
    assert not [p for p in (tmp_path / "light").iterdir() if p.name.startswith(".")]  # no temp left


def test_look_up_of_a_whole_frame_of_points(shadow_map):
    """A 4K frame's position pass is ~8 M points: more than OpenCV's remap takes in one row."""
    ys = np.linspace(-2.0, 2.0, 70_000)
    pts = np.stack([np.zeros_like(ys), ys, np.zeros_like(ys)], 1)
    v = shadow_map.at_ground(pts)
    assert v.shape == (70_000,) and (v[ys > 0.1] == 1.0).all() and (v[(ys < -0.1) & (ys > -0.9)] == 0.0).all()
    assert (v[np.abs(ys) > 1.05] == 1.0).all()  # off the patch


def test_a_key_without_shadow_leaves_the_sky_occlusion_at_full_strength(shadow_map):
    """The product stands in the plate's shadow: its key casts none, but still lights the
    catcher, which then reads the sky the product takes away diluted by the key."""
    rgba, passes = _frame(shadow_map)
    passes["shadow_catcher"][3] = 0.8  # the product takes 0.2 of lit ground's light: half the sky's 0.4
    lighting = Lighting(lights=[Light(direction=L.tolist(), shadow=False)], shadow_ratio=[0.4, 0.4, 0.4])
    apply(rgba, passes, lighting, shadow_map)
    assert passes["shadow_catcher"][3, 0] == pytest.approx([0.5, 0.5, 0.5])
    assert passes["shadow_catcher"][0, 0] == pytest.approx([1.0, 1.0, 1.0])
