"""sRGB <-> linear. Engines work in linear light; files on disk are sRGB (8-bit) or linear (EXR)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from shotcache.colour import REC709_LUMA as SHARED_LUMA

if TYPE_CHECKING:
    import torch


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((np.clip(x, 0.0, None) + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, None)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def to_uint8(srgb: np.ndarray) -> np.ndarray:
    return (np.clip(srgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def linear_to_uint8(lin: np.ndarray) -> np.ndarray:
    return to_uint8(linear_to_srgb(lin))


def uint8_to_linear(img: np.ndarray) -> np.ndarray:
    return srgb_to_linear(np.asarray(img, dtype=np.float32) / 255.0)


REC709_LUMA = np.array(SHARED_LUMA)
"""Rec.709 luminance weights of linear RGB (float64: for fits that need the precision); shotcache/colour.py."""


def luminance(lin_rgb: np.ndarray) -> np.ndarray:
    """Rec.709 luminance of linear RGB (float32)."""
    w = REC709_LUMA
    return (lin_rgb[..., 0] * w[0] + lin_rgb[..., 1] * w[1] + lin_rgb[..., 2] * w[2]).astype(np.float32)


def srgb_to_linear_torch(x: "torch.Tensor") -> "torch.Tensor":
    """``srgb_to_linear`` for tensors on any device (the GPU compositor path)."""
    import torch

    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.0) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb_torch(x: "torch.Tensor") -> "torch.Tensor":
    """``linear_to_srgb`` for tensors on any device."""
    import torch

    x = x.clamp_min(0.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(1e-12) ** (1.0 / 2.4) - 0.055)
