"""The key light's direction from one cast shadow the artist points at in a plate frame.

Three pixels of one frame: the foot of a vertical edge (a pole, a post, a box's corner) where
it meets the ground, its top, and the point of the ground where that top's shadow falls. With
the frame's solved camera and the ground plane, foot and shadow tip are where their rays meet
the ground; the top is the point of the vertical through the foot nearest its ray. The light
lies along top - tip.

Why: the plate's cast shadows give the key's azimuth but not its elevation (ml/light/key.py
cannot know the occluders' heights, so it assumes 45 deg), and the elevation decides how
strongly a low sun lights a product's sides: on the path-traced truth sets a right direction
is worth up to 7 dB on the product (docs/NUMBERS.md, stop 25). An artist sees a shadow and its
occluder at a glance; three clicks measure what the estimate has to assume.

Both sides call this: the CLI checks the text before any work (``parse_pick``), the shot's
set-up turns it into the key direction with the solved camera (``direction_from_pick``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import InputError
from .lens import undistort
from .schema import Distortion

OPTION = "--key-from-shadow"
FORMAT = "FRAME:FOOTX,FOOTY:TOPX,TOPY:TIPX,TIPY"
HELP = (f"key light direction from one cast shadow in a plate frame, '{FORMAT}' in the plate's pixels: the foot of a "
        "vertical edge (a pole, a box corner), its top, and where the top's shadow falls on the ground")
MIN_HEIGHT_M = 0.02
"""A top closer to its foot than this is a mis-click (or the foot's own pixel)."""
MAX_OFF_VERTICAL = 0.35
"""The top's ray may pass this far (as a fraction of the height) from the vertical through the
foot: a click beside the edge, not on another object."""
MIN_ELEVATION_DEG = 1.0
MAX_ELEVATION_DEG = 89.0


@dataclass(frozen=True)
class ShadowPick:
    """Pixels (x right, y down, in the plate frame as it is on disk) of one frame."""

    frame: int
    foot: tuple[float, float]
    top: tuple[float, float]
    tip: tuple[float, float]

    def text(self) -> str:
        return f"{self.frame}:" + ":".join(f"{x:g},{y:g}" for x, y in (self.foot, self.top, self.tip))


@dataclass(frozen=True)
class KeyFromShadow:
    direction: list[float]
    """Unit vector towards the light."""
    elevation_deg: float
    height_m: float
    """The occluder's height at the picked edge."""
    length_m: float
    """The shadow's length on the ground, foot to tip."""

    def note(self, pick: ShadowPick) -> str:
        return (f"key from the shadow picked in frame {pick.frame}: elevation {self.elevation_deg:.0f} deg, "
                f"a {self.height_m:.2f} m edge casting {self.length_m:.2f} m")


def parse_pick(text: str) -> ShadowPick:
    """``FRAME:FOOTX,FOOTY:TOPX,TOPY:TIPX,TIPY`` -> ShadowPick, or one InputError saying what to write."""
    parts = [p.strip() for p in str(text).split(":")]
    bad = InputError(f"{OPTION} {text!r}: write {FORMAT}, e.g. 12:640,610:652,300:410,660 (a frame number, then the foot, "
                     "the top and the shadow's tip as x,y pixels of that frame)")
    if len(parts) != 4 or not re.fullmatch(r"\d+", parts[0]):
        raise bad
    pts = []
    for p in parts[1:]:
        xy = p.split(",")
        if len(xy) != 2:
            raise bad
        try:
            x, y = float(xy[0]), float(xy[1])
        except ValueError:
            raise bad from None
        if not (math.isfinite(x) and math.isfinite(y)) or x < 0 or y < 0:
            raise bad
        pts.append((x, y))
    return ShadowPick(int(parts[0]), pts[0], pts[1], pts[2])


def check_in_frame(pick: ShadowPick, width: int, height: int, frames: Sequence[int]) -> None:
    """The picked frame is one of the shot's and every pixel lies inside it."""
    if pick.frame not in set(frames):
        raise InputError(f"{OPTION} {pick.text()!r}: frame {pick.frame} is not one of the shot's frames "
                         f"({min(frames)}-{max(frames)}); pick the shadow in a frame the shot renders")
    for name, (x, y) in (("foot", pick.foot), ("top", pick.top), ("tip", pick.tip)):
        if x > width or y > height:
            raise InputError(f"{OPTION} {pick.text()!r}: the {name} ({x:g},{y:g}) is outside the {width}x{height} frame")


def measure_in_track(pick: ShadowPick, cameras: Mapping[int, Any], frames: Sequence[int], ground_point: Sequence[float],
                     ground_normal: Sequence[float], plate_size: Sequence[int], working_width: int,
                     lens: Distortion | None) -> KeyFromShadow:
    """``direction_from_pick`` with the pick's frame's camera out of a shot's track: the frame
    one of ``frames``, the pixels inside the plate (``plate_size``, as on disk), scaled to the
    cameras' ``working_width``. The set-up (--key-from-shadow) and the panel both measure so."""
    check_in_frame(pick, int(plate_size[0]), int(plate_size[1]), frames)
    cam = cameras.get(pick.frame)
    if cam is None:
        raise InputError(f"{OPTION} {pick.text()!r}: the camera track has no camera at frame {pick.frame}; "
                         "pick the shadow in a tracked frame")
    return direction_from_pick(cam, ground_point, ground_normal, pick, scale=working_width / plate_size[0], lens=lens)


def pixel_ray(cam: Any, pixel: tuple[float, float], scale: float, lens: Distortion | None) -> tuple[np.ndarray, np.ndarray]:
    """(origin, unit direction) of the world ray through a plate pixel (corner convention, times
    ``scale`` to the camera's pixels): the plate is seen through the lens, so its pixel names the
    undistorted direction (shotcache/lens.py)."""
    c2w = np.asarray(cam.c2w, np.float64)
    x, y = (pixel[0] * scale - cam.cx) / cam.fx, (pixel[1] * scale - cam.cy) / cam.fy
    if lens is not None and not lens.is_zero():
        ux, uy = undistort(np.array([x]), np.array([y]), lens)
        x, y = float(ux[0]), float(uy[0])
    d = c2w[:3, :3] @ np.array([x, y, 1.0])
    return c2w[:3, 3], d / np.linalg.norm(d)


def _on_ground(cam: Any, pixel: tuple[float, float], scale: float, lens: Distortion | None, p0: np.ndarray, n: np.ndarray, name: str,
               pick: ShadowPick) -> np.ndarray:
    o, d = pixel_ray(cam, pixel, scale, lens)
    denom = float(d @ n)
    t = float((p0 - o) @ n) / denom if abs(denom) > 1e-9 else -1.0
    if t <= 0:
        raise InputError(f"{OPTION} {pick.text()!r}: the {name} ({pixel[0]:g},{pixel[1]:g}) is not on the ground: its ray "
                         "never meets the shot's ground plane (above the horizon); pick a point where the ground is")
    return o + t * d


def direction_from_pick(cam: Any, ground_point: Sequence[float], ground_normal: Sequence[float], pick: ShadowPick,
                        scale: float = 1.0, lens: Distortion | None = None) -> KeyFromShadow:
    """The key's direction from the pick, with ``cam`` the frame's solved camera (fx, fy, cx, cy,
    c2w in OpenCV axes), ``scale`` the camera's pixels per plate pixel and ``lens`` the plate's
    distortion. InputError when the pixels cannot be a vertical edge and its shadow on this
    ground."""
    n = np.asarray(ground_normal, np.float64)
    n /= np.linalg.norm(n)
    p0 = np.asarray(ground_point, np.float64)
    foot = _on_ground(cam, pick.foot, scale, lens, p0, n, "foot", pick)
    tip = _on_ground(cam, pick.tip, scale, lens, p0, n, "shadow's tip", pick)
    o, d = pixel_ray(cam, pick.top, scale, lens)
    # closest points of the vertical foot + h n and the top's ray o + t d
    w = foot - o
    b = float(n @ d)
    den = 1.0 - b * b
    if den < 1e-6:
        raise InputError(f"{OPTION} {pick.text()!r}: the top's ray runs along the vertical (a camera looking straight "
                         "down); pick the shadow in a frame that sees the edge from the side")
    h = (b * float(w @ d) - float(w @ n)) / den
    t = (float(w @ d) - b * float(w @ n)) / den
    top = foot + h * n
    off = float(np.linalg.norm(top - (o + t * d)))
    if h < MIN_HEIGHT_M:
        raise InputError(f"{OPTION} {pick.text()!r}: the top ({pick.top[0]:g},{pick.top[1]:g}) is not above the foot "
                         f"(height {h:.2f} m); give the foot where the edge meets the ground, then its top")
    if off > MAX_OFF_VERTICAL * h:
        raise InputError(f"{OPTION} {pick.text()!r}: the top is {off:.2f} m beside the vertical through the foot (a "
                         f"{h:.2f} m edge); pick the top of the same vertical edge")
    v = top - tip
    length = float(np.linalg.norm(tip - foot))
    direction = v / np.linalg.norm(v)
    elevation = math.degrees(math.asin(float(np.clip(direction @ n, -1.0, 1.0))))
    if not MIN_ELEVATION_DEG <= elevation <= MAX_ELEVATION_DEG:
        raise InputError(f"{OPTION} {pick.text()!r}: the shadow's tip is {length:.2f} m from the foot of a {h:.2f} m edge "
                         f"(elevation {elevation:.1f} deg); pick the tip of that edge's shadow")
    return KeyFromShadow(direction.tolist(), elevation, h, length)
