"""The lock metric: does the product's contact point stay on the plate's own ground texture?

A product looks filmed only if the spot of ground it stands on moves exactly as the
footage's ground moves. The camera solve predicts that spot in every frame (projecting the
contact point); independently of the solve, the ground texture around the spot is followed
through the plate, and the distance between the two is the slide an artist would see.

What keeps the measurement honest (it must not be fooled by the camera it judges):

* Every frame is matched against an *anchor* frame (the placement's reference frame), never
  against the previous frame, so tracker drift does not accumulate. The previous frame's
  estimate only seeds the search. When the patch leaves the frame or is lost, a new anchor
  is taken at the last good frame, carrying the *texture's* position of the spot (not the
  camera's), so an error measured before the switch is not forgotten.
* The ground around the spot is a plane: corners in a disk around the spot are matched
  and a RANSAC homography from the anchor carries the spot. Corners that move otherwise
  (people, cars, shadows, the wall behind) are outliers of that homography and are masked;
  corners that are outliers again and again are dropped for good. The camera is used only
  to decide where to look (the spot, and which side of the horizon is ground), never to
  decide which motion counts as ground.
* Frames where the spot is in view but the texture cannot be followed are not silently
  dropped: they lower the coverage, and a low coverage fails the lock.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from .solve import Solve

MAX_MEAN_PX = 1.0
MAX_MAX_PX = 3.0
MIN_COVERAGE = 0.6
"""Targets: slide <= 1 px mean and <= 3 px max over the frames where the spot is in view,
measured on at least 60 % of them."""

_WIN = (21, 21)
_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.001)


def _levels(shape: tuple[int, ...]) -> int:
    """Pyramid levels whose coarsest image is still ~4 windows tall (a coarser level than
    that diverges on small frames: 160x90 lost every point at 2 levels)."""
    return int(np.clip(np.floor(np.log2(min(shape[:2]) / (4 * _WIN[0]))), 0, 3))


def _gray(img: Path | np.ndarray) -> np.ndarray:
    if isinstance(img, np.ndarray):
        return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    out = cv2.imread(str(img), cv2.IMREAD_GRAYSCALE)
    if out is None:
        raise FileNotFoundError(f"{img}: cannot read this plate frame")
    return out


def frame_mask(path: Path | np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    """A frame's mask (a file or a uint8 array, white = ignore) as booleans of ``shape`` (h, w); None without one."""
    if path is None:
        return None
    m = path if isinstance(path, np.ndarray) else cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        return None
    return cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 127


def projected_contact(solve: Solve, frame: int, point: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """The contact point in frame pixels (corner convention) at image size (w, h); in front?"""
    px, z = solve.project(frame, np.asarray(point, dtype=np.float64)[None])
    sx, sy = size[0] / solve.width, size[1] / solve.height
    return px[0] * np.array([sx, sy]), bool(z[0] > 0)


def ground_side_mask(solve: Solve, frame: int, normal: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pixels whose viewing ray goes down towards the ground plane (below its horizon)."""
    w, h = size
    c2w = solve.c2w(frame)
    K = solve.K(frame) * np.array([[w / solve.width], [h / solve.height], [1.0]])
    n_cam = c2w[:3, :3].T @ np.asarray(normal, dtype=np.float64)
    ys, xs = np.mgrid[0:h, 0:w]
    rays = np.linalg.solve(K, np.stack([xs + 0.5, ys + 0.5, np.ones_like(xs)], 0).reshape(3, -1).astype(np.float64))
    return ((n_cam @ rays) < 0).reshape(h, w)


def _corners(gray: np.ndarray, centre: np.ndarray, radius: int, allowed: np.ndarray | None) -> np.ndarray | None:
    m = np.zeros_like(gray)
    cv2.circle(m, (int(round(centre[0] - 0.5)), int(round(centre[1] - 0.5))), radius, (255,), -1)
    if allowed is not None:
        m[~allowed] = 0
    pts = cv2.goodFeaturesToTrack(gray, maxCorners=300, qualityLevel=0.003, minDistance=4, mask=m)
    return None if pts is None or len(pts) < 12 else pts.reshape(-1, 2).astype(np.float32)


def camera_ground_homography(solve: Solve, a: int, f: int, point: np.ndarray, normal: np.ndarray, size: tuple[int, int],
                             spread: float) -> np.ndarray | None:
    """The homography (OpenCV pixel centres) the camera predicts for the ground around
    ``point`` from frame a to frame f: a *proposal* for the texture search, never a result."""
    n = np.asarray(normal, dtype=np.float64)
    u = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    pts = np.array([point + spread * (np.cos(t) * u + np.sin(t) * v) for t in np.linspace(0, 2 * np.pi, 8, endpoint=False)])
    pa, za = solve.project(a, pts)
    pf, zf = solve.project(f, pts)
    if (za <= 0).any() or (zf <= 0).any():
        return None
    sc = np.array([size[0] / solve.width, size[1] / solve.height])
    H, _ = cv2.findHomography((pa * sc - 0.5).astype(np.float32), (pf * sc - 0.5).astype(np.float32), 0)
    return H


def _ncc(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> float:
    if m.sum() < 50:
        return -1.0
    x, y = a[m].astype(np.float64), b[m].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / (np.sqrt((x @ x) * (y @ y)) + 1e-9))


class _Anchor:
    """One anchor frame: its image, the spot's texture position and the corners around it."""

    def __init__(self, frame: int, gray: np.ndarray, spot: np.ndarray, pts: np.ndarray, radius: int):
        self.frame, self.gray, self.spot, self.pts = frame, gray, spot, pts
        self.strikes = np.zeros(len(pts), np.int32)
        self.patch = np.zeros_like(gray)
        cv2.circle(self.patch, (int(round(spot[0] - 0.5)), int(round(spot[1] - 0.5))), radius, (255,), -1)

    def best(self, img: np.ndarray, guesses: list[np.ndarray]) -> np.ndarray | None:
        """Of the homographies found from each initial guess, the one whose warped anchor
        patch matches the frame best (normalised cross-correlation): the image decides."""
        found = []
        for g in guesses:
            saved = self.strikes.copy()
            H = self.match(img, g)
            if H is None:
                self.strikes = saved
                continue
            h, w = img.shape
            warped = cv2.warpPerspective(self.gray, H, (w, h), flags=cv2.INTER_LINEAR)
            m = cv2.warpPerspective(self.patch, H, (w, h), flags=cv2.INTER_NEAREST) > 0
            found.append((_ncc(warped, img, cv2.erode(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0), H, self.strikes.copy()))
            self.strikes = saved
        if not found:
            return None
        score, H, strikes = max(found, key=lambda t: t[0])
        self.strikes = strikes
        return H

    def match(self, img: np.ndarray, H: np.ndarray) -> np.ndarray | None:
        """Homography anchor -> img refined against the anchor image warped by the guess H."""
        h, w = img.shape
        alive = self.strikes < 3
        if alive.sum() < 12:
            return None
        ref_pts = self.pts[alive]
        warped = cv2.warpPerspective(self.gray, H, (w, h), flags=cv2.INTER_LINEAR)
        pred = cv2.perspectiveTransform(ref_pts.reshape(-1, 1, 2), H).astype(np.float32)
        p = pred.reshape(-1, 2)
        inside = (p[:, 0] > 12) & (p[:, 1] > 12) & (p[:, 0] < w - 13) & (p[:, 1] < h - 13)
        if inside.sum() < 12:
            return None
        level = _levels(img.shape)
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(warped, img, pred, pred.copy(), winSize=_WIN, maxLevel=level,
                                              criteria=_CRITERIA, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(img, warped, nxt, pred.copy(), winSize=_WIN, maxLevel=level,
                                                criteria=_CRITERIA, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
        ok = inside & (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((back - pred).reshape(-1, 2), axis=1) < 0.3)
        if ok.sum() < 12:
            return None
        Hn, inl = cv2.findHomography(ref_pts[ok], nxt.reshape(-1, 2)[ok], cv2.RANSAC, 1.0, maxIters=2000, confidence=0.999)
        if Hn is None or inl.sum() < 10 or inl.sum() < 0.3 * ok.sum():
            return None
        inl = inl.ravel().astype(bool)
        # least squares on the inliers only (RANSAC's model is from a minimal sample)
        Hn, _ = cv2.findHomography(ref_pts[ok][inl], nxt.reshape(-1, 2)[ok][inl], 0)
        strikes = self.strikes[alive]
        idx_ok = np.flatnonzero(ok)
        strikes[idx_ok[~inl]] += 1  # moves unlike the ground: a moving object or off the plane
        self.strikes[alive] = strikes
        return Hn


def _apply(H: np.ndarray, p: np.ndarray) -> np.ndarray:
    q = H @ np.array([p[0] - 0.5, p[1] - 0.5, 1.0])  # OpenCV pixel centres are integers
    return q[:2] / q[2] + 0.5


def measure_lock(frames: Mapping[int, Path | np.ndarray], solve: Solve, point: np.ndarray, ref: int | None = None,
                 normal: np.ndarray = np.array([0.0, 0.0, 1.0]), masks: Mapping[int, Path | np.ndarray] | None = None,
                 radius_px: int | None = None, max_anchors: int = 12, judge_scale: float = 1.0) -> dict:
    """Slide (px, per frame) of the world point ``point`` against the plate's ground texture.

    ``frames``: plate frames (paths or arrays) by frame number, at any size (the solve's
    intrinsics are scaled to it); ``normal``: the ground's up; ``masks``: white = ignore
    (user masks of moving objects). ``judge_scale``: the slide is reported and judged at
    ``judge_scale`` times the frames' size (the clip's own resolution when the frames are a
    smaller working copy: a geometric offset scales with the image, and 1 px at 360 lines is
    2 px on the 720p frame an artist watches). Returns mean / median / max slide over measured
    frames, the per-frame list, the coverage and a verdict against the targets.
    """
    common = [f for f in sorted(frames) if f in solve.cameras]
    if not common:
        return _report({}, [], [], None, (0, 0), "no plate frame has a camera", judge_scale)
    ref = ref if ref in common else common[len(common) // 2]
    first = _gray(frames[ref])
    size = (first.shape[1], first.shape[0])
    w, h = size
    radius = radius_px or max(40, int(0.12 * w))
    proj = {}
    for f in common:
        p, front = projected_contact(solve, f, point, size)
        if front and np.all(np.isfinite(p)) and 0 <= p[0] < w and 0 <= p[1] < h:
            proj[f] = p
    in_view = sorted(proj)  # the reference frame is 0 px by construction: not a measurement
    if ref not in proj:
        return _report({}, in_view, [], ref, size, f"the contact point is not in view in the reference frame {ref}", judge_scale)
    measured: dict[int, float] = {}
    spots: dict[int, np.ndarray] = {ref: proj[ref]}  # where the texture carries the spot (frame px)
    anchors: list[int] = []
    # world radius of the ground disk whose image is about the patch radius in the reference
    px1, _ = solve.project(ref, np.stack([point, point + 0.01 * np.cross(normal, [1.0, 0, 0] if abs(normal[0]) < 0.9 else [0, 1.0, 0])]))
    spread = 0.01 * radius / max(float(np.linalg.norm((px1[1] - px1[0]) * np.array([w / solve.width, h / solve.height]))), 1e-6)

    def anchor_at(f: int, gray: np.ndarray, spot: np.ndarray) -> _Anchor | None:
        allowed = ground_side_mask(solve, f, normal, size)
        user = frame_mask(masks.get(f), (gray.shape[0], gray.shape[1])) if masks else None
        if user is not None:
            allowed &= ~cv2.dilate(user.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        pts = _corners(gray, spot, radius, allowed)
        if pts is None:
            return None
        anchors.append(f)
        return _Anchor(f, gray, spot, pts, radius)

    i0 = common.index(ref)
    for step in (1, -1):
        anchor = anchor_at(ref, first, proj[ref])
        H = np.eye(3)
        last_good = (ref, first, proj[ref])
        idx = i0 + step
        while anchor is not None and 0 <= idx < len(common):
            f = common[idx]
            img = _gray(frames[f])
            guesses = [H]
            Hc = camera_ground_homography(solve, anchor.frame, f, point, normal, size, spread)
            if Hc is not None and not np.allclose(Hc, H, atol=1e-3):
                guesses.append(Hc)
            Hn = anchor.best(img, guesses)
            spot = _apply(Hn, anchor.spot) if Hn is not None else None
            if spot is None or not (8 <= spot[0] < w - 8 and 8 <= spot[1] < h - 8):
                # lost (or the spot left the frame): re-anchor at the last good frame, once per frame
                if last_good[0] == anchor.frame or len(anchors) >= max_anchors:
                    if f in proj:
                        idx += step
                        continue  # an in-view frame we could not measure: counts against coverage
                    idx += step
                    continue
                anchor = anchor_at(*last_good)
                H = np.eye(3)
                continue
            assert Hn is not None  # spot was found from it
            H = Hn
            if f in proj:
                measured[f] = float(np.linalg.norm(spot - proj[f]))
                spots[f] = spot
            last_good = (f, img, spot)
            idx += step
    rep = _report(measured, [f for f in in_view if f != ref], anchors, ref, size, "", judge_scale)
    sx, sy = solve.width / w, solve.height / h  # back to the solve's pixels
    rep["texture_px"] = {str(f): [float(p[0] * sx), float(p[1] * sy)] for f, p in sorted(spots.items())}
    return rep


MIN_LOCKED_RUN = 8
"""Fewest consecutive frames worth offering as the part of a refused shot that holds the lock."""


def locked_run(measured: dict[int, float], in_view: list[int], ref: int | None) -> tuple[int, int] | None:
    """The longest run of consecutive frames in view (the reference frame, the lock's anchor,
    at 0 px) whose slide meets both limits, when it is at least MIN_LOCKED_RUN frames and not
    the whole shot; None otherwise. A frame in view but not measured ends a run.

    Why: a solve often drifts only where the camera moves fastest, at a shot's head or tail
    (beach-sunset: 103 px on its first frames, 0.2-1.9 px from frame 9 on); the refusal then
    says which frames would hold, and the artist can trim the shot to them (--frames A:B)."""
    frames = sorted(set(in_view) | ({ref} if ref is not None else set()))
    slide = {f: (0.0 if f == ref else measured.get(f)) for f in frames}
    best: tuple[int, int] | None = None
    for seg in _segments_under_max(frames, slide):
        run = _longest_under_mean([slide[f] or 0.0 for f in seg])
        if run is not None and (best is None or run[1] - run[0] > best[1] - best[0]):
            best = (seg[run[0]], seg[run[1]])
    if best is None or best[1] - best[0] + 1 < MIN_LOCKED_RUN or best[1] - best[0] + 1 == len(frames):
        return None
    return best


def _segments_under_max(frames: list[int], slide: dict[int, float | None]) -> list[list[int]]:
    """Maximal runs of consecutive frames, each measured and within MAX_MAX_PX."""
    out: list[list[int]] = []
    for f in frames:
        v = slide[f]
        if v is None or v > MAX_MAX_PX:
            out.append([])
        elif out and out[-1] and out[-1][-1] == f - 1:
            out[-1].append(f)
        else:
            out.append([f])
    return [seg for seg in out if seg]


def _longest_under_mean(values: list[float]) -> tuple[int, int] | None:
    """(first, last) index of the longest stretch whose mean is at most MAX_MEAN_PX: the
    longest i < j with prefix[j] <= prefix[i] over the excess (value - MAX_MEAN_PX). A start
    is only worth trying where the prefix is higher than at every earlier start, so each end
    finds its farthest start by bisection over those: O(n log n) for a shot of any length."""
    prefix = np.concatenate([[0.0], np.cumsum(np.asarray(values, np.float64) - MAX_MEAN_PX)])
    starts: list[int] = []  # indices of the running maxima of the prefix, increasing prefix
    best: tuple[int, int] | None = None
    for j in range(len(prefix)):
        if not starts or prefix[j] > prefix[starts[-1]]:
            starts.append(j)
        lo, hi = 0, len(starts)  # the first start whose prefix reaches prefix[j]
        while lo < hi:
            mid = (lo + hi) // 2
            if prefix[starts[mid]] >= prefix[j] - 1e-12:
                hi = mid
            else:
                lo = mid + 1
        if lo < len(starts) and starts[lo] < j and (best is None or j - starts[lo] > best[1] - best[0] + 1):
            best = (starts[lo], j - 1)
    return best


def _report(measured: dict[int, float], in_view: list[int], anchors: list[int], ref: int | None,
            size: tuple[int, int], why: str, judge_scale: float = 1.0) -> dict:
    measured = {f: v * judge_scale for f, v in measured.items()}
    judged = [int(round(size[0] * judge_scale)), int(round(size[1] * judge_scale))]
    vals = np.array([measured[f] for f in sorted(measured)]) if measured else np.zeros(0)
    coverage = len(measured) / max(len(in_view), 1)
    stats = {"mean": float(vals.mean()), "median": float(np.median(vals)), "max": float(vals.max())} if len(vals) > 1 else None
    if why:
        ok = False
    elif stats is None or coverage < MIN_COVERAGE:
        ok, why = False, (f"the ground around the product could be followed in only {len(measured)}/{len(in_view)} "
                          f"of the frames where it is in view (need {MIN_COVERAGE:.0%})")
    elif stats["mean"] > MAX_MEAN_PX or stats["max"] > MAX_MAX_PX:
        worst = max(measured, key=lambda k: measured[k])
        ok, why = False, (f"the product slides over the ground: {stats['mean']:.2f} px mean, {stats['max']:.2f} px max "
                          f"(frame {worst}) at {judged[0]}x{judged[1]}; limits {MAX_MEAN_PX} / {MAX_MAX_PX} px")
        if run := locked_run(measured, in_view, ref):
            part = [measured.get(f, 0.0) for f in range(run[0], run[1] + 1)]
            why += (f"; frames {run[0]}-{run[1]} held it here ({float(np.mean(part)):.2f} px mean, {max(part):.2f} max): "
                    f"try --frames {run[0]}:{run[1]} (a shorter shot is solved and measured again, from its own middle frame)")
    else:
        ok = True
    return {"ok": ok, "reason": why, "ref_frame": ref, "size": judged, "measured_size": list(size), "frames_in_view": len(in_view),
            "frames_measured": len(measured), "coverage": round(coverage, 3), "anchors": anchors,
            "slide_px": stats, "per_frame": {str(f): round(v, 3) for f, v in sorted(measured.items())},
            "limits": {"mean_px": MAX_MEAN_PX, "max_px": MAX_MAX_PX, "coverage": MIN_COVERAGE}}
