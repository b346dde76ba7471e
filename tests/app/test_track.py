"""app.track chooses between solves by what they registered and how well they fit."""
import numpy as np

from app.track import _solve_rank, _weak_solve
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
