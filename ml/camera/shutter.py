"""The plate camera's shutter, measured from its motion blur, so the render blurs the same.

A camera whose shutter stays open for a fraction ``s`` of the frame interval smears every
point that moves ``v`` px per frame into a streak ``s |v|`` long. Cycles renders that blur from
the solved camera (``RenderSettings.motion_blur``) once ``s`` is known; a crisp product on a
streaked plate reads as pasted on at the first look, and a 180-degree guess streaks the
product on a phone's 1/1000 s daylight plate that has no blur at all.

How ``s`` is read off the plate, per patch rather than per frame, so that a subject the camera
follows (sharp, no flow) and the background it streaks (blurred, large flow) agree on one
shutter:

* The dense optical flow to both neighbours gives every pixel's velocity ``v`` (px/frame);
  patches whose flow is trustworthy and uniform are kept.
* In each patch, the autocorrelation of the image's second derivative along the motion, at
  lags along the motion, is the same curve across the motion (the lens, the texture: taken as
  isotropic) widened by the streak: convolved with a box's autocorrelation, a triangle
  ``s |v|`` wide. The curve across the motion is the control, so the lens's blur, the
  texture's scale and compression cancel. Patches weigh by their weaker direction's energy:
  an isolated edge has no texture across it to compare with.
* One ``s`` for all patches of the sampled frames: the one whose predicted curves are most
  alike (cosine) to the measured ones; used when it fits MIN_GAIN better than no blur.

Tried and dropped (docs/NUMBERS.md, stop 23): edge widths across and along the motion (a
streak longer than a thin feature - a bar, a branch, a blade of grass - leaves a short faint
ramp that reads sharp: a 180-degree shutter on a 12 px/frame pan read 0.18), and the first
derivative's autocorrelation (wood grain and tiles along the pan read as streaks on the sharp
truth interiors, up to 0.93; the second derivative's reads all 39 sharp truth plates off).
A camera moving under ``MIN_SPEED_PX`` px per frame has no motion blur worth matching: the
answer is then "off", with the reason. Smooth plates (CG, denoised grass) give no texture to
compare against, and read off too: a false positive streaks a product on a sharp plate.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ml.io.colour import linear_to_srgb, luminance
from ml.pipeline.fastio import read_linear
from shotcache.layout import ShotPaths

from .motion import DenseFlow, occluded

FLOW_WIDTH = 480
"""Frames are reduced to this width for the flow."""
TARGET_SPEED_PX = 8.0
"""The patches are measured at a scale where the fast ones move about this much per frame:
long enough that a short shutter's streak spans pixels, short enough for the lags."""
MIN_WIDTH = 200
"""Smallest width the patches are measured at, whatever the speed."""
MAX_LAG = 14
"""Lags (px at the measuring scale) of the autocorrelation: a full-frame shutter at the
target speed, plus the lens."""
PATCH = 32
"""Side of a patch (px at the measuring scale)."""
MIN_PATCH_SPEED_PX = 1.5
"""A patch moving less than this per frame (measuring scale) says nothing about the shutter."""
MIN_PATCHES = 12
"""Moving patches the fit needs over the sampled frames."""
MIN_SPEED_PX = 2.0
"""Full-resolution speed (px/frame) the fast patches must reach: under it even a full-frame
shutter smears about a pixel, nothing to match."""
SHUTTERS = np.linspace(0.0, 1.0, 41)
MIN_STREAK_PX = 1.5
"""A shutter whose streak on the fast patches is shorter than this (px, full resolution) is
off: the measure errs by about a pixel of streak (synthetic pans of 2-4 px/frame), and a
streak that short is not seen."""
MIN_GAIN = 0.08
"""How much better than no blur the best shutter must explain the curves (1 - cosine) to be
used. Sharp path-traced plates with a moving camera (eval-insert truth, 39 sets) gain at most
6 %; synthetic pans with a 1/4 to full-frame shutter at 4-24 px/frame gain 15-68 %; the
blurred real clips (bmx-trees, lady-running) 35-39 %."""
MAX_WIDTH = 960
"""Largest width the patches are measured at (a slow 4K pan needs no more to be read)."""
MAX_TRIPLETS = 8
"""Frames (each with both neighbours) sampled over the shot."""


@dataclass
class ShutterEstimate:
    """``shutter``: fraction of the frame interval (0 = off, also when it cannot be read);
    ``measured``: whether the footage said so (False: too little motion or texture)."""

    shutter: float
    measured: bool
    why: str
    speed_px: float = 0.0
    """The fast patches' speed (90th percentile), px/frame at full resolution."""
    patches: int = 0


def _gray(img: np.ndarray, width: int) -> np.ndarray:
    h, w = img.shape[:2]
    small = cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA) if w != width else img
    y = linear_to_srgb(np.clip(luminance(small), 0.0, 1.0))
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)


def velocity(prev: np.ndarray, cur: np.ndarray, nxt: np.ndarray, gaps: tuple[int, int] = (1, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel velocity of ``cur`` (px/frame, HxWx2) from its flow to both neighbours (8-bit
    gray, ``gaps`` frames away), and where that is trustworthy: both flows return to the
    pixel (no occlusion) and agree on one velocity."""
    flow = DenseFlow()
    fwd, back = flow(cur, nxt), flow(nxt, cur)
    bwd, back2 = flow(cur, prev), flow(prev, cur)
    v = (fwd / gaps[1] - bwd / gaps[0]) / 2.0
    agree = np.hypot(*(fwd / gaps[1] + bwd / gaps[0]).transpose(2, 0, 1)) <= 0.5 + 0.25 * np.hypot(v[..., 0], v[..., 1])
    ok = agree & ~occluded(fwd, back) & ~occluded(bwd, back2)
    # a velocity that jumps within a pixel or two (a subject's outline against the background)
    # belongs to neither side
    gx = cv2.Sobel(v, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(v, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    jump = np.sqrt((gx * gx + gy * gy).sum(axis=2))
    ok &= cv2.erode((jump < 0.15 + 0.05 * np.hypot(v[..., 0], v[..., 1])).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return v.astype(np.float32), ok


@dataclass
class Patches:
    """Moving patches of one or more frames: speed (px/frame, measuring scale), the second
    derivative's autocorrelation along and across the motion at lags 0..MAX_LAG (normalised to
    1 at lag 0), and a weight (the energy of the weaker of the two directions)."""

    speed: np.ndarray
    along: np.ndarray
    across: np.ndarray
    weight: np.ndarray

    @staticmethod
    def join(parts: Sequence["Patches"]) -> "Patches":
        if not parts:
            return Patches(np.zeros(0), np.zeros((0, MAX_LAG + 1)), np.zeros((0, MAX_LAG + 1)), np.zeros(0))
        return Patches(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("speed", "along", "across", "weight")))


def patch_curves(gray: np.ndarray, v: np.ndarray, ok: np.ndarray) -> Patches:
    """The autocorrelation curves of every moving patch with a uniform, trustworthy flow
    (``gray``: display values 0..1 at the measuring scale, ``v``/``ok`` from ``velocity`` there).
    Patches overlap by half: a patch is PATCH wide, one every PATCH/2."""
    gxx = cv2.Sobel(gray, cv2.CV_32F, 2, 0, ksize=3) / 4.0
    gyy = cv2.Sobel(gray, cv2.CV_32F, 0, 2, ksize=3) / 4.0
    gxy = cv2.Sobel(gray, cv2.CV_32F, 1, 1, ksize=3) / 4.0
    sp = np.hypot(v[..., 0], v[..., 1]).astype(np.float32)
    ux, uy = v[..., 0] / np.maximum(sp, 1e-6), v[..., 1] / np.maximum(sp, 1e-6)
    h, w = gray.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    box = (PATCH, PATCH)
    cy, cx = np.meshgrid(np.arange(PATCH, h - PATCH, PATCH // 2), np.arange(PATCH, w - PATCH, PATCH // 2), indexing="ij")
    cy, cx = cy.ravel(), cx.ravel()
    curves = []
    for dx, dy in ((ux, uy), (-uy, ux)):  # along the motion, across it
        d = (dx * dx * gxx + 2 * dx * dy * gxy + dy * dy * gyy).astype(np.float32)
        lags = [cv2.boxFilter(d * cv2.remap(d, xs + t * dx, ys + t * dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT), -1, box)[cy, cx]
                for t in range(MAX_LAG + 1)]
        curves.append(np.stack(lags, axis=-1).astype(np.float64))
    mean = cv2.boxFilter(sp, -1, box)[cy, cx]
    spread = np.sqrt(np.maximum(cv2.boxFilter(sp * sp, -1, box)[cy, cx] - mean * mean, 0.0))
    good = cv2.boxFilter(ok.astype(np.float32), -1, box)[cy, cx]
    along, across = curves
    keep = (good >= 0.85) & (mean >= MIN_PATCH_SPEED_PX) & (spread <= 0.1 * mean + 0.3) & (along[:, 0] > 1e-7) & (across[:, 0] > 1e-7)
    return Patches(mean[keep].astype(np.float64), along[keep] / along[keep, :1], across[keep] / across[keep, :1],
                   np.minimum(along[keep, 0], across[keep, 0]))


def _streak_ac(length: np.ndarray) -> np.ndarray:
    """Streaks' (boxes') autocorrelations on lags -2 MAX_LAG..2 MAX_LAG, one row per length
    (px), each summing to 1 (a streak under a pixel long is no blur)."""
    k = np.arange(-2 * MAX_LAG, 2 * MAX_LAG + 1, dtype=np.float64)
    tri = np.clip(np.asarray(length, np.float64)[..., None] - np.abs(k), 0.0, None)
    tri[..., 2 * MAX_LAG] = np.maximum(tri[..., 2 * MAX_LAG], 1e-9)
    return tri / tri.sum(axis=-1, keepdims=True)


def predicted(across: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The curves along the motion that streaks ``length`` px long make of ``across`` (the
    static curves, N x lags 0..MAX_LAG, symmetric), normalised to 1 at lag 0."""
    sym = np.concatenate([across[..., :0:-1], across], axis=-1)
    kern = _streak_ac(length)
    n = sym.shape[-1] + kern.shape[-1] - 1
    full = np.fft.irfft(np.fft.rfft(sym, n) * np.fft.rfft(kern, n), n)
    out = full[..., 3 * MAX_LAG: 4 * MAX_LAG + 1]
    return out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)


def fit_shutter(p: Patches, scale: float = 1.0) -> ShutterEstimate:
    """The one shutter whose streaks best turn the curves across the motion into those along
    it, over all patches (weighted by gradient energy). ``scale``: measuring / full resolution."""
    n = len(p.speed)
    fast = float(np.percentile(p.speed, 90)) / max(scale, 1e-6) if n else 0.0
    if n < MIN_PATCHES:
        return ShutterEstimate(0.0, False, f"only {n} moving, textured patches with a steady flow (under {MIN_PATCHES}): "
                               "the shutter cannot be read; no motion blur", fast, n)
    if fast < MIN_SPEED_PX:
        return ShutterEstimate(0.0, False, f"the camera moves {fast:.1f} px per frame (under {MIN_SPEED_PX:g}): no motion "
                               "blur to match", fast, n)
    w = p.weight / p.weight.sum()
    along = p.along / np.maximum(np.linalg.norm(p.along, axis=1, keepdims=True), 1e-12)
    cost = np.array([(w * (1.0 - (predicted(p.across, s * p.speed) * along).sum(axis=1))).sum() for s in SHUTTERS])
    best = int(np.argmin(cost))
    s = float(SHUTTERS[best])
    gain = float((cost[0] - cost[best]) / max(cost[0], 1e-12))
    why = (f"shutter {s:.2f} of a frame, read from the motion blur of {n} patches (fast ones {fast:.1f} px/frame, "
           f"fit {gain:.0%} better than no blur)")
    shutter = s
    if s * fast < MIN_STREAK_PX:
        shutter, why = 0.0, why + f": a streak of {s * fast:.1f} px (under {MIN_STREAK_PX:g}) is not matched, off"
    elif gain < MIN_GAIN:
        shutter, why = 0.0, why + f": under {MIN_GAIN:.0%}, too weak to tell from the texture, off"
    return ShutterEstimate(shutter, True, why, fast, n)


def measuring_width(fast_px: float, flow_width: int, width: int) -> int:
    """Width to measure at so that the fast patches move about TARGET_SPEED_PX per frame
    (``fast_px`` at ``flow_width``); never above the frame's own width."""
    return int(np.clip(flow_width * TARGET_SPEED_PX / max(fast_px, 1e-6), min(MIN_WIDTH, width), min(MAX_WIDTH, width)))


def estimate_shutter(triplets: Sequence[tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[int, int]]]) -> ShutterEstimate:
    """One shutter for a shot from frames with their neighbours: ((prev, cur, next) linear
    HxWx3, (gap to prev, gap to next) in frames), pooled at one measuring scale."""
    if not triplets:
        return ShutterEstimate(0.0, False, "fewer than 3 frames: no motion to read a shutter from")
    width = triplets[0][0][1].shape[1]
    fw = min(FLOW_WIDTH, width)
    flows = [(velocity(_gray(frames[0], fw), _gray(frames[1], fw), _gray(frames[2], fw), gaps), frames[1]) for frames, gaps in triplets]
    speeds = np.concatenate([np.hypot(v[..., 0], v[..., 1])[ok] for (v, ok), _ in flows] or [np.zeros(1)])
    mw = measuring_width(float(np.percentile(speeds, 90)) if speeds.size else 0.0, fw, width)
    parts = []
    for (v, ok), cur in flows:
        gray = _gray(cur, mw).astype(np.float32) / 255.0
        size = (gray.shape[1], gray.shape[0])
        vs = cv2.resize(v, size, interpolation=cv2.INTER_LINEAR) * (mw / fw)
        oks = cv2.resize(ok.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        parts.append(patch_curves(gray, vs, oks))
    return fit_shutter(Patches.join(parts), mw / width)


def sample_triplets(frames: Sequence[int], n: int = MAX_TRIPLETS) -> list[tuple[int, int, int]]:
    """Up to ``n`` (prev, frame, next) of the shot's frames, spread over it."""
    fs = sorted(frames)
    if len(fs) < 3:
        return []
    mids = np.unique(np.linspace(1, len(fs) - 2, min(n, len(fs) - 2)).round().astype(int))
    return [(fs[i - 1], fs[i], fs[i + 1]) for i in mids]


def estimate_shot(shot_dir: str | Path) -> dict:
    """Measure a set-up shot's shutter from its plate frames and record it in shot.json
    (``render.motion_blur`` and why, ``render.motion_blur_note``): what the render step uses."""
    t0 = time.perf_counter()
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    picked = sample_triplets(shot.frames)
    cache: dict[int, np.ndarray] = {}

    def frame(f: int) -> np.ndarray:
        if f not in cache:
            cache[f] = read_linear(paths.plate_frame(f))
        return cache[f]

    est = estimate_shutter([((frame(a), frame(b), frame(c)), (b - a, c - b)) for a, b, c in picked])
    shot.render.motion_blur = float(est.shutter)
    shot.render.motion_blur_note = ("measured: " if est.measured else "auto, not measurable: ") + est.why
    paths.save_shot(shot)
    return {"seconds": time.perf_counter() - t0, "shutter": est.shutter, "measured": est.measured, "why": est.why,
            "frames_used": len(picked)}
