"""The ground plane from a track's 3D points: one robust fit for the tracker and the add-on.

RANSAC over point triples, then a least-squares refit of the inliers. The inlier threshold
is a fraction of the cloud's own size (median distance to a reference point), so the fit
works in any unit. When the caller knows where the cameras are and which way is up
(the tracker does), only points below the cameras are candidates and only near-horizontal
planes count, which keeps walls and ceilings out; the normal then points towards the
cameras. Without that knowledge (a track read from a file) the normal points to world +z.
numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import UserError
from .schema import Ground


def parse_ground_option(text: str) -> tuple[list[float], list[float]]:
    """A ground plane as ``--ground`` gives it, 'px,py,pz,nx,ny,nz': (point, normal). The one
    reading of the option, for the render batch step and the run's placement checks;
    ValueError naming the option otherwise."""
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        vals = []
    if len(vals) != 6:
        raise ValueError(f"--ground: expected 6 comma-separated numbers, got {text!r}")
    return vals[:3], vals[3:]


def plane_axes(normal: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two unit axes (e1, e2) on the plane of ``normal`` with e1 x e2 along it: the one choice of
    axes on the ground (whatever lies on it - the render region's ring, a lamp's pool, a ground
    cover's blades - is laid out in them)."""
    n = np.asarray(normal, np.float64)
    n = n / max(float(np.linalg.norm(n)), 1e-12)
    e1 = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(n, e1)


class GroundError(UserError, RuntimeError):
    """No ground plane can be fitted; the message says what to give instead."""


@dataclass
class PlaneFit:
    point: np.ndarray
    """A point on the plane (the inliers' centroid)."""
    normal: np.ndarray
    """Unit normal, towards the cameras (or world +z)."""
    inliers: np.ndarray
    """Boolean mask over all the input points."""


def fit_plane(points: Any, up: Any = None, cameras_at: Any = None, max_tilt_deg: float | None = None,
              rel_threshold: float = 0.015, iters: int = 400, seed: int = 0, min_points: int = 3) -> PlaneFit:
    """Robust plane through ``points`` (Nx3).

    ``cameras_at`` (a point, e.g. the mean camera centre) with ``up`` restricts candidates to
    points below it and orients the normal towards it; ``max_tilt_deg`` (with ``up``) refuses
    planes tilted further than that from horizontal. The threshold is ``rel_threshold`` times
    the median distance of the candidates to ``cameras_at`` (or to their median point).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) < max(3, min_points):
        raise GroundError(f"only {len(pts)} 3D points in the track: not enough to fit a ground plane; "
                          "give the ground plane (or a camera height) explicitly")
    up_v = None if up is None else np.asarray(up, dtype=np.float64) / (np.linalg.norm(up) + 1e-12)
    centre = None if cameras_at is None else np.asarray(cameras_at, dtype=np.float64)
    cand = pts
    if centre is not None and up_v is not None:
        below = ((pts - centre) @ up_v) < 0
        if below.sum() >= max(3, min_points):
            cand = pts[below]
    ref = centre if centre is not None else np.median(cand, axis=0)
    thresh = rel_threshold * (float(np.median(np.linalg.norm(cand - ref, axis=1))) or 1.0)
    cos_tilt = np.cos(np.radians(max_tilt_deg)) if (max_tilt_deg is not None and up_v is not None) else None
    rng = np.random.default_rng(seed)
    best_p, best_n, best_count = None, None, -1
    for _ in range(iters):
        a, b, c = cand[rng.choice(len(cand), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-12:
            continue
        n /= norm
        if cos_tilt is not None and abs(n @ up_v) < cos_tilt:
            continue
        count = int((np.abs((cand - a) @ n) < thresh).sum())
        if count > best_count:
            best_p, best_n, best_count = a, n, count
    if best_p is None or best_count < min(6, len(cand)):
        raise GroundError("no ground plane found among the track's 3D points (no near-horizontal surface below the "
                          "camera); give the ground plane explicitly")
    inl = np.abs((cand - best_p) @ best_n) < thresh
    p0 = cand[inl].mean(0)
    _, _, vt = np.linalg.svd(cand[inl] - p0)
    n = vt[2]
    towards = (centre - p0) if centre is not None else (up_v if up_v is not None else np.array([0.0, 0.0, 1.0]))
    if n @ towards < 0:
        n = -n
    return PlaneFit(p0, n, np.abs((pts - p0) @ n) < thresh)


def plane_size(points: Any, inliers: Any, default: float = 20.0) -> float:
    """Side of a ground patch that covers the inliers generously (4x their extent)."""
    sel = np.asarray(points, dtype=np.float64).reshape(-1, 3)[np.asarray(inliers, dtype=bool)]
    extent = float(np.ptp(sel, axis=0).max()) if len(sel) else 0.0
    return 4 * extent if extent > 0 else default


def ground_from_points(points: Any, seed: int = 0) -> Ground:
    """The shot's ``Ground`` from a track's points when nothing is known about its cameras
    (a track read from a file): normal towards world +z, patch sized to the inliers."""
    fit = fit_plane(points, rel_threshold=0.03, iters=300, seed=seed)
    return Ground(point=fit.point.tolist(), normal=fit.normal.tolist(), size_m=plane_size(points, fit.inliers))
