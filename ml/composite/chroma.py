"""The plate's chroma subsampling, given to the product: colour at the codec's resolution.

Video from cameras and phones is stored 4:2:0: one colour (Cb, Cr) per 2 x 2 block of pixels,
brightness (Y') per pixel. Decoded the way Vanelia decodes a plate (PyAV to RGB, the chroma
replicated over its block), a plate's colour is constant over every aligned 2 x 2 block; a
render's is not, so a saturated product's edge keeps a crisp one-pixel colour edge that nothing
else in the frame has (a yellow duck on a lawn). The codec acts last in the camera, so this
runs last in the composite: wherever the composite differs from the plate, each block's colour
is averaged as the codec's would be, and its brightness kept per pixel.

Whether the plate is subsampled is read off its pixels, not its container, because a plate
can reach the compositor as images: the chroma's spread inside the blocks against the luma's
(blocks with a clipped pixel left out: clipping breaks a block's colour when it is converted
back to RGB). Every 4:2:0 clip in ``../shared/data/video`` reads 0.0000 (rounding only), the
path-traced truth plates (4:4:4) 0.02-0.07, so the threshold sits a factor 10 from both. A plate
scaled after decoding (the real-clip script's --max-height) has lost its blocks: its colour is
full resolution at that size and it is left alone, which is right.

Not matched: the codec's loss of fine, low-contrast luma detail. Its residual noise is what the
grain matches (noise.py measures the decoded plate), and a rendered product has little fine
texture of its own to lose.
"""
from __future__ import annotations

import numpy as np

from ml.io.colour import linear_to_srgb, srgb_to_linear

BLOCK = 2
"""4:2:0: one colour per 2 x 2 block, aligned to the frame's top-left corner."""
SUBSAMPLED_BELOW = 0.002
"""Chroma spread inside the blocks over the luma's, below which the plate is 4:2:0."""
TILE = 256
"""The test reads up to five tiles of this size (corners and centre): the blocks are everywhere."""
_KR, _KB = 0.2126, 0.0722  # BT.709 (HD video)


def _ycbcr(srgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = _KR * srgb[..., 0] + (1.0 - _KR - _KB) * srgb[..., 1] + _KB * srgb[..., 2]
    return y, (srgb[..., 2] - y) / (2.0 * (1.0 - _KB)), (srgb[..., 0] - y) / (2.0 * (1.0 - _KR))


def _rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    r = y + 2.0 * (1.0 - _KR) * cr
    b = y + 2.0 * (1.0 - _KB) * cb
    g = (y - _KR * r - _KB * b) / (1.0 - _KR - _KB)
    return np.stack([r, g, b], axis=-1)


def _blocks(x: np.ndarray) -> np.ndarray:
    """H x W (even) -> (H/2) x 2 x (W/2) x 2."""
    h, w = x.shape[:2]
    return x.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, *x.shape[2:])


def _tiles(img: np.ndarray) -> list[np.ndarray]:
    h, w = img.shape[:2]
    if h <= 2 * TILE or w <= 2 * TILE:
        return [img]
    y1, x1 = (h - TILE) & ~1, (w - TILE) & ~1  # even: a tile keeps the frame's block grid
    return [img[y : y + TILE, x : x + TILE] for y, x in ((0, 0), (y1, 0), (y1 // 2 & ~1, x1 // 2 & ~1), (0, x1), (y1, x1))]


def block_spread_ratio(plate: np.ndarray) -> float:
    """The chroma's variance inside the aligned 2 x 2 blocks over the luma's (linear plate in;
    8-bit sRGB levels, as decoded), over unclipped blocks of up to five tiles. 0 for 4:2:0."""
    srgb = np.round(linear_to_srgb(plate[..., :3]) * 255.0)
    num = den = 0.0
    for t in _tiles(srgb):
        h, w = t.shape[0] // BLOCK * BLOCK, t.shape[1] // BLOCK * BLOCK
        t = t[:h, :w]
        if h == 0 or w == 0:
            continue
        ok = ~((_blocks(t.min(axis=-1)) <= 2) | (_blocks(t.max(axis=-1)) >= 253)).any(axis=(1, 3))
        y, cb, cr = _ycbcr(t)

        def spread(c: np.ndarray) -> np.ndarray:
            b = _blocks(c)
            return ((b - b.mean(axis=(1, 3), keepdims=True)) ** 2).mean(axis=(1, 3))

        num += float(((spread(cb) + spread(cr)) / 2.0)[ok].sum())
        den += float(spread(y)[ok].sum())
    return num / den if den > 0 else float("nan")


def is_subsampled(plate: np.ndarray) -> bool:
    """True when the plate's colour is constant over aligned 2 x 2 blocks (decoded 4:2:0)."""
    r = block_spread_ratio(plate)
    return bool(np.isfinite(r) and r < SUBSAMPLED_BELOW)


def subsample_like_plate(out: np.ndarray, plate: np.ndarray, box: tuple[slice, slice] | None = None) -> np.ndarray:
    """``out`` (linear HxWx3, the composite) with its colour averaged over the aligned 2 x 2
    blocks wherever it differs from ``plate``, brightness per pixel; blocks the composite left
    as the plate are untouched. ``box``: where the composite may differ (default: found)."""
    h, w = out.shape[:2]
    if box is None:
        diff = np.abs(out - plate[..., :3]).max(axis=-1) > 1e-6
        rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
        if not len(rows):
            return out
        box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    ys, xs = box
    y0, x0 = (ys.start or 0) // BLOCK * BLOCK, (xs.start or 0) // BLOCK * BLOCK
    y1 = min(h // BLOCK * BLOCK, -(-(ys.stop if ys.stop is not None else h) // BLOCK) * BLOCK)
    x1 = min(w // BLOCK * BLOCK, -(-(xs.stop if xs.stop is not None else w) // BLOCK) * BLOCK)
    if y1 <= y0 or x1 <= x0:
        return out
    o, p = out[y0:y1, x0:x1], plate[y0:y1, x0:x1, :3]
    changed = _blocks(np.abs(o - p).max(axis=-1) > 1e-6).any(axis=(1, 3))
    if not changed.any():
        return out
    y, cb, cr = _ycbcr(linear_to_srgb(o))
    sel = np.repeat(np.repeat(changed, BLOCK, axis=0), BLOCK, axis=1)
    for c in (cb, cr):
        mean = _blocks(c).mean(axis=(1, 3))
        c[sel] = np.repeat(np.repeat(mean, BLOCK, axis=0), BLOCK, axis=1)[sel]
    res = out.copy()
    res[y0:y1, x0:x1] = np.where(sel[..., None], srgb_to_linear(np.clip(_rgb(y, cb, cr), 0.0, None)), o)
    return res
