"""Two-stage resizing (semantic insertion): M1 in pixel space, M2 in latent space.

* M1 ``resize_and_pad``: scale an image so its longer side fits ``max_side`` and pad it to a
  multiple the VAE/denoiser accept (reflection for pictures, zeros for masks); ``undo`` gives
  the original geometry back. Also used to bring any frame to a size the model can take.
* M2 ``scale_latent`` / ``paste_latent``: interpolate an object's latent to fine-tune its size
  relative to the background latent and paste it at a latent position under a mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Fit:
    """How an image was brought to model size: original (h, w), resized (h, w), padded (h, w)."""

    orig: tuple[int, int]
    work: tuple[int, int]
    padded: tuple[int, int]

    @property
    def scale(self) -> float:
        return self.work[0] / self.orig[0]


def plan(h: int, w: int, multiple: int, max_side: int | None = None) -> Fit:
    s = 1.0 if not max_side or max(h, w) <= max_side else max_side / max(h, w)
    wh, ww = max(1, int(round(h * s))), max(1, int(round(w * s)))
    ph, pw = -(-wh // multiple) * multiple, -(-ww // multiple) * multiple
    return Fit((h, w), (wh, ww), (ph, pw))


def apply(arr: np.ndarray, fit: Fit, is_mask: bool = False) -> np.ndarray:
    """M1: resize (area for shrinking, cubic otherwise; nearest-free for masks) and pad."""
    a = np.asarray(arr, dtype=np.float32)
    if fit.work != fit.orig:
        interp = cv2.INTER_AREA if fit.work[0] < fit.orig[0] else cv2.INTER_CUBIC
        a = np.asarray(cv2.resize(a, (fit.work[1], fit.work[0]), interpolation=cv2.INTER_LINEAR if is_mask else interp), np.float32)
        if is_mask:
            a = (a > 0.5).astype(np.float32)
        if a.ndim == 2 and arr.ndim == 3:
            a = a[..., None]
    pad_h, pad_w = fit.padded[0] - fit.work[0], fit.padded[1] - fit.work[1]
    if pad_h or pad_w:
        mode = cv2.BORDER_CONSTANT if is_mask else (cv2.BORDER_REFLECT_101 if min(fit.work) > 1 else cv2.BORDER_REPLICATE)
        a2 = np.asarray(cv2.copyMakeBorder(a, 0, pad_h, 0, pad_w, mode, value=(0.0, 0.0, 0.0, 0.0)), np.float32)
        if a2.ndim == 2 and a.ndim == 3:
            a2 = a2[..., None]
        a = a2
    return a


def undo(arr: np.ndarray, fit: Fit) -> np.ndarray:
    """Crop the padding and resize back to the original size."""
    a = np.asarray(arr, dtype=np.float32)[: fit.work[0], : fit.work[1]]
    if fit.work != fit.orig:
        a = np.asarray(cv2.resize(a, (fit.orig[1], fit.orig[0]), interpolation=cv2.INTER_CUBIC), np.float32)
    return a


def resize_and_pad(image: np.ndarray, size: tuple[int, int], fill: float = 0.0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """M1 for an object image: fit inside ``size`` (h, w) keeping aspect, centre, pad with ``fill``.

    Returns the padded image and the (y0, x0, h, w) box the object occupies in it.
    """
    H, W = size
    h, w = image.shape[:2]
    s = min(H / h, W / w)
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    small = cv2.resize(np.asarray(image, np.float32), (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    if small.ndim == 2 and image.ndim == 3:
        small = small[..., None]
    out = np.full((H, W) + image.shape[2:], fill, dtype=np.float32)
    y0, x0 = (H - nh) // 2, (W - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = small
    return out, (y0, x0, nh, nw)


def scale_latent(latent: torch.Tensor, factor: float, mode: str = "bicubic") -> torch.Tensor:
    """M2: resize a (B,C,h,w) latent by ``factor`` (>0) in latent space."""
    if factor <= 0:
        raise ValueError(f"latent scale factor must be > 0, got {factor}")
    h, w = latent.shape[-2:]
    size = (max(1, int(round(h * factor))), max(1, int(round(w * factor))))
    kw = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(latent.float(), size=size, mode=mode, **kw).to(latent.dtype)


def paste_latent(background: torch.Tensor, obj: torch.Tensor, mask: torch.Tensor, y: int, x: int) -> torch.Tensor:
    """Fuse an object latent into a background latent with its top-left cell at (y, x), clipped."""
    out = background.clone()
    H, W = background.shape[-2:]
    h, w = obj.shape[-2:]
    y0, x0 = max(0, y), max(0, x)
    y1, x1 = min(H, y + h), min(W, x + w)
    if y1 <= y0 or x1 <= x0:
        return out
    o = obj[..., y0 - y : y1 - y, x0 - x : x1 - x]
    m = mask[..., y0 - y : y1 - y, x0 - x : x1 - x].to(out.dtype)
    out[..., y0:y1, x0:x1] = out[..., y0:y1, x0:x1] * (1 - m) + o.to(out.dtype) * m
    return out
