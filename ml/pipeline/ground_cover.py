"""Ground cover: the grass (gravel, leaves, snow) that hides the base of a product standing in it.

A product put down on a lawn does not rest on the blades' tips: its base is among them, and the
blades in front hide its lowest centimetres behind a ragged edge. A solve of grass puts the
ground plane at about the blades' tips (its points are on them), so a product stood on that
plane reads as sitting on top of the grass (paragliding-hill, dog-lawn: docs/NUMBERS.md).

The cover is a holdout made from the render's own position pass, applied where the artist's
holdout mattes are (ml/pipeline/frames.py), so every compositor respects it:

* a point of the product less than the cover's height above the ground plane is hidden (the
  plate - the grass - shows there);
* that height varies from blade to blade by a noise fixed on the ground plane, so the edge is
  ragged and keeps its shape as the camera moves (it does not boil from frame to frame);
* above the edge the product darkens towards the cover: the blades take the sky's light from
  its base.

The height is the artist's (``vanelia run --ground-cover``, shot.json ``ground.cover_m``): the
grass's height cannot be read off a solve whose points lie on the blades. A first version let
the plate's brighter pixels in front of the product's lowest band as blades; at 480-720 px
the blades are a few soft pixels wide and it read as dirt on the product (stop 37, dropped).
"""
from __future__ import annotations

import cv2
import numpy as np

BLADE_M = 0.015
"""Spacing of the cover's blades on the ground (a lawn's blades and tufts, 1-2 cm apart)."""
RAGGED = 0.6
"""Share of the cover's height its edge varies by: the blades stand between (1 - RAGGED) and
all of the cover's height (a lawn is never cut level)."""
SHADE = 0.45
"""Darkening of the product just above the cover: the blades round its base take most of the
sky's light from there (an object in grass is darkest where it meets the grass)."""
SHADE_FALLOFF = 0.5
"""Height (a share of the cover's) over which that darkening fades out above the edge."""
EDGE_PX = 0.6
"""Softness of the edge (pixels, Gaussian): the cover's blades are anti-aliased as the render is."""


def _hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """A fixed pseudo-random value in [0, 1) per integer lattice point (no state, so the same
    point gets the same value in every frame and every process)."""
    h = (ix.astype(np.int64) * 73856093) ^ (iy.astype(np.int64) * 19349663) ^ (seed * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / 65536.0


def _value_noise(u: np.ndarray, v: np.ndarray, seed: int) -> np.ndarray:
    """Smooth noise in [0, 1) over the plane, one lattice cell per unit (bilinear between the
    lattice's values with a smoothstep)."""
    iu, iv = np.floor(u), np.floor(v)
    fu, fv = u - iu, v - iv
    fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    a, b = _hash01(iu, iv, seed), _hash01(iu + 1, iv, seed)
    c, d = _hash01(iu, iv + 1, seed), _hash01(iu + 1, iv + 1, seed)
    return (a + (b - a) * fu) * (1 - fv) + (c + (d - c) * fu) * fv


def blade_heights(points: np.ndarray, ground_point: np.ndarray, normal: np.ndarray, cover_m: float) -> np.ndarray:
    """The cover's height (metres) at the ground under each point (N x 3): between (1 - RAGGED)
    and all of ``cover_m``, blade to blade (BLADE_M), in tufts twice that size."""
    n = normal / max(float(np.linalg.norm(normal)), 1e-9)
    e1 = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    rel = points - ground_point
    u, v = (rel @ e1) / BLADE_M, (rel @ e2) / BLADE_M
    blades = 0.65 * _value_noise(u, v, 1) + 0.35 * _value_noise(0.5 * u, 0.5 * v, 2)
    return cover_m * (1.0 - RAGGED + RAGGED * blades)


def apply_cover(rgba: np.ndarray, position: np.ndarray, ground_point: list[float], ground_normal: list[float], cover_m: float) -> np.ndarray:
    """The product (straight-alpha RGBA) with its base hidden by a ground cover of ``cover_m``
    metres (see the module's docstring); ``position`` the world-space position pass. Returns a
    new array; the input is returned as is when there is no cover."""
    if cover_m <= 0:
        return rgba
    on = rgba[..., 3] > 0
    if not on.any():
        return rgba
    n = np.asarray(ground_normal, np.float64)
    n /= max(float(np.linalg.norm(n)), 1e-9)
    g = np.asarray(ground_point, np.float64)
    pts = position[..., :3].reshape(-1, 3)[on.reshape(-1)].astype(np.float64)
    height = (pts - g) @ n
    edge = blade_heights(pts, g, n, cover_m)
    shown = np.zeros(on.shape, np.float32)
    shown[on] = (height > edge).astype(np.float32)
    # softened within the product only (normalised): the empty frame round it is neither grass nor product
    weight = cv2.GaussianBlur(on.astype(np.float32), (0, 0), EDGE_PX)
    keep = np.where(on, cv2.GaussianBlur(shown, (0, 0), EDGE_PX) / np.maximum(weight, 1e-6), 1.0)
    above = np.zeros(on.shape, np.float32)
    above[on] = np.clip((height - edge) / (SHADE_FALLOFF * cover_m), 0.0, None)
    out = rgba.astype(np.float32).copy()
    out[..., :3] *= np.where(on, 1.0 - SHADE * np.exp(-3.0 * above), 1.0)[..., None]
    out[..., 3] *= np.where(on, keep, 1.0)
    return out
