"""DSTT video inpainter with per-block memory (the learned inpaint engine's network).

A Decoupled Spatial-Temporal Transformer variant for streaming: each call takes the current
frame (optionally followed by look-ahead frames) plus an explicit memory tensor holding the
tokens that every transformer block saw for the last ``memory_slots`` committed frames, and
returns the filled frames plus the advanced memory. Memory is an explicit input/output so the
same graph runs in torch, TorchScript, ONNX and TensorRT without hidden state.

Shapes (default config, batch B, T frames per call):
    frames  B x T x 3 x 360 x 640   RGB in [-1, 1], hole zeroed
    masks   B x T x 1 x 360 x 640   1 = hole
    memory  B x num_blocks x memory_slots x seq_len x hidden   (seq_len = 30 * 54 = 1620)
The memory advances by the *first* frame of the call (the frame being output); the other
frames of a call are look-ahead context only.

Sizes are computed from the convolution arithmetic (``conv_out``/``deconv_out``), never as
``size // stride``: 90 x 160 features through a 7x7 stride-3 pad-3 patch embedding give a
30 x 54 grid (54, not 53), and the token-to-patch transpose convolution is centre-cropped to
the encoder size explicitly.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ARCH = "dstt-memory-v1"


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution (PyTorch arithmetic, floor)."""
    return (size + 2 * padding - kernel) // stride + 1


def deconv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a transpose convolution (no output_padding)."""
    return (size - 1) * stride - 2 * padding + kernel


@dataclass(frozen=True)
class DSTTConfig:
    """Architecture of one DSTT model; saved with every checkpoint and checked on load."""

    height: int = 360
    width: int = 640
    channels: int = 256
    """Encoder feature channels at 1/4 resolution."""
    hidden: int = 512
    heads: int = 4
    num_blocks: int = 8
    memory_slots: int = 2
    patch_kernel: int = 7
    patch_stride: int = 3
    patch_padding: int = 3
    zone: tuple[int, int] = (3, 3)
    """Temporal blocks group zone[0] x zone[1] neighbouring tokens and attend across time."""
    ffn_mult: int = 2

    # ---- derived sizes (convolution arithmetic) ----
    @property
    def feat_size(self) -> tuple[int, int]:
        h, w = self.height, self.width
        for _ in range(2):  # two stride-2 3x3 pad-1 convolutions
            h, w = conv_out(h, 3, 2, 1), conv_out(w, 3, 2, 1)
        return h, w

    @property
    def token_grid(self) -> tuple[int, int]:
        fh, fw = self.feat_size
        k, s, p = self.patch_kernel, self.patch_stride, self.patch_padding
        return conv_out(fh, k, s, p), conv_out(fw, k, s, p)

    @property
    def seq_len(self) -> int:
        gh, gw = self.token_grid
        return gh * gw

    def memory_shape(self, batch: int = 1) -> tuple[int, int, int, int, int]:
        return (batch, self.num_blocks, self.memory_slots, self.seq_len, self.hidden)

    def validate(self) -> None:
        fh, fw = self.feat_size
        if deconv_out(deconv_out(fh, 4, 2, 1), 4, 2, 1) != self.height or deconv_out(
            deconv_out(fw, 4, 2, 1), 4, 2, 1
        ) != self.width:
            raise ValueError(f"DSTT: {self.height}x{self.width} must be divisible by 4 (got features {fh}x{fw})")
        gh, gw = self.token_grid
        if gh % self.zone[0] or gw % self.zone[1]:
            raise ValueError(f"DSTT: token grid {gh}x{gw} is not divisible by the temporal zone {self.zone}")
        if self.hidden % self.heads:
            raise ValueError(f"DSTT: hidden {self.hidden} not divisible by heads {self.heads}")
        if self.channels % 32:
            raise ValueError(f"DSTT: channels {self.channels} must be a multiple of 32")

    def to_json(self) -> str:
        return json.dumps({"arch": ARCH, **dataclasses.asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DSTTConfig":
        data = json.loads(text)
        arch = data.pop("arch", None)
        if arch != ARCH:
            raise ValueError(f"architecture {arch!r}, expected {ARCH!r}")
        if "zone" in data:
            data["zone"] = tuple(data["zone"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}")
        return cls(**data)


SMALL = DSTTConfig(channels=64, hidden=96, heads=4)
"""Reduced width for CPU training, tests and the CPU benchmark (same 360x640 / 30x54 grid)."""

TINY = DSTTConfig(channels=32, hidden=64, heads=4)
"""Narrowest 360x640 model: what a short CPU-only training run can afford."""

MEDIUM = DSTTConfig(channels=128, hidden=256, heads=4)
"""6.7 M parameters: what a ~10-minute GPU window can train, and small enough to ship
(27 MB fp32, 13.5 MB fp16) where the default's 26 M (104 MB) is not."""

SIZES = {"tiny": TINY, "small": SMALL, "medium": MEDIUM, "default": DSTTConfig()}


# ----------------------------------------------------------------------------- encoder
class ConvEncoder(nn.Module):
    """360x640x4 -> 90x160xC: two stride-2 stages."""

    def __init__(self, c: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(4, c // 4, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c // 4, c // 2, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c // 2, c // 2, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c // 2, c, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class HierarchyEncoder(nn.Module):
    """Grouped residual channels: each stage sees the encoder input and the running features,
    interleaved group by group, through a grouped convolution (cheap feature reuse)."""

    GROUPS = (1, 2, 4, 8, 1)

    def __init__(self, c: int, fh: int, fw: int):
        super().__init__()
        self.c, self.fh, self.fw = c, fh, fw
        outs = (c, c * 3 // 2, c, c // 2, c // 4)
        self.outs = outs
        layers = [nn.Conv2d(c, outs[0], 3, 1, 1)]
        for i in range(1, len(outs)):
            g = self.GROUPS[i]
            layers.append(nn.Conv2d(c + outs[i - 1], outs[i], 3, 1, 1, groups=g))
        self.layers = nn.ModuleList(layers)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.layers[0](x))
        for i in range(1, len(self.layers)):
            g = self.GROUPS[i]
            xg = x.reshape(-1, g, self.c // g, self.fh, self.fw)
            og = out.reshape(-1, g, self.outs[i - 1] // g, self.fh, self.fw)
            mixed = torch.cat([xg, og], dim=2).reshape(-1, self.c + self.outs[i - 1], self.fh, self.fw)
            out = self.act(self.layers[i](mixed))
        return out  # c // 4 channels


# ----------------------------------------------------------------------------- transformer
class MemoryAttention(nn.Module):
    """Multi-head attention: queries from current tokens, keys/values from current + memory."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        # x: (G, Nq, D), ctx: (G, Nk, D)
        d = x.shape[-1]
        dh = d // self.heads
        q = self.q(x).reshape(x.shape[0], -1, self.heads, dh).transpose(1, 2)
        kv = self.kv(ctx).reshape(ctx.shape[0], -1, 2, self.heads, dh).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, kv[0], kv[1])
        return self.proj(y.transpose(1, 2).reshape(x.shape[0], -1, d))


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim * mult), nn.GELU(), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SpatialTransformerBlockWithMemory(nn.Module):
    """Every token of a frame attends over all tokens of that frame plus the block's memory."""

    def __init__(self, cfg: DSTTConfig):
        super().__init__()
        self.cfg = cfg
        self.norm1 = nn.LayerNorm(cfg.hidden)
        self.attn = MemoryAttention(cfg.hidden, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.hidden)
        self.ffn = FeedForward(cfg.hidden, cfg.ffn_mult)

    def forward(self, x: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        # x: (B, T, N, D); mem: (B, S, N, D)
        b, t = x.shape[0], x.shape[1]
        n, d, s = self.cfg.seq_len, self.cfg.hidden, self.cfg.memory_slots
        mem_t = mem.reshape(b, 1, s * n, d).expand(b, t, s * n, d)
        h = self.norm1(x)
        ctx = torch.cat([h, self.norm1(mem_t)], dim=2)
        y = self.attn(h.reshape(b * t, n, d), ctx.reshape(b * t, (s + 1) * n, d))
        x = x + y.reshape(b, t, n, d)
        return x + self.ffn(self.norm2(x))


class TemporalTransformerBlockWithMemory(nn.Module):
    """Tokens are grouped into spatial zones; each zone attends across all current frames and
    the memory frames (the temporal reshape needs the exact 30x54 grid)."""

    def __init__(self, cfg: DSTTConfig):
        super().__init__()
        self.cfg = cfg
        self.norm1 = nn.LayerNorm(cfg.hidden)
        self.attn = MemoryAttention(cfg.hidden, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.hidden)
        self.ffn = FeedForward(cfg.hidden, cfg.ffn_mult)

    def _to_zones(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, N, D) -> (B * Z, F * zh * zw, D)."""
        gh, gw = self.cfg.token_grid
        zh, zw = self.cfg.zone
        d = self.cfg.hidden
        f = x.shape[1]
        x = x.reshape(-1, f, gh // zh, zh, gw // zw, zw, d).permute(0, 2, 4, 1, 3, 5, 6)
        return x.reshape(-1, f * zh * zw, d)

    def _from_zones(self, x: torch.Tensor, b: int, f: int) -> torch.Tensor:
        gh, gw = self.cfg.token_grid
        zh, zw = self.cfg.zone
        d = self.cfg.hidden
        x = x.reshape(b, gh // zh, gw // zw, f, zh, zw, d).permute(0, 3, 1, 4, 2, 5, 6)
        return x.reshape(b, f, gh * gw, d)

    def forward(self, x: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[1]
        h = self.norm1(x)
        hz = self._to_zones(h)
        ctx = torch.cat([hz, self._to_zones(self.norm1(mem))], dim=1)
        y = self.attn(hz, ctx)
        x = x + self._from_zones(y, b, t)
        return x + self.ffn(self.norm2(x))


# ----------------------------------------------------------------------------- decoder
class Vec2PatchAlternative(nn.Module):
    """Tokens -> feature map: 1x1 channel reduction, then a transpose convolution mirroring the
    patch embedding, centre-cropped to the encoder feature size."""

    def __init__(self, cfg: DSTTConfig):
        super().__init__()
        gh, gw = cfg.token_grid
        fh, fw = cfg.feat_size
        k, s = cfg.patch_kernel, cfg.patch_stride
        pad = cfg.patch_padding
        # largest padding whose output still covers the feature map; crop the rest
        while pad > 0 and (deconv_out(gh, k, s, pad) < fh or deconv_out(gw, k, s, pad) < fw):
            pad -= 1
        oh, ow = deconv_out(gh, k, s, pad), deconv_out(gw, k, s, pad)
        if oh < fh or ow < fw:
            raise ValueError(f"Vec2Patch: grid {gh}x{gw} cannot reconstruct {fh}x{fw}")
        self.grid, self.feat = (gh, gw), (fh, fw)
        self.crop = ((oh - fh) // 2, (ow - fw) // 2)
        mid = max(cfg.hidden // 2, cfg.channels)
        self.reduce = nn.Conv2d(cfg.hidden, mid, 1)
        self.up = nn.ConvTranspose2d(mid, cfg.channels, k, s, pad)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        gh, gw = self.grid
        x = tokens.transpose(1, 2).reshape(-1, tokens.shape[2], gh, gw)
        x = self.up(F.leaky_relu(self.reduce(x), 0.2))
        return center_crop(x, self.crop, self.feat)


def center_crop(x: torch.Tensor, offset: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """Explicit crop with constant bounds (exports as a plain Slice)."""
    return x[:, :, offset[0] : offset[0] + size[0], offset[1] : offset[1] + size[1]]


class Decoder(nn.Module):
    """90x160xC -> 360x640x3 through two stride-2 transpose convolutions, tanh output."""

    def __init__(self, c: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c // 2, c // 2, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.ConvTranspose2d(c // 2, c // 4, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c // 4, 3, 3, 1, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(x))


# ----------------------------------------------------------------------------- model
class DSTT(nn.Module):
    """forward(frames, masks, memory) -> (filled frames, new memory); see module docstring."""

    def __init__(self, cfg: DSTTConfig = DSTTConfig()):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        fh, fw = cfg.feat_size
        self.encoder = ConvEncoder(cfg.channels)
        self.hierarchy = HierarchyEncoder(cfg.channels, fh, fw)
        self.patch2vec = nn.Conv2d(
            cfg.channels // 4, cfg.hidden, cfg.patch_kernel, cfg.patch_stride, cfg.patch_padding
        )
        self.pos = nn.Parameter(torch.zeros(1, 1, cfg.seq_len, cfg.hidden))
        self.slot_pos = nn.Parameter(torch.zeros(1, cfg.memory_slots, 1, cfg.hidden))
        blocks: list[nn.Module] = []
        for i in range(cfg.num_blocks):
            kind = SpatialTransformerBlockWithMemory if i % 2 == 0 else TemporalTransformerBlockWithMemory
            blocks.append(kind(cfg))
        self.blocks = nn.ModuleList(blocks)
        self.vec2patch = Vec2PatchAlternative(cfg)
        self.decoder = Decoder(cfg.channels)
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.slot_pos, std=0.02)

    def init_memory(self, batch: int = 1, device: Any = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Empty memory for a new sequence (zeros, as in training)."""
        return torch.zeros(self.cfg.memory_shape(batch), device=device, dtype=dtype)

    def forward(
        self, frames: torch.Tensor, masks: torch.Tensor, memory: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        b, t = frames.shape[0], frames.shape[1]
        h, w = cfg.height, cfg.width
        n, d = cfg.seq_len, cfg.hidden
        x = torch.cat([frames, masks], dim=2).reshape(-1, 4, h, w)
        enc = self.encoder(x)  # (BT, C, fh, fw)
        tok = self.patch2vec(self.hierarchy(enc))  # (BT, D, gh, gw)
        tok = tok.flatten(2).transpose(1, 2).reshape(b, t, n, d) + self.pos
        new_mem = []
        for i, blk in enumerate(self.blocks):
            mem_i = memory[:, i] + self.slot_pos  # (B, S, N, D)
            new_mem.append(torch.cat([memory[:, i, 1:], tok[:, :1]], dim=1))  # drop oldest, append newest
            tok = blk(tok, mem_i)
        feat = enc + self.vec2patch(tok.reshape(-1, n, d))
        out = self.decoder(feat).reshape(b, t, 3, h, w)
        return out, torch.stack(new_mem, dim=1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def psnr_from_mse(mse: float, peak: float = 1.0) -> float:
    return float("inf") if mse <= 0 else 10.0 * math.log10(peak * peak / mse)
