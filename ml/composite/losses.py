"""Training losses for the compositor: L1, a structural or perceptual term, optional WGAN-GP.

* ``masked_l1``: L1 normalised by the object area (what fMSE measures), plus a small
  whole-image term.
* the structural (MS-SSIM) and VGG perceptual terms are shared with the relighter: ml/losses.py.
* ``PatchCritic`` + ``gradient_penalty``: WGAN-GP with the penalty's gradient norm taken over
  the foreground pixels only (the region the generator changes, as in DeepFill).
"""
from __future__ import annotations

import torch
from torch import nn



def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, whole_weight: float = 0.1) -> torch.Tensor:
    """Mean |pred - target| over the object region (per image), plus a little over the image."""
    err = (pred - target).abs()
    area = mask.sum(dim=(1, 2, 3)).clamp(min=1.0) * pred.shape[1]
    fg = (err * mask).sum(dim=(1, 2, 3)) / area
    return fg.mean() + whole_weight * err.mean()


class PatchCritic(nn.Module):
    """WGAN critic on (image, mask): strided convs to a patch score map."""

    def __init__(self, cnum: int = 32):
        super().__init__()
        c = cnum
        self.net = nn.Sequential(
            nn.Conv2d(4, c, 5, 2, 2), nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 5, 2, 2), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 5, 2, 2), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * c, 1, 3, 1, 1),
        )

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([image, mask], dim=1)).mean(dim=(1, 2, 3))


def gradient_penalty(critic: PatchCritic, real: torch.Tensor, fake: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """WGAN-GP on interpolates; the gradient norm is computed over the foreground pixels."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    inter = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    score = critic(inter, mask)
    (grad,) = torch.autograd.grad(score.sum(), inter, create_graph=True)
    norm = torch.sqrt(((grad * mask) ** 2).sum(dim=(1, 2, 3)) + 1e-8)
    return ((norm - 1.0) ** 2).mean()
