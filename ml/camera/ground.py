"""Ground plane from the reconstructed points, and re-orienting the world so it is z = 0."""
from __future__ import annotations

from shotcache.schema import UserError

import numpy as np

from .solve import Solve


class GroundError(UserError, RuntimeError):
    pass


def camera_up(solve: Solve) -> np.ndarray:
    """Average 'up' of the cameras (OpenCV y points down in the image)."""
    ups = np.stack([-solve.c2w(f)[:3, 1] for f in solve.cameras])
    up = ups.mean(0)
    return up / (np.linalg.norm(up) + 1e-12)


def fit_ground(solve: Solve, max_tilt_deg: float = 35.0, iters: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust plane through the points below the cameras whose normal is near 'up'.

    Returns (point on plane, unit normal towards the cameras, inlier mask over solve.points).
    RANSAC with a threshold of 1.5 % of the median point distance makes the fit scale-free.
    """
    pts = np.asarray(solve.points, dtype=np.float64)
    if len(pts) < 10:
        raise GroundError(f"only {len(pts)} 3D points: not enough to fit a ground plane; give the plane or a camera height")
    up = camera_up(solve)
    centre = solve.centres().mean(0)
    below = ((pts - centre) @ up) < 0
    cand = pts[below] if below.sum() >= 10 else pts
    scale = float(np.median(np.linalg.norm(cand - centre, axis=1)))
    thresh = 0.015 * scale
    rng = np.random.default_rng(seed)
    cos_tilt = np.cos(np.radians(max_tilt_deg))
    best_n, best_p, best_count = up, cand.mean(0), -1
    for _ in range(iters):
        a, b, c = cand[rng.choice(len(cand), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-12:
            continue
        n /= norm
        if abs(n @ up) < cos_tilt:
            continue
        count = int((np.abs((cand - a) @ n) < thresh).sum())
        if count > best_count:
            best_n, best_p, best_count = n, a, count
    if best_count < 6:
        raise GroundError("no ground plane found among the reconstructed points (no near-horizontal surface below the camera)")
    inl = np.abs((cand - best_p) @ best_n) < thresh
    p0 = cand[inl].mean(0)
    _, _, vt = np.linalg.svd(cand[inl] - p0)
    n = vt[2]
    if n @ (centre - p0) < 0:
        n = -n
    full_inl = np.abs((pts - p0) @ n) < thresh
    return p0, n, full_inl


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
