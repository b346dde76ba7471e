"""Physical plausibility of a placed product: checks a low reprojection error cannot pass.

A solve can fit its tracks to a fraction of a pixel and still be physically absurd: the
ground above the cameras (rays from the floor point up), the world upside down, "up"
tilted against the plate's own vertical lines, the product 40 m away or never in frame.
Each check here returns ``{"ok": bool | None, "detail": str}``; ``None`` means the plate
could not tell (e.g. no vertical lines), which is not a failure.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from .lock import frame_mask
from .solve import Solve

MAX_UP_ANGLE_DEG = 12.0
MAX_DISTANCE_HEIGHTS = 30.0
MIN_PRODUCT_PX_FRAC = 0.02
MIN_ALPHA_PX = 20


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / (np.linalg.norm(v) + 1e-12)


def camera_heights(solve: Solve, g_point: np.ndarray, g_normal: np.ndarray) -> dict[int, float]:
    return {f: float((solve.c2w(f)[:3, 3] - g_point) @ g_normal) for f in sorted(solve.cameras)}


def cameras_above_ground(solve: Solve, g_point: np.ndarray, g_normal: np.ndarray) -> dict:
    """Every camera on the up side of the ground plane (else rays from the ground point up)."""
    h = camera_heights(solve, g_point, g_normal)
    below = [f for f, v in h.items() if v <= 0]
    if below:
        return {"ok": False, "detail": f"the camera is below the ground plane in {len(below)}/{len(h)} frames "
                                       f"(e.g. frame {below[0]}, {h[below[0]]:.3g} units): the ground is flipped or misplaced"}
    return {"ok": True, "detail": f"cameras {min(h.values()):.3g}-{max(h.values()):.3g} units above the ground"}


def ground_below_horizon(solve: Solve, g_normal: np.ndarray) -> dict:
    """The ground must image below its horizon: the bottom centre of the frame looks down
    onto it, the top centre not more than the bottom. A world upside down fails here."""
    bad = []
    for f in sorted(solve.cameras):
        c2w, K = solve.c2w(f), solve.K(f)
        n_cam = c2w[:3, :3].T @ g_normal
        rays = np.linalg.solve(K, np.array([[solve.width / 2, solve.width / 2], [solve.height, 0.0], [1.0, 1.0]]))
        down_bottom, down_top = (n_cam @ rays) / np.linalg.norm(rays, axis=0)
        if down_bottom >= 0 or down_top < down_bottom:
            bad.append(f)
    if len(bad) > 0.1 * len(solve.cameras):
        return {"ok": False, "detail": f"the ground is not below the horizon in {len(bad)}/{len(solve.cameras)} frames "
                                       f"(e.g. frame {bad[0]}): the solved world is upside down or looks at the sky"}
    return {"ok": True, "detail": "the ground lies below the horizon"}


NEAR_VIEW_ROWS = 1 / 3
"""The lower share of the frame read as the plate's near view."""
BELOW_GROUND_HEIGHTS = 0.1
"""A point this many camera heights under the solved ground is below it (the solve's noise on
good ground stays within a few hundredths)."""
MAX_BELOW_SHARE = 0.3
"""The most of the near view's points that may lie below the ground. Measured on the real
shots' solves (their lower thirds, first, middle and last frames): good ground 0.00-0.03,
night-street and bmx-trees (held out while this was chosen) 0.06 and 0.08, paragliding-hill's
slope falling away from the camera 0.10-0.11; tea-table, whose tabletop
was solved with 0.5 degrees of parallax into a plane the camera looks along, 0.47; the broken
solves of lady-running and car-drift 0.77-1.0."""
MIN_NEAR_POINTS = 12
"""Fewer reconstructed points in the near view are no evidence either way."""


def view_above_ground(solve: Solve, g_point: np.ndarray, g_normal: np.ndarray) -> dict:
    """The reconstructed points the cameras see in the lower third of the frame lie on or
    above the ground: a camera does not see through the ground in front of it.

    Why: a solve with too little parallax (a tabletop filmed from a seat, a wrong focal
    length) can fit its tracks to a third of a pixel while the plane it calls the ground
    runs along the line of sight. The other checks pass it (cameras above, ground below the
    horizon, no vertical lines to say), and tea-table exited 0 with a thumb-sized duck 14
    camera heights away, pasted on a bowl. There, half the points the camera sees nearest
    lie under that plane. None for solves without points (nodal, static, a shot's cameras)."""
    pts = np.asarray(solve.points, dtype=np.float64).reshape(-1, 3)
    n = _unit(g_normal)
    frames = sorted(solve.cameras)
    if len(pts) < MIN_NEAR_POINTS or not frames:
        return {"ok": None, "detail": "no reconstructed points to check the near view against the ground"}
    heights = (pts - np.asarray(g_point, dtype=np.float64)) @ n
    shares, seen = [], 0
    for f in (frames[0], frames[len(frames) // 2], frames[-1]):
        cam_h = float((solve.c2w(f)[:3, 3] - g_point) @ n)
        px, z = solve.project(f, pts)
        near = (z > 0) & (px[:, 0] >= 0) & (px[:, 0] < solve.width) & (px[:, 1] >= (1 - NEAR_VIEW_ROWS) * solve.height) \
            & (px[:, 1] < solve.height)
        if near.sum() < MIN_NEAR_POINTS or cam_h <= 0:
            continue
        seen += int(near.sum())
        shares.append(float(np.mean(heights[near] < -BELOW_GROUND_HEIGHTS * cam_h)))
    if not shares:
        return {"ok": None, "detail": f"fewer than {MIN_NEAR_POINTS} reconstructed points in the lower third of the frame"}
    share = float(np.median(shares))
    if share > MAX_BELOW_SHARE:
        return {"ok": False, "below_share": share,
                "detail": f"{share:.0%} of the points the camera sees in the lower third of the frame lie under the solved "
                          "ground: the camera would see through it. The ground is tilted against the plate or is another "
                          "surface (a camera that moved too little for the solve to measure depth, or a wrong focal "
                          "length): give a camera solved elsewhere (--camera), the lens (--focal-mm) or the ground (--ground)"}
    return {"ok": True, "below_share": share,
            "detail": f"the near view lies on or above the ground ({share:.0%} of its {seen} points under it)"}


def _segments(gray: np.ndarray) -> np.ndarray:
    """Line segments (x0, y0, x1, y1) of the plate, longer than 4 % of the frame height."""
    lsd = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD)
    lines = lsd.detect(cv2.GaussianBlur(gray, (3, 3), 0))[0]
    if lines is None:
        return np.zeros((0, 4))
    seg = lines.reshape(-1, 4).astype(np.float64) + 0.5
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    return seg[length > 0.04 * gray.shape[0]]


def vertical_vanishing_point(seg: np.ndarray, rng: np.random.Generator, iters: int = 300, tol_deg: float = 1.5) -> tuple[np.ndarray | None, int, int]:
    """RANSAC vanishing point of the near-vertical segments (within 30 deg of the image's
    vertical); returns (homogeneous point, inliers, candidates). Chosen from the plate
    alone, not from the camera it will judge."""
    d = seg[:, 2:] - seg[:, :2]
    ang = np.degrees(np.arctan2(np.abs(d[:, 0]), np.abs(d[:, 1])))
    cand = seg[ang < 30]
    if len(cand) < 6:
        return None, 0, len(cand)
    p0 = np.c_[cand[:, :2], np.ones(len(cand))]
    p1 = np.c_[cand[:, 2:], np.ones(len(cand))]
    lines = np.cross(p0, p1)
    mid = (cand[:, :2] + cand[:, 2:]) / 2
    dirs = (cand[:, 2:] - cand[:, :2]) / np.linalg.norm(cand[:, 2:] - cand[:, :2], axis=1, keepdims=True)
    weight = np.linalg.norm(cand[:, 2:] - cand[:, :2], axis=1)
    best, best_inl, best_score = None, 0, -1.0
    for _ in range(iters):
        i, j = rng.choice(len(cand), 2, replace=False)
        v = np.cross(lines[i], lines[j])
        if np.linalg.norm(v) < 1e-12:
            continue
        inl = _consistent(v, mid, dirs, tol_deg)
        score = float(weight[inl].sum())
        if score > best_score:
            best, best_inl, best_score = v, int(inl.sum()), score
    return best, best_inl, len(cand)


def _consistent(v: np.ndarray, mid: np.ndarray, dirs: np.ndarray, tol_deg: float) -> np.ndarray:
    """Segments whose direction points at the vanishing point v (homogeneous) within tol."""
    if abs(v[2]) > 1e-9 * np.linalg.norm(v):
        to_v = v[:2] / v[2] - mid
    else:
        to_v = np.broadcast_to(v[:2], mid.shape)  # a point at infinity: a direction
    to_v = to_v / (np.linalg.norm(to_v, axis=1, keepdims=True) + 1e-12)
    cos = np.abs(np.sum(to_v * dirs, axis=1))
    return cos > np.cos(np.radians(tol_deg))


def _on_moving(seg: np.ndarray, mask: Path | np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """Segments (in ``shape``'s pixels) whose midpoint lies on a moving object's mask: a
    person's limbs, a paraglider's lines and a swinging cable are no vertical of the world."""
    m = frame_mask(mask, shape)
    if m is None:
        return np.zeros(len(seg), bool)
    mid = ((seg[:, :2] + seg[:, 2:]) / 2).astype(int)
    return m[np.clip(mid[:, 1], 0, shape[0] - 1), np.clip(mid[:, 0], 0, shape[1] - 1)]


def vertical_directions(solve: Solve, images: Mapping[int, Path | np.ndarray], n_frames: int = 3,
                        seed: int = 0, masks: Mapping[int, Path | np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """World directions of the plate's vertical vanishing point in a few frames (unit,
    unsigned: lines do not tell up from down), keyed by frame. From the plate's own lines
    (walls, posts, trees, door frames) and each frame's camera rotation and intrinsics;
    segments on ``masks`` (moving objects, white) are left out."""
    rng = np.random.default_rng(seed)
    frames = [f for f in sorted(images) if f in solve.cameras]
    picks = [frames[i] for i in np.linspace(0, len(frames) - 1, min(n_frames, len(frames))).round().astype(int)] if frames else []
    out: dict[int, np.ndarray] = {}
    for f in picks:
        img = images[f]
        gray = cv2.imread(str(img), cv2.IMREAD_GRAYSCALE) if not isinstance(img, np.ndarray) else (
            img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
        seg = _segments(gray)
        seg = seg[~_on_moving(seg, (masks or {}).get(f), (gray.shape[0], gray.shape[1]))]
        sx, sy = solve.width / gray.shape[1], solve.height / gray.shape[0]
        seg = seg * np.array([sx, sy, sx, sy])
        v, inl, cand = vertical_vanishing_point(seg, rng)
        if v is None or inl < 8 or inl < 0.4 * cand:
            continue
        out[f] = _unit(solve.c2w(f)[:3, :3] @ _unit(np.linalg.solve(solve.K(f), v)))
    return out


UP_FRAMES = 5
"""Frames whose vertical lines are read for the plate's "up"."""
AGREE_DEG = 5.0
"""How closely those frames' vertical vanishing directions must agree for an "up"."""


def plate_up(solve: Solve, images: Mapping[int, Path | np.ndarray], n_frames: int = UP_FRAMES,
             agree_deg: float = AGREE_DEG, masks: Mapping[int, Path | np.ndarray] | None = None) -> np.ndarray | None:
    """World "up" from the plate's vertical lines, when at least two frames agree within
    ``agree_deg``; signed towards the cameras' own up (a camera is not held upside down).
    None when the plate has too few verticals (a beach, a lawn) to say, or its frames
    disagree (lines that move with the camera's subject: cords, limbs)."""
    dirs = list(vertical_directions(solve, images, n_frames, masks=masks).values())
    if len(dirs) < 2:
        return None
    cam_up = _unit(np.mean([-solve.c2w(f)[:3, 1] for f in solve.cameras], axis=0))
    signed = np.array([d if d @ cam_up >= 0 else -d for d in dirs])
    up = _unit(np.median(signed, axis=0))
    spread = np.degrees(np.arccos(np.clip(signed @ up, -1.0, 1.0)))
    return up if float(np.median(spread)) <= agree_deg else None


def up_agrees_with_verticals(solve: Solve, g_normal: np.ndarray, images: Mapping[int, Path | np.ndarray],
                             masks: Mapping[int, Path | np.ndarray] | None = None) -> dict:
    """Angle between the solved "up" and the plate's "up" from its vertical lines
    (``plate_up``, the rule the track's ground fit uses: two frames or more must agree).

    Lines are undirected, so this cannot tell up from down (ground_below_horizon does); it
    catches a ground tilted against the walls, posts and trees of the plate. One frame's
    lines are no evidence: on a paraglider's launch the lines of its wing, in one frame of
    three, refused a level hillside as 82 degrees off."""
    up = plate_up(solve, images, masks=masks)
    if up is None:
        return {"ok": None, "detail": "the plate's vertical lines are too few, or disagree between frames, to check 'up'"}
    n = _unit(np.asarray(g_normal, dtype=np.float64))
    ang = float(np.degrees(np.arccos(min(1.0, abs(float(up @ n))))))
    if ang > MAX_UP_ANGLE_DEG:
        return {"ok": False, "angle_deg": ang, "detail": f"the solved 'up' is {ang:.1f} deg off the plate's vertical lines "
                                                         f"(limit {MAX_UP_ANGLE_DEG} deg): the ground is tilted"}
    return {"ok": True, "angle_deg": ang, "detail": f"'up' within {ang:.1f} deg of the plate's vertical lines"}


def product_upright(solve: Solve, matrix_world: np.ndarray, g_normal: np.ndarray, height: float) -> dict:
    """The product's up axis along the ground normal, and pointing up in the image."""
    M = np.asarray(matrix_world, dtype=np.float64)
    up = _unit(M[:3, 2])
    tilt = float(np.degrees(np.arccos(np.clip(up @ g_normal, -1, 1))))
    if tilt > 10:
        return {"ok": False, "detail": f"the product is tilted {tilt:.0f} deg from the ground's up" + (" (upside down)" if tilt > 90 else "")}
    base = M[:3, 3]
    bad = []
    for f in sorted(solve.cameras):
        px, z = solve.project(f, np.stack([base, base + height * g_normal]))
        if (z <= 0).any():
            continue
        d = px[1] - px[0]
        if np.linalg.norm(d) < 1e-6:
            continue
        if np.degrees(np.arccos(np.clip(-d[1] / np.linalg.norm(d), -1, 1))) > 60:
            bad.append(f)
    if len(bad) > 0.1 * len(solve.cameras):
        return {"ok": False, "detail": f"the product's up points down or sideways in the image in {len(bad)} frames "
                                       f"(e.g. frame {bad[0]}): it would look upside down"}
    return {"ok": True, "detail": f"upright (tilt {tilt:.1f} deg)"}


def plausible_distance(solve: Solve, contact: np.ndarray, g_point: np.ndarray, g_normal: np.ndarray) -> dict:
    """The product within MAX_DISTANCE_HEIGHTS camera heights of the cameras."""
    h = np.median(list(camera_heights(solve, g_point, g_normal).values()))
    dist = np.median([np.linalg.norm(solve.c2w(f)[:3, 3] - contact) for f in solve.cameras])
    ratio = float(dist / max(h, 1e-9))
    if not np.isfinite(ratio) or ratio > MAX_DISTANCE_HEIGHTS:
        return {"ok": False, "detail": f"the product stands {ratio:.0f} camera heights away (limit {MAX_DISTANCE_HEIGHTS:.0f}): "
                                       "the ground or the scale of the solve is wrong"}
    return {"ok": True, "detail": f"{ratio:.1f} camera heights from the camera"}


def alpha_in_frame(solve: Solve, contact: np.ndarray, alphas: dict[int, np.ndarray]) -> dict:
    """Non-empty rendered alpha on every frame whose contact point is in view, and a product
    big enough to be seen (MIN_PRODUCT_PX_FRAC of the frame height) somewhere."""
    expected, empty, tallest = [], [], 0
    for f, a in sorted(alphas.items()):
        px, z = solve.project(f, np.asarray(contact)[None])
        u, v = px[0] * np.array([a.shape[1] / solve.width, a.shape[0] / solve.height])
        rows = np.flatnonzero((a > 0.5).any(axis=1))
        if len(rows):
            tallest = max(tallest, (rows[-1] - rows[0] + 1) / a.shape[0])
        if z[0] > 0 and 0 <= u < a.shape[1] and 0 <= v < a.shape[0]:
            expected.append(f)
            if int((a > 0.5).sum()) < MIN_ALPHA_PX:
                empty.append(f)
    counts = {"frames_in_view": len(expected), "frames_with_product": len(expected) - len(empty)}
    if not expected:
        return {"ok": False, **counts, "detail": "the product's contact point is in view in no frame"}
    if empty:
        return {"ok": False, **counts, "detail": f"the rendered product is missing (empty alpha) in {len(empty)}/{len(expected)} "
                                                 f"frames where it should be in view (e.g. frame {empty[0]})"}
    if tallest < MIN_PRODUCT_PX_FRAC:
        return {"ok": False, **counts, "detail": f"the product is at most {tallest:.1%} of the frame height: too far to be seen"}
    return {"ok": True, **counts, "detail": f"product visible in all {len(expected)} frames where it is in view "
                                            f"(up to {tallest:.0%} of the frame height)"}


MAX_FOOT_OFFSET_FRAC = 0.25
"""How far (as a fraction of the product's own height in the image, at least MIN_FOOT_PX)
the projected contact point may lie from the rendered silhouette."""
MIN_FOOT_PX = 4.0


def product_on_contact(solve: Solve, contact: np.ndarray, alphas: dict[int, np.ndarray]) -> dict:
    """The rendered product stands where the camera says its foot is, on every frame.

    Why: the lock metric follows the *projected* contact point over the plate's ground; it
    says nothing about where the renderer actually drew the product. A render whose camera
    did not follow the solve (a scene whose animation was never evaluated, a stale render
    cache, a product matrix that moved) shows a product sliding while the lock reads 0 px.
    Here the projected contact point must touch the rendered silhouette: its distance to the
    nearest opaque pixel is at most MAX_FOOT_OFFSET_FRAC of the silhouette's height."""
    worst: tuple[float, float, int, float] = (-1.0, 0.0, -1, 0.0)  # (d / tol, d, frame, tol)
    checked = 0
    for f, a in sorted(alphas.items()):
        solid = a > 0.5
        if int(solid.sum()) < MIN_ALPHA_PX or f not in solve.cameras:
            continue
        px, z = solve.project(f, np.asarray(contact, dtype=np.float64)[None])
        u, v = px[0] * np.array([a.shape[1] / solve.width, a.shape[0] / solve.height])
        if not (z[0] > 0 and 0 <= u < a.shape[1] and 0 <= v < a.shape[0]):
            continue
        checked += 1
        rows = np.flatnonzero(solid.any(axis=1))
        tol = max(MIN_FOOT_PX, MAX_FOOT_OFFSET_FRAC * float(rows[-1] - rows[0] + 1))
        dist = cv2.distanceTransform((~solid).astype(np.uint8), cv2.DIST_L2, 5)
        d = float(dist[min(int(v), a.shape[0] - 1), min(int(u), a.shape[1] - 1)])
        worst = max(worst, (d / tol, d, f, tol))
    if not checked:
        return {"ok": None, "detail": "no frame with both the product rendered and its contact point in view"}
    _, d, f, tol = worst
    if d > tol:
        return {"ok": False, "frame": f, "offset_px": round(d, 2),
                "detail": f"the rendered product is {d:.0f} px away from where the camera puts its foot (frame {f}, "
                          f"tolerance {tol:.0f} px): the render does not follow the solved camera or placement"}
    return {"ok": True, "frame": f, "offset_px": round(d, 2),
            "detail": f"the rendered product stands on its projected contact point in all {checked} frames "
                      f"(worst {d:.1f} px, frame {f})"}
