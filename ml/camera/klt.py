"""2D feature tracks through a continuous clip: pyramidal Lucas-Kanade, checked both ways.

Matching SIFT between neighbouring video frames throws away what a video gives for free:
a feature moves only a few pixels per frame. Following corners frame to frame gives long,
sub-pixel tracks even through motion blur, which is what a camera solve of a clip needs.
Tracks die where the forward-backward check fails (occlusion, blur, leaving the frame);
new corners are detected wherever the image has gone sparse, so coverage stays even.
Pixel coordinates use the corner convention ((0, 0) is the top-left corner of the image).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

LK = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))


@dataclass
class Tracks:
    """Observations per frame: ``obs[frame]`` is an (N, 3) array of (track id, x, y)."""

    width: int
    height: int
    obs: dict[int, np.ndarray] = field(default_factory=dict)

    def lengths(self) -> dict[int, int]:
        ids, counts = np.unique(np.concatenate([o[:, 0] for o in self.obs.values()]).astype(int), return_counts=True)
        return dict(zip(ids.tolist(), counts.tolist()))

    def keep(self, ids: set[int]) -> "Tracks":
        out = {}
        for f, o in self.obs.items():
            sel = np.isin(o[:, 0].astype(int), list(ids))
            out[f] = o[sel]
        return Tracks(self.width, self.height, out)

    def live(self, frame: int) -> int:
        return int(len(self.obs.get(frame, ())))


def _gray(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError(f"{path}: cannot read this frame")
    return img


def _free_mask(shape: tuple[int, int], pts: np.ndarray, min_distance: int, static: np.ndarray | None) -> np.ndarray:
    """Where new corners may go: off moving objects and away from live tracks."""
    mask = np.full(shape, 255, np.uint8) if static is None else static.copy()
    for x, y in pts:
        cv2.circle(mask, (int(x), int(y)), min_distance, 0, -1)
    return mask


def _object_mask(path: Path | None, shape: tuple[int, int]) -> np.ndarray | None:
    """255 where features may live: the inverse of a (dilated) moving-object mask."""
    if path is None:
        return None
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise ValueError(f"{path}: cannot read this mask")
    if m.shape != shape:
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.where(cv2.dilate((m > 127).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0, 0, 255).astype(np.uint8)


def track_frames(
    frames: dict[int, Path],
    masks: dict[int, Path] | None = None,
    max_corners: int = 1200,
    min_distance: int | None = None,
    quality: float = 0.003,
    fb_max_px: float = 0.5,
    min_length: int = 5,
) -> Tracks:
    """Follow corners through ``frames`` (in frame-number order); see the module docstring.

    ``masks`` (white = a moving object, e.g. a person) keep tracks off things that move on
    their own; a track that walks into a mask is cut. Tracks shorter than ``min_length``
    frames are dropped: they add noise and no constraint.
    """
    order = sorted(frames)
    masks = masks or {}
    prev = _gray(frames[order[0]])
    h, w = prev.shape
    min_distance = min_distance or max(5, min(w, h) // 60)
    ids = np.zeros(0, np.int64)
    pts = np.zeros((0, 2), np.float32)
    next_id = 0
    obs: dict[int, np.ndarray] = {}
    for i, f in enumerate(order):
        img = prev if i == 0 else _gray(frames[f])
        if img.shape != (h, w):
            raise ValueError(f"{frames[f]}: frame size {img.shape[1]}x{img.shape[0]} differs from the first frame's {w}x{h}")
        static = _object_mask(masks.get(f), (h, w))
        if i > 0 and len(pts):
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, img, pts.reshape(-1, 1, 2), None, **LK)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(img, prev, nxt, None, **LK)
            fb = np.linalg.norm((back - pts.reshape(-1, 1, 2)).reshape(-1, 2), axis=1)
            nxt = nxt.reshape(-1, 2)
            ok = (st.ravel() == 1) & (st2.ravel() == 1) & (fb < fb_max_px)
            ok &= (nxt[:, 0] >= 2) & (nxt[:, 1] >= 2) & (nxt[:, 0] < w - 3) & (nxt[:, 1] < h - 3)
            if static is not None and ok.any():
                xi = np.clip(nxt[:, 0].round().astype(int), 0, w - 1)
                yi = np.clip(nxt[:, 1].round().astype(int), 0, h - 1)
                ok &= static[yi, xi] > 0
            ids, pts = ids[ok], nxt[ok]
        if len(pts) < max_corners * 0.8:
            mask = _free_mask((h, w), pts, min_distance, static)
            new = cv2.goodFeaturesToTrack(img, maxCorners=max_corners - len(pts), qualityLevel=quality,
                                          minDistance=min_distance, mask=mask, blockSize=7)
            if new is not None:
                new = cv2.cornerSubPix(img, new.astype(np.float32), (5, 5), (-1, -1),
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01)).reshape(-1, 2)
                ids = np.concatenate([ids, np.arange(next_id, next_id + len(new))])
                pts = np.concatenate([pts, new]).astype(np.float32)
                next_id += len(new)
        obs[f] = np.column_stack([ids.astype(np.float64), pts[:, 0] + 0.5, pts[:, 1] + 0.5])
        prev = img
    tracks = Tracks(w, h, obs)
    lengths = tracks.lengths()
    return tracks.keep({t for t, n in lengths.items() if n >= min_length})
