"""Up, ground and scale from camera poses alone: for imported tracks that carry no points.

A transforms.json from another tool (NeRF, instant-ngp, a phone capture) has poses in its
own units and orientation: its z = 0 is often nowhere near a floor (the fox's is above
every camera). Without points we infer what a camera operator takes for granted:

* "up" is perpendicular to the cameras' image x axes (people hold cameras level, not
  always horizontal: rolled rarely, pitched often);
* when the cameras converge on something (an orbit, a turntable), the ground passes
  through the point they all look at, so the product stands where the shot is aimed;
  otherwise it lies one typical camera height below them, scaled by how far apart the
  cameras are;
* the scale (metres per track unit) makes the mean camera height equal the given camera
  height, or a typical hand-held height of 1.5 m. The result says which source was used.

Stdlib + numpy: used by the Blender side (shot set-up) and the sidecar side alike.
"""
from __future__ import annotations

from typing import Any

import numpy as np

TYPICAL_CAMERA_HEIGHT_M = 1.5


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-12)


def mean_up(c2ws: np.ndarray) -> np.ndarray:
    """'Up' of OpenCV camera-to-world matrices (image y points down).

    Cameras are rarely rolled but often pitched (looking down at a table), so their image
    x axes are horizontal while their up vectors lean: up is the direction most
    perpendicular to every x axis when the cameras turn enough for those to span the
    horizontal plane, else the mean up made perpendicular to the mean x axis."""
    naive = _unit(-c2ws[:, :3, 1].mean(0))
    xs = c2ws[:, :3, 0]
    ev, vec = np.linalg.eigh(xs.T @ xs)
    if len(xs) >= 3 and ev[1] > 0.02 * ev[2]:
        up = vec[:, 0]
    else:
        x = _unit(xs.mean(0))
        up = naive - (naive @ x) * x
    up = _unit(up)
    return up if up @ naive >= 0 else -up


def convergence_point(c2ws: np.ndarray) -> np.ndarray | None:
    """Least-squares point nearest every optical axis, if the cameras look at one spot
    (well conditioned, in front of at least 80 % of the cameras), else None."""
    centres, dirs = c2ws[:, :3, 3], c2ws[:, :3, 2]
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for c, d in zip(centres, dirs):
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ c
    ev = np.linalg.eigvalsh(A)
    if ev[0] < 0.05 * ev[-1]:  # parallel axes (a pan from one spot, a dolly): no convergence
        return None
    x = np.linalg.solve(A, b)
    in_front = np.mean(np.einsum("ij,ij->i", x - centres, dirs) > 0)
    return x if in_front >= 0.8 else None


def world_ground_plausible(c2ws: Any, max_tilt_deg: float = 30.0) -> bool:
    """Is the track's own z = 0 a believable ground: below every camera, its +z within
    ``max_tilt_deg`` of the cameras' mean up? (Blender scenes and levelled solves: yes.)"""
    M = np.asarray(c2ws, dtype=np.float64).reshape(-1, 4, 4)
    up = mean_up(M)
    return bool((M[:, 2, 3] > 0).all() and up[2] > np.cos(np.radians(max_tilt_deg)))


def ground_from_cameras(c2ws: Any, camera_height_m: float | None = None) -> dict[str, Any]:
    """{'point', 'normal', 'metres_per_unit', 'camera_height_units', 'source', 'how'} for a
    track without points (OpenCV c2w matrices, any units)."""
    M = np.asarray(c2ws, dtype=np.float64).reshape(-1, 4, 4)
    up = mean_up(M)
    centres = M[:, :3, 3]
    target = convergence_point(M)
    rel = (centres - centres.mean(0)) @ up
    if target is not None and ((centres - target) @ up).min() > 0.1 * max(float(np.ptp(rel)), 1e-9):
        how = "through the point the cameras look at"
    else:
        # no common target below them (a pan, or an orbit at eye level round a wall mount):
        # the floor one quarter of the scene's extent below the lowest camera
        spread = float(np.max(np.linalg.norm(centres - centres.mean(0), axis=1))) if len(M) > 1 else 0.0
        drop = 0.25 * spread if spread > 1e-9 else 1.0
        base = target if target is not None else centres.mean(0)
        target = base - up * ((base - centres.mean(0)) @ up) + up * (rel.min() - drop)
        how = "below the lowest camera (the cameras look at no common point below them)"
    heights = (centres - target) @ up
    h_units = float(np.mean(heights))
    given = camera_height_m is not None and camera_height_m > 0
    h_m = float(camera_height_m) if camera_height_m is not None and given else TYPICAL_CAMERA_HEIGHT_M
    source = (f"--camera-height {h_m:g} m" if given else f"typical camera height {h_m:g} m (give --camera-height)")
    return {"point": target.tolist(), "normal": up.tolist(), "metres_per_unit": h_m / h_units,
            "camera_height_units": h_units, "source": source, "how": "ground " + how + ", up from the cameras"}
