"""PLACEHOLDER: what moves on its own in the plate (people, cars ...), as a mask per frame.

!!! This is a deliberately simple stand-in so that the automatic holdout (ml/camera/occlusion,
app.run) can be wired and run on this branch. The real ``moving_masks`` is written on the
``motion`` branch with this same signature and REPLACES this file at merge; nothing but
``app.stages.auto_holdout`` imports it, and the occlusion tests do not use it. !!!

Method: background differencing after alignment. The neighbour frames (up to WINDOW on
each side) are aligned onto the frame by a RANSAC homography of tracked corners (the
dominant plane: the ground, or the whole view of a tripod shot); their per-pixel median is
the background, and a pixel moves when the frame differs from it. An object that moves
less than its own width within the window is partly missed; parallax of off-plane static
structure reads as motion. The real one handles both.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

DIFF_THRESHOLD = 18
WINDOW = 3
"""Grey levels (8-bit, after a light blur) a pixel must differ from both neighbours by."""
MIN_AREA_FRAC = 0.002
"""Components smaller than 0.2 % of the frame are dropped (noise, compression blocks)."""


def _gray(img: Path | np.ndarray, max_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    if isinstance(img, np.ndarray):
        g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    else:
        g = cv2.imread(str(img), cv2.IMREAD_GRAYSCALE)
        if g is None:
            raise FileNotFoundError(f"{img}: cannot read this plate frame")
    if g.dtype != np.uint8:
        g = np.clip(g.astype(np.float32) * (255.0 if g.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    h, w = g.shape
    s = min(1.0, max_side / max(h, w)) if max_side > 0 else 1.0
    small = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else g
    return cv2.GaussianBlur(small, (0, 0), 1.0), (w, h)


def _align(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Homography taking ``src`` pixels onto ``dst`` (None when it cannot be found)."""
    pts = cv2.goodFeaturesToTrack(src, maxCorners=400, qualityLevel=0.01, minDistance=7)
    if pts is None or len(pts) < 8:
        return None
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(src, dst, pts, pts.copy(), winSize=(21, 21), maxLevel=2)
    ok = st.reshape(-1) == 1
    if ok.sum() < 8:
        return None
    H, inl = cv2.findHomography(pts[ok], nxt[ok], cv2.RANSAC, 2.0)
    if H is None or inl is None or inl.sum() < 8:
        return None
    return H


def _warped(cur: np.ndarray, other: np.ndarray) -> np.ndarray | None:
    """``other`` aligned onto ``cur`` as float32, NaN where it does not cover ``cur``."""
    H = _align(other, cur)
    if H is None:
        return None
    h, w = cur.shape
    warped = cv2.warpPerspective(other, H, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
    seen = cv2.warpPerspective(np.full_like(other, 255), H, (w, h), flags=cv2.INTER_NEAREST) > 0
    warped[~seen] = np.nan
    return warped


def _clean(m: np.ndarray) -> np.ndarray:
    opened = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    closed = cv2.morphologyEx(opened, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= MIN_AREA_FRAC * closed.size
    objects = keep[labels]
    # fill holes: background regions that do not reach the frame's border are inside an object
    _, back, _, _ = cv2.connectedComponentsWithStats((~objects).astype(np.uint8), connectivity=4)
    outer = np.unique(np.concatenate([back[0], back[-1], back[:, 0], back[:, -1]]))
    return objects | ~np.isin(back, outer)


def moving_masks(frames: Mapping[int, Path | np.ndarray], log: Callable[[str], None] | None = None,
                 max_side: int = 640) -> dict[int, np.ndarray]:
    """{frame: bool HxW at the frame's size, True = moves on its own} (PLACEHOLDER: module docstring)."""
    nums = sorted(frames)
    grey: dict[int, np.ndarray] = {}
    sizes: dict[int, tuple[int, int]] = {}
    for f in nums:
        grey[f], sizes[f] = _gray(frames[f], max_side)
    out: dict[int, np.ndarray] = {}
    unaligned = 0
    for i, f in enumerate(nums):
        others = []
        for j in range(max(0, i - WINDOW), min(len(nums), i + WINDOW + 1)):
            if j != i and grey[nums[j]].shape == grey[f].shape:
                warped = _warped(grey[f], grey[nums[j]])
                if warped is not None:
                    others.append(warped)
        if len(others) < 2:
            unaligned += 1
            m = np.zeros(grey[f].shape, bool)
        else:
            cur = grey[f].astype(np.float32)
            stack = np.stack(others)
            stack = np.where(np.isnan(stack), cur[None], stack)  # not seen there: counts as agreeing
            background = np.median(stack, axis=0)
            m = _clean(np.abs(cur - background) > DIFF_THRESHOLD)
        w, h = sizes[f]
        out[f] = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool) if m.shape != (h, w) else m
    if log is not None and unaligned:
        log(f"[vanelia] motion: {unaligned}/{len(nums)} frame(s) could not be aligned to a neighbour; no moving mask there")
    return out
