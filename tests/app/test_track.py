"""app.track chooses between solves by what they registered and how well they fit."""
import numpy as np

from app.track import SOLVER_ORDER, _implausible_world, _solve_rank, _weak_solve
from ml.camera.solve import Solve
from shotcache.schema import FrameCamera


def _solve(n_registered: int, err: float, tracker: str) -> Solve:
    cams = {i: FrameCamera(500.0, 500.0, 320.0, 180.0, np.eye(4).tolist()) for i in range(1, n_registered + 1)}
    return Solve(width=640, height=360, cameras=cams, tracker=tracker, frame_error={i: err for i in cams},
                 frame_tracks={i: 50 for i in cams})


def test_a_partial_or_loose_video_solve_is_weak_and_loses_to_a_full_stills_solve():
    partial = _solve(23, 0.4, "colmap")  # the fox set through the video path: 23/50 frames
    loose = _solve(50, 463.0, "nodal")   # all frames, but a nodal fit 463 px off
    full = _solve(50, 0.6, "colmap-stills")
    assert "23/50" in _weak_solve(partial, 50) and "463" in _weak_solve(loose, 50)
    assert _weak_solve(full, 50) == ""
    assert max([partial, loose, full], key=lambda s: _solve_rank(s, 50)) is full
    # among weak solves, more registered frames win, then the lower error
    assert _solve_rank(_solve(40, 3.0, "a"), 50) > _solve_rank(partial, 50)
    assert _solve_rank(_solve(23, 0.2, "b"), 50) > _solve_rank(partial, 50)


def _look(eye: np.ndarray, target: np.ndarray, upside_down: bool) -> list:
    """OpenCV c2w looking from eye at target, image-down along world -z (or +z, rolled 180 deg)."""
    z = (target - eye) / np.linalg.norm(target - eye)
    y = np.array([0.0, 0.0, 1.0 if upside_down else -1.0])
    y = (y - (y @ z) * z) / np.linalg.norm(y - (y @ z) * z)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = np.cross(y, z), y, z, eye
    return m.tolist()


def _ground_solve(upside_down: bool) -> Solve:
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(-3, 3, 400), rng.uniform(2, 8, 400), np.zeros(400)]
    cams = {i: FrameCamera(500.0, 500.0, 320.0, 180.0, _look(np.array([0.1 * i, 0.0, 1.5]), np.array([0.1 * i, 5.0, 0.0]),
                                                             upside_down)) for i in range(10)}
    return Solve(width=640, height=360, cameras=cams, points=pts, tracker="colmap-klt", frame_error={i: 0.4 for i in cams})


def test_a_mirrored_solve_is_caught_before_the_render():
    """A long-lens pan can reconstruct mirrored at 0.4 px (bmx-trees through the mapper): the
    ground then images above the horizon. The track rejects it so the next solver runs."""
    assert _implausible_world(_ground_solve(upside_down=False), {}) == ""
    why = _implausible_world(_ground_solve(upside_down=True), {})
    assert "not below the horizon" in why and "10/10" in why


def test_a_nodal_fallback_of_a_travelling_camera_is_weak():
    """solve_clip marks a nodal solve it settled for when GRIC saw travel; auto then tries Blender."""
    s = _solve(50, 0.3, "nodal")
    assert _weak_solve(s, 50) == ""
    s.fallback = "a nodal solve of a camera that travels (the mapper registered only 4/50 frames)"
    assert "travels" in _weak_solve(s, 50)
    assert SOLVER_ORDER["auto"][0] == "video" and "blender" not in SOLVER_ORDER["colmap"]


def test_a_tilted_ground_is_caught_by_the_cameras_roll():
    """Levelled on a ground tilted 30 deg against the footage, the cameras roll 30 deg: the
    product would lean (bmx-trees once, through the mapper); level cameras pass."""
    from app.track import MAX_ROLL_DEG, camera_roll_deg, levelled_copy

    level = _ground_solve(upside_down=False)
    assert camera_roll_deg(level) < 1.0
    tilt = np.radians(30.0)
    R = np.array([[np.cos(tilt), 0, np.sin(tilt)], [0, 1, 0], [-np.sin(tilt), 0, np.cos(tilt)]])  # about the y axis
    tilted = _ground_solve(upside_down=False)
    tilted.points = tilted.points @ R.T  # the points (the ground) tilt, the cameras do not
    levelled = levelled_copy(tilted, {})
    assert levelled is not None and abs(camera_roll_deg(levelled) - 30.0) < 3.0
    assert "rolls" in _implausible_world(tilted, {}) and MAX_ROLL_DEG < 30.0
    assert _implausible_world(level, {}) == ""

