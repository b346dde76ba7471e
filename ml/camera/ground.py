"""Ground plane of a solve, and re-orienting the world so it is z = 0.

The plane fit itself is ``shotcache.ground.fit_plane`` (shared with the add-on); this module
adds what only the tracker knows: where the cameras are and which way is up.
"""
from __future__ import annotations

import numpy as np

from shotcache.ground import GroundError, fit_plane

from .solve import Solve

__all__ = ["GroundError", "camera_up", "fit_ground", "level_world"]


def camera_up(solve: Solve) -> np.ndarray:
    """Average 'up' of the cameras (OpenCV y points down in the image)."""
    ups = np.stack([-solve.c2w(f)[:3, 1] for f in solve.cameras])
    up = ups.mean(0)
    return up / (np.linalg.norm(up) + 1e-12)


def fit_ground(solve: Solve, max_tilt_deg: float = 35.0, iters: int = 400, seed: int = 0,
               up: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust plane through the points below the cameras whose normal is near 'up'.

    ``up``: the world's up when the plate's vertical lines gave it (ml.camera.plausibility.
    plate_up); else the cameras' average up, which a camera pitched down tilts by its pitch
    (hence the wide default ``max_tilt_deg``).
    Returns (point on plane, unit normal towards the cameras, inlier mask over solve.points).
    RANSAC with a threshold of 1.5 % of the median point distance makes the fit scale-free.
    """
    fit = fit_plane(solve.points, up=camera_up(solve) if up is None else up, cameras_at=solve.centres().mean(0),
                    max_tilt_deg=max_tilt_deg,
                    rel_threshold=0.015, iters=iters, seed=seed, min_points=10)
    return fit.point, fit.normal, fit.inliers


def _rotation_to_z(n: np.ndarray) -> np.ndarray:
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(n, z)
    s, c = np.linalg.norm(v), float(n @ z)
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * ((1 - c) / s**2)


def level_world(solve: Solve, point: np.ndarray, normal: np.ndarray, camera_height: float | None = None) -> dict:
    """Move the solve so the ground is z = 0 (up +z), origin under the first camera, first
    camera looking along +y; scale so the mean camera height equals ``camera_height`` (metres).
    Returns the applied similarity as {'scale', 'matrix'}."""
    R = _rotation_to_z(normal / np.linalg.norm(normal))
    first = solve.c2w(min(solve.cameras))
    foot = first[:3, 3] - ((first[:3, 3] - point) @ normal) * normal
    fwd = R @ first[:3, 2]
    yaw = np.arctan2(fwd[0], fwd[1])  # rotate about z so forward's xy points along +y
    cz, sz = np.cos(yaw), np.sin(yaw)
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1.0]])
    R = Rz @ R
    heights = [(solve.c2w(f)[:3, 3] - point) @ normal for f in solve.cameras]
    mean_h = float(np.mean(heights))
    scale = (camera_height / mean_h) if camera_height and mean_h > 1e-9 else 1.0
    M = np.eye(4)
    M[:3, :3] = R
    M[:3, 3] = -scale * (R @ foot)
    solve.transform(M, scale)
    return {"scale": scale, "matrix": M.tolist(), "camera_height": mean_h * scale}
