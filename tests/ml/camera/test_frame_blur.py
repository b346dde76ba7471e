"""How much softer each plate frame is than the shot's sharpest (ml/camera/frame_blur.py), on a
dolly over a textured floor whose cameras are exact: some frames blurred by known kernels, as
a shaking hand or a hunting autofocus blurs them."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from ml.camera import frame_blur as fb
from ml.composite.blur_match import kernel
from ml.pipeline.frames import load_frame
from ml.pipeline.synthetic import make_shot
from shotcache.schema import SchemaError, Shot


def _camera_fixtures():
    """This folder's conftest by its path: under pytest's rootdir imports another folder's
    conftest may already hold the name."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("camera_conftest", Path(__file__).with_name("conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_fx = _camera_fixtures()
dolly_solve, floor_texture, render_floor = _fx.dolly_solve, _fx.floor_texture, _fx.render_floor

N = 10
W, H = 640, 360


def _cov(major: float, minor: float, angle_deg: float) -> np.ndarray:
    t = math.radians(angle_deg)
    v = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return v @ np.diag([major**2, minor**2]) @ v.T


BLURRED = {4: _cov(1.6, 1.6, 0.0), 5: _cov(2.2, 0.5, 30.0), 8: _cov(1.2, 1.2, 0.0)}


def _shot(tmp_path, blurred: dict[int, np.ndarray]):
    """A shot folder: the floor seen by a dolly's exact cameras, the product's origin on it."""
    solve = dolly_solve(n=N, W=W, H=H)
    paths = make_shot(tmp_path / "shot", frames=N, size=(W, H))
    shot = paths.load_shot()
    tex = floor_texture(3)
    for f in shot.frames:
        img = render_floor(solve, tex, f).astype(np.float32)
        if f in blurred:
            img = cv2.filter2D(img, -1, kernel(blurred[f]), borderType=cv2.BORDER_REFLECT)
        cv2.imwrite(str(paths.plate_frame(f)), np.repeat(np.clip(np.rint(img), 0, 255).astype(np.uint8)[..., None], 3, axis=2))
    shot.camera.frames = dict(solve.cameras)
    shot.camera.kind = "transforms"
    shot.ground.point, shot.ground.normal = [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]
    paths.save_shot(shot)
    return paths


def _axes(v: list[float]) -> tuple[float, float, float]:
    """(major sigma, minor sigma, major axis angle in degrees) of a recorded [a, b, c]."""
    w, vec = np.linalg.eigh(np.array([[v[0], v[1]], [v[1], v[2]]]))
    w = np.sqrt(np.maximum(w, 0.0))
    return float(w[1]), float(w[0]), math.degrees(math.atan2(vec[1, 1], vec[0, 1])) % 180.0


def _expected(c: np.ndarray) -> float:
    """The major sigma the estimate should give: the dead zone comes off each axis."""
    return math.sqrt(max(float(np.linalg.eigvalsh(c)[-1]) - fb.DEAD_ZONE_PX**2, 0.0))


def test_frames_blurred_by_known_kernels_read_their_blur_and_the_rest_none(tmp_path):
    paths = _shot(tmp_path, BLURRED)
    info = fb.estimate_shot(paths.root)
    blur = paths.load_shot().plate.blur
    assert info["frames"] == N and sorted(blur) == list(range(1, N + 1))
    for f, v in blur.items():
        major, minor, angle = _axes(v)
        if f in BLURRED:
            assert abs(major - _expected(BLURRED[f])) < 0.45, (f, major, minor)
        else:  # a strong streak leaks a little into the frames chained to it (solve_per_frame)
            assert major < 0.7, (f, major)
    major, minor, angle = _axes(blur[5])  # the streak keeps its direction and its shape
    assert abs((angle - 30.0 + 90.0) % 180.0 - 90.0) < 15.0 and minor < 0.6 * major
    assert "softer than the sharpest" in info["note"] and "(frame 5)" in info["note"]


def test_a_sharp_shot_records_no_blur(tmp_path):
    paths = _shot(tmp_path, {})
    fb.estimate_shot(paths.root)
    shot = paths.load_shot()
    assert max(_axes(v)[0] for v in shot.plate.blur.values()) < 0.35
    assert "every frame as sharp as the sharpest" in shot.plate.blur_note


def test_the_compositor_gets_each_frames_blur(tmp_path):
    paths = _shot(tmp_path, BLURRED)
    fb.estimate_shot(paths.root)
    shot = paths.load_shot()
    soft, sharp = load_frame(paths, shot, 5), load_frame(paths, shot, 2)
    assert soft.plate_blur is not None and soft.plate_blur.shape == (2, 2)
    assert np.sqrt(np.linalg.eigvalsh(soft.plate_blur)[-1]) > 1.5
    assert np.sqrt(max(np.linalg.eigvalsh(sharp.plate_blur)[-1], 0)) < 0.35


def test_the_render_s_own_motion_blur_is_taken_off():
    """A shutter the render uses streaks the product already: the part of it that varies
    between frames is not added again."""
    v = np.array([12.0, 0.0])
    s = fb.streak(v, 0.5)
    assert s[0, 0] == pytest.approx(0.25 * 144 / 12) and s[1, 1] == 0.0


def test_pairwise_differences_solve_to_the_sharpest_frame_as_zero():
    truth = {1: np.array([0.5, 0.0, 0.5]), 2: np.zeros(3), 3: np.array([2.0, 0.3, 1.0])}
    pairs = {(j, i): truth[j] - truth[i] for j, i in ((1, 2), (2, 3), (1, 3))}
    got = fb.solve_per_frame([1, 2, 3], pairs)
    for f in truth:
        assert np.allclose(got[f], truth[f], atol=1e-6)


def test_shot_json_keeps_the_blur_and_refuses_a_bad_entry():
    shot = Shot(name="s", resolution=[64, 64], frames=[1, 2])
    shot.plate.blur = {2: [1.0, 0.1, 0.5]}
    back = Shot.from_dict(shot.to_dict())
    assert back.plate.blur == {2: [1.0, 0.1, 0.5]}
    d = shot.to_dict()
    d["plate"]["blur"] = {"2": [-1.0, 0.0, 1.0]}
    with pytest.raises(SchemaError, match=r"plate.blur\[2\]"):
        Shot.from_dict(d)


def test_a_contrast_change_between_frames_reads_as_little_blur(tmp_path):
    """A phone's exposure drifts: frames at 80-85 % of their neighbours' contrast (no clipping)
    are not read as blurred more than a third of a pixel (the fit has no constant term: with
    one, the low-frequency loss of a real streak was taken for a contrast change too, and
    dog-lawn's soft frames read 0.7 px instead of 2)."""
    paths = _shot(tmp_path, {})
    for f, gain in ((4, 0.8), (5, 0.8), (8, 0.85)):
        p = paths.plate_frame(f)
        img = cv2.imread(str(p)).astype(np.float32)
        cv2.imwrite(str(p), np.clip(np.rint((img - 128.0) * gain + 128.0), 0, 255).astype(np.uint8))
    fb.estimate_shot(paths.root)
    assert max(_axes(v)[0] for v in paths.load_shot().plate.blur.values()) < 0.4


def test_the_sidecar_measures_a_shot_never_measured_before_it_composites(tmp_path):
    """A shot set up and rendered in Blender has no per-frame blur (the CLI measures it before
    the render): the composite job measures it, records it, and the soft frames are blurred."""
    from ml.pipeline.runner import PipelineRunner
    from shotcache.schema import JobSpec

    paths = _shot(tmp_path, BLURRED)
    assert paths.load_shot().plate.blur_note == ""
    spec = JobSpec(shot=str(paths.root), stages=["composite"], engines={"composite": "classical"}, frames=[2, 5])
    runner = PipelineRunner(device="cpu")
    version = runner.prepare(spec, paths.root)
    res = runner.run(spec, paths.root, version=version)
    assert res.frames_done == [2, 5]
    shot = paths.load_shot()
    assert "softer than the sharpest" in shot.plate.blur_note and _axes(shot.plate.blur[5])[0] > 1.2
    import json

    frames = json.loads((paths.version_dir(version) / "params.json").read_text())["frames"]
    assert frames["2"]["composite"]["blur"].startswith("none") and frames["5"]["composite"]["blur"].startswith("1.")
    before = paths.shot_json.stat().st_mtime_ns
    runner.run(spec, paths.root, version=runner.prepare(spec, paths.root))  # measured once
    assert paths.shot_json.stat().st_mtime_ns == before
