"""The part of a frame a product render needs: the product, the shadows it casts, a margin.

Why: the shadow catcher spans the ground, so Cycles path-traces every pixel of the frame,
although the product and its shadows cover a small part of it (a 25 cm product seen from 2 m
at 720p: about a tenth). A border render traces only the rectangle round them; the passes
outside it come out zero, and ``ml/io/exr.read_passes`` reads a depth of 0 (no surface is at
the camera) as "not rendered": no product, no shadow.

What the rectangle holds on each frame (the camera moves, the product stands still):

* the product's bounding box;
* the shadow each light throws from it onto the ground: a sun's along its direction, a
  lamp's away from its position; and the shadow of every direction of the environment map
  that carries SHADOW_SHARE of its light or more (a window, a bright patch of sky), as a sun's;
* the soft shadow of the rest of the environment: SOFT_REACH product sizes round its foot;
* the same at the shutter's open and close when the camera's motion blur is on (the caller
  projects at those instants);
* MARGIN of the frame round all that.

The whole frame (None) when a shadow has no end (a sun under MIN_ELEVATION_DEG, a lamp no
higher than the product), when a point of it is behind the camera, or when the rectangle would
be most of the frame anyway (MAX_SHARE): a border saves nothing there.

Pure numpy: the Blender side (addon/render.py) projects the points through its camera; tests
run it without Blender.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .ground import plane_axes
from .latlong import directions, solid_angles

SOFT_REACH = 1.75
"""Radius, in product sizes, round the product's foot beyond which its environment shadow
darkens the ground by under 0.5 %. Measured on the real dog-lawn clip (a 25 cm duck under the
plate's soft light, 720p, full-frame Cycles render): the catcher pass, smoothed, reaches 0.995
about 1.1 product widths beyond the product's edge, 0.99 at 0.6."""
SHADOW_SHARE = 0.02
"""Share of the environment's light (over the ground's upper hemisphere, cosine-weighted) from
one bin of ENV_BINS above which that direction casts a shadow of its own (a uniform sky: each
bin about 1 %; a window: tens of %)."""
ENV_BINS = (32, 16)
MIN_ELEVATION_DEG = 6.0
"""A source lower than this throws shadows longer than ten times the product's height: the
whole frame is rendered."""
MAX_SHARE = 0.7
"""A rectangle over this share of the frame is rendered as the whole frame."""
MARGIN = 0.03
"""Added round the rectangle on every side (fraction of the frame's width and height): the
projection of a bounding box, a penumbra, a pixel filter."""


def _unit(v: ArrayLike) -> np.ndarray:
    a = np.asarray(v, np.float64)
    return a / max(float(np.linalg.norm(a)), 1e-12)


def box_corners(lo: ArrayLike, hi: ArrayLike) -> np.ndarray:
    """The 8 corners (8 x 3) of an axis-aligned box."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    return np.array([[(lo, hi)[i][0], (lo, hi)[j][1], (lo, hi)[k][2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])


def env_casters(env: np.ndarray, normal: ArrayLike = (0.0, 0.0, 1.0), share: float = SHADOW_SHARE,
                bins: tuple[int, int] = ENV_BINS) -> list[np.ndarray]:
    """Directions (towards the light) of the environment's bins that carry ``share`` or more of
    the light the ground under the product gets from it: the ones whose shadow reaches
    further than the soft reach. ``env``: lat-long H x W x 3 (or 4), linear, Blender's layout."""
    img = np.asarray(env, np.float64)[..., :3].sum(axis=-1)
    bw, bh = bins
    h, w = img.shape
    rows = np.array_split(np.arange(h), bh)
    cols = np.array_split(np.arange(w), bw)
    small = np.array([[img[np.ix_(r, c)].mean() for c in cols] for r in rows])
    d = directions(bw, bh)
    cos = np.clip(d @ _unit(normal), 0.0, None)
    light = np.maximum(small, 0.0) * cos * solid_angles(bw, bh)
    total = float(light.sum())
    if total <= 0:
        return []
    return [d[r, c] for r, c in np.argwhere(light / total >= share)]


def shadow_points(corners: np.ndarray, ground_point: ArrayLike, normal: ArrayLike, suns: list[ArrayLike],
                  lamps: list[ArrayLike]) -> np.ndarray | None:
    """Where the shadows of the box ``corners`` (N x 3) end on the ground: each corner moved
    along each sun's direction (towards the light) down to the ground, and away from each
    lamp's position; the corners themselves included. None when a shadow has no end."""
    n = _unit(normal)
    g = np.asarray(ground_point, np.float64)
    c = np.asarray(corners, np.float64)
    height = np.clip((c - g) @ n, 0.0, None)
    out = [c]
    for sun in suns:
        s = _unit(sun)
        up = float(s @ n)
        if up < math.sin(math.radians(MIN_ELEVATION_DEG)):
            return None
        out.append(c - s[None] * (height / up)[:, None])
    for lamp in lamps:
        p = np.asarray(lamp, np.float64)
        above = float((p - g) @ n)
        top = float(height.max())
        if above <= top * 1.05 + 0.02:
            return None
        t = above / (above - height)  # along the ray from the lamp through the corner, down to the ground
        out.append(p + (c - p) * t[:, None])
    return np.concatenate(out)


def soft_points(corners: np.ndarray, ground_point: ArrayLike, normal: ArrayLike, reach: float = SOFT_REACH) -> np.ndarray:
    """Ground points SOFT_REACH product sizes round the feet of ``corners`` in 8 directions:
    the environment's soft shadow stays inside them."""
    n = _unit(normal)
    g = np.asarray(ground_point, np.float64)
    c = np.asarray(corners, np.float64)
    feet = c - ((c - g) @ n)[:, None] * n
    size = float(np.max(np.ptp(c, axis=0)))
    e1, e2 = plane_axes(n)
    ring = [math.cos(a) * e1 + math.sin(a) * e2 for a in np.linspace(0, 2 * math.pi, 8, endpoint=False)]
    return np.concatenate([feet + reach * size * r / math.cos(math.pi / 8) for r in ring])  # the octagon holds the circle


def screen_box(points_uvz: np.ndarray, margin: float = MARGIN, max_share: float = MAX_SHARE) -> tuple[float, float, float, float] | None:
    """(x_min, x_max, y_min, y_max), fractions of the frame (Blender's border: y up), round
    projected points (N x 3: x, y in frame fractions, z the depth in front of the camera);
    None (the whole frame) when a point is behind the camera or the box is most of the frame."""
    p = np.asarray(points_uvz, np.float64)
    if len(p) == 0 or not np.isfinite(p).all() or (p[:, 2] <= 0).any():
        return None
    x0, y0 = np.clip(p[:, :2].min(axis=0) - margin, 0.0, 1.0)
    x1, y1 = np.clip(p[:, :2].max(axis=0) + margin, 0.0, 1.0)
    if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) >= max_share:
        return None
    return float(x0), float(x1), float(y0), float(y1)


def union(boxes: list[tuple[float, float, float, float] | None]) -> tuple[float, float, float, float] | None:
    """The rectangle holding all ``boxes``; None when one of them is the whole frame."""
    if not boxes or any(b is None for b in boxes):
        return None
    a = np.array(boxes, np.float64)
    out = (float(a[:, 0].min()), float(a[:, 1].max()), float(a[:, 2].min()), float(a[:, 3].max()))
    return None if (out[1] - out[0]) * (out[3] - out[2]) >= MAX_SHARE else out
