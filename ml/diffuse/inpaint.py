"""Diffusion inpainting of the region around the product (contact shadow, reflection, surface).

Two kinds of model work:

* an inpainting UNet (9 input channels: latents + mask + masked-image latents, as the
  SD inpainting checkpoints): the mask and the masked picture condition every step;
* any other model (4-channel UNet, SD3 transformer): blended latent diffusion - the known
  latents outside the region are re-imposed, noised to the current level, after every step.

A prompt is required: it says what to generate there ("a bag on the table, sunny day").
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ml.stages.base import EngineError

from . import masks, resize
from .models import DiffusionModels, check_prompt
from .sdedit import Options, Result, TemporalHooks, diffuse_region


def is_inpainting_unet(models: DiffusionModels) -> bool:
    if models.kind != "unet":
        return False
    c, lc = int(models.denoiser.config.in_channels), models.latent_channels
    if c == 2 * lc + 1:
        return True
    if c != lc:
        raise EngineError(
            f"{models.folder}/unet takes {c} input channels; expected {lc} (text-to-image) or {2 * lc + 1} (inpainting)"
        )
    return False


def inpaint(models: DiffusionModels, image_lin: np.ndarray, region: np.ndarray, opts: Options, temporal: TemporalHooks | None = None) -> Result:
    check_prompt(opts.prompt, "inpaint", required=True)
    if not is_inpainting_unet(models):
        return diffuse_region(models, image_lin, region, opts, keep_known_latents=True, temporal=temporal)
    region = masks.check_mask(region, np.asarray(image_lin).shape[:2])
    hard, _ = masks.soft_region(region, opts.dilate_px, opts.feather_px)

    def extra(fit: resize.Fit, x: torch.Tensor, init: torch.Tensor) -> torch.Tensor:
        m = torch.from_numpy(resize.apply(hard, fit, is_mask=True))[None, None]
        masked = x * (m < 0.5).to(x.dtype)  # the region set to mid-grey, as the SD inpainting models expect
        masked_latents = models.encode_image(masked)
        m_lat = F.interpolate(m, size=tuple(init.shape[-2:]), mode="nearest").to(masked_latents.dtype)
        return torch.cat([m_lat.to(masked_latents.device), masked_latents], dim=1)

    return diffuse_region(models, image_lin, region, opts, keep_known_latents=False, extra=extra, temporal=temporal)
