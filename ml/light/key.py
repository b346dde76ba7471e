"""The key light (sun, window, practical) from the plate's cast shadows on the solved ground.

The ground around the product is rectified: every sampled frame is projected through its
solved camera onto a top-down grid on the ground plane. On that grid:

* the temporal median is the ground as lit (cast shadows stay put, the camera moves);
* the temporal spread marks what is *not* on the plane (objects smear differently in every
  frame): the occluders;
* shadows are the dark class of the median's smoothed log luminance (Otsu). A hard key is
  there only when the two classes are far apart (lit/shadow ratio) and the dark class is a
  real part of the ground; otherwise the scene is soft-lit and gets no key at all;
* direction: a shadow points away from the light, starting at its occluder, so the azimuth
  is the mean direction from the touching occluder to the shadow, reversed; the elevation
  comes from the shadow's length against the occluder's height (its smear length on the
  grid: an object of height h at distance d from a camera at height H smears d*h/(H-h));
* strength and colour: lit = ambient + key*sin(elevation), shadow = ambient, per channel,
  with the ambient irradiance measured on the environment map;
* size (angular diameter) from the penumbra width over the occluder-to-shadow distance.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np

from shotcache.schema import FrameCamera

GRID_M = 2.5
"""Half-size of the rectified ground patch around the product (metres)."""
GRID_PX = 160
HARD_RATIO = 1.5
"""Lit/shadow luminance ratio above which shadows are hard enough to call for a key light."""
DEFAULT_ELEVATION_DEG = 45.0
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
    """Median colour of the flat ground seen around the product (linear)."""
    why: str = ""


@dataclass
class GroundGrid:
    """A top-down grid on the ground plane centred on ``centre``; accumulates rectified frames."""

    centre: np.ndarray
    normal: np.ndarray
    half_m: float = GRID_M
    size: int = GRID_PX

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

    def to_grid(self, p: np.ndarray) -> np.ndarray:
        """(col, row) of a world point's foot on the grid."""
        d = np.asarray(p, np.float64) - self.centre
        return np.array([(d @ self.e1 + self.half_m) / self.metres_per_px - 0.5, (self.half_m - d @ self.e2) / self.metres_per_px - 0.5])

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


def _lum(x: np.ndarray) -> np.ndarray:
    return x[..., 0] * 0.2126 + x[..., 1] * 0.7152 + x[..., 2] * 0.0722


def _same_material(med: np.ndarray, ground: np.ndarray, max_dist: float = 0.45) -> np.ndarray:
    """Cells whose chromaticity is the ground's (median over the patch): a cast shadow keeps the
    ground's colour up to a bluish/warm shift, the smear of a box of another colour does not."""
    chroma = np.log(np.maximum(med, 1e-4)) - np.log(np.maximum(_lum(med), 1e-4))[..., None]
    if ground.sum() < 10:
        return ground
    ref = np.median(chroma[ground], axis=0)
    return np.linalg.norm(chroma - ref, axis=-1) < max_dist


def _smooth_masked(x: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    num = cv2.GaussianBlur(np.where(valid, x, 0).astype(np.float32), (0, 0), sigma)
    den = cv2.GaussianBlur(valid.astype(np.float32), (0, 0), sigma)
    return num / np.maximum(den, 1e-4)


def _otsu(values: np.ndarray) -> float:
    v8 = np.clip((values - values.min()) / max(float(np.ptp(values)), 1e-6) * 255, 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(v8.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(values.min() + t / 255.0 * np.ptp(values))


def estimate_key(grid: GroundGrid) -> KeyEstimate:
    """The key light from the rectified frames (see the module docstring)."""
    stack = np.stack(grid.frames)  # F x S x S x 3, nan where unseen
    seen = np.isfinite(stack[..., 0])
    enough = seen.sum(0) >= max(1, len(grid.frames) // 2)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: ground no frame saw
        median = np.nanmedian(stack, axis=0)
        spread = np.nanmedian(np.abs(_lum(stack) - _lum(median)[None]), axis=0) / np.maximum(_lum(median), 1e-3)
    if enough.sum() < 200:
        return KeyEstimate(False, 1.0, why="too little ground seen around the product")
    spread = np.where(enough, spread, 0)
    off_plane = enough & (spread > max(0.12, 4 * float(np.median(spread[enough]))))
    off_plane = cv2.morphologyEx(off_plane.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    ground = enough & ~cv2.dilate(off_plane.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    med = np.where(enough[..., None], median, 0)
    same = _same_material(med, ground)
    objects = (enough & ~same) | off_plane  # what stands on the ground (smeared by the rectification)
    ground &= same
    loglum = np.log(np.maximum(_lum(med), 1e-4))
    px_per_10cm = 0.1 / grid.metres_per_px
    smooth = _smooth_masked(loglum, ground, px_per_10cm)
    vals = smooth[ground]
    if len(vals) < 200:
        return KeyEstimate(False, 1.0, why="too little flat ground seen")
    t = _otsu(vals)
    dark = ground & (smooth < t)
    lit = ground & (smooth >= t)
    frac = float(dark.sum() / ground.sum())
    lit_rgb = np.median(med[lit], axis=0) if lit.any() else np.zeros(3)
    # the brighter part of the dark class: shadowed ground, not dark objects or their smears
    if dark.any():
        dl = smooth[dark]
        core = dark & (smooth >= np.percentile(dl, 40)) & (smooth <= np.percentile(dl, 90))
        sh_rgb = np.median(med[core if core.any() else dark], axis=0)
    else:
        sh_rgb = lit_rgb
    ratio = float(_lum(lit_rgb) / max(_lum(sh_rgb), 1e-4))
    est = KeyEstimate(False, ratio, lit_rgb=lit_rgb.tolist(), shadow_rgb=sh_rgb.tolist(), shadow_fraction=frac,
                      ground_rgb=np.median(med[ground], axis=0).tolist())
    if ratio < HARD_RATIO or not 0.02 <= frac <= 0.75:
        est.why = f"soft light: lit/shadow ratio {ratio:.2f}, shadowed fraction {frac:.2f}"
        return est
    per_channel = lit_rgb / np.maximum(sh_rgb, 1e-4)
    if per_channel.min() < 1.15 or per_channel.max() / per_channel.min() > MAX_TINT_SPREAD:
        # a shadow darkens the same ground in every channel (a warm key, a bluer fill: a
        # moderate spread); a dark object of another colour does not
        est.why = f"soft light: the dark ground is another material, not a shadow (lit/dark per channel {np.round(per_channel, 2).tolist()})"
        return est
    est.hard = True
    _direction(grid, est, dark, objects, smooth, t)
    return est


def _direction(grid: GroundGrid, est: KeyEstimate, dark: np.ndarray, objects: np.ndarray, smooth: np.ndarray, thresh: float) -> None:
    """Azimuth from the shadows' orientation, signed by where their occluders stand; size from the penumbra.

    Each elongated shadow lies along the light's azimuth (the axis is averaged over shadows
    with doubled angles, weighted by area and elongation). A shadow starts at its occluder, so
    the light is on the side of the end that touches ``objects`` (cells that are not the
    ground: what stands on it). With no such evidence, the light is taken to be behind the
    camera (the commonest framing). The elevation is not measurable this way (the occluders'
    heights are unknown): DEFAULT_ELEVATION_DEG."""
    n_lab, lab, stats, _c = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=8)
    min_area = (0.15 / grid.metres_per_px) ** 2
    near_px = 0.25 / grid.metres_per_px
    obj_pts = np.stack(np.nonzero(objects)[::-1], 1).astype(np.float64)
    axis_sum = np.zeros(2)
    comps: list[tuple[np.ndarray, float, float]] = []
    lengths = []
    for i in range(1, n_lab):
        if stats[i, cv2.CC_STAT_AREA] < min_area:
            continue
        ys, xs = np.nonzero(lab == i)
        pts = np.stack([xs, ys], 1).astype(np.float64)
        mean = pts.mean(axis=0)
        evals, evecs = np.linalg.eigh(np.cov((pts - mean).T))
        elong = math.sqrt(max(evals[1], 1e-9) / max(evals[0], 1e-9))
        if elong < 1.5:
            continue
        ax = evecs[:, 1]
        w = len(pts) * (elong - 1.0)
        ang = 2 * math.atan2(ax[1], ax[0])
        axis_sum += w * np.array([math.cos(ang), math.sin(ang)])
        t = (pts - mean) @ ax
        lo, hi = mean + ax * np.percentile(t, 3), mean + ax * np.percentile(t, 97)
        lengths.append(float(np.linalg.norm(hi - lo)))
        if len(obj_pts):
            n_lo = int((np.linalg.norm(obj_pts - lo, axis=1) < near_px).sum())
            n_hi = int((np.linalg.norm(obj_pts - hi, axis=1) < near_px).sum())
            if n_lo + n_hi:
                comps.append((ax, w * (n_hi - n_lo) / (n_hi + n_lo), w))
    if not axis_sum.any():
        _fallback_direction(grid, est, dark)
        return
    ang = 0.5 * math.atan2(axis_sum[1], axis_sum[0])
    axis = np.array([math.cos(ang), math.sin(ang)])
    vote = sum(sgn * float(np.sign(ax @ axis)) for ax, sgn, _w in comps)
    if abs(vote) > 1e-9:
        towards = axis if vote > 0 else -axis  # from the shadow to its occluder: towards the light
        est.why = f"{len(lengths)} shadow(s): azimuth from their orientation, side from {len(comps)} occluder(s)"
    else:
        towards = axis if axis @ (np.mean(grid.cam_xy, axis=0) - grid.size / 2) >= 0 else -axis
        est.why = f"{len(lengths)} shadow(s): azimuth from their orientation; no occluder seen, light assumed behind the camera"
    _set_direction(grid, est, towards)
    est.angle_deg = _penumbra_angle(smooth, thresh, grid.metres_per_px, 0.5 * float(np.median(lengths)) * grid.metres_per_px)


def _set_direction(grid: GroundGrid, est: KeyEstimate, towards_grid: np.ndarray) -> None:
    """Grid direction (col right = e1, row down = -e2) towards the light -> world unit vector."""
    horiz = towards_grid[0] * grid.e1 - towards_grid[1] * grid.e2
    horiz /= max(np.linalg.norm(horiz), 1e-9)
    e = math.radians(DEFAULT_ELEVATION_DEG)
    est.elevation_deg = DEFAULT_ELEVATION_DEG
    est.direction = (horiz * math.cos(e) + grid.n * math.sin(e)).tolist()


def _fallback_direction(grid: GroundGrid, est: KeyEstimate, dark: np.ndarray) -> None:
    """No elongated shadow: the spread of the shadowed cells, the light behind the camera."""
    ys, xs = np.nonzero(dark)
    pts = np.stack([xs, ys], 1).astype(np.float64)
    pts -= pts.mean(axis=0)
    _u, _s, vt = np.linalg.svd(pts, full_matrices=False)
    d = vt[0]
    towards = d if d @ (np.mean(grid.cam_xy, axis=0) - grid.size / 2) >= 0 else -d
    _set_direction(grid, est, towards)
    est.why = "no elongated shadow: light assumed behind the camera"


def _penumbra_angle(smooth: np.ndarray, thresh: float, m_per_px: float, occluder_dist_m: float) -> float:
    """Angular size (degrees) from the 10-90 % width of the shadow edges."""
    gy, gx = np.gradient(smooth)
    g = np.hypot(gx, gy)
    edge = np.abs(smooth - thresh) < 0.15
    if edge.sum() < 10:
        return 2.0
    step = float(np.percentile(smooth, 90) - np.percentile(smooth, 10))
    width_px = step / max(float(np.percentile(g[edge], 90)), 1e-6) * 0.8
    smoothing_px = 0.1 / m_per_px * 2.0  # the blur the analysis itself added
    width_m = max(width_px - smoothing_px, 0.0) * m_per_px
    return float(np.clip(math.degrees(math.atan2(width_m, max(occluder_dist_m, 0.3))), 0.5, 20.0))
