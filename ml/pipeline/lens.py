"""The render in the plate's lens: Cycles renders a pinhole image; a plate shot through a
real lens is distorted (its solve says how: ``shot.camera.distortion``). Before any stage
sees them, the render's passes are resampled through the ST-map of ``shotcache.lens``, so
the product, its shadow and every G-buffer pass sit where the plate's own lens puts them.

Colour-like passes (rgba; shadow catcher; albedo; normal) are interpolated bilinearly - the
rgba premultiplied, as a filter must (the render writes it straight, its colour black where
nothing is: interpolated straight, an edge blends the product's colour with that black and
composites as a dark fringe round the product); depth and position, whose values jump at the
product's silhouette, take the nearest sample (a blend of the product's depth and the
background's 1e10 is no depth).
Outside the render's frame rgba is empty and the rest repeats the border.
A plate that was undistorted when the shot was set up (``plate.undistorted``) is already
pinhole: nothing to do.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ml.io.exr import write_rgb
from shotcache.lens import is_distorted, st_map
from shotcache.schema import Distortion, FrameCamera

NEAREST_PASSES = ("depth", "position")


@lru_cache(maxsize=8)
def _maps(fx: float, fy: float, cx: float, cy: float, k: tuple[float, ...], w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    d = Distortion(*k)
    return st_map(FrameCamera(fx, fy, cx, cy, np.eye(4).tolist()), d, (w, h))


def maps_for(cam: FrameCamera, d: Distortion, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The frame's ST-map (cached: a shot has one lens, a zoom a few)."""
    return _maps(float(cam.fx), float(cam.fy), float(cam.cx), float(cam.cy), (d.k1, d.k2, d.p1, d.p2, d.k3), int(size[0]), int(size[1]))


def needs_lens(distortion: Distortion, plate_undistorted: bool) -> bool:
    return is_distorted(distortion) and not plate_undistorted


def to_plate_lens(rgba: np.ndarray | None, passes: dict[str, np.ndarray], cam: FrameCamera, d: Distortion) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """``rgba`` and ``passes`` (HxWxC float32, the render's pinhole image) resampled into the
    plate's lens."""
    any_img = rgba if rgba is not None else next(iter(passes.values()), None)
    if any_img is None:
        return rgba, passes
    h, w = any_img.shape[:2]
    mu, mv = maps_for(cam, d, (w, h))
    out = {name: _remap(img, mu, mv, name in NEAREST_PASSES, cv2.BORDER_REPLICATE) for name, img in passes.items()}
    warped = _remap_straight(rgba, mu, mv) if rgba is not None else None
    return warped, out


def _remap_straight(rgba: np.ndarray, mu: np.ndarray, mv: np.ndarray) -> np.ndarray:
    """Straight-alpha RGBA resampled premultiplied, and straight again: a pixel's colour is
    the product's own however little of it the pixel covers."""
    a = np.clip(rgba[..., 3:4], 0.0, 1.0)
    pre = _remap(np.concatenate([rgba[..., :3] * a, a], axis=-1), mu, mv, False, cv2.BORDER_CONSTANT)
    alpha = pre[..., 3:4]
    rgb = np.where(alpha > ALPHA_EPS, pre[..., :3] / np.maximum(alpha, ALPHA_EPS), 0.0)
    return np.concatenate([rgb, alpha], axis=-1).astype(np.float32)


ALPHA_EPS = 1e-6
"""Coverage under which a resampled pixel has no colour of its own (straight alpha: 0)."""


def _remap(img: np.ndarray, mu: np.ndarray, mv: np.ndarray, nearest: bool, border: int) -> np.ndarray:
    a = np.ascontiguousarray(img, dtype=np.float32)
    res = cv2.remap(a, mu, mv, cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR, borderMode=border)  # constant: 0
    return res.reshape(a.shape)  # cv2 drops a trailing channel axis of 1


STMAP_FILE = "lens/stmap.exr"
"""The shot's ST-map, beside shot.json, for compositors outside Vanelia (Nuke's STMap node)."""


def write_stmap(shot_dir: str, cam: FrameCamera, d: Distortion, size: tuple[int, int]) -> str:
    """The lens as an ST-map EXR in Nuke's convention: for each plate pixel, R = x and G = y
    of the render pixel to read, normalised 0..1 with y up (Nuke's origin is bottom-left).
    An artist applies it to Vanelia's render passes to put them in the plate's lens."""
    w, h = size
    mu, mv = maps_for(cam, d, size)
    rgb = np.stack([(mu + 0.5) / w, 1.0 - (mv + 0.5) / h, np.zeros_like(mu)], axis=-1)
    path = Path(shot_dir) / STMAP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_rgb(path, rgb)
    return str(path)
