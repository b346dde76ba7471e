"""Image losses shared by the learned engines' training (compositor, relighter).

* ``ms_ssim`` / ``ms_ssim_loss``: multi-scale SSIM, the structural term used when no VGG
  weights are given (weights are never downloaded).
* ``VGGPerceptual``: VGG16 feature distance from a *local* weights file (a state dict with
  torchvision's ``features.N.weight`` names, .pth or .safetensors).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def _gauss_window(size: int, sigma: float, channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def _ssim_parts(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c = x.shape[1]
    c1, c2 = 0.01**2, 0.03**2
    mu_x = F.conv2d(x, win, groups=c)
    mu_y = F.conv2d(y, win, groups=c)
    sxx = F.conv2d(x * x, win, groups=c) - mu_x**2
    syy = F.conv2d(y * y, win, groups=c) - mu_y**2
    sxy = F.conv2d(x * y, win, groups=c) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (lum * cs).mean(dim=(1, 2, 3)), cs.mean(dim=(1, 2, 3))


def ms_ssim(x: torch.Tensor, y: torch.Tensor, window: int = 7, sigma: float = 1.5, max_scales: int = 4) -> torch.Tensor:
    """Multi-scale SSIM per image (images in [0, 1]); as many scales as the size allows."""
    weights = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333], device=x.device, dtype=x.dtype)
    win = _gauss_window(window, sigma, x.shape[1], x.device, x.dtype)
    scales = 1
    while scales < max_scales and min(x.shape[-2:]) // (2**scales) >= window:
        scales += 1
    w = weights[:scales] / weights[:scales].sum()
    vals = []
    for s in range(scales):
        ssim, cs = _ssim_parts(x, y, win)
        vals.append((ssim if s == scales - 1 else cs).clamp(min=1e-4))
        if s < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    stacked = torch.stack(vals, dim=1)
    return torch.prod(stacked ** w[None, :], dim=1)


def ms_ssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 1.0 - ms_ssim(pred.clamp(0, 1), target).mean()


_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
_VGG_TAPS = (3, 8, 15, 22)  # relu1_2, relu2_2, relu3_3, relu4_3 in torchvision's features numbering


class VGGPerceptual(nn.Module):
    """VGG16 feature L1 up to relu{depth}_{2|3}, with weights loaded from a local file only."""

    def __init__(self, weights_path: str | os.PathLike[str], depth: int = 3):
        super().__init__()
        self.taps = _VGG_TAPS[:depth]
        cfg = _VGG16_CFG[: (3, 6, 10, 14)[depth - 1]]
        layers: list[nn.Module] = []
        cin = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: VGG16 weights not found (give a local torchvision-style VGG16 state dict)")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        own = {k: v for k, v in state.items() if k.startswith("features.") and int(k.split(".")[1]) < len(layers)}
        missing = set(self.state_dict()) - {k for k in own}
        if missing:
            raise ValueError(f"{path}: not a VGG16 state dict (missing {sorted(missing)[:3]} ...)")
        self.load_state_dict({k: v for k, v in own.items() if k in self.state_dict()})
        for p in self.parameters():
            p.requires_grad_(False)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (pred - self.mean) / self.std
        y = (target - self.mean) / self.std
        loss = pred.new_zeros(())
        for i, layer in enumerate(self.features):
            x, y = layer(x), layer(y)
            if i in self.taps:
                loss = loss + (x - y).abs().mean()
            if i >= self.taps[-1]:
                break
        return loss
