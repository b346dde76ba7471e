"""Scale of a levelled solve from a known size: two points on the ground and their distance.

After ``ground.level_world`` the ground is z = 0 and up is +z, in the solver's units (or
scaled to an assumed camera height). The user points at two things on the ground of one
frame whose distance they know (``--known-size``, parsed by
``shotcache.camera_ground.parse_known_size``): both pixel rays are cast onto z = 0, their
distance measured in solve units, and the whole world (cameras, points) scaled about the
origin, which lies on the ground, so that distance becomes the given metres. The ground
stays z = 0; heights, distances and the product's size become metres. Used by
``app.track.level_and_qc`` for `vanelia track` and `vanelia run` alike.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shotcache.camera_ground import KnownSize
from shotcache.errors import InputError

from .solve import Solve

FAR_GROUND = 30.0
"""A ground point further than this many camera heights away is near the horizon: its
distance (and so the scale) is very sensitive to the tilt of the solved ground."""


def undistort_pixel(solve: Solve, frame: int, px: tuple[float, float]) -> tuple[float, float]:
    """The pixel where a lens without distortion would see what the plate shows at ``px``."""
    d = solve.distortion
    if not any((d.k1, d.k2, d.p1, d.p2, d.k3)):
        return px
    import cv2

    K = solve.K(frame)
    # OpenCV's pixel centres are integers, ours half-integers
    src = np.array([[[px[0] - 0.5, px[1] - 0.5]]], dtype=np.float64)
    out = cv2.undistortPoints(src, K, np.array([d.k1, d.k2, d.p1, d.p2, d.k3]), P=K)
    return float(out[0, 0, 0]) + 0.5, float(out[0, 0, 1]) + 0.5


def ground_hit(c2w: np.ndarray, K: np.ndarray, px: tuple[float, float]) -> np.ndarray | None:
    """Where the ray of pixel ``px`` (corner convention) of an OpenCV camera meets the ground
    z = 0 of a levelled world; None when it never does (at or above the horizon)."""
    d = c2w[:3, :3] @ np.linalg.solve(K, np.array([px[0], px[1], 1.0]))
    o = c2w[:3, 3]
    if abs(d[2]) < 1e-12:
        return None
    t = -o[2] / d[2]
    return o + t * d if t > 0 else None


def measure_known_size(solve: Solve, known: KnownSize, plate_size: tuple[int, int],
                       first_frame: int | None = None) -> dict[str, Any]:
    """The two ground points of ``known`` in the levelled solve's units and their distance.

    ``plate_size``: the plate's own (width, height), in which pixel points are given; the
    solve may be at a downscaled size. ``first_frame``: the frame of a spec without @FRAME
    (the first tracked frame; default the first solved one). An InputError names the point
    whose ray misses the ground and what to do, or a frame without a solved camera."""
    frame = known.frame if known.frame is not None else (first_frame if first_frame is not None else min(solve.cameras))
    if frame not in solve.cameras:
        near = min(solve.cameras, key=lambda f: abs(f - frame))
        raise InputError(f"--known-size {known.text}: frame {frame} has no solved camera; measure the two points in a "
                         f"solved frame (e.g. @{near})")
    w, h = (1.0, 1.0) if known.fractions else (float(plate_size[0]), float(plate_size[1]))
    sx, sy = solve.width / w, solve.height / h
    c2w, K = solve.c2w(frame), solve.K(frame)
    if c2w[2, 3] <= 0:
        raise InputError(f"--known-size {known.text}: the solved camera of frame {frame} is not above the ground; "
                         "the scale cannot be measured on it (give --camera-height instead)")
    hits = []
    for i, (x, y) in enumerate(known.points, start=1):
        px = undistort_pixel(solve, frame, (x * sx, y * sy))
        p = ground_hit(c2w, K, px)
        if p is None:
            raise InputError(f"--known-size {known.text}: point {i} ({x:g}, {y:g}) of frame {frame} is at or above the "
                             "horizon of the solved ground: its ray never meets the ground. Give two points that lie on "
                             "the ground (floor, road, table top the product stands on), below the horizon, or use "
                             "--camera-height")
        hits.append(p)
    units = float(np.linalg.norm(hits[1] - hits[0]))
    if units < 1e-9:
        raise InputError(f"--known-size {known.text}: both points meet the ground at the same place; give two points "
                         "further apart")
    far = max(float(np.linalg.norm(p[:2] - c2w[:2, 3])) / c2w[2, 3] for p in hits)
    return {"frame": frame, "points": [p.tolist() for p in hits], "distance_units": units,
            "far": far > FAR_GROUND}


def scale_to_known_size(solve: Solve, known: KnownSize, plate_size: tuple[int, int],
                        first_frame: int | None = None) -> dict[str, Any]:
    """Scale a levelled solve (ground z = 0, origin on the ground) in place so the two points
    of ``known`` lie ``known.metres`` apart. Returns {'factor', 'distance_units', 'frame',
    'points' (metres, after scaling), 'camera_height_m' (mean over the solved frames),
    'warning' (or '')}."""
    m = measure_known_size(solve, known, plate_size, first_frame)
    factor = known.metres / m["distance_units"]
    solve.transform(np.eye(4), factor)
    heights = [solve.c2w(f)[2, 3] for f in solve.cameras]
    warning = ("a known-size point lies near the horizon (more than "
               f"{FAR_GROUND:g} camera heights away): the scale is uncertain; points nearer the camera measure it better"
               if m["far"] else "")
    return {"factor": factor, "distance_units": m["distance_units"], "frame": m["frame"],
            "points": [(np.asarray(p) * factor).tolist() for p in m["points"]],
            "camera_height_m": float(np.mean(heights)), "warning": warning}


def rescale_ground_info(ground: dict[str, Any], factor: float, camera_height_m: float) -> dict[str, Any]:
    """The track qc's ``ground`` record after the world was scaled by ``factor`` about the
    origin: the levelling similarity (x' = scale R x + t) and the camera height follow."""
    out = dict(ground)
    if "scale" in out:
        out["scale"] = float(out["scale"]) * factor
    if "matrix" in out:
        M = np.asarray(out["matrix"], dtype=np.float64).copy()
        M[:3, 3] *= factor
        out["matrix"] = M.tolist()
    out["camera_height"] = camera_height_m
    return out
