"""The photorealistic compositor network: coarse generator, fine generator with contextual attention.

Architecture (../shared/reference/photorealistic-compositor.md, after DeepFill v1 and
"Anything in Any Scene"):

* Input, 8 channels at the network size: the plate with the object region blanked (3), the
  binary object mask (1), the rendered object RGB (3, zero outside the mask) and the
  shadow-catcher multiplier (1; all ones when the shot has no shadow pass, so one
  checkpoint serves shots with and without shadows). Colours are sRGB in [0, 1].
* CoarseGenerator, 17 conv layers: encoder to 1/4, dilated convolutions at rates 2, 4, 8, 16,
  decoder back to full size.
* FineGenerator: a convolution branch (encoder + dilated convs) and a contextual-attention
  branch (encoder + ContextualAttention copying background patches into the object region),
  concatenated, merged and decoded.

Output head, why a colour transform: each generator's last layer predicts, per pixel, a 3x3
colour matrix offset and a bias (12 channels) that are applied to the object's own RGB:
``out = (I + dA) @ rgb + b``. The head starts at zero, so an untrained network returns the
object unchanged (the "unharmonized" baseline) and training only has to learn the
correction; and because the coefficients are smooth they can be upsampled from the network
size to any crop size and applied to the full-resolution object, which keeps its detail
(how the engine works at any frame size).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ml.checkpoint import CheckpointError, check_arch, config_of, load_weights, read_metadata, save

from .contextual_attention import ContextualAttention

IN_CHANNELS = 8
COEF_CHANNELS = 12
CNUM_CHOICES = (32, 48, 64)


@dataclass(frozen=True)
class CompositorConfig:
    """Everything needed to rebuild the network; stored in checkpoint metadata."""

    cnum: int = 48
    in_channels: int = IN_CHANNELS
    attention_rate: int = 2
    attention_softmax_scale: float = 10.0
    attention_max_tokens: int = 8192
    net_size: int = 256
    """Side of the square the engine resizes an object crop to before the network."""
    base: str = ""
    """The composite engine whose output this network corrects ("classical": trained on
    `vanelia eval insert` pairs, classical composite -> path-traced truth); "" = it harmonizes
    the raw render over the plate (trained on perturbed-frame pairs)."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CompositorConfig":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1, act: bool = True) -> nn.Sequential:
    """Conv + ELU with 'same' padding (DeepFill's building block)."""
    pad = dilation * (k - 1) // 2
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation)]
    if act:
        layers.append(nn.ELU(inplace=True))
    return nn.Sequential(*layers)


class Up(nn.Module):
    """Nearest x2 upsampling then a conv (avoids transposed-conv checkerboards)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = conv(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def coef_head(cin: int) -> nn.Conv2d:
    """Last layer: 12 colour-transform coefficients, zero-initialised (identity transform)."""
    head = nn.Conv2d(cin, COEF_CHANNELS, 3, padding=1)
    nn.init.zeros_(head.weight)
    if head.bias is not None:
        nn.init.zeros_(head.bias)
    return head


def apply_coefficients(coef: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """out = (I + dA) @ rgb + b per pixel; coef (B, 12, H, W), rgb (B, 3, H, W)."""
    b, _, h, w = coef.shape
    mat = coef[:, :9].reshape(b, 3, 3, h, w)
    bias = coef[:, 9:12]
    mixed = (mat * rgb.unsqueeze(1)).sum(dim=2)  # (B, 3, H, W): row i = sum_j A_ij rgb_j
    return rgb + mixed + bias


def compose_coefficients(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """Coefficients of rgb -> outer(inner(rgb)) (both (B, 12, H, W) in the head's layout).

    Why: the fine generator starts at identity on top of the trained coarse transform, so
    fine training begins where coarse training ended; the composition stays one affine map
    that the engine can upsample and apply at full resolution.
    """
    b, _, h, w = outer.shape
    eye = torch.eye(3, dtype=outer.dtype, device=outer.device).reshape(1, 3, 3, 1, 1)
    a_out = eye + outer[:, :9].reshape(b, 3, 3, h, w)
    a_in = eye + inner[:, :9].reshape(b, 3, 3, h, w)
    a = (a_out.unsqueeze(3) * a_in.unsqueeze(1)).sum(dim=2)  # (B,3,3,H,W): A_out @ A_in
    bias = (a_out * inner[:, 9:12].unsqueeze(1)).sum(dim=2) + outer[:, 9:12]
    return torch.cat([(a - eye).reshape(b, 9, h, w), bias], dim=1)


def dilated_trunk(cin: int, c: int) -> nn.Sequential:
    """Encoder to 1/4 (6 layers) + dilated convs at rates 2, 4, 8, 16 (4 layers)."""
    return nn.Sequential(
        conv(cin, c, 5),
        conv(c, 2 * c, stride=2),
        conv(2 * c, 2 * c),
        conv(2 * c, 4 * c, stride=2),
        conv(4 * c, 4 * c),
        conv(4 * c, 4 * c),
        conv(4 * c, 4 * c, dilation=2),
        conv(4 * c, 4 * c, dilation=4),
        conv(4 * c, 4 * c, dilation=8),
        conv(4 * c, 4 * c, dilation=16),
    )


def decoder(c: int) -> nn.Sequential:
    """1/4 -> full size (5 layers; the coefficient head is separate)."""
    return nn.Sequential(
        Up(4 * c, 2 * c),
        conv(2 * c, 2 * c),
        Up(2 * c, c),
        conv(c, c // 2),
    )


class CoarseGenerator(nn.Module):
    """17 layers: 10 (encoder + dilated) + 2 bridge convs + 4 decoder + 1 head."""

    def __init__(self, cnum: int, in_channels: int = IN_CHANNELS):
        super().__init__()
        c = cnum
        self.trunk = dilated_trunk(in_channels, c)
        self.bridge = nn.Sequential(conv(4 * c, 4 * c), conv(4 * c, 4 * c))
        self.decode = decoder(c)
        self.head = coef_head(c // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decode(self.bridge(self.trunk(x))))


class FineGenerator(nn.Module):
    """Convolution branch + contextual-attention branch, merged (2 convs) and decoded."""

    def __init__(self, cnum: int, in_channels: int = IN_CHANNELS, rate: int = 2, softmax_scale: float = 10.0, max_tokens: int = 8192):
        super().__init__()
        c = cnum
        self.conv_branch = dilated_trunk(in_channels, c)
        self.att_encoder = nn.Sequential(
            conv(in_channels, c, 5),
            conv(c, c, stride=2),
            conv(c, 2 * c),
            conv(2 * c, 4 * c, stride=2),
            conv(4 * c, 4 * c),
            conv(4 * c, 4 * c),
        )
        self.attention = ContextualAttention(3, rate, softmax_scale, max_tokens)
        self.att_post = nn.Sequential(conv(4 * c, 4 * c), conv(4 * c, 4 * c))
        self.merge = nn.Sequential(conv(8 * c, 4 * c), conv(4 * c, 4 * c))
        self.decode = decoder(c)
        self.head = coef_head(c // 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = self.att_encoder(x)
        mask_q = F.max_pool2d(mask, 4)  # the object region at 1/4 resolution
        a = self.att_post(self.attention(a, mask_q))
        merged = self.merge(torch.cat([self.conv_branch(x), a], dim=1))
        return self.head(self.decode(merged))


def make_input(plate: torch.Tensor, mask: torch.Tensor, obj: torch.Tensor, shadow: torch.Tensor | None = None) -> torch.Tensor:
    """The 8-channel network input from (B,3,H,W) plate, (B,1,H,W) binary mask, object RGB, shadow."""
    if shadow is None:
        shadow = torch.ones_like(mask)
    return torch.cat([plate * (1.0 - mask), mask, obj * mask, shadow], dim=1)


class PhotorealisticNet(nn.Module):
    """Coarse then fine; returns the fine coefficients, fine image and coarse image.

    ``forward`` takes the 8-channel input (see ``make_input``) and returns
    ``(coef_fine (B,12,H,W), fine (B,3,H,W), coarse (B,3,H,W))`` where the images are the
    harmonized object composited over the plate with the binary mask.
    """

    def __init__(self, config: CompositorConfig | None = None):
        super().__init__()
        self.config = config or CompositorConfig()
        c = self.config.cnum
        if c % 2 or c < 4:
            raise ValueError(f"cnum must be an even number >= 4 (use 32, 48 or 64), got {c}")
        self.coarse = CoarseGenerator(c, self.config.in_channels)
        self.fine = FineGenerator(
            c,
            self.config.in_channels,
            self.config.attention_rate,
            self.config.attention_softmax_scale,
            self.config.attention_max_tokens,
        )

    @property
    def size_multiple(self) -> int:
        return 4 * self.config.attention_rate

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(f"network input {h}x{w} must be a multiple of {m} on both sides (resize or pad first)")
        plate, mask, obj = x[:, 0:3], x[:, 3:4], x[:, 4:7]
        background = plate  # already blanked inside the mask
        coef_coarse = self.coarse(x)
        coarse = background + apply_coefficients(coef_coarse, obj) * mask
        x_fine = torch.cat([coarse, x[:, 3:]], dim=1)
        # the fine transform refines the coarse one: fine = F(C(rgb)), one composed affine map
        coef = compose_coefficients(self.fine(x_fine, mask), coef_coarse)
        fine = background + apply_coefficients(coef, obj) * mask
        return coef, fine, coarse


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- checkpoints

CHECKPOINT_FORMAT = "vanelia.composite.photorealistic"
WHAT = "photorealistic compositor checkpoint"


def save_checkpoint(path: str | os.PathLike[str], model: PhotorealisticNet, extra: dict[str, str] | None = None) -> Path:
    """Weights + config (ml.checkpoint, atomic), with ``cnum`` for quick inspection."""
    return save(path, model, CHECKPOINT_FORMAT, model.config.to_json(), {"cnum": str(model.config.cnum), **(extra or {})})


def read_checkpoint_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    return read_metadata(path, "compositor checkpoint")


def load_checkpoint(path: str | os.PathLike[str], cnum: int | None = None, map_location: str = "cpu") -> PhotorealisticNet:
    """Build the network from a checkpoint; ``cnum`` (when given) must match the checkpoint's."""
    p = Path(path)
    meta = read_checkpoint_metadata(p)
    check_arch(p, meta, CHECKPOINT_FORMAT, WHAT, "train one with `vanelia train composite`", allow_missing=True)
    config = config_of(p, meta, CompositorConfig.from_json, WHAT) if "config" in meta else CompositorConfig(cnum=cnum or 48)
    if cnum is not None and config.cnum != cnum:
        raise CheckpointError(
            f"{p}: checkpoint was trained with cnum={config.cnum}, but cnum={cnum} was requested; "
            f"use cnum={config.cnum} (or leave cnum unset) or a checkpoint trained at cnum={cnum}"
        )
    return load_weights(p, PhotorealisticNet(config), f"cnum={config.cnum} compositor", map_location)
