"""Optical flow for video inpainting: OpenCV DIS, flow completion inside holes, consistency.

Flow convention: ``flow_ab[y, x] = (dx, dy)`` such that pixel (x, y) of frame a shows the
same point as (x + dx, y + dy) of frame b.
"""
from __future__ import annotations

import cv2
import numpy as np


def to_gray8(img: np.ndarray) -> np.ndarray:
    """uint8 grey for flow; float input is taken as [0, 1] display values."""
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
    return img


class FlowEstimator:
    """DIS optical flow (one instance per engine: OpenCV objects are not shared)."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        self.dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, a_gray: np.ndarray, b_gray: np.ndarray) -> np.ndarray:
        return self.dis.calc(a_gray, b_gray, None)


def fill_smooth(field: np.ndarray, hole: np.ndarray, iters: int = 40) -> np.ndarray:
    """Fill ``field`` (HxWxC float) inside ``hole`` smoothly from its surroundings.

    Push-pull (pyramid of normalised averages) gives every hole pixel a value from the
    nearest valid data at a coarse enough level; a few Jacobi sweeps of the Laplace equation
    at full resolution then make it a smooth membrane that meets the boundary exactly.
    """
    hole = hole.astype(bool)
    if not hole.any():
        return field.astype(np.float32, copy=True)
    if hole.all():
        return np.zeros_like(field, dtype=np.float32)
    f = field.astype(np.float32).copy()
    if f.ndim == 2:
        f = f[..., None]
    w = (~hole).astype(np.float32)
    filled = _push_pull(f * w[..., None], w)
    out = np.where(hole[..., None], filled, f)
    if iters > 0:
        out = _jacobi(out, hole, iters)
    return out if field.ndim == 3 else out[..., 0]


def _jacobi(out: np.ndarray, hole: np.ndarray, iters: int) -> np.ndarray:
    """Laplace smoothing sweeps on the hole's bounding box (values outside the hole fixed)."""
    ys, xs = np.nonzero(hole)
    h, w = hole.shape
    y0, y1 = max(ys.min() - 1, 0), min(ys.max() + 2, h)
    x0, x1 = max(xs.min() - 1, 0), min(xs.max() + 2, w)
    box = np.ascontiguousarray(out[y0:y1, x0:x1])
    inner = np.broadcast_to(hole[y0:y1, x0:x1, None], box.shape)
    kern = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)
    for _ in range(iters):
        avg = cv2.filter2D(box, -1, kern, borderType=cv2.BORDER_REPLICATE)
        if avg.ndim == 2:
            avg = avg[..., None]
        np.copyto(box, avg, where=inner)
    out[y0:y1, x0:x1] = box
    return out


def _push_pull(fw: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Normalised-average pyramid: value = sum(f*w)/sum(w) filled coarse-to-fine."""
    h, wd = w.shape
    if min(h, wd) <= 2 or w.min() > 0:
        s = w.sum()
        mean = fw.reshape(-1, fw.shape[-1]).sum(0) / max(s, 1e-6)
        return np.where(w[..., None] > 0, fw / np.maximum(w[..., None], 1e-6), mean)
    small_fw = cv2.resize(fw, ((wd + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    small_w = cv2.resize(w, ((wd + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    if small_fw.ndim == 2:
        small_fw = small_fw[..., None]
    coarse = _push_pull(small_fw, small_w)
    up = cv2.resize(coarse, (wd, h), interpolation=cv2.INTER_LINEAR)
    if up.ndim == 2:
        up = up[..., None]
    here = fw / np.maximum(w[..., None], 1e-6)
    a = np.clip(w, 0, 1)[..., None]
    return a * here + (1 - a) * up


def complete_flow(flow: np.ndarray, hole: np.ndarray, max_points: int = 4000) -> np.ndarray:
    """Replace the flow inside the hole (whose pixels are unknown) by a completion.

    Camera motion over a static background is close to a homography: fit one (RANSAC) to the
    flow outside the hole, fill the *residual* smoothly into the hole, add the homography
    back. Parallax and independent motion survive as residual; with too little valid flow
    the plain smooth fill is used.
    """
    hole = hole.astype(bool)
    if not hole.any():
        return flow.astype(np.float32, copy=True)
    h, w = hole.shape
    ys, xs = np.nonzero(~hole)
    if ys.size < 50:
        return fill_smooth(flow, hole)
    rng = np.random.default_rng(0)
    pick = rng.choice(ys.size, size=min(max_points, ys.size), replace=False)
    src = np.stack([xs[pick], ys[pick]], -1).astype(np.float32)
    dst = src + flow[ys[pick], xs[pick]]
    H, inl = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
    if H is None or inl is None or inl.sum() < 0.3 * len(pick):
        return fill_smooth(flow, hole)
    model = homography_flow(H, h, w)
    return model + fill_smooth(flow - model, hole)


def homography_flow(H: np.ndarray, h: int, w: int) -> np.ndarray:
    """Flow field of a 3x3 homography on an h x w pixel grid."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    den = H[2, 0] * gx + H[2, 1] * gy + H[2, 2]
    den = np.where(np.abs(den) < 1e-9, 1e-9, den)
    x2 = (H[0, 0] * gx + H[0, 1] * gy + H[0, 2]) / den
    y2 = (H[1, 0] * gx + H[1, 1] * gy + H[1, 2]) / den
    return np.stack([x2 - gx, y2 - gy], -1).astype(np.float32)


def warp(img: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample ``img`` (frame b) at p + flow(p): brings b into frame a's pixel grid."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE)


def consistency(flow_ab: np.ndarray, flow_ba: np.ndarray, alpha: float = 0.01, beta: float = 0.5) -> np.ndarray:
    """Forward-backward check (Sundaram et al.): True where a->b->a returns near the start
    and p + flow lands inside frame b."""
    h, w = flow_ab.shape[:2]
    back = warp(flow_ba, flow_ab)
    err = np.sum((flow_ab + back) ** 2, axis=-1)
    bound = alpha * (np.sum(flow_ab**2, axis=-1) + np.sum(back**2, axis=-1)) + beta
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    tx, ty = gx + flow_ab[..., 0], gy + flow_ab[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return (err < bound) & inside
