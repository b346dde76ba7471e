"""The lock metric cannot be fooled: on a generated plate whose camera is known exactly, the
true camera locks under a pixel, while a wrong ground (tilted), a wrong focal length or a
wrong dolly slides by several pixels; a moving object over the spot does not fool it."""
import copy

import cv2
import numpy as np

from ml.camera.lock import measure_lock
from ml.camera.placement import choose_placement


def _tilted_contact(solve, ref, pixel, tilt_deg):
    """Where the reference ray through ``pixel`` meets a ground tilted by ``tilt_deg`` about x."""
    c2w = solve.c2w(ref)
    d = c2w[:3, :3] @ np.linalg.solve(solve.K(ref), np.array([pixel[0], pixel[1], 1.0]))
    o = c2w[:3, 3]
    t = np.radians(tilt_deg)
    n = np.array([0.0, -np.sin(t), np.cos(t)])
    s = -(o @ n) / (d @ n)
    return o + s * d


def test_true_camera_locks_and_wrong_cameras_slide(tmp_path, dolly, floor_frames):
    solve = dolly(n=12)
    frames = floor_frames(solve, tmp_path)
    place = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    point, ref = np.array(place["point"]), place["ref_frame"]
    true = measure_lock(frames, solve, point, ref)
    assert true["frames_measured"] == true["frames_in_view"] == len(frames) - 1, true
    assert true["slide_px"]["max"] < 1.0 and true["ok"], true["slide_px"]

    tilted = measure_lock(frames, solve, _tilted_contact(solve, ref, place["pixel"], 8.0), ref)
    assert tilted["slide_px"]["max"] > 3.0 and not tilted["ok"], tilted["slide_px"]

    wrong_focal = copy.deepcopy(solve)
    for cam in wrong_focal.cameras.values():
        cam.fx *= 1.3
        cam.fy *= 1.3
    bad_f = measure_lock(frames, wrong_focal, point, ref)
    assert bad_f["slide_px"]["max"] > 3.0 and not bad_f["ok"], bad_f["slide_px"]
    assert "slides" in bad_f["reason"]

    wrong_dolly = copy.deepcopy(solve)
    for cam in wrong_dolly.cameras.values():
        c2w = np.asarray(cam.c2w)
        c2w[0, 3] *= 1.1
        cam.c2w = c2w.tolist()
    bad_d = measure_lock(frames, wrong_dolly, point, ref)
    assert bad_d["slide_px"]["max"] > 3 * max(true["slide_px"]["max"], 0.3), bad_d["slide_px"]


def test_moving_object_over_the_spot_is_masked(tmp_path, dolly, floor_frames):
    """A textured square sliding across the product's spot moves unlike the ground: its
    corners are homography outliers, and the true camera still locks under a pixel."""
    solve = dolly(n=12)
    frames = floor_frames(solve, tmp_path)
    place = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    rng = np.random.default_rng(5)
    blob = cv2.GaussianBlur((rng.random((60, 60)) * 255).astype(np.uint8), (0, 0), 1.0)
    cx, cy = (int(v) for v in place["pixel"])
    for i, f in enumerate(sorted(frames)):
        img = cv2.imread(str(frames[f]), cv2.IMREAD_GRAYSCALE)
        x0 = int(np.clip(cx - 90 + 12 * i, 0, img.shape[1] - 60))  # walks left to right, against the dolly
        y0 = int(np.clip(cy - 50, 0, img.shape[0] - 60))
        img[y0:y0 + 60, x0:x0 + 60] = blob
        cv2.imwrite(str(frames[f]), img)
    rep = measure_lock(frames, solve, np.array(place["point"]), place["ref_frame"])
    assert rep["coverage"] >= 0.9, rep
    assert rep["slide_px"]["max"] < 1.0 and rep["ok"], rep["slide_px"]


def test_spot_out_of_view_in_reference_is_a_failure_not_a_pass(tmp_path, dolly, floor_frames):
    solve = dolly(n=6)
    frames = floor_frames(solve, tmp_path)
    rep = measure_lock(frames, solve, np.array([0.0, -10.0, 0.0]))  # behind every camera
    assert not rep["ok"] and rep["slide_px"] is None and "not in view" in rep["reason"]


def test_pan_true_camera_locks_with_reanchoring(tmp_path, pan, floor_frames):
    """A 30 deg pan: the patch leaves the frame, new anchors carry the texture's position."""
    solve = pan(n=24)
    frames = floor_frames(solve, tmp_path)
    place = choose_placement(solve, "center", radius=0.1, height=0.2)
    rep = measure_lock(frames, solve, np.array(place["point"]), place["ref_frame"])
    assert rep["coverage"] >= 0.9, rep
    assert rep["slide_px"]["max"] < 1.0, rep["slide_px"]
    wrong = copy.deepcopy(solve)
    for cam in wrong.cameras.values():
        cam.fx *= 1.2
        cam.fy *= 1.2
    bad = measure_lock(frames, wrong, np.array(place["point"]), place["ref_frame"])
    assert bad["slide_px"]["max"] > 3.0 and not bad["ok"], bad["slide_px"]


def test_slide_is_judged_at_the_clip_resolution_not_the_working_size(tmp_path, dolly, floor_frames):
    """A run at half the clip's size sees half the slide in its own pixels; judged with the
    clip's scale it reports what the full-size frames show (and names that size)."""
    solve = dolly(n=8)
    frames = floor_frames(solve, tmp_path)
    place = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    ref = place["ref_frame"]
    wrong = _tilted_contact(solve, ref, place["pixel"], 3.0)
    full = measure_lock(frames, solve, wrong, ref)
    half = {f: cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (solve.width // 2, solve.height // 2),
                          interpolation=cv2.INTER_AREA) for f, p in frames.items()}
    raw = measure_lock(half, solve, wrong, ref)
    judged = measure_lock(half, solve, wrong, ref, judge_scale=2.0)
    assert full["slide_px"]["mean"] > 1.0, full["slide_px"]
    assert raw["slide_px"]["mean"] < 0.7 * full["slide_px"]["mean"]
    assert abs(judged["slide_px"]["mean"] - full["slide_px"]["mean"]) < 0.3 * full["slide_px"]["mean"], (judged, full)
    assert judged["size"] == [solve.width, solve.height] and judged["measured_size"] == [solve.width // 2, solve.height // 2]


def test_a_refusal_names_the_frames_that_hold_the_lock(tmp_path, dolly, floor_frames):
    """A solve that drifts only over the shot's first frames (beach-sunset: the camera's
    fastest move) is refused, and the reason offers the frames that hold as --frames A:B."""
    solve = dolly(n=12)
    frames = floor_frames(solve, tmp_path)
    place = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    point, ref = np.array(place["point"]), place["ref_frame"]
    drifting = copy.deepcopy(solve)
    for f in (1, 2, 3):  # the head of the shot: the camera a little further off each frame back
        c2w = np.asarray(drifting.cameras[f].c2w)
        c2w[0, 3] += 0.06 * (4 - f)
        drifting.cameras[f].c2w = c2w.tolist()
    rep = measure_lock(frames, drifting, point, ref)
    assert not rep["ok"] and max(rep["per_frame"][str(f)] for f in (1, 2)) > 3.0, rep["per_frame"]
    assert "try --frames 3:12 " in rep["reason"] or "try --frames 4:12 " in rep["reason"], rep["reason"]
    assert "try --frames" not in measure_lock(frames, solve, point, ref)["reason"]  # nothing to offer when it holds


def test_the_locked_run_is_the_longest_that_meets_both_limits():
    from ml.camera.lock import locked_run

    slide = {f: 0.3 for f in range(1, 21)}
    slide.update({1: 40.0, 2: 12.0, 15: 2.9, 16: 2.9, 17: 2.9})  # a bad head; a tail within the max, over the mean
    run = locked_run(slide, [f for f in slide if f != 10], 10)
    assert run is not None and run[0] == 3 and 15 <= run[1] <= 20
    part = [slide[f] for f in range(run[0], run[1] + 1)]
    assert np.mean(part) <= 1.0 and max(part) <= 3.0
    assert locked_run({f: 0.3 for f in range(1, 21)}, list(range(1, 21)), 10) is None  # the whole shot holds
    assert locked_run({1: 9.0, 2: 0.2, 3: 0.2, 4: 9.0}, [1, 2, 3, 4], 2) is None  # too short to offer
