"""The relighting network: a dilated residual U-Net with a squeeze-and-excitation bridge.

Per ../shared/reference/relighting-network.md: separate input convolutions for the distance
(1 ch), cosine (1 ch), albedo (n ch) and normal (3 ch) maps; an encoder of residual blocks with
dilations 1, 2, 4, 8 and 128/256/512/1024 channels with max-pooling between; an SE attention
bridge; a decoder of residual blocks fed by skip connections and bilinear upsampling; a 1x1
convolution to RGB.

``width`` scales every channel count, so a 1/8-width model (a few hundred thousand parameters)
trains on a CPU while the full-width default (about 40 M) is for a GPU. The config travels in the
checkpoint's metadata, so a checkpoint always rebuilds the network it was trained with.

The network predicts the shading of one light at unit irradiance (see ml/relight/maps.py):
the engine multiplies by the light's irradiance and adds the ambient term, which keeps the
learned part independent of how strong or what colour the light is.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ml.checkpoint import CheckpointError, check_arch, config_of, load_weights, read_metadata, save

BASE_ENCODER = (128, 256, 512, 1024)
BASE_INPUTS = (64, 64, 32, 32)  # distance, cosine, albedo, normals
DILATIONS = (1, 2, 4, 8)
MULTIPLE = 8
"""Input height and width must be multiples of this (three 2x poolings); callers pad."""


@dataclass(frozen=True)
class UNetConfig:
    albedo_channels: int = 3
    width: float = 1.0
    se_reduction: int = 16
    lambert_skip: bool = True
    """Add albedo x max(cosine, 0) to the output: the network learns only what Lambert misses
    (shadows, ambient light bounced, highlights), so a short CPU run starts from the analytic
    answer instead of from black. The output conv starts at zero, i.e. at exactly Lambert."""

    def scaled(self, n: int) -> int:
        return max(4, int(round(n * self.width)))

    @property
    def encoder_channels(self) -> tuple[int, ...]:
        return tuple(self.scaled(c) for c in BASE_ENCODER)

    @property
    def input_channels(self) -> tuple[int, ...]:
        return tuple(self.scaled(c) for c in BASE_INPUTS)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "UNetConfig":
        data: dict[str, Any] = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class ResidualBlock2D(nn.Module):
    """conv-BN-ReLU-conv-BN (dilated) plus a 1x1 projection shortcut when widths differ."""

    def __init__(self, cin: int, cout: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity() if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class AttentionBlock2D(nn.Module):
    """Squeeze-and-excitation: global pooling -> two FC layers -> per-channel gates."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * w[:, :, None, None]


class RelightUNet(nn.Module):
    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or UNetConfig()
        cd, cc, ca, cn = cfg.input_channels
        self.conv_distances = nn.Conv2d(1, cd, 3, padding=1)
        self.conv_cosines = nn.Conv2d(1, cc, 3, padding=1)
        self.conv_albedo = nn.Conv2d(cfg.albedo_channels, ca, 3, padding=1)
        self.conv_normals = nn.Conv2d(3, cn, 3, padding=1)
        e1, e2, e3, e4 = cfg.encoder_channels
        self.encoder1 = ResidualBlock2D(cd + cc + ca + cn, e1, DILATIONS[0])
        self.encoder2 = ResidualBlock2D(e1, e2, DILATIONS[1])
        self.encoder3 = ResidualBlock2D(e2, e3, DILATIONS[2])
        self.encoder4 = ResidualBlock2D(e3, e4, DILATIONS[3])
        self.bridge = AttentionBlock2D(e4, cfg.se_reduction)
        self.decoder3 = ResidualBlock2D(e4 + e3, e3)
        self.decoder2 = ResidualBlock2D(e3 + e2, e2)
        self.decoder1 = ResidualBlock2D(e2 + e1, e1)
        self.final_conv = nn.Conv2d(e1, 3, 1)
        if cfg.lambert_skip:
            nn.init.zeros_(self.final_conv.weight)
            if self.final_conv.bias is not None:
                nn.init.zeros_(self.final_conv.bias)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)

    def forward(self, distances: torch.Tensor, cosines: torch.Tensor, albedo: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
        """Inputs Nx1xHxW, Nx1xHxW, NxCxHxW, Nx3xHxW (H, W multiples of 8) -> Nx3xHxW."""
        x = torch.cat(
            [
                F.relu(self.conv_distances(distances)),
                F.relu(self.conv_cosines(cosines)),
                F.relu(self.conv_albedo(albedo)),
                F.relu(self.conv_normals(normals)),
            ],
            dim=1,
        )
        s1 = self.encoder1(x)
        s2 = self.encoder2(F.max_pool2d(s1, 2))
        s3 = self.encoder3(F.max_pool2d(s2, 2))
        b = self.bridge(self.encoder4(F.max_pool2d(s3, 2)))
        d3 = self.decoder3(torch.cat([self._up(b), s3], dim=1))
        d2 = self.decoder2(torch.cat([self._up(d3), s2], dim=1))
        d1 = self.decoder1(torch.cat([self._up(d2), s1], dim=1))
        out = self.final_conv(d1)
        if self.config.lambert_skip:
            base = albedo[:, :3] if albedo.shape[1] >= 3 else albedo.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
            out = out + base * cosines.clamp_min(0.0)
        return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------
# checkpoints (safetensors; the config rides in the metadata)
# ---------------------------------------------------------------------------

CHECKPOINT_KIND = "vanelia.relight.unet"
HINT = "give one written by `vanelia train relight`"


def save_checkpoint(path: Any, model: RelightUNet, extra: dict[str, str] | None = None) -> Any:
    """Write weights + config atomically (ml.checkpoint): a crash never leaves half a file."""
    return save(path, model, CHECKPOINT_KIND, model.config.to_json(), extra)


def load_checkpoint(path: Any, expect: UNetConfig | None = None, map_location: str = "cpu") -> tuple[RelightUNet, dict[str, str]]:
    """Rebuild the network a checkpoint was trained with; refuse other files with a clear reason."""
    meta = read_metadata(path, "relight checkpoint")
    check_arch(path, meta, CHECKPOINT_KIND, "relight U-Net checkpoint", HINT)
    config = config_of(path, meta, UNetConfig.from_json, "relight U-Net")
    if expect is not None and expect != config:
        raise CheckpointError(f"{path}: checkpoint was trained with {config}, but {expect} was asked for; "
                              "drop the width option or give a matching checkpoint")
    model = load_weights(path, RelightUNet(config), f"relight U-Net {config}", map_location)
    model.eval()
    return model, meta

