"""Tiny random diffusion models built once per session (a few MB, a few seconds)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


class _TinyModels:
    """Builds each tiny model folder on first use (an xdist worker builds only what its files need)."""

    def __init__(self, root):
        self.root = root
        self._built = {}

    def __getitem__(self, name):
        from ml.diffuse import tiny

        if name not in self._built:
            r = self.root
            builders = {
                "sd": lambda: tiny.build_sd(r / "sd"),
                "sd_inpaint": lambda: tiny.build_sd(r / "sd_inpaint", inpaint_unet=True),
                "sdxl": lambda: tiny.build_sd(r / "sdxl", sdxl=True, controlnet=False),
                "sd3": lambda: tiny.build_sd3(r / "sd3"),
                "clipseg": lambda: tiny.build_clipseg(r / "clipseg"),
            }
            self._built[name] = builders[name]()
            if name == "sd":
                tiny.build_iclight_offset(r / "sd" / "iclight" / "offset.safetensors", r / "sd")
        return self._built[name]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    return _TinyModels(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture
def scene():
    """A 30x45 frame (sizes not multiples of anything): plate, product RGBA, passes, composite."""
    from ml.stages.base import FrameState

    rs = np.random.RandomState(0)
    h, w = 30, 45
    plate = (rs.rand(h, w, 3) * 0.5).astype(np.float32)
    rgba = np.zeros((h, w, 4), np.float32)
    rgba[12:20, 18:30] = [0.8, 0.2, 0.1, 1.0]
    depth = np.full((h, w), 1e10, np.float32)
    depth[12:20, 18:30] = np.linspace(2.0, 3.0, 12)[None]
    normal = np.zeros((h, w, 3), np.float32)
    normal[12:20, 18:30] = [0.0, 0.0, 1.0]
    shadow = np.ones((h, w, 3), np.float32)
    shadow[20:23, 16:32] = 0.6
    comp = plate * shadow
    comp[12:20, 18:30] = rgba[12:20, 18:30, :3]
    passes = {"depth": depth, "normal": normal, "shadow_catcher": shadow}
    return FrameState(0, plate, rgba, passes, composite=comp.astype(np.float32))
