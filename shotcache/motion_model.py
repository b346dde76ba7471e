"""Did the camera only turn (and zoom), or did it travel? Torr's GRIC on 2D tracks.

A low reprojection error cannot answer this: a full solve of a pan fits any depths, and a
rotation-only solve of a walk forward over a plaza fits its ground with a wrong focal. The
Geometric Robust Information Criterion compares models by their robust residuals *plus a
penalty for what each model is free to fit*, so the richer model wins only when the data
need it. Three models per frame pair:

* ``rotation``: H = K2 R K1^-1, a camera turning and zooming about its centre
  (3 rotation + 2 focal parameters; residuals on a 2D manifold);
* ``plane``: a general homography (8 parameters): a travelling camera over one plane;
* ``general``: the fundamental matrix (7 parameters; a 3D manifold): travel over a 3D scene.

``rotation`` winning means a nodal (tripod) solve is right; ``plane`` or ``general`` means
the camera travelled and a structure-from-motion solve is needed. Pure numpy (stdlib +
numpy), so the Blender tracker and the sidecar's solver share it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

SIGMA_PX = 0.7
"""Track noise (px) assumed by GRIC's robust kernel; measured residuals set it when larger."""


def _norm(pts: np.ndarray, centre: np.ndarray, scale: float) -> np.ndarray:
    return (pts - centre) / scale


def _dlt_h(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    n = len(a)
    A = np.zeros((2 * n, 9))
    A[0::2, 0:2], A[0::2, 2], A[0::2, 6:8], A[0::2, 8] = a, 1, -b[:, :1] * a, -b[:, 0]
    A[1::2, 3:5], A[1::2, 5], A[1::2, 6:8], A[1::2, 8] = a, 1, -b[:, 1:] * a, -b[:, 1]
    try:
        return np.linalg.svd(A)[2][-1].reshape(3, 3)
    except np.linalg.LinAlgError:
        return None


def _transfer(H: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared one-way transfer error of a -> b (normalised units)."""
    p = np.c_[a, np.ones(len(a))] @ H.T
    with np.errstate(divide="ignore", invalid="ignore"):
        q = p[:, :2] / p[:, 2:3]
    e = np.sum((q - b) ** 2, axis=1)
    return np.where(np.isfinite(e), e, 1e12)


def _eight_point(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    A = np.c_[b[:, :1] * a, b[:, :1], b[:, 1:] * a, b[:, 1:], a, np.ones(len(a))]
    try:
        F = np.linalg.svd(A)[2][-1].reshape(3, 3)
        u, s, vt = np.linalg.svd(F)
    except np.linalg.LinAlgError:
        return None
    return u @ np.diag([s[0], s[1], 0.0]) @ vt


def _sampson(F: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, x2 = np.c_[a, np.ones(len(a))], np.c_[b, np.ones(len(b))]
    Fx1, Ftx2 = x1 @ F.T, x2 @ F
    num = np.sum(x2 * Fx1, axis=1) ** 2
    den = Fx1[:, 0] ** 2 + Fx1[:, 1] ** 2 + Ftx2[:, 0] ** 2 + Ftx2[:, 1] ** 2
    return num / np.maximum(den, 1e-18)


def _ransac(fit, err, a, b, sample: int, thresh2: float, rng: np.random.Generator, iters: int = 300):
    best, best_n = None, -1
    for _ in range(iters):
        idx = rng.choice(len(a), sample, replace=False)
        M = fit(a[idx], b[idx])
        if M is None:
            continue
        n = int((err(M, a, b) < thresh2).sum())
        if n > best_n:
            best, best_n = M, n
    if best is None:
        return None
    inl = err(best, a, b) < thresh2
    refit = fit(a[inl], b[inl]) if inl.sum() >= sample else None
    return refit if refit is not None else best


def _rotation_fit(f1: float, f2: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """K2 R K1^-1 with R the best rotation between the bearing vectors at focals f1, f2."""
    v1 = np.c_[a / f1, np.ones(len(a))]
    v2 = np.c_[b / f2, np.ones(len(b))]
    v1 /= np.linalg.norm(v1, axis=1, keepdims=True)
    v2 /= np.linalg.norm(v2, axis=1, keepdims=True)
    u, _, vt = np.linalg.svd(v2.T @ v1)
    R = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    return np.diag([f2, f2, 1.0]) @ R @ np.diag([1 / f1, 1 / f1, 1.0])


def _rotation_h(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The best rotation-and-zoom homography K2 R K1^-1 (normalised units): focal and zoom
    ratio on a log grid, then finer grids around the best; robust (median) score."""
    def score(f1: float, ratio: float) -> float:
        return float(np.median(_transfer(_rotation_fit(f1, f1 * ratio, a, b), a, b)))

    cands = [(score(f1, r), f1, r) for f1 in np.exp(np.linspace(np.log(0.3), np.log(8.0), 40))
             for r in np.exp(np.linspace(np.log(0.8), np.log(1.25), 9))]
    _, f1, r = min(cands)
    df, dr = np.log(8.0 / 0.3) / 39, np.log(1.25 / 0.8) / 8
    for _ in range(5):
        cands = [(score(f1 * np.exp(i * df / 2), r * np.exp(j * dr / 2)), f1 * np.exp(i * df / 2), r * np.exp(j * dr / 2))
                 for i in (-2, -1, 0, 1, 2) for j in (-2, -1, 0, 1, 2)]
        _, f1, r = min(cands)
        df, dr = df / 2.5, dr / 2.5
    return _refine_rotation(_rotation_fit(f1, f1 * r, a, b), f1, f1 * r, a, b)


def _rodrigues(w: np.ndarray) -> np.ndarray:
    t = float(np.linalg.norm(w))
    if t < 1e-12:
        return np.eye(3)
    k = w / t
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * K @ K


def _refine_rotation(HR: np.ndarray, f1: float, f2: float, a: np.ndarray, b: np.ndarray, iters: int = 8):
    """Gauss-Newton on (rotation, log f1, log f2) minimising the pixel transfer error (Huber
    weights), from the bearing-vector fit, which minimises angles rather than pixels."""
    R0 = np.diag([1 / f2, 1 / f2, 1.0]) @ HR @ np.diag([f1, f1, 1.0])
    x = np.array([0.0, 0.0, 0.0, np.log(f1), np.log(f2)])

    def model(p):
        g1, g2 = np.exp(p[3]), np.exp(p[4])
        return np.diag([g2, g2, 1.0]) @ _rodrigues(p[:3]) @ R0 @ np.diag([1 / g1, 1 / g1, 1.0])

    def resid(p):
        q = np.c_[a, np.ones(len(a))] @ model(p).T
        return (q[:, :2] / q[:, 2:3] - b).ravel()

    def cost(p, wgt):
        r = resid(p)
        return float(np.sum((r * wgt) ** 2)) if np.all(np.isfinite(r)) else np.inf

    lam = 1e-3
    for _ in range(iters):
        r = resid(x)
        s = 1.4826 * np.median(np.abs(r)) + 1e-12
        wgt = np.minimum(1.0, 2.0 * s / (np.abs(r) + 1e-12))
        J = np.stack([(resid(x + dx) - r) / 1e-6 for dx in np.eye(5) * 1e-6], axis=1) * wgt[:, None]
        A, g = J.T @ J, J.T @ (r * wgt)
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(g))):
            break
        c0 = cost(x, wgt)
        for _ in range(6):  # Levenberg-Marquardt damping: only steps that lower the cost
            step = -np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-12), g)
            if cost(x + step, wgt) < c0:
                x, lam = x + step, lam / 3
                break
            lam *= 4
        else:
            break
    return model(x), float(np.exp(x[3])), float(np.exp(x[4]))


def _gric(e2: np.ndarray, sigma2: float, d: int, k: int, r: int = 4) -> float:
    n = len(e2)
    rho = np.minimum(e2 / sigma2, 2.0 * (r - d))
    return float(rho.sum() + np.log(r) * d * n + np.log(r * n) * k)


def compare_pair(a: np.ndarray, b: np.ndarray, size: tuple[int, int], seed: int = 0) -> dict[str, Any]:
    """GRIC of the three models on one pair of frames (pixel correspondences a -> b)."""
    w, h = size
    scale = max(w, h) / 2.0
    c = np.array([w / 2.0, h / 2.0])
    na, nb = _norm(np.asarray(a, float), c, scale), _norm(np.asarray(b, float), c, scale)
    rng = np.random.default_rng(seed)
    s2 = (SIGMA_PX / scale) ** 2
    H = _ransac(_dlt_h, _transfer, na, nb, 4, 9 * s2, rng)
    F = _ransac(_eight_point, _sampson, na, nb, 8, 9 * s2, rng)
    if H is None or F is None:
        return {}
    HR, f1, f2 = _rotation_h(na, nb)
    # one-way transfer error carries the noise of both images: halved, it approximates the
    # distance to the model's manifold, as Sampson's does for F
    e = {"rotation": _transfer(HR, na, nb) / 2, "plane": _transfer(H, na, nb) / 2, "general": _sampson(F, na, nb)}
    sigma2 = max(s2, float(np.median(e["general"])) * 1.4826 ** 2)
    g = {"rotation": _gric(e["rotation"], sigma2, 2, 5), "plane": _gric(e["plane"], sigma2, 2, 8),
         "general": _gric(e["general"], sigma2, 3, 7)}
    return {"gric": g, "best": min(g, key=lambda m: g[m]), "n": len(a), "focal_px": [f1 * scale, f2 * scale],
            "median_px": {k: float(np.sqrt(np.median(v)) * scale) for k, v in e.items()}}  # manifold distance


def select_motion(tracks: dict[int, dict[int, tuple[float, float]]], size: tuple[int, int], n_pairs: int = 5,
                  min_common: int = 25) -> dict[str, Any]:
    """Rotation-only or travelling camera, from 2D tracks {track: {frame: (x, y)}}.

    Frame pairs far apart (but sharing at least ``min_common`` tracks) across the clip are
    scored; GRIC is summed over them. Returns {'model': 'rotation' | 'plane' | 'general' |
    'unknown', 'gric': totals, 'pairs': per pair}."""
    frames = sorted({f for obs in tracks.values() for f in obs})
    if len(frames) < 2:
        return {"model": "unknown", "why": "fewer than two frames"}
    pairs = []
    starts = np.linspace(0, len(frames) - 2, n_pairs).round().astype(int)
    for s in sorted(set(starts.tolist())):
        f0 = frames[s]
        best = None
        for f1 in reversed(frames[s + 1:]):
            common = [t for t, obs in tracks.items() if f0 in obs and f1 in obs]
            if len(common) >= min_common:
                best = (f1, common)
                break
        if best:
            f1, common = best
            a = np.array([tracks[t][f0] for t in common], float)
            b = np.array([tracks[t][f1] for t in common], float)
            if np.median(np.linalg.norm(a - b, axis=1)) < 1.0:
                continue  # no motion: every model fits, nothing to tell
            res = compare_pair(a, b, size, seed=s)
            if res:
                pairs.append({"frames": [f0, f1], **res})
    if not pairs:
        return {"model": "unknown", "why": "no frame pair with enough common tracks and motion"}
    total = {m: float(sum(p["gric"][m] for p in pairs)) for m in ("rotation", "plane", "general")}
    return {"model": min(total, key=lambda m: total[m]), "gric": total, "pairs": pairs}
