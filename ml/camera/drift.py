"""How well a product placed on the solved ground stays put: drift against the footage itself.

The solved camera predicts where a ground point appears in every frame. Independently, the
ground texture at that point is followed through the clip with pyramidal Lucas-Kanade,
frame to frame, from the reference frame outwards. The distance between the two, per frame,
is the drift an artist would see as the product sliding over the floor.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .solve import Solve


def _gray(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def klt_follow(frames: dict[int, Path], ref: int, start_px: np.ndarray, radius: int | None = None) -> dict[int, np.ndarray]:
    """Follow a ground pixel from frame ``ref`` forward and backward; stops where it is lost.

    The ground around a product is a plane, so rather than one point we follow the corners
    within ``radius`` px as a planar patch: each frame, the reference image is warped by the
    previous frame's homography (so the patch already looks as it should), Lucas-Kanade
    refines the corners against the new frame with a forward-backward check, and a RANSAC
    homography from the reference corners carries the point. Matching every frame against
    the reference, not the previous frame, keeps tracker drift out of the measurement.
    Pixel coordinates in and out use the corner convention.
    """
    order = sorted(frames)
    i0 = order.index(ref)
    ref_img = _gray(frames[ref])
    h, w = ref_img.shape
    radius = radius or max(48, int(0.12 * w))  # enough ground texture for a well-posed homography
    start_cv = np.asarray(start_px, dtype=np.float64) - 0.5  # OpenCV: pixel centres are integers
    mask = np.zeros_like(ref_img)
    cv2.circle(mask, (int(round(start_cv[0])), int(round(start_cv[1]))), radius, 255, -1)
    corners = cv2.goodFeaturesToTrack(ref_img, maxCorners=200, qualityLevel=0.005, minDistance=4, mask=mask)
    out = {ref: np.asarray(start_px, dtype=np.float64)}
    if corners is None or len(corners) < 8:
        return out
    ref_pts = corners.reshape(-1, 2).astype(np.float32)
    lk = dict(winSize=(21, 21), maxLevel=2, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.001))
    for step in (1, -1):
        H = np.eye(3)
        idx = i0 + step
        while 0 <= idx < len(order):
            f = order[idx]
            img = _gray(frames[f])
            warped = cv2.warpPerspective(ref_img, H, (w, h), flags=cv2.INTER_LINEAR)
            pred = cv2.perspectiveTransform(ref_pts.reshape(-1, 1, 2), H).astype(np.float32)
            inside = ((pred[:, 0, 0] > 10) & (pred[:, 0, 1] > 10) & (pred[:, 0, 0] < w - 11) & (pred[:, 0, 1] < h - 11))
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(warped, img, pred, pred.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(img, warped, nxt, pred.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk)
            ok = inside & (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((back - pred).reshape(-1, 2), axis=1) < 0.3)
            if ok.sum() < 8:
                break
            Hn, inl = cv2.findHomography(ref_pts[ok], nxt.reshape(-1, 2)[ok], cv2.RANSAC, 1.0)
            if Hn is None or inl.sum() < 8:
                break
            H = Hn
            p = H @ np.array([start_cv[0], start_cv[1], 1.0])
            out[f] = p[:2] / p[2] + 0.5
            idx += step
    return out


def placement_drift(frames: dict[int, Path], solve: Solve, point: np.ndarray, ref: int | None = None) -> dict:
    """Per-frame distance (px) between the projected ground point and its KLT track."""
    common = [f for f in sorted(frames) if f in solve.cameras]
    ref = ref if ref is not None else common[len(common) // 2]
    proj = {f: solve.project(f, np.asarray(point)[None])[0][0] for f in common}
    followed = klt_follow({f: frames[f] for f in common}, ref, proj[ref])
    d = {f: float(np.linalg.norm(followed[f] - proj[f])) for f in followed}
    vals = np.array(list(d.values()))
    return {"ref_frame": ref, "frames_followed": len(d), "frames": len(common),
            "drift_px": {"mean": float(vals.mean()), "median": float(np.median(vals)), "max": float(vals.max())},
            "per_frame": {str(k): round(v, 3) for k, v in sorted(d.items())}}
