"""setup_shot end to end on real bpy: plate decode, camera, product placement, lighting, shot.json.

Also holds the small synthetic inputs the other Blender-side tests reuse (``make_inputs``):
a textured image-sequence plate, its exact transforms.json, and the demo bottle GLB.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import bpy
import cv2
import numpy as np
import pytest

SIZE = (96, 54)
FX = 80.0


def look_at_gl(eye, target) -> np.ndarray:
    """OpenGL camera-to-world (camera looks down -z, +y up), world z up."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    fwd = target - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -fwd, eye
    return m


def plate_image(i: int, size=SIZE) -> np.ndarray:
    """A textured frame (checker x gradient) with a bright patch top-left (the 'sun')."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    checker = (((x + 3 * i) // 8 + y // 8) % 2) * 60 + 90
    img = np.stack([checker + x * 0.5, checker * 0.9 + y * 0.4, checker * 0.8], -1)
    img[: h // 4, : w // 4] = 250
    return np.clip(img, 0, 255).astype(np.uint8)


def make_inputs(folder: Path, n: int = 3, size=SIZE, with_glb: bool = True) -> dict[str, Path]:
    """plate frames (frames/000001.png ...), transforms.json for them, product.glb."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = folder / "frames"
    frames.mkdir(exist_ok=True)
    w, h = size
    s = w / SIZE[0]
    doc = {"fl_x": FX * s, "fl_y": FX * s * 1.01, "cx": w / 2 + 1.5 * s, "cy": h / 2 - 1.0 * s, "w": w, "h": h,
           "k1": 0.01, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": []}
    for i in range(1, n + 1):
        cv2.imwrite(str(frames / f"{i:06d}.png"), cv2.cvtColor(plate_image(i, size), cv2.COLOR_RGB2BGR))
        eye = (0.25 * (i - 1), -2.2, 1.2)
        doc["frames"].append({"file_path": f"frames/{i:06d}.png", "transform_matrix": look_at_gl(eye, (0, 0, 0.2)).tolist()})
    (folder / "transforms.json").write_text(json.dumps(doc))
    out = {"plate": frames, "camera": folder / "transforms.json"}
    if with_glb:
        out["model"] = folder / "product.glb"
        if not out["model"].is_file():
            from vanelia_addon.addon import demo_scene

            demo_scene.make_product(out["model"])
            bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    return out


@pytest.fixture(scope="module")
def inputs(ext, tmp_path_factory):
    return make_inputs(tmp_path_factory.mktemp("shot-inputs"))


def test_setup_from_image_sequence(ext, empty_scene, inputs, tmp_path):
    from vanelia_addon.addon import product, shot
    from vanelia_addon.shotcache.layout import ShotPaths

    s = shot.setup_shot(tmp_path / "s", inputs["plate"], inputs["model"], inputs["camera"], frames="2:3", samples=4, product_size_m=0.4)
    paths = ShotPaths(tmp_path / "s")
    assert s.frames == [2, 3]
    assert s.resolution == list(SIZE)
    assert sorted(p.name for p in paths.plate_dir.iterdir()) == ["000002.png", "000003.png"]
    decoded = cv2.cvtColor(cv2.imread(str(paths.plate_frame(2))), cv2.COLOR_BGR2RGB)
    assert np.array_equal(decoded, plate_image(2))  # PNG plates are copied bit-exactly
    # the shot got its own scene; the user's (empty) scene is untouched
    from vanelia_addon.addon import shot_scene

    assert len(empty_scene.objects) == 0 and empty_scene.camera is None
    sc = shot_scene.scene_of(tmp_path / "s")
    assert sc is not None and sc != empty_scene and sc.name == "Vanelia s"
    assert (sc.render.resolution_x, sc.render.resolution_y) == SIZE
    assert (sc.frame_start, sc.frame_end) == (2, 3)
    assert sc.camera is not None and sc.camera.data.background_images[0].image is not None
    # shot.json round-trips and keeps the distortion coefficients of the track
    loaded = paths.load_shot()
    assert loaded.camera.distortion.k1 == pytest.approx(0.01)
    assert loaded.camera.frames[2].fy == pytest.approx(FX * 1.01)
    # product stands on the ground plane z = 0, 0.4 m large
    root = bpy.data.objects[product.PRODUCT_ROOT]
    lo, hi = product.mesh_bounds(root)
    assert lo[2] == pytest.approx(0.0, abs=1e-4)
    assert max(hi - lo) == pytest.approx(0.4, rel=1e-3)
    assert loaded.product.placement == "ground" and len(loaded.product.sha256) == 64
    # lighting: world = mean plate colour (linear), key light estimated towards the bright patch
    lin = ((np.stack([plate_image(2), plate_image(3)]) / 255.0 + 0.055) / 1.055) ** 2.4
    assert loaded.lighting.world_color == pytest.approx(list(lin.reshape(-1, 3).mean(0)), abs=0.03)
    assert loaded.lighting.estimated
    d = np.array(loaded.lighting.lights[0].direction)
    assert d[2] > math.sin(math.radians(20))  # above the horizon
    assert bpy.data.objects["Vanelia Ground"].is_shadow_catcher


def test_resolution_scales_plate_and_intrinsics(ext, empty_scene, inputs, tmp_path):
    from vanelia_addon.addon import shot

    s = shot.setup_shot(tmp_path / "s", inputs["plate"], inputs["model"], inputs["camera"], frames="1:1", resolution="48x27", samples=4)
    img = cv2.imread(str(tmp_path / "s" / "plate" / "000001.png"))
    assert img.shape[:2] == (27, 48)
    assert s.camera.frames[1].fx == pytest.approx(FX / 2)
    assert s.camera.frames[1].cx == pytest.approx((SIZE[0] / 2 + 1.5) / 2)
    # the footage's own size is kept: the QC judges the lock there, not at the working size
    assert s.plate.native_size == list(SIZE) and s.resolution == [48, 27]


def test_explicit_placement(ext, empty_scene, inputs, tmp_path):
    from vanelia_addon.addon import product, shot

    m = [[2, 0, 0, 0.5], [0, 2, 0, -0.25], [0, 0, 2, 0.1], [0, 0, 0, 1]]
    s = shot.setup_shot(tmp_path / "s", inputs["plate"], inputs["model"], inputs["camera"], frames="1:1", samples=4, product_matrix=m)
    assert s.product.placement == "explicit"
    assert np.allclose(np.array(bpy.data.objects[product.PRODUCT_ROOT].matrix_world), m)


def test_explicit_matrix_sized(ext, empty_scene, inputs, tmp_path):
    """A placement matrix + a size: rotation and standing point kept, scale replaced."""
    from vanelia_addon.addon import product, shot

    c, s = math.cos(0.3), math.sin(0.3)
    m = [[5 * c, -5 * s, 0, 0.5], [5 * s, 5 * c, 0, -0.25], [0, 0, 5, 0.0], [0, 0, 0, 1]]
    sh = shot.setup_shot(tmp_path / "s", inputs["plate"], inputs["model"], inputs["camera"], frames="1:1", samples=4,
                         product_matrix=m, product_size_m=0.69)  # the bottle is 0.345 m tall
    assert sh.product.placement == "explicit" and sh.product.scale_m == pytest.approx(2.0, rel=1e-3)
    sized = np.asarray(sh.product.matrix_world)
    assert np.allclose(sized[:3, :3], np.asarray(m)[:3, :3] / 5 * 2.0, atol=1e-3)
    assert np.allclose(sized[:3, 3], [0.5, -0.25, 0.0])
    root = bpy.data.objects[product.PRODUCT_ROOT]
    lo, hi = product.mesh_bounds(root)
    assert max(hi - lo) == pytest.approx(0.69, rel=1e-3) and lo[2] == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(product.InputError, match="zero axis"):
        product.sized_matrix(root, np.diag([0.0, 1, 1, 1]).tolist(), 0.5)


def test_track_qc_kept_and_summarised(ext, inputs, tmp_path):
    """transforms.json `qc` (from vanelia track) -> TrackData.qc, strict JSON; the panel's line."""
    from vanelia_addon.shotcache import tracks
    from vanelia_addon.panels import sidebar

    doc = json.loads(inputs["camera"].read_text())
    doc["qc"] = {"usable": False, "reason": "only 30% of frames solved", "median_error_px": float("inf"),
                 "solved_fraction": 0.3, "unreliable_frames": [1, 2]}
    path = inputs["camera"].with_name("transforms_qc.json")
    path.write_text(json.dumps(doc))
    # as `vanelia track` writes it: frames numbered by "frame", their (temporary) images gone
    for n, fr in enumerate(doc["frames"], start=4):
        fr["file_path"], fr["frame"] = f"gone/{n:06d}.jpg", n
    path.write_text(json.dumps(doc))
    data = tracks.load_transforms(path)
    assert sorted(data.frames) == [4, 5, 6]
    qc = data.qc
    doc["frames"][0]["frame"] = "first"
    bad = path.with_name("transforms_badframe.json")
    bad.write_text(json.dumps(doc))
    with pytest.raises(tracks.InputError, match="'frame' must be a frame number"):
        tracks.load_transforms(bad)
    assert qc["median_error_px"] is None and qc["unreliable_frames"] == [1, 2]  # Infinity is not JSON
    lines, alert = sidebar.qc_summary(qc)
    assert alert and "n/a" in lines[0] and "30% solved" in lines[0] and "2 unreliable frames" in lines[0]
    assert "only 30% of frames solved" in lines[1]
    lines, alert = sidebar.qc_summary({"usable": True, "median_error_px": 0.4213, "solved_fraction": 1.0, "unreliable_frames": [7]})
    assert not alert and lines == ["Track: median error 0.42 px, 100% solved, 1 unreliable frame"]
    # the panel reads shot.json again only when it changes
    shot_json = tmp_path / "shot.json"
    shot_json.write_text(json.dumps({"camera": {"qc": qc}}))
    assert sidebar.shot_qc(str(tmp_path))["solved_fraction"] == 0.3
    shot_json.write_text(json.dumps({"camera": {"qc": {"usable": True, "solved_fraction": 0.9}}}))
    import os

    st = shot_json.stat()
    os.utime(shot_json, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert sidebar.shot_qc(str(tmp_path)) == {"usable": True, "solved_fraction": 0.9}
    assert sidebar.shot_qc(str(tmp_path / "nowhere")) == {}
    # the run's verdict (shot.json "qc": lock + plausibility) is shown with the track's
    shot_json.write_text(json.dumps({"camera": {"qc": {"usable": True, "median_error_px": 0.3, "solved_fraction": 1.0}},
                                     "qc": {"verdict": "refused", "slide_mean_px": 4.25, "slide_max_px": 9.5,
                                            "scale_source": "--camera-height 1.6 m",
                                            "reasons": ["lock: the product slides over the ground"]}}))
    os.utime(shot_json, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    lines, alert = sidebar.qc_summary(sidebar.shot_qc(str(tmp_path)))
    assert alert and "Lock: slide 4.25 px mean, 9.50 px max (refused)" in lines
    assert "Scale: --camera-height 1.6 m" in lines and "Refused: lock: the product slides over the ground" in lines


def test_camera_from_blend(ext, empty_scene, inputs, tmp_path):
    """(a): an animated camera in the scene is baked per frame into shot.json."""
    from vanelia_addon.addon import shot

    sc = empty_scene
    data = bpy.data.cameras.new("Shot Cam")
    data.lens = 28.0
    cam = bpy.data.objects.new("Shot Cam", data)
    sc.collection.objects.link(cam)
    sc.camera = cam
    for f, x in ((1, -0.5), (3, 0.5)):
        cam.location = (x, -3.0, 1.2)
        cam.rotation_euler = (math.radians(75), 0, 0)
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_euler", frame=f)
    s = shot.setup_shot(tmp_path / "s", inputs["plate"], inputs["model"], None, samples=4)
    assert s.camera.kind == "blend" and sorted(s.camera.frames) == [1, 2, 3]
    xs = [s.camera.frames[f].c2w[0][3] for f in (1, 2, 3)]
    assert xs[0] == pytest.approx(-0.5) and xs[2] == pytest.approx(0.5) and -0.5 < xs[1] < 0.5
    assert s.camera.frames[2].fx == pytest.approx(28.0 * SIZE[0] / 36.0)
    # OpenCV convention: camera z (forward) points at the scene, i.e. +y and down
    fwd = np.array(s.camera.frames[1].c2w)[:3, 2]
    assert fwd[1] > 0.9 and fwd[2] < 0


def test_video_plate_decodes_to_same_pixels(ext, empty_scene, inputs, tmp_path):
    """An MP4 plate decoded by Blender matches PyAV's decode of the same file (colour-neutral)."""
    from ml.io import video
    from vanelia_addon.addon import shot

    frames = [plate_image(i, (96, 54)) for i in range(1, 4)]
    mp4 = video.write_mp4(tmp_path / "plate.mp4", frames, fps=25.0)
    s = shot.setup_shot(tmp_path / "s", mp4, inputs["model"], inputs["camera"], samples=4)
    assert s.frames == [1, 2, 3] and s.fps == pytest.approx(25.0)
    ref = list(video.iter_frames(mp4))
    for i, f in enumerate(s.frames):
        got = cv2.cvtColor(cv2.imread(str(tmp_path / "s" / "plate" / f"{f:06d}.png")), cv2.COLOR_BGR2RGB)
        diff = np.abs(got.astype(int) - ref[i].astype(int))
        assert diff.mean() < 2.0, f"frame {f}: mean abs diff {diff.mean():.2f} vs PyAV"


def test_a_video_plate_keeps_its_4_2_0_blocks_for_the_compositor(ext, empty_scene, tmp_path):
    """Blender's decode of a 4:2:0 MP4 repeats each chroma sample over its 2 x 2 block, as the
    compositor's chroma test expects (ml/composite/chroma.py); the same frames as PNGs are
    full resolution."""
    from ml.composite.chroma import is_subsampled
    from ml.io import video
    from ml.io.colour import srgb_to_linear
    from vanelia_addon.addon import plate

    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:96, 0:128]
    frames = [np.clip(np.stack([128 + 70 * np.sin(xx / (2.5 + c) + i) * np.cos(yy / 3.0) for c in range(3)], -1)
                      + rng.normal(0, 8, (96, 128, 3)), 20, 235).astype(np.uint8) for i in range(2)]
    mp4 = video.write_mp4(tmp_path / "plate.mp4", frames, fps=25.0, crf=18)
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    for i, f in enumerate(frames, 1):
        cv2.imwrite(str(pngs / f"{i:06d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    for source, coded in ((mp4, True), (pngs, False)):
        plate.decode(source, tmp_path / source.stem)
        got = cv2.cvtColor(cv2.imread(str(tmp_path / source.stem / "plate" / "000001.png")), cv2.COLOR_BGR2RGB)
        assert is_subsampled(srgb_to_linear(got.astype(np.float32) / 255)) is coded, source


def test_undistort_on_request(ext, empty_scene, inputs, tmp_path):
    from vanelia_addon.addon import shot

    s = shot.setup_shot(tmp_path / "s", inputs["plate"], inputs["model"], inputs["camera"], frames="1:1", samples=4, undistort=True)
    assert s.plate.undistorted
    got = cv2.cvtColor(cv2.imread(str(tmp_path / "s" / "plate" / "000001.png")), cv2.COLOR_BGR2RGB)
    # k1 > 0: the corners move, the principal point stays
    assert not np.array_equal(got, plate_image(1))
    cx, cy = int(SIZE[0] / 2 + 1.5), int(SIZE[1] / 2 - 1)
    assert np.abs(got[cy, cx].astype(int) - plate_image(1)[cy, cx].astype(int)).max() <= 2


def test_fox_jpeg_plate_with_its_track(ext, empty_scene, inputs, shared_data, tmp_path):
    """Real data: a JPEG image-sequence plate downscaled 10x, intrinsics scaled with it."""
    from vanelia_addon.addon import shot
    from vanelia_addon.shotcache import tracks

    fox = shared_data / "tracked" / "fox"
    if not (fox / "transforms.json").is_file():
        pytest.skip(f"{fox} not present")
    s = shot.setup_shot(tmp_path / "s", fox / "images", inputs["model"], fox / "transforms.json", frames="1:2",
                        resolution="108x192", samples=4, product_size_m=0.2)
    src = tracks.load_transforms(fox / "transforms.json")
    assert s.frames == [1, 2] and s.resolution == [108, 192]
    assert s.camera.frames[1].fx == pytest.approx(src.frames[1].fx / 10, rel=1e-6)
    assert s.camera.frames[1].cy == pytest.approx(src.frames[1].cy / 10, rel=1e-6)
    assert s.camera.distortion.k1 == pytest.approx(src.distortion.k1)
    img = cv2.imread(str(tmp_path / "s" / "plate" / "000002.png"))
    ref = cv2.resize(cv2.imread(str(fox / "images" / "0002.jpg")), (108, 192), interpolation=cv2.INTER_AREA)
    assert img.shape == (192, 108, 3)
    assert np.abs(img.astype(int) - ref.astype(int)).mean() < 12  # same picture, resampled
    # no points, and the track's z = 0 lies between its cameras: up and a ground below every
    # camera are inferred from the poses, with the scale's source said
    n, p = np.asarray(s.ground.normal), np.asarray(s.ground.point)
    heights = [(np.asarray(c.c2w)[:3, 3] - p) @ n for c in src.frames.values()]
    assert min(heights) > 0, min(heights)
    assert "typical camera height 1.5 m" in s.camera.qc["scale"]["source"]


def test_place_in_area(ext, empty_scene, inputs, tmp_path):
    """Placement 'In Area': the product stands on the ground where the area's centre is seen."""
    from vanelia_addon.addon import camera, shot
    from vanelia_addon.shotcache.errors import PlacementError

    with pytest.raises(PlacementError, match="bogus"):
        shot.setup_shot(tmp_path / "bad", inputs["plate"], inputs["model"], inputs["camera"], frames="1:1", samples=4,
                        place_area="bogus")
    assert not (tmp_path / "bad").exists()
    for area, (qx, qy) in (("bottom_right", (1, 1)), ("bottom_left", (0, 1))):
        s = shot.setup_shot(tmp_path / area, inputs["plate"], inputs["model"], inputs["camera"], frames="1:1", samples=4,
                            place_area=area)
        foot = np.asarray(s.product.matrix_world)[:3, 3]
        (px, py), = camera.project(s.camera.frames[1], foot[None, :])
        w, h = s.resolution
        assert (px >= w / 2) == bool(qx) and (py >= h / 2) == bool(qy), (area, px, py)
        assert abs(foot[2]) < 1e-6  # on the ground plane z = 0


def test_a_levelled_track_keeps_its_ground_over_its_points(ext, empty_scene, inputs, tmp_path):
    """`vanelia track` levels the world on the ground it chose and writes its points beside
    the file: the shot stands on that ground, not on a fresh fit of the points (which a wall
    or a market stall can win: night-street came out with the cameras under the ground)."""
    import numpy as np

    from vanelia_addon.addon import shot
    from vanelia_addon.shotcache.tracks import write_ply

    rng = np.random.default_rng(0)
    wall = np.c_[rng.uniform(-2, 2, 300), np.full(300, 3.0), rng.uniform(0, 2.5, 300)]  # a wall facing the cameras
    doc = json.loads(Path(inputs["camera"]).read_text())
    for name, qc in (("levelled", {"ground": {"point": [0.0, 0.0, 0.0], "normal": [0.0, 0.0, 1.0]}}), ("bare", None)):
        folder = tmp_path / name
        folder.mkdir()
        write_ply(folder / "track_points.ply", wall)
        d = dict(doc, ply_file_path="track_points.ply", frames=[dict(f, file_path=str(Path(inputs["plate"]) / Path(f["file_path"]).name))
                                                              for f in doc["frames"]])
        if qc:
            d["qc"] = qc
        (folder / "track.json").write_text(json.dumps(d))
        s = shot.setup_shot(tmp_path / f"shot_{name}", inputs["plate"], inputs["model"], folder / "track.json", samples=2)
        n = np.asarray(s.ground.normal, float)
        if qc:
            assert np.allclose(n / np.linalg.norm(n), [0, 0, 1], atol=1e-6)   # the track's own ground
        else:
            assert abs(n[2]) < 0.5                                        # no record: the points' plane (the wall)


def test_the_key_is_measured_from_a_shadow_picked_in_a_frame(ext, empty_scene, inputs, tmp_path):
    """--key-from-shadow: the foot, top and shadow tip of a 0.6 m pole, picked on the (lens-
    distorted) plate of frame 2, set the key's direction - elevation included - with that
    frame's solved camera, at the shot's working resolution; a frame the shot does not render is
    refused before anything is written."""
    from vanelia_addon.addon import shot
    from vanelia_addon.shotcache.errors import InputError
    from vanelia_addon.shotcache.key_pick import ShadowPick
    from shotcache.lens import project
    from shotcache.tracks import load_track

    track = load_track(inputs["camera"])
    cam = track.frames[2]
    e, a = math.radians(30.0), math.radians(150.0)
    light = np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
    foot = np.array([0.3, 0.2, 0.0])
    top = foot + [0.0, 0.0, 0.6]
    tip = top - light * (0.6 / light[2])
    c2w = np.asarray(cam.c2w)
    px = [tuple(project(cam, track.distortion, ((p - c2w[:3, 3]) @ c2w[:3, :3])[None])[0]) for p in (foot, top, tip)]
    assert all(0 < x < SIZE[0] and 0 < y < SIZE[1] for x, y in px)
    s = shot.setup_shot(tmp_path / "s", inputs["plate"], inputs["model"], inputs["camera"], frames="1:3", resolution="48x27",
                        samples=4, key_pick=ShadowPick(2, *px))
    sun = s.lighting.lights[0]
    assert np.degrees(np.arccos(np.clip(np.dot(sun.direction, light), -1, 1))) < 1.0
    assert "key from the shadow picked in frame 2: elevation 30 deg" in s.lighting.notes and not s.lighting.estimated
    with pytest.raises(InputError, match="frame 7 is not one of the shot's frames"):
        shot.setup_shot(tmp_path / "t", inputs["plate"], inputs["model"], inputs["camera"], frames="1:3", samples=4,
                        key_pick=ShadowPick(7, *px))
    assert not (tmp_path / "t").exists()


def test_setup_says_how_big_the_product_is(ext, empty_scene, inputs, tmp_path):
    """A GLB is in metres: the glTF sample duck is 1.6 m as modelled, which the log must say
    (a new user's first run put a 1.6 m duck on a lawn without a word)."""
    from vanelia_addon.addon import shot

    said: list[str] = []
    shot.setup_shot(tmp_path / "s", inputs["plate"], inputs["model"], inputs["camera"], frames="1:1", samples=4, product_size_m=0.4,
                    product_yaw_deg=35.0, progress=said.append)
    ready = [m for m in said if m.startswith("shot ready")]
    assert ready and "--product-size 0.4 m" in ready[0]
    dims = [float(v) for v in ready[0].split("the product is ")[1].split(" m")[0].split(" x ")]
    assert max(dims) == pytest.approx(0.4, rel=1e-3)  # its own largest dimension, however it is turned
