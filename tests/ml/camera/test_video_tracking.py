"""Video tracks, the nodal solve and the clip solver on footage with an exactly known camera:
a textured floor seen through homographies (no Blender needed, so these run in seconds)."""
import cv2
import numpy as np
import pytest

from ml.camera.lock import measure_lock
from ml.camera.klt import track_frames
from ml.camera.nodal import NodalError, solve_nodal
from ml.camera.placement import choose_placement
from ml.camera.video import is_continuous, solve_clip


def project(solve, frame, pts):
    return solve.project(frame, np.asarray(pts, float))[0]


def floor_point(solve, frame, px):
    from ml.camera.placement import ray_to_ground

    return ray_to_ground(solve, frame, px)


def test_tracks_follow_the_floor_subpixel_and_stay_off_masks(tmp_path, pan, floor_frames):
    truth = pan(n=12)
    frames = floor_frames(truth, tmp_path)
    mask = np.zeros((truth.height, truth.width), np.uint8)
    mask[:, : truth.width // 3] = 255  # a "moving object" over the left third
    masks = {}
    for f in frames:
        masks[f] = tmp_path / f"mask_{f:04d}.png"
        cv2.imwrite(str(masks[f]), mask)
    tracks = track_frames(frames, masks)
    assert is_continuous(tracks) and min(tracks.live(f) for f in frames) > 100
    def error(a, b):
        """Median distance of tracks in frame b from where the true camera puts them."""
        oa, ob = tracks.obs[a], tracks.obs[b]
        common, ia, ib = np.intersect1d(oa[:, 0], ob[:, 0], return_indices=True)
        assert len(common) > 50
        errs = [np.linalg.norm(project(truth, b, floor_point(truth, a, xy)[None])[0] - uv)
                for xy, uv in zip(oa[ia, 1:3], ob[ib, 1:3])]
        return float(np.median(errs))

    # frame to frame the tracks are a tenth of a pixel off; across 5 frames of a fast pan
    # (2.7 deg/frame, the floor's foreshortening changing) a little more
    assert error(5, 6) < 0.15
    assert error(1, 6) < 0.7
    # nothing is tracked on the masked third (the dilated border aside)
    for o in tracks.obs.values():
        assert (o[:, 1] > truth.width / 3 - 12).all()


def test_nodal_solve_recovers_a_pan(tmp_path, pan, floor_frames):
    truth = pan(n=24)
    frames = floor_frames(truth, tmp_path)
    solve = solve_nodal(track_frames(frames), camera_height=1.5)
    assert solve.tracker == "nodal" and sorted(solve.cameras) == sorted(frames)
    f = solve.cameras[1].fx
    assert abs(f - 420.0) / 420.0 < 0.03, f
    # centres all coincide in a nodal solve: compare rotations only (up to a world rotation)
    rots = [np.asarray(solve.cameras[k].c2w)[:3, :3] for k in sorted(frames)]
    ref = [np.asarray(truth.cameras[k].c2w)[:3, :3] for k in sorted(frames)]
    rel = [a @ b.T for a, b in zip(rots, ref)]
    spread = max(np.degrees(np.arccos(np.clip((np.trace(r @ rel[0].T) - 1) / 2, -1, 1))) for r in rel)
    assert spread < 0.5, spread  # over a 30 deg pan
    # levelled: the cameras sit camera_height above z = 0 and their up is near +z (the pan axis)
    c2w = np.asarray(solve.cameras[12].c2w)
    assert c2w[2, 3] == pytest.approx(1.5)
    assert -c2w[:3, 1] @ np.array([0, 0, 1.0]) > np.cos(np.radians(45))
    assert np.median(list(solve.frame_error.values())) < 0.3
    assert any("nodal" in n for n in solve.notes)


def test_clip_solver_takes_the_nodal_solve_for_a_pan_and_the_product_stays_put(tmp_path, pan, floor_frames):
    truth = pan(n=24)
    frames = floor_frames(truth, tmp_path)
    solve = solve_clip(frames, log=lambda s: None)
    assert solve.tracker == "nodal"
    assert "no parallax" in solve.notes[0]
    place = choose_placement(solve, "center", radius=0.1, height=0.2)
    rep = measure_lock(frames, solve, np.array(place["point"]), place["ref_frame"])
    assert rep["frames_measured"] == rep["frames_in_view"] == len(frames) - 1  # all but the reference
    assert rep["slide_px"]["mean"] < 0.5 and rep["ok"], rep["slide_px"]


def test_nodal_refuses_too_few_frames(tmp_path, pan, floor_frames):
    truth = pan(n=2)
    frames = floor_frames(truth, tmp_path)
    with pytest.raises(NodalError, match="at least 3"):
        solve_nodal(track_frames(frames, min_length=1))


def test_placement_prefers_the_area_centre_and_warns_when_the_camera_turns_away(pan):
    s = pan(n=24, yaw_deg=30.0)
    res = choose_placement(s, "bottom_right", radius=0.05, height=0.1)
    px = res["pixel"]
    assert px[0] > 0.6 * s.width and px[1] > 0.6 * s.height and res["margin"] > 0 and "warning" not in res
    wide = pan(n=24, yaw_deg=120.0)  # turns so far that no floor spot stays in view
    res = choose_placement(wide, "bottom_right", radius=0.05, height=0.1)
    assert res["margin"] < 0 and 0 < res["in_frame_fraction"] < 1 and "in view in" in res["warning"]


def test_unregistered_frames_are_interpolated_and_flagged(pan):
    from ml.camera.qc import track_qc
    from ml.camera.video import fill_missing

    truth = pan(n=12)
    s = pan(n=12)
    s.frame_error = {f: 0.3 for f in s.cameras}
    s.frame_tracks = {f: 100 for f in s.cameras}
    for f in (1, 6):
        del s.cameras[f], s.frame_error[f], s.frame_tracks[f]
    fill_missing(s, list(range(1, 13)))
    assert sorted(s.cameras) == list(range(1, 13))
    # the pan's yaw is linear in time: slerp between neighbours lands on the true camera
    assert np.allclose(s.c2w(6), truth.c2w(6), atol=1e-6)
    assert np.allclose(s.c2w(1), truth.c2w(2))  # held at the start
    qc = track_qc(s, list(range(1, 13)))
    assert {1, 6} <= set(qc["unreliable_frames"]) and qc["frames"]["6"]["error_px"] is None and qc["usable"]
    assert "interpolated" in s.notes[-1]


def test_a_wandering_camera_path_is_not_plausible(dolly):
    from ml.camera.video import implausible

    s = dolly(n=12)
    assert implausible(s) is None
    for k, f in enumerate(sorted(s.cameras)):  # scale drift: the path dives through the floor
        c2w = np.asarray(s.cameras[f].c2w)
        c2w[2, 3] = 1.5 - 0.5 * k
        s.cameras[f].c2w = c2w.tolist()
    assert "not plausible" in implausible(s)
