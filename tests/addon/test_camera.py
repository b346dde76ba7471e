"""Camera round-trip: points projected through the Blender camera (world_to_camera_view)
land where the source camera model puts them, to < 0.01 px, for NeRF and COLMAP tracks."""
from __future__ import annotations

import json
import math

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

TOL_PX = 0.01


def blender_pixels(scene, cam_obj, pts: np.ndarray) -> np.ndarray:
    """Project through Blender's own camera model; pixel coords with (0,0) = top-left corner."""
    w, h = scene.render.resolution_x, scene.render.resolution_y
    out = []
    for p in pts:
        v = world_to_camera_view(scene, cam_obj, Vector(p))
        out.append((v.x * w, (1.0 - v.y) * h))
    return np.asarray(out)


def points_in_front(c2w_cv: np.ndarray, n: int, rng, depth=(1.0, 6.0), spread=0.6) -> np.ndarray:
    z = rng.uniform(*depth, n)
    pc = np.stack([rng.uniform(-spread, spread, n) * z, rng.uniform(-spread, spread, n) * z, z], 1)
    return pc @ c2w_cv[:3, :3].T + c2w_cv[:3, 3]


def test_intrinsics_formula_roundtrip(ext, empty_scene):
    """to_blender / from_blender invert each other for fx != fy and an off-centre principal point."""
    from vanelia_addon.addon import camera

    cam = bpy.data.cameras.new("c")
    cam.sensor_fit = "HORIZONTAL"
    for fx, fy, cx, cy, w, h in [(500.0, 510.0, 330.2, 170.4, 640, 360), (1375.52, 1374.49, 554.558, 965.268, 1080, 1920), (90.0, 80.0, 40.0, 30.0, 96, 54)]:
        bi = camera.to_blender(fx, fy, cx, cy, w, h)
        cam.lens, cam.sensor_width, cam.shift_x, cam.shift_y = bi.lens, bi.sensor_width, bi.shift_x, bi.shift_y
        got = camera.from_blender(cam, w, h, bi.pixel_aspect_x, bi.pixel_aspect_y)
        assert got == pytest.approx((fx, fy, cx, cy), abs=1e-4)


def test_blender_projection_matches_pinhole(ext, empty_scene):
    """Random cameras (fx != fy, shifted centre, portrait and landscape) through world_to_camera_view."""
    from vanelia_addon.addon import camera
    from vanelia_addon.shotcache.schema import FrameCamera

    rng = np.random.default_rng(1)
    sc = empty_scene
    for w, h in ((160, 90), (90, 160)):
        sc.render.resolution_x, sc.render.resolution_y = w, h
        frames = {}
        for f in range(1, 4):
            ang = rng.uniform(0, 2 * math.pi)
            eye = np.array([3 * math.cos(ang), 3 * math.sin(ang), rng.uniform(0.5, 2)])
            fwd = -eye / np.linalg.norm(eye)
            right = np.cross(fwd, [0, 0, 1]); right /= np.linalg.norm(right)
            down = np.cross(fwd, right)
            c2w = np.eye(4)
            c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, fwd, eye
            frames[f] = FrameCamera(fx=120.0, fy=117.0, cx=w / 2 + 7.3, cy=h / 2 - 4.1, c2w=c2w.tolist())
        obj = camera.build_camera(sc, frames)
        for f, fc in frames.items():
            sc.frame_set(f)
            pts = points_in_front(np.array(fc.c2w), 40, rng)
            err = np.abs(blender_pixels(sc, obj, pts) - camera.project(fc, pts)).max()
            assert err < TOL_PX, f"{w}x{h} frame {f}: {err:.4f} px"


def test_fox_transforms_roundtrip(ext, empty_scene, shared_data):
    """Real COLMAP-derived NeRF data: every present frame, projected and baked back."""
    from vanelia_addon.addon import camera
    from vanelia_addon.shotcache import tracks

    path = shared_data / "tracked" / "fox" / "transforms.json"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    tr = tracks.load_transforms(path)
    listed = len(json.loads(path.read_text())["frames"])
    images = {p.stem for p in (path.parent / "images").iterdir()}
    assert len(tr.frames) == len([1 for f in json.loads(path.read_text())["frames"] if f["file_path"].split("/")[-1].split(".")[0] in images])
    assert len(tr.frames) < listed  # frames whose image is missing were skipped
    assert tr.distortion.k1 == pytest.approx(0.0578421) and tr.distortion.p2 == pytest.approx(0.00015575)
    sc = empty_scene
    sc.render.resolution_x, sc.render.resolution_y = tr.width, tr.height
    obj = camera.build_camera(sc, tr.frames)
    rng = np.random.default_rng(0)
    check = list(tr.frames)[:: max(1, len(tr.frames) // 12)]
    worst = 0.0
    for f in check:
        fc = tr.frames[f]
        sc.frame_set(f)
        pts = points_in_front(np.array(fc.c2w), 30, rng, spread=0.3)
        worst = max(worst, float(np.abs(blender_pixels(sc, obj, pts) - camera.project(fc, pts)).max()))
    assert worst < TOL_PX, f"max reprojection difference {worst:.5f} px"
    baked = camera.bake_camera(sc, obj, check)
    for f in check:
        a, b = baked[f], tr.frames[f]
        assert (a.fx, a.fy, a.cx, a.cy) == pytest.approx((b.fx, b.fy, b.cx, b.cy), abs=1e-3)
        assert np.allclose(a.c2w, b.c2w, atol=1e-5)


def _write_colmap(folder, rng, n_images=4, w=200, h=120):
    """A COLMAP text model: OPENCV camera, random poses (w2c quaternions), 3D points on a plane."""
    from vanelia_addon.shotcache.tracks import quat_to_matrix

    folder.mkdir(parents=True, exist_ok=True)
    fx, fy, cx, cy = 150.0, 152.0, 103.5, 57.25
    (folder / "cameras.txt").write_text(f"# Camera list\n1 OPENCV {w} {h} {fx} {fy} {cx} {cy} 0.02 -0.01 0.001 0.0005\n")
    lines = ["# Image list", "# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME"]
    poses = {}
    for i in range(1, n_images + 1):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        t = rng.uniform(-1, 1, 3) + np.array([0, 0, 4.0])
        lines += [f"{i} {q[0]} {q[1]} {q[2]} {q[3]} {t[0]} {t[1]} {t[2]} 1 img_{i * 10:04d}.jpg", ""]
        poses[i * 10] = (quat_to_matrix(*q), t)
    (folder / "images.txt").write_text("\n".join(lines) + "\n")
    pts = np.column_stack([rng.uniform(-3, 3, 200), rng.uniform(-3, 3, 200), 0.5 + rng.normal(0, 0.003, 200)])
    pts = np.vstack([pts, rng.uniform(-3, 3, (30, 3))])  # outliers
    (folder / "points3D.txt").write_text("".join(f"{k + 1} {p[0]} {p[1]} {p[2]} 128 128 128 0.5\n" for k, p in enumerate(pts)))
    return (fx, fy, cx, cy), poses


def test_colmap_text_roundtrip(ext, empty_scene, tmp_path):
    from vanelia_addon.addon import camera
    from vanelia_addon.shotcache import ground as shot_ground
    from vanelia_addon.shotcache import tracks

    rng = np.random.default_rng(7)
    (fx, fy, cx, cy), poses = _write_colmap(tmp_path / "sparse", rng)
    tr = tracks.load_track(tmp_path)  # finds sparse/ by itself
    assert tr.kind == "colmap" and sorted(tr.frames) == sorted(poses)
    assert tr.distortion.k1 == pytest.approx(0.02) and tr.distortion.p2 == pytest.approx(0.0005)
    sc = empty_scene
    sc.render.resolution_x, sc.render.resolution_y = tr.width, tr.height
    obj = camera.build_camera(sc, tr.frames)
    for frame, (rot, t) in poses.items():
        sc.frame_set(frame)
        c2w = np.array(tr.frames[frame].c2w)
        pts = points_in_front(c2w, 30, rng)
        pc = pts @ rot.T + t  # COLMAP's own model: x_cam = R x_world + t
        ref = np.stack([fx * pc[:, 0] / pc[:, 2] + cx, fy * pc[:, 1] / pc[:, 2] + cy], 1)
        err = np.abs(blender_pixels(sc, obj, pts) - ref).max()
        assert err < TOL_PX, f"image {frame}: {err:.5f} px"
    ground = shot_ground.ground_from_points(tr.points)
    assert ground.normal[2] > 0.999 and ground.point[2] == pytest.approx(0.5, abs=0.01)


def test_bad_tracks_have_clear_messages(ext, tmp_path):
    from vanelia_addon.shotcache import tracks

    with pytest.raises(tracks.InputError, match="not found"):
        tracks.load_track(tmp_path / "nope.json")
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(tracks.InputError, match="t.json"):
        tracks.load_track(tmp_path / "t.json")
    (tmp_path / "u.json").write_text(json.dumps({"fl_x": 10, "frames": [{"file_path": "missing.png", "transform_matrix": np.eye(4).tolist()}]}))
    with pytest.raises(tracks.InputError, match="none of the 1 images"):
        tracks.load_track(tmp_path / "u.json")
    tr = tracks.TrackData("transforms", "x.json", {}, 640, 480)
    with pytest.raises(tracks.InputError, match="different aspect"):
        tracks.scale_to(tr, 640, 360)


def test_bake_constrained_camera_with_animated_lens(ext, empty_scene):
    """(a) cameras driven by constraints are baked from their evaluated state, frame by frame."""
    from vanelia_addon.addon import camera

    sc = empty_scene
    sc.render.resolution_x, sc.render.resolution_y = 120, 80
    target = bpy.data.objects.new("target", None)
    sc.collection.objects.link(target)
    for f, x in ((1, -1.0), (5, 1.0)):
        target.location = (x, 0.0, 0.0)
        target.keyframe_insert("location", frame=f)
    data = bpy.data.cameras.new("cam")
    cam = bpy.data.objects.new("cam", data)
    sc.collection.objects.link(cam)
    cam.location = (0.0, -4.0, 1.0)
    con = cam.constraints.new("TRACK_TO")
    con.target, con.track_axis, con.up_axis = target, "TRACK_NEGATIVE_Z", "UP_Y"
    for f, lens in ((1, 30.0), (5, 60.0)):
        data.lens = lens
        data.keyframe_insert("lens", frame=f)
    baked = camera.bake_camera(sc, cam, [1, 3, 5])
    for f in (1, 3, 5):
        sc.frame_set(f)
        u, v = camera.project(baked[f], np.array([target.location[:]]))[0]
        assert u == pytest.approx(60.0, abs=1e-3) and v == pytest.approx(40.0, abs=1e-3), "the target stays centred"
    assert baked[1].fx == pytest.approx(30.0 * 120 / 36.0) and baked[5].fx == pytest.approx(60.0 * 120 / 36.0)
    assert 30.0 * 120 / 36.0 < baked[3].fx < 60.0 * 120 / 36.0
