"""Explicit sampling loops that start at a noise level t < 1 (partial noising, SDEdit).

Two families, one request:

* UNet models (SD 1.5 / SDXL): a diffusers scheduler (DDIM by default) truncated to the last
  ``strength`` fraction of its timesteps, classifier-free guidance, optional ControlNet residuals
  and extra input channels (inpainting UNets, IC-Light conditions).
* Flow-matching transformers (SD3): x_t = (1-t) x0 + t eps, the model predicts v = eps - x0,
  and an explicit Euler loop integrates from t0 = strength down to 0 (the scheduler's shift is
  applied to the spacing, never to t0, so ``strength`` is exactly the start noise level).

Both re-impose the known latents outside ``keep_mask`` after every step (blended inpainting),
check ``cancel`` and report ``progress`` between steps.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ml.stages.base import EngineError

from .models import Conditioning, DiffusionModels


class Cancelled(EngineError):
    """The caller asked to stop; raised between denoising steps."""


SAMPLERS = {
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "pndm": "PNDMScheduler",
}


@dataclass
class Control:
    """One ControlNet and its conditioning image (1,3,H,W) in [0,1]."""

    net: Any
    image: torch.Tensor
    scale: float = 1.0


@dataclass
class Request:
    init_latents: torch.Tensor
    cond: Conditioning
    uncond: Conditioning | None
    strength: float = 0.5
    steps: int = 30
    seed: int = 0
    guidance: float = 5.0
    sampler: str = "ddim"
    noise: torch.Tensor | None = None
    generate_mask: torch.Tensor | None = None
    """(1,1,h,w) at latent resolution: 1 = generate, 0 = keep init latents (re-imposed each step)."""
    extra_channels: torch.Tensor | None = None
    """(1,C,h,w) concatenated to the UNet input after scaling (inpainting UNet, IC-Light)."""
    controls: list[Control] = field(default_factory=list)
    progress: Callable[[float], None] | None = None
    cancel: Any = None


def is_cancelled(cancel: Any) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def make_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Noise from a CPU generator: the same seed gives the same noise on any device."""
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(int(seed)), dtype=torch.float32)


def _check(req: Request) -> None:
    if not 0.0 < req.strength <= 1.0:
        raise EngineError(f"strength must be in (0, 1], got {req.strength}")
    if req.steps < 1:
        raise EngineError(f"steps must be >= 1, got {req.steps}")


def _tick(req: Request, done: int, total: int) -> None:
    if req.progress is not None:
        req.progress(done / max(total, 1))


def sample(models: DiffusionModels, req: Request) -> torch.Tensor:
    """Denoised latents; on CUDA out-of-memory retry once with tiling + attention slicing."""
    _check(req)
    try:
        return _dispatch(models, req)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        models.to_free_memory()
        logging.getLogger("vanelia.diffuse").warning("out of GPU memory: retrying with VAE tiling and attention slicing (slower)")
        try:
            return _dispatch(models, req)
        except torch.cuda.OutOfMemoryError as exc:
            h, w = req.init_latents.shape[-2:]
            raise EngineError(
                f"out of GPU memory at {w * models.vae_scale}x{h * models.vae_scale} even with VAE tiling and "
                f"attention slicing; lower the working size (--max-side) or free the GPU"
            ) from exc


def _dispatch(models: DiffusionModels, req: Request) -> torch.Tensor:
    with torch.no_grad():
        if models.kind == "flow":
            return _flow_loop(models, req)
        return _unet_loop(models, req)


# ---------------------------------------------------------------------------------------------
# UNet family
# ---------------------------------------------------------------------------------------------


def make_scheduler(models: DiffusionModels, sampler: str) -> Any:
    import diffusers

    name = SAMPLERS.get(sampler)
    if name is None:
        raise EngineError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLERS)}")
    return getattr(diffusers, name).from_config(models.scheduler_config)


def _added_cond(models: DiffusionModels, cond: torch.Tensor | None, hw: tuple[int, int], batch: int) -> dict | None:
    if not models.is_sdxl:
        return None
    h, w = hw[0] * models.vae_scale, hw[1] * models.vae_scale
    ids = torch.tensor([[h, w, 0, 0, h, w]], dtype=models.dtype, device=models.device).repeat(batch, 1)
    return {"text_embeds": cond, "time_ids": ids}


def _unet_loop(models: DiffusionModels, req: Request) -> torch.Tensor:
    dev, dt = models.device, models.dtype
    sched = make_scheduler(models, req.sampler)
    sched.set_timesteps(req.steps, device=dev)
    init_steps = min(max(int(round(req.steps * req.strength)), 1), req.steps)
    t_start = req.steps - init_steps
    timesteps = sched.timesteps[t_start * sched.order :]
    if hasattr(sched, "set_begin_index"):
        sched.set_begin_index(t_start * sched.order)
    init = req.init_latents.to(dev, dt)
    noise = (req.noise if req.noise is not None else make_noise(tuple(init.shape), req.seed)).to(dev, dt)
    if req.strength >= 1.0:
        latents = noise * sched.init_noise_sigma
    else:
        latents = sched.add_noise(init, noise, timesteps[:1].repeat(init.shape[0]))
    cfg = req.uncond is not None and req.guidance > 1.0
    emb = torch.cat([req.uncond.hidden, req.cond.hidden]) if cfg else req.cond.hidden
    pooled = None
    if models.is_sdxl:
        pooled = torch.cat([req.uncond.pooled, req.cond.pooled]) if cfg else req.cond.pooled
    batch = 2 if cfg else 1
    added = _added_cond(models, pooled, tuple(init.shape[-2:]), batch)
    gmask = None if req.generate_mask is None else req.generate_mask.to(dev, dt)
    extra = None if req.extra_channels is None else req.extra_channels.to(dev, dt).repeat(batch, 1, 1, 1)
    step_kwargs = {}
    if "generator" in inspect.signature(sched.step).parameters:
        step_kwargs["generator"] = torch.Generator("cpu").manual_seed(int(req.seed) + 1)
    for i, t in enumerate(timesteps):
        if is_cancelled(req.cancel):
            raise Cancelled(f"diffusion cancelled before step {i + 1}/{len(timesteps)}")
        x = torch.cat([latents] * batch)
        x = sched.scale_model_input(x, t)
        kwargs: dict[str, Any] = {"encoder_hidden_states": emb}
        if added is not None:
            kwargs["added_cond_kwargs"] = added
        down, mid = _control_residuals(req.controls, x, t, emb, added, batch, dt, dev)
        if down is not None:
            kwargs["down_block_additional_residuals"] = down
            kwargs["mid_block_additional_residual"] = mid
        x_in = torch.cat([x, extra], dim=1) if extra is not None else x
        pred = models.denoiser(x_in, t, return_dict=False, **kwargs)[0]
        if cfg:
            u, c = pred.chunk(2)
            pred = u + req.guidance * (c - u)
        latents = sched.step(pred, t, latents, return_dict=False, **step_kwargs)[0]
        if gmask is not None:
            if i + 1 < len(timesteps):
                known = sched.add_noise(init, noise, timesteps[i + 1 : i + 2])
            else:
                known = init
            latents = known * (1 - gmask) + latents * gmask
        _tick(req, i + 1, len(timesteps))
    return latents


def _control_residuals(controls, x, t, emb, added, batch, dt, dev):
    down = mid = None
    for c in controls:
        img = c.image.to(dev, dt).repeat(batch, 1, 1, 1)
        kw = {"added_cond_kwargs": added} if added is not None else {}
        d, m = c.net(x, t, encoder_hidden_states=emb, controlnet_cond=img, conditioning_scale=c.scale, return_dict=False, **kw)
        if down is None:
            down, mid = list(d), m
        else:
            down = [a + b for a, b in zip(down, d)]
            mid = mid + m
    return down, mid


# ---------------------------------------------------------------------------------------------
# flow matching (SD3-style): explicit Euler from t0 < 1
# ---------------------------------------------------------------------------------------------


def flow_sigmas(strength: float, steps: int, shift: float = 1.0) -> np.ndarray:
    """steps+1 noise levels from exactly ``strength`` down to 0, spaced like the shifted schedule."""

    def fwd(u):
        return shift * u / (1.0 + (shift - 1.0) * u)

    u0 = strength / (shift - (shift - 1.0) * strength)  # inverse of fwd
    return fwd(np.linspace(u0, 0.0, steps + 1)).astype(np.float64)


def _flow_loop(models: DiffusionModels, req: Request) -> torch.Tensor:
    dev, dt = models.device, models.dtype
    if req.controls:
        raise EngineError("ControlNet conditioning is implemented for UNet (SD 1.5 / SDXL) models only")
    limit = getattr(models.denoiser.config, "pos_embed_max_size", None)
    patch = int(getattr(models.denoiser.config, "patch_size", 1))
    if limit and max(req.init_latents.shape[-2:]) // patch > int(limit):
        most = int(limit) * patch * models.vae_scale
        raise EngineError(f"this transformer takes images up to {most}px a side; work smaller (--max-side {most})")
    shift = float(models.scheduler_config.get("shift", 1.0) or 1.0)
    sig = flow_sigmas(req.strength, req.steps, shift)
    init = req.init_latents.to(dev, torch.float32)
    noise = (req.noise if req.noise is not None else make_noise(tuple(init.shape), req.seed)).to(dev, torch.float32)
    x = (1.0 - sig[0]) * init + sig[0] * noise
    cfg = req.uncond is not None and req.guidance > 1.0
    emb = torch.cat([req.uncond.hidden, req.cond.hidden]) if cfg else req.cond.hidden
    pooled = torch.cat([req.uncond.pooled, req.cond.pooled]) if cfg else req.cond.pooled
    batch = 2 if cfg else 1
    gmask = None if req.generate_mask is None else req.generate_mask.to(dev, torch.float32)
    for i in range(req.steps):
        if is_cancelled(req.cancel):
            raise Cancelled(f"diffusion cancelled before step {i + 1}/{req.steps}")
        xin = torch.cat([x] * batch).to(dt)
        if req.extra_channels is not None:
            xin = torch.cat([xin, req.extra_channels.to(dev, dt).repeat(batch, 1, 1, 1)], dim=1)
        tt = torch.full((batch,), float(sig[i]) * 1000.0, device=dev, dtype=dt)
        v = models.denoiser(hidden_states=xin, timestep=tt, encoder_hidden_states=emb, pooled_projections=pooled, return_dict=False)[0].float()
        if cfg:
            u, c = v.chunk(2)
            v = u + req.guidance * (c - u)
        x = x + float(sig[i + 1] - sig[i]) * v
        if gmask is not None:
            known = (1.0 - sig[i + 1]) * init + sig[i + 1] * noise
            x = known * (1 - gmask) + x * gmask
        _tick(req, i + 1, req.steps)
    return x.to(dt)
