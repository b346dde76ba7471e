"""Masks of what moves on its own (people, cars, animals): flow the camera cannot explain.

A camera solve and the lock metric both assume that what they follow is the static world.
Everything that moves by itself breaks that assumption, so it is masked automatically:

* For each frame and its neighbour the dense optical flow (DIS) says where every pixel
  went. The camera alone explains most of it: its motion is fitted robustly (RANSAC) to
  sparse corner tracks, most of which lie on the static world.
* The camera's motion is a homography when that explains the tracks (a pan or zoom on a
  tripod, a distant or planar scene) and a fundamental matrix otherwise (a travelling
  camera over a 3D scene). The choice is GRIC's (the criterion of
  shotcache.motion_model), summed over neighbouring frame pairs and leaning a little
  towards travel (choose_motions says why). Asking for a homography where there is
  parallax would flag every near object as moving; a fundamental matrix where the scene
  is one plane is free to explain a moving object too.
* What two frames cannot tell apart: a compact near object seen from a camera sliding
  past a flat background has the parallax of an object moving on its own. With the
  homography chosen (little parallax elsewhere) it is masked; with the fundamental
  matrix, an object moving along its epipolar lines is not.
* A pixel's residual is the distance between where the flow took it and where the camera
  says it must be: the homography's image of it, or anywhere on its epipolar line (depth
  is unknown, so motion along the line is static-compatible).
* The threshold adapts to the footage's flow noise: max(1.5 px, k x robust sigma of all
  residuals), since most pixels are static. A pixel must move unexplained towards *both*
  neighbours (where it has two): occlusion and disocclusion at depth edges fool one
  direction only, a person fools both.
* Flow is unreliable where forward and backward flow disagree (occlusion); those pixels
  are no evidence either way. Speckles are opened away, holes closed, tiny components
  dropped, and a component is kept only if the frame before or after has moving pixels
  where it is (a real object persists; a flow glitch does not).

Work happens at a size of at most ``max_side`` pixels; masks come back at each frame's own
size. Pure cv2 + numpy: runs in the sidecar, never in Blender.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from shotcache.motion_model import _gric

MIN_RESIDUAL_PX = 1.5
"""Residual (px at the working size) below which a pixel is static whatever the noise."""
SIGMA_K = 4.0
"""Threshold in robust sigmas of the residuals: static pixels stay below it."""
MIN_AREA = 0.001
"""Components smaller than this fraction of the frame are dropped (flow speckles)."""
MIN_EIGEN = 3e-4
"""cv2.cornerMinEigenVal (7x7) under which a pixel's flow is no evidence (see textured);
measured: 1e-4 left 2.9 % of a rendered static scene (fluted columns, white boxes)
marked as moving, 3e-4 0.3 %, with the same recall of moving things."""
TRAVEL_BIAS = 0.35
"""GRIC per point granted to the fundamental matrix (see choose_motions); measured: a near
floor covering a third of the points gives GRIC(H) - GRIC(F) of -0.1..+0.2 a point, a card
walking over a planar ground (14 % of the points) -0.8."""
FB_MAX_PX = 1.5
"""Forward-backward flow disagreement (px) above which a pixel is occluded: no evidence."""

Frame = Path | np.ndarray
Log = Callable[[str], None]


@dataclass
class CameraMotion:
    """The camera's motion between two frames: ``kind`` 'homography' (M = H, a -> b),
    'fundamental' (M = F with b^T F a = 0) or 'none' (too few tracks: no evidence)."""

    kind: str
    M: np.ndarray | None = None

    def inverse(self) -> "CameraMotion":
        """The same motion from b to a."""
        if self.M is None:
            return self
        if self.kind == "homography":
            return CameraMotion(self.kind, np.linalg.inv(self.M))
        return CameraMotion(self.kind, self.M.T)


def _read(src: Frame) -> np.ndarray:
    if isinstance(src, np.ndarray):
        return src
    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{src}: cannot read this frame")
    return img


def _small_gray(src: Frame, max_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The frame in grey at the working size, and its own (h, w)."""
    img = _read(src)
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if gray.dtype != np.uint8:
        g = gray.astype(np.float32)
        gray = ((g - g.min()) * (255.0 / max(float(g.max() - g.min()), 1e-6))).astype(np.uint8)
    h, w = gray.shape
    s = min(1.0, max_side / max(h, w))
    if s < 1.0:
        gray = cv2.resize(gray, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    return gray, (h, w)


def _matches(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tracks a -> b (pixel centres) from a regular grid of textured points, kept where
    Lucas-Kanade agrees both ways. A grid, not the strongest corners: each part of the
    frame votes by its area, so a highly textured person cannot outvote the ground."""
    h, w = a.shape
    step = max(6, min(h, w) // 40)
    ys, xs = np.mgrid[step // 2:h - step // 2:step, step // 2:w - step // 2:step]
    eig = cv2.cornerMinEigenVal(a, 7)
    textured = eig[ys, xs] > max(1e-4, 0.05 * float(np.percentile(eig, 90)))
    pts = np.stack([xs[textured], ys[textured]], axis=1).astype(np.float32).reshape(-1, 1, 2)
    if len(pts) < 12:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    lk = dict(winSize=(15, 15), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(a, b, pts, None, **lk)  # type: ignore[call-overload]
    back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, nxt, None, **lk)  # type: ignore[call-overload]
    ok = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((back - pts).reshape(-1, 2), axis=1) < 0.5)
    return pts.reshape(-1, 2)[ok], nxt.reshape(-1, 2)[ok]


def _h_errors(H: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    q = cv2.perspectiveTransform(pa.reshape(-1, 1, 2).astype(np.float64), H).reshape(-1, 2)
    return np.sum((q - pb) ** 2, axis=1)


def _sampson(F: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    x1, x2 = np.c_[pa, np.ones(len(pa))], np.c_[pb, np.ones(len(pb))]
    Fx1, Ftx2 = x1 @ F.T, x2 @ F
    num = np.sum(x2 * Fx1, axis=1) ** 2
    return num / np.maximum(Fx1[:, 0] ** 2 + Fx1[:, 1] ** 2 + Ftx2[:, 0] ** 2 + Ftx2[:, 1] ** 2, 1e-12)


@dataclass
class PairModels:
    """Both candidate camera motions of a frame pair and their GRIC scores (lower wins)."""

    H: np.ndarray | None
    F: np.ndarray | None
    gric_h: float = 0.0
    gric_f: float = 0.0
    n: int = 0
    spread: bool = False


def fit_models(pa: np.ndarray, pb: np.ndarray, sigma_px: float = 0.5) -> PairModels:
    """Homography and fundamental matrix a -> b by RANSAC, and the GRIC of each.

    A moving object's points are outliers of either. The homography's one-way transfer
    error is halved to approximate its manifold distance, as in
    shotcache.motion_model.compare_pair; the noise level is the larger of ``sigma_px`` and
    the fundamental matrix's robust residual.
    """
    if len(pa) < 12:
        return PairModels(None, None)
    pa, pb = pa.astype(np.float64), pb.astype(np.float64)
    H, _ = cv2.findHomography(pa, pb, cv2.RANSAC, 1.0, maxIters=1000, confidence=0.995)
    found, _ = cv2.findFundamentalMat(pa, pb, cv2.FM_RANSAC, 0.75, 0.995, 1000)
    F = found if found is not None and found.shape == (3, 3) else None  # 7-point RANSAC may give 3 stacked
    if H is None or F is None:
        return PairModels(H, F)
    e_h, e_f = _h_errors(H, pa, pb) / 2, _sampson(F, pa, pb)
    sigma2 = max(sigma_px ** 2, float(np.median(e_f)) * 1.4826 ** 2)
    off_plane = pa[(2 * e_h > MIN_RESIDUAL_PX ** 2) & (e_f < 0.75 ** 2)]  # what the homography would mask
    return PairModels(H, F, _gric(e_h, sigma2, 2, 8), _gric(e_f, sigma2, 3, 7), len(pa),
                      _spread(off_plane, pa.max(axis=0) + 1, max(6, len(pa) // 100)))


def _spread(pts: np.ndarray, size: np.ndarray, min_points: int) -> bool:
    """Whether points (the static-compatible parallax: off the homography, on the epipolar
    lines) lie in two or more separate places of the frame, each with ``min_points``.

    One place is what a single object moving on its own looks like when a fundamental
    matrix is free to explain it (the rest of the scene being a plane); static things at
    several places, all agreeing on one epipole, are parallax: a camera travelling past
    boxes and columns standing on a floor."""
    if len(pts) < 2 * min_points:
        return False
    cell = max(4.0, float(size.max()) / 40)
    grid = np.zeros((int(size[1] // cell) + 1, int(size[0] // cell) + 1), np.uint8)
    np.add.at(grid, ((pts[:, 1] // cell).astype(int), (pts[:, 0] // cell).astype(int)), 1)
    near = cv2.dilate((grid > 0).astype(np.uint8), np.ones((5, 5), np.uint8))
    n, labels = cv2.connectedComponents(near, connectivity=8)
    counts = np.bincount(labels.ravel(), weights=grid.ravel().astype(np.float64), minlength=n)[1:]
    return int((counts >= min_points).sum()) >= 2


def choose_motions(models: list[PairModels], window: int = 4) -> list[CameraMotion]:
    """The camera's motion of each pair: the homography or the fundamental matrix, whichever
    has the lower GRIC summed over the pairs within ``window`` of it, the fundamental matrix
    given TRAVEL_BIAS per point.

    A single pair is often borderline (little parallax in a frame's worth of travel); the
    camera's kind of motion changes slowly, so neighbouring pairs vote, as
    shotcache.motion_model.select_motion sums GRIC over a clip's pairs. The bias: plain GRIC
    keeps the homography until about a third of the points are off it, so a near floor
    seen from a travelling camera would be masked as moving, which costs the solve its
    parallax and the lock its ground; a moving object that a (plane-degenerate)
    fundamental matrix absorbs instead is left to the solver's own outlier rejection. The
    fundamental matrix is also taken when most pairs near have their parallax at several
    places (``_spread``): a floor dominates GRIC, yet the boxes standing on it are static."""
    out = []
    for i, m in enumerate(models):
        near = [n for n in models[max(0, i - window):i + window + 1] if n.H is not None and n.F is not None]
        travel = (sum(n.gric_f for n in near) < sum(n.gric_h + TRAVEL_BIAS * n.n for n in near)
                  or 2 * sum(n.spread for n in near) > len(near))
        if m.H is not None and (not travel or m.F is None):
            out.append(CameraMotion("homography", m.H))
        elif m.F is not None:
            out.append(CameraMotion("fundamental", m.F))
        else:
            out.append(CameraMotion("none"))
    return out


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    return xs, ys


def residual(flow: np.ndarray, motion: CameraMotion) -> np.ndarray:
    """Per pixel, px: how far the flow's end point is from where the camera's motion puts it
    (the homography's image of the pixel, or its epipolar line). NaN where unknown."""
    h, w = flow.shape[:2]
    if motion.M is None:
        return np.full((h, w), np.nan, np.float32)
    xs, ys = _grid((h, w))
    ex, ey = xs + flow[..., 0], ys + flow[..., 1]
    M = motion.M.astype(np.float64)
    if motion.kind == "homography":
        d = M[2, 0] * xs + M[2, 1] * ys + M[2, 2]
        d = np.where(np.abs(d) < 1e-9, 1e-9, d)
        px = (M[0, 0] * xs + M[0, 1] * ys + M[0, 2]) / d
        py = (M[1, 0] * xs + M[1, 1] * ys + M[1, 2]) / d
        res = np.hypot(ex - px, ey - py)
    else:
        la = M[0, 0] * xs + M[0, 1] * ys + M[0, 2]
        lb = M[1, 0] * xs + M[1, 1] * ys + M[1, 2]
        lc = M[2, 0] * xs + M[2, 1] * ys + M[2, 2]
        res = np.abs(la * ex + lb * ey + lc) / np.maximum(np.hypot(la, lb), 1e-12)
    out = (ex < 0) | (ey < 0) | (ex > w - 1) | (ey > h - 1)
    return np.where(out, np.nan, res).astype(np.float32)


def occluded(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """Pixels of a whose forward flow, followed back, does not return (occlusion, bad flow)."""
    xs, ys = _grid((flow_ab.shape[0], flow_ab.shape[1]))
    back = cv2.remap(flow_ba, xs + flow_ab[..., 0], ys + flow_ab[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = np.hypot(flow_ab[..., 0] + back[..., 0], flow_ab[..., 1] + back[..., 1])
    tol = FB_MAX_PX + 0.05 * np.hypot(flow_ab[..., 0], flow_ab[..., 1])
    return err > tol


def textured(gray: np.ndarray) -> np.ndarray:
    """Pixels whose neighbourhood pins the flow in both directions (the smaller eigenvalue
    of the gradients' covariance, as a corner detector scores them). In flat areas (sky, a
    white wall) any flow fits the image, and along a single edge or stripes (a fluted
    column, a fence) the flow's component along them is a guess: none of these is
    evidence either way. Closing the mask fills a flat shirt between its textured parts."""
    return cv2.cornerMinEigenVal(gray, 7) > MIN_EIGEN


def score(res: np.ndarray) -> np.ndarray:
    """Residual over the adaptive threshold (> 1 = moves on its own); NaN stays NaN."""
    valid = res[np.isfinite(res)]
    if valid.size < 100:
        return np.full(res.shape, np.nan, np.float32)
    sigma = 1.4826 * float(np.median(valid))
    return (res / max(MIN_RESIDUAL_PX, SIGMA_K * sigma)).astype(np.float32)


class DenseFlow:
    """One DIS instance (it keeps buffers between calls) at the medium preset: about 20 ms
    a direction at 640x360, accurate to a fraction of a pixel on textured ground."""

    def __init__(self) -> None:
        self.dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.dis.calc(a, b, None)  # type: ignore[call-overload]  # None: a new flow (the stubs want one)


def pair_scores(a: np.ndarray, b: np.ndarray, motion: CameraMotion, flow: DenseFlow) -> tuple[np.ndarray, np.ndarray]:
    """Scores of a's pixels (towards b) and of b's pixels (towards a) under ``motion``."""
    f_ab, f_ba = flow(a, b), flow(b, a)
    s_a, s_b = score(residual(f_ab, motion)), score(residual(f_ba, motion.inverse()))
    s_a[occluded(f_ab, f_ba) | ~textured(a)] = np.nan
    s_b[occluded(f_ba, f_ab) | ~textured(b)] = np.nan
    return s_a, s_b


def combine(back: np.ndarray | None, fwd: np.ndarray | None) -> np.ndarray:
    """Moving where every neighbour with evidence says so (NaN = no evidence = static)."""
    have = [s for s in (back, fwd) if s is not None]
    if not have:
        raise ValueError("a frame needs at least one neighbour")
    stack = np.stack(have)
    with np.errstate(invalid="ignore"):
        low = np.nanmin(np.where(np.isfinite(stack), stack, np.inf), axis=0)
    return np.isfinite(low) & (low > 1.0)


def clean(mask: np.ndarray, min_area: float = MIN_AREA) -> np.ndarray:
    """Open away speckles, close holes, drop components under ``min_area`` of the frame."""
    h, w = mask.shape
    r = max(1, round(min(h, w) / 180))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, k)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (6 * r + 1, 6 * r + 1)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area * h * w
    return keep[labels]


def persistent(masks: list[np.ndarray]) -> list[np.ndarray]:
    """Keep a component only where a neighbouring frame has moving pixels on it (dilated a
    little: the object moved). A one-frame flow glitch has no such support."""
    if len(masks) < 2:
        return masks
    h, w = masks[0].shape
    r = max(2, round(min(h, w) / 60))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    grown = [cv2.dilate(m.astype(np.uint8), k) > 0 for m in masks]
    out = []
    for i, m in enumerate(masks):
        support = np.zeros_like(m)
        for j in (i - 1, i + 1):
            if 0 <= j < len(masks):
                support |= grown[j]
        n, labels = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
        hit = np.zeros(n, bool)
        hit[np.unique(labels[support & m])] = True
        hit[0] = False
        out.append(hit[labels])
    return out


def _full_size(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The working-size mask at the frame's (h, w), grown by a working pixel to cover edges."""
    m = cv2.dilate(mask.astype(np.uint8) * 255, np.ones((3, 3), np.uint8))
    if m.shape != size:
        m = cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return m > 127


def _load(frames: Mapping[int, Frame], order: list[int], max_side: int) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """Working-size greys of the frames (all one size) and each frame's own (h, w)."""
    grays: list[np.ndarray] = []
    sizes: list[tuple[int, int]] = []
    for f in order:
        g, size = _small_gray(frames[f], max_side)
        if grays and g.shape != grays[0].shape:
            g = cv2.resize(g, (grays[0].shape[1], grays[0].shape[0]), interpolation=cv2.INTER_AREA)
        grays.append(g)
        sizes.append(size)
    return grays, sizes


def moving_masks(frames: Mapping[int, Frame], log: Log | None = None, max_side: int = 640) -> dict[int, np.ndarray]:
    """Bool masks (True = moves on its own) of every frame, at each frame's own size.

    ``frames``: {frame number: path or BGR / grey array}, neighbours in frame-number order.
    See the module docstring for the method; ``log`` gets one summary line. The clip's
    working-size greys are held in memory (230 kB a frame at 640x360): the camera's model
    of a pair is chosen from its neighbours' before any flow is computed.
    """
    order = sorted(frames)
    grays, sizes = _load(frames, order, max_side)
    if len(order) < 2:
        return {f: np.zeros(size, bool) for f, size in zip(order, sizes)}
    motions = choose_motions([fit_models(*_matches(a, b)) for a, b in zip(grays, grays[1:])])
    flow = DenseFlow()
    raw: list[np.ndarray] = []
    back: np.ndarray | None = None
    for i, motion in enumerate(motions):
        s_prev, s_cur = pair_scores(grays[i], grays[i + 1], motion, flow)
        raw.append(clean(combine(back, s_prev)))
        back = s_cur
    raw.append(clean(combine(back, None)))
    out = {f: _full_size(m, size) for f, m, size in zip(order, persistent(raw), sizes)}
    if log:
        st = mask_stats(out)
        kinds = [m.kind for m in motions]
        log(f"[vanelia] moving masks: {st['frames']}/{len(order)} frames with moving objects, mean area "
            f"{st['mean_area']:.1%}; camera motion per frame pair: " + ", ".join(f"{k} {kinds.count(k)}" for k in sorted(set(kinds))))
    return out


def mask_stats(masks: Mapping[int, np.ndarray]) -> dict[str, float | int]:
    """How much was masked, for a track's QC: frames with any moving pixel and the mean
    masked fraction over all frames."""
    areas = [float(m.mean()) for m in masks.values()]
    return {"frames": int(sum(a > 0 for a in areas)), "mean_area": round(float(np.mean(areas)) if areas else 0.0, 4)}


COVERAGE_COLS = 64
"""Columns of a track's moving-object coverage grid (rows follow the frame's aspect)."""


def coverage_grid(masks: Mapping[int, np.ndarray | Path], cols: int = COVERAGE_COLS) -> list[list[float]]:
    """The share of frames in which each cell of a coarse grid over the frame is moving
    (masks as arrays or image files, white = moving), rounded to 0.01 for a track's QC.

    Why: the placement is chosen on the solved cameras after the masks that kept the tracker
    off people are gone, and stood the product where a person walks or a dog runs (dog-lawn's
    default spot was beside the dog's paws). This small grid is what placement needs of them."""
    acc: np.ndarray | None = None
    for m in masks.values():
        img = cv2.imread(str(m), cv2.IMREAD_GRAYSCALE) > 127 if isinstance(m, Path) else np.asarray(m) > 0
        rows = max(1, round(cols * img.shape[0] / img.shape[1]))
        cell = cv2.resize(img.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA) > 0.1
        acc = cell.astype(np.float32) if acc is None else acc + cell
    if acc is None:
        return []
    return np.round(acc.astype(np.float64) / len(masks), 2).tolist()


def write_masks(masks: Mapping[int, np.ndarray], folder: Path) -> dict[int, Path]:
    """Masks as PNGs (white = moving) named by frame number (000012.png), as
    ml.camera.footage.match_masks and the Blender tracker's --masks read them."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for f, m in masks.items():
        path = folder / f"{f:06d}.png"
        cv2.imwrite(str(path), m.astype(np.uint8) * 255)
        out[f] = path
    return out
