"""Region masks for the diffuse stage: what may change, and a soft edge that never leaks outside.

The diffused result is blended back with a soft mask whose support lies *inside* the dilated
object+shadow mask, so every pixel outside it is the original composite, bit for bit.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ml.stages.base import EngineError, MissingInput


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def check_mask(mask: np.ndarray, shape: tuple[int, int], what: str = "mask") -> np.ndarray:
    """HxW float32 in [0,1]; a mask of another size is an error (never silently resized)."""
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim == 3:
        m = m.max(axis=2)
    if m.shape != tuple(shape):
        raise EngineError(
            f"{what} is {m.shape[1]}x{m.shape[0]} but the image is {shape[1]}x{shape[0]}: "
            f"give a mask of the same size as the composite"
        )
    return np.clip(m, 0.0, 1.0)


def object_shadow_mask(rgba: np.ndarray | None, shadow_catcher: np.ndarray | None, threshold: float = 0.02) -> np.ndarray | None:
    """Object alpha united with where the shadow catcher darkens the plate."""
    parts = []
    if rgba is not None:
        parts.append((rgba[..., 3] > threshold).astype(np.float32))
    if shadow_catcher is not None:
        sc = shadow_catcher if shadow_catcher.ndim == 2 else shadow_catcher[..., :3].mean(axis=2)
        parts.append(((1.0 - sc) > 0.05).astype(np.float32))
    if not parts:
        return None
    return np.maximum.reduce(parts)


def frame_region(frame: Any, params: dict[str, Any], engine: str) -> np.ndarray:
    """The region a diffuse engine may change: object+shadow from the render, else frame.mask."""
    image = frame.composite if frame.composite is not None else frame.plate
    shape = image.shape[:2]
    m = None
    if frame.rgba is not None:
        check_mask(frame.rgba[..., 3], shape, "render alpha")
        m = object_shadow_mask(frame.rgba, frame.passes.get("shadow_catcher"))
    if m is None and frame.mask is not None:
        m = frame.mask
    if m is None:
        raise MissingInput(
            f"diffuse engine '{engine}' needs the object's region for frame {frame.index}: "
            f"a render (rgba alpha / shadow_catcher pass) or a mask (--mask)"
        )
    m = check_mask(m, shape)
    if m.max() <= 0:
        raise MissingInput(f"diffuse engine '{engine}': the mask of frame {frame.index} is empty (nothing to diffuse)")
    return m


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    m = (np.asarray(mask) > 0.5).astype(np.uint8)
    if radius > 0:
        m = np.asarray(cv2.dilate(m, _disk(radius)), np.uint8)
    return m.astype(np.float32)


def soft_region(mask: np.ndarray, dilate_px: int = 8, feather_px: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(hard, soft): hard = dilated mask; soft = box-blurred erosion of hard (support inside hard)."""
    hard = dilate(mask, dilate_px)
    if feather_px <= 0:
        return hard, hard.copy()
    core = cv2.erode(hard.astype(np.uint8), np.ones((2 * feather_px + 1,) * 2, np.uint8)).astype(np.float32)
    soft = cv2.blur(core, (2 * feather_px + 1,) * 2, borderType=cv2.BORDER_CONSTANT)
    soft = np.maximum(soft, core) * hard  # exact zero outside hard, whatever the float rounding
    return hard, soft.astype(np.float32)


def blend_keep_outside(original: np.ndarray, new: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """original outside the region (bit-exact), new inside, soft blend across the feather."""
    out = original.astype(np.float32).copy()
    inside = soft > 0
    w = soft[inside][:, None]
    out[inside] = original[inside] * (1.0 - w) + new[..., : original.shape[-1]][inside] * w
    return out


def latent_mask(hard: np.ndarray, factor: int) -> np.ndarray:
    """Mask at latent resolution: a latent cell is 'generate' when any pixel of it is."""
    h, w = hard.shape
    m = hard[: h - h % factor, : w - w % factor].reshape(h // factor, factor, w // factor, factor)
    return m.max(axis=(1, 3)).astype(np.float32)
