"""The ground agrees with the plate's vertical lines: a tilted band of points that outnumbers
the floor is not taken for the ground when posts and walls say which way is up."""
import numpy as np

from app.track import _ground_with_up
from posts_world import posts_world


def _scene(tilt_deg=30.0, seed=0):
    rng = np.random.default_rng(seed)
    solve, images = posts_world()
    floor = np.c_[rng.uniform(-3, 3, 80), rng.uniform(0, 4, 80), np.zeros(80)]
    t = np.radians(tilt_deg)  # a band tilted about the x axis, below the cameras, with 4x the points
    u, v = rng.uniform(-3, 3, 320), rng.uniform(0, 2, 320)
    band = np.c_[u, 0.5 + v * np.cos(t), -0.2 + v * np.sin(t)]
    solve.points = np.vstack([floor, band])
    return solve, images


def test_vertical_lines_keep_the_ground_level():
    solve, images = _scene()
    _, normal, inl, how = _ground_with_up(solve, images)
    assert how == "vertical lines"
    assert np.degrees(np.arccos(abs(normal[2]))) < 3.0, normal
    assert inl[:80].mean() > 0.8 and inl[80:].mean() < 0.3  # (the band crosses the floor near z = 0)
    # without the plate's lines, the cameras' own up lets the bigger tilted band win
    _, blind, _, how_blind = _ground_with_up(solve, None)
    assert how_blind == "cameras" and np.degrees(np.arccos(abs(blind[2]))) > 5.0, blind


def test_no_level_plane_means_an_assumed_level_ground_not_a_tilted_one():
    solve, images = _scene()
    solve.points = solve.points[80:]  # the tilted band only
    point, normal, inl, how = _ground_with_up(solve, images)
    assert how == "vertical lines (ground assumed)" and not inl.any()
    assert np.degrees(np.arccos(abs(normal[2]))) < 3.0
    assert all(((solve.c2w(f)[:3, 3] - point) @ normal) > 0 for f in solve.cameras)  # below every camera


def test_a_level_plane_above_the_cameras_is_not_the_ground():
    solve, images = _scene()
    rng = np.random.default_rng(3)
    canopy = np.c_[rng.uniform(-3, 3, 60), rng.uniform(0, 4, 60), np.full(60, 4.0)]  # a roof 2.5 m above the cameras
    solve.points = canopy  # nothing below the cameras: the fit falls back to every point, the roof
    point, normal, inl, how = _ground_with_up(solve, images)
    assert how == "vertical lines (ground assumed)", how
    assert normal[2] > 0.99 and all(((solve.c2w(f)[:3, 3] - point) @ normal) > 0 for f in solve.cameras)
