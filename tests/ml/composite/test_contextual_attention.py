"""Contextual attention at any feature size: pad to the rate's grid, attend, crop back."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ml.composite.contextual_attention import ContextualAttention, choose_rate
from ml.composite.photorealistic import CompositorConfig, PhotorealisticNet, make_input


def _inputs(h: int, w: int, c: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    feats = torch.rand(1, c, h, w, generator=g)
    mask = torch.zeros(1, 1, h, w)
    mask[:, :, h // 3 : 2 * h // 3, w // 4 : w // 2] = 1.0
    return feats, mask


@pytest.mark.parametrize("size", [(27, 45), (30, 61), (17, 16), (270 // 8, 480 // 8)])
def test_odd_sizes_keep_shape_and_match_the_padded_frame(size: tuple[int, int]) -> None:
    h, w = size
    att = ContextualAttention(3, rate=2, max_tokens=120)  # small budget: rate 4 or 8 at these sizes
    rate = choose_rate(h, w, 2, 120)
    assert h % rate or w % rate, "the case must need padding"
    feats, mask = _inputs(h, w)
    out = att(feats, mask)
    assert out.shape == feats.shape and torch.isfinite(out).all()
    # the same frame padded by hand to the grid, attended at the rate its own size chose,
    # gives the same pixels where the frame is
    ph, pw = -h % rate, -w % rate
    padded = att._attend(F.pad(feats, (0, pw, 0, ph), mode="replicate"), F.pad(mask, (0, pw, 0, ph), mode="replicate"), rate)
    assert torch.equal(out, padded[:, :, :h, :w])
    # and the attention is real: the hole gets background features, not its own input
    hole = mask[0, 0] > 0
    assert not torch.allclose(out[0][:, hole], feats[0][:, hole])


def test_divisible_size_is_unpadded_and_content_outside_the_pad_is_stable() -> None:
    """A frame already on the grid takes no padding; cropping 3 rows off the bottom leaves the
    top rows' queries scoring the same keys except those of the last cell row."""
    att = ContextualAttention(3, rate=4, max_tokens=10_000)
    feats, mask = _inputs(32, 48)
    out = att(feats, mask)
    assert out.shape == (1, 6, 32, 48)
    cropped = att(feats[:, :, :29], mask[:, :, :29])
    assert cropped.shape == (1, 6, 29, 48)
    # background copied into the hole stays close: same keys but one border row of cells
    hole = mask[0, 0, :29] > 0
    d = (cropped[0][:, hole] - out[0][:, :29][:, hole]).abs().mean()
    assert d < 0.1 * out[0][:, :29][:, hole].abs().mean(), float(d)


def test_network_on_a_frame_whose_features_are_off_the_attention_grid() -> None:
    """The 1920x1080 failure at a small scale: features 34x60, rate grows to 4 -> 34 % 4 != 0."""
    torch.manual_seed(0)
    net = PhotorealisticNet(CompositorConfig(cnum=4, attention_max_tokens=200)).eval()
    h, w = 136, 240
    assert choose_rate(h // 4, w // 4, 2, 200) == 4 and (h // 4) % 4
    plate, mask = torch.rand(1, 3, h, w), torch.zeros(1, 1, h, w)
    mask[:, :, 40:90, 80:160] = 1
    with torch.no_grad():
        coef, fine, coarse = net(make_input(plate, mask, torch.rand(1, 3, h, w)))
    assert coef.shape == (1, 12, h, w) and fine.shape == (1, 3, h, w) and torch.isfinite(fine).all()
