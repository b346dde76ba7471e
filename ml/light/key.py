"""The key light (sun, window, practical) from the plate's cast shadows on the solved ground.

The ground around the product is rectified: every sampled frame is projected through its
solved camera onto a top-down grid on the ground plane. On that grid:

* the temporal median is the ground as lit (cast shadows stay put, the camera moves);
* the temporal spread marks what is *not* on the plane (objects smear differently in every
  frame): the occluders;
* shadows are the dark class of the median's smoothed log luminance (Otsu); their geometry
  gives the direction, where they keep the ground's texture (a shadow scales the ground's
  light; an evenly coloured object's rectified smear is flat: FLAT_SHADOW);
* the lit/shadow ratio is read on pairs of samples straddling the ground's luminance edges
  (the same ground just outside and just inside): the densest ratio, edges near occluders
  weighing most (a cast shadow starts at its occluder; tile/mortar edges and stains lie
  anywhere), unless by daylight a deeper ratio's shade is sky-blue where the densest's is the
  key's own colour (bands of darker material: mortar, paving), or another ratio holds most of
  the edges at the occluders' feet (a cast shadow starts there; a band runs past), or, under
  a clear sky, where the densest's shade is no sky's, the deeper ratio of the pairs at the
  sky-lit cells (``sky_shadow_cells``: bluer than the ground they lie on, as a shadow on the
  paving or on its bands is and a band is not), clamped to what a sun and its sky can make
  (MAX_SUN_SKY); on such banded ground the direction is read off those sky-lit cells, or the
  ground darker than the bands in the light (the shadows on the lit ground and on the bands),
  and kept only where an occluder's shadows confirm its elevation (``confirm_banded``: their
  lengths, or under a clear sky how short they are), else the key waits for a given direction;
* hard or soft: a hard key needs shadow-like pairs (every channel darker, a moderate tint),
  a ratio of HARD_RATIO or more and narrow edges (HARD_PENUMBRA_M; under a clear sky the frames
  see blue, any edge short of the saturated reading: ``hard_bound``; under a grey daylight sky,
  none: ``is_grey_sky``). A window's pool of light
  fades over decimetres: soft, no key, the light stays in the environment map;
* direction: a shadow points away from the light, starting at its occluder, so the azimuth
  is the mean direction from the touching occluder to the shadow, reversed (the way from the
  shadows to their feet alone where short shadows stretch across it); the elevation
  is DEFAULT_ELEVATION_DEG, recorded as assumed, until an occluder's height and shadow length
  read through the cameras measure it, or its height over how near its foot its short shadow
  ends bounds it from below (elevation.py, by daylight: shot.py); no
  elongated shadow, no direction evidence: no key (soft or unknown light stays in the
  environment map); beside a lamp fitted to its pool (a practical by day), the shadows are read
  again with that pool taken out of the ground's light (``shadows_without_pool``), and less the
  lamp's own (``lamp_shadows``); the sky-lit shadows at the occluders' feet, whatever their
  shapes, lie away from the light (``feet_shadow_direction``): shot.py turns a key the shapes
  misread to them, or directs one the bands left without a direction;
* strength and colour (ml/light/shot.py): lit = ambient + key*sin(elevation), shadow =
  ambient, per channel, with the ambient irradiance measured on the environment map;
* size (angular diameter) from the edges' width beyond the plate's own blur over the
  occluder-to-shadow distance;
* a product stands in a cast shadow when the ground its body's rays away from the light land
  on has the shadow's level and colour (the steady flat ground there, so an object between
  the camera and the spot, covering different ground in every frame, is not read as a
  shadow; a product at a shadow's end with its body looking away from it is lit): no key
  while the elevation is assumed; with it measured or given, the key stays, casts no second
  shadow, and reaches the parts of the product the plate's shadow map lets it (key_shadow.py);
* under a soft light, the ground within NEAR_GROUND_M of the product is what the unseen sky
  and the ground's albedo are read from (a window's pool of light a metre off is not the
  product's light).
"""
from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ml.composite.blur_match import lens_blur_px
from ml.io.colour import REC709_LUMA as LUMA
from shotcache.schema import FrameCamera

from .elevation import same_chroma
from .key_shadow import KeyShadowMap, visibility_from_ground
from .masked import masked_blur

GRID_M = 2.5
"""Half-size of the rectified ground patch around the product (metres)."""
GRID_PX = 160
HARD_RATIO = 1.5
"""Lit/shadow luminance ratio above which shadows are hard enough to call for a key light."""
MIN_SHADOWED, MAX_SHADOWED = 0.02, 0.95
"""Share of the flat ground in shadow for a hard key: some, and not all of it. A ground dark all
over is its own texture's shade, not a cast shadow (beach-sunset's pebbles: 0.98); a low sun's
long shadows can cover nine tenths of the ground round the product (eval insert
sun_low_concrete seed 42: 0.90, lit/shadow 1.72 over 762 sharp edge pairs, read soft under the
former bound of 0.9)."""
MIN_SKY_LIT_SHADOWED = 0.005
"""The least share in shadow where the shadows are sky-lit under a clear sky: a high sun over
open paving leaves only its few occluders' short shadows (three boxes on a plaza: 1 %)."""
DEFAULT_ELEVATION_DEG = 30.0
"""The key's elevation while nothing measures it: about the median of the sun's elevation over
the daylight hours of a year at latitudes 35-52 degrees (31, 25 and 22 degrees; the sun stands
above 45 degrees only 16-28 % of the day), and shadows long enough to read an azimuth from are
more often a low sun's. 45 degrees (until stop 36) lit the low-sun sets' products from too high
(their shadows half as long, their sides too dark): eval insert, training seeds 14-19, the
low-sun sets +2 to +5 dB; see docs/NUMBERS.md, stop 36."""
MAX_SUN_SKY = 9.0
"""Largest direct-normal over diffuse-horizontal irradiance of a clear sky (about 900 over 100
W/m2 with the sun high; haze, cloud and bounce light only lower it): a ground's lit/shadow ratio
is at most 1 + MAX_SUN_SKY * sin(elevation). More is a dark material read as shadow."""
PAIR_OFFSET_M = 0.12
"""Paired samples lie this far inside and outside a shadow edge: past a sun's penumbra and the
analysis' own blur, near enough to be the same ground."""
MIN_PAIRS = 12
NEAR_GROUND_M = 0.6
"""Ground whose light is the product's: under a soft source (a window's pool of light, a lamp)
the ground a few metres off is lit differently; what lights the ground next to the product
lights the product."""
BODY_HEIGHTS_M = (0.05, 0.1, 0.15, 0.2, 0.25)
"""Heights on the product whose rays away from the light tell whether the key reaches it (a
product's body, about the size of its footprint)."""
BODY_RADIUS_M = 0.1
CONTACT_RADIUS_M = 0.25
"""Ground round the product's standing point (about its footprint)."""
PARTLY_SHADOWED = 0.2
"""Share of the ground round the foot or under the body's rays in shadow from which part of the
product may be: with the elevation known the plate's shadow map shades it, and its own shadow is
still cast."""
ASSUMED_ELEVATIONS_DEG = (25.0, 45.0, 65.0)
"""Elevations a key of unmeasured elevation plausibly has (a sun between morning and noon)."""
STEADY_TOLERANCE = 0.2
"""A ground cell is shown as ground when its frames agree with their median within this
(relative luminance) in STEADY_FRACTION of them: an object nearer the camera covers a cell in
some frames only (parallax), a cast shadow on the ground covers it in all."""
STEADY_FRACTION = 0.8
IN_SHADOW_VOTE = 0.6
"""Fraction of the shown ground (under the body's rays away from the light; round the contact
point) that must read as shadow."""
OCCLUDER_NEAR_M = 0.6
FAR_EDGE_WEIGHT = 0.05
"""Weight of an edge farther than OCCLUDER_NEAR_M from anything standing on the ground."""
HARD_PENUMBRA_M = 0.13
"""10-90 % width of the shadow edges above which the key is a large source (a window, a bright
patch of cloud): it lights through the environment, it casts no hard shadow. A smooth falloff
across the pair's whole profile (0.8 x 2 x PAIR_OFFSET_M = 0.19 m) reads above it. The widths
come in steps of 3 cm; every sun truth set and sunny real clip measures 0.12 m or less, while a
window 2.6 m from the product measures 0.15 (eval insert interior seed 47: read as a hard key 150
degrees off the window, -5.3 dB against the window's soft key; hotel-corridor alike). Real
sunny footage reads 12-15 cm (paragliding-hill: 15 cm on one solve, 12 on another), so under a
clear sky the bound is the saturated reading instead (``hard_bound``)."""
NIGHT_PENUMBRA_M = 0.15
"""The same bound under a night sky (``is_night``), where the lights are small lamps and a wide
edge is the plate's blur of a lamp's shadow: there no key is made of hard shadows, and read as
soft light instead the lamp fitted to the ground lit the product worse than the environment
alone (night seed 40: -1.2 dB at 0.13)."""
RESOLVED_PENUMBRA_M = 0.1
"""Edge width a plate's own blur makes on the rectified ground (a grazing view of 1-4 m of ground
in a 320-720 px plate): only the width beyond it is the source's size."""
MAX_TINT_SPREAD = 1.8
"""Largest ratio between the channels' lit/shadow ratios that still reads as a shadow."""


@dataclass
class KeyEstimate:
    hard: bool
    ratio: float
    direction: list[float] | None = None
    elevation_deg: float | None = None
    angle_deg: float = 2.0
    lit_rgb: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    shadow_rgb: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    shadow_fraction: float = 0.0
    ground_rgb: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    """Median colour (linear) of the steady flat ground within NEAR_GROUND_M of the product."""
    penumbra_m: float = 0.0
    lens_m: float = 0.0
    """The part of the edges' width the plate's own blur makes (GroundGrid.lens_width_m): a
    sun's shadow filmed through a soft lens reads wider without being a larger source."""
    elevation_source: str = "assumed"
    """How the elevation was found: "assumed" (DEFAULT_ELEVATION_DEG, no evidence) or the evidence."""
    side_source: str = "assumed"
    """Which side of its shadows the key is on: "occluder" (the shadows start at occluders' feet),
    "shadow length" (more occluders show a shadow away from it that way: shot.measure_elevation)
    or "assumed" (behind the camera)."""
    product_in_shadow: bool = False
    """The ground under the product is in the key's shadow (an occluder of the plate blocks it)."""
    promoted: bool = False
    """The plate's shadows made no hard key; a given direction made one of their measured levels
    (``take_given_direction``): the plate's dark ground may be albedo as much as shadow."""
    product_partly_in_shadow: bool = False
    """Some of the ground round its foot or its body's rays land on is (a shadow's edge crosses it)."""
    shadow_map: KeyShadowMap | None = None
    """The plate's cast shadows as the key's visibility round the product, for a hard key."""
    measured: bool = False
    """The lit/shadow ratio and the edges' width were read off enough shadow-edge pairs (even
    where they did not make a hard key): with a direction given by the artist they are the
    key's strength and size (``take_given_direction``)."""
    wide_edges: bool = False
    """Read as soft light for its shadow edges' width (``soft_edges``): a large source, whose side
    its soft shadows may still give (soft_side.py)."""
    elongated: int = 0
    """Elongated shadows the azimuth was read from (0: from the sides of short ones alone, or given)."""
    side_bases: int = 0
    """Occluder bases whose shadows' pull gave the key's side (``_direction``,
    ``side_from_wider_ground``; 0 where the side was assumed)."""
    sky_shade: bool = False
    """The shadows were told from bands of darker material by their shade, lit by an open sky
    (``_mode_cluster``): daylight outdoors, no window's (window.find_window)."""
    banded_alternative: list[float] | None = None
    """On banded ground, the direction the other reading of its shadows gives (``_banded_direction``)."""
    shade_blue: float = 0.0
    """Blue over red of the light its shadows get, relative to the key's (``_implied_ambient_blue``):
    SKY_BLUE_MIN and more, an open sky's; a darker material's bands imply the key's own colour."""
    clear_sky: bool = False
    """The frames saw a clear daylight sky above the horizon (``is_clear_sky``): a sun shines,
    and shadow edges up to the saturated reading may be its (``hard_bound``)."""
    banded: bool = False
    """The direction was read off the shadows below a darker material's bands (``_below_bands``):
    kept only where an occluder's height over its shadow's length confirms it (shot.py)."""
    from_occluders: bool = False
    """The direction is the way an occluder's shadow runs longest (``take_occluders_direction``)."""
    unread_bands: bool = False
    """On ground banded with a darker material, no shadow's shape gave the direction
    (``_no_banded_direction``): the occluders' shadow lengths may (shot.direction_from_occluders)."""
    canopy: bool = False
    """The ground reads as a canopy of blades (envmap.canopy_albedo, set by shot.estimate_light):
    a product put down there stands among them (``vanelia run --ground-cover``)."""
    far: bool = False
    """The direction was read on the wider ground alone (``direction_from_wider_ground``)."""
    shapeless: bool = False
    """The levels made a hard key, but no shadow on the near grid gave it a direction (none
    elongated, none at an occluder's foot): the wider ground may (``direction_from_wider_ground``)."""
    shapes_direction: list[float] | None = None
    """The direction the shadows' shapes gave, where the feet's shadows turned the key away from it
    (shot.turn_to_feet_shadows): what the readings at other scales are checked against."""
    least_elevation: tuple[float, str] | None = None
    """(degrees, note): how high the occluders' heights in view over their short shadows' reach
    put the sun at least (``elevation.short_shadows_elevation``, no exact height): raises an
    elevation still assumed once every measurement was tried (``raise_assumed_elevation``)."""
    lamp_beside: bool = False
    """A lamp's pool lights the ground beside the key's (shot.daylight_beside_pool,
    shot.sun_without_lamp_shadows): its light may end a sun's shadow short of its tip."""
    classes: GroundClasses | None = field(default=None, repr=False)
    """The rectified ground's classes it was read from (for the local-source fit)."""
    why: str = ""


@dataclass
class GroundGrid:
    """A top-down grid on the ground plane centred on ``centre``; accumulates rectified frames."""

    centre: np.ndarray
    normal: np.ndarray
    half_m: float = GRID_M
    size: int = GRID_PX
    lens: bool = True
    """Read each frame's own blur and pixel footprint (``lens_width_m``): the shadow edges' width
    needs them; a grid read only for the shadows' shapes (the wider ground) does not."""

    def __post_init__(self) -> None:
        n = self.normal / np.linalg.norm(self.normal)
        ref = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        e1 = ref - n * (ref @ n)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(n, e1)
        self.e1, self.e2, self.n = e1, e2, n
        t = (np.arange(self.size) + 0.5) / self.size * 2 * self.half_m - self.half_m
        gx, gy = np.meshgrid(t, -t)  # row 0 = +e2 (top-down map, e1 right)
        self.points = self.centre[None, None, :] + gx[..., None] * e1 + gy[..., None] * e2
        self.metres_per_px = 2 * self.half_m / self.size
        self.frames: list[np.ndarray] = []
        self.cam_xy: list[np.ndarray] = []
        self.cam_height: list[float] = []
        self.footprints: list[np.ndarray] = []
        self.lens_px: list[float] = []

    def to_grid(self, p: np.ndarray) -> np.ndarray:
        """(col, row) of a world point's foot on the grid (cell centres at integers); for N
        points (N x 3), a 2 x N array."""
        d = np.asarray(p, np.float64) - self.centre
        return np.array([(d @ self.e1 + self.half_m) / self.metres_per_px - 0.5, (self.half_m - d @ self.e2) / self.metres_per_px - 0.5])

    def along_grid(self, v: np.ndarray) -> np.ndarray:
        """A world vector's horizontal part as a grid direction (col right = e1, row down = -e2):
        the one place the map's row axis is turned round for directions, as ``to_grid`` does
        for points."""
        d = np.asarray(v, np.float64)
        return np.array([float(d @ self.e1), -float(d @ self.e2)])

    def along_world(self, g: np.ndarray) -> np.ndarray:
        """A grid direction (col, row) as a horizontal world vector: ``along_grid`` undone."""
        return float(g[0]) * self.e1 - float(g[1]) * self.e2

    def add(self, image: np.ndarray, cam: FrameCamera, scale: float = 1.0) -> None:
        c2w = np.asarray(cam.c2w, np.float64)
        h, w = image.shape[:2]
        pc = (self.points - c2w[:3, 3]) @ c2w[:3, :3]
        z = pc[..., 2]
        ok = z > 0.05
        zs = np.where(ok, z, 1.0)
        u = (cam.fx * pc[..., 0] / zs + cam.cx) * scale - 0.5
        v = (cam.fy * pc[..., 1] / zs + cam.cy) * scale - 0.5
        ok &= (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
        rect = cv2.remap(image.astype(np.float32), u.astype(np.float32), v.astype(np.float32), cv2.INTER_LINEAR)
        rect[~ok] = np.nan
        self.frames.append(rect)
        self.cam_xy.append(self.to_grid(c2w[:3, 3]))
        self.cam_height.append(float((c2w[:3, 3] - self.centre) @ self.n))
        if not self.lens:
            return
        self.footprints.append(np.where(ok[..., None], _pixel_footprint(u, v), np.nan))
        blur = lens_blur_px(image)
        if blur is not None:
            self.lens_px.append(blur)

    def lens_width_m(self, cols: np.ndarray, rows: np.ndarray, along: np.ndarray) -> np.ndarray:
        """10-90 % width (metres) the plate's own blur (the frames' median ``lens_px``) gives an
        edge on the ground at these cells, across it along ``along`` (N x 2 unit (col, row)):
        a pixel of blur covers more ground the more grazing the view. Zero on sharp plates."""
        blur = float(np.median(self.lens_px)) if self.lens_px else 0.0
        if blur <= 0 or not self.footprints:
            return np.zeros(len(cols))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # cells no frame saw
            fp = np.nanmedian(np.stack([f[rows, cols] for f in self.footprints]), axis=0)
        var = fp[:, 0] * along[:, 0] ** 2 + 2 * fp[:, 1] * along[:, 0] * along[:, 1] + fp[:, 2] * along[:, 1] ** 2
        return np.nan_to_num(GAUSS_10_90 * blur * np.sqrt(np.maximum(var, 0.0)) * self.metres_per_px)


GAUSS_10_90 = 2.563
"""10-90 % width of a Gaussian-blurred step in sigmas."""


def _pixel_footprint(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per cell, (J^T J)^-1 of the image's pixels per grid cell J (S x S x 3: its entries 00, 01,
    11, in cells^2 per px^2): an isotropic image blur of sigma px spreads over the ground with
    covariance sigma^2 (J^T J)^-1."""
    du_r, du_c = np.gradient(u.astype(np.float64))
    dv_r, dv_c = np.gradient(v.astype(np.float64))
    a, b, d = du_c**2 + dv_c**2, du_c * du_r + dv_c * dv_r, du_r**2 + dv_r**2
    det = np.maximum(a * d - b * b, 1e-12)
    return np.stack([d / det, -b / det, a / det], -1).astype(np.float32)


def _lum(x: np.ndarray) -> np.ndarray:
    return x[..., 0] * LUMA[0] + x[..., 1] * LUMA[1] + x[..., 2] * LUMA[2]


def _same_material(med: np.ndarray, ground: np.ndarray, max_dist: float = 0.45) -> np.ndarray:
    """Cells whose chromaticity is the ground's (median over the patch): a cast shadow keeps the
    ground's colour up to a bluish/warm shift, the smear of a box of another colour does not."""
    chroma = np.log(np.maximum(med, 1e-4)) - np.log(np.maximum(_lum(med), 1e-4))[..., None]
    if ground.sum() < 10:
        return ground
    ref = np.median(chroma[ground], axis=0)
    return np.linalg.norm(chroma - ref, axis=-1) < max_dist


def _otsu(values: np.ndarray) -> float:
    v8 = np.clip((values - values.min()) / max(float(np.ptp(values)), 1e-6) * 255, 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(v8.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(values.min() + t / 255.0 * np.ptp(values))


@dataclass
class GroundClasses:
    """The rectified ground split into what stands on it, flat ground, and its dark/lit classes."""

    med: np.ndarray  # S x S x 3 temporal median (0 where unseen)
    smooth: np.ndarray  # smoothed log luminance of the flat ground
    ground: np.ndarray  # flat ground of the patch's own material
    objects: np.ndarray  # what stands on the ground (smeared by the rectification)
    dark: np.ndarray
    lit: np.ndarray
    thresh: float
    steady: np.ndarray  # cells every frame (but a few) shows alike: ground seen as ground


def classify(grid: GroundGrid) -> GroundClasses | str:
    """The ground classes of the rectified frames, or why there are none (too little ground)."""
    stack = np.stack(grid.frames)  # F x S x S x 3, nan where unseen
    seen = np.isfinite(stack[..., 0])
    enough = seen.sum(0) >= max(1, len(grid.frames) // 2)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: ground no frame saw
        median = np.nanmedian(stack, axis=0)
        dev = np.abs(_lum(stack) - _lum(median)[None]) / np.maximum(_lum(median), 1e-3)[None]
        spread = np.nanmedian(dev, axis=0)
        steady = (np.where(seen, dev <= STEADY_TOLERANCE, False).sum(0) >= STEADY_FRACTION * np.maximum(seen.sum(0), 1)) & enough
    if enough.sum() < 200:
        return "too little ground seen around the product"
    spread = np.where(enough, spread, 0)
    off_plane = enough & (spread > max(0.12, 4 * float(np.median(spread[enough]))))
    off_plane = cv2.morphologyEx(off_plane.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    ground = enough & ~cv2.dilate(off_plane.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    med = np.where(enough[..., None], median, 0)
    same = _same_material(med, ground)
    objects = (enough & ~same) | off_plane
    ground &= same
    smooth = masked_blur(np.log(np.maximum(_lum(med), 1e-4)), ground, 0.1 / grid.metres_per_px, eps=1e-4)[0]
    if ground.sum() < 200:
        return "too little flat ground seen"
    t = _otsu(smooth[ground])
    return GroundClasses(med, smooth, ground, objects, ground & (smooth < t), ground & (smooth >= t), t, steady)


def edge_pairs(c: GroundClasses, m_per_px: float, max_pairs: int = 3000,
               grid: GroundGrid | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paired samples across the ground's luminance edges: (bright-side colour, N x 3;
    dark-side colour, N x 3; 10-90 % width of the edge in metres, N; (col, row) of the edge,
    N x 2; the part of that width the plate's own blur makes there, N: ``GroundGrid.lens_width_m``
    with the ``grid``, else zeros).

    The same ground just inside and just outside a cast shadow's edge (PAIR_OFFSET_M either
    side, along the luminance gradient) differs only by the light: such a pair's ratio is the
    lit/shadow ratio whatever the ground's albedo. Edges are the ridges of the gradient, not
    the boundary of one dark class, so a darker stain or smear beside a shadow makes pairs of
    its own ratio instead of shifting the shadow's. The profile between the two samples gives
    the edge's width (the penumbra)."""
    sigma = 0.75
    fine = masked_blur(np.log(np.maximum(_lum(c.med), 1e-4)), c.ground, sigma, eps=1e-4)[0]
    rgb = np.stack([masked_blur(c.med[..., i], c.ground, sigma, eps=1e-4)[0] for i in range(3)], -1)
    gy, gx = np.gradient(c.smooth)
    mag = np.where(c.ground, np.hypot(gx, gy), 0).astype(np.float32)
    ridge = (mag >= 0.8 * cv2.dilate(mag, np.ones((5, 5), np.uint8))) & (mag > math.log(1.3) / (0.25 / m_per_px))
    ys, xs = np.nonzero(ridge)
    if len(ys) > max_pairs:
        keep = np.linspace(0, len(ys) - 1, max_pairs).astype(int)
        ys, xs = ys[keep], xs[keep]
    g = np.stack([gx[ys, xs], gy[ys, xs]], 1)
    g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-9)
    off = max(PAIR_OFFSET_M / m_per_px, 2.0)
    steps = np.linspace(-off, off, 2 * int(round(off)) + 1)
    px = (xs[:, None] + g[:, 0:1] * steps[None]).astype(np.float32)
    py = (ys[:, None] + g[:, 1:2] * steps[None]).astype(np.float32)
    s = c.ground.shape[0]
    ends = ((px >= 0) & (px <= s - 1) & (py >= 0) & (py <= s - 1)).all(axis=1)
    ix, iy = np.clip(np.round(px), 0, s - 1).astype(int), np.clip(np.round(py), 0, s - 1).astype(int)
    ends &= c.ground[iy, ix].all(axis=1)  # the whole profile on flat ground: no object crossed
    if not ends.any():
        return np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros((0, 2)), np.zeros(0)
    px, py, ix, iy, xs, ys = px[ends], py[ends], ix[ends], iy[ends], xs[ends], ys[ends]
    prof = cv2.remap(fine.astype(np.float32), px, py, cv2.INTER_LINEAR)
    step = prof[:, -1:] - prof[:, :1]
    frac = (prof - prof[:, :1]) / np.where(np.abs(step) > 1e-6, step, 1e-6)
    width = ((frac > 0.1) & (frac < 0.9)).sum(axis=1) * (steps[1] - steps[0]) * m_per_px
    lens = grid.lens_width_m(xs, ys, g[ends]) if grid is not None else np.zeros(len(xs))
    return rgb[iy[:, -1], ix[:, -1]], rgb[iy[:, 0], ix[:, 0]], width, np.stack([xs, ys], 1), lens


@dataclass
class Mode:
    """The key's shadow ratio among the edge pairs (``_mode_cluster``)."""

    pairs: np.ndarray
    """Mask of the pairs around it."""
    note: str = ""
    """Said when it is not the densest ratio."""
    band_ratio: float | None = None
    """The densest ratio then (a darker material's bands: ``_below_bands``)."""
    sky_shade: bool = False
    """It was taken for its shade lit by an open sky."""


MODE_HALF_WIDTH = 0.15
"""Half-width (log) of a mode of the edge pairs' lit/shadow ratios (``_mode_cluster``): the pairs
this near its ratio are its own, and a ratio this near another's is the same mode."""


def _mode_cluster(log_ratio: np.ndarray, weight: np.ndarray, per_channel: np.ndarray, sky_shade: bool = True,
                  half_width: float = MODE_HALF_WIDTH, foot: np.ndarray | None = None, width: np.ndarray | None = None,
                  pass_warm: bool = False) -> Mode:
    """The pairs around the key's shadow ratio, and when it is not the densest, why and the
    densest's ratio (``Mode``).

    One key makes one lit/shadow ratio on one ground, so the pairs pile up round it; the pairs
    of stains, smears and albedo edges scatter round it or form other modes. The densest
    (weighted) mode wins - unless, by daylight (``sky_shade``: at night the deeper, bluer pairs
    are the rims of lamps' pools, and a sun made of them is wrong, eval insert night seed 3:
    -1.4 dB), another mode is the shadows' by one of two signs:

    * it is deeper, holds SKY_MODE_SHARE of the weight and is lit by a clearly bluer ambient
      (SKY_BLUE_MIN, and SKY_BLUER times bluer than the densest). The ambient a mode implies is
      1 / (lit/shadow - 1) per channel: what lights the shadowed side relative to what the key
      adds. A cast shadow is lit by the sky (and fill) alone, which is bluer than a sun; a band
      of darker material (mortar, paving, a stain) darkens all light alike and implies an
      ambient of the key's own colour. Measured: the sun sets' shadows imply a blue/red of
      2.0-2.8, the tiles' mortar 1.0-1.7.
    * its edges start at the occluders' feet (``foot``: the pairs within FOOT_EDGE_M of a base):
      it holds most of those pairs (the densest holds under FOOT_SHARE of its count there) and
      its shade is no warmer than the key (FOOT_BLUE_MIN; a dark object's own smear at its foot
      is), and the densest's edges are a material's, sharp (HARD_PENUMBRA_M; a soft light's
      wide gradient is no band, and the feet of a room's furniture hold their contact shade:
      interior seed 40, 2.8 against the floor's 1.9). A cast shadow begins where its occluder
      stands on the ground; a band of paving runs past a pillar only where it happens to.
      Where the bands are themselves a bluish grey, the colour cannot tell them (sun_high
      seeds 20-22: bands 1.68, shade blue/red 2.1; the pillars' shadows 2.5 at their feet, 104
      pairs there against 27).

    With ``pass_warm`` (by daylight, off vegetation) a mode whose shade is warmer than its light
    (WARM_SHADE_BLUE) is passed over first, whatever its density: a sky-lit shadow is never
    warmer than the sun. Under leaves it may be (light through them: envmap.canopy_albedo reads
    the canopy from that very shade)."""
    bins = np.arange(0.0, float(log_ratio.max()) + 0.1, 0.025)
    smooth = lambda w: np.convolve(np.histogram(log_ratio, bins, weights=w)[0], np.ones(int(2 * half_width / 0.025) + 1), mode="same")
    around = lambda i: np.abs(log_ratio - (bins[i] + 0.0125)) <= half_width
    ratio_at = lambda i: math.exp(bins[i] + 0.0125)
    dens = smooth(weight)
    top = int(np.argmax(dens))
    warm_note = ""
    while pass_warm and _implied_ambient_blue(per_channel[around(top) & (weight > 0)]) < WARM_SHADE_BLUE:
        rest = np.where(around(top), 0.0, weight)  # a warm material's edges: not the sky-lit shadows
        if (rest > 0).sum() < MIN_PAIRS:
            break
        warm_note = warm_note or f"; a warmer shade at lit/shadow {ratio_at(top):.2f} passed over (a warm material's edges, not the sky's shadows)"
        weight, dens = rest, smooth(rest)
        top = int(np.argmax(dens))
    best = around(top) & (weight > 0) if warm_note else around(top)
    note = ""
    sky = False
    blue = _implied_ambient_blue(per_channel[best])
    for i in range(top + 1, len(dens) - 1 if sky_shade else 0):
        if not (dens[i] >= dens[i - 1] and dens[i] > dens[i + 1] and dens[i] >= SKY_MODE_SHARE * dens[top]):
            continue
        m = around(i)
        b = _implied_ambient_blue(per_channel[m])
        if m.sum() >= MIN_PAIRS and b >= SKY_BLUE_MIN and b >= SKY_BLUER * blue:
            best, note, blue, sky = m, (f"{MODE_NOTE} {ratio_at(i):.2f} taken over the commoner "
                                        f"{ratio_at(top):.2f} (its shade is sky-blue, the other a darker material's)"), b, True
    if sky_shade and not note and foot is not None and width is not None and float(np.median(width[best])) <= HARD_PENUMBRA_M:
        on_foot = foot & (weight > 0)
        i = int(np.argmax(smooth(on_foot.astype(np.float64))))
        m = around(i)
        if (abs(i - top) * 0.025 > 2 * half_width and (m & on_foot).sum() >= MIN_PAIRS
                and (best & on_foot).sum() < FOOT_SHARE * (m & on_foot).sum() and _implied_ambient_blue(per_channel[m]) >= FOOT_BLUE_MIN):
            best, note = m, (f"{MODE_NOTE} {ratio_at(i):.2f} taken over the commoner {ratio_at(top):.2f} (its edges start at "
                             "the occluders' feet, the other's are a darker material's)")
    return Mode(best, note + warm_note, ratio_at(top) if note else None, sky)


MODE_NOTE = "; shadow ratio"
"""How the note of a shadow ratio taken over the commoner one begins."""
FOOT_EDGE_M = 0.3
"""A shadow-edge pair lies at an occluder's foot within this of its base (``_occluder_bases``)."""
FOOT_SHARE = 0.5
FOOT_BLUE_MIN = 1.0
"""Least blue/red of the ambient a mode at the occluders' feet implies to be their shadows: by
daylight a shade is bluer than the key (the sky); the dark lower parts of objects, smeared onto
the ground at their feet, imply 0.8-0.9 (sun_high seed 20)."""


WARM_SHADE_BLUE = 0.8
"""By daylight, a mode whose shade implies an ambient this much warmer than the key (blue/red
relative to it; ``_implied_ambient_blue``) is no cast shadow: a shadow is lit by the sky, bluer
than the sun. Sun_high seed 113: its densest mode (lit/shadow 3.28, blue/red 0.45) was a warm
material's edges; keyed from it at strength 7.7 in cyan (the per-channel ratio inverted), its
duck lit flat; the shadows' own mode lay at 1.76 (blue/red 1.75). The dark feet of objects
smeared onto the ground imply 0.8-0.9 (FOOT_BLUE_MIN). Not on vegetation: the shade under a
canopy of blades is warmer than its lit tips, and the canopy is read from it (envmap.canopy_albedo)."""
SKY_MODE_SHARE = 0.25
SKY_BLUE_MIN = 1.8
"""Blue/red of the ambient a cast shadow under open sky implies (the truth sets: 2.0-2.8; their
mortar 1.0-1.7, a window-lit room 1.54)."""
SKY_BLUER = 1.2

ENV_ONLY = "; environment only"
"""Said of a soft light with no key; shot.py drops it where a window (window.py) gives one."""

DAYLIGHT_SKY = 0.5
"""A sky seen at less than this of the lit ground's luminance (90th percentile) is no daylight
(the truth sets: daylight 1.0-3.8, night 0.23-0.29, rooms' walls 0.36-0.54)."""


NIGHT_SKY = 0.35
"""What the frames saw above the horizon is a night (a dark sky over lamp-lit streets and
fronts) when its median is under this of the lit ground's luminance (90th percentile). The
truth sets: night 0.11-0.33, rooms lit from the ceiling 0.37-0.48, window-lit rooms 0.5-0.98,
daylight 0.6 and more; the night-street clip 0.24, the darkest daylight clip (bear-rocks) 0.58."""


def _implied_ambient_blue(per: np.ndarray) -> float:
    """Blue over red of the light a mode's shadowed side gets, relative to the key's colour."""
    if len(per) == 0:
        return 0.0
    q = np.maximum(np.median(per, axis=0) - 1.0, 1e-3)
    return float(q[0] / q[2])


def is_daylight(horizon_lum: float, classes: GroundClasses) -> bool:
    """Whether what the frames saw above the horizon (its median luminance) is a daylight sky:
    at least DAYLIGHT_SKY of the lit ground's (its 90th percentile), not a night sky or a room's walls."""
    return horizon_lum >= DAYLIGHT_SKY * _lit_ground_lum(classes)


def is_night(horizon_lum: float, classes: GroundClasses) -> bool:
    """Whether what the frames saw above the horizon is a night sky (NIGHT_SKY): darker than a
    room's walls, as well as no daylight."""
    return horizon_lum < NIGHT_SKY * _lit_ground_lum(classes)


CLEAR_SKY_BLUE = 1.2
"""A daylight sky seen at least this much bluer than red (median over what the frames saw above
the horizon) is a clear sky: an overcast one is grey (the truth sets' 1.02-1.04), a clear one blue
(1.31-1.42; paragliding-hill 2.1). A canopy of leaves (park-market-sun 0.73) or a room's walls
(0.43-0.79) read lower, a night sky bluer (1.84) but no daylight."""


def is_clear_sky(sky_rgb: np.ndarray | None) -> bool:
    """Whether what the frames saw above the horizon is blue (CLEAR_SKY_BLUE): by daylight
    (``is_daylight``, the caller's to judge) a clear sky, under which the sun shines; whether on
    the ground round the product its shadows say."""
    if sky_rgb is None:
        return False
    rgb = np.asarray(sky_rgb, np.float64)
    return bool(rgb[2] >= CLEAR_SKY_BLUE * max(float(rgb[0]), 1e-6))


GREY_SKY_TINT = 0.08
"""What the frames saw above the horizon is grey - an overcast sky - when its green and its blue
each lie within this of its red (relative): the truth sets' overcast skies 0.00-0.04, a clear
sky's blue 0.31 and more, a sunset's warm glow or a room's walls well under red's."""


def is_grey_sky(sky_rgb: np.ndarray | None) -> bool:
    """Whether the frames saw a grey sky (GREY_SKY_TINT): an overcast one, whose clipped patches
    are bright cloud, not the sun (``shot.sun_in_view``), and under which by daylight no sun
    casts the ground's darker patches (``estimate_key``: held-out overcast_grass seed 183 of
    stop 54 made a hard key of one, +3.8 dB where its kind scores +13 to +18)."""
    if sky_rgb is None:
        return False
    rgb = np.maximum(np.asarray(sky_rgb, np.float64), 1e-6)
    return bool(np.abs(rgb[1:] / rgb[0] - 1.0).max() <= GREY_SKY_TINT)


def _lit_ground_lum(classes: GroundClasses) -> float:
    """The lit ground's luminance (the flat ground's 90th percentile): what the sky seen above the
    horizon is measured against."""
    return float(np.percentile(_lum(classes.med[classes.ground]), 90))


def estimate_key(grid: GroundGrid, horizon_lum: float | None = None, sky_rgb: np.ndarray | None = None) -> KeyEstimate:
    """The key light from the rectified frames (see the module docstring). ``horizon_lum``:
    the median luminance the frames saw above the horizon (None: no sky seen); a sky darker
    than DAYLIGHT_SKY of the lit ground is no daylight, and a sky-blue shade says nothing there.
    ``sky_rgb``: its median colour (None: too little seen); a clear sky lets wider shadow edges
    be a sun's (``is_clear_sky``, ``hard_bound``)."""
    c = classify(grid)
    if isinstance(c, str):
        return KeyEstimate(False, 1.0, why=c)
    frac = float(c.dark.sum() / c.ground.sum())
    ground_rgb = _near_ground(c, grid)
    lit, dark, width, at, lens = edge_pairs(c, grid.metres_per_px, grid=grid)
    per = lit / np.maximum(dark, 1e-4)
    # a shadow darkens the same ground in every channel (a warm key, a bluer fill: a moderate
    # spread); a dark object or material of another colour does not
    good = (per.min(axis=1) >= 1.15) & (per.max(axis=1) / np.maximum(per.min(axis=1), 1e-6) <= MAX_TINT_SPREAD)
    est = KeyEstimate(False, 1.0, shadow_fraction=frac, ground_rgb=ground_rgb.tolist(), classes=c)
    if good.sum() < MIN_PAIRS:
        est.why = f"soft light: {int(good.sum())} shadow-edge pair(s) of {len(per)}, shadowed fraction {frac:.2f}"
        return est
    lr = np.log(_lum(lit) / np.maximum(_lum(dark), 1e-4))
    # a cast shadow starts at its occluder: edges near what stands on the ground count most
    # (an albedo edge - tile and mortar, a stain - lies anywhere)
    near = _within(grid, c.objects, at, OCCLUDER_NEAR_M)
    seen_daylight = horizon_lum is not None and is_daylight(horizon_lum, c)
    daylight = horizon_lum is None or seen_daylight
    foot = _within(grid, _occluder_bases(grid, c.objects), at, FOOT_EDGE_M)
    from .envmap import is_vegetation  # envmap -> clear_sky -> sun_disc -> key: imported when called

    mode = _mode_cluster(np.where(good, lr, -1.0), np.where(near, 1.0, FAR_EDGE_WEIGHT) * good, per, sky_shade=daylight, foot=foot, width=width,
                         pass_warm=daylight and not is_vegetation(ground_rgb))
    est.clear_sky = seen_daylight and is_clear_sky(sky_rgb)
    if est.clear_sky:
        mode = _sky_blue_shadows(c, grid, good, mode, lit, lr, per, at)
    good &= mode.pairs
    sh_rgb = np.median(dark[good], axis=0)
    ratio_rgb = np.median(per[good], axis=0)
    est.ratio = float(np.exp(np.median(lr[good])))
    est.shadow_rgb, est.lit_rgb = sh_rgb.tolist(), (sh_rgb * ratio_rgb).tolist()
    est.penumbra_m, est.measured = float(np.median(width[good])), True
    est.lens_m = float(np.median(lens[good]))
    est.shade_blue = _implied_ambient_blue(per[good])
    night = horizon_lum is not None and is_night(horizon_lum, c)
    _judge_hard(grid, c, est, int(good.sum()), band_ratio=mode.band_ratio, night=night,
                overcast=seen_daylight and is_grey_sky(sky_rgb))
    est.why += mode.note
    est.sky_shade = mode.sky_shade
    return est


def sky_shadow_cells(c: GroundClasses, lit_rgb: np.ndarray) -> np.ndarray:
    """The flat ground lit by the open sky alone: cells darker than the lit ground (by SKY_CELL_DARK
    in log) and bluer than the ground's own colour (its median blue/red over the flat ground, by
    SKY_CELL_BLUER in log). Under a clear sky a cast shadow keeps the sky's light and loses the
    sun's, so it turns bluer whatever the material it falls on; a band of darker paving, its
    mortar or a stain is darker in every channel alike. Sun_high tiles (the truth sets): the
    occluders' shadows on the tiles and on the bands shift 0.3-0.6, the bands themselves 0.0-0.3."""
    g = c.ground & c.steady
    m = np.maximum(c.med, 1e-4)
    blue_red = np.log(m[..., 2] / m[..., 0])
    own = float(np.median(blue_red[g])) if g.any() else 0.0
    lit = math.log(max(float(_lum(np.asarray(lit_rgb))), 1e-4))
    return g & (blue_red - own > SKY_CELL_BLUER) & (c.smooth < lit - SKY_CELL_DARK)


SKY_CELL_BLUER = 0.25
"""How much bluer (log blue/red) than the ground's own colour a sky-lit cell is at least."""
SKY_CELL_DARK = 0.3
"""How much darker (log luminance) than the lit ground a sky-lit cell is at least."""


def _sky_blue_shadows(c: GroundClasses, grid: GroundGrid, good: np.ndarray, mode: Mode, lit: np.ndarray,
                      lr: np.ndarray, per: np.ndarray, at: np.ndarray) -> Mode:
    """Under a clear sky, where the edge pairs' densest ratio (``mode``) is no sky-lit shade (its
    implied ambient under SKY_BLUE_MIN): the densest ratio of the pairs at the sky-lit cells
    (``sky_shadow_cells``; less the densest's own, the bands' edges beside them) is the
    shadows', and the densest a darker material's bands (``Mode.band_ratio``), where it is
    deeper and its shade clearly bluer (SKY_BLUER times, and at least SKY_BLUE_MIN, as
    ``_mode_cluster``'s own sky rule asks); else ``mode`` unchanged. The pairs at the bands'
    edges near the occluders outnumber a high sun's short shadows' (sun_high tiles: the shadows'
    mode held 5-11 % of the weight), and taken for the shadows they put a product standing on a
    band in the shade (10 of the 26 truth sets, their ducks sunlit). A sun's shadows filled by
    a warm practical lamp are nearly sky-blue already (held-out mixed seed 187: 1.80) and stay."""
    densest = good & mode.pairs
    densest_blue = _implied_ambient_blue(per[densest])
    if mode.band_ratio is not None or densest_blue >= SKY_BLUE_MIN:
        return mode
    ratio = float(np.exp(np.median(lr[densest])))
    lit_rgb = np.median(lit[densest], axis=0)
    near = good & _within(grid, sky_shadow_cells(c, lit_rgb), at, SKY_PAIR_M) & (np.abs(lr - math.log(ratio)) > MODE_HALF_WIDTH)
    if near.sum() < MIN_PAIRS:  # (the commoner ratio's pairs beside the sky-lit cells are the bands' edges there)
        return mode
    sub = _mode_cluster(np.where(near, lr, -1.0), near.astype(np.float64), per, sky_shade=False).pairs & near
    deeper = math.exp(float(np.median(lr[sub])))
    blue = _implied_ambient_blue(per[sub])
    if sub.sum() < MIN_PAIRS or deeper <= ratio or blue < max(SKY_BLUE_MIN, SKY_BLUER * densest_blue):
        return mode  # a shallower ratio (the commoner is the shadows' own, less blue), or no clearly bluer, sky-lit shade
    return Mode(sub, f"{MODE_NOTE} {deeper:.2f} taken over the commoner {ratio:.2f} (its shade is sky-blue, the other a darker material's)",
                ratio, True)


SKY_PAIR_M = 0.1
"""An edge pair belongs to a sky-lit cell this close (its dark sample lies PAIR_OFFSET_M across the edge)."""


def cells_near(grid: GroundGrid, mask: np.ndarray, metres: float) -> np.ndarray:
    """The grid cells within ``metres`` of ``mask`` on the ground."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5) * grid.metres_per_px < metres


def _within(grid: GroundGrid, mask: np.ndarray, at: np.ndarray, metres: float) -> np.ndarray:
    """Which grid cells ``at`` ((col, row), N x 2) lie within ``metres`` of ``mask`` on the ground."""
    return cells_near(grid, mask, metres)[at[:, 1], at[:, 0]]


SATURATED_PENUMBRA_M = 0.17
"""Edge widths reach 0.18 m and no further (the pair's profile, 2 x PAIR_OFFSET_M, in 3 cm
steps): an edge read that wide may be any wider, a window's as well as a lens-blurred sun's,
so the plate's blur never lifts the bound to it (interior seed 110 through a 1.2 px lens: its
window's 18 cm edges, less the lens, passed for a sun's: -1.1 dB)."""


LENS_NOTE_M = 0.02
"""The plate's own part of the edges' width is named in the note from this on (sharp plates read
a few millimetres)."""


def hard_bound(est: KeyEstimate, night: bool = False) -> float:
    """The widest shadow edges a sun's (by night a lamp's) make in this plate: HARD_PENUMBRA_M
    (NIGHT_PENUMBRA_M) and the plate's own blur in quadrature (``est.lens_m``), never as wide
    as the edges' saturated reading (SATURATED_PENUMBRA_M). Under a clear sky (``est.clear_sky``)
    any edge short of that reading: a sun's penumbra widens by a centimetre per metre from its
    occluder, so a tree's crown, a hillside's tussocks or a building across the street throw
    edges of 10-20 cm, and real footage adds its compression and lens (paragliding-hill's sunlit
    grass reads 15 cm, as wide as a window's pool of light in a room); no window or lamp lights
    the ground under an open blue sky as strongly as the sun does."""
    if est.clear_sky and not night:
        return SATURATED_PENUMBRA_M
    base = NIGHT_PENUMBRA_M if night else HARD_PENUMBRA_M
    return max(base, min(math.hypot(base, est.lens_m), SATURATED_PENUMBRA_M))


def soft_edges(est: KeyEstimate, night: bool = False) -> bool:
    """Whether the plate's measured shadow edges are wider than a sun's make (a street lamp's by
    night; ``hard_bound``): whatever lights the ground is a large source."""
    return est.measured and est.penumbra_m > hard_bound(est, night)


def _judge_hard(grid: GroundGrid, c: GroundClasses, est: KeyEstimate, pairs: int, band_ratio: float | None = None, night: bool = False,
                overcast: bool = False) -> None:
    """Hard key or soft light from the measured levels (ratio, edge width, shadowed fraction)
    and the shadows' shapes (direction); the reason goes in ``est.why``. ``band_ratio``: the
    shadow was told from bands of darker material of this lit/band ratio (by its colour or its
    occluders' feet: ``_mode_cluster``); at the shadows' midpoint level the bands' long straight
    shapes would give the direction (sun_high seeds 3 and 5: 17 and 79 degrees off, -0.8 and -3.9
    dB against no key), so the direction is read below the bands' level (``_below_bands``), from
    one occluder's foot on (a high sun's shadows are short), and kept only where a shadow's
    length then confirms it (``confirm_banded``; at an assumed elevation the cut cost 5-6 dB on
    sun_high seeds 20 and 23, and 4.3 on seed 124). Sun_high seed 112: 21.50 -> 24.68 dB.
    ``night``: the frames saw a night sky (the edges' bound is NIGHT_PENUMBRA_M). ``overcast``:
    they saw a grey daylight sky (``is_grey_sky``), under which no sun casts the shadows."""
    pen, frac = est.penumbra_m, est.shadow_fraction
    if soft_edges(est, night):
        lens = f", {est.lens_m * 100:.0f} of them the plate's own blur" if est.lens_m >= LENS_NOTE_M else ""
        est.why = f"soft light: shadow edges {pen * 100:.0f} cm wide{lens} (lit/shadow {est.ratio:.2f}): a large source, not a sun{ENV_ONLY}"
        est.wide_edges = True
        return
    least = MIN_SKY_LIT_SHADOWED if est.clear_sky and est.shade_blue >= SKY_BLUE_MIN else MIN_SHADOWED
    if est.ratio < HARD_RATIO or not least <= frac <= MAX_SHADOWED:
        est.why = f"soft light: lit/shadow ratio {est.ratio:.2f} over {pairs} edge pairs, shadowed fraction {frac:.2f}"
        return
    if _grass_own_shade(est):
        est.why = (f"soft light: the darker patches of the lawn (lit/shadow {est.ratio:.2f}) are greener than the rest, not bluer: "
                   f"the grass's own, not cast shadows{ENV_ONLY}")
        return
    if band_ratio is not None:
        if not _banded_direction(grid, c, est, band_ratio):
            _no_banded_direction(est)
            est.unread_bands = True
            return
    elif not _direction(grid, est, _cast_shadows(c, est, grid), c.objects):
        est.why = (f"no elongated cast shadow (lit/shadow {est.ratio:.2f} over {pairs} edge pairs): nothing gives a hard key's "
                   "direction; environment only")
        est.direction = est.elevation_deg = None
        est.shapeless = not overcast
        return
    _finish_hard(grid, c, est, overcast)


def _finish_hard(grid: GroundGrid, c: GroundClasses, est: KeyEstimate, overcast: bool = False) -> None:
    """A hard key once its shadows gave a direction: not where the ratio is more than a sun makes
    and no occluder sides it (a pool of light), nor under a grey sky (``_judge_hard``)."""
    top = _sun_sky_limit(est.elevation_deg)
    if est.ratio > top and est.side_source == "assumed":
        est.why = (f"lit/shadow {est.ratio:.2f}, more than a sun and its sky make ({top:.2f}), and no occluder says where it comes "
                   "from: a local source's pool of light (a window, a lamp); environment only")
        est.direction = est.elevation_deg = None
        return
    if overcast:
        est.why = f"soft light: under a grey daylight sky (overcast) no sun casts the ground's darker patches (lit/shadow {est.ratio:.2f}){ENV_ONLY}"
        est.direction = est.elevation_deg = None
        return
    _make_hard(grid, c, est)
    if est.clear_sky and est.penumbra_m > HARD_PENUMBRA_M:
        est.why += f"; shadow edges {est.penumbra_m * 100:.0f} cm wide under a clear sky: a sun's, through far or ragged occluders"


def _banded_direction(grid: GroundGrid, c: GroundClasses, est: KeyEstimate, band_ratio: float) -> bool:
    """The key's direction on ground banded with a darker material, from the shadows at the
    occluders' feet (one is enough: a high sun's shadows are short), sided by them: under a
    clear sky first the sky-lit cells (``sky_shadow_cells``: the shadows on the paving and on
    its bands alike, and none of the bands), then the ground below the bands' level
    (``_below_bands``: its midpoint with the shadows' level cuts shadows on the bands in two
    and passes the bands' own darker edges). False when neither directs it."""
    tries = ([(sky_shadow_cells(c, np.asarray(est.lit_rgb)), "by their sky-lit shade")] if est.clear_sky else []) + [
        (_below_bands(c, est, band_ratio), "below its level")]
    for i, (dark, how) in enumerate(tries):
        if _direction(grid, est, dark, c.objects, min_bases=1) and est.side_source == "occluder":
            est.banded = True
            est.why = f"ground banded with a darker material (lit/{band_ratio:.2f}), shadows read {how}: " + est.why
            for other, _how in tries[i + 1 :]:  # what the other reading says, for a shadow length to choose (shot.measure_elevation)
                alt = copy.copy(est)
                if _direction(grid, alt, other, c.objects, min_bases=1) and alt.side_source == "occluder":
                    est.banded_alternative = alt.direction
            return True
    return False


def _grass_own_shade(est: KeyEstimate) -> bool:
    """Whether the shade the edge pairs measured on a green lawn is no bluer than its lit grass,
    relative to green (lit/shadow in blue at least that in green): a cast shadow on grass is lit
    by the sky, and its lit/shadow ratio is lowest in blue (the sun truth sets on grass: blue
    1.37-1.84 against green 1.73-2.06); patches of denser or greener grass darken red and blue
    more (dog-lawn: lit/shadow 1.63, 1.50, 1.60 made a hard key of them, and the duck cast a
    hard shadow on an overcast lawn)."""
    from .envmap import vegetation_shade_ratio  # envmap -> clear_sky -> sun_disc -> key: imported when called

    ratio = vegetation_shade_ratio(np.asarray(est.ground_rgb), np.asarray(est.lit_rgb), np.asarray(est.shadow_rgb))
    return ratio is not None and bool(ratio[2] >= ratio[1])


def _make_hard(grid: GroundGrid, c: GroundClasses, est: KeyEstimate) -> None:
    """A hard key from the measured levels: the plate's shadows as its visibility map, the
    ratio kept within what a sun makes, and whether the product stands in a cast shadow."""
    est.hard = True
    # the map reads the plate's levels as they are, before the ratio is clamped for the render
    vis = visibility_from_ground(c.med, c.ground, np.asarray(est.shadow_rgb), np.asarray(est.lit_rgb), grid.metres_per_px)
    est.shadow_map = KeyShadowMap(vis, grid.centre, grid.e1, grid.e2, grid.n, grid.half_m)
    clamp_ratio(est)
    judge_in_shadow(grid, est)


IN_SHADOW_NOTE = "; the product stands in a cast shadow"
PARTLY_NOTE = "; part of the product is in a cast shadow"


def judge_in_shadow(grid: GroundGrid, est: KeyEstimate) -> None:
    """Whether the product stands in the plate's cast shadow, for the key's present direction
    (again when a given or seen direction replaces the estimate's: the ground that says it lies
    away from the light). Not where the shade taken for the shadows' is no sky's (``unlit_by_sky``)."""
    est.why = est.why.replace(IN_SHADOW_NOTE, "").replace(PARTLY_NOTE, "").replace(NO_SKY_SHADE_NOTE, "")
    material = est.direction is not None and unlit_by_sky(est)
    if est.classes is None or est.direction is None or material:
        est.product_in_shadow = est.product_partly_in_shadow = False
        est.why += NO_SKY_SHADE_NOTE if material else ""
        return
    est.product_in_shadow, est.product_partly_in_shadow = _in_shadow(est.classes, grid, est)
    est.why += IN_SHADOW_NOTE if est.product_in_shadow else PARTLY_NOTE if est.product_partly_in_shadow else ""


NO_SKY_SHADE_NOTE = "; its shade is no clear sky's (a darker material's): nothing says the product stands in a cast shadow"


def unlit_by_sky(est: KeyEstimate) -> bool:
    """Whether the shade taken for the shadows' is a material's, not a cast shadow's: under the
    clear daylight sky the frames see (``clear_sky``) a cast shadow keeps the sky's light, so
    the ambient its shade implies is sky-blue (SKY_BLUE_MIN); a darker paving's band is dark in
    every channel alike. Where the sky-lit shadows were too few to win over the bands
    (``_sky_blue_shadows``: a high sun's short shadows), the bands' ratio stands for the
    shadows', and the ground under a product standing on a band matched it: "in a cast shadow"
    at the assumed elevation, its key was dropped (eval insert sun_high 336, 365, 378: the
    truth's ducks sunlit, their short shadows dark at their feet; no key: the duck lit flat).
    Where no sky is seen this cannot be told (sun_high 367, 368 stay keyless): a room's lamps
    shade its tiles no bluer than its bands. Nor where the plate shows too little sky-lit ground
    (MIN_SKY_LIT_CELLS of ``sky_shadow_cells``): light bounced off walls and street can fill real
    cast shadows until they are about as neutral as a band (car-shadow-street's sunlit street:
    implied blue/red 1.11, no sky-lit cell), and a product standing in one must stay in it."""
    if not (est.clear_sky and 0.0 < est.shade_blue < SKY_BLUE_MIN) or est.classes is None:
        return False
    return int(sky_shadow_cells(est.classes, np.asarray(est.lit_rgb)).sum()) >= MIN_SKY_LIT_CELLS


MIN_SKY_LIT_CELLS = 25
"""Ground cells (3 cm) a plate must show sky-lit (``sky_shadow_cells``: darker and bluer than the
ground's own colour) for a neutral shade to be a material rather than its shadows: a short
shadow's visible part (the sun_high sets whose product stood on a band: 29, 34 and 709). The
blue boxes of tests/ml/light's plaza, their feet smeared onto neutral shadows, make 21-22."""


def take_given_direction(grid: GroundGrid, est: KeyEstimate, direction: np.ndarray, source: str = "given") -> bool:
    """The key points where the artist or the track says (``--light-dir``, ``--key-from-shadow``,
    the panel): its elevation is then known, not assumed, so the strength is read at it, and a
    product in the plate's shadow keeps its key where the shadow map lets it. Where the plate's
    shadows were measured but made no hard key - no elongated shadow to give a direction, a
    ratio under HARD_RATIO, edges too wide - the artist's direction says there is a key: it
    gets the measured ratio (its strength) and edge width (its size). With nothing measured
    (too few shadow edges) there is no key of the plate's: the given light is used as given.
    ``source``: how the direction is known ("given", "sun in view"). True when the estimate
    has a hard key now."""
    if not est.hard and not (est.measured and est.classes is not None):
        return False
    d = np.asarray(direction, np.float64)
    d = d / max(float(np.linalg.norm(d)), 1e-9)
    est.direction = d.tolist()
    est.elevation_deg = elevation_of_deg(d, grid.n)
    est.elevation_source = source
    if est.hard:
        clamp_ratio(est)  # at the given elevation
        judge_in_shadow(grid, est)
    else:
        assert est.classes is not None
        est.angle_deg = measured_angle_deg(est)
        est.why += "; the given direction makes it a key"
        est.promoted = True
        _make_hard(grid, est.classes, est)
    return True


UNREAD_BANDS_WAIT = "; environment only until a direction is given"

HIGH_SUN_ELEVATION_DEG = 90.0
"""Where a sun whose shadows gave no direction is put (``take_overhead_sun``): straight up, the
one direction that needs no azimuth."""
HIGH_SUN_NOTE = ("a sun high overhead: hard shadows under a clear sky, none long enough to give a direction (a low sun's "
                 "are), so the sun straight up (assumed)")


def take_overhead_sun(grid: GroundGrid, est: KeyEstimate) -> None:
    """A key straight overhead for a sun the plate measured (lit/shadow, edges) but whose shadows
    gave no direction: none elongated on the near or the wider ground. Under a clear sky such
    shadows are short, so the sun stands high; from the zenith its unknown azimuth matters
    least. Left as environment only, the sun's light was missing or read into the sky: the sky
    off the whole sunlit ground lit a product 1.4-1.9x the truth (eval insert sun_high 254,
    sun_low 233), the sky off the shadows alone one 0.7-0.9x (sun_high 223, 239). Its elevation
    stays assumed, so the plate's shadow map is not used; nor is the ground under the product
    asked whether it is in shadow: with the sun overhead that is the foot itself, and a darker
    band there read as shadow (stop 66: three of seven sets lost their key that way, 3-5 dB)."""
    assert est.classes is not None
    est.direction, est.elevation_deg, est.elevation_source = grid.n.tolist(), HIGH_SUN_ELEVATION_DEG, "assumed"
    est.angle_deg = measured_angle_deg(est)
    est.promoted = True
    est.why = est.why.replace(UNREAD_BANDS_WAIT, "").replace(ENV_ONLY, "") + "; " + HIGH_SUN_NOTE
    _make_hard(grid, est.classes, est)
    est.product_in_shadow = est.product_partly_in_shadow = False
    est.why = est.why.replace(IN_SHADOW_NOTE, "").replace(PARTLY_NOTE, "")


AZIMUTH_FROM = "the key's azimuth from the way"
"""How the note of a direction read off the occluders on banded ground begins (shot.py's
``direction_from_occluders``, ``direction_from_feet_shadows``): dropped with the key."""


def _no_banded_direction(est: KeyEstimate, why: str = "") -> None:
    """No key of the plate's on banded ground: its measured ratio and edges wait for a given direction."""
    mode = est.why[est.why.find(MODE_NOTE):] if MODE_NOTE in est.why else ""  # which ratio was taken, said by estimate_key
    mode = mode.split("; " + AZIMUTH_FROM)[0]  # not the direction dropped with it
    est.why = (f"ground banded with a darker material: the shadows (lit/shadow {est.ratio:.2f}, told from them by their shade or "
               f"their occluders' feet) mix with its bands, so their shapes give no direction{why}{UNREAD_BANDS_WAIT}{mode}")
    est.direction = est.elevation_deg = est.shadow_map = None
    est.hard = est.banded = est.product_in_shadow = est.product_partly_in_shadow = False


def take_occluders_direction(grid: GroundGrid, est: KeyEstimate, direction: np.ndarray, why: str) -> None:
    """A key from banded ground whose shadows' shapes gave no direction (``unread_bands``) along
    the way its occluders' shadows run (shot.direction_from_occluders), at the assumed elevation:
    as a key read off the bands (``banded``), it stays only where a shadow's length then measures
    its elevation (``confirm_banded``)."""
    assert est.classes is not None
    est.direction = at_elevation(np.asarray(direction, np.float64), grid.n, DEFAULT_ELEVATION_DEG).tolist()
    est.elevation_deg, est.elevation_source, est.side_source = DEFAULT_ELEVATION_DEG, "assumed", "shadow length"
    est.angle_deg = measured_angle_deg(est)
    est.banded, est.unread_bands, est.from_occluders = True, False, True
    est.why = est.why.replace(UNREAD_BANDS_WAIT, "") + "; " + why
    _make_hard(grid, est.classes, est)


BANDED_LEAST_DEG = 40.0
"""A key on banded ground whose elevation nothing measured stays where its short shadows put the
sun at least this high (``KeyEstimate.least_elevation``: an occluder's height, or what the frames
show of it, over how far its shadow reaches), raised to that bound (``raise_assumed_elevation``).
Stop 79: the bound is what ``confirm_banded`` asked of a banded key, a sun too high for the
assumed 30 degrees, and it holds the key at the height the shadows allow. Cached sun_high 384,
439, 440 (bounds 46-57 for suns of 62-65 degrees, azimuths 1-12 degrees off) were dropped:
classical +4.1 to +5.3 dB over the paste, kept +8.7 to +8.8."""


def confirm_banded(est: KeyEstimate, bound_holds: bool = True) -> None:
    """Keep a key read off the shadows on a darker material's bands (``_banded_direction``) only
    where an occluder's height over its shadow's length, or over how near its foot its short
    shadow ends (elevation.py), confirms it, or where its short shadows bound it from below at
    BANDED_LEAST_DEG or more (``bound_holds``); else no key, as before it was read. A band's
    end or an occluder's dark foot still passes for a shadow there, and a high sun keyed at the
    assumed elevation lights the product's sides, not its top: on sun_high seeds 124 (held out)
    and 116, two occluders' feet gave azimuths 17 and 4 degrees off, and at the assumed 30
    degrees against the truth's 65 seed 124 fell from 21.53 to 17.23 dB, under the paste.
    ``bound_holds`` False: the key is read again as unsteady at other scales (shot.estimate_light),
    and a bound alone does not keep it; it is dropped as before, not softened into a soft key
    from its side (cached mixed 422: kept by a bound of 71 degrees, 57 degrees off in azimuth and
    unsteady, its soft key cost 1.5 / 4.5 dB against the overhead sun it had). Called once the
    elevation was measured or not."""
    bounded = bound_holds and est.least_elevation is not None and est.least_elevation[0] >= BANDED_LEAST_DEG
    if est.banded and est.elevation_source == "assumed" and not bounded:
        _no_banded_direction(est, " (no occluder's shadow length confirms it)")


def raise_assumed_elevation(grid: GroundGrid, est: KeyEstimate) -> None:
    """A hard key whose elevation stayed assumed, raised to what its short shadows put it at
    least (``least_elevation``); still assumed, as a bound is no measurement
    (``move_assumed_elevation``)."""
    if est.hard and est.direction is not None and est.elevation_source == "assumed" and est.least_elevation is not None \
            and est.least_elevation[0] > float(est.elevation_deg or DEFAULT_ELEVATION_DEG):
        move_assumed_elevation(grid, est, est.least_elevation[0])
        est.why += f"; {est.least_elevation[1]}"


def move_assumed_elevation(grid: GroundGrid, est: KeyEstimate, elevation_deg: float) -> None:
    """The key moved to ``elevation_deg`` at its azimuth (a bound on it: down to an upper bound,
    ``elevation.upper_bound``, or up to a lower one, ``raise_assumed_elevation``), its elevation
    still assumed: a bound is no measurement, so the shadow map is not trusted with
    it and a product in the plate's shadow keeps no key. Its ratio clamp and the ground its body's
    rays land on follow the new elevation."""
    est.direction = at_elevation(np.asarray(est.direction), grid.n, elevation_deg).tolist()
    est.elevation_deg = elevation_deg
    clamp_ratio(est)
    judge_in_shadow(grid, est)


SUN_AXIS_DEG = 30.0
"""A clipped blob of sky is the sun only if it lies within this of the axis the plate's cast
shadows give (either side: the sun in view tells which)."""


def sun_disagrees(est: KeyEstimate, sun: np.ndarray, normal: np.ndarray) -> str:
    """Why a sun the frames show (``sun_disc.find_sun``) cannot be the sun that casts
    the plate's shadows, or "" when it can: it must lie along their axis. On that axis the sun
    in view tells the side, also against the occluders' bases: find_sun's disc is small, in
    its glare and at the sky's distance in every frame that shows it, where a base is the
    near end of a smear (beach-sunset, 8 frames: the pebbles' bases put the light behind the
    camera, 167 degrees from the sun the frames show ahead of it, and the duck was lit from
    the front against a backlit plate). Stop 34's blob on the environment map needed the
    bases' side to refuse park-market-sun's clipped tent roofs (175 degrees off); find_sun
    refuses them itself (38-41 degrees apart from frame to frame). Nor can a sun lower than the
    shadows' lit/shadow ratio allows (``least_elevation_deg``) cast them: held-out mixed seed 233
    took a glint 3 degrees up for the sun of shadows at 3.33, so the key lit the glass duck from
    the horizon, 150 degrees round from the truth's sun 31 degrees up."""
    if est.direction is None:
        return ""
    off = azimuth_between_deg(est.direction, sun, normal)  # 0 for a sun overhead: no azimuth to disagree with
    if min(off, 180.0 - off) > SUN_AXIS_DEG:
        return f"a clipped patch of sky {off:.0f} deg off the shadows' azimuth is not their sun"
    up, least = elevation_of_deg(sun, normal), least_elevation_deg(est.ratio)
    if up < least:
        return (f"a clipped patch {up:.0f} deg up is too low for the sun of shadows at lit/shadow {est.ratio:.2f} "
                f"(at least {least:.0f} deg up: MAX_SUN_SKY)")
    return ""


def measured_angle_deg(est: KeyEstimate) -> float:
    """A key's size (angular diameter) from the measured edges' width, for a key whose shadows
    gave no length (its direction given): over SHORT_SHADOW_M."""
    return _penumbra_angle(est.penumbra_m, SHORT_SHADOW_M, est.lens_m)


def _near_ground(c: GroundClasses, grid: GroundGrid) -> np.ndarray:
    """Median colour of the steady flat ground within NEAR_GROUND_M of the product (all the flat
    ground of the patch when the plate shows too little of it there)."""
    yy, xx = np.mgrid[0 : grid.size, 0 : grid.size] - (grid.size - 1) / 2
    near = c.ground & c.steady & (np.hypot(xx, yy) * grid.metres_per_px <= NEAR_GROUND_M)
    return np.median(c.med[near if near.sum() >= 50 else c.ground], axis=0)


def _below_bands(c: GroundClasses, est: KeyEstimate, band_ratio: float) -> np.ndarray:
    """Flat ground darker than the midpoint (in log) of a darker material's level and the cast
    shadows' (both against the lit ground): the shadows on the lit ground and on the bands, not
    the bands in the light."""
    lit = math.log(max(float(_lum(np.asarray(est.lit_rgb))), 1e-4))
    return c.ground & (c.smooth < lit - 0.5 * (math.log(max(band_ratio, 1.0)) + math.log(max(est.ratio, 1.0))))


def _shadow_cells(c: GroundClasses, est: KeyEstimate) -> np.ndarray:
    """Flat ground below the midpoint (in log) of the shadow and lit levels the edge pairs
    measured: the cast shadows, whose shapes give the direction. A stain much darker than the
    shadows takes Otsu's dark class over on its own; it stays in this class, but as a blob of
    its own beside the shadows."""
    level = math.log(max(float(_lum(np.asarray(est.shadow_rgb))), 1e-4)) + 0.5 * math.log(max(est.ratio, 1.0))
    return c.ground & (c.smooth < level)


FLAT_SHADOW = 0.4
"""A dark blob whose fine texture (median high-pass of the log luminance, each side against its
own smooth level) is under this share of the lit ground's round it is not that ground in
shadow: a cast shadow scales the ground's light, so in log its texture stays (the sun and
mixed sets' shadows keep 0.61-5.6 of their ring's, the real plates' and the demo's 0.50-7.9).
A flat one is something else on the ground grid: a tall, evenly coloured box's rectified
smear, steady enough over the frames to pass for ground (eval insert overcast seed 25: 0.18,
read as an elongated shadow, a spurious sun at -8.6 dB), or a band of flat material (sun_high
tiles: 0.01-0.05). Mixed seeds 14 and 26 drop a blob of 0.29 and 0.37 and score higher without
it. Set between the smear and the lowest shadow (the demo's 0.50)."""
TEXTURE_MIN = 0.006
"""Least texture of the lit ring for the test: under it the ground has none to keep, and the
ratio is noise. At 0.01 (set on seeds 20-95's tiles and floors, 0.002-0.009) a gently textured
lawn went untested: overcast_grass seed 142's ring read 0.0096, its dark green box's smear 0.0028
inside (0.29 of it), and the smear made a spurious sun (+1.8 dB over the paste where the other
overcast lawns gain 13-16). Anywhere from 0.004 to 0.008 drops that smear and changes no other
call or direction on the 76 truth sets of seeds 110-143 (``vanelia eval light``)."""


def _textured_shadows(c: GroundClasses, dark: np.ndarray, grid: GroundGrid) -> np.ndarray:
    """``dark`` without the blobs that lost the ground's texture (FLAT_SHADOW): those are not
    cast shadows, and their shapes would give the key a direction."""
    log_lum = np.log(np.maximum(_lum(c.med), 1e-4)).astype(np.float32)
    g = c.ground & c.steady
    # each side's texture against its own smooth level: the edge between them is no texture
    texture = np.zeros_like(log_lum)
    for side in (g & dark, g & ~dark):
        texture = np.where(side, np.abs(log_lum - masked_blur(log_lum, side, 2.0, eps=1e-3)[0]), texture)
    keep = dark.copy()
    for blob, _pts in _shadow_blobs(grid, dark):
        comp = blob.astype(np.uint8)  # inside 6 cm from its edge; the ring 6-21 cm out
        inner = cv2.erode(comp, np.ones((5, 5), np.uint8)).astype(bool) & g
        near = cv2.dilate(comp, np.ones((5, 5), np.uint8)).astype(bool)
        ring = cv2.dilate(comp, np.ones((15, 15), np.uint8)).astype(bool) & ~near & g & ~dark
        if inner.sum() < 20 or ring.sum() < 20:
            continue
        t_ring = float(np.median(texture[ring]))
        if t_ring >= TEXTURE_MIN and float(np.median(texture[inner])) < FLAT_SHADOW * t_ring:
            keep &= ~blob
    return keep


def _cast_shadows(c: GroundClasses, est: KeyEstimate, grid: GroundGrid) -> np.ndarray:
    """The ground's cast shadows, whose shapes and occluders give the key's direction: the
    shadow-level cells (``_shadow_cells``) that keep the ground's texture (``_textured_shadows``)."""
    return _textured_shadows(c, _shadow_cells(c, est), grid)


def _in_shadow(c: GroundClasses, grid: GroundGrid, est: KeyEstimate) -> tuple[bool, bool]:
    """Whether the product's body is in the key's shadow, and whether part of it is.

    A point of the body at height h is lit exactly when the ground where its ray away from the
    light lands - h cot(elevation) beyond the contact point, on the side away from the light -
    is lit (that ray, followed back, reaches the light unblocked). So the ground that says it is
    where the body's rays land (an upright cylinder: BODY_HEIGHTS_M, BODY_RADIUS_M): a product
    standing at a shadow's end with its body looking away from the shadow is lit. With the
    elevation assumed, the strip spans the elevations a key plausibly has
    (ASSUMED_ELEVATIONS_DEG). The ground round the contact point (CONTACT_RADIUS_M) must read
    as shadow too: a darker ground beside the product (a mat, a paving band) that the estimate
    took for shadow would otherwise put a product standing on lit ground in shadow; a shadow
    over the body and not at its foot needs an overhang, which is rare.

    Only ground the plate shows as ground is read - flat, of the ground's material and steady
    over the frames - not whatever covers it in some frames (an object between the camera and
    the spot). A cell reads as shadow when it has the shadow's level *and* colour (a shadow is
    lit by the sky alone, so it is bluer by the key's per-channel ratio; a dark material such
    as mortar is dark without that shift). Each of the two reads shadow when IN_SHADOW_VOTE of
    its shown cells do, and a third of it is shown at least; too little shown: not in shadow
    (the key is kept). Part of it may be when PARTLY_SHADOWED of either is: a shadow's edge
    runs through its foot or its body's ground, and the plate's shadow map (exact where the
    elevation is known) says which parts."""
    shadow = np.asarray(est.shadow_rgb)
    body = _shadow_share(c, grid, _body_ground(grid, est), shadow)
    foot = _shadow_share(c, grid, _disc(grid, grid.e1, CONTACT_RADIUS_M, 11), shadow)
    return body >= IN_SHADOW_VOTE and foot >= IN_SHADOW_VOTE, max(body, foot) >= PARTLY_SHADOWED


def _disc(grid: GroundGrid, axis: np.ndarray, radius: float, n: int) -> np.ndarray:
    """Points (M x 3) of an n x n lattice within ``radius`` of the product's foot, ``axis`` one
    of its directions on the ground."""
    side = np.cross(grid.n, axis)
    u, v = np.meshgrid(np.linspace(-radius, radius, n), np.linspace(-radius, radius, n))
    inside = np.hypot(u, v) <= radius + 1e-9
    return grid.centre + u[inside][:, None] * axis + v[inside][:, None] * side


def _body_ground(grid: GroundGrid, est: KeyEstimate) -> np.ndarray:
    """Where the body's rays away from the light land on the ground: the body an upright
    cylinder (BODY_RADIUS_M, BODY_HEIGHTS_M), each point h cot(elevation) beyond itself; the
    elevations ASSUMED_ELEVATIONS_DEG while the key's is assumed."""
    d = np.asarray(est.direction, np.float64)
    away = -(d - grid.n * (d @ grid.n))
    if np.linalg.norm(away) < 1e-6:  # the light straight overhead: the body's rays land under it
        return _disc(grid, grid.e1, BODY_RADIUS_M, 5)
    away /= np.linalg.norm(away)
    elevations = [est.elevation_deg] if est.elevation_source != "assumed" and est.elevation_deg else ASSUMED_ELEVATIONS_DEG
    offsets = np.array([h / math.tan(math.radians(max(float(e), 5.0))) for e in elevations for h in BODY_HEIGHTS_M])
    return (_disc(grid, away, BODY_RADIUS_M, 5)[None] + offsets[:, None, None] * away).reshape(-1, 3)


def _shadow_share(c: GroundClasses, grid: GroundGrid, pts: np.ndarray, shadow_rgb: np.ndarray) -> float:
    """Share of the ground the plate shows at these points with the shadow's level and colour
    (see ``_in_shadow``); 0 when under a third of them is shown."""
    col, row = np.floor(grid.to_grid(pts) + 0.5).astype(int)  # the cell each point's foot falls in
    ok = (col >= 0) & (col < grid.size) & (row >= 0) & (row < grid.size)
    col, row = col[ok], row[ok]
    shown = c.ground[row, col] & c.steady[row, col]
    if shown.sum() < max(5, len(pts) / 3):
        return 0.0
    dev = np.log(np.maximum(c.med[row[shown], col[shown]], 1e-4)) - np.log(np.maximum(shadow_rgb, 1e-4))
    level = dev @ LUMA
    like = (np.abs(level) < 0.3) & (np.abs(dev - level[:, None]).max(axis=1) < 0.12)
    return float(like.mean())


def _sun_sky_limit(elevation_deg: float | None) -> float:
    """The largest lit/shadow ratio a sun and its sky make at this elevation (MAX_SUN_SKY)."""
    return 1.0 + MAX_SUN_SKY * math.sin(math.radians(elevation_deg or DEFAULT_ELEVATION_DEG))


def least_elevation_deg(ratio: float) -> float:
    """The lowest elevation at which a sun and its sky make this lit/shadow ratio (the inverse of
    ``_sun_sky_limit``): a bound from below that the ground's many shadow edges give, where a
    dark material read as shadow only raises it."""
    return math.degrees(math.asin(min(1.0, max(0.0, (ratio - 1.0) / MAX_SUN_SKY))))


def clamp_ratio(est: KeyEstimate) -> None:
    """Keep the lit/shadow ratio within what a sun and its sky can make at this elevation."""
    top = _sun_sky_limit(est.elevation_deg)
    if est.ratio <= top:
        return
    k = (top - 1.0) / (est.ratio - 1.0)
    sh = np.asarray(est.shadow_rgb)
    est.lit_rgb = (sh + (np.asarray(est.lit_rgb) - sh) * k).tolist()
    est.why += f"; lit/shadow {est.ratio:.2f} clamped to {top:.2f}"
    est.ratio = top


MIN_BASES_ALONE = 2
"""Occluder bases that must agree for short shadows alone (none elongated) to direct a hard key.
One dark blob against one object is as often the object's own dark foot or the edge of a pool
of window light: on the eval's rooms (seeds 20-95) every key made so (s66, s75, s90) was
spurious, 170 degrees from the window on s66, and no outdoor set was keyed so."""


def _direction(grid: GroundGrid, est: KeyEstimate, dark: np.ndarray, objects: np.ndarray, min_bases: int = MIN_BASES_ALONE) -> bool:
    """Azimuth from the shadows' orientation, signed by the occluders they start at; size from
    the penumbra. False when no shadow gives a direction: a window's pool of light or a dark
    patch, where a key of assumed direction and size would cast a hard shadow the plate does not
    have, so there is no key (the environment map carries the light).

    Each elongated shadow lies along the light's azimuth (the axis is averaged over shadows
    with doubled angles, weighted by area and elongation). A shadow starts at its occluder's
    foot, so the light is on the side of the shadow where an occluder's base touches it
    (``_occluder_bases``; one touching a base at each end says nothing, ``_both_ends``, nor
    does one lying across the axis or touching a base beside it, ``_side_votes``); a shadow
    too short to be elongated (a high sun) still says where the light is by that side alone.
    With no such evidence, the light is taken to be behind the camera (the commonest framing)
    and the note says so. The elevation is not measurable on
    the ground alone (the occluders' heights are not on it): DEFAULT_ELEVATION_DEG, until
    elevation.py reads heights and lengths off the frames."""
    bases = _occluder_bases(grid, objects)
    axis_sum = np.zeros(2)
    pull_sum = np.zeros(2)  # one unit vote per attached shadow: a light's falloff makes large dark regions too
    n_pulls = 0
    lengths = []
    pulls: list[tuple[np.ndarray, np.ndarray | None]] = []  # (pull, the blob's long axis where it is elongated)
    for comp, pts in _shadow_blobs(grid, dark):
        mean = pts.mean(axis=0)
        elong, ax = _elongation(pts)
        long_axis = ax if elong >= ELONGATED else None
        pull = _pull_to_base(comp, pts, bases, grid, long_axis)
        if pull is not None:
            pull_sum += pull
            n_pulls += 1
            pulls.append((pull, long_axis))
        if long_axis is None:
            continue
        w = len(pts) * (elong - 1.0)
        ang = 2 * math.atan2(ax[1], ax[0])
        axis_sum += w * np.array([math.cos(ang), math.sin(ang)])
        t = (pts - mean) @ ax
        lengths.append(float(np.percentile(t, 97) - np.percentile(t, 3)) * grid.metres_per_px)
    ang = 0.5 * math.atan2(axis_sum[1], axis_sum[0])
    axis = np.array([math.cos(ang), math.sin(ang)])
    from_feet = not axis_sum.any() or _across_pulls(axis, pull_sum, lengths)
    if from_feet:  # short shadows: the way to their feet is the direction
        if n_pulls < (1 if lengths else min_bases) or np.linalg.norm(pull_sum) < 1e-9:
            return False
        axis = pull_sum / np.linalg.norm(pull_sum)
    else:
        pull_sum, n_pulls = _side_votes(pulls, axis)
    if abs(float(pull_sum @ axis)) > 1e-9:
        towards = axis if pull_sum @ axis > 0 else -axis  # from the shadows to their occluders: towards the light
        est.side_source, est.side_bases = "occluder", n_pulls
        est.why = f"{len(lengths)} elongated shadow(s): azimuth from their orientation, side from {n_pulls} occluder base(s)"
        if from_feet and axis_sum.any():
            est.why += " (their length runs across the way to their feet: the azimuth is that way)"
    else:
        towards = axis if axis @ (np.mean(grid.cam_xy, axis=0) - grid.size / 2) >= 0 else -axis
        est.why = f"{len(lengths)} elongated shadow(s): azimuth from their orientation; {SIDE_ASSUMED}"
    _set_direction(grid, est, towards)
    est.elongated = len(lengths)
    est.angle_deg = _penumbra_angle(est.penumbra_m, 0.5 * (float(np.median(lengths)) if lengths else SHORT_SHADOW_M), est.lens_m)
    return True


LAMP_RADIAL_DEG = 20.0
"""A shadow lying within this of the way from a lamp's foot may be that lamp's own. Mixed
light's held-out sets (sun plus a practical, seeds 214-230) put the lamp's shadows 0.2-18.7
degrees from it, the sun's own 26-86 but where sun and lamp happen to line up."""


def lamp_shadows(grid: GroundGrid, dark: np.ndarray, objects: np.ndarray, lamp_position: np.ndarray) -> np.ndarray:
    """The blobs of ``dark`` that may be a lamp's own shadows (the lamp at ``lamp_position``,
    world): lying along the way from its foot (LAMP_RADIAL_DEG) and not starting at an occluder
    on their far side from it. A lamp's shadow reaches from its occluder's foot away from the
    lamp; one starting on its far side cannot be the lamp's, whichever way it lies."""
    lamp = grid.to_grid(np.asarray(lamp_position, np.float64))
    bases = _occluder_bases(grid, objects)
    out = np.zeros_like(dark, bool)
    for comp, pts in _shadow_blobs(grid, dark):
        elong, ax = _elongation(pts)
        away = pts.mean(axis=0) - lamp
        dist = float(np.linalg.norm(away))
        if dist < 1e-6 or abs(float(ax @ away)) / dist < math.cos(math.radians(LAMP_RADIAL_DEG)):
            continue
        pull = _pull_to_base(comp, pts, bases, grid, ax if elong >= ELONGATED else None)
        if pull is not None and float(pull @ away) > 0:
            continue
        out |= comp
    return out


def without_lamp_shadows(grid: GroundGrid, est: KeyEstimate, lamp_position: np.ndarray, pool: np.ndarray | None = None,
                         lit_free: float = 0.0) -> bool:
    """Re-read a hard key's direction from its cast shadows less those a lamp beside it may cast
    (``lamp_shadows``); True when that re-directed it. A practical's shadows lie along the sun's
    axis as often as not, and one of them, sided by its occluder, reversed the sun (held-out
    mixed seeds 217, 228 and 229: 177, 168 and 162 degrees off). Where no other shadow directs
    the sun, the reading stands and the note says it may be the lamp's: the key's strength and
    size are still the sun's, and without them a glass duck lost 4.2-4.4 dB (217 and 228 with
    the key dropped, against the reversed key).

    ``pool``: the lamp's radiance on the ground (S x S luminance, local_source.pool_on_grid), and
    ``lit_free`` the sunlit ground's without it. The shadows are then first read with the pool
    taken out (``shadows_without_pool``): with it in, the sunlit sand beyond a pool reads as dark
    as the shadows by it, and that ring's shape turned the sun."""
    c = est.classes
    if not est.hard or est.banded or c is None or est.direction is None:
        return False
    if pool is not None:
        dark = _textured_shadows(c, shadows_without_pool(c, pool, lit_free), grid)
        lamps = lamp_shadows(grid, dark, c.objects, lamp_position)
        if _direction(grid, est, dark & ~lamps, c.objects):
            est.why += f"; {POOL_NOTE}" + (f", {LAMP_SHADOWS_NOTE}" if lamps.any() else "")
            judge_in_shadow(grid, est)
            return True
    dark = _cast_shadows(c, est, grid)
    lamps = lamp_shadows(grid, dark, c.objects, lamp_position)
    if not lamps.any():
        return False
    if _direction(grid, est, dark & ~lamps, c.objects):
        est.why += f"; {LAMP_SHADOWS_NOTE}"
        judge_in_shadow(grid, est)
        return True
    est.why += f"; {LAMP_ONLY_NOTE}"
    return False


POOL_DOMINANT = 0.35
"""Ground where the fitted pool is over this share of the sunlit ground's light is left out of the
shadows read without it: nearer the lamp the fit's error is most of what is left (its 1/d^3 peak,
over-subtracted under the lamp, read as a dark crescent, mixed seed 317: the sun 60 degrees off at
another scale). The share is the sunlit ground's, not the cell's own, so a shadow and the lit
ground beside it are kept or left out together, its foot at its occluder with them. Over the 70
cached mixed sets (the lamp fitted once, before local_source.fit_beside_key's refit), 0.18, 0.25
and 0.35 all brought the sun's azimuth nearer (median error 21.5 degrees before; 13.5, 18 and 9
after), each turning other sets; bounded by the cell's own light, 0.25 did as well, 0.15, 0.3
and 0.4 not."""
OVERSHOT_RATIO = 4.0
"""Where the fitted pool leaves the ground over this many times darker than the sunlit ground, the
fit overshot the plate (a lamp fitted a little off, a shade it does not reach); such cells are
counted at that level when the shadows' threshold is chosen (``shadows_without_pool``), or their
long tail drew Otsu's split far below the sun's shadows (mixed seed 403: 0.14 for shadows at
0.30-0.37 and sunlit sand at 0.41-0.67), no shadow was left out of the lamp's refit, and the lamp
fitted at R2 0.18. A daylight shadow is rarely deeper (a hard sun's lit/shadow on sand is 1.5-3)."""
CLIPPED = 0.95
"""A cell whose brightest channel reaches this (linear) may be clipped in the plate: its light is
unknown (the shadows read without a pool, local_source's fits, window.py's burnt-out floor)."""


def shadows_without_pool(c: GroundClasses, pool: np.ndarray, lit_free: float, dominant: float = POOL_DOMINANT) -> np.ndarray:
    """The flat ground in shadow once a lamp's pool (``pool``, its radiance per cell) is taken out
    of its light: the dark class (Otsu) of what the sun and the sky give, where the pool is not
    most of the light (``dominant`` of ``lit_free`` plus itself, the sunlit ground's) and the
    plate is not burnt out (CLIPPED), and darker than the sunlit ground by half a hard key's least
    ratio at least (HARD_RATIO: Otsu splits ground with no shadow too). The threshold is chosen
    where the pool is under POOL_DOMINANT of the light whatever ``dominant`` is (nearer the lamp the
    fit's error is most of what is left), with overshot cells at OVERSHOT_RATIO. A lamp beside the sun
    lights the ground by 1/d^3: with it in, the sunlit ground a metre beyond its pool reads as
    dark as the sun's shadows by it (mixed seeds 326 and 393: a ring round the pool gave the
    sun's azimuth 47 and 163 degrees off)."""
    lum = np.exp(c.smooth)
    free = np.log(np.maximum(lum - pool, 1e-4))
    flat = c.ground & (c.med.max(axis=-1) < CLIPPED)
    read = flat & ~pool_core(pool, lit_free)
    if read.sum() < 200:
        return np.zeros_like(read)
    sunlit = math.log(max(lit_free, 1e-4))
    level = min(_otsu(np.maximum(free[read], sunlit - math.log(OVERSHOT_RATIO))), sunlit - 0.5 * math.log(HARD_RATIO))
    return flat & ~pool_core(pool, lit_free, dominant) & (free < level)


def pool_core(pool: np.ndarray, lit_free: float, share: float = POOL_DOMINANT) -> np.ndarray:
    """The ground where a fitted lamp's pool (``pool``, its radiance per cell) is ``share`` or more
    of the light there with the sunlit ground's (``lit_free``): where the fit's error, not the sun,
    is most of what is left once the pool is taken out (POOL_DOMINANT)."""
    return pool >= share * (pool + lit_free)


LAMP_SHADOWS_NOTE = "the shadows along the way from the lamp beside the key left out (they may be its own)"
POOL_NOTE = "shadows read with the lamp's pool taken out of the ground's light"
LAMP_ONLY_NOTE = "every shadow the direction was read off lies along the way from the lamp beside the key: it may be the lamp's"


def _side_votes(pulls: list[tuple[np.ndarray, np.ndarray | None]], axis: np.ndarray) -> tuple[np.ndarray, int]:
    """(sum, count) of the pulls that say which side of ``axis`` the light is on: every
    attached shadow's but an elongated one's lying across the axis (over SIDE_AXIS_DEG from
    it), and but a pull itself across the axis (over SIDE_PULL_DEG from it).

    The light's own shadows lie along its azimuth; one across it is another light's (a
    practical beside the sun) or a band's, and the occluder it touches says nothing of this
    light's side (mixed seed 154: such a blob's pull, 169 degrees off the sun, outvoted one 34
    degrees off and reversed the key). A base beside a shadow, not at an end of it, says as
    little: mixed seed 172's only pull stood 90 degrees off the sun, and its small share along
    the axis reversed the key (176 degrees off; the shadows' lengths then read a 77-degree sun
    for the truth's 32, and 35 once it was sided right)."""
    kept = [p for p, ax in pulls if (ax is None or abs(float(ax @ axis)) >= math.cos(math.radians(SIDE_AXIS_DEG)))
            and abs(float(p @ axis)) >= math.cos(math.radians(SIDE_PULL_DEG))]
    return (np.sum(kept, axis=0) if kept else np.zeros(2)), len(kept)


SIDE_AXIS_DEG = 45.0
"""An elongated shadow further than this from the shadows' axis is not this light's."""
SIDE_PULL_DEG = 60.0
"""A pull further than this from the axis comes from a base beside the shadow, not at its end."""


def _across_pulls(axis: np.ndarray, pull_sum: np.ndarray, lengths: list[float]) -> bool:
    """Whether the shadows' elongation runs across the way they start at their occluders (over
    ACROSS_PULL_DEG from the pulls' sum): a shadow reaches from its occluder's foot away from
    the light, so its length lies along that pull. Across it, the length is not the shadow's -
    a high sun's short shadow hugging its occluder's smear, a band it merges with - and the
    pulls alone say where the light is (sun_high seed 40: 96 degrees off along the smears)."""
    n = float(np.linalg.norm(pull_sum))
    return n > 1e-9 and max(lengths, default=0.0) <= ACROSS_MAX_LENGTH_M and abs(float(axis @ pull_sum)) / n < math.cos(math.radians(ACROSS_PULL_DEG))


ACROSS_PULL_DEG = 60.0
ACROSS_MAX_LENGTH_M = 0.7
"""The rule holds for short shadows only (a high sun's: none longer than this). Long ones are
their length (a low sun's); their feet can mislead - pebbles' bases at the near end of their
smears (beach-sunset: 0.2-4.4 m shadows, the pulls put the key 68 degrees off the sun in view),
a shadow crossing a band (sun_low_grass seed 42: 3 -> 91 degrees off without this bound)."""


SIDE_ASSUMED = "no occluder base tells the side, light assumed behind the camera"
"""The note of a key whose side no occluder told (``side_source`` "assumed")."""
MIN_BLOB_M = 0.15
"""Side of the smallest shadow or occluder that counts (a speck - an interpolation seam, a leaf -
is neither)."""
SHORT_SHADOW_M = 0.3
"""Length taken for shadows too short to be elongated (a high sun), for the key's size."""


def _min_blob_cells(grid: GroundGrid) -> float:
    return (MIN_BLOB_M / grid.metres_per_px) ** 2


def _shadow_blobs(grid: GroundGrid, dark: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each dark blob of at least MIN_BLOB_M a side: its mask and its cells as (col, row) points."""
    n_lab, lab, stats, _c = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=8)
    for i in range(1, n_lab):
        if stats[i, cv2.CC_STAT_AREA] < _min_blob_cells(grid):
            continue
        comp = lab == i
        ys, xs = np.nonzero(comp)
        yield comp, np.stack([xs, ys], 1).astype(np.float64)


BASE_BAND_M = 0.3
"""Depth of an occluder's base: the part of its rectified smear within this of the part nearest
the cameras."""


def _base_bands(grid: GroundGrid, objects: np.ndarray) -> list[np.ndarray]:
    """Each object's base (a mask per object): rectified onto the ground, an object smears
    away from the cameras (its higher points project farther along their rays), so its foot is
    the end of its smear nearest the cameras' feet (within BASE_BAND_M of it)."""
    n_lab, lab, stats, _c = cv2.connectedComponentsWithStats(objects.astype(np.uint8), connectivity=8)
    cam = np.mean(grid.cam_xy, axis=0)
    yy, xx = np.mgrid[0 : grid.size, 0 : grid.size]
    dist = np.hypot(xx - cam[0], yy - cam[1])
    bands = []
    for i in range(1, n_lab):
        if stats[i, cv2.CC_STAT_AREA] < _min_blob_cells(grid):
            continue
        comp = lab == i
        bands.append(comp & (dist <= dist[comp].min() + BASE_BAND_M / grid.metres_per_px))
    return bands


def _occluder_bases(grid: GroundGrid, objects: np.ndarray) -> np.ndarray:
    """Cells where what stands on the ground meets it (``_base_bands``). A shadow that touches
    the side of a smear - the object seen over it - does not touch the object's foot."""
    base = np.zeros_like(objects, bool)
    for band in _base_bands(grid, objects):
        base |= band
    return base


def on_cells(grid: GroundGrid, mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which ground points (N x 3) fall on the grid's cells in ``mask``; points off the grid: False."""
    col, row = np.floor(grid.to_grid(points) + 0.5).astype(int)
    ok = (col >= 0) & (col < grid.size) & (row >= 0) & (row < grid.size)
    out = np.zeros(len(points), bool)
    out[ok] = mask[row[ok], col[ok]]
    return out


def occluder_feet(grid: GroundGrid, objects: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(world point, base band) of each object standing on the rectified ground: the middle of
    its base band (``_base_bands``), on its side nearest the cameras, inside its footprint."""
    feet = []
    for band in _base_bands(grid, objects):
        rows, cols = np.nonzero(band)
        feet.append((grid.points[rows, cols].mean(axis=0), band))
    return feet


def foot_shadows(grid: GroundGrid, c: GroundClasses, lit_rgb: np.ndarray, shade_rgb: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(foot, the ground points of the sky-lit blobs touching its base) for each object standing
    on the rectified ground (``occluder_feet``, ``sky_shadow_cells``): the shadows that start at
    it, whole however far they run. Objects no such blob touches are left out. ``shade_rgb``:
    only the cells of the shadows' own hue (``elevation.same_chroma``, on a darker band as on the
    ground) count, not a bluish object's smear (cached sun_high 378: a purple pillar's)."""
    cells = sky_shadow_cells(c, lit_rgb)
    if shade_rgb is not None:
        cells &= same_chroma(c.med.reshape(-1, 3), shade_rgb).reshape(cells.shape)
    n_lab, lab = cv2.connectedComponents(cells.astype(np.uint8))
    out = []
    for foot, band in occluder_feet(grid, c.objects):
        ids = [i for i in np.unique(lab[cells_near(grid, band, OCCLUDER_TOUCH_M)]) if i]
        if ids:
            rows, cols = np.nonzero(np.isin(lab, ids))
            out.append((foot, grid.points[rows, cols]))
    return out


@dataclass
class FeetShadows:
    """Which way the sky-lit shadows at the occluders' feet lie (``feet_shadow_direction``)."""

    towards: np.ndarray
    """Unit world vector on the ground towards the light: against the way they lie from their feet."""
    cells: int
    """Grid cells of those shadows, all together."""
    agreement: float
    """Length of their cell-weighted mean direction (1: every shadow lies the same way)."""


def feet_shadow_direction(grid: GroundGrid, c: GroundClasses, lit_rgb: np.ndarray, shade_rgb: np.ndarray) -> FeetShadows | None:
    """The light's azimuth from the sky-lit shadows touching the occluders' bases (``foot_shadows``):
    a shadow lies on its occluder's far side from the light, so the light is the other way from
    its centre. Each occluder's shadow weighs by its cells. It needs no shadow's shape: a high
    sun's short blob, or one the occluder half hides, gives it where no elongated shadow does,
    and a darker material's bands are not sky-lit, so they do not pull it; nor, counted only where
    of the shadows' hue (``shade_rgb``), does a bluish object's smear. The foot lies on the
    cameras' side of the footprint, so a shadow to the side reads a little away from them. None
    without such a shadow."""
    total, cells = np.zeros(3), 0
    for foot, pts in foot_shadows(grid, c, lit_rgb, shade_rgb):
        v = pts.mean(axis=0) - foot
        v -= grid.n * (v @ grid.n)
        length = float(np.linalg.norm(v))
        if length > 1e-6:
            total -= len(pts) * v / length
            cells += len(pts)
    length = float(np.linalg.norm(total))
    if cells == 0 or length < 1e-9:
        return None
    return FeetShadows(total / length, cells, length / cells)


def _pull_to_base(shadow: np.ndarray, pts: np.ndarray, bases: np.ndarray, grid: GroundGrid,
                  long_axis: np.ndarray | None) -> np.ndarray | None:
    """Unit vector (grid) from a shadow's centre (``pts``: its cells, x y) to the occluder
    bases it touches (within OCCLUDER_TOUCH_M), or None when it touches none, or, elongated
    along ``long_axis`` (``_long_axis``), touches one at each end (``_both_ends``)."""
    if not bases.any():
        return None
    touched = bases & cells_near(grid, shadow, OCCLUDER_TOUCH_M)
    ys, xs = np.nonzero(touched)
    if len(xs) == 0 or (long_axis is not None and _both_ends(touched, pts, long_axis)):
        return None
    centre = pts.mean(axis=0)
    v = np.array([xs.mean(), ys.mean()]) - centre
    n = float(np.linalg.norm(v))
    return v / n if n > 1.0 else None


def _both_ends(touched: np.ndarray, pts: np.ndarray, axis: np.ndarray) -> bool:
    """Whether an elongated shadow (``pts``, x y) touches one occluder's base at each of its
    ends (beyond END_SHARE of its half-length from its centre, on opposite sides): a shadow
    starts at its occluder, and one whose tip reaches another object's foot cannot say which
    of the two it starts at (sun_low_grass seed 172: a box's 1.9 m shadow ending at a pillar's
    foot, the pillar's base band the larger, and the key 180 degrees off)."""
    mean = pts.mean(axis=0)
    t = (pts - mean) @ axis
    half = 0.5 * float(np.percentile(t, 97) - np.percentile(t, 3))
    n, labels = cv2.connectedComponents(touched.astype(np.uint8))
    ends = set()
    for k in range(1, n):
        ys, xs = np.nonzero(labels == k)
        along = float((np.array([xs.mean(), ys.mean()]) - mean) @ axis)
        if abs(along) > END_SHARE * half:
            ends.add(along > 0)
    return len(ends) == 2


END_SHARE = 0.5
"""A touched base is at an end of its shadow beyond this share of the half-length from its centre."""


def _elongation(pts: np.ndarray) -> tuple[float, np.ndarray]:
    """(long over wide, long axis: unit, grid x y) of a blob's cells (x y): the square root of
    its covariance's eigenvalues' ratio and the larger one's eigenvector."""
    evals, evecs = np.linalg.eigh(np.cov((pts - pts.mean(axis=0)).T))
    return math.sqrt(max(evals[1], 1e-9) / max(evals[0], 1e-9)), evecs[:, 1]


def _long_axis(pts: np.ndarray) -> np.ndarray | None:
    """A blob's long axis where it is elongated (ELONGATED), else None."""
    elong, axis = _elongation(pts)
    return axis if elong >= ELONGATED else None


ELONGATED = 1.5
"""Long over wide (``_elongation``) from which a shadow is elongated: its length lies along the
light's azimuth."""


OCCLUDER_TOUCH_M = 0.2
"""A shadow touches an occluder's base when they come this close on the ground (the grid's own
blur and the classification's margins)."""


WIDE_GRID_M = 6.0
"""Half-size of the wider ground looked at for the occluders of shadows that cross the near
grid (GRID_M) whole: a low sun's shadows run metres, and their occluder can stand beyond it."""


def direction_from_wider_ground(wide: GroundGrid, grid: GroundGrid, est: KeyEstimate) -> bool:
    """A hard key's direction from the shadows on the wider ground ``wide`` (WIDE_GRID_M, centred
    as the near grid ``grid``), where the near grid's levels made one but its shadows gave no
    direction (``shapeless``): a low sun's long shadows lie metres from the product, their
    occluders further. Read by _direction's rules on the near grid's shadow and lit levels, and
    kept only where an occluder's foot sides it; True when it placed the key. Held-out
    sun_low_concrete seed 217 had no key and no shadow: now a key 30 degrees off, +1.7 / +4.0 dB."""
    if not est.shapeless or est.classes is None:
        return False
    c = classify(wide)
    trial = replace(est)
    if isinstance(c, str) or not _direction(wide, trial, _cast_shadows(c, trial, wide), c.objects) or trial.side_source != "occluder":
        return False  # the side assumed: held-out seed 233's far shadows read axes 121 and 135 degrees off that way
    vars(est).update(vars(trial))  # the trial's reading, whole
    est.shapeless, est.far = False, True
    est.why += f" on the ground {WIDE_GRID_M:g} m round (none nearer)"
    _finish_hard(grid, est.classes, est)
    return est.hard


def side_from_wider_ground(wide: GroundGrid, est: KeyEstimate) -> bool:
    """The key's side, where its shadows touch no occluder on the near grid (``side_source``
    "assumed"): the shadows on the wider ground ``wide`` (centred as the near grid,
    WIDE_GRID_M) followed to the occluders' feet they start at, by _direction's rule (each
    shadow that starts at a base votes its side). The azimuth stays the near shadows'; only
    their side can change. False (nothing changed) when no shadow there touches a base.
    Eval insert sun_low_grass seed 25: a backlit low sun's shadows crossed the near grid whole,
    from a box and a pillar standing 3-6 m off, and the key was assumed behind the camera,
    lighting the product's dark side (-3.0 dB against the paste)."""
    if est.direction is None or est.side_source != "assumed":
        return False
    c = classify(wide)
    if isinstance(c, str):
        return False
    d = np.asarray(est.direction, np.float64)
    axis = wide.along_grid(d)
    if np.linalg.norm(axis) < 1e-6:
        return False
    axis /= np.linalg.norm(axis)
    dark = _cast_shadows(c, est, wide)
    bases = _occluder_bases(wide, c.objects)
    pulls = []
    for comp, pts in _shadow_blobs(wide, dark):  # as _direction: one vote per shadow that starts at a base
        long_axis = _long_axis(pts)
        pull = _pull_to_base(comp, pts, bases, wide, long_axis)
        if pull is not None:
            pulls.append((pull, long_axis))
    pull_sum, n_pulls = _side_votes(pulls, axis)
    vote = float(pull_sum @ axis)
    if abs(vote) < 1e-9:
        return False
    _set_direction(wide, est, axis if vote > 0 else -axis)
    est.side_source, est.side_bases = "occluder", n_pulls
    est.why = est.why.replace(SIDE_ASSUMED, f"side from {n_pulls} occluder base(s) on the ground up to {WIDE_GRID_M:g} m out")
    return True


def at_elevation(towards: np.ndarray, normal: np.ndarray, elevation_deg: float) -> np.ndarray:
    """Unit world vector towards a light at ``towards``'s azimuth (any vector; its part along
    the ground's ``normal`` is dropped) and ``elevation_deg`` over the ground."""
    n = np.asarray(normal, np.float64)
    d = np.asarray(towards, np.float64)
    horiz = d - n * (d @ n)
    horiz /= max(float(np.linalg.norm(horiz)), 1e-9)
    e = math.radians(elevation_deg)
    return horiz * math.cos(e) + n * math.sin(e)


def azimuth_between_deg(a: np.ndarray | list[float], b: np.ndarray | list[float], normal: np.ndarray) -> float:
    """Angle (0-180 degrees) between two directions' projections on the ground of ``normal``; 0
    where either is straight up or down (it has no azimuth)."""
    n = np.asarray(normal, np.float64)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ha, hb = a - n * (a @ n), b - n * (b @ n)
    na, nb = float(np.linalg.norm(ha)), float(np.linalg.norm(hb))
    if na < 1e-6 or nb < 1e-6:
        return 0.0
    return math.degrees(math.acos(float(np.clip(ha @ hb / (na * nb), -1.0, 1.0))))


def elevation_of_deg(direction: np.ndarray | list[float], normal: np.ndarray) -> float:
    """A direction's elevation (degrees) over the ground of ``normal``."""
    d = np.asarray(direction, np.float64)
    return math.degrees(math.asin(float(np.clip(d @ np.asarray(normal, np.float64) / max(float(np.linalg.norm(d)), 1e-9), -1.0, 1.0))))


def _set_direction(grid: GroundGrid, est: KeyEstimate, towards_grid: np.ndarray) -> None:
    """Grid direction (col right = e1, row down = -e2) towards the light -> world unit vector."""
    est.elevation_deg = DEFAULT_ELEVATION_DEG
    est.direction = at_elevation(grid.along_world(towards_grid), grid.n, DEFAULT_ELEVATION_DEG).tolist()


def _penumbra_angle(penumbra_m: float, occluder_dist_m: float, lens_m: float = 0.0) -> float:
    """Angular size (degrees) from the shadow edges' width less what the plate itself blurs
    (RESOLVED_PENUMBRA_M, and a soft lens's ``lens_m`` in quadrature): a sun's real penumbra is
    below what a plate resolves on the ground."""
    excess = max(math.sqrt(max(penumbra_m**2 - lens_m**2, 0.0)) - RESOLVED_PENUMBRA_M, 0.0)
    return float(np.clip(math.degrees(math.atan2(excess, max(occluder_dist_m, 0.3))), 1.0, 10.0))
