"""Nodal (tripod) camera solve: a camera that turns but does not travel.

Pans, tilts and follow shots from a fixed spot have too little parallax for structure from
motion: the mapper cannot triangulate new scenery as it comes into view and registers only a
few frames. For such a camera every feature is a direction, not a point, and the image
motion is a rotation homography ``K R K^-1``. This module bundle-adjusts exactly that model
over the 2D tracks of ml.camera.klt: one focal length and radial k1 for the clip, one
rotation per frame, one direction per track, robust (Huber) residuals in pixels.

The world is levelled without a ground reconstruction: "up" is the axis the camera pans
about when it pans far enough, else the mean of the cameras' up vectors (cameras are held
level); the ground is a plane ``camera_height`` below the camera. Anything standing on that
plane stays locked to the footage, whatever the true floor tilt, because a nodal camera
moves every point of a ray alike.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix

from shotcache.errors import UserError
from shotcache.schema import Distortion, FrameCamera

from .klt import Tracks
from .solve import Solve


class NodalError(UserError, RuntimeError):
    pass


def _rodrigues(rvecs: np.ndarray) -> np.ndarray:
    """(N, 3) rotation vectors -> (N, 3, 3) matrices."""
    theta = np.linalg.norm(rvecs, axis=1)[:, None, None]
    safe = np.where(theta < 1e-12, 1.0, theta)
    k = rvecs[:, :, None] / safe
    K = np.zeros((len(rvecs), 3, 3))
    K[:, 0, 1], K[:, 0, 2] = -k[:, 2, 0], k[:, 1, 0]
    K[:, 1, 0], K[:, 1, 2] = k[:, 2, 0], -k[:, 0, 0]
    K[:, 2, 0], K[:, 2, 1] = -k[:, 1, 0], k[:, 0, 0]
    eye = np.eye(3)[None]
    return eye + np.sin(theta) * K + (1 - np.cos(theta)) * (K @ K)


def _dirs(angles: np.ndarray) -> np.ndarray:
    az, el = angles[:, 0], angles[:, 1]
    return np.column_stack([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])


def _angles(d: np.ndarray) -> np.ndarray:
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    return np.column_stack([np.arctan2(d[:, 0], d[:, 2]), np.arcsin(np.clip(d[:, 1], -1, 1))])


def _chain_rotations(tracks: Tracks, order: list[int], f: float) -> np.ndarray:
    """Initial world-to-camera rotations from frame-to-frame homographies (frame 0 = identity)."""
    W, H = tracks.width, tracks.height
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    Kinv = np.linalg.inv(K)
    Rs = [np.eye(3)]
    for a, b in zip(order, order[1:]):
        oa, ob = tracks.obs[a], tracks.obs[b]
        common, ia, ib = np.intersect1d(oa[:, 0], ob[:, 0], return_indices=True)
        R_rel = np.eye(3)
        if len(common) >= 8:
            Hm, _ = cv2.findHomography(oa[ia, 1:3], ob[ib, 1:3], cv2.RANSAC, 1.5)
            if Hm is not None:
                M = Kinv @ Hm @ K
                U, _, Vt = np.linalg.svd(M)
                R_rel = U @ Vt
                if np.linalg.det(R_rel) < 0:
                    R_rel = -R_rel
        Rs.append(R_rel @ Rs[-1])
    return np.stack(Rs)


def _observations(tracks: Tracks, order: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat arrays: frame index, track index, observed x, y (and the track id list)."""
    ids = np.unique(np.concatenate([tracks.obs[f][:, 0] for f in order]))
    pos = {int(t): i for i, t in enumerate(ids)}
    fi, ti, xy = [], [], []
    for k, f in enumerate(order):
        o = tracks.obs[f]
        fi.append(np.full(len(o), k))
        ti.append(np.array([pos[int(t)] for t in o[:, 0]], dtype=int))
        xy.append(o[:, 1:3])
    return np.concatenate(fi), np.concatenate(ti), np.concatenate(xy), ids


class _Problem:
    """Residuals of the nodal model; parameters = [f, k1, rvecs of frames 1.., track angles]."""

    def __init__(self, fi, ti, xy, n_frames, n_tracks, W, H):
        self.fi, self.ti, self.xy = fi, ti, xy
        self.nf, self.nt = n_frames, n_tracks
        self.cx, self.cy, self.scale = W / 2, H / 2, max(W, H)

    def unpack(self, x):
        f = x[0] * self.scale
        k1 = x[1]
        rv = np.vstack([np.zeros((1, 3)), x[2 : 2 + 3 * (self.nf - 1)].reshape(-1, 3)])
        ang = x[2 + 3 * (self.nf - 1) :].reshape(-1, 2)
        return f, k1, rv, ang

    def project(self, x):
        f, k1, rv, ang = self.unpack(x)
        R = _rodrigues(rv)
        d = _dirs(ang)
        p = np.einsum("nij,nj->ni", R[self.fi], d[self.ti])
        z = np.where(p[:, 2] > 1e-6, p[:, 2], 1e-6)
        u, v = p[:, 0] / z, p[:, 1] / z
        r2 = u * u + v * v
        s = 1 + k1 * r2
        return np.column_stack([f * s * u + self.cx, f * s * v + self.cy])

    def residuals(self, x):
        return (self.project(x) - self.xy).ravel()

    def sparsity(self):
        n = len(self.fi)
        ncol = 2 + 3 * (self.nf - 1) + 2 * self.nt
        rows, cols = [], []
        for axis in (0, 1):
            r = 2 * np.arange(n) + axis
            for c in (0, 1):
                rows.append(r)
                cols.append(np.full(n, c))
            moving = self.fi > 0
            for c in range(3):
                rows.append(r[moving])
                cols.append(2 + 3 * (self.fi[moving] - 1) + c)
            for c in range(2):
                rows.append(r)
                cols.append(2 + 3 * (self.nf - 1) + 2 * self.ti + c)
        rows_a, cols_a = np.concatenate(rows), np.concatenate(cols)
        return coo_matrix((np.ones(len(rows_a), np.uint8), (rows_a, cols_a)), shape=(2 * n, ncol)).tocsr()


def _initial_focal(tracks: Tracks, order: list[int], focal_px: float | None) -> float:
    """The focal whose rotation homographies fit the tracks best, searched over a zoom range."""
    if focal_px:
        return float(focal_px)
    W = tracks.width
    best = (np.inf, 0.9 * W)
    step = max(1, len(order) // 12)
    sample = order[::step]
    for f in W * np.array([0.5, 0.7, 0.9, 1.2, 1.6, 2.2, 3.0, 4.0]):
        err = _pair_rotation_error(tracks, sample, f)
        if err < best[0]:
            best = (err, f)
    return best[1]


def _pair_rotation_error(tracks: Tracks, order: list[int], f: float) -> float:
    """Median transfer error (px) of pairwise rotation-only fits at focal f."""
    W, H = tracks.width, tracks.height
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    Kinv = np.linalg.inv(K)
    errs = []
    for a, b in zip(order, order[1:]):
        oa, ob = tracks.obs[a], tracks.obs[b]
        _, ia, ib = np.intersect1d(oa[:, 0], ob[:, 0], return_indices=True)
        if len(ia) < 8:
            continue
        ra = (Kinv @ np.column_stack([oa[ia, 1:3], np.ones(len(ia))]).T).T
        rb = (Kinv @ np.column_stack([ob[ib, 1:3], np.ones(len(ib))]).T).T
        ra /= np.linalg.norm(ra, axis=1, keepdims=True)
        rb /= np.linalg.norm(rb, axis=1, keepdims=True)
        U, _, Vt = np.linalg.svd(rb.T @ ra)  # Kabsch: R with rb ~ R ra
        R = U @ np.diag([1, 1, np.linalg.det(U @ Vt)]) @ Vt
        p = (K @ (R @ ra.T)).T
        err = np.linalg.norm(p[:, :2] / p[:, 2:3] - ob[ib, 1:3], axis=1)
        errs.append(np.median(err))
    return float(np.median(errs)) if errs else np.inf


def _adjust(tracks: Tracks, focal_px: float | None, refine_distortion: bool):
    """Rotation-only bundle adjustment of the clip's tracks (see the module docstring).
    Returns (frames, w2c rotations, focal, k1, frame index and error of each observation)."""
    order = sorted(f for f in tracks.obs if len(tracks.obs[f]))
    if len(order) < 3:
        raise NodalError(f"only {len(order)} frame(s) with tracks: a camera solve needs at least 3")
    f0 = _initial_focal(tracks, order, focal_px)
    Rs = _chain_rotations(tracks, order, f0)
    fi, ti, xy, ids = _observations(tracks, order)
    W, H = tracks.width, tracks.height
    prob = _Problem(fi, ti, xy, len(order), len(ids), W, H)
    first = _first_observation(ti, len(ids))
    rays = np.column_stack([(xy[first, 0] - W / 2) / f0, (xy[first, 1] - H / 2) / f0, np.ones(len(ids))])
    d0 = np.einsum("nji,nj->ni", Rs[fi[first]], rays)  # R^T ray: camera -> world
    rv0 = np.array([cv2.Rodrigues(R)[0].ravel() for R in Rs[1:]])
    x0 = np.concatenate([[f0 / prob.scale, 0.0], rv0.ravel(), _angles(d0).ravel()])
    lo = np.full_like(x0, -np.inf)
    hi = np.full_like(x0, np.inf)
    lo[0], hi[0] = 0.2, 10.0
    lo[1], hi[1] = (-0.5, 0.5) if refine_distortion else (-1e-9, 1e-9)
    if focal_px:
        lo[0], hi[0] = x0[0] - 1e-9, x0[0] + 1e-9
    x = least_squares(prob.residuals, x0, jac_sparsity=prob.sparsity(), bounds=(lo, hi), x_scale="jac",
                      loss="huber", f_scale=1.0, method="trf", max_nfev=60, xtol=1e-8, ftol=1e-8).x
    err = np.linalg.norm(prob.project(x) - xy, axis=1)
    # drop outlier observations (tracks that slid) and refine once more
    keep = err < max(2.0, 3 * np.median(err))
    if keep.sum() < len(keep):
        fi, ti, xy = fi[keep], ti[keep], xy[keep]
        prob = _Problem(fi, ti, xy, len(order), len(ids), W, H)
        x = least_squares(prob.residuals, x, jac_sparsity=prob.sparsity(), bounds=(lo, hi), x_scale="jac",
                          loss="huber", f_scale=1.0, method="trf", max_nfev=40, xtol=1e-8, ftol=1e-8).x
        err = np.linalg.norm(prob.project(x) - xy, axis=1)
    f, k1, rv, _ = prob.unpack(x)
    return order, _rodrigues(rv), float(f), float(k1), fi, err


def _first_observation(ti: np.ndarray, n_tracks: int) -> np.ndarray:
    """Index of each track's first observation (observations are in frame order)."""
    first = np.full(n_tracks, -1)
    first[ti[::-1]] = np.arange(len(ti))[::-1]
    return first


def solve_nodal(tracks: Tracks, focal_px: float | None = None, camera_height: float = 1.5,
                refine_distortion: bool = True) -> Solve:
    """Rotation-only bundle adjustment of the clip's tracks; returns a levelled Solve."""
    order, R_w2c, f, k1, fi, err = _adjust(tracks, focal_px, refine_distortion)
    return _to_solve(tracks, order, R_w2c, f, k1, fi, err, camera_height, focal_px)


def world_up(Rs: np.ndarray) -> tuple[np.ndarray, str]:
    """World up from the w2c rotations: the pan axis if the camera pans, else mean camera up."""
    ups = np.einsum("nji,j->ni", Rs, np.array([0.0, -1.0, 0.0]))  # camera up (-y) in world
    mean_up = ups.mean(0)
    mean_up /= np.linalg.norm(mean_up)
    axes = []
    for a, b in zip(Rs, Rs[1:]):
        rvec = cv2.Rodrigues(b @ a.T)[0].ravel()
        rvec = a.T @ rvec  # relative rotation axis in world
        if np.linalg.norm(rvec) > 1e-4:
            axes.append(rvec if rvec @ mean_up >= 0 else -rvec)
    total = sum(np.linalg.norm(a) for a in axes)
    if total > math.radians(20):
        axis = np.sum(axes, axis=0)
        axis /= np.linalg.norm(axis)
        if axis @ mean_up > math.cos(math.radians(35)):
            return axis, "pan axis"
    return mean_up, "mean camera up"


def levelling(R_w2c: np.ndarray) -> tuple[np.ndarray, str]:
    """Rotation taking the solve's world to a z-up one (x along the first camera's right)."""
    up, how = world_up(R_w2c)
    right = R_w2c[0].T @ np.array([1.0, 0, 0])
    x_axis = right - (right @ up) * up
    x_axis /= np.linalg.norm(x_axis)
    return np.stack([x_axis, np.cross(up, x_axis), up]), how


def level_tripod(solve: Solve, camera_height: float) -> str:
    """Level a tripod solve from any tracker (its cameras share one centre) in place: up from
    the pan, the camera ``camera_height`` above z = 0. Returns how up was found."""
    order = sorted(solve.cameras)
    R = np.stack([solve.c2w(f)[:3, :3].T for f in order])
    L, how = levelling(R)
    for k, f in enumerate(order):
        c2w = np.eye(4)
        c2w[:3, :3] = L @ R[k].T
        c2w[:3, 3] = [0.0, 0.0, camera_height]
        solve.cameras[f].c2w = c2w.tolist()
    solve.points = np.zeros((0, 3))
    solve.point_error = np.zeros((0,))
    return how


def _to_solve(tracks, order, R_w2c, f, k1, fi, err, camera_height, focal_px) -> Solve:
    W, H = tracks.width, tracks.height
    cams, ferr, ntr = {}, {}, {}
    for k, frame in enumerate(order):
        c2w = np.eye(4)
        c2w[:3, :3] = R_w2c[k].T
        cams[frame] = FrameCamera(fx=float(f), fy=float(f), cx=W / 2, cy=H / 2, c2w=c2w.tolist())
        e = err[fi == k]
        ferr[frame] = float(np.mean(e)) if len(e) else float("inf")
        ntr[frame] = int(len(e))
    s = Solve(width=W, height=H, cameras=cams, distortion=Distortion(k1=float(k1)), frame_error=ferr,
              frame_tracks=ntr, tracker="nodal")
    how = level_tripod(s, camera_height)
    s.notes.append(f"nodal (tripod) solve: the camera turns but hardly travels, so no 3D scene was reconstructed; "
                   f"focal {'given' if focal_px else 'solved'} {f:.1f} px, up from the {how}, ground assumed "
                   f"{camera_height} m below the camera")
    return s
