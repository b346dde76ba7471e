"""The truth-set generator's geometry: props never stand between a camera and the product."""
from __future__ import annotations

import importlib
import math

import numpy as np


def _module(ext):
    return importlib.import_module(f"{ext.__name__}.addon.truth_scenes")


def _blocked(ts, c, r, eyes) -> bool:
    return any(ts._segment_distance(np.asarray(c), np.asarray(e, float), np.zeros(2)) < r + ts.PRODUCT_CLEAR_M for e in eyes)


def test_a_prop_on_the_line_of_sight_is_turned_round_the_product_and_others_stay(ext):
    ts = _module(ext)
    eyes = [(1.7 * math.cos(math.radians(a)), 1.7 * math.sin(math.radians(a))) for a in np.linspace(20, 35, 6)]
    on_path = (1.1 * math.cos(math.radians(27)), 1.1 * math.sin(math.radians(27)), 0.3)  # between camera and product
    behind_camera_inside = (1.7 * math.cos(math.radians(30)), 1.7 * math.sin(math.radians(30)), 0.2)  # the camera inside it
    far = (-2.0, 0.3, 0.4)  # beyond the product
    props = [on_path, behind_camera_inside, far]
    assert _blocked(ts, on_path[:2], 0.3, eyes) and _blocked(ts, behind_camera_inside[:2], 0.2, eyes)
    out = ts.clear_line_of_sight(props, eyes)
    assert out[2] == far[:2]
    for (x, y, r), (nx, ny) in zip(props, out):
        assert not _blocked(ts, (nx, ny), r, eyes)
        assert math.isclose(math.hypot(nx, ny), math.hypot(x, y), rel_tol=1e-9)  # turned, not pushed away
    assert np.hypot(out[0][0] - out[1][0], out[0][1] - out[1][1]) >= 0.3 + 0.2  # moved props do not overlap


def test_generator_version_is_part_of_the_cache_key(ext, tmp_path):
    ts = _module(ext)
    import json

    folder = tmp_path / f"{next(iter(ts.RECIPES))}-s0"
    folder.mkdir()
    name = next(iter(ts.RECIPES))
    stale = {"frames": 1, "resolution": [16, 16], "samples": 1, "seed": 0, "recipe": ts.RECIPES[name], "generator": ts.GENERATOR_VERSION - 1}
    (folder / "set.json").write_text(json.dumps(stale))
    calls = []
    ts_make = ts.make_set
    ts.make_set = lambda *a, **k: calls.append(a[1])
    try:
        ts.batch_make_sets(["--output", str(tmp_path), "--sets", name, "--frames", "1", "--resolution", "16x16", "--samples", "1", "--seed", "0"])
        assert calls == [name]  # a set of an older generator is rendered again
        (folder / "set.json").write_text(json.dumps({**stale, "generator": ts.GENERATOR_VERSION}))
        ts.batch_make_sets(["--output", str(tmp_path), "--sets", name, "--frames", "1", "--resolution", "16x16", "--samples", "1", "--seed", "0"])
        assert calls == [name]  # the current one is reused
    finally:
        ts.make_set = ts_make


def test_a_ceiling_lit_room_has_panels_overhead_shining_down(ext):
    """The ceiling set: panels in a ceiling the low cameras never see, walls round the room;
    the light kind the window-lit interior does not stand for (a shop, an office, a gym)."""
    import bpy

    ts = _module(ext)
    scene = bpy.data.scenes.new("ceiling-test")
    try:
        rng = np.random.default_rng(3)
        rec = ts.build_lights(scene, "ceiling", rng)
        assert rec["kind"] == "ceiling" and not rec["hard_key"] and len(rec["lights"]) == 6
        for light in rec["lights"]:
            assert light["type"] == "area" and abs(light["position"][2] - (ts.CEILING_M - 0.05)) < 1e-6
            assert light["direction"][2] > 0.999  # towards the light: up, so it shines down
        ts.build_set(scene, "tiles", "ceiling", rng)
        names = {o.name for o in scene.collection.objects}
        assert any(n.startswith("Ceiling") for n in names) and sum(n.startswith("Wall") for n in names) == 4
        ceiling = next(o for o in scene.collection.objects if o.name.startswith("Ceiling"))
        zs = [(ceiling.matrix_world @ v.co).z for v in ceiling.data.vertices]
        assert max(abs(z - ts.CEILING_M) for z in zs) < 1e-5
        assert "ceiling_tiles_glossy" in ts.RECIPES and ts.RECIPES["ceiling_tiles_glossy"]["light"] in ts.LIGHTINGS
    finally:
        for o in list(scene.collection.objects):
            bpy.data.objects.remove(o)
        bpy.data.scenes.remove(scene)


def test_the_blur_set_pans_past_the_product_while_the_others_keep_it_centred(ext):
    """A camera aimed at the product never streaks it: the motion-blur set drifts its aim so
    the product crosses the frame; the other sets' paths are unchanged (same random draws)."""
    ts = _module(ext)

    def product_x(path) -> np.ndarray:  # the product's horizontal angle in each camera, degrees
        out = []
        for m in path:
            p = np.linalg.inv(np.array(m)) @ np.array([0.0, 0.0, 0.22, 1.0])
            out.append(math.degrees(math.atan2(p[0], -p[2])))
        return np.array(out)

    recipe = ts.RECIPES["sun_low_grass_diffuse_blur"]
    assert recipe["shutter"] > 0 and recipe["drift_m"] > 0
    still = product_x(ts.camera_path(6, np.random.default_rng(4)))
    moving = product_x(ts.camera_path(6, np.random.default_rng(4), drift_m=recipe["drift_m"]))
    assert np.abs(still).max() < 0.5
    per_frame = np.abs(np.diff(moving))
    assert per_frame.min() > 2.0 and np.abs(moving).max() < 15.0  # streaks, and stays well inside a 62-degree view
