"""Static occluders from the solve's own points: a tree trunk, a post, a table edge in front
of the product hides it, although nothing there moves.

ml.camera.occlusion finds what *moves* in front of the product. What stands still is seen
by the solve instead: its reconstructed points (``Solve.points``, written beside the track
as a PLY) carry their depth. Per frame:

1. **Seeds.** The points projected into the frame near the product (its alpha's box, grown
   by a margin). A point is a *front* seed when it is nearer than the product by more than
   DEPTH_TOLERANCE (the product's depth under its alpha, elsewhere its median depth) and
   stands above the ground by more than GROUND_CLEARANCE of the camera height (a ground
   point in front of the product's foot hides nothing). Every other point there (behind the
   product, or on the ground) is a *back* seed.
2. **Evidence.** Fewer than MIN_SEEDS front seeds on the product's own pixels: no static
   occluder in this frame (one stray point, a mis-triangulated track, must not cut a hole
   in the product).
3. **Densify, edge-aware.** A marker watershed on the plate in that box (Meyer's flooding
   on the colour gradient): front seeds flood as the occluder, back seeds and the box's
   border as the rest, so the occluder's region stops at the plate's own edge between it
   and what is behind. Front regions not holding a front seed on the product are dropped.
4. **Edges.** The region's edge is softened along the plate's edges by the guided filter of
   ml.camera.occlusion (``refine_matte``), as for moving occluders.

The matte covers only what is in front by the seeds' depth; it is combined (max) with the
moving-object and user mattes in ml.camera.occlusion.auto_holdout. numpy + OpenCV only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from shotcache.errors import InputError
from shotcache.schema import FrameCamera
from shotcache.tracks import load_track

from .occlusion import BACKGROUND_DEPTH, default_radius, fill_product_depth, refine_matte

DEPTH_TOLERANCE = 0.03
"""A seed is in front when nearer than the product by 3 % (points are noisy in depth)."""
GROUND_CLEARANCE = 0.03
"""... and higher than 3 % of the camera height above the ground."""
MIN_SEEDS = 3
"""Front seeds on the product's pixels needed before a static occluder is believed."""
MARGIN = 0.06
"""The box around the product's alpha, grown by this fraction of the frame height."""


def project(camera: FrameCamera, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N x 2 pixel coordinates (0,0 = top-left corner), N camera-axis depths) of world
    points through an OpenCV camera-to-world."""
    c2w = np.asarray(camera.c2w, dtype=np.float64)
    cam = (np.asarray(points, dtype=np.float64) - c2w[:3, 3]) @ c2w[:3, :3]
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([camera.fx * cam[:, 0] / z + camera.cx, camera.fy * cam[:, 1] / z + camera.cy], axis=1)
    return uv, z


def seeds(points: np.ndarray, camera: FrameCamera, product_depth: np.ndarray, alpha: np.ndarray,
          ground_point: Any, ground_normal: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]] | None:
    """(front pixels K x 2 int, back pixels M x 2 int, box x0, y0, x1, y1) of one frame, or
    None when the product is not in it (see the module docstring, step 1)."""
    a = np.asarray(alpha, dtype=np.float32)
    h, w = a.shape
    solid = a > 0.05
    if not solid.any():
        return None
    pd = np.asarray(product_depth, np.float32)
    depth = fill_product_depth(pd[..., 0] if pd.ndim == 3 else pd, a)  # the pass reads as HxWx1
    inside = solid & (depth < BACKGROUND_DEPTH)
    if not inside.any():
        return None
    median_depth = float(np.median(depth[inside]))
    m = max(4, int(MARGIN * h))
    x, y, bw, bh = cv2.boundingRect(solid.astype(np.uint8))
    box = (max(0, x - m), max(0, y - m), min(w, x + bw + m), min(h, y + bh + m))
    uv, z = project(camera, points)
    px = np.floor(uv).astype(np.int64, copy=False) if len(uv) else np.zeros((0, 2), np.int64)
    ok = (z > 0) & np.isfinite(uv).all(axis=1)
    ok &= (px[:, 0] >= box[0]) & (px[:, 0] < box[2]) & (px[:, 1] >= box[1]) & (px[:, 1] < box[3])
    px, z, pts = px[ok], z[ok], np.asarray(points, np.float64)[ok]
    n = np.asarray(ground_normal, np.float64)
    n = n / np.linalg.norm(n)
    g = np.asarray(ground_point, np.float64)
    cam_height = abs(float((np.asarray(camera.c2w)[:3, 3] - g) @ n)) or 1.0
    height = (pts - g) @ n
    on_product = inside[px[:, 1], px[:, 0]] if len(px) else np.zeros(0, bool)
    ref = np.where(on_product, depth[px[:, 1], px[:, 0]] if len(px) else 0.0, median_depth)
    front = (z < ref * (1.0 - DEPTH_TOLERANCE)) & (height > GROUND_CLEARANCE * cam_height)
    return px[front], px[~front], box


def static_holdout(points: np.ndarray, camera: FrameCamera, product_depth: np.ndarray, alpha: np.ndarray,
                   plate: np.ndarray, ground_point: Any, ground_normal: Any, *, eps: float = 1e-3) -> np.ndarray:
    """The matte (float32 HxW, 1 = hidden) of what the solve's points put in front of the
    product in one frame; zeros when fewer than MIN_SEEDS front points fall on the product.
    ``plate``: the frame (HxWx3 uint8 BGR) whose edges the occluder's region follows."""
    a = np.asarray(alpha, dtype=np.float32)
    h, w = a.shape
    out = np.zeros((h, w), np.float32)
    if points is None or len(points) == 0:
        return out
    found = seeds(points, camera, product_depth, a, ground_point, ground_normal)
    if found is None:
        return out
    front, back, (x0, y0, x1, y1) = found
    on_product = a[front[:, 1], front[:, 0]] > 0.05 if len(front) else np.zeros(0, bool)
    if int(on_product.sum()) < MIN_SEEDS:
        return out
    region = _flood(np.ascontiguousarray(plate[y0:y1, x0:x1]), front - (x0, y0), back - (x0, y0))
    region = _keep_seeded(region, front[on_product] - (x0, y0))
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = region
    if not mask.any():
        return out
    return refine_matte(mask, plate, default_radius((w, h)), eps)


def _flood(plate: np.ndarray, front: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Marker watershed in a box: True where the front seeds' flood wins (step 3)."""
    bh, bw = plate.shape[:2]
    markers = np.zeros((bh, bw), np.int32)
    markers[0, :] = markers[-1, :] = markers[:, 0] = markers[:, -1] = 2
    r = max(1, int(round(0.004 * max(bh, bw))))
    for (u, v) in back:
        cv2.circle(markers, (int(u), int(v)), r, (2,), -1)
    for (u, v) in front:  # front last: a front seed next to a back one keeps its own pixel
        cv2.circle(markers, (int(u), int(v)), r, (1,), -1)
    img = plate if plate.ndim == 3 else cv2.cvtColor(plate, cv2.COLOR_GRAY2BGR)
    cv2.watershed(cv2.GaussianBlur(img, (3, 3), 0), markers)
    region = markers == 1
    # watershed leaves its dividing lines (-1); those between two front pixels are front
    lines = markers == -1
    grown = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return region | (lines & grown & ~cv2.dilate((markers == 2).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool))


def _keep_seeded(region: np.ndarray, seeds_px: np.ndarray) -> np.ndarray:
    """Only the connected parts of ``region`` that hold a front seed on the product."""
    n, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    if n <= 1 or len(seeds_px) == 0:
        return np.zeros_like(region)
    keep = np.zeros(n, bool)
    keep[labels[seeds_px[:, 1], seeds_px[:, 0]]] = True
    keep[0] = False
    return keep[labels]


def shot_points(shot: Any) -> tuple[np.ndarray | None, str]:
    """(the solve's points in the shot's world, or None; why none). The points come from the
    track the shot's camera was built from (``shot.camera.source``, a transforms.json with
    its ``ply_file_path``) and are used only when that track's cameras are the shot's own
    (same camera-to-world on every common frame): a track the shot re-levelled or moved
    puts its points in another world, where their depths would lie."""
    src = Path(str(shot.camera.source or ""))
    if not src.name.endswith(".json") or not src.is_file():
        return None, "the shot's camera is not a transforms.json"
    try:
        track = load_track(src, skip_missing=False)
    except InputError as exc:
        return None, f"its track is not readable ({exc})"
    if track.points is None or len(track.points) == 0:
        return None, "its track has no points"
    common = sorted(set(track.frames) & set(shot.camera.frames))
    if not common:
        return None, "its track shares no frame with the shot"
    for f in common:
        a = np.asarray(track.frames[f].c2w, np.float64)
        b = np.asarray(shot.camera.frames[f].c2w, np.float64)
        if not np.allclose(a, b, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(a[:3, 3]).max()))):
            return None, f"the shot's cameras differ from its track's (frame {f}): the points are in another world"
    return np.asarray(track.points, np.float64), ""
