"""Similarity alignment of two camera paths, and the errors used to judge a solve."""
from __future__ import annotations

import numpy as np


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity dst ~ s * R @ src + t (Umeyama 1991). Returns (s, R, t)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.shape[0] < 3:
        raise ValueError("umeyama needs two Nx3 arrays of the same shape, N >= 3")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    U, S, Vt = np.linalg.svd(cov)
    D = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[2, 2] = -1
    R = U @ D @ Vt
    var_s = (a**2).sum() / len(src)
    s = float(np.trace(np.diag(S) @ D) / var_s)
    t = mu_d - s * R @ mu_s
    return s, R, t


def rotation_angle_deg(R: np.ndarray) -> float:
    """Angle of a rotation; the chordal form stays accurate near 0 where arccos(trace) does not."""
    chord = np.linalg.norm(R - np.eye(3)) / (2.0 * np.sqrt(2.0))
    return float(np.degrees(2.0 * np.arcsin(np.clip(chord, 0.0, 1.0))))


def align_poses(est_c2w: list[np.ndarray], gt_c2w: list[np.ndarray]) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity taking the estimated cameras onto the true ones.

    Rotation is the chordal mean of R_gt R_est^T over all frames (well posed even when the
    camera centres are collinear, as in a dolly shot, where centre-only alignment is not);
    scale and translation then follow from the centres in closed form.
    """
    acc = sum(g[:3, :3] @ e[:3, :3].T for e, g in zip(est_c2w, gt_c2w))
    U, _, Vt = np.linalg.svd(acc)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    R = U @ D @ Vt
    est_c = np.stack([m[:3, 3] for m in est_c2w])
    gt_c = np.stack([m[:3, 3] for m in gt_c2w])
    a = (R @ (est_c - est_c.mean(0)).T).T
    b = gt_c - gt_c.mean(0)
    s = float((a * b).sum() / max((a * a).sum(), 1e-18))
    t = gt_c.mean(0) - s * R @ est_c.mean(0)
    return s, R, t


def pose_errors(est_c2w: list[np.ndarray], gt_c2w: list[np.ndarray]) -> dict:
    """Align the estimated cameras to ground truth with a similarity, then compare.

    Both inputs are OpenCV-convention camera-to-world matrices of the same frames.
    Rotation error: angle between aligned and true camera orientation (degrees).
    Centre error: distance between aligned and true centres as a fraction of the scene
    extent (the diagonal of the true centres' bounding box).
    """
    s, R, t = align_poses(est_c2w, gt_c2w)
    est_c = np.stack([m[:3, 3] for m in est_c2w])
    gt_c = np.stack([m[:3, 3] for m in gt_c2w])
    rot_err = [rotation_angle_deg(g[:3, :3].T @ (R @ e[:3, :3])) for e, g in zip(est_c2w, gt_c2w)]
    aligned = (s * (R @ est_c.T)).T + t
    extent = float(np.linalg.norm(gt_c.max(0) - gt_c.min(0)))
    cen_err = np.linalg.norm(aligned - gt_c, axis=1) / max(extent, 1e-12)
    return {
        "frames": len(gt_c2w),
        "scale": s,
        "rotation_error_deg": {"mean": float(np.mean(rot_err)), "median": float(np.median(rot_err)), "max": float(np.max(rot_err))},
        "centre_error_frac": {"mean": float(np.mean(cen_err)), "median": float(np.median(cen_err)), "max": float(np.max(cen_err))},
        "scene_extent": extent,
    }
