"""Which side a soft light comes from: its shadows have no edges, but they still start at their occluders.

A large source (a hazy sun, a window across a room, a softbox) casts shadows too wide to have
the edges ``key.py`` reads a sun's direction off: it calls the light soft and places no key. But
a soft light still has a side. An apple on a counter lit from a window behind it throws a soft
shadow towards the camera; a duck rendered beside it with environment light only throws none and
reads as pasted on (real clip apple-countertop, stop 79).

The soft shadows are the ground darker than the ground's own trend (``trend_residual``: the
plane of best fit of its log luminance, which a window's pool falling off across a room or the
light's falloff does not lean). ``darkest_side`` reads the side off them where they start: round
each occluder's base, the side the ground is darkest on lies away from the light (a large
source's shadow is too wide to be elongated; the occluder's own hiding of the sky darkens every
side alike). Where no base has a side that much darker, ``key._direction`` reads the soft
shadows as it reads a sun's, their orientation sided by the occluders they start at, and keeps
it only where the ground beside a base is darker on that side (``darkest_beside_base``).

On hazy seeds 441-471 and 496-507, with the soft reading run on every soft reading of the day
(``shot.read_light``), 31 of 43 got a soft key, 23 of them within 30 degrees of the sun and 3
reversed; the shadows' orientation alone, on wide edges only, had given 22, 18 and 2. Read
first, the orientation fired as often but reversed 5 (hazy 450, 498).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Iterator

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
RING_CLEAR_M = 0.1
"""Ground this near anything standing is left out of the rings round the bases: the occluders'
silhouettes, rectified onto the ground, bleed into the cells beside them, darker than the
ground (hazy 462: three bases read their darkest side behind their smears, the key 160
degrees off; 3 cm out it was, 10 cm out 9 degrees)."""
SECTORS = 12
"""How many ways round an occluder's base ``darkest_side`` compares the ground's darkening."""
SECTOR_RING_M = (0.05, 0.6)
"""The ring round a base (metres) whose sectors ``darkest_side`` compares: the soft shadow's
darkest part, by its occluder's foot."""
SECTOR_MIN_CELLS = 8
SECTOR_MIN_SEEN = 4
"""Sectors seen (SECTOR_MIN_CELLS ground cells each) enough to compare a base's sides."""
SECTOR_MIN_DEPTH_LOG = 0.1
"""How far under the median of its base's sectors (log luminance) the darkest must lie to give
the light's side: under it, a concrete's mottling."""
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


def _base_rings(grid: GroundGrid, c: GroundClasses, ring_m: tuple[float, float], clear_m: float = 0.0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each occluder's base (``key._base_bands``): the ground cells seen round it, ``ring_m``
    (metres) from it and ``clear_m`` (at least a cell) off anything standing, as (rows, cols),
    and their angles round the base's centre (grid: col = e1, row = -e2)."""
    k = 2 * max(round(clear_m / grid.metres_per_px), 1) + 1
    near = cv2.dilate(c.objects.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    for band in _base_bands(grid, c.objects):
        rows, cols = np.nonzero(band)
        dist = cv2.distanceTransform((~band).astype(np.uint8), cv2.DIST_L2, 5) * grid.metres_per_px
        yy, xx = np.nonzero(c.ground & ~near & (dist > ring_m[0]) & (dist < ring_m[1]))
        yield np.stack([yy, xx]), np.arctan2(yy - rows.mean(), xx - cols.mean())


def _grid_angle(v: np.ndarray, grid: GroundGrid) -> float:
    """A world vector's angle on the grid (``GroundGrid.along_grid``)."""
    g = grid.along_grid(v)
    return math.atan2(g[1], g[0])


def darkest_beside_base(grid: GroundGrid, c: GroundClasses, resid: np.ndarray, towards: np.ndarray) -> float | None:
    """The most negative mean of ``resid`` over the ground beside an occluder's base on the side
    away from ``towards`` (world, towards the light): within BESIDE_BASE_SECTOR_DEG of that way
    and BESIDE_BASE_M from the base; None where no base has enough ground seen there."""
    shadow_angle = _grid_angle(-np.asarray(towards, np.float64), grid)
    darkest = None
    for (yy, xx), ang in _base_rings(grid, c, BESIDE_BASE_M):
        inside = np.abs((ang - shadow_angle + math.pi) % (2 * math.pi) - math.pi) < math.radians(BESIDE_BASE_SECTOR_DEG)
        if inside.sum() < 10:
            continue
        mean = float(np.mean(resid[yy[inside], xx[inside]]))
        darkest = mean if darkest is None else min(darkest, mean)
    return darkest


def _darkest_sector(ang: np.ndarray, values: np.ndarray) -> tuple[float, float] | None:
    """(depth, angle): the SECTORS-way sector round a base whose ``values`` (the trend residual)
    are lowest, its angle refined between its neighbours (a parabola through the three), and
    how far under the sectors' median it lies; None where under SECTOR_MIN_SEEN sectors hold
    SECTOR_MIN_CELLS cells each (the ground round it mostly unseen)."""
    sector = ((ang + math.pi) / (2 * math.pi) * SECTORS).astype(int) % SECTORS
    means = np.full(SECTORS, np.nan)
    for k in range(SECTORS):
        if (sector == k).sum() >= SECTOR_MIN_CELLS:
            means[k] = float(values[sector == k].mean())
    if np.isfinite(means).sum() < SECTOR_MIN_SEEN:
        return None
    k = int(np.nanargmin(means))
    left, right = means[(k - 1) % SECTORS], means[(k + 1) % SECTORS]
    curve = left + right - 2 * means[k]
    shift = 0.5 * (left - right) / curve if np.isfinite(curve) and curve > 1e-9 else 0.0
    return float(np.nanmedian(means) - means[k]), -math.pi + (k + 0.5 + shift) * 2 * math.pi / SECTORS


def darkest_side(grid: GroundGrid, c: GroundClasses, resid: np.ndarray) -> tuple[np.ndarray, int] | None:
    """The way towards the light (world, horizontal) from the sides of the occluders' bases the
    ground round them is darkest on (``_darkest_sector``, each weighted by its depth), and how
    many bases read it; None where no base's darkest side is SECTOR_MIN_DEPTH_LOG under the rest.
    A large source's shadow, too soft to have edges or to be elongated, still darkens the ground
    beside its occluder's foot on the side away from the light more than on any other; the
    occluder's own hiding of the sky darkens it on every side alike."""
    total, bases, deepest = np.zeros(2), 0, 0.0
    for (yy, xx), ang in _base_rings(grid, c, SECTOR_RING_M, RING_CLEAR_M):
        read = _darkest_sector(ang, resid[yy, xx])
        if read is None:
            continue
        depth, angle = read
        total += depth * np.array([math.cos(angle), math.sin(angle)])
        bases, deepest = bases + 1, max(deepest, depth)
    if deepest < SECTOR_MIN_DEPTH_LOG or not total.any():
        return None
    shadow = grid.along_world(total)
    return -shadow / np.linalg.norm(shadow), bases


def soft_side(grid: GroundGrid, key: KeyEstimate) -> SoftSide | None:
    """The side of the soft light ``key`` read (its classes): from the side its occluders' bases
    are darkest on (``darkest_side``), else, where its shadows' edges were wide, from its soft
    shadows' orientation and occluders (``shadows_side``, tuned on such readings; on hazy 502,
    whose shadows read none elongated, it placed a key 13 degrees off that lit the duck far
    brighter than the truth, 4.3 dB under the environment alone); None where neither gives one.
    ``key`` is left as it is."""
    if key.classes is None:
        return None
    resid = trend_residual(grid, key.classes)
    return bases_side(grid, key, resid) or (shadows_side(grid, key, resid) if key.wide_edges else None)


def bases_side(grid: GroundGrid, key: KeyEstimate, resid: np.ndarray) -> SoftSide | None:
    """The soft side from the side the ground round the occluders' bases is darkest on
    (``darkest_side``, ``resid`` the ground's trend residual)."""
    assert key.classes is not None
    side = darkest_side(grid, key.classes, resid)
    if side is None:
        return None
    return SoftSide(at_elevation(side[0], grid.n, SOFT_KEY_ELEVATION_DEG), side[1],
                    f"ground round {side[1]} occluder base(s) darkest away from it (under its trend)")


def shadows_side(grid: GroundGrid, key: KeyEstimate, resid: np.ndarray) -> SoftSide | None:
    """The soft side from the soft shadows' orientation, sided by the occluders they start at
    (``key._direction`` on ``soft_shadow_cells``), kept only where the ground beside a base is
    darker on that side (``darkest_beside_base``)."""
    assert key.classes is not None
    probe = copy.copy(key)
    if not _direction(grid, probe, soft_shadow_cells(grid, key.classes, resid), key.classes.objects, min_bases=SOFT_MIN_BASES) or probe.side_source != "occluder":
        return None
    beside = darkest_beside_base(grid, key.classes, resid, np.asarray(probe.direction, np.float64))
    if beside is None or beside > -BESIDE_BASE_LOG:
        return None
    return SoftSide(at_elevation(np.asarray(probe.direction, np.float64), grid.n, SOFT_KEY_ELEVATION_DEG), probe.side_bases,
                    f"soft shadows darker than the ground's trend: {probe.elongated} elongated, sided by {probe.side_bases} occluder base(s)")
