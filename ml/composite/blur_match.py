"""The plate's blur where the product stands, measured, so the product gets the same.

A camera's picture is softer than a path tracer's: the lens (defocus, a phone's soft optics),
the camera moving while the shutter is open, compression. A product rendered crisp on such a
plate reads as pasted on at the first look. The blur is modelled as one Gaussian with a 2x2
covariance in pixels: defocus makes it round, motion stretches it along the motion.

How it is measured (re-blur at edges): a step edge blurred by sigma along its normal loses
R = sqrt(sigma^2 + s0^2) / sigma of its gradient peak when blurred again by a known s0, so
sigma = s0 / sqrt(R^2 - 1) at every edge pixel. The edge's normal n is the gradient's
direction and n^T C n = sigma^2 is one linear equation in C's three entries; the typical
sigma^2 in each of four bins of edge orientation solves for C. A typical value, not a
least-squares fit: the plate has texture, corners, noise and edges soft by nature, each of
which throws single edges far off.

The product is measured the same way (its silhouette over black and its own edges) and the
difference C_plate - C_render (no negative part) is what is added: the estimator's own bias
(the derivative filter's width, neighbouring edges) is the same on both and cancels.

Which edges count. A camera's picture holds edges no lens blur can make: grass blades and
texture a pixel or two apart, a phone's sharpening halos, the codec's block steps. Each reads
narrower than the blur at a small re-blur and wider at a large one, where a blurred step reads
the same width at any. So every edge is read at two re-blurs (REBLUR_SIGMA, CHECK_SIGMA) and
kept only where the two agree (AGREE); of those an orientation's typical width is the most
common one (the mode), not a low percentile. Measured on Cycles truth plates softened by a
known Gaussian (and sharpened and JPEG-coded as a phone does): the low percentile over all
edges read a 1 px blur as 0-0.5 px and 1.5 px as 0.3-1.1 (the product was left crisp on every
soft plate below 2 px); agreed edges and their mode read 0.65-0.95 and 1.45 without the phone's
processing, 0.34-0.76 and 1.27 with it (a sharpened edge is narrower), and 0-0.37 on the
plates as rendered.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ml.io.colour import linear_to_srgb, luminance

from .noise import estimate_noise

REBLUR_SIGMA = 1.5
"""s0, px: large enough that a 4 px blur still loses a measurable part of its gradient, small
enough that neighbouring edges rarely fall inside it."""
CHECK_SIGMA = 3.0
"""The second re-blur, px: a blurred step reads the same width at both, texture, halos and
codec steps do not (neighbours fall inside the wider one)."""
AGREE = 0.2
"""How far the two readings of one edge may differ (relative) for it to count as a step."""
MODE_BIN_PX = 0.025
MODE_SMOOTH_PX = 0.075
"""Histogram of edge widths (sigma, px) and the smoothing its peaks are read off."""
PEAK_SHARE = 0.5
"""A peak of the widths' histogram counts when it is at least this share of the highest."""
MAX_SIGMA_PX = 8.0
"""A single edge's blur is taken up to this; wider reads as a smooth ramp, not an edge."""
MIN_CONTRAST = 0.04
"""Smallest step (display values, 0..1) an edge must have: fainter ones are mostly noise."""
NOISE_MARGIN = 6.0
"""An edge's gradient must also stand this many noise sigmas above the noise's own."""
MIN_EDGES_PER_BIN = 12
"""Edge pixels an orientation bin needs for its median to count fully (and the region in all)."""
MIN_EDGES_IN_BIN = 4
"""Fewer than this and a bin is not used: motion blur leaves few edges across the motion."""
DEAD_ZONE_PX = 0.5
"""Extra blur under this is left out: on sharp plates (eval-insert truth, Cycles like the
product) plate minus render spreads this far either side of zero."""
RENDER_SIGMA_PX = 0.75
"""A Cycles render's own blur as this estimator reads it (pixel filter + derivative width),
used for the product when it has too few edges to be measured: measured on eval-insert truth
plates (Cycles, 1.5 px Blackman-Harris filter), whose extra blur over the product is none."""
MIN_KERNEL_SIGMA_PX = 0.3
"""Less blur than this is below what a pixel shows: the product is left as it is."""
EMA_WEIGHT = 0.25
"""Weight of a new frame's covariance in the running estimate over a sequence: one frame's
few edges are noisy, and a product whose sharpness flickers reads worse than either."""

SHARP_PLATE_PX = 0.9
"""The typical width (sigma, px) this estimator reads over a whole plate as sharp as a render:
Cycles truth plates read 0.84-0.99 (one room 0.54); the same through a 1.2 px lens 1.44-1.56."""

MIN_LENS_EDGES = 200
"""Step edges a whole frame needs for its blur to be read: a frame of nothing but soft shading
(a pool of light, a horizon) has a few dozen, all as wide as the shading, not the lens (truth
plates at 320x180 have 500-1800, real ones at 480 px wide 7000-9500)."""

ROUND_PRIOR = 0.1
"""Weight of 'the blur is round' against one orientation bin's median (weight 1)."""

_BINS = np.array([0.0, 45.0, 90.0, 135.0])
_BIN_ROWS = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, 0.5], [0.0, 0.0, 1.0], [0.5, -1.0, 0.5]])
"""n^T C n for C = [[a, b], [b, c]] as rows over (a, b, c), n at each bin's angle."""


@dataclass
class EdgeBlur:
    """Blur samples of one image region: per edge pixel its normal angle (deg, 0..180) and
    sigma^2 (px^2)."""

    angle_deg: np.ndarray
    sigma2: np.ndarray

    def __len__(self) -> int:
        return len(self.sigma2)


def display_luma(rgb_linear: np.ndarray) -> np.ndarray:
    """Display-encoded luminance (one sRGB curve on the linear luminance: a third of the cost
    of encoding every channel, and edges are where they were)."""
    return linear_to_srgb(np.clip(luminance(rgb_linear), 0.0, 1.0)).astype(np.float32)


def edge_blur(rgb_linear: np.ndarray, region: np.ndarray | None = None) -> EdgeBlur:
    """Blur samples at the edges of ``rgb_linear`` (linear HxWx3) inside ``region`` (bool)."""
    y = display_luma(rgb_linear)
    gx, gy = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.hypot(gx, gy)
    # Sobel's gain on a unit step is 4; its noise gain sqrt(12)
    lo = max(4.0 * MIN_CONTRAST, NOISE_MARGIN * math.sqrt(12.0) * float(estimate_noise(y[..., None], stride=3)[0]))
    dx, dy = np.rint(gx * 255).astype(np.int16), np.rint(gy * 255).astype(np.int16)
    edges = cv2.Canny(dx, dy, lo * 255 * 0.5, lo * 255, L2gradient=True) > 0
    edges &= mag >= lo
    edges[:3], edges[-3:], edges[:, :3], edges[:, -3:] = False, False, False, False
    if region is not None:
        edges &= region
    sigma2 = _reblur_width2(y, mag, edges, REBLUR_SIGMA)
    check2 = _reblur_width2(y, mag, edges, CHECK_SIGMA)
    ang = np.degrees(np.arctan2(gy[edges], gx[edges])) % 180.0
    keep = np.isfinite(sigma2) & np.isfinite(check2) & (sigma2 <= MAX_SIGMA_PX**2)
    keep[keep] = np.abs(np.sqrt(check2[keep]) - np.sqrt(sigma2[keep])) <= AGREE * np.sqrt(sigma2[keep])
    return EdgeBlur(ang[keep].astype(np.float32), sigma2[keep].astype(np.float32))


def _reblur_width2(y: np.ndarray, mag: np.ndarray, edges: np.ndarray, s0: float) -> np.ndarray:
    """sigma^2 (px^2) at each edge pixel from the gradient lost to a re-blur by ``s0``: inf where
    none is lost (no step there)."""
    yb = cv2.GaussianBlur(y, (0, 0), s0)
    magb = np.hypot(cv2.Sobel(yb, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(yb, cv2.CV_32F, 0, 1, ksize=3))
    r = mag[edges] / np.maximum(magb[edges], 1e-6)
    return np.where(r > 1.0 + 1e-3, s0**2 / np.maximum(r**2 - 1.0, 1e-6), np.inf)


def typical_width2(sigma2: np.ndarray) -> float:
    """The sharpest common edge width (as sigma^2): of the peaks of the widths' smoothed
    histogram at least PEAK_SHARE of the highest, the narrowest; their median where too few
    edges make one (MIN_EDGES_PER_BIN). Edges soft by nature (a room's shading, a soft fold)
    make a second, wider peak, and nothing makes an edge sharper than the blur lets it be."""
    s = np.sqrt(np.asarray(sigma2, np.float64))
    if len(s) < MIN_EDGES_PER_BIN:
        return float(np.median(s)) ** 2
    bins = np.arange(0.0, MAX_SIGMA_PX + MODE_BIN_PX, MODE_BIN_PX)
    hist = np.histogram(s, bins=bins)[0].astype(np.float32)
    hist = cv2.GaussianBlur(hist[None], (0, 0), sigmaX=MODE_SMOOTH_PX / MODE_BIN_PX)[0]
    inner = hist[1:-1]
    peaks = np.nonzero((inner >= hist[:-2]) & (inner > hist[2:]) & (inner >= PEAK_SHARE * hist.max()))[0] + 1
    at = int(peaks[0]) if len(peaks) else int(np.argmax(hist))
    return float(bins[at] + MODE_BIN_PX / 2) ** 2


def lens_blur_px(rgb_linear: np.ndarray) -> float | None:
    """The plate's own blur (sigma, px, round) beyond what a sharp render shows, from the
    typical width of all its step edges; None with too few edges to say. Whole frames give
    thousands of edges, so one number is steady where the product's crop needs orientations."""
    samples = edge_blur(rgb_linear)
    if len(samples) < MIN_LENS_EDGES:
        return None
    return math.sqrt(max(typical_width2(samples.sigma2) - SHARP_PLATE_PX**2, 0.0))


def covariance(samples: EdgeBlur, min_per_bin: int = MIN_EDGES_PER_BIN) -> np.ndarray | None:
    """2x2 blur covariance (px^2) from edge samples; None with too few edges. With edges of
    only one or two orientations the blur is taken as round (their median)."""
    if len(samples) < min_per_bin:
        return None
    d = np.abs(((samples.angle_deg[:, None] - _BINS[None, :]) + 90.0) % 180.0 - 90.0)
    nearest = d.argmin(axis=1)
    rows, vals = [], []
    for b in range(4):
        s = samples.sigma2[nearest == b]
        if len(s) >= MIN_EDGES_IN_BIN:  # a bin with few edges counts for less
            w = min(1.0, len(s) / min_per_bin)
            rows.append(_BIN_ROWS[b] * w)
            vals.append(typical_width2(s) * w)
    if not rows:
        m = typical_width2(samples.sigma2)
        return np.array([[m, 0.0], [0.0, m]])
    # a weak pull towards a round blur decides what the bins present leave open
    rows += [[ROUND_PRIOR, 0.0, -ROUND_PRIOR], [0.0, ROUND_PRIOR, 0.0]]
    vals += [0.0, 0.0]
    a, b, c = np.linalg.lstsq(np.array(rows), np.array(vals), rcond=None)[0]
    return _psd(np.array([[a, b], [b, c]]))


def _psd(cov: np.ndarray, cap: float = MAX_SIGMA_PX) -> np.ndarray:
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    w = np.clip(w, 0.0, cap**2)
    return (v * w) @ v.T


def extra_blur(plate: np.ndarray, plate_region: np.ndarray, product: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
    """Covariance (px^2) to blur the product with so it is as soft as the plate around it;
    None when the plate shows too few edges there to say."""
    return extra_blur_from(covariance(edge_blur(plate, plate_region)), product, alpha)


def extra_blur_from(c_plate: np.ndarray | None, product: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
    """``extra_blur`` with the plate's covariance already measured."""
    if c_plate is None:
        return None
    over_black = product * alpha[..., None]
    c_render = covariance(edge_blur(over_black, cv2.dilate((alpha > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0))
    if c_render is None:
        c_render = np.eye(2) * RENDER_SIGMA_PX**2
    w, v = np.linalg.eigh(c_plate - c_render)
    w = np.clip(w - DEAD_ZONE_PX**2, 0.0, MAX_SIGMA_PX**2)
    return (v * w) @ v.T


def kernel(cov: np.ndarray) -> np.ndarray | None:
    """Normalised anisotropic Gaussian for ``cov``; None when it would change nothing."""
    w = np.linalg.eigvalsh(cov)
    if w.max() < MIN_KERNEL_SIGMA_PX**2:
        return None
    r = int(math.ceil(3.0 * math.sqrt(w.max())))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    inv = np.linalg.inv(cov + np.eye(2) * 1e-3)
    k = np.exp(-0.5 * (inv[0, 0] * xx * xx + 2 * inv[0, 1] * xx * yy + inv[1, 1] * yy * yy))
    return (k / k.sum()).astype(np.float32)


def blur_premultiplied(rgb: np.ndarray, alpha: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blur a straight-alpha product by ``cov`` (premultiplied, so no dark fringe)."""
    k = kernel(cov)
    if k is None:
        return rgb, alpha
    pre = cv2.filter2D((rgb * alpha[..., None]).astype(np.float32), -1, k, borderType=cv2.BORDER_CONSTANT)
    a = cv2.filter2D(alpha.astype(np.float32), -1, k, borderType=cv2.BORDER_CONSTANT)
    return (pre / np.maximum(a, 1e-5)[..., None]).astype(np.float32), np.clip(a, 0.0, 1.0).astype(np.float32)


class BlurTracker:
    """Running estimate of the extra blur over one sequence (EMA_WEIGHT per new frame)."""

    def __init__(self) -> None:
        self.cov: np.ndarray | None = None

    def update(self, cov: np.ndarray | None) -> np.ndarray | None:
        if cov is None:
            return self.cov
        self.cov = cov if self.cov is None else (1.0 - EMA_WEIGHT) * self.cov + EMA_WEIGHT * cov
        return self.cov

    def reset(self) -> None:
        self.cov = None


def describe(cov: np.ndarray | None) -> str:
    """'1.8 x 0.9 px at 12 deg' (sigma along the major and minor axes, major axis angle)."""
    if cov is None:
        return "not measured (too few edges)"
    if kernel(cov) is None:
        return "none (the plate is as sharp as the render)"
    w, v = np.linalg.eigh(cov)
    w = np.maximum(w, 0.0)
    ang = math.degrees(math.atan2(v[1, 1], v[0, 1])) % 180.0
    return f"{math.sqrt(w[1]):.1f} x {math.sqrt(w[0]):.1f} px at {ang:.0f} deg"
