"""The plate's lens: OpenCV's radial-tangential distortion, one home for both sides.

A solve (COLMAP's SIMPLE_RADIAL, Blender's tracker, a transforms.json) gives pinhole
intrinsics plus distortion coefficients (``schema.Distortion``). Cycles renders a pinhole
image. To sit in the plate the render must carry the plate's lens: every pixel of the
(distorted) plate looks along the ray that the *undistorted* coordinate of that pixel
names, so the render is sampled there (an ST-map: for each plate pixel, where to read the
render). The Blender side undistorts plates with the same model (addon/plate.undistort).

Coordinates: pixel corners at integers (0,0 = the top-left corner of the first pixel), as
everywhere in the shot contract; normalized image coordinates x = (u - cx) / fx.
stdlib + numpy only.
"""
from __future__ import annotations

import numpy as np

from .schema import Distortion, FrameCamera


def distort(x: np.ndarray, y: np.ndarray, d: Distortion) -> tuple[np.ndarray, np.ndarray]:
    """Normalized pinhole coordinates -> where the lens images them (normalized)."""
    r2 = x * x + y * y
    radial = 1 + d.k1 * r2 + d.k2 * r2 * r2 + d.k3 * r2 * r2 * r2
    xd = x * radial + 2 * d.p1 * x * y + d.p2 * (r2 + 2 * x * x)
    yd = y * radial + d.p1 * (r2 + 2 * y * y) + 2 * d.p2 * x * y
    return xd, yd


def undistort(xd: np.ndarray, yd: np.ndarray, d: Distortion, iters: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``distort`` by fixed-point iteration (converges for the mild lenses a
    solve gives; residual under 1e-6 of the normalized coordinate in 20 steps)."""
    x, y = np.array(xd, dtype=np.float64), np.array(yd, dtype=np.float64)
    for _ in range(iters):
        r2 = x * x + y * y
        radial = 1 + d.k1 * r2 + d.k2 * r2 * r2 + d.k3 * r2 * r2 * r2
        dx = 2 * d.p1 * x * y + d.p2 * (r2 + 2 * x * x)
        dy = d.p1 * (r2 + 2 * y * y) + 2 * d.p2 * x * y
        x, y = (xd - dx) / radial, (yd - dy) / radial
    return x, y


def st_map(cam: FrameCamera, d: Distortion, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(map_u, map_v) float32 HxW: for each plate pixel, the render pixel to read, in
    pixel-centre coordinates (the render's pixel i has its centre at i), as cv2.remap takes."""
    w, h = size
    u, v = np.meshgrid(np.arange(w, dtype=np.float64) + 0.5, np.arange(h, dtype=np.float64) + 0.5)
    x, y = undistort((u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, d)
    return (x * cam.fx + cam.cx - 0.5).astype(np.float32), (y * cam.fy + cam.cy - 0.5).astype(np.float32)


def project(cam: FrameCamera, d: Distortion, pts_cam: np.ndarray) -> np.ndarray:
    """Nx2 plate pixels (corner convention) of camera-space points (OpenCV axes), lens included."""
    p = np.asarray(pts_cam, dtype=np.float64)
    xd, yd = distort(p[:, 0] / p[:, 2], p[:, 1] / p[:, 2], d)
    return np.stack([xd * cam.fx + cam.cx, yd * cam.fy + cam.cy], axis=1)


def is_distorted(d: Distortion) -> bool:
    return not d.is_zero()
