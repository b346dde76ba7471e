"""Semantic object insertion (reference: semantic-insertion.md), on our diffusion models.

1. the object image's background is removed with CLIPSeg (``object_text``, e.g. "bag");
2. its place is chosen by text (``location_prompt`` inside ``area``, placement.py) or given;
3. M1: the cut-out is resized and padded to its target size in pixels;
4. its latent is interpolated in latent space by ``latent_scale`` (M2) and fused into the
   plate's latent under the object's latent mask;
5. the fused latent is noised to t < 1 (``strength``) and denoised with the prompt (UNet or
   flow Euler loop), only around the object; the plate outside keeps its pixels.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from ml.io.colour import uint8_to_linear
from ml.stages.base import EngineError

from . import resize
from .models import DiffusionModels, linear_to_tensor
from ml.camera.text_placement import Placement, text_guided_placement
from .sdedit import Options, Result, diffuse_region


def _object_linear(obj: np.ndarray) -> np.ndarray:
    """RGBA uint8 (sRGB) or float linear RGBA -> float linear RGBA."""
    o = np.asarray(obj)
    if o.ndim != 3 or o.shape[2] != 4:
        raise EngineError(f"the object image must be RGBA (cut out), got shape {o.shape}")
    if o.dtype == np.uint8:
        return np.concatenate([uint8_to_linear(o[..., :3]), o[..., 3:4].astype(np.float32) / 255.0], axis=2)
    return o.astype(np.float32)


def insert_object(
    models: DiffusionModels,
    plate_lin: np.ndarray,
    obj_rgba: np.ndarray,
    center: tuple[int, int],
    height_px: int,
    opts: Options,
    latent_scale: float = 1.0,
) -> Result:
    """Insert a cut-out object with its centre at ``center`` (x, y), ``height_px`` tall."""
    obj = _object_linear(obj_rgba)
    H, W = plate_lin.shape[:2]
    if height_px < 2:
        raise EngineError(f"object height {height_px}px is too small")
    oh = int(height_px)
    ow = max(2, int(round(obj.shape[1] * oh / obj.shape[0])))
    sized, _ = resize.resize_and_pad(obj, (oh, ow))  # M1 (exact fit: aspect kept)
    cx, cy = int(center[0]), int(center[1])
    x0, y0 = cx - ow // 2, cy - oh // 2
    # footprint in plate pixels (clipped) for the region / blend
    region = np.zeros((H, W), np.float32)
    ys, xs = slice(max(0, y0), min(H, y0 + oh)), slice(max(0, x0), min(W, x0 + ow))
    if ys.stop <= ys.start or xs.stop <= xs.start:
        raise EngineError(f"object at ({cx}, {cy}) of {ow}x{oh}px lies outside the {W}x{H} plate")
    region[ys, xs] = sized[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0, 3]
    region = (region > 0.5).astype(np.float32)
    s = models.vae_scale

    def hook(fit: resize.Fit, init: torch.Tensor) -> torch.Tensor:
        k = fit.scale
        th, tw = max(s, int(round(oh * k / s)) * s), max(s, int(round(ow * k / s)) * s)
        rgb = cv2.resize(sized[..., :3], (tw, th), interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(sized[..., 3], (tw, th), interpolation=cv2.INTER_AREA)
        # object over the plate's mean colour: the padding encodes as a neutral background
        fill = plate_lin[..., :3].reshape(-1, 3).mean(axis=0)
        rgb = rgb * alpha[..., None] + fill * (1 - alpha[..., None])
        lat = models.encode_image(linear_to_tensor(rgb.astype(np.float32)))
        m = torch.from_numpy(alpha)[None, None].float()
        m = torch.nn.functional.avg_pool2d(m, s) > 0.5
        if latent_scale != 1.0:  # M2
            lat = resize.scale_latent(lat, latent_scale)
            m = resize.scale_latent(m.float(), latent_scale, mode="nearest") > 0.5
        ly = int(round((cy * k) / s)) - lat.shape[-2] // 2
        lx = int(round((cx * k) / s)) - lat.shape[-1] // 2
        return resize.paste_latent(init, lat.to(init.dtype), m.to(init.device), ly, lx)

    if latent_scale != 1.0:
        grown = (cv2.resize(sized[..., 3], None, fx=latent_scale, fy=latent_scale, interpolation=cv2.INTER_NEAREST) > 0.5).astype(np.float32)
        canvas = np.zeros_like(region)
        gy, gx = cy - grown.shape[0] // 2, cx - grown.shape[1] // 2
        yy, xx = slice(max(0, gy), min(H, gy + grown.shape[0])), slice(max(0, gx), min(W, gx + grown.shape[1]))
        canvas[yy, xx] = grown[yy.start - gy : yy.stop - gy, xx.start - gx : xx.stop - gx]
        region = np.maximum(region, canvas)
    return diffuse_region(models, plate_lin, region, opts, init_hook=hook)


def insert_by_text(
    models: DiffusionModels,
    segmenter: Any,
    plate_lin: np.ndarray,
    object_image: np.ndarray,
    object_text: str,
    location_prompt: str,
    area: Any = "center",
    height_px: int = 64,
    opts: Options | None = None,
    threshold: float = 0.4,
    latent_scale: float = 1.0,
) -> tuple[Result, Placement]:
    """Cut the object out by text, place it by text inside ``area``, insert it."""
    from .segment import remove_background

    rgba, _ = remove_background(object_image, object_text, segmenter, threshold)
    width_px = max(2, int(round(rgba.shape[1] * height_px / rgba.shape[0])))
    place = text_guided_placement(segmenter, plate_lin, location_prompt, area, (width_px, height_px))
    res = insert_object(models, plate_lin, rgba, (place.x, place.y), height_px, opts or Options(), latent_scale)
    return res, place
