"""Normalised convolution: a Gaussian mean over only the valid cells of a grid.

The rectified ground has holes (cells no frame saw as ground, what stands on it); a plain blur
would pull their zeros into the ground's level. Used by the key estimate and the shadow map.
"""
from __future__ import annotations

import cv2
import numpy as np


def masked_blur(x: np.ndarray, valid: np.ndarray, sigma_px: float, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """(mean of ``x`` over ``valid`` cells nearby, their Gaussian weight); ``x`` HxW or HxWxC."""
    v = valid.astype(np.float32)
    vv = v[..., None] if x.ndim == 3 else v
    num = cv2.GaussianBlur(np.where(vv > 0, x, 0).astype(np.float32), (0, 0), sigma_px)
    den = cv2.GaussianBlur(v, (0, 0), sigma_px)
    return num / np.maximum(den[..., None] if x.ndim == 3 else den, eps), den
