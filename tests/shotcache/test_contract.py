"""The boundary contract's single homes: areas, frames, axes, loopback + upload rule, ground fit,
error rules, params.json, and the transforms.json writer/reader round trip."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shotcache import errors, frames, net, params, tracks
from shotcache.areas import PLACEMENT_AREAS, parse_area
from shotcache.axes import GL_FROM_CV, cv_to_gl, gl_to_cv
from shotcache.errors import InputError, PlacementError, UserError
from shotcache.ground import GroundError, fit_plane, ground_from_points
from shotcache.layout import ShotPaths
from shotcache.schema import Distortion, FrameCamera


def test_area_boxes():
    assert parse_area("top_left").box(60, 40) == (0, 0, 30, 20)
    assert parse_area("bottom_right").box(60, 40) == (30, 20, 60, 40)
    assert parse_area("center").box(60, 40) == (15, 10, 45, 30)
    assert parse_area("5,6,20,30").box(60, 40) == (5, 6, 20, 30)
    assert parse_area((5, 6)).kind == "pixel" and parse_area("5,6").box(60, 40) == (5, 6, 6, 7)
    assert set(PLACEMENT_AREAS) >= {"bottom_right", "full"}
    with pytest.raises(PlacementError, match="use one of"):
        parse_area("middle")
    with pytest.raises(PlacementError, match="is empty"):
        parse_area((50, 5, 70, 5)).box(60, 40)


def test_frame_rules(tmp_path):
    assert frames.frame_number("images/shot_v2_0012.jpg", 7) == 12 and frames.frame_number("x.png", 7) == 7
    assert frames.frame_name(12, ".png") == "000012.png"
    for n in ("0010.png", "0002.jpg", ".hidden.png", "notes.txt", "clip.dpx"):
        (tmp_path / n).write_bytes(b"x")
    assert [p.name for p in frames.list_images(tmp_path)] == ["0002.jpg", "0010.png"]
    assert [p.name for p in frames.list_images(tmp_path, frames.CLIP_EXTS)] == ["clip.dpx", "0002.jpg", "0010.png"]
    assert frames.parse_frame_range("3:9") == (3, 9) and frames.parse_frame_range("") is None
    with pytest.raises(InputError, match="before the start"):
        frames.parse_frame_range("9:3")
    assert frames.select_frames("1,4-5,8:9", list(range(1, 11))) == [1, 4, 5, 8, 9]
    with pytest.raises(InputError, match=r"no frame\(s\) \[12\]"):
        frames.select_frames("12", [1, 2])
    assert frames.parse_resolution("64x36") == (64, 36)
    with pytest.raises(InputError, match="at least 8x8"):
        frames.parse_resolution("4x4", minimum=8)


def test_axes_are_self_inverse():
    m = np.eye(4)
    m[:3, 3] = [1, 2, 3]
    assert np.allclose(gl_to_cv(cv_to_gl(m)), m) and np.allclose(GL_FROM_CV @ GL_FROM_CV, np.eye(4))
    assert np.allclose(cv_to_gl(np.eye(4))[:3, 1], [0, -1, 0])  # camera y flips


@pytest.mark.parametrize("host,loop", [("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
                                       ("LOCALHOST", True), ("ip6-localhost", True), ("10.0.0.2", False),
                                       ("example.com", False), ("", False)])
def test_is_loopback(host, loop):
    assert net.is_loopback(host) is loop


def test_upload_rule(tmp_path):
    root = tmp_path / "shots"
    (root / "a").mkdir(parents=True)
    assert net.needs_upload("http://10.1.2.3:8765", root / "a", [str(root)])
    assert not net.needs_upload("http://127.0.0.1:8765", root / "a", [str(root)])
    assert net.needs_upload("http://127.0.0.1:8765", tmp_path / "elsewhere", [str(root)])
    assert not net.needs_upload("http://localhost:8765", tmp_path / "elsewhere")  # roots unknown: try by path


def test_one_error_rule():
    from server.security import AccessDenied
    from shotcache.client import SidecarError

    from ml.stages.base import EngineError

    assert errors.exit_code(InputError("x")) == 2 and errors.exit_code(FileNotFoundError("f")) == 2
    assert errors.exit_code(ZeroDivisionError()) is None and errors.exit_code(KeyboardInterrupt()) == 130
    assert errors.http_status(InputError("x")) == 422 and errors.http_status(AccessDenied("no")) == 403
    assert errors.http_status(FileNotFoundError("f")) == 404 and errors.http_status(TypeError()) == 500
    assert errors.job_error_kind(EngineError("bad mask")) == "bad_input"
    assert errors.job_error_kind(RuntimeError("CUDA out of memory")) == "out_of_memory"
    assert errors.job_error_kind(TypeError("bug")) == "internal"
    assert isinstance(SidecarError("down", kind="unreachable"), UserError)
    assert errors.panel_message(InputError("'x.glb: missing'")) == "x.glb: missing"
    assert "internal error" in errors.panel_message(TypeError("oops"))


def test_ground_fit_tilted_plane_and_too_few_points():
    rng = np.random.default_rng(3)
    pts = np.c_[rng.uniform(-2, 2, 300), rng.uniform(-2, 2, 300), np.zeros(300)]
    tilt = np.radians(10)
    R = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
    pts = pts @ R.T + [0, 0, 0.5]
    noisy = np.vstack([pts, rng.uniform(-2, 2, (40, 3))])
    g = ground_from_points(noisy)
    assert np.degrees(np.arccos(np.clip(np.dot(g.normal, R[:, 2]), -1, 1))) < 0.5 and g.size_m > 4
    fit = fit_plane(noisy, up=[0, 0, 1], cameras_at=[0, 0, 3], max_tilt_deg=35, min_points=10)
    assert fit.inliers[:300].mean() > 0.95 and fit.normal[2] > 0.98
    with pytest.raises(GroundError, match="only 2"):
        fit_plane(pts[:2])


def test_params_record_round_trip(tmp_path):
    vdir = ShotPaths(tmp_path).version_dir("v001")
    rec = params.VersionRecord(job_key="k", engines={"composite": {"name": "classical"}}, extra={"future": 1})
    params.write(vdir, rec)
    back = params.read(vdir)
    assert back.job_key == "k" and back.extra == {"future": 1} and back.engines_used() == {"composite": "classical"}
    assert params.read(tmp_path / "missing").job_key == ""
    assert ShotPaths(tmp_path).cache_dir == tmp_path / "cache"


def _track(frame_numbers) -> tracks.TrackData:
    cams = {}
    for n in frame_numbers:
        c2w = np.eye(4)
        c2w[:3, 3] = [0.1 * n, 0, 1.5]
        cams[n] = FrameCamera(300.0, 300.0, 160.0, 90.0, c2w.tolist())
    return tracks.TrackData("transforms", "", cams, 320, 180, Distortion(k1=0.01), tracker="test",
                            frame_error={n: 0.3 for n in cams})


def test_transforms_names_input_images_and_round_trips(tmp_path):
    """The writer's file_path names the input images (0006.jpg stays 0006.jpg, relative to
    the file), and the reader numbers the frames back from them even without 'frame'."""
    plate = tmp_path / "plate"
    plate.mkdir()
    for n in (6, 7, 8):
        (plate / f"{n:04d}.jpg").write_bytes(b"jpg")
    out = tmp_path / "solve" / "transforms.json"
    out.parent.mkdir()
    files = tracks.input_file_paths(out, {n: plate / f"{n:04d}.jpg" for n in (6, 7, 8)})
    tracks.write_transforms(out, _track((6, 7, 8)), files, qc={"usable": True})
    doc = json.loads(out.read_text())
    assert [fr["file_path"] for fr in doc["frames"]] == ["../plate/0006.jpg", "../plate/0007.jpg", "../plate/0008.jpg"]
    assert all((out.parent / fr["file_path"]).is_file() for fr in doc["frames"])
    for fr in doc["frames"]:
        del fr["frame"]  # another tool's file: numbers come from the image names
    out.write_text(json.dumps(doc))
    back = tracks.load_track(out)
    assert sorted(back.frames) == [6, 7, 8] and back.tracker == "test" and back.qc == {"usable": True}
    assert back.distortion.k1 == pytest.approx(0.01) and back.frame_error[7] == pytest.approx(0.3)
    for n in (6, 7, 8):
        assert np.allclose(back.frames[n].c2w, _track((n,)).frames[n].c2w)

