"""Video camera solve: bundle adjustment of a clip's 2D tracks, started from the nodal solve.

Structure from motion on a clip fails in two ways: incremental mappers lose the thread when
the view turns to new scenery faster than they can triangulate it, and the first pair's
guess of focal length decides everything after it. Here every frame is kept from the start:
the rotation-only solve (ml.camera.nodal) gives all rotations, the focal length and every
track's direction; then cameras are let travel and tracks get a depth, in one bundle
adjustment over all frames.

Points are stored as (direction, inverse depth) from the camera that first saw them, so a
point projects as ``R_i (rho (C_a - C_i) + d)``: rho = 0 is a point at infinity and the
nodal model is the start of the same model, never a singular case. The overall scale is
fixed by holding the mean inverse depth; ml.camera.ground later scales the world by the
camera height.

Whether the clip had enough parallax to trust the travel is decided by the data: if letting
the cameras move does not explain the tracks clearly better than pure rotation, the nodal
solve is kept and the result says so.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix

from shotcache.schema import Distortion, FrameCamera

from .klt import Tracks
from .nodal import NodalFit, _angles, _dirs, _rodrigues, first_observation, nodal_adjust, solve_nodal
from .solve import Solve

RHO0 = 0.1  # mean inverse depth the scale gauge holds (scene ~10 units away)


class _Full:
    """Residuals of the travelling camera; x = [f, k1, rvec 1.., C 1.., angles, rho]."""

    def __init__(self, fit: NodalFit, W: int, H: int):
        self.fi, self.ti, self.xy = fit.fi, fit.ti, fit.xy
        self.nf, self.nt = len(fit.order), len(fit.dirs)
        first = first_observation(fit.ti, self.nt)
        self.anchor = fit.fi[first]
        self.cx, self.cy, self.scale = W / 2, H / 2, max(W, H)
        self.o_rv = 2
        self.o_c = self.o_rv + 3 * (self.nf - 1)
        self.o_ang = self.o_c + 3 * (self.nf - 1)
        self.o_rho = self.o_ang + 2 * self.nt
        self.n = self.o_rho + self.nt

    def unpack(self, x):
        f, k1 = x[0] * self.scale, x[1]
        rv = np.vstack([np.zeros((1, 3)), x[self.o_rv : self.o_c].reshape(-1, 3)])
        C = np.vstack([np.zeros((1, 3)), x[self.o_c : self.o_ang].reshape(-1, 3)])
        ang = x[self.o_ang : self.o_rho].reshape(-1, 2)
        rho = x[self.o_rho :]
        return f, k1, rv, C, ang, rho

    def project(self, x):
        f, k1, rv, C, ang, rho = self.unpack(x)
        R = _rodrigues(rv)
        d = _dirs(ang)
        rel = rho[self.ti, None] * (C[self.anchor[self.ti]] - C[self.fi]) + d[self.ti]
        p = np.einsum("nij,nj->ni", R[self.fi], rel)
        z = np.where(p[:, 2] > 1e-6, p[:, 2], 1e-6)
        u, v = p[:, 0] / z, p[:, 1] / z
        s = 1 + k1 * (u * u + v * v)
        return np.column_stack([f * s * u + self.cx, f * s * v + self.cy])

    def residuals(self, x):
        gauge = 1e3 * (np.mean(x[self.o_rho :]) - RHO0)
        return np.concatenate([(self.project(x) - self.xy).ravel(), [gauge]])

    def sparsity(self):
        n = len(self.fi)
        rows, cols = [], []
        moving = self.fi > 0
        anc = self.anchor[self.ti]
        anc_moving = anc > 0
        for axis in (0, 1):
            r = 2 * np.arange(n) + axis
            for c in (0, 1):
                rows.append(r), cols.append(np.full(n, c))
            for c in range(3):
                rows.append(r[moving]), cols.append(self.o_rv + 3 * (self.fi[moving] - 1) + c)
                rows.append(r[moving]), cols.append(self.o_c + 3 * (self.fi[moving] - 1) + c)
                rows.append(r[anc_moving]), cols.append(self.o_c + 3 * (anc[anc_moving] - 1) + c)
            for c in range(2):
                rows.append(r), cols.append(self.o_ang + 2 * self.ti + c)
            rows.append(r), cols.append(self.o_rho + self.ti)
        rows.append(np.full(self.nt, 2 * n)), cols.append(self.o_rho + np.arange(self.nt))
        ra, ca = np.concatenate(rows), np.concatenate(cols)
        return coo_matrix((np.ones(len(ra), np.uint8), (ra, ca)), shape=(2 * n + 1, self.n)).tocsr()


def adjust_travel(fit: NodalFit, W: int, H: int, focal_px: float | None = None, max_nfev: int = 80):
    """Full bundle adjustment from the nodal fit; returns (x, problem, per-observation error)."""
    prob = _Full(fit, W, H)
    rv0 = np.array([_rvec(R) for R in fit.R_w2c[1:]])
    x0 = np.concatenate([[fit.focal / prob.scale, fit.k1], rv0.ravel(), np.zeros(3 * (prob.nf - 1)),
                         _angles(fit.dirs).ravel(), np.full(prob.nt, RHO0)])
    lo = np.full_like(x0, -np.inf)
    hi = np.full_like(x0, np.inf)
    lo[0], hi[0] = 0.2, 10.0
    lo[1], hi[1] = -0.5, 0.5
    if focal_px:
        lo[0], hi[0] = x0[0] - 1e-9, x0[0] + 1e-9
    lo[prob.o_rho :], hi[prob.o_rho :] = 0.0, 50 * RHO0
    x0 = np.clip(x0, lo + 1e-12, hi - 1e-12)
    res = least_squares(prob.residuals, x0, jac_sparsity=prob.sparsity(), bounds=(lo, hi), x_scale="jac",
                        loss="huber", f_scale=1.0, method="trf", max_nfev=max_nfev, xtol=1e-9, ftol=1e-9)
    err = np.linalg.norm(prob.project(res.x) - prob.xy, axis=1)
    return res.x, prob, err


def _rvec(R: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(R)[0].ravel()


def solve_video(tracks: Tracks, focal_px: float | None = None, camera_height: float = 1.5,
                min_gain: float = 0.8, min_parallax_deg: float = 1.0) -> Solve:
    """Solve a clip's camera from its tracks: travelling camera when the parallax supports it,
    else the nodal solve. The returned Solve is not yet levelled when it travels (its points
    are there for ml.camera.ground); a nodal Solve comes levelled."""
    fit = nodal_adjust(tracks, focal_px)
    W, H = tracks.width, tracks.height
    x, prob, err = adjust_travel(fit, W, H, focal_px)
    f, k1, rv, C, ang, rho = prob.unpack(x)
    nodal_med, full_med = float(np.median(fit.err)), float(np.median(err))
    parallax = _parallax_deg(C, prob, rho)
    if not (full_med < min_gain * nodal_med and parallax >= min_parallax_deg):
        s = solve_nodal(tracks, focal_px, camera_height)
        s.notes.append(f"travelling solve not used: median error {full_med:.2f} px vs nodal {nodal_med:.2f} px, "
                       f"parallax {parallax:.2f} deg")
        return s
    R = _rodrigues(rv)
    cams, ferr, ntr = {}, {}, {}
    for k, frame in enumerate(fit.order):
        c2w = np.eye(4)
        c2w[:3, :3] = R[k].T
        c2w[:3, 3] = C[k]
        cams[frame] = FrameCamera(fx=float(f), fy=float(f), cx=W / 2, cy=H / 2, c2w=c2w.tolist())
        e = err[prob.fi == k]
        ferr[frame] = float(np.mean(e)) if len(e) else float("inf")
        ntr[frame] = int(len(e))
    good = rho > 0.02 * RHO0
    pts = C[prob.anchor[good]] + _dirs(ang[good]) / rho[good, None]
    s = Solve(width=W, height=H, cameras=cams, distortion=Distortion(k1=float(k1)), points=pts,
              point_error=np.zeros(len(pts)), frame_error=ferr, frame_tracks=ntr, tracker="klt-ba")
    s.notes.append(f"travelling solve from {prob.nt} tracks: median error {full_med:.2f} px (nodal {nodal_med:.2f} px), "
                   f"parallax {parallax:.1f} deg, focal {'given' if focal_px else 'solved'} {f:.1f} px")
    return s


def _parallax_deg(C: np.ndarray, prob: _Full, rho: np.ndarray) -> float:
    """Median angle a point spans between the cameras that see it first and last."""
    last = np.full(prob.nt, -1)
    last[prob.ti] = prob.fi  # observations are in frame order: the last write is the last frame
    base = np.linalg.norm(C[last] - C[prob.anchor], axis=1)
    ang = np.degrees(np.arctan(base * rho))
    return float(np.median(ang))
