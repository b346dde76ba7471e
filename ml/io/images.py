"""8/16-bit images on disk <-> float32 linear RGB arrays; atomic writes."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from shotcache.frames import IMAGE_EXTS, frame_number, list_images
from shotcache.layout import atomic_write

from .colour import linear_to_uint8, uint8_to_linear



def read_rgb8(path: str | os.PathLike[str]) -> np.ndarray:
    """HxWx3 uint8 RGB; a clear error names the file when it cannot be decoded."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"{path}: cannot read this image (missing, empty or not an image)")
    if img.dtype == np.uint16:
        img = (img / 257.0 + 0.5).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def read_linear(path: str | os.PathLike[str]) -> np.ndarray:
    """HxWx3 float32 linear RGB from an sRGB image file."""
    return uint8_to_linear(read_rgb8(path))


def read_mask(path: str | os.PathLike[str], threshold: float = 0.5) -> np.ndarray:
    """HxW float32 in {0, 1}; white (or any channel / alpha above threshold) = 1."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"{path}: cannot read this mask image")
    if img.ndim == 3:
        img = img.max(axis=2)
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return (img.astype(np.float32) / scale > threshold).astype(np.float32)


def write_rgb8(path: str | os.PathLike[str], rgb8: np.ndarray) -> Path:
    arr = np.ascontiguousarray(rgb8)
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)

    def _w(tmp: Path) -> None:
        if not cv2.imwrite(str(tmp), arr):
            raise OSError(f"{path}: OpenCV could not write this image")

    return atomic_write(path, _w)


def write_linear(path: str | os.PathLike[str], lin: np.ndarray) -> Path:
    """Write float32 linear RGB(A) as an sRGB 8-bit image (alpha stays linear)."""
    if lin.shape[-1] == 4:
        rgb = linear_to_uint8(lin[..., :3])
        a = (np.clip(lin[..., 3:4], 0, 1) * 255 + 0.5).astype(np.uint8)
        return write_rgb8(path, np.concatenate([rgb, a], axis=-1))
    return write_rgb8(path, linear_to_uint8(lin))


def write_mask(path: str | os.PathLike[str], mask: np.ndarray) -> Path:
    return write_rgb8(path, ((np.asarray(mask) > 0.5) * 255).astype(np.uint8))


list_frames = list_images
"""Image files of a folder in frame order (shotcache.frames' rule)."""
__all__ = ["IMAGE_EXTS", "frame_number", "list_frames", "read_linear", "read_mask", "read_rgb8", "write_linear",
           "write_mask", "write_rgb8"]
