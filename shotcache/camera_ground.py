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

The scale of a camera solved here has three sources, in one notation for every front end
(``scale_source``): ``--camera-height``, a known size (``--known-size``: two points on the
ground of one frame and their distance, ``parse_known_size``; the geometry that measures
them on the solved ground is ml/camera/scale.py) or the typical camera height.

Stdlib + numpy: used by the Blender side (shot set-up) and the sidecar side alike.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import UsageError

TYPICAL_CAMERA_HEIGHT_M = 1.5

KNOWN_SIZE_HELP = ("X1,Y1,X2,Y2=METRES[@FRAME]: two points on the ground in one plate frame (pixels of the plate's own "
                   "resolution, corner convention, y down; or fractions of the frame when all four are <= 1) and their "
                   "real distance in metres; FRAME defaults to the first tracked frame")
_NUM = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_KNOWN_RE = re.compile(rf"^{_NUM},{_NUM},{_NUM},{_NUM}={_NUM}(?:m\s*)?(?:@\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class KnownSize:
    """Two points on the ground of one plate frame and their real distance (``--known-size``).

    ``points`` are as given: pixels of the plate's own resolution (corner convention: the
    top-left corner of the frame is 0,0, the first pixel's centre 0.5,0.5) or, with
    ``fractions``, fractions of the width and height. ``frame`` None: the first tracked frame."""

    points: tuple[tuple[float, float], tuple[float, float]]
    metres: float
    frame: int | None
    fractions: bool
    text: str

    def pixels(self, width: int, height: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """The two points in pixels of a frame ``width`` x ``height`` (the plate's own size, or
        a downscaled copy of it: pixel points scale with it, fractions are independent of it)."""
        (x1, y1), (x2, y2) = self.points
        return (x1 * width, y1 * height), (x2 * width, y2 * height)

    def check_frame(self, width: int, height: int, frames: list[int] | None = None) -> None:
        """Both points inside a ``width`` x ``height`` plate frame and FRAME among the plate's
        (tracked) ``frames``; a UsageError naming the value otherwise."""
        if not self.fractions:
            for i, (x, y) in enumerate(self.points, start=1):
                if not (0 <= x <= width and 0 <= y <= height):
                    raise UsageError(f"--known-size {self.text}: point {i} ({x:g}, {y:g}) is outside the "
                                     f"{width}x{height} plate frame; give pixel coordinates of the plate "
                                     f"(0..{width}, 0..{height}) or fractions 0..1")
        if self.frame is not None and frames and self.frame not in frames:
            raise UsageError(f"--known-size {self.text}: frame {self.frame} is not among the tracked frames "
                             f"{frames[0]}..{frames[-1]}; give @FRAME inside them")

    def describe(self) -> str:
        """The scale source, as the run's log, the track's qc and shot.json say it."""
        where = f"frame {self.frame}" if self.frame is not None else "the first frame"
        return f"--known-size {self.metres:g} m between two ground points of {where} ({self.text})"


def parse_known_size(text: str | None) -> KnownSize | None:
    """``X1,Y1,X2,Y2=METRES[@FRAME]`` -> KnownSize (None for None or ''); a UsageError that
    names the value for a malformed spec, a point outside 0..1 when given as fractions,
    two equal points or a distance that is not positive."""
    if text is None or not str(text).strip():
        return None
    raw = str(text).strip()
    m = _KNOWN_RE.match(raw)
    if not m:
        raise UsageError(f"--known-size {raw!r}: expected {KNOWN_SIZE_HELP}; e.g. 412,630,980,655=1.2@1")
    x1, y1, x2, y2, metres = (float(v) for v in m.groups()[:5])
    frame = int(m.group(6)) if m.group(6) is not None else None
    if not np.isfinite([x1, y1, x2, y2, metres]).all():
        raise UsageError(f"--known-size {raw!r}: numbers must be finite")
    if not metres > 0:
        raise UsageError(f"--known-size {raw!r}: the distance {metres:g} m must be positive (metres between the two points)")
    coords = (x1, y1, x2, y2)
    if min(coords) < 0:
        raise UsageError(f"--known-size {raw!r}: a coordinate is negative, outside the frame; pixels start at 0,0 "
                         "in the top-left corner")
    fractions = max(coords) <= 1.0
    if (x1, y1) == (x2, y2):
        raise UsageError(f"--known-size {raw!r}: both points are the same pixel; give two different points "
                         f"whose real distance is {metres:g} m")
    if not fractions and np.hypot(x2 - x1, y2 - y1) < 2.0:
        raise UsageError(f"--known-size {raw!r}: the points are less than 2 px apart, too close to measure a "
                         "scale; give points further apart")
    return KnownSize(((x1, y1), (x2, y2)), metres, frame, fractions, raw)


def scale_source(camera_height_m: float | None = None, known: KnownSize | None = None) -> str:
    """Where the scale of a camera solved here comes from, in words (the run's log, the
    track's ``qc['scale']['source']``, shot.json's ``qc.scale_source``)."""
    if known is not None:
        return known.describe()
    if camera_height_m is not None:
        return f"--camera-height {camera_height_m:g} m"
    return f"typical camera height {TYPICAL_CAMERA_HEIGHT_M:g} m (give --camera-height or --known-size)"


def check_scale_options(camera_height_m: float | None, known_size: str | None) -> KnownSize | None:
    """The scale options of a solve, checked together: a positive --camera-height or a
    --known-size, not both (each sets the scale). Returns the parsed known size."""
    if camera_height_m is not None and not camera_height_m > 0:
        raise UsageError(f"--camera-height {camera_height_m}: must be a positive height in metres")
    known = parse_known_size(known_size)
    if known is not None and camera_height_m is not None:
        raise UsageError(f"--known-size {known.text} and --camera-height {camera_height_m:g} both set the scene's scale; "
                         "give one of them")
    return known


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
