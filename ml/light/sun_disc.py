"""Whether a clipped patch of sky the frames saw is the sun: a small disc inside its own glare.

``EnvAccumulator.sun_in_view`` finds a compact clipped blob above the horizon on the 2.8-degree
environment map; a white tent roof, a bright cloud or a room's sunlit curtain clips there as
well (park-market-sun: a 9-degree "sun" of tent roofs; eval insert interior seed 24: a clipped
wall at 6 degrees). The sun differs in the frames themselves, at their own resolution:

* it is small: its disc is half a degree, and with the lens's bloom it clips over at most
  MAX_RADIUS_DEG; a roof or a wall clips over many degrees;
* it sits in its own glare: the sky round it (the aureole) and the lens's flare keep the
  ring GLARE_RING radii out from the clipped core near clipping (GLARE_MIN of it); round a
  clipped roof or wall lie the darker things beside it.

Each frame that shows the candidate direction is read; the sun needs most of them to agree.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ml.camera.point_occlusion import project
from ml.io.colour import luminance

from .elevation import View

CLIP = 0.98
"""Linear level every channel reaches where the plate is clipped (as sun_in_view)."""
MAX_RADIUS_DEG = 3.0
"""Largest angular radius of a clipped sun with its bloom (the disc is 0.27 degrees)."""
GLARE_RING = (1.5, 3.0)
"""The ring round the clipped core that its glare fills: these multiples of its radius."""
GLARE_MIN = 0.75
"""Median luminance of that ring, over the clip level, for glare (beach-sunset: 0.92; tent
roofs 0.32-0.44, a sunlit curtain 0.56-0.67)."""
SEARCH_PX = 6
"""How far from the projected direction the clipped core may lie (the map's 2.8 degrees)."""


def _reading(img: np.ndarray, u: float, v: float, fx: float) -> tuple[float, float] | None:
    """(angular radius of the clipped core at (u, v) in degrees, its glare ring's median over
    the clip level), or None when nothing clipped lies there."""
    clip = img.min(axis=-1) >= CLIP
    n, lab, stats, centres = cv2.connectedComponentsWithStats(clip.astype(np.uint8), connectivity=8)
    h, w = clip.shape
    x0, x1 = max(0, int(u) - SEARCH_PX), min(w, int(u) + SEARCH_PX + 1)
    y0, y1 = max(0, int(v) - SEARCH_PX), min(h, int(v) + SEARCH_PX + 1)
    ids = np.unique(lab[y0:y1, x0:x1])
    ids = ids[ids > 0]
    if len(ids) == 0:
        return None
    i = int(ids[np.argmax(stats[ids, cv2.CC_STAT_AREA])])
    r = max(math.sqrt(stats[i, cv2.CC_STAT_AREA] / math.pi), 1.0)
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(xx - centres[i][0], yy - centres[i][1])
    ring = (d >= GLARE_RING[0] * r) & (d < GLARE_RING[1] * r) & ~clip
    if ring.sum() < 8:
        return None
    return math.degrees(math.atan2(r, fx)), float(np.median(luminance(img[ring]))) / CLIP


def not_the_sun(views: list[View], direction: np.ndarray) -> str:
    """Why the clipped patch of sky towards ``direction`` is not the sun ("" when it is): too
    wide, or without glare, in most of the frames that show it; "" too when no frame shows a
    clipped core there to read (the map's own evidence stands)."""
    d = np.asarray(direction, np.float64) / np.linalg.norm(direction)
    readings = []
    for img, cam, scale in views:
        far = np.asarray(cam.c2w, np.float64)[:3, 3] + d * 1e4
        uv, z = project(cam, far[None])
        u, v = uv[0, 0] * scale - 0.5, uv[0, 1] * scale - 0.5
        h, w = img.shape[:2]
        if z[0] <= 0 or not (-SEARCH_PX <= u < w + SEARCH_PX and -SEARCH_PX <= v < h + SEARCH_PX):
            continue
        got = _reading(img, float(np.clip(u, 0, w - 1)), float(np.clip(v, 0, h - 1)), cam.fx * scale)
        if got is not None:
            readings.append(got)
    if not readings:
        return ""
    radius = float(np.median([r for r, _ in readings]))
    glare = float(np.median([g for _, g in readings]))
    if radius > MAX_RADIUS_DEG:
        return f"a clipped patch of sky {radius:.1f} deg in radius in the frames is too wide for the sun"
    if glare < GLARE_MIN:
        return f"a clipped patch of sky without the sun's glare round it ({glare:.2f} of clipping) is not the sun"
    return ""
