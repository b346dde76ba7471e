"""Ground cover: the grass (gravel, leaves, snow) that hides the base of a product standing in it.

A product put down on a lawn does not rest on the blades' tips: its base is among them, and the
blades in front hide its lowest centimetres behind a ragged edge. A solve of grass puts the
ground plane at about the blades' tips (its points are on them), so a product stood on that
plane reads as sitting on top of the grass (paragliding-hill, dog-lawn: docs/NUMBERS.md).

The cover is a holdout made from the render's own position pass, applied where the artist's
holdout mattes are (ml/pipeline/frames.py), so every compositor respects it:

* a point of the product lower than the blades' tips over the ground plane is hidden (the plate
  - the grass - shows there), and it fades in over FADE of the cover above them (the tips are
  sparse);
* the tips' height varies from blade to blade by a noise fixed on the ground plane, so the edge
  is ragged and keeps its shape as the camera moves (it does not boil from frame to frame);
* above the edge the product darkens towards the cover: the blades take the sky's light from
  its base;
* the grass that now shows where the base was is in the product's shadow: the render saw the
  product there, not the ground, so the shadow catcher is filled in from the ground round it.

The render's shadow catcher stands on the grass, at the cover's floor (shotcache.schema
.cover_floor_m: the shortest blades' height, below which everything is hidden), not on the soil.

The height is the artist's (``vanelia run --ground-cover``, shot.json ``ground.cover_m``): the
grass's height cannot be read off a solve whose points lie on the blades. A first version let
the plate's brighter pixels in front of the product's lowest band as blades; at 480-720 px
the blades are a few soft pixels wide and it read as dirt on the product (stop 37, dropped).
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from shotcache.ground import plane_axes
from shotcache.schema import COVER_FLOOR

BLADE_M = 0.004
"""Width of a blade (or a strand of a tuft) on the ground: at 2-3 mm a pixel (a 30 cm product
a few metres off at 480-720 px) one or two pixels, so the edge reads as strands, not a bite."""
TUFT_M = 0.03
"""Size of the tufts the blades stand in: the level of the cover varies over a few centimetres."""
RAGGED = 1.0 - COVER_FLOOR
"""Share of the cover's height its edge varies by: the blades stand between COVER_FLOOR (where
the render's shadow catcher stands, shotcache/schema.py) and all of the cover's height (a lawn
is never cut level)."""
SHADE = 0.45
"""Darkening of the product just above the cover: the blades round its base take most of the
sky's light from there (an object in grass is darkest where it meets the grass)."""
SHADE_FALLOFF = 0.5
"""Height (a share of the cover's) over which that darkening fades out above the edge."""
FADE = 0.3
"""Height (a share of the cover's) over which the product fades in above each blade's tip: the
blades near their tips are sparse, and the product shows through them more and more (the meadow
truth set's duck is streaked with blades over its lowest centimetres, not cut into strands)."""
EDGE_PX = 0.6
"""Softness of the edge (pixels, Gaussian): the cover's blades are anti-aliased as the render is."""
UNDER_SHADE = 0.85
"""Largest shadow multiplier of the grass where it hides the base: the product takes part of
the sky from the blades in front of it even where its cast shadow does not fall."""
CONTACT_PX = 3
"""The catcher's ring this close round the silhouette is the contact shadow under the base's
rim, darker than the blades in front of it are: their light is read beyond it (their cast
shadow from the product, or none)."""


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
    and all of ``cover_m``; one height per blade (BLADE_M, no blending: a blade's tip is a
    step), its tuft's level (TUFT_M, smooth) under it."""
    e1, e2 = plane_axes(normal)
    rel = points - ground_point
    u, v = rel @ e1, rel @ e2
    blade = _hash01(np.floor(u / BLADE_M), np.floor(v / BLADE_M), 1)
    tuft = _value_noise(u / TUFT_M, v / TUFT_M, 2)
    return cover_m * (1.0 - RAGGED + RAGGED * (0.5 * blade + 0.5 * tuft))


SOLID_ALPHA = 0.98
"""Alpha from which a pixel's position is the product's own: at the silhouette's anti-aliased
edge the position pass holds zeros or a mix with the empty background (para38: half the edge
pixels read 0), which would put the edge on the ground and under the cover."""


def _solid_positions(position: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The position pass with each pixel of the product's edge (alpha under SOLID_ALPHA, or no
    position) given the position of the nearest solid pixel of the product."""
    solid = (alpha >= SOLID_ALPHA) & (np.abs(position).max(axis=-1) > 0)
    if solid.all() or not solid.any():
        return position
    _dist, labels = cv2.distanceTransformWithLabels((~solid).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(solid)  # label k (1-based) is the k-th solid pixel in row-major order
    nearest = labels - 1
    return position[ys[nearest], xs[nearest]]


class Covered(NamedTuple):
    rgba: np.ndarray
    """The product with its base hidden (straight alpha)."""
    hidden: np.ndarray
    """HxW: the alpha the cover took."""
    level: np.ndarray
    """HxW: height of the product's surface over the ground as a share of the cover's (0-1)."""


def _box(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    """The bounding box of ``mask`` grown by ``pad`` pixels, within the frame: the cover's work
    follows the product's size, not the frame's."""
    ys, xs = np.nonzero(mask)
    return (slice(max(int(ys.min()) - pad, 0), min(int(ys.max()) + pad + 1, mask.shape[0])),
            slice(max(int(xs.min()) - pad, 0), min(int(xs.max()) + pad + 1, mask.shape[1])))


def apply_cover(rgba: np.ndarray, position: np.ndarray, ground_point: list[float], ground_normal: list[float],
                cover_m: float) -> Covered:
    """The product (straight-alpha RGBA) with its base hidden by a ground cover of ``cover_m``
    metres (see the module's docstring); ``position`` the world-space position pass. With no
    cover the input comes back as is."""
    hidden = np.zeros(rgba.shape[:2], np.float32)
    level = np.ones(rgba.shape[:2], np.float32)
    if cover_m <= 0 or not (rgba[..., 3] > 0).any():
        return Covered(rgba, hidden, level)
    box = _box(rgba[..., 3] > 0, 3)
    crop = rgba[box].astype(np.float32)
    on = crop[..., 3] > 0
    n = np.asarray(ground_normal, np.float64)
    n /= max(float(np.linalg.norm(n)), 1e-9)
    g = np.asarray(ground_point, np.float64)
    pts = _solid_positions(position[box][..., :3], crop[..., 3])[on].astype(np.float64)
    height = (pts - g) @ n
    edge = blade_heights(pts, g, n, cover_m)
    shown = np.zeros(on.shape, np.float32)
    shown[on] = np.clip((height - edge) / (FADE * cover_m), 0.0, 1.0)
    # softened within the product only (normalised): the empty frame round it is neither grass nor product
    weight = cv2.GaussianBlur(on.astype(np.float32), (0, 0), EDGE_PX)
    keep = np.where(on, cv2.GaussianBlur(shown, (0, 0), EDGE_PX) / np.maximum(weight, 1e-6), 1.0)
    above = np.zeros(on.shape, np.float32)
    above[on] = np.clip((height - edge) / (SHADE_FALLOFF * cover_m), 0.0, None)
    out = rgba.astype(np.float32)  # a copy: the caller's render stays as it was
    covered = crop.copy()
    covered[..., :3] *= np.where(on, 1.0 - SHADE * np.exp(-3.0 * above), 1.0)[..., None]
    covered[..., 3] *= np.where(on, keep, 1.0)
    out[box] = covered
    hidden[box] = crop[..., 3] - covered[..., 3]
    level[box][on] = np.clip(height / cover_m, 0.0, 1.0)
    return Covered(out, hidden, level)


def _fill_from(img: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """``img`` (HxWxC) where ``seen`` is 0 filled from the seen pixels nearest round it: the
    narrowest of a few Gaussian averages (normalised by what they saw) that saw enough there,
    so a hole's rim takes its neighbours' values and its middle a wider mean (no overshoot:
    every fill is a weighted mean of seen values)."""
    out = img.copy()
    todo = seen < 0.5
    for sigma in (2.0, 5.0, 12.0, 30.0):
        w = cv2.GaussianBlur(seen, (0, 0), sigma)
        ok = todo & (w > 0.05)
        if ok.any():
            num = cv2.GaussianBlur(img * seen[..., None], (0, 0), sigma)
            out[ok] = num[ok] / w[ok][:, None]
            todo &= ~ok
        if not todo.any():
            break
    return out


def shade_under_cover(catcher: np.ndarray, alpha: np.ndarray, covered: Covered) -> np.ndarray:
    """The shadow catcher (HxWx3 multiplier) where the cover now shows the plate in place of the
    product's base (``alpha`` the render's alpha, before the cover).

    The render saw the product there, not the ground, so the catcher reads unshadowed inside a
    ring of contact shadow. The blades there are shaded as the ground just beyond that ring is
    (the product's cast shadow, or none: filled in over the silhouette) at their foot, and by
    UNDER_SHADE at the cover's top (the product takes part of the sky from them). The contact
    ring itself (CONTACT_PX) next to the hidden base lies at the ground, behind the blades: it
    is lightened to that same level, so no dark outline of the hidden base stays."""
    hidden = covered.hidden
    if float(hidden.max(initial=0.0)) <= 1e-3:
        return catcher
    box = _box(alpha > 1e-3, 3 * CONTACT_PX)
    kernel = np.ones((2 * CONTACT_PX + 1, 2 * CONTACT_PX + 1), np.uint8)
    seen = 1.0 - cv2.dilate((alpha[box] > 1e-3).astype(np.uint8), kernel).astype(np.float32)
    crop = np.ascontiguousarray(catcher[box], np.float32)
    # under the silhouette the render's catcher is no ground's (Cycles leaves values over 1 there,
    # bright specks once the base is gone): at most unshadowed, as the ground beyond
    crop = np.where((alpha[box] > 0)[..., None], np.minimum(crop, 1.0), crop)
    beyond = np.minimum(_fill_from(crop, seen), 1.0)
    level = covered.level[box][..., None]
    filled = np.clip(beyond * (1.0 - level) + UNDER_SHADE * level, 0.0, UNDER_SHADE)
    ring = cv2.dilate((hidden[box] > 0.05).astype(np.uint8), kernel).astype(np.float32)
    near = cv2.GaussianBlur(ring, (0, 0), 1.0)[..., None]
    ground = crop + (np.maximum(beyond, crop) - crop) * near  # the contact ring by the hidden base: only lighter
    # each pixel's plate: the ground the render saw (1 - alpha before) and the grass the cover shows (hidden)
    a0 = np.clip(alpha[box], 0.0, 1.0)[..., None]
    hid = np.clip(hidden[box], 0.0, 1.0)[..., None]
    seen_now = 1.0 - a0 + hid
    out_c = np.where(seen_now > 1e-3, (ground * (1.0 - a0) + filled * hid) / np.maximum(seen_now, 1e-3), ground)
    out = catcher.copy()
    out[box] = out_c
    return out
