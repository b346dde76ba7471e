"""Shots for the farm tests: small, built without Blender (ml.pipeline.synthetic) unless a
test needs the real render."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def masked_shot(root: Path, frames: int = 12, size: tuple[int, int] = (64, 40)) -> Path:
    """A synthetic shot with a moving removal mask on every frame (so inpaint has work)."""
    from ml.io.images import write_mask
    from ml.pipeline.synthetic import make_shot

    paths = make_shot(root, frames=frames, size=size)
    w, h = size
    for f in paths.load_shot().frames:
        m = np.zeros((h, w), np.float32)
        x0 = 8 + 2 * f
        m[h // 2 - 5 : h // 2 + 5, x0 : x0 + 10] = 1
        write_mask(paths.mask_frame(f), m)
    return root


def read_version(shot: Path, version: str) -> dict[int, bytes]:
    """Decoded pixels of a version's frames, by frame number (compared bit for bit)."""
    from ml.io.images import read_rgb8

    out = {}
    for p in sorted((shot / version / "frames").glob("*.png")):
        out[int(p.stem)] = read_rgb8(p).tobytes()
    return out
