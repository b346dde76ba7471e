"""The drift metric on footage whose camera is known exactly (a textured floor seen by
homographies along a dolly): an exact solve drifts well under a pixel, a wrong one does not."""
import copy

import numpy as np

from ml.camera.drift import placement_drift
from ml.camera.placement import choose_placement


def test_exact_solve_has_subpixel_drift_and_wrong_solve_drifts(tmp_path, dolly, floor_frames):
    solve = dolly(n=10)
    frames = floor_frames(solve, tmp_path)
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
