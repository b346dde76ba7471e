"""The key's elevation from the plate: how tall an occluder stands over how far its shadow runs.

A sun of elevation e throws the shadow of an occluder of height H to H / tan(e) beyond it. The
azimuth comes from the shadows' orientation on the rectified ground (key.py); the height and
the length are read off the frames themselves through the solved cameras, so neither has to
fit on the 5 m ground grid:

* the occluder's height: the vertical line from its foot (the base key.py finds: the end of
  its rectified smear nearest the cameras) is sampled in every frame; the median colour along
  it stays the occluder's up to its top and then changes (sky, far ground, its lit top face).
  A line that leaves the frames before any such change gives a lower bound only;
* the shadow's length: the ground line from the same foot away from the light is sampled the
  same way. Each sample is shadow or lit ground by its colour (the level and chromaticity the
  plate's shadows and lit ground were measured at), or neither (another object, a stain); the
  ground objects hide from the cameras is not read. The shadow runs from where it starts to
  its last sample before lit ground; leaving the frames in shadow, or starting out of sight
  behind the occluder, makes its length a lower bound.

The elevation is the median over the occluders with both read exactly; bounds are not used
(``combine``). Evidence (eval insert, where the elevation was assumed 45 degrees and the
truth's low suns stand at 20-28): given the truth's elevation at the estimated azimuth, the
low-sun sets gained 2.7-5.7 dB (seeds 14 and 17). Daylight only (shot.py): under a lamp the
direction differs from occluder to product.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from ml.camera.point_occlusion import project
from ml.io.colour import REC709_LUMA as LUMA
from shotcache.schema import FrameCamera

View = tuple[np.ndarray, FrameCamera, float]
"""A frame (linear HxWx3, possibly reduced), its camera and the reduction (pixels per camera pixel)."""

HEIGHT_STEP_M = 0.02
MAX_HEIGHT_M = 2.5
SHADOW_STEP_M = 0.02
MAX_SHADOW_M = 6.0
MIN_SHADOW_M = 0.15
"""A read shadow shorter than this measures nothing: each of its ends is found to a sample or
two (2-4 cm), and a 6 cm dark rim at a 54 cm occluder's foot (a room's contact shadow, eval
insert interior seed 18) read as an 84-degree sun. A high sun's shadows are short: sun_high
seed 112's 62 cm box throws 21-27 cm (25 cm before, which left its 65 degrees unmeasured)."""
SHADOW_START_M = 1.2
"""The shadow must begin this close to the foot (past the occluder's own footprint)."""
TOP_STEP = math.log(1.3)
"""A top: the colour along the vertical line departs this far (log, any channel) from what the
line showed over the REFERENCE_M below, for TOP_RUN samples in a row."""
REFERENCE_M = 0.15
TOP_RUN = 3
MIN_HEIGHT_M = 0.3
"""A top found lower than this is not trusted: over the first REFERENCE_M the line has barely
shown the occluder, and on real footage (park-market-sun, bear-rocks) a textured or moving
object's colour departed there from nearly every foot (a "top" at 18 cm, the first height
tested)."""
LIT_RUN = 3
"""Lit samples in a row that end a shadow."""
LEVEL_TOLERANCE = 0.35
CHROMA_TOLERANCE = 0.12
"""A ground sample is shadow or lit ground only this near their measured colour (log luminance,
log chromaticity): as key.py's own test of the ground under the product."""
MIN_VIEW_SHARE = 1 / 3
"""Frames that must show a sample for its median to count."""
MIN_ELEVATION_DEG, MAX_ELEVATION_DEG = 5.0, 85.0


@dataclass
class Occluder:
    """What one occluder says: its height and its shadow's length (metres), each exact or a lower bound."""

    height: float
    height_exact: bool
    length: float
    length_exact: bool

    def elevation_deg(self) -> float:
        return math.degrees(math.atan2(self.height, max(self.length, 1e-3)))


def profile(views: list[View], points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N x 3 median colour over the frames that show each point, N counts of those frames)."""
    samples = np.full((len(views), len(points), 3), np.nan, np.float32)
    for i, (img, cam, scale) in enumerate(views):
        uv, z = project(cam, points)
        u, v = uv[:, 0] * scale - 0.5, uv[:, 1] * scale - 0.5
        h, w = img.shape[:2]
        ok = (z > 0.05) & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
        if ok.any():
            samples[i, ok] = cv2.remap(img.astype(np.float32), u[ok].astype(np.float32)[None], v[ok].astype(np.float32)[None], cv2.INTER_LINEAR)[0]
    count = np.isfinite(samples[..., 0]).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # points no frame shows
        return np.nanmedian(samples, axis=0), count


def _seen(count: np.ndarray, n_views: int) -> np.ndarray:
    return count >= max(2, math.ceil(MIN_VIEW_SHARE * n_views))


def occluder_height(views: list[View], foot: np.ndarray, up: np.ndarray) -> tuple[float, bool] | None:
    """(height, exact) of the occluder standing at ``foot``: where the colour up the vertical
    line first departs from the occluder's for good; (last height seen, False) when the line
    leaves the frames first; None when too little of it is seen or the top is under
    MIN_HEIGHT_M."""
    ts = np.arange(0.03, MAX_HEIGHT_M, HEIGHT_STEP_M)
    med, count = profile(views, foot[None] + ts[:, None] * up[None])
    seen = _seen(count, len(views))
    ref_n = int(round(REFERENCE_M / HEIGHT_STEP_M))
    if seen[: ref_n + TOP_RUN].sum() < ref_n:
        return None
    logc = np.log(np.maximum(med, 1e-4))
    last = ref_n
    for k in range(ref_n, len(ts) - TOP_RUN):
        if not seen[k]:
            break
        last = k
        below = logc[max(0, k - ref_n) : k][seen[max(0, k - ref_n) : k]]
        if len(below) < 3:
            continue
        ref = np.median(below, axis=0)
        run = logc[k : k + TOP_RUN]
        if seen[k : k + TOP_RUN].all() and (np.abs(run - ref).max(axis=1) > TOP_STEP).all():
            top = float(ts[k] - 0.5 * HEIGHT_STEP_M)  # halfway between its samples
            return (top, True) if top >= MIN_HEIGHT_M else None
    return float(ts[last]), False


def _like(rgb: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Samples of the reference's colour: its level within LEVEL_TOLERANCE and its chromaticity
    within CHROMA_TOLERANCE (log). The occluder itself, seen over the ground behind it, is
    mostly of another colour; a texture's darker and lighter spots are gaps, not the end of a
    shadow."""
    level = _log_dev(rgb, ref) @ LUMA
    return (np.abs(level) < LEVEL_TOLERANCE) & same_chroma(rgb, ref)


def same_chroma(rgb: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Samples (N x 3) of the reference's chromaticity, within CHROMA_TOLERANCE (log), at any
    level: a shadow on a darker band of the same neutral paving keeps its shade's hue."""
    dev = _log_dev(rgb, ref)
    return np.abs(dev - (dev @ LUMA)[:, None]).max(axis=1) < CHROMA_TOLERANCE


def _log_dev(rgb: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(rgb, 1e-4)) - np.log(np.maximum(np.asarray(ref, np.float64), 1e-4))


def _brighter(rgb: np.ndarray, shadow_rgb: np.ndarray) -> np.ndarray:
    """Samples clearly brighter than the shadow (beyond LEVEL_TOLERANCE): ground the key lights,
    of the lit ground's material or another (a lit band of darker paving). Counted as lit, they
    end a shadow where it ends; read as neither, a band beyond the tip put the shadow's end
    halfway across it (sun_high seed 112: a 27 cm shadow read 54 cm, a 65 degree sun 49)."""
    level = np.log(np.maximum(rgb, 1e-4)) @ LUMA - float(np.log(np.maximum(np.asarray(shadow_rgb, np.float64), 1e-4)) @ LUMA)
    return level >= LEVEL_TOLERANCE


@dataclass
class Standing:
    """An object standing on the ground: its foot (a world point inside its footprint, on the
    cameras' side) and which ground points are its own footprint and which any object hides
    (each a function of N x 3 points -> N bools)."""

    foot: np.ndarray
    own: Callable[[np.ndarray], np.ndarray]
    hidden: Callable[[np.ndarray], np.ndarray]


def shadow_length(views: list[View], standing: Standing, away: np.ndarray, shadow_rgb: np.ndarray, lit_rgb: np.ndarray) -> tuple[float, bool] | None:
    """(length, exact) of the shadow the object ``standing`` throws along ``away`` (a unit
    vector on the ground, away from the light), from where it starts to its last shadow sample
    before LIT_RUN lit ones; None when no shadow starts within SHADOW_START_M.

    Ground that objects hide from the cameras (their footprints and the ground behind them) is
    not read: the object seen over it can have a shadow's colour (its shaded side). So the
    length is a lower bound (not exact) when the line leaves the frames or goes behind an
    object while in shadow, and when the shadow's start is hidden behind the object itself
    (a shadow cast away from the cameras begins at the object's far side, which it hides);
    a start right after the object's own footprint, or after seen ground, is where it is."""
    us = np.arange(0.0, MAX_SHADOW_M, SHADOW_STEP_M)
    points = standing.foot[None] + us[:, None] * away[None]
    med, count = profile(views, points)
    hidden = standing.hidden(points)
    seen = _seen(count, len(views)) & ~hidden
    shadow = seen & _like(med, shadow_rgb)
    lit = seen & (_like(med, lit_rgb) | _brighter(med, shadow_rgb))
    start = np.nonzero(shadow[: int(SHADOW_START_M / SHADOW_STEP_M)])[0]
    if len(start) == 0 or lit[: start[0]].any():  # lit ground between the foot and the shadow: not its shadow
        return None
    s0 = int(start[0])
    before = hidden[:s0] & ~standing.own(points[:s0])
    exact_start = not before.any()  # nothing but its own footprint hidden before the start
    begin = float(us[s0] - 0.5 * SHADOW_STEP_M) if s0 else 0.0  # edges halfway between their samples
    tip, lit_run = s0, 0
    for k in range(s0, len(us)):
        if not seen[k]:
            return float(us[tip]) - begin, False
        if lit[k]:
            lit_run += 1
            if lit_run >= LIT_RUN:
                return float(0.5 * (us[tip] + us[k - LIT_RUN + 1])) - begin, exact_start
            continue
        lit_run = 0
        if shadow[k]:
            tip = k
    return float(us[tip]) - begin, False


def combine(occluders: list[Occluder], bound: tuple[float, str] | None = None) -> tuple[float, str] | None:
    """(elevation, how it was found) from the occluders whose height and shadow length were
    both read, the shadow at least MIN_SHADOW_M long, and no higher than ``bound`` (the
    occluders' ``upper_bound`` where the caller trusts it) allows (BOUND_CONSISTENCY_DEG): their median. None without one. Bounds alone (a top or a tip out of view) are
    not used here: on banded ground a band running out of view bounded a high sun to 19 degrees,
    and a short dark patch at a tall occluder's foot a sun of 37 to 79 (eval insert seeds 14-15)."""
    over = over_bound(occluders, bound)
    exact = [x for x in _exact(occluders) if x not in over]
    if not exact:
        return None
    e = float(np.clip(np.median(exact), MIN_ELEVATION_DEG, MAX_ELEVATION_DEG))
    return e, f"elevation {e:.0f} deg measured: {len(exact)} occluder(s)' height over shadow length" + (f" ({dropped_note(over, bound)})" if over and bound is not None else "")


def _exact(occluders: list[Occluder]) -> list[float]:
    return [o.elevation_deg() for o in occluders if o.height_exact and o.length_exact and o.length >= MIN_SHADOW_M]


def over_bound(occluders: list[Occluder], bound: tuple[float, str] | None) -> list[float]:
    """The exact readings (degrees) more than BOUND_CONSISTENCY_DEG over ``bound``: dark
    patches at their occluders' feet, not their shadows."""
    return [] if bound is None else [x for x in _exact(occluders) if x > bound[0] + BOUND_CONSISTENCY_DEG]


def dropped_note(over: list[float], bound: tuple[float, str]) -> str:
    return (f"{len(over)} short shadow(s) reading {min(over):.0f}-{max(over):.0f} deg dropped: over the {bound[0]:.0f} deg "
            "a shadow running out of view allows")


BOUND_CONSISTENCY_DEG = 10.0
"""An exact reading more than this over the lowest upper bound (``upper_bound``) is dropped: one
occluder's shadow running out of view at 30 degrees and another's 24-32 cm "shadow" at 70 say
different suns, and the short one is a dark patch at the foot (held-out sun_low seed 156 of stop
51: a 24-degree sun measured 71 from two such, lit the product from above and left its long
shadow out; product 18.6 dB where its measured neighbours score 24-25). The upper bounds held
within 6 degrees on the cached sets (sun_high seed 151: 58 for a 64-degree sun)."""


def upper_bound(occluders: list[Occluder]) -> tuple[float, str] | None:
    """(elevation, note) at most what an occluder of exact height allows whose shadow runs out
    of view (its length a lower bound, at least MIN_SHADOW_M): the sun is no higher than the
    elevation that throws a shadow that long, and the lowest such bound holds. None without one.

    A bound from above replaces the elevation; one from below (a height cut by the frame over an
    exact length, ``lower_bound``) only raises an assumed one: a short dark patch read as the
    whole shadow made lower bounds of 33-60 degrees for suns of 23-37 (eval insert seeds 14-24,
    stop 31); the upper bounds held on every set where the sun was lit, from 2 to 13 degrees
    over the truth. It replaces an assumed elevation only
    where it is lower (shot.py): a low sun's long shadows are the ones that leave the frames,
    and assumed at 45 degrees the low-sun sets lost 6-15 dB to their truth's light."""
    bounds = [o.elevation_deg() for o in occluders if o.height_exact and not o.length_exact and o.length >= MIN_SHADOW_M]
    if not bounds:
        return None
    e = float(np.clip(min(bounds), MIN_ELEVATION_DEG, MAX_ELEVATION_DEG))
    return e, f"elevation at most {e:.0f} deg: {len(bounds)} occluder(s)' height over a shadow running out of view"


def lower_bound(occluders: list[Occluder]) -> tuple[float, str] | None:
    """(elevation, note) at least what the occluders whose shadow ends in view allow, their
    height a lower bound (the frames cut its top): a taller occluder needs a higher sun for so
    short a shadow. The median over them; None without one. Not a measurement: it raises an
    elevation still assumed once every reading left it so (``key.raise_assumed_elevation``).

    Where the key had no other elevation, on the truth sets of stop 78 (320x180, 6 frames):
    sun_high 361, 382, 383, 388, their keys within 23 degrees in azimuth, read 63, 60, 70 and
    65 degrees against the truth's 60, 65, 63 and 64 (they stood at 46, 49, 42 and 30), and it
    raised no sun_low or mixed set's: a low sun's shadows run out of view, and where a long one
    starts at a foot (``long_shadow_at_feet``: fresh sun_low_concrete 427 read at least 77
    degrees for 22) or a lamp lights the ground beside the sun (``key.lamp_beside``: its light
    ended fresh mixed 423's shadow short, at least 47 for 32) it is not read. Stop 31 kept it
    out of ``combine`` (a short dark patch at the foot read as the whole shadow bounded suns of
    23-37 degrees to 33-60): since then a shadow is read only from MIN_SHADOW_M long."""
    lows = [o.elevation_deg() for o in occluders if not o.height_exact and o.length_exact and o.length >= MIN_SHADOW_M]
    if not lows:
        return None
    e = float(np.clip(np.median(lows), MIN_ELEVATION_DEG, MAX_ELEVATION_DEG))
    return e, f"elevation at least {e:.0f} deg: {len(lows)} occluder(s)' height in view over a shadow ending in view"


def read_occluders(views: list[View], standing: list[Standing], up: np.ndarray, towards: np.ndarray,
                   shadow_rgb: np.ndarray, lit_rgb: np.ndarray) -> list[Occluder]:
    """What each object standing on the ground says (its height and its shadow's length);
    those whose height or shadow cannot be read are left out. ``towards``: the key's direction."""
    axes = _ground_axes(up, towards)
    if axes is None:
        return []
    n, away, _side = axes
    out = []
    for obj in standing:
        h = occluder_height(views, obj.foot, n)
        if h is None:
            continue
        s = shadow_length(views, obj, away, np.asarray(shadow_rgb, np.float64), np.asarray(lit_rgb, np.float64))
        if s is None:
            continue
        out.append(Occluder(h[0], h[1], s[0], s[1]))
    return out


def short_shadows_elevation(views: list[View], shadows: list[tuple[np.ndarray, np.ndarray]], up: np.ndarray,
                            towards: np.ndarray, cell_m: float) -> tuple[float, str, bool] | None:
    """(elevation, note, measured) from the occluders' short shadows, or None: a sun of elevation e throws
    an occluder of height H a shadow H / tan(e) long beyond its footprint. ``shadows``: (foot,
    the ground points of the sky-lit blobs touching its base: ``key.foot_shadows``), each point
    a grid cell ``cell_m`` wide.

    The length is the blob's area over its width across the light (``swept_length``), not how
    far it reaches from the foot: the reach counts the footprint's depth, hidden behind the
    occluder, and read as the shadow's length it put a high sun 11-25 degrees low (median 20 on
    the truth sets sun_high 314, 316, 329, 330, 333 of stop 71; 4-21, median 12, on those of
    stop 52). The reach still bounds it from below (atan(H / reach)): no shadow is longer than
    it reaches.

    A high sun's shadows are short and hug their occluders' feet; on a high sun's ground the
    line from a foot (``shadow_length``) mostly runs under the occluder or behind it, and its
    shadow's colour changes from the paving to its darker bands, so no length reads exactly
    there (sun_high tiles, the truth sets: 3 of 26 measured). Only where every shadow that
    starts at an occluder ends within SHORT_REACH_M of its foot: one longer says a lower sun
    (the low suns' truth sets: 1.1-3.3 m) or a blob of several shadows, and then no reading. A
    blob reaching over BEHIND_M towards the light from the foot or wider than WIDE_M across it
    is not that occluder's alone (another's long shadow crossing its foot) and is passed over.
    An occluder whose top the frames do not show (a pillar running out of view) bounds the sun
    from below with the height they show over the shadow's reach: a taller one needs a higher
    sun for as short a shadow. Its area is not used: a blob seen in part reads short, and over a
    height that is itself a bound it read held-out sun_high 332 and 362 of stop 71 13-14 degrees
    high. With no exact height the result is the bounds' median, not measured (sun_high 361:
    45-50 degrees, its sun 60, where it stayed assumed at 30): it raises an elevation only once
    the other readings left it assumed (``key.raise_assumed_elevation``); taken first, it kept
    362's key off the azimuth its occluders' longest shadow gives (143 degrees for 120, the
    truth's 108).

    A blob that fills under MIN_FILL of its bounding box is a shadow seen in part (its shade
    on a darker band is not sky-lit), and its area says too little: its reach reads it. The
    elevation is the readings' median."""
    n = np.asarray(up, np.float64) / np.linalg.norm(up)
    own = _own_shadows(shadows, up, towards)
    if _runs_long(own):
        return None
    readings, bounds = [], []
    for foot, t, across in own:
        reach = float(t.max())
        h = occluder_height(views, foot, n) if reach >= MIN_SHADOW_M else None
        if h is None:
            continue
        bounds.append(math.degrees(math.atan2(h[0], reach)))  # no shadow is longer than it reaches
        if h[1]:
            swept = swept_length(across, cell_m) if blob_fill(t, across, cell_m) >= MIN_FILL else reach
            readings.append(math.degrees(math.atan2(h[0], max(min(swept, reach), 1e-3))))
    if not bounds:
        return None
    least = float(np.median(bounds))
    read = max(float(np.median(readings)), least) if readings else least
    e = float(np.clip(read, MIN_ELEVATION_DEG, MAX_ELEVATION_DEG))
    if readings:
        return e, f"elevation {e:.0f} deg: {len(readings)} occluder(s)' height over a short shadow's length (its area over its width)", True
    return e, f"elevation at least {e:.0f} deg: {len(bounds)} occluder(s)' height the frames show over how far a short shadow reaches", False


def long_shadow_at_feet(shadows: list[tuple[np.ndarray, np.ndarray]], up: np.ndarray, towards: np.ndarray) -> bool:
    """Whether an occluder's own sky-lit shadow (``key.foot_shadows``: its foot and the blob
    touching it; not one reaching over BEHIND_M towards the light nor wider than WIDE_M across
    it, another's crossing it) runs past SHORT_REACH_M from its foot, away from the light
    ``towards``: a low sun's. Then no short shadow or shadow ending near a foot bounds the sun
    from below: the shadow read as ending there is a dark patch or a band inside the long one."""
    return _runs_long(_own_shadows(shadows, up, towards))


def _runs_long(own: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> bool:
    """Whether one of the occluders' own shadows (``_own_shadows``) runs past SHORT_REACH_M."""
    return any(float(t.max()) > SHORT_REACH_M for _foot, t, _across in own)


def _own_shadows(shadows: list[tuple[np.ndarray, np.ndarray]], up: np.ndarray,
                 towards: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(foot, metres of each cell away from the light, metres across it) of each blob at a foot
    that is that occluder's own shadow: reaching no more than BEHIND_M towards the light and no
    wider than WIDE_M across it (else another's shadow crosses its foot). Empty for a light
    straight overhead."""
    axes = _ground_axes(up, towards)
    if axes is None:
        return []
    _n, away, side = axes
    out = []
    for foot, pts in shadows:
        t, across = (pts - foot) @ away, (pts - foot) @ side
        if t.min() >= -BEHIND_M and float(np.ptp(across)) <= WIDE_M:
            out.append((foot, t, across))
    return out


def _ground_axes(up: np.ndarray, towards: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(up, away from the light along the ground, across it), unit vectors, for a light
    ``towards``; None for a light straight overhead (no way along the ground)."""
    n = np.asarray(up, np.float64) / np.linalg.norm(up)
    d = np.asarray(towards, np.float64)
    away = -(d - n * (d @ n))
    if np.linalg.norm(away) < 1e-6:
        return None
    away /= np.linalg.norm(away)
    return n, away, np.cross(n, away)


def swept_length(across: np.ndarray, cell_m: float) -> float:
    """How far a shadow runs beyond its occluder's footprint, from its cells' positions across
    the light (``across``, metres; one per cell ``cell_m`` wide): its area over its width. The
    ground an upright prism shades beyond its own footprint is the footprint swept a length L
    away from the light, less the footprint: L times the footprint's width across the light,
    whatever its depth along it. Hidden parts make it shorter (the sun then read higher); the
    reach bounds it from above."""
    width = float(np.ptp(across)) + cell_m  # each cell is a cell wide
    return len(across) * cell_m * cell_m / width


def blob_fill(along: np.ndarray, across: np.ndarray, cell_m: float) -> float:
    """The share of its bounding box (along and across the light) a blob of cells fills."""
    box = (float(np.ptp(along)) + cell_m) * (float(np.ptp(across)) + cell_m)
    return len(along) * cell_m * cell_m / box


MIN_FILL = 0.3
"""An upright prism's shadow beyond its footprint fills half its bounding box or more (a square
swept along its diagonal: a half); the sky-lit part of a shadow falling over a darker band's
stripes filled 4-21 % of its box, and its area read a 62-degree sun at 85 (the banded plaza of
tests/ml/light/test_key.py). Whole shadows on the truth sets filled 33-79 %."""


SHORT_REACH_M = 0.9
"""The farthest a short shadow ends from its occluder's foot (a 62-degree sun's: 0.4-0.9 m with
the footprint; a 25-degree sun's run 1.1 m and more)."""
BEHIND_M = 0.3
"""How far towards the light from the foot an occluder's own shadow may reach (within its footprint)."""
WIDE_M = 1.0
"""The widest across the light an occluder's own short shadow spreads."""
