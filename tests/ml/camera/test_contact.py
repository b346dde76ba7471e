"""A wrong ground puts the product at the wrong depth along its ray: the plate's texture at
the spot, triangulated through the cameras, puts it back; a hopeless solve is only reported."""
import numpy as np

from ml.camera.contact import refine_contact
from ml.camera.placement import choose_placement


def _on_plane(solve, ref, pixel, z):
    """Where the reference ray through ``pixel`` meets the horizontal plane at height z."""
    c2w = solve.c2w(ref)
    d = c2w[:3, :3] @ np.linalg.solve(solve.K(ref), np.array([pixel[0], pixel[1], 1.0]))
    o = c2w[:3, 3]
    return o + ((z - o[2]) / d[2]) * d


def test_a_ground_fitted_too_high_is_undone_by_the_plate(tmp_path, dolly, floor_frames):
    solve = dolly(n=10)
    frames = floor_frames(solve, tmp_path)
    place = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    ref, px = place["ref_frame"], place["pixel"]
    truth = _on_plane(solve, ref, px, 0.0)
    wrong = _on_plane(solve, ref, px, 0.15)  # a plane fitted 15 cm too high: same pixel, nearer the camera
    found = refine_contact(frames, solve, wrong, ref)
    assert found["before"]["mean"] > 1.0, found
    assert found["used"], found["why"]
    assert np.linalg.norm(np.array(found["point"]) - truth) < 0.03, (found["point"], truth)
    assert found["after"]["mean"] < 0.3 and found["height_m"] < -0.1
    exact = refine_contact(frames, solve, truth, ref)  # nothing to gain: placement kept
    assert not exact["used"] and "does not help" in exact["why"]


def test_a_spot_far_off_the_solved_ground_is_reported_not_used(tmp_path, dolly, floor_frames):
    solve = dolly(n=10)
    frames = floor_frames(solve, tmp_path)
    place = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    wrong = _on_plane(solve, place["ref_frame"], place["pixel"], 0.6)  # 0.6 m: 40 % of the camera height
    found = refine_contact(frames, solve, wrong, place["ref_frame"])
    assert not found["used"] and "off the solved ground" in found["why"], found
    assert found["point"] == list(wrong)
