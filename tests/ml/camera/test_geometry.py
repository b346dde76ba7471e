"""Alignment, ground plane, levelling, placement and QC on synthetic scenes with known truth."""
import math

import numpy as np
import pytest

from ml.camera.align import pose_errors, umeyama
from ml.camera.ground import GroundError, fit_ground, level_world
from ml.camera.placement import PlacementError, choose_placement, parse_area, ray_to_ground
from ml.camera.qc import track_qc
from ml.camera.solve import solve_from_dict
from ml.camera.solve import read_solve, write_solve


def random_similarity(seed=3):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    M = np.eye(4)
    M[:3, :3] = q
    M[:3, 3] = rng.normal(size=3) * 5
    return M, 0.37


def test_umeyama_recovers_similarity(dolly):
    rng = np.random.default_rng(0)
    src = rng.normal(size=(20, 3))
    M, s = random_similarity()
    dst = (s * (M[:3, :3] @ src.T)).T + M[:3, 3]
    s2, R2, t2 = umeyama(src, dst)
    assert s2 == pytest.approx(s, rel=1e-9)
    assert np.allclose(R2, M[:3, :3], atol=1e-9) and np.allclose(t2, M[:3, 3], atol=1e-9)


def test_pose_errors_zero_for_a_similar_copy_and_detect_a_bad_frame(dolly):
    truth = dolly()
    est = dolly()
    M, s = random_similarity()
    est.transform(M, s)
    frames = sorted(truth.cameras)
    rep = pose_errors([est.c2w(f) for f in frames], [truth.c2w(f) for f in frames])
    assert rep["rotation_error_deg"]["max"] < 1e-6 and rep["centre_error_frac"]["max"] < 1e-9
    bad = est.c2w(5).copy()
    bad[:3, 3] += 0.5 * s
    rep = pose_errors([bad if f == 5 else est.c2w(f) for f in frames], [truth.c2w(f) for f in frames])
    assert rep["centre_error_frac"]["max"] > 0.05


def test_ground_fit_and_level_world_put_the_floor_at_z0(dolly):
    s = dolly()
    M, sc = random_similarity()
    s.transform(M, sc)  # scramble: the solver's world is arbitrary
    p, n, inl = fit_ground(s)
    assert inl.sum() >= 280
    info = level_world(s, p, n, camera_height=1.5)
    assert abs(np.median(s.points[:300, 2])) < 1e-6
    assert np.allclose(s.points[:300, 2], 0, atol=1e-6)
    heights = [s.c2w(f)[2, 3] for f in s.cameras]
    assert np.mean(heights) == pytest.approx(1.5, rel=1e-6)
    assert info["scale"] == pytest.approx(1 / sc, rel=1e-6)
    # first camera looks along +y after levelling
    fwd = s.c2w(1)[:3, 2]
    assert fwd[1] > 0.9 * np.linalg.norm(fwd[:2])


def test_ground_fit_refuses_too_few_points(dolly):
    s = dolly()
    s.points = s.points[:5]
    with pytest.raises(GroundError, match="not enough"):
        fit_ground(s)


def test_placement_stays_in_frame_and_faces_camera(dolly):
    s = dolly()
    res = choose_placement(s, "bottom_right", radius=0.15, height=0.3)
    p = np.array(res["point"])
    assert abs(p[2]) < 1e-9 and res["margin"] > 0
    for f in s.cameras:
        px, z = s.project(f, p[None])
        assert z[0] > 0 and 0 <= px[0, 0] <= s.width and 0 <= px[0, 1] <= s.height
    # the product's front (-Y) points towards the mean camera position
    M = np.array(res["matrix_world"])
    front = M[:3, :3] @ np.array([0, -1.0, 0])
    to_cam = s.centres().mean(0) - p
    assert np.dot(front[:2], to_cam[:2]) / np.linalg.norm(to_cam[:2]) > 0.99
    # an explicit pixel lands where its ray hits the ground
    hit = ray_to_ground(s, 6, (320.0, 300.0))
    px, _ = s.project(6, hit[None])
    assert np.allclose(px[0], (320.0, 300.0), atol=1e-6)


def test_placement_errors_are_clear(dolly):
    s = dolly()
    with pytest.raises(PlacementError, match="no ground visible"):
        choose_placement(s, "320,5")  # a pixel in the sky
    with pytest.raises(PlacementError, match="use one of"):
        parse_area("somewhere")


def test_qc_flags_bad_frames_and_refuses_unusable_tracks(dolly):
    s = dolly()
    s.frame_error[3] = 2.5
    s.frame_tracks[4] = 3
    qc = track_qc(s, sorted(s.cameras) + [99])
    assert qc["unreliable_frames"] == [3, 4, 99] and qc["usable"]
    for k in s.frame_error:
        s.frame_error[k] = 12.0
    qc = track_qc(s, sorted(s.cameras))
    assert not qc["usable"] and "12.00 px" in qc["reason"]


def test_transforms_round_trip(tmp_path, dolly):
    s = dolly()
    s.distortion.k1 = 0.05
    write_solve(tmp_path / "t.json", s, qc={"usable": True})
    back = read_solve(tmp_path / "t.json")
    assert back.width == 640 and back.distortion.k1 == pytest.approx(0.05)
    # frames are numbered by position when the file has no 'frame' key; ours keeps them
    for f in s.cameras:
        assert np.allclose(back.c2w(f), s.c2w(f), atol=1e-12)


def test_solve_from_blender_dict(dolly):
    s = dolly()
    doc = {"width": 640, "height": 360, "tracker": "blender",
           "cameras": {str(k): {"fx": c.fx, "fy": c.fy, "cx": c.cx, "cy": c.cy, "c2w": c.c2w} for k, c in s.cameras.items()},
           "points": s.points.tolist(), "frame_error": {"1": 0.3}, "frame_tracks": {"1": 40}}
    back = solve_from_dict(doc)
    assert back.frame_error[1] == 0.3 and np.allclose(back.c2w(7), s.c2w(7))
    assert math.isclose(back.cameras[2].fx, 500.0)
