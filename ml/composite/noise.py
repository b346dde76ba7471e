"""The plate's noise: its level per channel and how much of it the channels share.

Measured on a high-pass response (Immerkaer's Laplacian difference) that removes smooth image
content; used by the compositor's grain matching and by the blur measure's edge threshold.
"""
from __future__ import annotations

import cv2
import numpy as np

_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


def estimate_noise(img_srgb: np.ndarray, region: np.ndarray | None = None, stride: int = 1) -> np.ndarray:
    """Per-channel std of white noise in display (sRGB) values, robust to edges.

    Immerkaer's Laplacian-difference filter removes smooth image content; the median of its
    magnitude (not the mean) keeps edges and texture from reading as noise. ``stride`` > 1
    takes the median over every stride-th row and column only (without a region): plenty of
    samples at a fraction of the cost.
    """
    resp = np.abs(cv2.filter2D(img_srgb.astype(np.float32), -1, _NOISE_KERNEL, borderType=cv2.BORDER_REFLECT))
    resp = resp.reshape(*img_srgb.shape[:2], -1)[1:-1, 1:-1]
    if region is not None:
        reg = region[1:-1, 1:-1]
        if reg.sum() < 64:
            return np.zeros(resp.shape[-1], np.float32)
        resp = resp[reg]
    else:
        resp = resp[::stride, ::stride].reshape(-1, resp.shape[-1])
    return (np.median(resp, axis=0) / (0.6745 * 6.0)).astype(np.float32)


def noise_correlation(img_srgb: np.ndarray) -> np.ndarray:
    """3x3 correlation of the plate's noise between channels (a camera's is partly shared).

    Measured on the same high-pass response as ``estimate_noise``, on pixels where every
    channel's response is small (flat areas: noise, not edges).
    """
    resp = cv2.filter2D(img_srgb.astype(np.float32), -1, _NOISE_KERNEL, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1].reshape(-1, 3)
    med = np.median(np.abs(resp), axis=0) + 1e-8
    flat = resp[(np.abs(resp) < 3 * med).all(axis=1)]
    if len(flat) < 64:
        return np.eye(3, dtype=np.float32)
    sd = flat.std(axis=0)
    if (sd < 1e-6).any():
        return np.eye(3, dtype=np.float32)
    c = np.corrcoef(flat.T)
    return np.nan_to_num(c, nan=0.0).astype(np.float32) if np.isfinite(c).all() else np.eye(3, dtype=np.float32)
