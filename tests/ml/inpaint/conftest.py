"""Inpaint test fixtures: a synthetic panning-camera clip and tiny DSTT configs."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ml.inpaint.dstt import DSTTConfig

torch.set_num_threads(1)

LOWRES = DSTTConfig(height=96, width=160, channels=32, hidden=32, heads=2, num_blocks=2, zone=(2, 2))
"""96x160 -> 24x40 features -> 8x14 tokens: the same arithmetic as 360x640, fast on CPU."""


def panning_clip(n: int = 10, h: int = 64, w: int = 96, step: int = 4, seed: int = 0) -> list[np.ndarray]:
    """A static textured world seen by a camera panning ``step`` px per frame (float [0,1])."""
    rng = np.random.default_rng(seed)
    ww = w + step * n + 8
    coarse = rng.random((h // 4 + 2, ww // 4 + 2, 3)).astype(np.float32)
    world = cv2.resize(coarse, (ww, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.random((h, ww, 3)).astype(np.float32) * 0.15
    world = np.clip(0.85 * world + fine, 0, 1)
    return [world[:, step * t : step * t + w].copy() for t in range(n)]


@pytest.fixture()
def clip() -> list[np.ndarray]:
    return panning_clip()


@pytest.fixture()
def static_hole() -> np.ndarray:
    m = np.zeros((64, 96), bool)
    m[20:44, 36:64] = True
    return m


def hole_psnr(out: list[np.ndarray], gt: list[np.ndarray], holes: list[np.ndarray]) -> float:
    se = sum(float(((o - g)[m] ** 2).sum()) for o, g, m in zip(out, gt, holes))
    n = sum(int(m.sum()) * gt[0].shape[2] for m in holes)
    return 10 * np.log10(1.0 / (se / n))
