"""The plate's chroma subsampling, given to the product: colour at the codec's resolution.

Video from cameras and phones is stored 4:2:0: one colour (Cb, Cr) per 2 x 2 block of pixels,
brightness (Y') per pixel. Decoded the way Vanelia decodes a plate (Blender's movie strip for
`vanelia run`, PyAV in ml/io/video.py: each chroma sample repeated over its block), a plate's
colour is constant over every aligned 2 x 2 block, to 8-bit rounding; a
render's is not, so a saturated product's edge keeps a crisp one-pixel colour edge that nothing
else in the frame has (a yellow duck on a lawn). The codec acts last in the camera, so this
runs last in the composite: wherever the composite differs from the plate, each block's colour
is averaged as the codec's would be, and its brightness kept per pixel.

Whether the plate is subsampled is read off its pixels, not its container, because a plate
can reach the compositor as images: the chroma's variance inside the blocks against the luma's,
over textured, unclipped blocks (clipping breaks a block's colour when it is converted back to
RGB, and in flat blocks the 8-bit rounding of Blender's decode is all there is). The 10 real
clips given as video, decoded through Blender as `vanelia run` decodes a plate (addon/plate.py),
read 0.0000-0.0006, and 0.0000 decoded with PyAV (ml/io/video.py); the path-traced truth plates
(4:4:4 PNG) read 0.0076-0.090. The threshold sits between, a factor 3 from both. A plate scaled
after decoding (the real-clip script's --max-height) has lost its blocks, and JPEG frames are
decoded with smooth ("fancy") chroma upsampling (judo, bmx-trees, car-shadow-street: 0.003-0.036):
both read full resolution and are left alone.

Not matched: the codec's loss of fine, low-contrast luma detail. Its residual noise is what the
grain matches (noise.py measures the decoded plate), and a rendered product has little fine
texture of its own to lose.
"""
from __future__ import annotations

import numpy as np

from ml.io.colour import REC709_LUMA as LUMA, linear_to_srgb, srgb_to_linear

BLOCK = 2
"""4:2:0: one colour per 2 x 2 block, aligned to the frame's top-left corner."""
SUBSAMPLED_BELOW = 0.002
"""Chroma spread inside the textured blocks over the luma's, below which the plate is 4:2:0."""
TEXTURED_VAR = 16.0
"""A block is textured when its luma varies by more than this (8-bit levels squared: 4 levels)."""
TILE = 128
"""The test reads up to five tiles of this size (corners and centre): the blocks are everywhere.
Where none of them is textured (a plain wall, a night sky) the plate reads full resolution."""
_KR, _KB = float(LUMA[0]), float(LUMA[2])  # BT.709 (HD video)


def _ycbcr(srgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = _KR * srgb[..., 0] + (1.0 - _KR - _KB) * srgb[..., 1] + _KB * srgb[..., 2]
    return y, (srgb[..., 2] - y) / (2.0 * (1.0 - _KB)), (srgb[..., 0] - y) / (2.0 * (1.0 - _KR))


def _rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    r = y + 2.0 * (1.0 - _KR) * cr
    b = y + 2.0 * (1.0 - _KB) * cb
    g = (y - _KR * r - _KB * b) / (1.0 - _KR - _KB)
    return np.stack([r, g, b], axis=-1)


def _tiles(img: np.ndarray) -> list[np.ndarray]:
    h, w = img.shape[:2]
    if h <= 2 * TILE or w <= 2 * TILE:
        return [img]
    y1, x1 = (h - TILE) & ~1, (w - TILE) & ~1  # even: a tile keeps the frame's block grid
    return [img[y : y + TILE, x : x + TILE] for y, x in ((0, 0), (y1, 0), (y1 // 2 & ~1, x1 // 2 & ~1), (0, x1), (y1, x1))]


def _corners(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """The four pixels of every aligned 2 x 2 block, as four (H/2) x (W/2) arrays."""
    return x[0::2, 0::2], x[0::2, 1::2], x[1::2, 0::2], x[1::2, 1::2]


def _spread(c: np.ndarray) -> np.ndarray:
    """Variance inside every aligned 2 x 2 block."""
    q = _corners(c)
    m = (q[0] + q[1] + q[2] + q[3]) * 0.25
    return ((q[0] - m) ** 2 + (q[1] - m) ** 2 + (q[2] - m) ** 2 + (q[3] - m) ** 2) * 0.25


def block_spread_ratio(plate: np.ndarray) -> float:
    """The chroma's variance inside the aligned 2 x 2 blocks over the luma's (linear plate in;
    8-bit sRGB levels, as decoded), over textured, unclipped blocks of up to five tiles: about 0
    for 4:2:0, NaN when no block is textured."""
    num = den = 0.0
    for tile in _tiles(plate[..., :3]):
        h, w = tile.shape[0] // BLOCK * BLOCK, tile.shape[1] // BLOCK * BLOCK
        if h == 0 or w == 0:
            continue
        t = np.round(linear_to_srgb(tile[:h, :w]) * 255.0)
        lo = np.minimum(np.minimum(t[..., 0], t[..., 1]), t[..., 2])  # not .min(axis=-1): slow over 3 channels
        hi = np.maximum(np.maximum(t[..., 0], t[..., 1]), t[..., 2])
        ok = ~np.logical_or.reduce([(a <= 2) | (b >= 253) for a, b in zip(_corners(lo), _corners(hi))])
        y, cb, cr = _ycbcr(t)
        sy = _spread(y)
        ok &= sy > TEXTURED_VAR
        num += float(((_spread(cb) + _spread(cr)) * 0.5)[ok].sum())
        den += float(sy[ok].sum())
    return num / den if den > 0 else float("nan")


def is_subsampled(plate: np.ndarray) -> bool:
    """True when the plate's colour is constant over aligned 2 x 2 blocks (decoded 4:2:0)."""
    r = block_spread_ratio(plate)
    return bool(np.isfinite(r) and r < SUBSAMPLED_BELOW)


def bounding_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """The box round the True cells of an H x W (x C) mask; None when there are none. Reduced
    along rows and columns, never over a 3-channel axis first (slow in numpy)."""
    rows, cols = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1)), mask.any(axis=0)
    if not len(rows):
        return None
    cols = np.flatnonzero(cols.any(axis=-1) if cols.ndim == 2 else cols)
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def join(a: tuple[slice, slice] | None, b: tuple[slice, slice] | None) -> tuple[slice, slice] | None:
    """The box round two boxes (explicit bounds), either of which may be None."""
    if a is None or b is None:
        return a if b is None else b
    return (slice(min(a[0].start, b[0].start), max(a[0].stop, b[0].stop)), slice(min(a[1].start, b[1].start), max(a[1].stop, b[1].stop)))


def subsample_like_plate(out: np.ndarray, plate: np.ndarray, box: tuple[slice, slice] | None = None) -> np.ndarray:
    """``out`` (linear HxWx3, the composite; changed in place) with its colour averaged over the
    aligned 2 x 2 blocks wherever it differs from ``plate``, brightness per pixel; blocks the
    composite left as the plate are untouched. ``box``: where the composite may differ (default: found)."""
    h, w = out.shape[:2]
    box = box if box is not None else bounding_box(np.abs(out - plate[..., :3]) > 1e-6)
    if box is None:
        return out
    ys, xs = box
    y0, x0 = (ys.start or 0) // BLOCK * BLOCK, (xs.start or 0) // BLOCK * BLOCK
    y1 = min(h // BLOCK * BLOCK, -(-(ys.stop if ys.stop is not None else h) // BLOCK) * BLOCK)
    x1 = min(w // BLOCK * BLOCK, -(-(xs.stop if xs.stop is not None else w) // BLOCK) * BLOCK)
    if y1 <= y0 or x1 <= x0:
        return out
    d = np.abs(out[y0:y1, x0:x1] - plate[y0:y1, x0:x1, :3]) > 1e-6
    d = d[..., 0] | d[..., 1] | d[..., 2]
    changed = np.logical_or.reduce(_corners(d))  # per block
    tight = bounding_box(changed)  # the crop round a product has margins the composite left alone
    if tight is None:
        return out
    by, bx = tight
    y0, y1, x0, x1 = y0 + BLOCK * by.start, y0 + BLOCK * by.stop, x0 + BLOCK * bx.start, x0 + BLOCK * bx.stop
    changed = changed[by, bx]
    o = out[y0:y1, x0:x1]
    y, cb, cr = _ycbcr(linear_to_srgb(o))
    for c in (cb, cr):
        q = _corners(c)
        mean = (q[0] + q[1] + q[2] + q[3]) * 0.25
        for part in q:  # views into c: each block's four pixels take its mean
            np.copyto(part, mean, where=changed)
    sel = np.repeat(np.repeat(changed, BLOCK, axis=0), BLOCK, axis=1)
    out[y0:y1, x0:x1] = np.where(sel[..., None], srgb_to_linear(np.clip(_rgb(y, cb, cr), 0.0, None)), o)
    return out
