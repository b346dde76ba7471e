"""PLACEHOLDER: what moves on its own in the plate (people, cars ...), as a mask per frame.

!!! This is a deliberately simple stand-in so that the automatic holdout (ml/camera/occlusion,
app.run) can be wired and run on this branch. The real ``moving_masks`` is written on the
``motion`` branch with this same signature and REPLACES this file at merge; nothing but
``app.stages.auto_holdout`` imports it, and the occlusion tests do not use it. !!!

Method: frame differencing after aligning each neighbour frame onto the frame by a RANSAC
homography of tracked corners (the dominant plane: the ground, or the whole view of a
tripod shot). A pixel moves when it differs from both neighbours (the previous and the
next frame; one at the ends), which removes the ghost an object leaves where it was.
Parallax of off-plane static structure reads as motion here; the real one handles it.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

DIFF_THRESHOLD = 18
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
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(src, dst, pts, None, winSize=(21, 21), maxLevel=2)
    ok = st.reshape(-1) == 1
    if ok.sum() < 8:
        return None
    H, inl = cv2.findHomography(pts[ok], nxt[ok], cv2.RANSAC, 2.0)
    if H is None or inl is None or inl.sum() < 8:
        return None
    return H


def _differs(cur: np.ndarray, other: np.ndarray) -> np.ndarray | None:
    H = _align(other, cur)
    if H is None:
        return None
    h, w = cur.shape
    warped = cv2.warpPerspective(other, H, (w, h), flags=cv2.INTER_LINEAR)
    seen = cv2.warpPerspective(np.full_like(other, 255), H, (w, h), flags=cv2.INTER_NEAREST) > 0
    return (cv2.absdiff(cur, warped) > DIFF_THRESHOLD) & seen


def _clean(m: np.ndarray) -> np.ndarray:
    u = m.astype(np.uint8)
    u = cv2.morphologyEx(u, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    u = cv2.morphologyEx(u, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(u, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= MIN_AREA_FRAC * u.size
    u = keep[labels].astype(np.uint8)
    # fill holes: what the border cannot reach through the background is inside an object
    flood = np.pad(1 - u, 1, constant_values=1)
    cv2.floodFill(flood, None, (0, 0), 2)
    return (u > 0) | (flood[1:-1, 1:-1] == 1)


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
        diffs = []
        for j in (i - 1, i + 1):
            if 0 <= j < len(nums) and grey[nums[j]].shape == grey[f].shape:
                d = _differs(grey[f], grey[nums[j]])
                if d is not None:
                    diffs.append(d)
        if not diffs:
            unaligned += 1
            m = np.zeros(grey[f].shape, bool)
        else:
            m = _clean(np.logical_and.reduce(diffs))
        w, h = sizes[f]
        out[f] = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool) if m.shape != (h, w) else m
    if log is not None and unaligned:
        log(f"[vanelia] motion: {unaligned}/{len(nums)} frame(s) could not be aligned to a neighbour; no moving mask there")
    return out
