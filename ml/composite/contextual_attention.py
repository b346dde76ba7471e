"""Contextual attention: fill the object region's features with matching background patches.

DeepFill-style attention, written only with ops that export to ONNX (pad, slice, matmul,
softmax, pixel (un)shuffle) so the fine generator exports as one graph:

1. Matching runs on a grid ``rate`` times coarser than the features (average pooling):
   every 3x3 patch of that grid is a key; keys that touch the object region are invalid,
   so only background patches can be copied.
2. Query patches (3x3, everywhere) are scored against the L2-normalised keys (cosine-like
   similarity), scaled by ``softmax_scale`` and soft-maxed over the valid keys.
3. What is copied is the *raw* rate x rate block of full-resolution features under each
   key (space-to-depth), so the pasted texture keeps the feature map's resolution; the
   result goes back with depth-to-space.

Why the rate is chosen per input size: the score matrix is (tokens x tokens); keeping the
matching grid at most ``max_tokens`` cells bounds memory for large inputs (a 1920x1080
frame processed natively) while network-size inputs use the trained rate.

Any feature size: when H or W is not a multiple of the chosen rate (1920x1080 gives 270x480
features and rate 4), features and mask are padded on the bottom/right by edge replication
to the next multiple, attended, and the output cropped back. Replication (not zeros) keeps the
pooled cells on the border as bright as their real pixels; the result is exactly what the
replicate-padded frame would give, cropped (tests/ml/composite/test_contextual_attention.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def extract_patches(x: torch.Tensor, ksize: int = 3) -> torch.Tensor:
    """(B, C, H, W) -> (B, C*ksize*ksize, H*W): every ksize x ksize neighbourhood, zero-padded.

    Built from shifted slices (not ``unfold``) so the ONNX graph stays plain.
    """
    b, c, h, w = x.shape
    pad = ksize // 2
    xp = F.pad(x, (pad, pad, pad, pad))
    shifted = [xp[:, :, dy : dy + h, dx : dx + w] for dy in range(ksize) for dx in range(ksize)]
    return torch.cat(shifted, dim=1).reshape(b, c * ksize * ksize, h * w)


def choose_rate(height: int, width: int, base_rate: int, max_tokens: int) -> int:
    """Smallest power-of-two multiple of ``base_rate`` keeping the matching grid <= max_tokens."""
    rate = base_rate
    while (height // rate) * (width // rate) > max_tokens and height // (rate * 2) >= 4 and width // (rate * 2) >= 4:
        rate *= 2
    return rate


class ContextualAttention(nn.Module):
    """Copy background feature patches into the masked region (see module docstring)."""

    def __init__(self, ksize: int = 3, rate: int = 2, softmax_scale: float = 10.0, max_tokens: int = 8192):
        super().__init__()
        self.ksize = ksize
        self.rate = rate
        self.softmax_scale = softmax_scale
        self.max_tokens = max_tokens

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """features (B, C, H, W); mask (B, 1, H, W) with 1 = object region; any H, W."""
        h, w = features.shape[-2:]
        rate = choose_rate(h, w, self.rate, self.max_tokens)
        ph, pw = -h % rate, -w % rate
        if ph or pw:  # pad to the rate's grid (see module docstring), attend, crop back
            features = F.pad(features, (0, pw, 0, ph), mode="replicate")
            mask = F.pad(mask, (0, pw, 0, ph), mode="replicate")
            return self._attend(features, mask, rate)[:, :, :h, :w]
        return self._attend(features, mask, rate)

    def _attend(self, features: torch.Tensor, mask: torch.Tensor, rate: int) -> torch.Tensor:
        """The attention proper, on features whose size is a multiple of ``rate``."""
        b, c, h, w = features.shape
        hs, ws = h // rate, w // rate
        small = F.avg_pool2d(features, rate) if rate > 1 else features
        hole = F.max_pool2d(mask, rate) if rate > 1 else mask
        # a key is valid only if its whole 3x3 patch lies in the background
        hole_patch = F.max_pool2d(hole, self.ksize, stride=1, padding=self.ksize // 2)
        valid = (1.0 - hole_patch).reshape(b, 1, hs * ws)  # over keys

        patches = extract_patches(small, self.ksize)  # (B, C*k*k, N)
        keys = patches / torch.sqrt((patches * patches).sum(dim=1, keepdim=True) + 1e-4)
        scores = torch.matmul(patches.transpose(1, 2), keys)  # (B, Nq, Nk)
        scores = scores * self.softmax_scale
        scores = scores * valid + (valid - 1.0) * 1e4
        attn = torch.softmax(scores, dim=-1) * valid  # all-hole input -> zeros, not NaN

        values = F.pixel_unshuffle(features, rate) if rate > 1 else features  # (B, C*r*r, hs, ws)
        values = values.reshape(b, c * rate * rate, hs * ws)
        out = torch.matmul(values, attn.transpose(1, 2))  # (B, C*r*r, Nq)
        out = out.reshape(b, c * rate * rate, hs, ws)
        return F.pixel_shuffle(out, rate) if rate > 1 else out
