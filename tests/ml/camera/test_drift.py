"""The drift metric on footage whose camera is known exactly (a textured floor seen by
homographies along a dolly): an exact solve drifts well under a pixel, a wrong one does not."""
import copy

import cv2
import numpy as np

from ml.camera.drift import placement_drift
from ml.camera.placement import choose_placement


TEX_SCALE = 200.0  # texture pixels per metre
TEX_ORIGIN = (-4.0, -2.0)


def floor_texture(seed=0):
    rng = np.random.default_rng(seed)
    small = (rng.random((200, 160)) * 255).astype(np.uint8)
    tex = cv2.resize(small, (1600, 2000), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(tex, (0, 0), 1.5)


def render_floor(solve, tex, frame):
    """Image of the z = 0 floor: pixel ~ K [r1 r2 t] [X Y 1]^T, X = u / s + x0."""
    w2c = np.linalg.inv(solve.c2w(frame))
    H_world = solve.K(frame) @ np.c_[w2c[:3, 0], w2c[:3, 1], w2c[:3, 3]]
    world_from_tex = np.array([[1 / TEX_SCALE, 0, TEX_ORIGIN[0]], [0, 1 / TEX_SCALE, TEX_ORIGIN[1]], [0, 0, 1]])
    # OpenCV pixel centres are integers; ours are half-integers: shift by -0.5
    shift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    H = shift @ H_world @ world_from_tex @ np.linalg.inv(shift)
    return cv2.warpPerspective(tex, H, (solve.width, solve.height), flags=cv2.INTER_CUBIC)


def test_exact_solve_has_subpixel_drift_and_wrong_solve_drifts(tmp_path, dolly):
    solve = dolly(n=10)
    tex = floor_texture()
    frames = {}
    for f in solve.cameras:
        path = tmp_path / f"{f:04d}.png"
        cv2.imwrite(str(path), render_floor(solve, tex, f))
        frames[f] = path
    place = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    rep = placement_drift(frames, solve, np.array(place["point"]), place["ref_frame"])
    assert rep["frames_followed"] == len(frames)
    assert rep["drift_px"]["max"] < 0.5, rep["drift_px"]
    wrong = copy.deepcopy(solve)
    for f, cam in wrong.cameras.items():
        c2w = np.asarray(cam.c2w)
        c2w[0, 3] *= 1.1  # the solve overestimates the dolly by 10 %
        cam.c2w = c2w.tolist()
    bad = placement_drift(frames, wrong, np.array(place["point"]), place["ref_frame"])
    assert bad["drift_px"]["max"] > 3 * max(rep["drift_px"]["max"], 0.3)
