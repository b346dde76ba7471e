"""Occlusion: what stands in front of the product hides it, automatically, with clean edges.

Input: a per-frame mask of what moves on its own (``ml.camera.motion.moving_masks``: people,
cars, animals ...), the frame's camera and the shot's ground plane, and the render's depth
pass (``depth``: planar camera-axis depth in metres, background >= 1e9; shotcache.schema).

Depth ordering (``occluder_depths``): the mask is split into connected components, one per
object. An object stands on the ground where its lowest pixels are (its *foot*): the foot's
pixel ray, cast onto the ground plane, gives the object's distance, in the render's own
depth convention (camera-axis depth). The object is treated as a vertical card at that
distance: it hides the product where its depth is smaller than the product's depth; where
there is no product it hides what the render adds to the ground (the product's shadow)
where it stands in front of the ground seen through that pixel.

An object whose foot is not seen is assumed to be in front (nearer than everything):

* it touches the frame's bottom border: its foot is cut off below the frame, and the only
  way something standing on the ground reaches the bottom edge of the picture is to be
  close to the camera (the ground at the bottom border is the nearest ground in view);
* its foot ray does not meet the ground (at or above the horizon): a hanging, flying or
  mis-segmented object; hiding the product behind it wrongly is a visible but honest error,
  pasting the product over a thing in front of it is the classic broken composite.

A solve whose ground is not below the horizon in this frame (an upside-down world, which
the shot QC refuses but --force composites anyway) gives meaningless ground depths; there
the order falls back to the image (``ground_is_below``): an object whose foot is lower in
the frame than the product's lowest pixel is in front of it, one whose foot is higher is
behind it — the same order a sane camera above the ground gives.

Edges (``guided_filter``, ``refine_matte``): the binary mask of the moving objects is turned
into a soft matte by a guided filter (He, Sun, Tang, "Guided Image Filtering", ECCV 2010 /
TPAMI 2013) with the plate frame as the guide, so the matte's edge follows the plate's own
edge of the object (hair, motion blur, a mask a few pixels off). The soft values are kept
only in a narrow band around the mask's edge; elsewhere the matte stays exactly 0 or 1.
The edges are refined on the occluders' mask *before* the depth test: the depth test cuts
along the render's exact product silhouette, which the plate (the guide) does not show.

numpy + OpenCV only (no bpy, no torch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import cv2
import numpy as np

from shotcache.schema import FrameCamera

BACKGROUND_DEPTH = 1e9
"""The render's depth pass holds >= this where no product was rendered (shotcache.schema)."""
IN_FRONT = 0.0
"""Depth given to an object whose foot is not seen: nearer than everything."""
DEPTH_TOLERANCE = 0.01
"""Relative margin of the depth test: an object hides what is at least 1 % farther than
its foot (its own ground contact is not counted as "behind" it)."""
STRETCH = 0.25
"""Guided-filter values below 0.25 become 0, above 0.75 become 1 (``refine_matte``)."""
COVERED_MIN = 0.005
"""A frame counts as occluded when the matte covers at least 0.5 % of the product's alpha."""


# ---------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------


def _unit(v: Any) -> np.ndarray:
    n = np.asarray(v, dtype=np.float64).reshape(3)
    return n / (np.linalg.norm(n) + 1e-12)


def ray_ground_depth(camera: FrameCamera, u: np.ndarray, v: np.ndarray, point: Any, normal: Any) -> np.ndarray:
    """Camera-axis depth where the rays of pixels (u, v) meet the ground plane; inf where they
    don't (parallel, or the plane is behind the camera). Pixel coordinates use the corner
    convention of ``Solve.project`` (the centre of pixel column i is u = i + 0.5)."""
    c2w = np.asarray(camera.c2w, dtype=np.float64)
    R, C = c2w[:3, :3], c2w[:3, 3]
    n = _unit(normal)
    p = np.asarray(point, dtype=np.float64).reshape(3)
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    # camera-space ray with z = 1: then the ray parameter t is the camera-axis depth
    rn = R.T @ n  # the normal in camera axes: d_world . n = d_cam . (R^T n)
    denom = (u - camera.cx) / camera.fx * rn[0] + (v - camera.cy) / camera.fy * rn[1] + rn[2]
    num = float((p - C) @ n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = num / denom
    return np.where(np.isfinite(t) & (t > 0), t, np.inf)


def ground_depth_map(camera: FrameCamera, size: tuple[int, int], point: Any, normal: Any,
                     origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """HxW camera-axis depth of the ground plane seen through every pixel (inf above the
    horizon); ``size`` (w, h) pixels from ``origin`` (x, y) of the frame (a crop of it)."""
    w, h = size
    u = np.arange(w, dtype=np.float64)[None, :] + 0.5 + origin[0]
    v = np.arange(h, dtype=np.float64)[:, None] + 0.5 + origin[1]
    return ray_ground_depth(camera, u, v, point, normal).astype(np.float32)


def ground_is_below(camera: FrameCamera, size: tuple[int, int], point: Any, normal: Any) -> bool:
    """Does the ground lie below the horizon in this frame (the shot QC's own criterion):
    the bottom centre's ray meets it, and the top centre's meets it farther or not at all."""
    w, h = size
    d = ray_ground_depth(camera, np.array([w / 2, w / 2]), np.array([h - 0.5, 0.5]), point, normal)
    return bool(np.isfinite(d[0]) and (not np.isfinite(d[1]) or d[1] >= d[0]))


@dataclass
class Occluder:
    """One connected component of the moving mask and where it stands."""

    label: int
    area: int
    foot: tuple[float, float]
    """The foot's pixel (u, v), corner convention."""
    depth: float
    """Camera-axis depth of the foot on the ground; IN_FRONT (0) when the foot is not seen."""
    why: str
    """'ground' (the foot's ray met the ground), 'bottom border', 'no ground hit', or 'image
    order' (the solved ground is not below the horizon: in front or behind by the foot's row)."""


def occluders(segments: np.ndarray, camera: FrameCamera, point: Any, normal: Any,
              min_area: int | None = None) -> tuple[np.ndarray, list[Occluder]]:
    """Connected components of ``segments`` (8-connected) and their depths; components
    smaller than ``min_area`` pixels (default 1e-4 of the frame, >= 16: segmentation
    specks) are dropped (label 0 in the returned label image)."""
    seg = np.asarray(segments).astype(bool)
    h, w = seg.shape
    if min_area is None:
        min_area = max(16, int(1e-4 * h * w))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(seg.astype(np.uint8), connectivity=8)
    out: list[Occluder] = []
    keep = np.zeros(n, dtype=bool)
    for lab in range(1, n):
        area = int(stats[lab, cv2.CC_STAT_AREA])
        if area < min_area:
            continue
        keep[lab] = True
        top, height = int(stats[lab, cv2.CC_STAT_TOP]), int(stats[lab, cv2.CC_STAT_HEIGHT])
        bottom = top + height - 1
        # the foot: the component's lowest rows (a sliver, so one stray pixel does not decide)
        sliver = max(1, int(round(0.02 * height)))
        ys, xs = np.nonzero(labels[bottom - sliver + 1:bottom + 1] == lab)
        u = float(np.median(xs)) + 0.5
        v = float(bottom) + 1.0  # the bottom edge of the lowest pixel: where it meets the ground
        if bottom >= h - 1:
            out.append(Occluder(lab, area, (u, v), IN_FRONT, "bottom border"))
            continue
        d = float(ray_ground_depth(camera, np.array([u]), np.array([v]), point, normal)[0])
        if not math.isfinite(d):
            out.append(Occluder(lab, area, (u, v), IN_FRONT, "no ground hit"))
        else:
            out.append(Occluder(lab, area, (u, v), d, "ground"))
    labels = np.where(keep[labels], labels, 0)
    return labels, out


# ---------------------------------------------------------------------------
# guided filter (He et al.), box filters through OpenCV
# ---------------------------------------------------------------------------


def _box(img: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(img, cv2.CV_32F, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Guided image filter: q = a . I + b, locally linear in the guide I over (2r+1)^2 windows.

    ``guide``: HxW or HxWx3 float in [0, 1] (a colour guide uses the full 3x3 covariance of
    the window, so an edge between two colours of equal brightness still guides);
    ``src``: HxW float. ``eps`` regularises a: a window whose guide varies less than
    sqrt(eps) is smoothed, one with a stronger edge keeps that edge."""
    p = np.asarray(src, dtype=np.float32)
    I = np.asarray(guide, dtype=np.float32)
    r = int(radius)
    mean_p = _box(p, r)
    if I.ndim == 2:
        mean_I = _box(I, r)
        var_I = _box(I * I, r) - mean_I * mean_I
        cov_Ip = _box(I * p, r) - mean_I * mean_p
        a = cov_Ip / (var_I + eps)
        b = mean_p - a * mean_I
        return _box(a, r) * I + _box(b, r)
    if I.ndim != 3 or I.shape[2] != 3:
        raise ValueError(f"guide must be HxW or HxWx3, got {I.shape}")
    m = [_box(I[..., c], r) for c in range(3)]
    cov = [_box(I[..., c] * p, r) - m[c] * mean_p for c in range(3)]

    def var(i: int, j: int) -> np.ndarray:
        return _box(I[..., i] * I[..., j], r) - m[i] * m[j]

    s00, s01, s02 = var(0, 0) + eps, var(0, 1), var(0, 2)
    s11, s12, s22 = var(1, 1) + eps, var(1, 2), var(2, 2) + eps
    # inverse of the symmetric 3x3 [[s00 s01 s02] [s01 s11 s12] [s02 s12 s22]] by cofactors
    i00 = s11 * s22 - s12 * s12
    i01 = s02 * s12 - s01 * s22
    i02 = s01 * s12 - s02 * s11
    i11 = s00 * s22 - s02 * s02
    i12 = s01 * s02 - s00 * s12
    i22 = s00 * s11 - s01 * s01
    det = s00 * i00 + s01 * i01 + s02 * i02
    a0 = (i00 * cov[0] + i01 * cov[1] + i02 * cov[2]) / det
    a1 = (i01 * cov[0] + i11 * cov[1] + i12 * cov[2]) / det
    a2 = (i02 * cov[0] + i12 * cov[1] + i22 * cov[2]) / det
    b = mean_p - a0 * m[0] - a1 * m[1] - a2 * m[2]
    return _box(a0, r) * I[..., 0] + _box(a1, r) * I[..., 1] + _box(a2, r) * I[..., 2] + _box(b, r)


def default_radius(size: tuple[int, int]) -> int:
    """Guided filter radius for a frame of ``size`` (w, h): 2 px up to 480 lines, 4 at 1080."""
    return max(2, int(round(min(size) / 250)))


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def edge_band(mask: np.ndarray, band: int) -> np.ndarray:
    """Pixels within ``band`` px (Euclidean) of the other side of the mask's edge: mask
    pixels that near a background pixel and background pixels that near a mask pixel (the
    frame's border is no edge)."""
    m = np.asarray(mask).astype(np.uint8)
    if not m.any() or m.all():
        return np.zeros(m.shape, bool)
    to_mask = cv2.distanceTransform(1 - m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    to_back = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(m > 0, to_back, to_mask) <= band


def _box_around(mask: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the mask's bounding box grown by ``margin``, inside the frame."""
    h, w = mask.shape
    x, y, bw, bh = cv2.boundingRect(mask.astype(np.uint8))
    return max(0, x - margin), max(0, y - margin), min(w, x + bw + margin), min(h, y + bh + margin)


def _as_guide(guide: np.ndarray) -> np.ndarray:
    g = np.asarray(guide)
    if g.dtype == np.uint8:
        return g.astype(np.float32) / 255.0
    if g.dtype == np.uint16:
        return g.astype(np.float32) / 65535.0
    return np.clip(g.astype(np.float32), 0.0, 1.0)


def refine_matte(mask: np.ndarray, guide: np.ndarray, radius: int | None = None, eps: float = 1e-3,
                 band: int | None = None, stretch: float = STRETCH) -> np.ndarray:
    """Binary mask -> float32 matte with soft edges that follow the guide's edges.

    Guided filter of the mask (guide: the plate frame, HxWx3 or HxW, uint8 or float in
    [0, 1]), its values stretched by ``stretch`` (q -> (q - s) / (1 - 2 s), clipped to
    [0, 1]), kept only within ``band`` px of the mask's edge (default 2 * radius, the
    filter's reach); everywhere else the matte is the mask, exactly.

    Where the guide is flat the guided filter is a box blur (twice), so a binary mask's edge
    ramps over 2r px on each side: the product would ghost through the occluder's rim at a
    few percent. The stretch keeps the ramp's middle (where the guide puts the edge) and
    makes the few-percent tails 0 or 1."""
    m = np.asarray(mask).astype(bool)
    h, w = m.shape
    g = np.asarray(guide)
    if g.shape[:2] != (h, w):
        raise ValueError(f"guide is {g.shape[1]}x{g.shape[0]} but the mask is {w}x{h}")
    out = m.astype(np.float32)
    if not m.any() or m.all():
        return out
    r = int(radius) if radius is not None else default_radius((w, h))
    bw = int(band) if band is not None else 2 * r
    # everything happens in the mask's box, grown by the band and the filter's support
    # (2r + 1: the filter is exact in the crop at the band's pixels)
    x0, y0, x1, y1 = _box_around(m, bw + 2 * r + 2)
    sub = m[y0:y1, x0:x1]
    near = edge_band(sub, bw)
    if not near.any():
        return out
    q = guided_filter(_as_guide(g[y0:y1, x0:x1]), sub.astype(np.float32), r, eps)
    crop = out[y0:y1, x0:x1]
    s = float(stretch)
    crop[near] = np.clip((q[near] - s) / (1.0 - 2.0 * s), 0.0, 1.0)
    return out


# ---------------------------------------------------------------------------
# the matte
# ---------------------------------------------------------------------------


def _spread_depth(labels: np.ndarray, found: list[Occluder], reach: int) -> np.ndarray:
    """Each occluder's depth over its pixels and ``reach`` px around them (the matte's soft
    band); where two meet, the nearer wins. inf elsewhere."""
    depth_of = np.full(max(o.label for o in found) + 1, np.inf, dtype=np.float32)
    for o in found:
        depth_of[o.label] = o.depth
    d = depth_of[labels]
    if reach > 0:  # a min filter (a square one: separable, fast)
        d = cv2.erode(d, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return d


def fill_product_depth(depth: np.ndarray, alpha: np.ndarray, reach: int = 3) -> np.ndarray:
    """The product's depth under the whole of its alpha.

    Cycles' pixel filter (1.5 px wide) spreads the combined pass's alpha about a pixel beyond
    the geometry, but the depth pass is not filtered: on the product's rim the depth is that
    of what is behind it (the shadow-catcher ground, whose depth the pass also holds, or
    the background's 1e10). Under the alpha, every pixel takes the smallest of its own depth
    and the product's solid (alpha ~ 1) pixels' depths within ``reach`` px, so the rim
    counts as product and an occluder behind the product does not cut it."""
    d = np.array(depth, dtype=np.float32)
    a = np.asarray(alpha, dtype=np.float32)
    core = (a >= 0.999) & (d < BACKGROUND_DEPTH)
    if not core.any():
        core = (a > 0.5) & (d < BACKGROUND_DEPTH)
    if not core.any():
        return d
    spread = cv2.erode(np.where(core, d, np.inf).astype(np.float32), _disk(reach), borderType=cv2.BORDER_REPLICATE)
    rim = a > 1e-3
    d[rim] = np.minimum(d[rim], spread[rim])
    return d


def _image_order(occ: list[Occluder], depth: np.ndarray, alpha: np.ndarray | None) -> None:
    """The solved ground is unusable in this frame: order by rows instead. An object whose
    foot is below the product's lowest pixel is in front (depth 0), one above it is behind
    everything (inf); one cut off at the bottom border stays in front."""
    solid = np.asarray(alpha) > 0.5 if alpha is not None else depth < BACKGROUND_DEPTH
    rows = np.nonzero(solid.any(axis=1))[0]
    contact = float(rows.max()) + 1.0 if len(rows) else math.inf
    for o in occ:
        if o.why != "bottom border":
            o.depth = IN_FRONT if o.foot[1] >= contact else math.inf
            o.why = "image order"


def depth_ordered_holdout(segments: np.ndarray, camera: FrameCamera, ground_point: Any, ground_normal: Any,
                          product_depth: np.ndarray, guide: np.ndarray | None = None, *, radius: int | None = None,
                          eps: float = 1e-3, min_area: int | None = None, product_alpha: np.ndarray | None = None,
                          found: list[Occluder] | None = None) -> np.ndarray:
    """The holdout matte of one frame: float32 HxW in [0, 1], 1 = an occluder hides the render.

    ``segments``: bool HxW, True = moves on its own; ``camera``: the frame's camera (at the
    frame's resolution); ``ground_point``/``ground_normal``: the shot's ground plane;
    ``product_depth``: the render's depth pass (HxW or HxWx1, planar camera-axis depth in
    metres; where no product was rendered, the shadow-catcher ground's depth or >= 1e9); ``guide``: the plate frame, for soft
    edges (None: a hard matte). Each connected component of ``segments`` stands at its foot
    (its lowest pixels, cast onto the ground: module docstring); a component hides the
    product where its depth is smaller than the product's depth, and the ground (the
    product's shadow) where it is nearer than the ground seen through that pixel. A
    component whose foot is not seen (it touches the bottom border of the frame, or its foot
    ray does not meet the ground) is assumed in front of everything: cut off by the frame's
    bottom edge, it is close to the camera. Where the solved ground is not below the horizon
    the order comes from the image rows instead (module docstring). Pass a list as ``found``
    to get the occluders."""
    seg = np.asarray(segments).astype(bool)
    h, w = seg.shape
    pd = np.asarray(product_depth, dtype=np.float32)
    if pd.ndim == 3:
        pd = pd[..., 0]
    if pd.shape != (h, w):
        raise ValueError(f"depth pass is {pd.shape[1]}x{pd.shape[0]} but the mask is {w}x{h}")
    labels, occ = occluders(seg, camera, ground_point, ground_normal, min_area)
    if occ and not ground_is_below(camera, (w, h), ground_point, ground_normal):
        _image_order(occ, pd, product_alpha)
    if found is not None:
        found.extend(occ)
    out = np.zeros((h, w), np.float32)
    if not occ:
        return out
    objects = labels > 0
    r = int(radius) if radius is not None else default_radius((w, h))
    reach = 2 * r if guide is not None else 0
    soft = refine_matte(objects, guide, r, eps) if guide is not None else objects.astype(np.float32)
    # the matte lives within ``reach`` of the objects: the depth test runs in their box
    x0, y0, x1, y1 = _box_around(objects, reach + 1)
    box = (slice(y0, y1), slice(x0, x1))
    if product_alpha is not None:  # filled in a box 3 px larger: the fill's own reach
        fx0, fy0, fx1, fy1 = _box_around(objects, reach + 5)
        filled = fill_product_depth(pd[fy0:fy1, fx0:fx1], np.asarray(product_alpha)[fy0:fy1, fx0:fx1])
        pd_box = filled[y0 - fy0:y1 - fy0, x0 - fx0:x1 - fx0]
    else:
        pd_box = pd[box]
    ref = np.where(pd_box < BACKGROUND_DEPTH, pd_box,
                   ground_depth_map(camera, (x1 - x0, y1 - y0), ground_point, ground_normal, origin=(x0, y0)))
    occ_depth = _spread_depth(labels[box], occ, reach)
    front = occ_depth * (1.0 + DEPTH_TOLERANCE) < ref
    out[box] = np.where(front, soft[box], 0.0)
    return out


# ---------------------------------------------------------------------------
# a shot's holdout folder
# ---------------------------------------------------------------------------


def _read_gray(path: Path) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return None if img is None else img.astype(np.float32) / 255.0


def _write_if_changed(path: Path, matte: np.ndarray) -> bool:
    """Write the matte as an 8-bit PNG (temp + rename) unless the file already holds exactly
    these bytes: an unchanged matte keeps its file stamp, so the stage cache stays valid."""
    from shotcache.layout import atomic_write_bytes

    ok, buf = cv2.imencode(".png", np.round(np.clip(matte, 0.0, 1.0) * 255.0).astype(np.uint8))
    if not ok:
        raise OSError(f"{path}: cannot encode the holdout matte")
    data = buf.tobytes()
    if path.is_file() and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


@dataclass
class HoldoutSummary:
    frames: int = 0
    """Frames given (with a camera in the shot)."""
    occluded: list[int] = field(default_factory=list)
    """Frames where an occluder covers at least COVERED_MIN of the product."""
    covered: dict[int, float] = field(default_factory=dict)
    """Fraction of the product's alpha the automatic matte covers, per frame with the product in view."""
    written: int = 0
    removed: int = 0
    skipped: dict[int, str] = field(default_factory=dict)
    """Frames without an automatic matte, and why."""
    notes: dict[int, str] = field(default_factory=dict)
    static: list[int] = field(default_factory=list)
    """Frames where the solve's points put a static occluder in front of the product."""

    @property
    def mean_covered(self) -> float:
        return float(np.mean(list(self.covered.values()))) if self.covered else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "occluded_frames": list(self.occluded), "frames_with_occluder": len(self.occluded),
                "mean_covered": self.mean_covered, "covered": {str(k): v for k, v in self.covered.items()},
                "written": self.written, "removed": self.removed, "skipped": {str(k): v for k, v in self.skipped.items()},
                "notes": {str(k): v for k, v in self.notes.items()}, "static_frames": list(self.static)}


def auto_holdout(shot_dir: str | Path, moving: Mapping[int, np.ndarray], user_holdout_present: bool,
                 log: Callable[[str], None] | None = None, *, eps: float = 1e-3,
                 points: np.ndarray | None = None) -> dict[str, Any]:
    """Depth-ordered holdout mattes of a rendered shot from its moving-object masks and the
    solve's ``points`` (world, the shot's own; ml.camera.point_occlusion: static occluders).

    For every frame of ``moving`` (bool masks, resized to the shot when needed): the matte
    of ``depth_ordered_holdout`` (the plate frame as the guide) and of ``static_holdout``
    when ``points`` are given, combined (max) with the
    user's matte already in the shot's holdout folder when ``user_holdout_present``
    (app.stages.write_holdout put it there); written to ``ShotPaths.holdout_frame`` through
    a temp file and a rename, and only when its bytes changed. Without user mattes the
    folder is this function's: a frame with no occluder has its old matte removed.
    Returns a summary (``HoldoutSummary.to_dict``) and logs one line."""
    from ml.io.exr import PassError, read_passes
    from shotcache.layout import ShotPaths

    from .shotqc import shot_solve

    say = log or (lambda s: None)
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    solve = shot_solve(shot)
    w, h = int(shot.resolution[0]), int(shot.resolution[1])
    point = np.asarray(shot.ground.point, dtype=np.float64)
    normal = _unit(shot.ground.normal)
    res = HoldoutSummary()
    from .point_occlusion import static_holdout

    frames = set(moving) | (set(solve.cameras) & set(shot.frames) if points is not None else set())
    for f in sorted(frames):
        if f not in solve.cameras:
            res.skipped[f] = "no camera for this frame in the shot"
            continue
        res.frames += 1
        seg = np.asarray(moving[f]).astype(bool) if f in moving else np.zeros((h, w), bool)
        if seg.shape != (h, w):
            seg = cv2.resize(seg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        target = paths.holdout_frame(f)
        user = _read_gray(target) if user_holdout_present and target.is_file() else None
        matte = np.zeros((h, w), np.float32)
        alpha = None
        try:
            passes = read_passes(paths.render_frame(f), ["rgba", "depth"])
            alpha = passes["rgba"][..., 3]
            plate: np.ndarray | None = None
            if seg.any() or points is not None:
                plate = cv2.imread(str(paths.plate_frame(f)), cv2.IMREAD_COLOR)
                if plate is None or plate.shape[:2] != (h, w):
                    res.notes[f] = f"plate {paths.plate_frame(f)} missing or not {w}x{h}: hard matte edges"
                    plate = None
            if seg.any():
                matte = depth_ordered_holdout(seg, solve.cameras[f], point, normal, passes["depth"], plate, eps=eps,
                                              product_alpha=alpha)
            if points is not None and plate is not None:
                still = static_holdout(points, solve.cameras[f], passes["depth"], alpha, plate, point, normal, eps=eps)
                if still.any():
                    res.static.append(f)
                    matte = np.maximum(matte, still)
        except (FileNotFoundError, PassError) as exc:
            res.skipped[f] = f"no automatic holdout: {exc}"
        if alpha is not None and float(alpha.sum()) > 0:
            frac = float((matte * alpha).sum() / alpha.sum())
            res.covered[f] = frac
            if frac >= COVERED_MIN:
                res.occluded.append(f)
        combined = matte if user is None or user.shape != (h, w) else np.maximum(user, matte)
        if user is not None and user.shape != (h, w):
            res.notes[f] = f"user matte {target} is not {w}x{h}; replaced by the automatic one"
        if float(combined.max()) <= 0.0:
            if target.is_file() and user is None:
                target.unlink()  # a stale automatic matte of an earlier run
                res.removed += 1
            continue
        res.written += int(_write_if_changed(target, combined))
    say(f"[vanelia] run: automatic holdout: an occluder covers the product in {len(res.occluded)}/{res.frames} frames"
        + (f" (a static one, from the solve's {len(points)} points, in {len(res.static)})" if points is not None else
           " (no solve points: moving occluders only)")
        + (f" (mean {100 * res.mean_covered:.1f}% of the product covered)" if res.covered else "")
        + (f"; {len(res.skipped)} frame(s) without: {next(iter(res.skipped.values()))}" if res.skipped else ""))
    return res.to_dict()
