"""Load diffusion models from a LOCAL diffusers-format folder; never download anything.

A model folder has the usual diffusers layout (``model_index.json`` optional)::

    unet/ or transformer/      the denoiser (UNet: SD 1.5 / SDXL family; transformer: SD3 family)
    vae/                       AutoencoderKL
    text_encoder/ tokenizer/   CLIP text encoder + its tokenizer (SDXL/SD3 add *_2, SD3 *_3 = T5)
    scheduler/                 scheduler_config.json
    controlnet/                optional ControlNet (depth); controlnet_normal/ optional second one

Each component is loaded with ``from_pretrained(folder, subfolder=..., local_files_only=True)``
while ``HF_HUB_OFFLINE=1``, so a missing file is a clear error, not a download. A folder that
lacks a component raises ``EngineUnavailable`` naming the component and where it goes.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.stages.base import EngineError, EngineUnavailable

ENV_MODEL_DIR = "VANELIA_MODEL_DIR"

_CONFIG_FILES = {
    "unet": ("config.json",),
    "transformer": ("config.json",),
    "vae": ("config.json",),
    "text_encoder": ("config.json",),
    "text_encoder_2": ("config.json",),
    "text_encoder_3": ("config.json",),
    "tokenizer": ("tokenizer.json", "vocab.json", "tokenizer_config.json", "spiece.model"),
    "tokenizer_2": ("tokenizer.json", "vocab.json", "tokenizer_config.json", "spiece.model"),
    "tokenizer_3": ("tokenizer.json", "vocab.json", "tokenizer_config.json", "spiece.model"),
    "scheduler": ("scheduler_config.json",),
    "controlnet": ("config.json",),
    "controlnet_normal": ("config.json",),
}


def offline() -> None:
    """Make every Hugging Face library refuse network access for the rest of the process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import diffusers.utils.logging as dlog
        import transformers.utils.logging as tlog

        dlog.set_verbosity_error()
        dlog.disable_progress_bar()
        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
    except ImportError:  # pragma: no cover - both are sidecar dependencies
        pass


def resolve_model_dir(params: dict[str, Any] | None = None, checkpoint: str | None = None, engine: str = "sdedit") -> Path:
    """The model folder from params['model_dir'], the engine checkpoint or $VANELIA_MODEL_DIR."""
    params = params or {}
    raw = params.get("model_dir") or checkpoint or os.environ.get(ENV_MODEL_DIR)
    if not raw:
        raise EngineUnavailable(
            f"diffuse engine '{engine}' needs a local diffusers model folder (unet/ or transformer/, vae/, "
            f"text_encoder/, tokenizer/, scheduler/); give it with --model-dir DIR, the add-on preferences, "
            f"or ${ENV_MODEL_DIR}. Nothing is downloaded."
        )
    folder = Path(raw).expanduser()
    if not folder.is_dir():
        raise EngineUnavailable(f"diffuse engine '{engine}': model folder {folder} does not exist; place a diffusers-format model there")
    return folder


def has_component(folder: Path, name: str) -> bool:
    sub = folder / name
    return sub.is_dir() and any((sub / f).is_file() for f in _CONFIG_FILES.get(name, ("config.json",)))


def require(folder: Path, name: str, why: str = "") -> Path:
    """The component's subfolder, or EngineUnavailable naming what to place where."""
    if has_component(folder, name):
        return folder / name
    wanted = " or ".join(_CONFIG_FILES.get(name, ("config.json",)))
    raise EngineUnavailable(
        f"model folder {folder} is missing component '{name}'{' (' + why + ')' if why else ''}: "
        f"place the diffusers '{name}/' folder ({wanted} + weights) at {folder / name}"
    )


def denoiser_kind(folder: Path) -> str:
    """'unet' (SD 1.5 / SDXL style, DDPM-family schedulers) or 'flow' (SD3-style transformer)."""
    if has_component(folder, "unet"):
        return "unet"
    if has_component(folder, "transformer"):
        return "flow"
    raise EngineUnavailable(
        f"model folder {folder} is missing component 'unet' (or 'transformer'): place the diffusers "
        f"'unet/' folder of a Stable Diffusion 1.5/SDXL model, or the 'transformer/' folder of an SD3 model, there"
    )


def pick_device(device: str | None = None) -> str:
    if device and device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """fp16 on CUDA (what the models are trained/served in), fp32 on CPU (CPU fp16 is slow and lossy)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype:
        return {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    return torch.float16 if device.startswith("cuda") else torch.float32


def _load_diffusers(cls_name: str, folder: Path, sub: str, dtype: torch.dtype) -> Any:
    import diffusers

    cls = getattr(diffusers, cls_name)
    try:
        return cls.from_pretrained(str(folder), subfolder=sub, torch_dtype=dtype, local_files_only=True)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise EngineUnavailable(f"cannot load '{sub}' from {folder / sub}: {exc}") from exc


def _load_transformers_model(folder: Path, sub: str, dtype: torch.dtype) -> Any:
    import transformers

    cfg = json.loads((folder / sub / "config.json").read_text())
    arch = (cfg.get("architectures") or ["CLIPTextModel"])[0]
    cls = getattr(transformers, arch, None)
    if cls is None:
        raise EngineUnavailable(f"{folder / sub}: text encoder architecture {arch!r} is not in transformers")
    try:
        return cls.from_pretrained(str(folder / sub), dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise EngineUnavailable(f"cannot load '{sub}' from {folder / sub}: {exc}") from exc


def _load_tokenizer(folder: Path, sub: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder / sub), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise EngineUnavailable(f"cannot load '{sub}' from {folder / sub}: {exc}") from exc


@dataclass
class Conditioning:
    """Prompt embeddings for one prompt (positive or negative)."""

    hidden: torch.Tensor  # (1, seq, dim)
    pooled: torch.Tensor | None = None  # (1, dim): SDXL add_text_embeds / SD3 pooled_projections


@dataclass
class DiffusionModels:
    """The components of one local model folder, on one device, ready for the sampling loops."""

    folder: Path
    kind: str  # "unet" | "flow"
    denoiser: Any
    vae: Any
    tokenizers: list[Any]
    text_encoders: list[Any]
    scheduler_config: dict[str, Any]
    device: str
    dtype: torch.dtype
    controlnets: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # -- geometry --------------------------------------------------------------------------
    @property
    def vae_scale(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (VAE downsampling x denoiser downsampling)."""
        if self.kind == "flow":
            return self.vae_scale * int(self.denoiser.config.patch_size)
        return self.vae_scale * 2 ** (len(self.denoiser.config.block_out_channels) - 1)

    @property
    def is_sdxl(self) -> bool:
        return self.kind == "unet" and getattr(self.denoiser.config, "addition_embed_type", None) == "text_time"

    # -- VAE ---------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) in [-1,1] -> scaled latents (posterior mean: deterministic)."""
        image = image.to(self.device, self.vae.dtype)
        mean = self.vae.encode(image).latent_dist.mean
        shift = getattr(self.vae.config, "shift_factor", None) or 0.0
        return ((mean - shift) * self.vae.config.scaling_factor).to(self.dtype)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        shift = getattr(self.vae.config, "shift_factor", None) or 0.0
        z = latents.to(self.vae.dtype) / self.vae.config.scaling_factor + shift
        return self.vae.decode(z).sample.float().clamp(-1, 1)

    # -- text --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, prompt: str) -> Conditioning:
        """Embeddings in the form the denoiser family expects (SD1.5, SDXL or SD3 conventions)."""
        hiddens: list[torch.Tensor] = []
        pooled: list[torch.Tensor] = []
        t5_hidden = None
        for i, (tok, enc) in enumerate(zip(self.tokenizers, self.text_encoders)):
            max_len = min(int(getattr(tok, "model_max_length", 77) or 77), 512)
            ids = tok(prompt, padding="max_length", max_length=max_len, truncation=True, return_tensors="pt").input_ids
            out = enc(ids.to(self.device), output_hidden_states=True)
            if type(enc).__name__.startswith("T5"):
                t5_hidden = out.last_hidden_state
                continue
            if self.kind == "unet" and not self.is_sdxl:
                hiddens.append(out.last_hidden_state)  # SD 1.5 uses the last layer
            else:
                hiddens.append(out.hidden_states[-2])  # SDXL / SD3 use the penultimate layer
            if hasattr(out, "text_embeds") and out.text_embeds is not None:
                pooled.append(out.text_embeds)
            elif getattr(out, "pooler_output", None) is not None:
                pooled.append(out.pooler_output)
        hidden = torch.cat(hiddens, dim=-1)
        pool: torch.Tensor | None = None
        if self.kind == "flow":
            joint = int(self.denoiser.config.joint_attention_dim)
            if hidden.shape[-1] < joint:
                hidden = torch.nn.functional.pad(hidden, (0, joint - hidden.shape[-1]))
            if t5_hidden is not None:
                hidden = torch.cat([hidden, t5_hidden.to(hidden.dtype)], dim=-2)
            pool = torch.cat(pooled, dim=-1)
        elif self.is_sdxl:
            pool = pooled[-1]
        return Conditioning(hidden.to(self.dtype), None if pool is None else pool.to(self.dtype))

    def add_controlnet(self, name: str) -> Any:
        """Load ``folder/name`` (a ControlNet) on first use."""
        if name not in self.controlnets:
            require(self.folder, name, "ControlNet conditioned on our render pass")
            net = _load_diffusers("ControlNetModel", self.folder, name, self.dtype).to(self.device)
            net.eval()
            net.requires_grad_(False)
            self.controlnets[name] = net
        return self.controlnets[name]

    def to_free_memory(self) -> None:
        """After an out-of-memory error: tiled VAE and sliced attention (slower, much smaller)."""
        if hasattr(self.vae, "enable_tiling"):
            self.vae.enable_tiling()
        if self.kind == "unet" and hasattr(self.denoiser, "set_attention_slice"):
            self.denoiser.set_attention_slice("auto")
        self.notes.append("out of GPU memory: retried with VAE tiling and attention slicing")


def load_models(
    folder: str | os.PathLike[str],
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    controlnets: tuple[str, ...] = (),
    unet: Any = None,
) -> DiffusionModels:
    """Load every component of ``folder``; ``controlnets`` names extra subfolders to require."""
    offline()
    folder = Path(folder)
    if not folder.is_dir():
        raise EngineUnavailable(f"model folder {folder} does not exist; place a diffusers-format model there")
    dev = pick_device(device)
    dt = pick_dtype(dev, dtype)
    kind = denoiser_kind(folder)
    for comp in ("vae", "text_encoder", "tokenizer", "scheduler"):
        require(folder, comp)
    for name in controlnets:
        require(folder, name, "ControlNet conditioned on our render pass")
    if unet is not None:
        denoiser = unet
    elif kind == "unet":
        denoiser = _load_diffusers("UNet2DConditionModel", folder, "unet", dt)
    else:
        denoiser = _load_diffusers("SD3Transformer2DModel", folder, "transformer", dt)
    vae = _load_diffusers("AutoencoderKL", folder, "vae", dt if dev.startswith("cuda") else torch.float32)
    toks, encs = [], []
    for suffix in ("", "_2", "_3"):
        if has_component(folder, "text_encoder" + suffix):
            require(folder, "tokenizer" + suffix, "tokenizer of text_encoder" + suffix)
            toks.append(_load_tokenizer(folder, "tokenizer" + suffix))
            encs.append(_load_transformers_model(folder, "text_encoder" + suffix, dt))
    if kind == "unet" and getattr(denoiser.config, "addition_embed_type", None) == "text_time":
        require(folder, "text_encoder_2", "SDXL models have two text encoders")
    sched_cfg = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    nets = {name: _load_diffusers("ControlNetModel", folder, name, dt) for name in controlnets}
    models = DiffusionModels(folder, kind, denoiser, vae, toks, encs, sched_cfg, dev, dt, nets)
    for m in [denoiser, vae, *encs, *nets.values()]:
        m.to(dev)
        m.eval()
        m.requires_grad_(False)
    return models


# ---------------------------------------------------------------------------------------------
# image <-> tensor (models work in sRGB [-1, 1]; the pipeline works in linear float32)
# ---------------------------------------------------------------------------------------------


def linear_to_tensor(lin: np.ndarray) -> torch.Tensor:
    from ml.io.colour import linear_to_srgb

    srgb = np.clip(linear_to_srgb(np.clip(lin[..., :3], 0.0, 1.0)), 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(srgb.transpose(2, 0, 1)))[None].float() * 2.0 - 1.0


def tensor_to_linear(t: torch.Tensor) -> np.ndarray:
    from ml.io.colour import srgb_to_linear

    srgb = ((t[0].detach().float().cpu().clamp(-1, 1) + 1.0) / 2.0).numpy().transpose(1, 2, 0)
    return srgb_to_linear(srgb)


def check_prompt(prompt: Any, engine: str, required: bool) -> str:
    prompt = "" if prompt is None else str(prompt)
    if required and not prompt.strip():
        raise EngineError(
            f"diffuse engine '{engine}' needs a prompt describing what to generate "
            f"(e.g. --prompt \"a bag on the table, sunny day\"); it was empty"
        )
    return prompt
