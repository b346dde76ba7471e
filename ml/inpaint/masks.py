"""Hole masks for training and for the video-completion evaluation (seeded, reproducible).

Curriculum (as in the reference DSTT training): rectangles covering 5-20 % of the frame or
free-form brush strokes; with probability 0.5 the same mask on every frame (a static
occluder), otherwise the mask drifts a few pixels per frame (a moving occluder).
"""
from __future__ import annotations

import cv2
import numpy as np


def rect_mask(h: int, w: int, rng: np.random.Generator, area: tuple[float, float] = (0.05, 0.20)) -> np.ndarray:
    """One rectangle covering a random fraction of the frame in ``area``."""
    frac = rng.uniform(*area)
    aspect = rng.uniform(0.5, 2.0)
    rh = int(np.clip(round(np.sqrt(frac * h * w / aspect)), 4, h - 2))
    rw = int(np.clip(round(frac * h * w / rh), 4, w - 2))
    y0 = int(rng.integers(0, h - rh + 1))
    x0 = int(rng.integers(0, w - rw + 1))
    m = np.zeros((h, w), bool)
    m[y0 : y0 + rh, x0 : x0 + rw] = True
    return m


def stroke_mask(h: int, w: int, rng: np.random.Generator, area: tuple[float, float] = (0.05, 0.20)) -> np.ndarray:
    """Free-form brush strokes (random walks of thick lines) until the coverage is reached."""
    target = rng.uniform(*area)
    m = np.zeros((h, w), np.uint8)
    width = max(3, int(min(h, w) * rng.uniform(0.04, 0.09)))
    for _ in range(40):
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(3, 8))):
            angle += rng.normal(0, 0.8)
            length = rng.uniform(0.05, 0.2) * max(h, w)
            nx = float(np.clip(x + length * np.cos(angle), 0, w - 1))
            ny = float(np.clip(y + length * np.sin(angle), 0, h - 1))
            cv2.line(m, (int(x), int(y)), (int(nx), int(ny)), (1,), width)
            x, y = nx, ny
        if m.mean() >= target:
            break
    return m.astype(bool)


def shift_mask(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Translate without wrap-around (what leaves the frame is lost)."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def sequence_masks(
    n: int,
    h: int,
    w: int,
    rng: np.random.Generator,
    p_same: float = 0.5,
    kind: str | None = None,
    area: tuple[float, float] = (0.05, 0.20),
    max_step: int | None = None,
) -> list[np.ndarray]:
    """Masks for ``n`` frames: one shape, static (p_same) or drifting by a constant velocity."""
    kind = kind or ("rect" if rng.random() < 0.5 else "stroke")
    base = rect_mask(h, w, rng, area) if kind == "rect" else stroke_mask(h, w, rng, area)
    if rng.random() < p_same:
        return [base.copy() for _ in range(n)]
    step = max_step if max_step is not None else max(1, min(h, w) // 60)
    vx, vy = (int(v) for v in rng.integers(-step, step + 1, size=2))
    if vx == 0 and vy == 0:
        vx = step
    ys, xs = np.nonzero(base)
    lo_x, hi_x = -int(xs.min()), w - 1 - int(xs.max())
    lo_y, hi_y = -int(ys.min()), h - 1 - int(ys.max())
    return [shift_mask(base, _bounce(vx * t, lo_x, hi_x), _bounce(vy * t, lo_y, hi_y)) for t in range(n)]


def _bounce(x: int, lo: int, hi: int) -> int:
    """x reflected back and forth inside [lo, hi] (the occluder stays in the frame)."""
    span = hi - lo
    if span <= 0:
        return 0
    r = (x - lo) % (2 * span)
    return lo + (r if r <= span else 2 * span - r)


# ----------------------------------------------------------------------------- object-shaped masks
def _centre(h: int, w: int, r: float, rng: np.random.Generator) -> tuple[float, float]:
    """A centre that keeps a shape of radius ``r`` inside the frame where the frame allows."""
    my, mx = min(r, h / 2), min(r, w / 2)
    return float(rng.uniform(my, h - my)), float(rng.uniform(mx, w - mx))


def blob_mask(h: int, w: int, rng: np.random.Generator, area: tuple[float, float] = (0.05, 0.20)) -> np.ndarray:
    """A smooth random silhouette (a star-shaped radius field: low-frequency sines around a
    centre), the outline of a removable thing rather than a brush stroke."""
    frac = rng.uniform(*area)
    r0 = np.sqrt(frac * h * w / np.pi)
    cy, cx = _centre(h, w, r0, rng)
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    radius = np.ones_like(theta)
    for k in range(1, 6):
        radius += rng.normal(0, 0.25 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    aspect = rng.uniform(0.5, 2.0)  # tall things (people, poles) and wide ones (cars)
    ry, rx = r0 * np.sqrt(aspect), r0 / np.sqrt(aspect)
    pts = np.stack([cx + rx * radius.clip(0.3) * np.cos(theta), cy + ry * radius.clip(0.3) * np.sin(theta)], -1)
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(pts).astype(np.int32)], (1,))
    return m.astype(bool)


def polygon_mask(h: int, w: int, rng: np.random.Generator, area: tuple[float, float] = (0.05, 0.20)) -> np.ndarray:
    """A random convex-ish polygon (hard man-made outlines: signs, boxes, vehicles)."""
    frac = rng.uniform(*area)
    r0 = np.sqrt(frac * h * w / np.pi) * 1.15
    cy, cx = _centre(h, w, r0, rng)
    n = int(rng.integers(3, 9))
    theta = (np.arange(n) + rng.uniform(-0.3, 0.3, n)) * (2 * np.pi / n) + rng.uniform(0, 2 * np.pi)
    radius = r0 * rng.uniform(0.6, 1.2, n)
    pts = np.stack([cx + radius * np.cos(theta), cy + radius * np.sin(theta)], -1)
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(pts).astype(np.int32)], (1,))
    return m.astype(bool)


def moving_object_masks(
    n: int, h: int, w: int, rng: np.random.Generator, area: tuple[float, float] = (0.05, 0.20),
    shape: str | None = None,
) -> list[np.ndarray]:
    """An object silhouette that moves like one: a smooth path (velocity + acceleration), a
    slow turn and a scale change (coming closer / going away), often with a second object.

    Why not only the curriculum's shifted masks: real removal targets (people, cars) change
    outline and size as they move; a network trained only on rigidly shifted strokes sees a
    different hole statistic from the one it is used on."""
    shape = shape or ("blob" if rng.random() < 0.6 else "polygon")
    base = (blob_mask if shape == "blob" else polygon_mask)(h, w, rng, area)
    ys, xs = np.nonzero(base)
    cy, cx = float(ys.mean()), float(xs.mean())
    step = min(h, w) / 40.0
    v = rng.normal(0, step, 2)
    acc = rng.normal(0, step / 8, 2)
    spin = rng.normal(0, 1.5)  # degrees per frame
    grow = rng.uniform(-0.02, 0.02)  # scale change per frame
    out = []
    for t in range(n):
        dx, dy = v * t + 0.5 * acc * t * t
        mat = np.asarray(cv2.getRotationMatrix2D((cx, cy), spin * t, float(np.clip(1 + grow * t, 0.5, 2.0))), np.float64)
        mat[:, 2] += (dx, dy)
        moved = cv2.warpAffine(base.astype(np.uint8), mat, (w, h), flags=cv2.INTER_NEAREST) > 0
        out.append(moved if moved.any() else base.copy())  # never an empty hole: it stays put
    if rng.random() < 0.3:  # a second, smaller object crossing
        other = moving_object_masks(n, h, w, rng, (area[0] / 2, area[1] / 2), "polygon" if shape == "blob" else "blob")
        out = [a | b for a, b in zip(out, other)]
    return out


def training_masks(n: int, h: int, w: int, rng: np.random.Generator, p_object: float = 0.5,
                   area: tuple[float, float] = (0.05, 0.20)) -> list[np.ndarray]:
    """The training mix: moving object silhouettes (``p_object``) or the curriculum's
    rectangles / strokes (static or drifting)."""
    if rng.random() < p_object:
        return moving_object_masks(n, h, w, rng, area)
    return sequence_masks(n, h, w, rng, area=area)
