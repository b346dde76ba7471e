"""The product is stood on ground the plate shows, not behind something standing on it."""
import numpy as np

from ml.camera.placement import choose_placement, ground_hidden


def _person_over(solve, ref, pixel, rng):
    """Points of a 1.7 m 'person' standing halfway between the camera and the ground seen
    at ``pixel`` in frame ``ref``, spread over the pixels around it."""
    c2w = solve.c2w(ref)
    d = c2w[:3, :3] @ np.linalg.solve(solve.K(ref), np.array([pixel[0], pixel[1], 1.0]))
    o = c2w[:3, 3]
    ground = o + (-o[2] / d[2]) * d
    foot = o + 0.5 * (ground - o)
    foot[2] = 0.0
    return np.c_[foot[0] + rng.uniform(-0.2, 0.2, 300), foot[1] + rng.uniform(-0.1, 0.1, 300), rng.uniform(0.1, 1.7, 300)]


def test_a_spot_behind_a_reconstructed_person_is_avoided(dolly):
    solve = dolly(n=8)
    first = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    assert "warning" not in first
    ref, px = first["ref_frame"], first["pixel"]
    assert ground_hidden(solve, ref, px, np.array(first["point"]), 0.04 * solve.width) == 0
    solve.points = np.vstack([solve.points, _person_over(solve, ref, px, np.random.default_rng(0))])
    assert ground_hidden(solve, ref, px, np.array(first["point"]), 0.04 * solve.width) >= 2
    moved = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    assert np.hypot(moved["pixel"][0] - px[0], moved["pixel"][1] - px[1]) > 0.04 * solve.width, moved["pixel"]
    assert ground_hidden(solve, ref, moved["pixel"], np.array(moved["point"]), 0.04 * solve.width) == 0


def test_an_explicit_pixel_behind_a_person_is_kept_with_a_warning(dolly):
    solve = dolly(n=8)
    first = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    solve.points = np.vstack([solve.points, _person_over(solve, first["ref_frame"], first["pixel"], np.random.default_rng(1))])
    x, y = first["pixel"]
    kept = choose_placement(solve, f"{x},{y}", radius=0.1, height=0.2)
    assert kept["pixel"] == [x, y] and "stand in front of the ground" in kept.get("warning", "")


def test_ground_with_reconstructed_points_is_preferred_and_bare_plane_is_flagged(dolly):
    from ml.camera.placement import ground_support

    solve = dolly(n=8)
    chosen = choose_placement(solve, "bottom_right", radius=0.1, height=0.2)
    ref = chosen["ref_frame"]
    assert ground_support(solve, ref, chosen["pixel"], np.array(chosen["point"]), 0.06 * solve.width) > 0
    # the plane goes on where nothing was reconstructed: keep only a strip of floor on the right
    solve.points = solve.points[(solve.points[:, 2] == 0) & (solve.points[:, 0] > 2.5)]
    bare = choose_placement(solve, "bottom_left", radius=0.1, height=0.2)
    assert ground_support(solve, ref, bare["pixel"], np.array(bare["point"]), 0.06 * solve.width) == 0
    assert "no reconstructed ground point near the spot" in bare.get("warning", ""), bare
    solve.points = np.zeros((0, 3))  # a nodal solve: no evidence either way, no warning
    assert ground_support(solve, ref, bare["pixel"], np.array(bare["point"]), 10.0) is None
