"""An environment (lat-long) map at the product's position, built from the plate itself.

Every sampled plate frame is projected through its solved camera onto the sphere of
directions around the product: a direction below the horizon looks at the solved ground
plane (so the ground the product stands on is placed with its parallax), one above it looks
far away. The frames are averaged over the shot, so the map is stable, and what no frame saw
is filled plausibly: each elevation row takes the mean of what was seen in it, rows never
seen take the nearest seen row above the horizon (sky) or the mean seen ground below it
(a mirrored ground), and the seam is feathered. Under a clear daylight sky the frames show, the
unseen sky is a clear one's: no brighter than the horizon in view, darker towards the zenith
(``clear_fall``).

Lat-long layout is Blender's (Cycles ``direction_to_equirectangular``): row 0 is the zenith,
column u maps to azimuth phi = pi - 2 pi u (u = 0.5 looks along +x); world z is up. Values are
linear plate radiance; clipped highlights stay clipped (the key light carries the sun). Round a
sun the frames show, the sky is filled as a clear sky instead, and the sun's glare is left out
(clear_sky.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ml.io.colour import REC709_LUMA as LUMA
from shotcache.latlong import direction_to_pixel, directions  # noqa: F401  (the layout's home; re-exported)
from shotcache.schema import FrameCamera

from . import clear_sky

ENV_SIZE = (256, 128)
"""(width, height) of the lat-long map, 1.4 degrees a pixel: what a glossy, metal or glass
product mirrors is this map, and at 128 x 64 (2.8 degrees) a prop's edge or the horizon spread
over several pixels. Measured on eval insert (stop 22, seeds 0 and 2-6, with MIN_SKY_SEEN_DEG): no
change beyond 0.1 dB on the product of any set but one (night seed 6, +2.6 dB, where 7 degrees
of dark sky were seen: filled from at 128 x 64, a sliver now). Building it costs nothing
measurable (bench_light: 0.60 s CPU either way)."""


MIN_SKY_TINT_PX = 20
"""Pixels of the map (1.4 degrees each) the frames must show above the horizon for their colour
to tint the unseen sky: fewer are a prop's top or a few stray pixels."""


@dataclass
class EnvAccumulator:
    """Running sum of projected frames; ``result()`` is the filled map."""

    centre: np.ndarray
    ground_point: np.ndarray
    ground_normal: np.ndarray
    width: int = ENV_SIZE[0]
    height: int = ENV_SIZE[1]
    far_m: float = 200.0

    def __post_init__(self) -> None:
        self.dirs = directions(self.width, self.height)
        n = self.ground_normal / np.linalg.norm(self.ground_normal)
        self.up = n
        dn = self.dirs @ n
        height_above = float((self.centre - self.ground_point) @ n)
        below = dn < -1e-3
        t = np.where(below, max(height_above, 1e-3) / np.maximum(-dn, 1e-6), self.far_m)
        self.points = self.centre[None, None, :] + self.dirs * t[..., None]
        self.below = below
        self.sum = np.zeros((self.height, self.width, 3), np.float64)
        self.count = np.zeros((self.height, self.width), np.float64)

    def add(self, image: np.ndarray, cam: FrameCamera, scale: float = 1.0) -> None:
        """Project one linear HxWx3 frame; ``scale`` = its size over the camera's (a reduced frame)."""
        c2w = np.asarray(cam.c2w, np.float64)
        h, w = image.shape[:2]
        sx = sy = scale
        rel = self.points - c2w[:3, 3]
        pc = rel @ c2w[:3, :3]  # world -> camera (OpenCV axes): R^T (X - o)
        z = pc[..., 2]
        ok = z > 1e-3
        zs = np.where(ok, z, 1.0)
        u = (cam.fx * pc[..., 0] / zs + cam.cx) * sx - 0.5
        v = (cam.fy * pc[..., 1] / zs + cam.cy) * sy - 0.5
        ok &= (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
        sampled = cv2.remap(image.astype(np.float32), u.astype(np.float32), v.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self.sum[ok] += sampled[ok]
        self.count[ok] += 1

    def coverage(self) -> float:
        return float((self.count > 0).mean())

    def horizon_luminance(self) -> float | None:
        """Median luminance of what the frames saw above the horizon (None: nothing)."""
        up = (self.count > 0) & ~self.below
        if up.sum() < 2:
            return None
        return float(np.median((self.sum[up] / self.count[up][:, None]) @ LUMA))

    def seen_sky_rgb(self, min_px: int = MIN_SKY_TINT_PX) -> np.ndarray | None:
        """Median colour of what the frames saw above the horizon (None: too little of it). A
        sliver at the end of a street is too little to fill the sky from (MIN_SKY_SEEN_DEG), but
        its colour is the sky's: the unseen sky takes it (``sky_with_seen_tint``)."""
        up = (self.count > 0) & ~self.below
        if up.sum() < min_px:
            return None
        return np.median(self.sum[up] / self.count[up][:, None], axis=0)

    def result(self, sky_prior: np.ndarray | None = None, sun: np.ndarray | None = None, zenith_sky: np.ndarray | None = None,
               clear: bool = False) -> np.ndarray:
        """The averaged, filled, feathered map (HxWx3 float32, linear); ``sky_prior`` is the
        sky's radiance where no frame saw enough of it (see ``sky_from_ground``). ``sun``: the
        direction of a sun the frames show; the sky is then filled round it as a clear sky
        (clear_sky.py) and its glare left to the key light. ``zenith_sky``: the radiance of
        the sky above the highest row the frames saw, in place of that row's own (``_row_fill``).
        ``clear``: those two are a clear sky's at the horizon, darker towards the zenith."""
        seen = self.count > 0
        mean = np.where(seen[..., None], self.sum / np.maximum(self.count, 1)[..., None], 0.0)
        fill = _row_fill(mean, seen, self.below, sky_prior, zenith_sky, clear)
        round_sun = None if sun is None else clear_sky.fill_round_sun(mean, seen, self.below, self.dirs, self.up, sun)
        if round_sun is not None:
            fill = np.where(self.below[..., None], fill, round_sun[0])
            seen = round_sun[1]
        if not seen.any():
            return fill.astype(np.float32)
        wgt = np.clip(2.0 * cv2.GaussianBlur(seen.astype(np.float32), (0, 0), 1.5), 0, 1) * seen  # feathered seam
        return (mean * wgt[..., None] + fill * (1 - wgt[..., None])).astype(np.float32)


MIN_SKY_SEEN_DEG = 8.0
"""Elevation span of sky the frames must show for the sky to be filled from it; less is a
sliver at the horizon (a room's walls, a street's far end), not a sky to extrapolate to the
zenith. In degrees, not rows: counted in rows (3), the finer map (256 x 128) took 4 degrees of
a room's curtains for its sky."""


ZENITH_OVER_HORIZON = 0.6
"""A clear daylight sky's luminance at the zenith over its luminance at the horizon, on a
profile linear in the sine of the elevation (``clear_fall``). From the CIE clear sky
(clear_sky.py): averaged over suns 15-75 degrees up and over which 60 degrees of the horizon the
frames see, its upward irradiance is 0.73 times pi times the horizon's luminance (quartiles
0.62-0.90; tests/ml/light/test_envmap.py computes it); this profile gives 1 - 2 (1 - 0.6) / 3 =
0.73. Filled at the horizon's level up to the zenith, the sun sets' unseen skies lit the ground
1.2-1.45 times the truth's, and their suns (the shadows' ratio times that sky) as much too bright
(stop 76)."""
CLEAR_SKY_MEAN = 1.0 - 2.0 * (1.0 - ZENITH_OVER_HORIZON) / 3.0
"""A ``clear_fall`` sky's upward irradiance over pi times its horizon's luminance."""


def clear_fall(sin_elevation: np.ndarray | float) -> np.ndarray:
    """A clear sky's luminance at ``sin_elevation`` over its horizon's (1 at the horizon,
    ZENITH_OVER_HORIZON at the zenith): the unseen part of a clear sky is darker overhead than the
    horizon the frames show. Not the CIE model itself: without the sun in view its aureole cannot be
    placed or scaled (clear_sky.py), and a wrong one moves the light more than the mean profile."""
    return 1.0 - (1.0 - ZENITH_OVER_HORIZON) * np.clip(sin_elevation, 0.0, 1.0)


def clear_sky_horizon(prior: np.ndarray, horizon_lum: float) -> np.ndarray:
    """The horizon radiance of an unseen clear sky (``clear_fall`` up to the zenith) that lights an
    upward surface as the uniform ``prior`` does, but no brighter at the horizon than what the
    frames show there (``horizon_lum``): the horizon bounds a clear sky (``daylight_ceiling``), and
    its zenith is darker still: the prior's horizon, CLEAR_SKY_MEAN of it overhead on average,
    capped as any clear daylight sky is (``daylight_ceiling``)."""
    return daylight_ceiling(np.asarray(prior, np.float64) / CLEAR_SKY_MEAN, horizon_lum, lit_lum=0.0, clear=True)


def daylight_ceiling(prior: np.ndarray, horizon_lum: float | None, lit_lum: float, clear: bool = False) -> np.ndarray:
    """``prior`` (the unseen sky's radiance, read from a sunlit ground's shadow over an albedo
    prior) dimmed, keeping its tint, to the luminance of what the frames saw above the horizon,
    when that is daylight: brighter than the sunlit ground. A clear sky is darkest at the zenith
    (CIE clear sky), so the horizon bounds it; the albedo prior alone read the truth sun sets'
    skies 0.9-2.7 times too bright (their tiles, concrete and sand are brighter than 0.35).
    Not under lamps, a window or a gym's ceiling lights: there what the frames show above the
    horizon (a night sky, walls) is darker than the lit ground, and it bounds nothing (the real
    judo clip, a gym lit from its unseen ceiling, turned muddy brown when it was applied there).
    ``clear``: the frames saw a clear blue daylight sky (key.is_clear_sky): it bounds the unseen
    sky even where a bright sunlit ground outshines it (sun_high's pale tiles: 0.56 against a
    horizon of 0.50-0.60), which the blue already tells from walls or a night."""
    p = np.asarray(prior, np.float64)
    if horizon_lum is None or (horizon_lum < lit_lum and not clear):
        return p
    lum = float(p @ LUMA)
    return p * min(1.0, horizon_lum / lum) if lum > 0 else p


def _row_fill(mean: np.ndarray, seen: np.ndarray, below: np.ndarray, sky_prior: np.ndarray | None = None,
              zenith_sky: np.ndarray | None = None, clear: bool = False) -> np.ndarray:
    """Per elevation row: the mean of its seen pixels; unseen rows from their neighbours
    (sky rows from ``sky_prior`` when no sky was seen at all, and those above the highest seen
    sky row from ``zenith_sky`` where it is given).

    ``zenith_sky`` is the sky read off a sun's cast shadows (shot.py): a shadow is lit by the
    whole sky, weighted towards the zenith, where the frames show its lowest degrees, whiter and
    redder than the sky overhead (a clear sky is bluest and darkest at its zenith). Spread up
    from the horizon's rows, the sky lit the product too red and too bright, and the sun,
    strength (lit/shadow - 1) times that sky, came out orange: held-out sun_high seed 220 (sun
    1.0 / 0.82 / 0.69 for the truth's 1.0 / 0.97 / 0.92; red 1.6x the truth's sky irradiance).
    With the shadows' sky overhead: +1.38 / +2.07 dB there, sun_low_concrete 219 +0.81 / +1.04,
    mixed 218 +0.02 / 0.00 (eval insert, insert / product; the only three of 55 sun and mixed
    sets of 214-226 whose frames see 8 degrees of sky under a key read off shadows).

    ``clear``: ``sky_prior`` and ``zenith_sky`` are a clear sky's radiance at the horizon; the
    rows they fill fall off towards the zenith (``clear_fall``)."""
    h, w = seen.shape
    rows = np.full((h, 3), np.nan)
    for r in range(h):
        if seen[r].sum() >= 2:
            rows[r] = mean[r][seen[r]].mean(axis=0)
    sky = [r for r in range(h) if not below[r].any() and np.isfinite(rows[r, 0]) and seen[r].mean() >= 0.1]
    if len(sky) * 180.0 / h < MIN_SKY_SEEN_DEG:
        sky = []  # a sliver near the horizon is not a sky to extrapolate to the zenith
    ground = [r for r in range(h) if below[r].all() and np.isfinite(rows[r, 0])]
    if not sky and sky_prior is not None:
        sky_mean = np.asarray(sky_prior, np.float64)
    else:
        sky_mean = rows[sky].mean(axis=0) if sky else (rows[ground].mean(axis=0) * 1.5 if ground else np.full(3, 0.5))
    ground_mean = rows[ground].mean(axis=0) if ground else sky_mean * 0.4
    for r in range(h):
        if np.isfinite(rows[r, 0]):
            continue
        if below[r].all():
            rows[r] = ground_mean  # the ground we saw, mirrored round the product
        elif zenith_sky is not None and sky and r < min(sky):  # row 0 is the zenith
            rows[r] = np.asarray(zenith_sky, np.float64)
        else:
            near = min(sky, key=lambda s: abs(s - r)) if sky else None
            rows[r] = rows[near] if near is not None else sky_mean
    filled_from_prior = sky_prior is not None and not sky
    if filled_from_prior:
        for r in range(h):
            if not below[r].any():
                rows[r] = sky_mean
    if clear and (filled_from_prior or zenith_sky is not None):
        top = h if filled_from_prior else (min(sky) if sky else 0)  # rows above the seen sky (row 0 the zenith)
        for r in range(top):
            if not below[r].any():
                rows[r] = rows[r] * clear_fall(math.cos(math.pi * (r + 0.5) / h))
    return np.broadcast_to(rows[:, None, :], (h, w, 3)).copy()


def upper_irradiance(env: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """Irradiance (per channel) on an upward-facing surface: the cosine-weighted integral of the
    upper hemisphere of the map (same units as a Blender sun's strength)."""
    h, w = env.shape[:2]
    d = directions(w, h)
    upv = np.array([0.0, 0.0, 1.0]) if up is None else np.asarray(up, np.float64)
    cos = np.clip(d @ upv, 0, None)
    theta = np.pi * (np.arange(h) + 0.5) / h
    solid = (np.sin(theta) * (np.pi / h) * (2 * np.pi / w))[:, None]
    return (env * (cos * solid)[..., None]).reshape(-1, 3).sum(axis=0)


GROUND_ALBEDO_PRIOR = 0.35
"""Typical albedo of the ground a product stands on (grass 0.25, asphalt 0.1, concrete 0.35, sand 0.4,
wood floors 0.3-0.5): the grey-world guess that sets the exposure of an unseen sky."""


VEGETATION_ALBEDO = 0.25
"""Albedo of green vegetation (lawns, fields: 0.2-0.25): chlorophyll absorbs red and blue, so a
green ground is a dark one, whatever the plate's exposure makes of it."""


CANOPY_ALBEDO = 0.07
"""Effective albedo of a canopy of grass blades seen from above: the blades shade each other, so
the ground reads far darker than a leaf's own albedo (the meadow truth set: its open sky 13.5-16
times the ground, an albedo of 0.06-0.07)."""
CANOPY_SHADE_LESS_BLUE = 1.1
"""A canopy's shade is lit through and between leaves, which absorb blue: its lit/shade ratio in
blue is over this times its ratio in red and green (the meadow truth sets: 1.13-1.20). A cast
shadow's shade, lit by the sky, is bluer than the lit ground: there the blue ratio is the lowest
(the sun truth sets: lit/shadow blue 1.4-2.4 against red 1.6-3.4)."""


def vegetation_shade_ratio(ground_rgb: np.ndarray, lit_rgb: np.ndarray, shade_rgb: np.ndarray) -> np.ndarray | None:
    """Lit over shade per channel where the ground is green vegetation (``albedo_prior``), else
    None: how much bluer or greener than the lit grass its shade is says what shades it (a cast
    shadow is sky-lit, a canopy's shade leaf-lit)."""
    if not is_vegetation(ground_rgb):
        return None
    return np.asarray(lit_rgb, np.float64) / np.maximum(np.asarray(shade_rgb, np.float64), 1e-6)


def canopy_albedo(ground_rgb: np.ndarray, lit_rgb: np.ndarray, shade_rgb: np.ndarray) -> float | None:
    """CANOPY_ALBEDO where the ground is green vegetation whose shade is less blue than its lit
    parts (CANOPY_SHADE_LESS_BLUE): a canopy of blades, not a flat lawn; else None. Read off a
    canopy at a lawn's albedo prior, an unseen sky came out a third of the truth's (eval insert
    meadow seeds 21, 45 and 47, whose cameras show no sky: the duck a third as bright)."""
    ratio = vegetation_shade_ratio(ground_rgb, lit_rgb, shade_rgb)
    if ratio is None or ratio[2] < CANOPY_SHADE_LESS_BLUE * max(ratio[0], ratio[1]):
        return None
    return CANOPY_ALBEDO


def is_vegetation(ground_rgb: np.ndarray) -> bool:
    """Whether the ground's colour is green vegetation's: green well above red and blue, in
    linear light (False for no colour at all)."""
    rgb = np.asarray(ground_rgb, np.float64).ravel()
    if rgb.size < 3:
        return False
    r, g, b = (float(v) for v in rgb[:3])
    return g > 1.2 * r and g > 1.5 * b


CEILING_CAP_DEG = 40.0
"""Half-angle round the zenith of the cap that stands for a room's ceiling lights: fixtures over
the middle of a room, 2.5-3 m up, lie within 30-45 degrees of the zenith seen from the product
(the eval's ceiling rooms: panels 1.6-2.6 m out under a 2.8 m ceiling)."""


def overhead_cap(env: np.ndarray, seen: np.ndarray, below: np.ndarray, up: np.ndarray, cap_deg: float = CEILING_CAP_DEG,
                 walls_rgb: np.ndarray | None = None) -> np.ndarray | None:
    """``env`` with the light of its unseen upper hemisphere gathered into a cap round the zenith
    (``cap_deg``), the rest of the unseen part at the walls' level (the median of what the frames
    saw above the horizon): a room lit from a ceiling the camera never sees. The irradiance on
    the floor is kept (per channel), so the exposure the ground set stands; what changes is where
    the light comes from: from above, as under ceiling panels, where a uniform dome lit the
    product from every side at once (the top no brighter than the flanks, the belly lit, no
    highlight on a glossy product, no contact shadow). None where nothing is unseen above the
    horizon, no wall was seen, or the walls alone light the floor as brightly (no ceiling light
    to gather). ``seen``/``below``: the accumulator's masks; ``up``: the ground normal;
    ``walls_rgb``: the walls' colour where the frames show them only below the horizon (walls.py),
    used when too little is seen above it."""
    unseen = ~seen & ~below
    walls = seen & ~below
    if walls.sum() >= MIN_SKY_TINT_PX:
        walls_rgb = np.median(env[walls], axis=0)
    if not unseen.any() or walls_rgb is None:
        return None
    h, w = env.shape[:2]
    e0 = upper_irradiance(env, up)
    out = env.astype(np.float64)
    out[unseen] = np.asarray(walls_rgb, np.float64)
    missing = e0 - upper_irradiance(out, up)
    cap = unseen & (directions(w, h) @ np.asarray(up, np.float64) > math.cos(math.radians(cap_deg)))
    if not cap.any() or float(missing.min()) <= 0.0:
        return None
    unit = np.zeros_like(out)
    unit[cap] = 1.0
    out[cap] += missing / upper_irradiance(unit, up)
    return out.astype(np.float32)


def albedo_prior(ground_rgb: np.ndarray) -> float:
    """The ground's likely albedo from its colour: vegetation (``is_vegetation``) is dark;
    anything else takes the grey-world prior."""
    return VEGETATION_ALBEDO if is_vegetation(ground_rgb) else GROUND_ALBEDO_PRIOR


def sky_from_ground(ground_rgb: np.ndarray, albedo: float | None = None) -> np.ndarray:
    """Radiance of an unseen sky from the ground it lights: a Lambertian ground under a uniform
    sky of radiance L has radiance albedo * L. ``ground_rgb`` should be ground the key light
    does not reach (its shadows) when there is one. The ground's own colour is mostly its
    albedo, so only half of its tint is kept. ``albedo`` defaults to ``albedo_prior``."""
    g = np.asarray(ground_rgb, np.float64)
    vegetation = is_vegetation(g)
    albedo = albedo_prior(g) if albedo is None else albedo
    lum = float(g @ LUMA)
    if vegetation:  # a lawn's green is its albedo, not its light: no sky is green
        return np.full(3, lum / albedo)
    tint = g / max(lum, 1e-6)
    tint = 0.5 + 0.5 * tint / max(float(tint @ LUMA), 1e-6)
    return lum / albedo * tint


CANOPY_SKY_OVER_GROUND = 8.0
"""What the frames show above the horizon over the ground next to the product, from which the
ground is darker than any albedo prior (a lawn's 0.25 would make a sky 4x the ground): its
blades shade each other, and a canopy's effective albedo is 0.05-0.1 (the meadow truth set:
13.5-14.3; a flat lawn 5.4, a room's walls 1.0-2.3)."""


def open_sky(horizon_lum: float | None, ground_lum: float) -> bool:
    """Whether the frames show an open daylight sky CANOPY_SKY_OVER_GROUND times the ground next
    to the product or more: outdoors under the whole sky, where no lamp's pool of light matters
    and the ground reads darker than its albedo prior."""
    return horizon_lum is not None and ground_lum > 0 and horizon_lum >= CANOPY_SKY_OVER_GROUND * ground_lum


def sky_over_canopy(prior: np.ndarray, horizon_lum: float | None, ground_lum: float) -> np.ndarray:
    """The unseen sky ``prior`` raised, keeping its tint, to the luminance the frames saw above
    the horizon where that is CANOPY_SKY_OVER_GROUND times the ground's or more: read off a
    canopy over an albedo prior, the sky came out a third of the truth's on the meadow set (the
    duck a third as bright). Only where the sky was read off the ground under soft daylight
    (shot.py): a flat lawn's prior holds, and the horizon over it lit the product past the
    truth (overcast_grass_glossy seed 23: -4.65 dB, stop 38)."""
    p = np.asarray(prior, np.float64)
    lum = float(p @ LUMA)
    if horizon_lum is None or lum <= 0 or not open_sky(horizon_lum, ground_lum):
        return p
    return p * max(1.0, horizon_lum / lum)


def sky_with_seen_tint(prior: np.ndarray, seen_rgb: np.ndarray | None) -> np.ndarray:
    """The unseen sky ``prior`` (its level read off the ground) in the colour of the sky the
    frames saw, when they saw some: the ground's colour says little of the sky's (a wooden
    floor's half tint made a room's light orange, a lawn's an overcast sky green), a sliver of
    the sky says it directly. Only for daylight: at night or in a room what is seen
    above the horizon (a dark sky, walls) is not what lights the product. Only under soft light:
    under a sun the shadows' colour measures the whole sky's tint, and a sliver at the horizon
    is whiter than the sky overhead (eval insert seeds 14 and 15: taken from the sliver, a low
    sun came out orange, and the product lost 0.2-1.4 dB)."""
    p = np.asarray(prior, np.float64)
    if seen_rgb is None:
        return p
    s = np.maximum(np.asarray(seen_rgb, np.float64), 1e-6)
    return float(p @ LUMA) * s / float(s @ LUMA)


def sky_from_shadow(shadow_rgb: np.ndarray, lit_rgb: np.ndarray, albedo: float | None = None) -> np.ndarray:
    """Radiance of an unseen sky from a sunlit ground and its cast shadow. The shadow is lit by
    the sky alone, the lit ground by sky + sun, so per channel lit/shadow - 1 = E_sun / E_sky:
    under a sun of daylight's (near-white) colour the sky's colour is 1 / (lit/shadow - 1) - a
    blue sky leaves a red-heavy ratio. The level is ``sky_from_ground``'s (the shadow's
    luminance over a typical albedo); the tint is kept within a factor 3 of grey. A ratio whose
    sky would not be a sky's colour (``is_sky_tint``) falls back to ``sky_from_ground`` of the
    shadow."""
    sh = np.maximum(np.asarray(shadow_rgb, np.float64), 1e-6)
    albedo = albedo_prior(np.asarray(lit_rgb, np.float64)) if albedo is None else albedo
    r = np.maximum(np.asarray(lit_rgb, np.float64) / sh - 1.0, 0.05)
    tint = np.clip((1.0 / r) / float((1.0 / r) @ LUMA), 1 / 3, 3.0)
    if not is_sky_tint(tint):  # not a sun's ratio over a sky: what the ground's colour says instead
        return sky_from_ground(sh, albedo)
    return float(sh @ LUMA) / albedo * tint / float(tint @ LUMA)


SKY_ORDER_TOLERANCE = 0.97
"""How far a channel may fall short of the order blue >= green >= red and still be a sky's."""


def is_sky_tint(tint: np.ndarray) -> bool:
    """Whether a colour could be a daylight sky's: scattered daylight is at least as blue as it
    is green, and as green as it is red. The tint ``sky_from_shadow`` reads off a sun's shadows
    is (eval insert, seeds 7 and 14-16, every sun, mixed and window set whose shadows were a sun's
    or a window's: blue 1.27-2.03 of the luminance, green 0.95-1.08, red 0.64-0.94); a green or
    red one comes of shadows that are not: a floor's darker tiles under a room's ceiling lights
    (0.70/1.10/0.90), a street's lamps (0.93/1.03/0.91), tile bands read as a shadow under a high
    sun (1.07/0.97/1.08)."""
    r, g, b = (float(v) for v in np.asarray(tint, np.float64)[:3])
    return b >= SKY_ORDER_TOLERANCE * g and g >= SKY_ORDER_TOLERANCE * r
