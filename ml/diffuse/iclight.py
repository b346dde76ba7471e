"""IC-Light-style background-conditioned relighting of the product, then compositing.

The UNet's first convolution takes extra latent channels: the noisy latent, the foreground
latent (product over mid-grey) and, for the background-conditioned variant, the background
latent (the plate). Its weights are the base SD 1.5 UNet plus an *offset file* (per-parameter
deltas, ``conv_in.weight`` already widened): conv_in is widened with zero weights for the new
channels, then every offset is added, as IC-Light distributes them. The relit product is
composited over the (shadowed) plate by its alpha, so the plate is untouched.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.io.colour import srgb_to_linear
from ml.stages.base import EngineError, EngineUnavailable

from .models import DiffusionModels, check_prompt, linear_to_tensor, require
from . import resize
from .sdedit import Options, Result, TemporalHooks, diffuse_region

GREY = float(srgb_to_linear(np.array(0.5, np.float32)))


def find_offset(folder: Path, given: str | None = None) -> Path:
    """The offset file: given path, else the single .safetensors in ``folder/iclight/``."""
    if given:
        p = Path(given).expanduser()
        if not p.is_file():
            raise EngineUnavailable(f"IC-Light offset file {p} not found")
        return p
    for cand in (folder / "iclight_offset.safetensors",):
        if cand.is_file():
            return cand
    sub = folder / "iclight"
    found = sorted(sub.glob("*.safetensors")) if sub.is_dir() else []
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise EngineUnavailable(f"{sub} holds several offset files ({', '.join(p.name for p in found)}); pass one with iclight_offset")
    raise EngineUnavailable(
        f"model folder {folder} has no IC-Light offset: place the offset file (e.g. iclight_sd15_fbc.safetensors) "
        f"in {sub}/ next to the SD 1.5 base model (unet/, vae/, text_encoder/, tokenizer/, scheduler/)"
    )


def load_iclight_unet(folder: Path, offset: Path, dtype: torch.dtype) -> Any:
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    require(folder, "unet", "IC-Light base weights")
    unet = UNet2DConditionModel.from_pretrained(str(folder), subfolder="unet", local_files_only=True, torch_dtype=torch.float32)
    deltas = load_file(str(offset))
    w = deltas.get("conv_in.weight")
    if w is None:
        raise EngineError(f"{offset}: no 'conv_in.weight' offset; this is not an IC-Light offset file")
    old = unet.conv_in
    if w.shape[1] != old.in_channels:
        new = torch.nn.Conv2d(w.shape[1], old.out_channels, old.kernel_size, old.stride, old.padding)
        with torch.no_grad():
            new.weight.zero_()
            new.weight[:, : old.in_channels] = old.weight
            new.bias.copy_(old.bias)
        unet.conv_in = new
        unet.register_to_config(in_channels=int(w.shape[1]))
    sd = unet.state_dict()
    for k, v in deltas.items():
        if k not in sd or sd[k].shape != v.shape:
            raise EngineError(f"{offset}: offset '{k}' {tuple(v.shape)} does not match the base UNet in {folder}/unet")
        sd[k] = sd[k] + v.to(sd[k].dtype)
    unet.load_state_dict(sd)
    return unet.to(dtype)


def foreground_image(rgba: np.ndarray) -> np.ndarray:
    a = np.clip(rgba[..., 3:4], 0, 1)
    return rgba[..., :3] * a + GREY * (1 - a)


def relight(
    models: DiffusionModels,
    base_lin: np.ndarray,
    rgba: np.ndarray,
    background_lin: np.ndarray,
    opts: Options,
    temporal: TemporalHooks | None = None,
) -> Result:
    """Relight the product of ``rgba`` for the background; composite it over ``base_lin``."""
    check_prompt(opts.prompt, "iclight", required=True)
    if models.kind != "unet":
        raise EngineError("iclight needs an SD 1.5-style UNet base model (unet/ folder)")
    lc = models.latent_channels
    n_cond = (int(models.denoiser.config.in_channels) - lc) // lc
    if n_cond not in (1, 2):
        raise EngineError(f"iclight UNet takes {models.denoiser.config.in_channels} channels; expected {2 * lc} or {3 * lc}")
    alpha = np.clip(rgba[..., 3], 0, 1).astype(np.float32)
    if alpha.max() <= 0:
        raise EngineError("iclight: the product's alpha is empty (nothing to relight)")
    start = base_lin[..., :3] * (1 - alpha[..., None]) + rgba[..., :3] * alpha[..., None]
    fg = foreground_image(rgba)

    def extra(fit: resize.Fit, x: torch.Tensor, init: torch.Tensor) -> torch.Tensor:
        lat = [models.encode_image(linear_to_tensor(resize.apply(fg, fit)))]
        if n_cond == 2:
            lat.append(models.encode_image(linear_to_tensor(resize.apply(background_lin[..., :3], fit))))
        return torch.cat(lat, dim=1)

    opts.dilate_px, opts.feather_px = 0, 0
    region = (alpha > 0.0).astype(np.float32)
    res = diffuse_region(models, start, region, opts, keep_known_latents=False, extra=extra, temporal=temporal, blend_alpha=alpha)
    a = alpha[..., None]
    res.image = (base_lin[..., :3] * (1 - a) + res.generated * a).astype(np.float32)
    return res
