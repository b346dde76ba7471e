"""Flow-guided pixel propagation (the classical video inpainter; no weights).

For a window of frames with holes:
1. optical flow between neighbouring frames in both directions (DIS), computed on frames whose
   holes were pre-filled smoothly, then *completed* inside the (slightly dilated) hole;
2. a forward-backward consistency check per pixel;
3. chains of flow links carry, for every hole pixel, the *source coordinates* of a frame where
   that point is visible -- forward in time and backward in time, each link checked; sources are
   traced as coordinates and sampled once at the end, so long chains do not blur;
4. where both directions found a source the colours are blended by temporal distance; a second
   round lets chains continue through pixels the other direction filled;
5. pixels never seen in any frame are filled spatially (OpenCV Telea).

Works on static backgrounds under camera motion (the flow of the background is smooth, so the
completed flow inside the hole is right) and degrades gracefully on moving content.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .flow import FlowEstimator, complete_flow, consistency, fill_smooth, to_gray8


@dataclass
class PropagateOptions:
    rounds: int = 2
    flow_dilate: float = 0.045
    """Band around the hole whose flow is also replaced, as a fraction of the flow image's
    longer side: DIS's coarse pyramid levels smear the hole's edge about that far."""
    flow_max_side: int = 960
    """Flow is computed at most at this size and scaled up (big plates stay fast)."""
    blend: bool = True
    """Blend forward and backward sources by 1/distance (else take the nearer one)."""
    spatial_radius: int = 5


@dataclass
class PropagateResult:
    frames: list[np.ndarray]
    """Filled frames (float32 [0, 1], same layout as the input); only hole pixels changed."""
    unseen: list[np.ndarray]
    """Per frame: hole pixels no other frame showed (filled spatially)."""
    stats: dict = field(default_factory=dict)


def spatial_fill(img: np.ndarray, hole: np.ndarray, radius: int = 5) -> np.ndarray:
    """OpenCV Telea on one float [0, 1] RGB frame; returns float32, only hole pixels changed."""
    hole = hole.astype(bool)
    if not hole.any():
        return img.astype(np.float32, copy=True)
    u8 = (np.clip(img, 0, 1) * 255.0 + 0.5).astype(np.uint8)
    filled = cv2.inpaint(u8, hole.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)
    out = img.astype(np.float32, copy=True)
    out[hole] = filled[hole].astype(np.float32) / 255.0
    return out


def _check(frames: list[np.ndarray], holes: list[np.ndarray]) -> None:
    if len(frames) != len(holes):
        raise ValueError(f"propagate: {len(frames)} frames but {len(holes)} masks")
    for i, (f, m) in enumerate(zip(frames, holes)):
        if f.shape[:2] != m.shape[:2] or f.shape[:2] != frames[0].shape[:2]:
            raise ValueError(f"propagate: frame {i} is {f.shape[:2]}, mask {m.shape[:2]}, first frame {frames[0].shape[:2]}")


def _prep(img: np.ndarray, hole: np.ndarray, opt: PropagateOptions) -> tuple[np.ndarray, np.ndarray, float]:
    """Grey image for flow (hole pre-filled smoothly, scaled down) and the widened flow hole."""
    h, w = hole.shape
    scale = min(1.0, opt.flow_max_side / max(h, w))
    sh, sw = max(8, round(h * scale)), max(8, round(w * scale))
    rad = max(2, int(round(opt.flow_dilate * max(sh, sw))))
    kern = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rad + 1,) * 2)
    g = to_gray8(fill_smooth(img[..., :3], hole, iters=0) if hole.any() else img[..., :3])
    mh = hole.astype(np.uint8)
    if scale < 1.0:
        g = cv2.resize(g, (sw, sh), interpolation=cv2.INTER_AREA)
        mh = cv2.resize(mh, (sw, sh), interpolation=cv2.INTER_NEAREST)
    return g, cv2.dilate(mh, kern) > 0, scale


def _pair(a: tuple, b: tuple, est: FlowEstimator, full: tuple[int, int]):
    """Completed flows a->b, b->a and their consistency masks (at full resolution)."""
    (ga, ha, scale), (gb, hb, _) = a, b
    ab = complete_flow(est(ga, gb), ha)
    ba = complete_flow(est(gb, ga), hb)
    # inside the (dilated) hole both flows are completions, smooth by construction: their
    # forward-backward agreement says nothing about visibility, and checking it there
    # breaks long chains at random; the strict check applies to real flow outside
    c_ab = consistency(ab, ba) | ha
    c_ba = consistency(ba, ab) | hb
    if scale < 1.0:
        h, w = full
        up = lambda fl: cv2.resize(fl, (w, h), interpolation=cv2.INTER_LINEAR) / scale  # noqa: E731
        upm = lambda c: cv2.resize(c.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0  # noqa: E731
        ab, ba, c_ab, c_ba = up(ab), up(ba), upm(c_ab), upm(c_ba)
    return ab, ba, c_ab, c_ba


def _flows(frames: list[np.ndarray], holes: list[np.ndarray], opt: PropagateOptions, est: FlowEstimator,
           keys: list | None = None, cache: dict | None = None):
    """Completed flows t->t+1 (fwd[t]) and t->t-1 (bwd[t]) plus their consistency masks.

    With ``keys`` (one hashable per frame) and a ``cache`` dict, per-frame preparation and
    per-pair flows are reused across calls (a sliding window recomputes only the new pair).
    """
    n = len(frames)
    cache = {} if cache is None or keys is None else cache
    keys = keys if keys is not None else list(range(n))
    preps = []
    for k, f, m in zip(keys, frames, holes):
        if ("prep", k) not in cache:
            cache[("prep", k)] = _prep(f, m, opt)
        preps.append(cache[("prep", k)])
    fwd: list[np.ndarray | None] = [None] * n
    bwd: list[np.ndarray | None] = [None] * n
    cons_f: list[np.ndarray | None] = [None] * n
    cons_b: list[np.ndarray | None] = [None] * n
    for t in range(n - 1):
        key = ("pair", keys[t], keys[t + 1])
        if key not in cache:
            cache[key] = _pair(preps[t], preps[t + 1], est, holes[0].shape)
        fwd[t], bwd[t + 1], cons_f[t], cons_b[t + 1] = cache[key]
    return fwd, bwd, cons_f, cons_b


class _Sources:
    """Per frame: source frame index (-1 unknown), source x/y, chain length."""

    def __init__(self, holes: list[np.ndarray]):
        h, w = holes[0].shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        self.f = [np.where(m, -1, t).astype(np.int32) for t, m in enumerate(holes)]
        self.xy = [np.stack([gx, gy], -1) for _ in holes]
        self.d = [np.zeros((h, w), np.int32) for _ in holes]

    def copy(self) -> "_Sources":
        c = object.__new__(_Sources)
        c.f = [a.copy() for a in self.f]
        c.xy = [a.copy() for a in self.xy]
        c.d = [a.copy() for a in self.d]
        return c


def _chain(order: list[int], flow_to_prev, cons_to_prev, src: _Sources) -> None:
    """Walk frames in ``order``; unknown pixels take the source of the pixel the flow points
    to in the previous frame of the walk (when the link is consistent and that pixel is known)."""
    for i in range(1, len(order)):
        t, p = order[i], order[i - 1]
        ys, xs = np.nonzero(src.f[t] < 0)
        if ys.size == 0:
            continue
        fl = flow_to_prev[t][ys, xs]
        qx, qy = xs + fl[:, 0], ys + fl[:, 1]
        h, w = src.f[t].shape
        rx, ry = np.rint(qx).astype(np.int64), np.rint(qy).astype(np.int64)
        ok = cons_to_prev[t][ys, xs] & (rx >= 0) & (rx < w) & (ry >= 0) & (ry < h)
        rx, ry = np.clip(rx, 0, w - 1), np.clip(ry, 0, h - 1)
        ok &= src.f[p][ry, rx] >= 0
        if not ok.any():
            continue
        ys, xs, rx, ry, qx, qy = ys[ok], xs[ok], rx[ok], ry[ok], qx[ok], qy[ok]
        src.f[t][ys, xs] = src.f[p][ry, rx]
        off = np.stack([qx - rx, qy - ry], -1).astype(np.float32)
        src.xy[t][ys, xs] = src.xy[p][ry, rx] + off
        src.d[t][ys, xs] = src.d[p][ry, rx] + 1


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    ax, ay = (x - x0)[:, None], (y - y0)[:, None]
    top = img[y0, x0] * (1 - ax) + img[y0, x1] * ax
    bot = img[y1, x0] * (1 - ax) + img[y1, x1] * ax
    return top * (1 - ay) + bot * ay


def _colours(src: _Sources, t: int, ys: np.ndarray, xs: np.ndarray, sample_frames: list[np.ndarray]) -> np.ndarray:
    out = np.zeros((ys.size, sample_frames[0].shape[2]), np.float32)
    sf = src.f[t][ys, xs]
    sxy = src.xy[t][ys, xs]
    for s in np.unique(sf):
        sel = sf == s
        out[sel] = _bilinear(sample_frames[s], sxy[sel, 0], sxy[sel, 1])
    return out


def propagate(
    frames: list[np.ndarray],
    holes: list[np.ndarray],
    options: PropagateOptions | None = None,
    estimator: FlowEstimator | None = None,
    keys: list | None = None,
    cache: dict | None = None,
) -> PropagateResult:
    """Fill ``holes`` (bool HxW, True = unknown) in ``frames`` (HxWxC, uint8 or float [0, 1]).

    ``keys``/``cache``: see ``_flows`` (streaming callers reuse flows between windows)."""
    opt = options or PropagateOptions()
    _check(frames, holes)
    est = estimator or FlowEstimator()
    holes = [np.asarray(m).astype(bool) for m in holes]
    imgs = [f.astype(np.float32) / 255.0 if f.dtype == np.uint8 else f.astype(np.float32) for f in frames]
    n = len(imgs)
    if not any(m.any() for m in holes):
        return PropagateResult([i.copy() for i in imgs], [m.copy() for m in holes], {"filled_temporal": 0, "unseen": 0})
    if n == 1:
        fwd = bwd = cons_f = cons_b = [None]
    else:
        fwd, bwd, cons_f, cons_b = _flows(imgs, holes, opt, est, keys, cache)
    # sampling images: holes pre-filled so sub-pixel taps at a hole edge do not pull in garbage
    sample = [fill_smooth(i, m, iters=0) if m.any() else i for i, m in zip(imgs, holes)]

    base = _Sources(holes)
    out = [i.copy() for i in imgs]
    remaining = [m.copy() for m in holes]
    n_temporal = 0
    for _ in range(max(1, opt.rounds) if n > 1 else 0):
        fw, bw = base.copy(), base.copy()
        _chain(list(range(n)), bwd, cons_b, fw)
        _chain(list(range(n - 1, -1, -1)), fwd, cons_f, bw)
        for t in range(n):
            ys, xs = np.nonzero(remaining[t])
            if ys.size == 0:
                continue
            has_f, has_b = fw.f[t][ys, xs] >= 0, bw.f[t][ys, xs] >= 0
            any_ = has_f | has_b
            if not any_.any():
                continue
            big = np.iinfo(np.int32).max
            d_f = np.where(has_f, fw.d[t][ys, xs], big)
            d_b = np.where(has_b, bw.d[t][ys, xs], big)
            col = np.zeros((ys.size, out[t].shape[2]), np.float32)
            wsum = np.zeros((ys.size, 1), np.float32)
            for has, s, d, d_other in ((has_f, fw, d_f, d_b), (has_b, bw, d_b, d_f)):
                if not has.any():
                    continue
                c = _colours(s, t, ys[has], xs[has], sample)
                if opt.blend:
                    wgt = 1.0 / np.maximum(d[has], 1).astype(np.float32)
                else:  # the nearer direction only (forward wins ties)
                    wgt = (d[has] < d_other[has]) | ((d[has] == d_other[has]) & (s is fw))
                    wgt = wgt.astype(np.float32)
                col[has] += c * wgt[:, None]
                wsum[has] += wgt[:, None]
            yy, xx = ys[any_], xs[any_]
            out[t][yy, xx] = col[any_] / wsum[any_]
            remaining[t][yy, xx] = False
            n_temporal += int(any_.sum())
            # the nearer direction becomes this pixel's single source for the next round
            use_b = has_b & (~has_f | (bw.d[t][ys, xs] < fw.d[t][ys, xs]))
            for pick, s in ((has_f & ~use_b, fw), (use_b, bw)):
                base.f[t][ys[pick], xs[pick]] = s.f[t][ys[pick], xs[pick]]
                base.xy[t][ys[pick], xs[pick]] = s.xy[t][ys[pick], xs[pick]]
                base.d[t][ys[pick], xs[pick]] = s.d[t][ys[pick], xs[pick]]
        if not any(r.any() for r in remaining):
            break
    unseen = [r.copy() for r in remaining]
    n_unseen = 0
    for t in range(n):
        if remaining[t].any():
            if remaining[t].all():
                raise ValueError(f"propagate: frame {t} has no known pixel in this window; nothing to fill from")
            out[t] = spatial_fill(out[t], remaining[t], opt.spatial_radius)
            n_unseen += int(remaining[t].sum())
    return PropagateResult(out, unseen, {"filled_temporal": n_temporal, "unseen": n_unseen})
