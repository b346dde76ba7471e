"""Which side a soft light comes from: its shadows have no edges, but they still start at their occluders.

A large source (a hazy sun, a window across a room, a softbox) casts shadows too wide to have
the edges ``key.py`` reads a sun's direction off: it calls the light soft and places no key. But
a soft light still has a side. An apple on a counter lit from a window behind it throws a soft
shadow towards the camera; a duck rendered beside it with environment light only throws none and
reads as pasted on (real clip apple-countertop, stop 79).

Here the soft shadows are the ground darker than the ground's own trend (``soft_shadow_cells``:
the plane of best fit of its log luminance, which a window's pool falling off across a room or
the light's falloff does not lean), and ``key._direction`` reads them as it reads a sun's:
their orientation, and the occluders they start at for the side. Only a side an occluder gives
is kept (``soft_side``): directions whose side was assumed were 177, 42 and 179 degrees off on
hazy seeds 443, 445 and 452.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import cv2
import numpy as np

from .key import LUMA, GroundClasses, GroundGrid, KeyEstimate, _base_bands, _direction, at_elevation

SOFT_SHADOW_LOG = 0.12
"""Ground this much darker (log luminance, about 11 %) than the ground's trend reads as soft
shadow: under it a concrete's own mottling."""
TREND_CLEAR_M = 0.45
"""The trend is fitted on ground at least this far from anything standing on it: nearer, the
soft shadows and the occluders' own occlusion of the sky darken it."""
SOFT_KEY_ELEVATION_DEG = 45.0
"""The elevation a soft light's key is placed at: its side is read, its height is not (soft
shadows have no end to measure). Half way between the horizon and the zenith splits the error
either way, and a large source reaches well above its centre. On the tuning hazy sets (seeds
441-449, truth 35-46 degrees) the key at 30 degrees (key.DEFAULT_ELEVATION_DEG, a sun's)
lit the duck's faces towards it too strongly: +8.0 / +7.5 dB over the paste (classical), at 45
+9.6 / +9.6, against +6.1 / +6.3 with no key."""
SOFT_MIN_BASES = 1
"""Occluder bases enough for soft shadows none of which is elongated (``key._direction``'s
``min_bases``; a sun's short shadows need key.MIN_BASES_ALONE, 2). A large source's shadow
widens as fast as it lengthens, so one box's soft shadow is seldom elongated, and it is already
told from the ground by its darkness against the trend, not by edges. Hazy seed 459: one box,
its shadow 9 degrees from the truth's sun, read only so."""
BESIDE_BASE_LOG = 0.1
"""How much darker than the ground's trend (log luminance, mean) the ground beside at least one
occluder's base must be on the side away from the light read (BESIDE_BASE_SECTOR_DEG either way,
BESIDE_BASE_M out): a soft shadow starts at its occluder, darkest there. Where no base has it,
the dark patch that sided the light is not a shadow of the base it touches: the ground in front
of a pillar darkened by the pillar's own hiding of a bright sky (hazy 470: 0.07, its key 173
degrees off; 471: 0.02, 157 off). The right readings' ground there was 0.16-0.59 darker, but
hazy 448 and 461 (0.06 and 0.07, 3 and 6 degrees off), dropped with them."""
BESIDE_BASE_SECTOR_DEG = 35.0
BESIDE_BASE_M = (0.05, 0.5)
SMOOTH_CELLS = 1.5
"""Gaussian sigma (grid cells) of the darkening before the threshold: a soft shadow is wide, the
ground's grain is not."""


@dataclass
class SoftSide:
    """The soft light's side: ``direction`` (towards it, unit, world, SOFT_KEY_ELEVATION_DEG up)
    and what read it (``bases``: the occluders whose shadows side it; ``why``)."""

    direction: np.ndarray
    bases: int
    why: str


def ground_trend(c: GroundClasses, keep: np.ndarray) -> np.ndarray:
    """The ground's log luminance less its plane of best fit over ``keep``."""
    log_lum = np.log(np.maximum(c.med @ LUMA, 1e-4))
    rows, cols = np.nonzero(keep)
    if len(rows) < 3:
        return log_lum - (float(np.median(log_lum[c.ground])) if c.ground.any() else 0.0)
    a = np.stack([np.ones(len(rows)), cols, rows], 1).astype(np.float64)
    coef = np.linalg.lstsq(a, log_lum[rows, cols], rcond=None)[0]
    yy, xx = np.mgrid[0 : log_lum.shape[0], 0 : log_lum.shape[1]]
    return log_lum - (coef[0] + coef[1] * xx + coef[2] * yy)


def trend_residual(grid: GroundGrid, c: GroundClasses) -> np.ndarray:
    """The ground's log luminance less its trend (``ground_trend``, fitted on ground at least
    TREND_CLEAR_M from anything standing on it); 0 off the ground."""
    near = cv2.dilate(c.objects.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    clear = cv2.distanceTransform((~c.objects).astype(np.uint8), cv2.DIST_L2, 5) * grid.metres_per_px > TREND_CLEAR_M
    return np.where(c.ground, ground_trend(c, c.ground & c.steady & ~near & clear), 0.0).astype(np.float32)


def soft_shadow_cells(grid: GroundGrid, c: GroundClasses, resid: np.ndarray | None = None) -> np.ndarray:
    """Ground darker than its trend (``trend_residual``, or ``resid``) by SOFT_SHADOW_LOG once
    smoothed: the soft shadows, whatever their edges."""
    resid = trend_residual(grid, c) if resid is None else resid
    weight = cv2.GaussianBlur(c.ground.astype(np.float32), (0, 0), SMOOTH_CELLS)
    smooth = cv2.GaussianBlur(resid, (0, 0), SMOOTH_CELLS) / np.maximum(weight, 1e-3)
    return c.ground & (smooth < -SOFT_SHADOW_LOG)


def darkest_beside_base(grid: GroundGrid, c: GroundClasses, resid: np.ndarray, towards: np.ndarray) -> float | None:
    """The most negative mean of ``resid`` over the ground beside an occluder's base on the side
    away from ``towards`` (world, towards the light): within BESIDE_BASE_SECTOR_DEG of that way
    and BESIDE_BASE_M from the base; None where no base has enough ground seen there."""
    away = -np.asarray(towards, np.float64)
    shadow_angle = math.atan2(-float(away @ grid.e2), float(away @ grid.e1))  # grid: col = e1, row = -e2
    near = cv2.dilate(c.objects.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    darkest = None
    for band in _base_bands(grid, c.objects):
        rows, cols = np.nonzero(band)
        dist = cv2.distanceTransform((~band).astype(np.uint8), cv2.DIST_L2, 5) * grid.metres_per_px
        yy, xx = np.nonzero(c.ground & ~near & (dist > BESIDE_BASE_M[0]) & (dist < BESIDE_BASE_M[1]))
        off = np.abs((np.arctan2(yy - rows.mean(), xx - cols.mean()) - shadow_angle + math.pi) % (2 * math.pi) - math.pi)
        inside = off < math.radians(BESIDE_BASE_SECTOR_DEG)
        if inside.sum() < 10:
            continue
        mean = float(np.mean(resid[yy[inside], xx[inside]]))
        darkest = mean if darkest is None else min(darkest, mean)
    return darkest


def soft_side(grid: GroundGrid, key: KeyEstimate) -> SoftSide | None:
    """The side of the soft light ``key`` read (its classes), from its soft shadows' orientation
    and occluders (``key._direction`` on ``soft_shadow_cells``); None where no occluder sides
    them. ``key`` is left as it is."""
    if key.classes is None:
        return None
    probe = copy.copy(key)
    resid = trend_residual(grid, key.classes)
    if not _direction(grid, probe, soft_shadow_cells(grid, key.classes, resid), key.classes.objects, min_bases=SOFT_MIN_BASES) or probe.side_source != "occluder":
        return None
    beside = darkest_beside_base(grid, key.classes, resid, np.asarray(probe.direction, np.float64))
    if beside is None or beside > -BESIDE_BASE_LOG:
        return None
    return SoftSide(at_elevation(np.asarray(probe.direction, np.float64), grid.n, SOFT_KEY_ELEVATION_DEG), probe.side_bases,
                    f"soft shadows darker than the ground's trend: {probe.elongated} elongated, sided by {probe.side_bases} occluder base(s)")
