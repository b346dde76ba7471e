"""The compositor's frame work in torch on the device matches the numpy/OpenCV path."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.composite.photorealistic import CompositorConfig, PhotorealisticNet
from ml.composite.photorealistic_device import composite_on_device
from ml.composite.photorealistic_engine import composite_photorealistic, torch_coef_fn


@pytest.fixture(scope="module")
def net() -> PhotorealisticNet:
    """An untrained net returns the object unchanged (zero head): perturb the heads so the
    colour transform varies over the crop and the resampling differences show."""
    torch.manual_seed(0)
    model = PhotorealisticNet(CompositorConfig(cnum=8)).eval()
    with torch.no_grad():
        for head in (model.coarse.head, model.fine.head):
            head.weight.normal_(0, 0.02)
            head.bias.normal_(0, 0.05)
    return model


def _frame(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    plate = rng.random((h, w, 3)).astype(np.float32) * 0.8
    rgba = np.zeros((h, w, 4), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = ((yy - h * 0.55) / (h * 0.25)) ** 2 + ((xx - w * 0.4) / (w * 0.2)) ** 2 < 1
    rgba[..., :3] = rng.random((h, w, 3)) * 0.9
    rgba[disc, 0] = 1.6  # an HDR highlight channel
    rgba[..., 3] = disc
    shadow = np.clip(1.0 - 0.5 * disc.astype(np.float32) + 0.1, 0, 1)
    return plate, rgba, shadow


@pytest.mark.parametrize("size", [(120, 200), (97, 161)])
def test_device_path_matches_numpy_path(net, size) -> None:
    plate, rgba, shadow = _frame(*size)
    ref = composite_photorealistic(torch_coef_fn(net), plate, rgba, shadow=shadow, net_size=64, multiple=8)
    out = composite_on_device(net, plate, rgba, shadow, net_size=64, multiple=8, device="cpu").numpy()
    assert out.shape == ref.shape
    obj = rgba[..., 3] > 0
    assert np.array_equal(out[~obj], ref[~obj]) or np.abs(out[~obj] - ref[~obj]).max() < 1e-6  # plate x shadow
    diff = np.abs(out[obj] - ref[obj])
    assert diff.mean() < 2e-3 and diff.max() < 0.05, (diff.mean(), diff.max())
    # and the network really changed the object (so the comparison means something)
    plain = plate * shadow[..., None] * (1 - rgba[..., 3:]) + rgba[..., :3] * rgba[..., 3:]
    assert np.abs(out[obj] - plain[obj]).mean() > 0.01


def test_nothing_opaque_is_a_plain_over(net) -> None:
    plate, rgba, _ = _frame(64, 96)
    rgba[..., 3] *= 0.3
    out = composite_on_device(net, plate, rgba, device="cpu").numpy()
    ref = composite_photorealistic(torch_coef_fn(net), plate, rgba)
    assert np.abs(out - ref).max() < 1e-6
