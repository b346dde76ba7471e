"""How much softer each plate frame is than the shot's sharpest, where the product stands.

A handheld phone's blur changes from frame to frame: the hand shakes, the autofocus hunts,
the exposure lengthens as the camera turns to the shade. On dog-lawn the ground round the
duck is about 2 x 1.3 px softer in frames 15-24 than in frames 1-9 (the plate's Laplacian
variance falls to a fifth), and a product rendered equally crisp in all of them reads as
pasted on at the first look in the soft ones. The single-frame estimate (ml/composite/blur_match.py) reads
grass as a thicket of edges of every width and cannot see it (the same 1.0-1.2 px on both).

How, by comparing the plate with itself: the ground round the product is seen by
neighbouring frames, and the solved camera maps one frame's view of it onto another's (the
ground plane's homography). Two views of one texture that differ by Gaussian blurs of
covariance C_j and C_i have power spectra whose log ratio is

    log P_j(f) - log P_i(f) = -4 pi^2 f^T (C_j - C_i) f,

linear in the three entries of C_j - C_i and blind to where the texture is: a shift, the
parallax of blades above the plane, a wobble of the solve change the phase, not the power.
Each pair is fitted both ways (j onto i's view and i onto j's) and the two halved: resampling
softens whichever view is warped, and that cancels. The differences over neighbours one to
three frames apart are solved for one covariance per frame (least absolute residuals),
relative to the sharpest frame; frequencies where the softer view has lost more than MAX_LOSS
of its power are left out (there it is down to noise and the codec). On dog-lawn blurred by
known kernels, 2 x 0.5 px at 30 deg read 1.9 x 0.0-0.3 at 30 (after the 0.5 px dead zone), a
round 1.5 px 1.7 x 1.4 with the frame's own; the numbers are in docs/NUMBERS.md (stop 67).

What the render does itself is taken off: Cycles' motion blur at the shutter shot.json
records streaks the product by s |v| along its image velocity v (a box, variance s^2 |v|^2 / 12
along v), and the streak of the sharpest frame is in the reference already.

Its limits, measured: a contrast change between neighbours reads as a little blur (80 % of the
contrast: 0.3 px; a clipped exposure jump that makes new hard edges, up to 0.9 px on the
others); a fit with a constant term for it took the low-frequency loss of dog-lawn's real
streaks for contrast too (2.0 px read 0.7) and was left out. A strong streak leaks 0.5 px into
the frames chained to it (solve_per_frame). On 320x180 truth plates blurs over 1.5 px read
10-30 % short.

A constant blur (the same lens softness or shutter in every frame) is invisible here: the
compositor's own per-frame estimate and the shutter (ml/camera/shutter.py) cover that part,
and this adds what varies. Recorded in shot.json ``plate.blur`` (frame -> [a, b, c], the
covariance [[a, b], [b, c]] in px^2) with ``plate.blur_note``; the classical compositor adds
it to the blur it matches, on the product and on its shadow.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ml.composite.blur_match import display_luma
from ml.pipeline.fastio import read_linear
from shotcache.layout import ShotPaths
from shotcache.schema import Shot

from .lock import camera_ground_homography
from .shotqc import ground_contact, shot_solve

NEIGHBOURS = (1, 2, 3)
"""Frame gaps compared: near enough that the view hardly changes, far enough to span a blur
that comes and goes over a few frames."""
TILES = (5, 4)
"""Tiles across and down round the product's contact point."""
BAND = (0.06, 0.3)
"""Frequencies fitted (cycles/px): below, the tile's window and the texture's own scale
dominate; above, noise and the codec's quantisation, the same in both views, pull the ratio
to nothing."""
MAX_LOSS = 1.5
"""Largest log power ratio a frequency is fitted at (natural log: 1.5 is a 4.5-fold loss)."""
FIT_ROUNDS = 4
FLOOR_FREQ = 0.4
"""Frequencies (cycles/px) above this give a tile's noise floor."""
MIN_SNR = math.log(4.0)
"""A frequency counts where both views have four times their noise floor's power there."""
SOLVE_ROUNDS = 10
RESIDUAL_FLOOR_PX2 = 0.02
"""Residuals under this (px^2) weigh as this in the reweighted solve: noise, not disagreement."""
MIN_TILES = 3
"""Tiles a pair needs (in both views, inside the frame) to be fitted."""
DEAD_ZONE_PX = 0.5
"""Blur under this (sigma, px) is left out: sharp truth plates spread this far either side."""
MAX_SIGMA_PX = 6.0
"""Largest blur taken: beyond it the ground's texture is gone and the fit reads noise."""


def tile_size(width: int) -> int:
    """Side of a tile in px: 64 at 960 px wide and more, 32 on small plates (truth sets)."""
    return 64 if width >= 960 else 32


@dataclass
class FrameBlur:
    """Per-frame covariance (px^2, 2x2) beyond the sharpest frame and what was used."""

    cov: dict[int, np.ndarray] = field(default_factory=dict)
    pairs: int = 0
    note: str = ""


class _Spectra:
    """Windowed log power spectra of square tiles, in the fitting band."""

    def __init__(self, t: int) -> None:
        self.window = (np.hanning(t)[:, None] * np.hanning(t)[None]).astype(np.float32)
        fy, fx = np.meshgrid(np.fft.fftfreq(t), np.fft.fftfreq(t), indexing="ij")
        fr = np.hypot(fx, fy)
        self.band = (fr > BAND[0]) & (fr < BAND[1])
        self.floor = fr > FLOOR_FREQ
        fx, fy = fx[self.band], fy[self.band]
        self.design = -4.0 * math.pi**2 * np.stack([fx * fx, 2.0 * fx * fy, fy * fy], axis=1)

    def log_power(self, tile: np.ndarray) -> tuple[np.ndarray, float]:
        """The band's log power and the tile's noise floor (the median log power at the
        highest frequencies, where no lens passes texture)."""
        t = (tile - tile.mean()) * self.window
        lp = np.log(np.abs(np.fft.fft2(t)) ** 2 + 1e-9)
        return lp[self.band], float(np.median(lp[self.floor]))

    def log_ratio(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """log P_a - log P_b per band frequency; NaN where either view is within MIN_SNR of its
        noise floor (there the ratio says how much noise, not how much blur)."""
        (pa, fa), (pb, fb) = self.log_power(a), self.log_power(b)
        return np.where((pa > fa + MIN_SNR) & (pb > fb + MIN_SNR), pa - pb, np.nan)

    def fit(self, log_ratio: np.ndarray) -> np.ndarray:
        """(a, b, c) of the covariance difference that explains a log power ratio. Where the
        blur takes more than MAX_LOSS off the power the softer view is down to its noise and
        the codec's floor and the ratio stops growing, so those frequencies are dropped and
        the fit repeated (a 2 px blur read 0.9 px on truth plates without it)."""
        ok = np.isfinite(log_ratio)
        keep = ok.copy()
        x = np.zeros(3)
        for _ in range(FIT_ROUNDS):
            if keep.sum() < 8:
                break
            x = np.linalg.lstsq(self.design[keep], log_ratio[keep], rcond=None)[0]
            new = ok & (np.abs(self.design @ x) <= MAX_LOSS)
            if (new == keep).all():
                break
            keep = new
        return x


def _tile_corners(centre: np.ndarray, t: int, size: tuple[int, int]) -> list[tuple[int, int]]:
    w, h = size
    out = []
    for dy in np.arange(TILES[1]) - (TILES[1] - 1) / 2:
        for dx in np.arange(TILES[0]) - (TILES[0] - 1) / 2:
            x, y = int(round(centre[0] + dx * t - t / 2)), int(round(centre[1] + dy * t - t / 2))
            if 0 <= x and x + t <= w and 0 <= y and y + t <= h:
                out.append((x, y))
    return out


def _warped(src: np.ndarray, H_dst_to_src: np.ndarray, x: int, y: int, t: int) -> np.ndarray | None:
    """Tile (x, y) of the destination view as the source image shows it; None when it falls
    outside the source."""
    M = H_dst_to_src @ _shift(x, y)
    c = np.array([[0, 0, 1], [t, 0, 1], [0, t, 1], [t, t, 1]], np.float64) @ M.T
    if (c[:, 2] <= 0).any():
        return None
    c = c[:, :2] / c[:, 2:3]
    h, w = src.shape
    if c[:, 0].min() < 3 or c[:, 1].min() < 3 or c[:, 0].max() > w - 4 or c[:, 1].max() > h - 4:
        return None
    return cv2.warpPerspective(src, M, (t, t), flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP)


def relative_blur(gray_j: np.ndarray, gray_i: np.ndarray, H_j_to_i: np.ndarray, centre_j: np.ndarray,
                  spectra: _Spectra, t: int) -> np.ndarray | None:
    """C_j - C_i as (a, b, c) px^2 from the tiles round ``centre_j`` (frame j's pixels, OpenCV
    centres), fitted both ways; None when too few tiles are seen by both frames."""
    H_i_to_j = np.linalg.inv(H_j_to_i)
    centre_i = H_j_to_i @ np.array([centre_j[0], centre_j[1], 1.0])
    if centre_i[2] <= 0:
        return None
    centre_i = centre_i[:2] / centre_i[2]
    fits = []
    for gd, gs, H, centre in ((gray_j, gray_i, H_j_to_i, centre_j), (gray_i, gray_j, H_i_to_j, centre_i)):
        ratios = []
        for x, y in _tile_corners(centre, t, (gd.shape[1], gd.shape[0])):
            other = _warped(gs, H, x, y, t)
            if other is not None:
                ratios.append(spectra.log_ratio(gd[y:y + t, x:x + t], other))
        if len(ratios) < MIN_TILES:
            return None
        r = np.stack(ratios)
        seen = np.isfinite(r).sum(axis=0)
        with np.errstate(all="ignore"):
            typical = np.where(seen >= max(MIN_TILES, len(ratios) // 2), np.nanmedian(np.where(seen > 0, r, 0.0), axis=0), np.nan)
        fits.append(spectra.fit(typical))
    return (fits[0] - fits[1]) / 2.0


def solve_per_frame(frames: list[int], pairs: dict[tuple[int, int], np.ndarray]) -> dict[int, np.ndarray]:
    """One (a, b, c) per frame from pairwise differences C_j - C_i, the sharpest frame (least
    trace) set to zero; frames in no pair are left out.

    Least absolute residuals (reweighted least squares), not least squares: a strong streak
    reads a little differently against the frames before it than against those after it (the
    fit's band, the view), and least squares spread that disagreement over every frame chained
    to it. It still leaks: on a dolly whose frame 5 is streaked 2.2 x 0.5 px, the sharp frames
    after it read 0.5-0.6 px along the streak (0.75 under least squares). A pull of every
    frame towards the sharpest cut that to 0.4 but would also pull down a long run of soft
    frames, which only the few pairs at its ends hold up (dog-lawn's last ten frames), and was
    left out."""
    seen = sorted({f for p in pairs for f in p})
    if not seen:
        return {}
    idx = {f: k for k, f in enumerate(seen)}
    rows, vals = [], []
    for (j, i), d in pairs.items():
        r = np.zeros(len(seen))
        r[idx[j]], r[idx[i]] = 1.0, -1.0
        rows.append(r)
        vals.append(d)
    rows.append(np.full(len(seen), 1e-3))  # gauge: the offset is set below
    vals.append(np.zeros(3))
    A, b = np.array(rows), np.array(vals)
    weight = np.ones(len(A))
    for _ in range(SOLVE_ROUNDS):
        x = np.linalg.lstsq(A * weight[:, None], b * weight[:, None], rcond=None)[0]
        residual = np.linalg.norm(A @ x - b, axis=1)
        weight = 1.0 / np.sqrt(np.maximum(residual, RESIDUAL_FLOOR_PX2))
        weight[-1] = 1.0
    x = x - x[int(np.argmin(x[:, 0] + x[:, 2]))]
    return {f: x[idx[f]] for f in frames if f in idx}


def _matrix(v: np.ndarray) -> np.ndarray:
    return np.array([[v[0], v[1]], [v[1], v[2]]], np.float64)


def clean(cov: np.ndarray) -> np.ndarray:
    """Symmetric, the dead zone taken off each axis, no negative part, capped."""
    w, v = np.linalg.eigh((cov + cov.T) / 2.0)
    w = np.clip(w - DEAD_ZONE_PX**2, 0.0, MAX_SIGMA_PX**2)
    return (v * w) @ v.T


def streak(velocity_px: np.ndarray, shutter: float) -> np.ndarray:
    """Covariance (px^2) of a box streak ``shutter * |v|`` long along ``v``."""
    v = np.asarray(velocity_px, np.float64)
    return shutter**2 * np.outer(v, v) / 12.0


def crop_radius(t: int) -> int:
    """Half-side (px) of the crop kept of each frame round its contact point: the tiles and
    the warp's reach into a neighbour's view."""
    return (max(TILES) // 2 + 3) * t


def measure(shot: Shot, views: dict[int, tuple[np.ndarray, tuple[int, int]]]) -> FrameBlur:
    """The per-frame blur at the product over the plate crops ``views`` (frame -> display luma
    crop, its top-left corner in the frame)."""
    frames = [f for f in shot.frames if f in views and f in shot.camera.frames]
    if len(frames) < 2:
        return FrameBlur(note="not measured: fewer than two solved frames")
    solve = shot_solve(shot)
    pairs = pair_differences(shot, solve, frames, views)
    if not pairs:
        return FrameBlur(note="not measured: the ground round the product is in view in too few tiles of neighbouring frames")
    raw = solve_per_frame(frames, pairs)
    if float(shot.render.motion_blur) > 0:  # the render streaks the product itself
        raw = _without_render_streak(raw, solve, frames, product_contact(shot)[0], float(shot.render.motion_blur))
    cov = {f: clean(_matrix(v)) for f, v in raw.items()}
    return FrameBlur(cov=cov, pairs=len(pairs), note=_describe(cov, len(pairs)))


def pair_differences(shot: Shot, solve, frames: list[int],
                     views: dict[int, tuple[np.ndarray, tuple[int, int]]]) -> dict[tuple[int, int], np.ndarray]:
    """C_j - C_i as (a, b, c) for each frame j and its NEIGHBOURS i that see enough of the
    ground round the product's contact point."""
    w, h = (int(v) for v in shot.resolution)
    t = tile_size(w)
    spectra = _Spectra(t)
    contact, normal = product_contact(shot)
    pairs: dict[tuple[int, int], np.ndarray] = {}
    for k, fj in enumerate(frames):
        uv, depth = solve.project(fj, contact[None])
        if not (depth[0] > 0 and np.isfinite(uv).all()):
            continue
        gray_j, (xj, yj) = views[fj]
        centre = uv[0] - 0.5 - (xj, yj)  # corner convention -> OpenCV centres, in the crop
        spread = 2.0 * t * float(depth[0]) / max(solve.cameras[fj].fx, 1e-6)
        for fi in [frames[k + gap] for gap in NEIGHBOURS if k + gap < len(frames)]:
            gray_i, (xi, yi) = views[fi]
            H = camera_ground_homography(solve, fj, fi, contact, normal, (w, h), spread)
            if H is None or not np.isfinite(H).all():
                continue
            d = relative_blur(gray_j, gray_i, _shift(-xi, -yi) @ H @ _shift(xj, yj), centre, spectra, t)  # crop j -> crop i
            if d is not None:
                pairs[(fj, fi)] = d
    return pairs


def _without_render_streak(raw: dict[int, np.ndarray], solve, frames: list[int], contact: np.ndarray,
                           shutter: float) -> dict[int, np.ndarray]:
    """``raw`` less the streak the render gives the product beyond the reference frame's."""
    vel = _velocities(solve, frames, contact)
    ref = min(raw, key=lambda f: raw[f][0] + raw[f][2])
    s_ref = streak(vel.get(ref, np.zeros(2)), shutter)
    return {f: v - _flat(streak(vel.get(f, np.zeros(2)), shutter) - s_ref) for f, v in raw.items()}


def product_contact(shot: Shot) -> tuple[np.ndarray, np.ndarray]:
    """Where the product meets the ground (world) and the ground's normal."""
    g_point, g_normal = np.asarray(shot.ground.point, float), np.asarray(shot.ground.normal, float)
    return ground_contact(np.asarray(shot.product.matrix_world), g_point, g_normal), g_normal


def _shift(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def _flat(m: np.ndarray) -> np.ndarray:
    return np.array([m[0, 0], m[0, 1], m[1, 1]])


def _velocities(solve, frames: list[int], point: np.ndarray) -> dict[int, np.ndarray]:
    """Image velocity (px/frame) of ``point`` at each frame, central differences."""
    uv = {}
    for f in frames:
        p, z = solve.project(f, point[None])
        if z[0] > 0:
            uv[f] = p[0]
    out = {}
    for k, f in enumerate(frames):
        a, b = frames[max(k - 1, 0)], frames[min(k + 1, len(frames) - 1)]
        if a in uv and b in uv and b != a:
            out[f] = (uv[b] - uv[a]) / float(b - a)
    return out


def major_px(cov: np.ndarray) -> float:
    """Sigma (px) along the blur's major axis."""
    return math.sqrt(max(float(np.linalg.eigvalsh(cov)[-1]), 0.0))


def _describe(cov: dict[int, np.ndarray], pairs: int) -> str:
    soft = [f for f, c in cov.items() if major_px(c) > 0]
    if not soft:
        return f"measured over {pairs} frame pairs: every frame as sharp as the sharpest"
    worst = max(cov, key=lambda f: major_px(cov[f]))
    return (f"measured over {pairs} frame pairs: {len(soft)} of {len(cov)} frames softer than the sharpest, "
            f"most {major_px(cov[worst]):.1f} px (frame {worst})")


def as_recorded(cov: dict[int, np.ndarray]) -> dict[int, list[float]]:
    """shot.json's form of the per-frame covariances: frame -> [a, b, c]."""
    return {f: [float(v) for v in _flat(c)] for f, c in cov.items()}


def read_views(paths: ShotPaths, shot: Shot) -> dict[int, tuple[np.ndarray, tuple[int, int]]]:
    """Each plate frame's display luma round the product's contact point (crop_radius), with
    the crop's corner: a 100-frame 4K shot in a few hundred MB, not its whole frames."""
    w, h = (int(v) for v in shot.resolution)
    r = crop_radius(tile_size(w))
    solve = shot_solve(shot)
    contact, _normal = product_contact(shot)
    views = {}
    for f in shot.frames:
        p = paths.plate_frame(f)
        if f not in shot.camera.frames or not p.is_file():
            continue
        uv, z = solve.project(f, contact[None])
        if not (z[0] > 0 and np.isfinite(uv).all()):
            continue
        cx, cy = int(round(uv[0, 0])), int(round(uv[0, 1]))
        x0, y0 = min(max(cx - r, 0), w), min(max(cy - r, 0), h)
        x1, y1 = max(min(cx + r, w), x0), max(min(cy + r, h), y0)
        if x1 - x0 < tile_size(w) or y1 - y0 < tile_size(w):
            continue
        views[f] = (display_luma(read_linear(p)[y0:y1, x0:x1]), (x0, y0))
    return views


def measure_into(paths: ShotPaths, shot: Shot) -> FrameBlur:
    """Measure ``shot``'s per-frame blur from its plate frames and set it on ``shot``
    (``plate.blur``, ``plate.blur_note``); saving it is the caller's."""
    result = measure(shot, read_views(paths, shot))
    shot.plate.blur = as_recorded(result.cov)
    shot.plate.blur_note = result.note
    return result


def estimate_shot(shot_dir: str | Path) -> dict:
    """Measure a set-up shot's per-frame blur and record it in shot.json (``plate.blur``,
    ``plate.blur_note``): what the compositor adds to the product in each frame."""
    t0 = time.perf_counter()
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    result = measure_into(paths, shot)
    paths.save_shot(shot)
    return {"seconds": time.perf_counter() - t0, "pairs": result.pairs, "note": result.note, "frames": len(result.cov)}
