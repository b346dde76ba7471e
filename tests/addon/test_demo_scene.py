"""Generated demo data: plate frames + MP4 with an exact track, and a PBR product GLB."""
from __future__ import annotations

import json
import math

import bpy
import cv2
import numpy as np
import pytest

W, H, N = 96, 54, 3


@pytest.fixture(scope="module")
def demo(ext, tmp_path_factory):
    from vanelia_addon.addon import demo_scene

    out = tmp_path_factory.mktemp("demo")
    made = demo_scene.make_demo(out, frames=N, resolution=(W, H), samples=4)
    return out, made


def test_files_and_plate(demo):
    from ml.io import video

    out, made = demo
    for key in ("plate", "camera", "model", "frames"):
        assert (out / made[key].split("/")[-1]).exists()
    info = video.probe(out / "plate.mp4")
    assert (info["width"], info["height"]) == (W, H) and info["fps"] == pytest.approx(24.0)
    decoded = list(video.iter_frames(out / "plate.mp4"))
    assert len(decoded) == N
    pngs = sorted((out / "frames").glob("*.png"))
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(1, N + 1)]
    first = cv2.cvtColor(cv2.imread(str(pngs[0])), cv2.COLOR_BGR2RGB)
    assert first.std() > 10, "the plate must be textured, not flat"
    assert 30 < first.mean() < 230, "the plate must be neither black nor blown out"
    assert np.abs(decoded[0].astype(int) - first.astype(int)).mean() < 6  # the MP4 holds the same frames


def test_track_is_exact(demo):
    """transforms.json is the camera that rendered the plate: same path, same intrinsics."""
    from vanelia_addon.addon import camera, demo_scene
    from vanelia_addon.shotcache import tracks

    out, _ = demo
    doc = json.loads((out / "transforms.json").read_text())
    assert (doc["w"], doc["h"]) == (W, H)
    tr = tracks.load_track(out / "transforms.json")
    assert sorted(tr.frames) == list(range(1, N + 1))
    cam = bpy.data.cameras.new("check")
    cam.lens, cam.sensor_width, cam.sensor_fit, cam.shift_x, cam.shift_y = 30.0, 36.0, "HORIZONTAL", 0.02, -0.015
    fx, fy, cx, cy = camera.from_blender(cam, W, H)
    path = demo_scene.camera_path(N)
    for i, f in enumerate(sorted(tr.frames)):
        fc = tr.frames[f]
        assert (fc.fx, fc.fy, fc.cx, fc.cy) == pytest.approx((fx, fy, cx, cy), abs=1e-6)
        assert np.allclose(np.array(fc.c2w), np.array(path[i]) @ np.diag([1, -1, -1, 1]), atol=1e-5)
    assert tr.light_direction == pytest.approx(demo_scene.sun_direction())  # the set's sun travels with the track
    # the look-at target projects near the image centre, shifted by the lens shift
    fc = tr.frames[1]
    u, v = camera.project(fc, np.array([[0.0, 0.0, 0.2]]))[0]
    assert abs(u - cx) < 0.15 * W and abs(v - cy) < 0.15 * H


def test_product_glb_is_pbr(demo):
    from vanelia_addon.addon import product

    out, _ = demo
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    root = product.import_glb(bpy.context.scene, out / "product.glb")
    lo, hi = product.mesh_bounds(root)
    assert hi[2] - lo[2] == pytest.approx(0.345, abs=0.01)
    mats = {m.name: m for o in root.children_recursive if o.type == "MESH" for m in o.data.materials}
    metallic = {}
    for name, m in mats.items():
        bsdf = next(n for n in m.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
        metallic[name] = bsdf.inputs["Metallic"].default_value
        if name.startswith("Bottle Glass"):
            assert bsdf.inputs["Base Color"].is_linked, "the body carries its label texture"
            assert bsdf.inputs["Roughness"].default_value == pytest.approx(0.22, abs=0.01)
    assert max(metallic.values()) == pytest.approx(1.0) and min(metallic.values()) == pytest.approx(0.0)
    assert not math.isnan(sum(metallic.values()))
