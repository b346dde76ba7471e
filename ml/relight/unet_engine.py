"""relight/unet: re-shade the product with the learned G-buffer relighting network.

Per light of the shot's lighting (or only the strongest, ``params["lights"] = "strongest"``)
the network turns (distance, cosine, albedo, normals) into the shading at unit irradiance;
the engine multiplies by the light's irradiance, sums the lights (light transport is linear)
and adds the ambient world term. Only the box around the visible product is processed, so a
small product in a 4K frame costs what its box costs. The render's alpha is kept unchanged.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ml.relight import maps
from ml.relight.data import network_inputs, split_inputs
from ml.relight.unet import MULTIPLE, CheckpointError, RelightUNet, UNetConfig, load_checkpoint
from ml.stages.base import Engine, EngineError, EngineUnavailable, FrameState, MissingInput, declare_params, register

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "relight" / "unet.safetensors"
MARGIN = 8  # pixels of context around the product's box (the network looks a little around)


def object_box(valid: np.ndarray, margin: int = MARGIN) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) around the valid pixels plus a margin, or None when there are none."""
    ys, xs = np.nonzero(valid)
    if len(ys) == 0:
        return None
    h, w = valid.shape
    return max(0, ys.min() - margin), min(h, ys.max() + 1 + margin), max(0, xs.min() - margin), min(w, xs.max() + 1 + margin)


def run_network(model: RelightUNet, stacks: np.ndarray, device: str = "cpu", half: bool = False) -> np.ndarray:
    """Lx8xHxW input stacks (any H, W) -> LxHxWx3 shading; pads to multiples of 8 (replicate)."""
    x = torch.from_numpy(np.ascontiguousarray(stacks)).to(device)
    h, w = x.shape[-2:]
    ph, pw = (-h) % MULTIPLE, (-w) % MULTIPLE
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    with torch.inference_mode():
        if half:
            x = x.half()
        y = model(*split_inputs(x))[..., :h, :w].float()
    return y.clamp_min(0.0).permute(0, 2, 3, 1).cpu().numpy()


def relight(model: RelightUNet, frame: FrameState, lights: str = "all", device: str = "cpu", half: bool = False) -> np.ndarray:
    """HxWx4 relit RGBA (linear, straight alpha = the render's alpha)."""
    rgba = np.asarray(frame.rgba, np.float32)
    alpha = rgba[..., 3]
    box = object_box(alpha > 1e-3)
    out = np.zeros_like(rgba)
    out[..., 3] = alpha
    if box is None:  # nothing of the product is visible: nothing to shade
        return out
    y0, y1, x0, x1 = box
    crop = lambda a: np.asarray(a, np.float32)[y0:y1, x0:x1]  # noqa: E731
    gb = maps.gbuffer(crop(frame.passes["albedo"]), crop(frame.passes["normal"]), crop(frame.passes["position"]), frame.lighting, crop(alpha), lights=lights)
    rgb = gb.ambient.copy()
    if gb.lights:
        stacks = np.stack([network_inputs(gb, i) for i in range(len(gb.lights))])
        shading = run_network(model, stacks, device, half)
        for lm, sh in zip(gb.lights, shading):
            rgb += lm.irradiance * sh
    out[y0:y1, x0:x1, :3] = np.where(gb.valid[..., None], rgb, 0.0)
    return out


@register
class UNetRelight(Engine):
    """relight/unet: learned shading (shadows, bounce, highlights) from the G-buffer."""

    stage = "relight"
    name = "unet"
    Params = declare_params("UNetRelightParams", {"lights": "all", "fp16": False})
    default_checkpoint = DEFAULT_CHECKPOINT
    needs = ("rgba", "albedo", "normal", "position", "lighting")

    def __init__(self) -> None:
        super().__init__()
        self.model: RelightUNet | None = None
        self.meta: dict[str, str] = {}

    def setup(self, device: str = "cpu", checkpoint: str | None = None, expect: UNetConfig | None = None) -> None:
        path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
        if not path.is_file():
            raise EngineUnavailable(
                f"relight engine 'unet' needs a checkpoint: {path} does not exist. Train one with "
                f"`vanelia train relight --data DIR` and put it there (or pass --checkpoint); "
                f"the 'lambert' engine needs no weights"
            )
        try:
            model, meta = load_checkpoint(path, expect=expect)
        except CheckpointError as exc:
            raise EngineUnavailable(str(exc)) from exc
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EngineUnavailable(f"relight engine 'unet': device {device!r} asked for, but torch sees no CUDA GPU; use --device cpu")
        self.model, self.meta = model.to(device), meta
        super().setup(device, str(path))

    def check_inputs(self, frame: FrameState) -> None:
        super().check_inputs(frame)
        if not getattr(frame.lighting, "lights", None):
            raise MissingInput(f"relight engine 'unet': frame {frame.index} has no lights in shot.json lighting.lights; add one")
        shapes = {np.asarray(frame.get(n)).shape[:2] for n in ("rgba", "albedo", "normal", "position")}
        if len(shapes) > 1:
            raise MissingInput(f"relight engine 'unet': frame {frame.index} has passes of different sizes {sorted(shapes)}; re-render the frame")

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        if self.model is None:
            raise EngineError("relight engine 'unet' used before setup(); call setup(device, checkpoint)")
        self.check_inputs(frame)
        lights = str(params.get("lights", "all"))
        if lights not in ("all", "strongest"):
            raise EngineError(f"relight engine 'unet': params.lights must be 'all' or 'strongest', got {lights!r}")
        half = bool(params.get("fp16", False)) and self.device.startswith("cuda")
        if half:
            self.model.half()
        return relight(self.model, frame, lights, self.device, half)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        if self.model is not None:
            d["config"] = self.model.config.to_json()
            d["trained_epochs"] = self.meta.get("epoch")
        return d
