"""Synthetic training video from still photographs: a camera path over a large photo, with
parallax layers cut from other photos moving in front of it.

Why: real video with true pixels behind every hole is scarce, but large stills are plentiful.
A virtual camera that pans, zooms and rolls over a photo gives exact ground truth for every
frame; foreground layers (silhouettes cut from other photos) that move faster than the
background, as nearer things do, give the occlusion / disocclusion a real moving camera
produces, which a single panning plane lacks. Everything is drawn from the ``rng`` given, so
a clip is a pure function of (stills, seed).

Arrays: uint8 RGB, HxWx3, as the rest of the data engine.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .masks import blob_mask, polygon_mask


@dataclass(frozen=True)
class PathOptions:
    """Ranges the camera path and the layers are drawn from (per clip)."""

    speed: float = 0.03
    """Background translation per frame, as a fraction of the frame width (std)."""
    zoom: float = 0.01
    """Scale change per frame (std)."""
    roll: float = 0.4
    """Rotation per frame in degrees (std)."""
    max_layers: int = 2
    parallax: tuple[float, float] = (1.3, 2.5)
    """Foreground speed as a multiple of the background's (nearer = faster)."""
    layer_area: tuple[float, float] = (0.04, 0.18)
    exposure: float = 0.01
    """Per-frame exposure drift (std of a log2 step): auto-exposure of a real camera."""


def _camera_matrix(centre: np.ndarray, scale: float, angle: float, h: int, w: int) -> np.ndarray:
    """2x3 affine mapping source-image pixels to the output frame: the output's centre looks
    at ``centre`` of the source, magnified by ``scale`` and rolled by ``angle`` degrees."""
    m = np.asarray(cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale), np.float64)
    m[:, 2] += (w / 2.0 - centre[0], h / 2.0 - centre[1])
    return m


def _fit_source(img: np.ndarray, h: int, w: int, margin: float) -> np.ndarray:
    """Scale a still so it covers ``margin`` x the frame (room for the camera to travel)."""
    s = max(margin * h / img.shape[0], margin * w / img.shape[1])
    if abs(s - 1.0) < 1e-3:
        return img
    nh, nw = max(1, int(round(img.shape[0] * s))), max(1, int(round(img.shape[1] * s)))
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def camera_path_clip(
    still: np.ndarray, n: int, h: int, w: int, rng: np.random.Generator,
    layer_sources: list[np.ndarray] | None = None, options: PathOptions = PathOptions(),
) -> list[np.ndarray]:
    """``n`` frames of ``h`` x ``w`` seen by a virtual camera moving over ``still``, with up to
    ``options.max_layers`` parallax layers cut from ``layer_sources`` (or from the still)."""
    o = options
    src = _fit_source(still, h, w, margin=1.0 + 2.2 * o.speed * n + 0.15)
    sh, sw = src.shape[:2]
    vel = rng.normal(0, o.speed * w, 2)
    acc = rng.normal(0, o.speed * w / 6, 2)
    zoom, roll = rng.normal(0, o.zoom), rng.normal(0, o.roll)
    travel = np.abs(vel) * (n - 1) + np.abs(acc) * (n - 1) ** 2 / 2
    lo = np.array([w / 2, h / 2]) + travel + 2
    hi = np.array([sw - w / 2, sh - h / 2]) - travel - 2
    start = np.where(lo < hi, rng.uniform(np.minimum(lo, hi), np.maximum(lo, hi)), (sw / 2, sh / 2))
    layers = [_make_layer(layer_sources or [still], h, w, rng, o) for _ in range(int(rng.integers(0, o.max_layers + 1)))]
    gain = np.exp2(np.cumsum(rng.normal(0, o.exposure, n)))
    frames = []
    for t in range(n):
        shift = vel * t + 0.5 * acc * t * t
        scale = float(np.clip(1.0 + zoom * t, 0.8, 1.25))
        mat = _camera_matrix(start + shift, scale, roll * t, h, w)
        img = cv2.warpAffine(src, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101).astype(np.float32)
        for layer in layers:
            img = layer.composite(img, shift, scale, t)
        frames.append(np.clip(img * gain[t] + 0.5, 0, 255).astype(np.uint8))
    return frames


@dataclass
class _Layer:
    """A cut-out (RGB + soft alpha) at a position in the frame, moving with the camera times
    its parallax factor plus a motion of its own."""

    rgb: np.ndarray
    alpha: np.ndarray
    parallax: float
    own: np.ndarray

    def composite(self, img: np.ndarray, cam_shift: np.ndarray, scale: float, t: int) -> np.ndarray:
        h, w = img.shape[:2]
        d = -self.parallax * cam_shift + self.own * t  # the camera moves right -> the scene moves left
        m = np.asarray(cv2.getRotationMatrix2D((w / 2.0, h / 2.0), 0.0, scale), np.float64)
        m[:, 2] += d
        rgb = cv2.warpAffine(self.rgb, m, (w, h), flags=cv2.INTER_LINEAR)
        a = cv2.warpAffine(self.alpha, m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
        return np.asarray(img * (1 - a) + rgb * a, np.float32)


def _make_layer(sources: list[np.ndarray], h: int, w: int, rng: np.random.Generator, o: PathOptions) -> _Layer:
    src = sources[int(rng.integers(len(sources)))]
    src = _fit_source(src, h, w, margin=1.0)
    y0 = int(rng.integers(0, src.shape[0] - h + 1))
    x0 = int(rng.integers(0, src.shape[1] - w + 1))
    rgb = src[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
    shape = blob_mask if rng.random() < 0.6 else polygon_mask
    alpha = shape(h, w, rng, o.layer_area).astype(np.float32)
    alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), 0.8), np.float32)  # an anti-aliased edge, as a lens gives
    return _Layer(rgb, alpha, float(rng.uniform(*o.parallax)), rng.normal(0, 0.005 * w, 2))
