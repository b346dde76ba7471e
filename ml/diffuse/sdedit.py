"""Partial-noising harmonization (SDEdit) and the region-diffusion core the other engines share.

``diffuse_region`` takes a linear composite and the object+shadow region, brings the image to
a size the model takes (M1), encodes it, noises it to ``strength`` (t < 1), denoises it with
the prompt (UNet or flow-matching Euler loop, see sampling.py), decodes, and blends the result
back with a soft mask whose support lies inside the dilated region: the plate never drifts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ml.stages.base import EngineError

from . import masks, resize
from .models import DiffusionModels, check_prompt, linear_to_tensor, tensor_to_linear
from .sampling import Control, Request, make_noise, sample


@dataclass
class Options:
    prompt: str = ""
    negative_prompt: str = ""
    strength: float = 0.5
    steps: int = 30
    seed: int = 0
    guidance: float = 5.0
    sampler: str = "ddim"
    dilate_px: int = 8
    feather_px: int = 4
    max_side: int | None = None
    progress: Callable[[float], None] | None = None
    cancel: Any = None

    @classmethod
    def from_params(cls, params: dict[str, Any], **defaults: Any) -> "Options":
        """Options from an engine's params dict (unknown keys ignored), engine defaults underneath."""
        kw = dict(defaults)
        for name in cls.__dataclass_fields__:
            if params.get(name) is not None:
                kw[name] = params[name]
        opts = cls(**kw)
        opts.strength, opts.steps, opts.seed = float(opts.strength), int(opts.steps), int(opts.seed)
        opts.guidance, opts.dilate_px, opts.feather_px = float(opts.guidance), int(opts.dilate_px), int(opts.feather_px)
        if not 0.0 < opts.strength <= 1.0:
            raise EngineError(f"strength must be in (0, 1], got {opts.strength}")
        if opts.steps < 1:
            raise EngineError(f"steps must be >= 1, got {opts.steps}")
        return opts


@dataclass
class TemporalHooks:
    """Per-shot state a sequence run threads through: fixed noise, previous latents."""

    noise: torch.Tensor | None = None
    previous: torch.Tensor | None = None
    blend: float = 0.0
    last_latents: torch.Tensor | None = field(default=None, repr=False)


@dataclass
class Result:
    image: np.ndarray  # HxWx3 linear, original size
    latents: torch.Tensor
    soft: np.ndarray
    notes: list[str]
    generated: np.ndarray | None = None  # the decoded model output before blending (original size)


def diffuse_region(
    models: DiffusionModels,
    image_lin: np.ndarray,
    region: np.ndarray,
    opts: Options,
    *,
    keep_known_latents: bool = True,
    controls: list[tuple[Any, np.ndarray, float]] | None = None,
    extra: Callable[[resize.Fit, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    temporal: TemporalHooks | None = None,
    blend_alpha: np.ndarray | None = None,
    init_hook: Callable[[resize.Fit, torch.Tensor], torch.Tensor] | None = None,
) -> Result:
    """The shared core: see module docstring. ``controls`` = (net, HxWx3 [0,1] image, scale);
    ``extra(fit, x, init_latents)`` returns channels to concatenate to the denoiser input
    (``x`` = the model-size image tensor in [-1,1]); ``blend_alpha`` replaces the soft
    region for the final blend (IC-Light composites the product by its alpha);
    ``init_hook(fit, init_latents)`` edits the encoded latents (latent-space insertion)."""
    img = np.asarray(image_lin, dtype=np.float32)
    if img.ndim != 3 or img.shape[2] < 3:
        raise EngineError(f"composite must be HxWx3, got shape {img.shape}")
    region = masks.check_mask(region, img.shape[:2])
    hard, soft = masks.soft_region(region, opts.dilate_px, opts.feather_px)
    if blend_alpha is not None:
        soft = np.clip(masks.check_mask(blend_alpha, img.shape[:2], "alpha"), 0.0, 1.0) * hard
    fit = resize.plan(img.shape[0], img.shape[1], models.size_multiple, opts.max_side)
    x = linear_to_tensor(resize.apply(img[..., :3], fit))
    init = models.encode_image(x)
    if init_hook is not None:
        init = init_hook(fit, init)
    if temporal is not None and temporal.previous is not None and temporal.blend > 0 and temporal.previous.shape == init.shape:
        init = (1.0 - temporal.blend) * init + temporal.blend * temporal.previous.to(init.dtype)
    noise = None
    if temporal is not None:
        if temporal.noise is None or tuple(temporal.noise.shape) != tuple(init.shape):
            temporal.noise = make_noise(tuple(init.shape), opts.seed)
        noise = temporal.noise
    cond = models.encode_prompt(opts.prompt)
    uncond = models.encode_prompt(opts.negative_prompt) if opts.guidance > 1.0 else None
    gmask = None
    if keep_known_latents:
        # one extra latent cell of margin so the generated area blends into the kept context
        work_hard = resize.apply(masks.dilate(hard, models.vae_scale), fit, is_mask=True)
        gmask = torch.from_numpy(masks.latent_mask(work_hard, models.vae_scale))[None, None]
    ctl = [Control(net, _cond_tensor(cimg, fit), scale) for net, cimg, scale in (controls or [])]
    req = Request(
        init_latents=init,
        cond=cond,
        uncond=uncond,
        strength=opts.strength,
        steps=opts.steps,
        seed=opts.seed,
        guidance=opts.guidance,
        sampler=opts.sampler,
        noise=noise,
        generate_mask=gmask,
        extra_channels=None if extra is None else extra(fit, x, init),
        controls=ctl,
        progress=opts.progress,
        cancel=opts.cancel,
    )
    latents = sample(models, req)
    if temporal is not None:
        temporal.last_latents = latents.detach()
    out = resize.undo(tensor_to_linear(models.decode_latents(latents)), fit)
    final = masks.blend_keep_outside(img[..., :3], out, soft)
    if img.shape[2] > 3:
        final = np.concatenate([final, img[..., 3:]], axis=2)
    return Result(final, latents, soft, list(models.notes), out)


def _cond_tensor(cimg: np.ndarray, fit: resize.Fit) -> torch.Tensor:
    c = np.asarray(cimg, dtype=np.float32)
    if c.ndim == 2:
        c = np.repeat(c[..., None], 3, axis=2)
    if c.shape[:2] != fit.orig:
        raise EngineError(f"control image is {c.shape[1]}x{c.shape[0]} but the composite is {fit.orig[1]}x{fit.orig[0]}")
    c = resize.apply(c, fit)
    return torch.from_numpy(np.ascontiguousarray(np.clip(c, 0, 1).transpose(2, 0, 1)))[None]


def sdedit(models: DiffusionModels, image_lin: np.ndarray, region: np.ndarray, opts: Options, temporal: TemporalHooks | None = None) -> Result:
    """Harmonize the region by partial noising; the prompt may be empty (pure harmonization)."""
    check_prompt(opts.prompt, "sdedit", required=False)
    return diffuse_region(models, image_lin, region, opts, temporal=temporal)
