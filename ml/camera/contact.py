"""Where the product stands, checked on the plate: triangulate the ground texture at the spot.

The placement casts one ray (the reference frame's pixel) onto the solved ground plane. If
that plane is off (a fit pulled by points on walls or cars, a tilt of a few degrees), the
product stands at the wrong depth along that ray, and parallax makes it slide over the
footage although the cameras are right. The plate itself says where the spot is: the lock
tracker (ml.camera.lock) follows the ground texture around the spot through the shot, and
the solved cameras triangulate it. A 3-parameter point fitted to tens of observations cannot
hide a wrong camera (the residual stays), but it does undo a wrong ground.

The refined spot is used only when it is plausible (near the plane, in front of the cameras)
and cuts the slide clearly; otherwise the placement is kept and the triangulation is reported
as a diagnostic ("the plate's ground at the spot lies 2.9 m below the solved ground").
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from .lock import measure_lock
from .solve import Solve

MAX_HEIGHT_FRAC = 0.2
"""The refined spot may lie at most this fraction of the camera height off the solved plane
(a ground fit is rarely further off at the product's spot; beyond that the solve is wrong)."""
MIN_GAIN = 0.7
"""...and must cut the mean slide to at most this fraction of the slide at the placement."""


def triangulate(solve: Solve, texture_px: Mapping[int, np.ndarray], start: np.ndarray) -> np.ndarray:
    """The world point whose projections best follow ``texture_px`` (robust least squares)."""
    frames = [f for f in sorted(texture_px) if f in solve.cameras]
    obs = np.array([texture_px[f] for f in frames], dtype=np.float64)

    def residuals(p: np.ndarray) -> np.ndarray:
        return np.concatenate([solve.project(f, p[None])[0][0] - o for f, o in zip(frames, obs)])

    return least_squares(residuals, np.asarray(start, dtype=np.float64), loss="huber", f_scale=1.0).x


def refine_contact(frames: Mapping[int, Path | np.ndarray], solve: Solve, point: np.ndarray, ref: int,
                   normal: np.ndarray = np.array([0.0, 0.0, 1.0])) -> dict:
    """Measure the lock at ``point``, triangulate the spot's texture, and decide.

    Returns {"used": bool, "point": the point to stand on, "why": text, "before": slide stats,
    "after": slide stats or None, "height_m": the triangulated spot's height over the plane,
    "moved_m": distance from the placement}."""
    point = np.asarray(point, dtype=np.float64)
    n = np.asarray(normal, dtype=np.float64) / np.linalg.norm(normal)
    before = measure_lock(frames, solve, point, ref, normal=n)
    out = {"used": False, "point": point.tolist(), "before": before.get("slide_px"), "after": None,
           "height_m": None, "moved_m": None}
    tex = {int(k): np.asarray(v) for k, v in (before.get("texture_px") or {}).items()}
    if before.get("slide_px") is None or len(tex) < 4:
        return {**out, "why": f"the ground texture at the spot could not be followed ({before.get('reason') or 'too few frames'})"}
    tri = triangulate(solve, tex, point)
    cam_h = float(np.median([abs((solve.c2w(f)[:3, 3] - point) @ n) for f in solve.cameras]))
    height, moved = float((tri - point) @ n), float(np.linalg.norm(tri - point))
    out.update(height_m=round(height, 4), moved_m=round(moved, 4))
    in_front = all(solve.project(f, tri[None])[1][0] > 0 for f in tex)
    if not in_front or abs(height) > MAX_HEIGHT_FRAC * cam_h:
        return {**out, "why": f"the plate's ground at the spot triangulates {height:+.2f} m off the solved ground "
                              f"(camera height {cam_h:.2f} m): the solve or its ground is wrong there; placement kept"}
    after = measure_lock(frames, solve, tri, ref, normal=n)
    out["after"] = after.get("slide_px")
    b, a = before["slide_px"]["mean"], (after.get("slide_px") or {}).get("mean", np.inf)
    if not a <= MIN_GAIN * b:
        return {**out, "why": f"triangulating the spot does not help ({b:.2f} -> {a:.2f} px mean); placement kept"}
    return {**out, "used": True, "point": tri.tolist(),
            "why": f"the plate's ground at the spot lies {height:+.3f} m off the solved plane; standing the product "
                   f"there cuts the slide from {b:.2f} to {a:.2f} px mean"}
