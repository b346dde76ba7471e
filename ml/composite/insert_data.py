"""Truth sets of `vanelia eval insert` as training samples for the learned engines.

The sets are made by the Blender side (addon/truth_scenes.py through the ``insert-truth``
batch step, or ``vanelia eval insert``, which caches them); this module only reads them, so
training needs no Blender. Each sample is one frame: the plate without the product, the
path-traced truth with it, the product's alpha, its camera and placement, and the set's true
lights (what a relighter or a compositor should reproduce).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ml.io.images import read_linear
from shotcache.schema import FrameCamera, UserError


@dataclass
class InsertSample:
    set_name: str
    frame: int
    plate: np.ndarray  # HxWx3 linear, no product
    truth: np.ndarray  # HxWx3 linear, with the product (Cycles)
    alpha: np.ndarray  # HxW product coverage
    camera: FrameCamera
    product_matrix: list[list[float]]
    light: dict


def set_dirs(cache: str | Path) -> list[Path]:
    """Complete sets (those with a set.json) in a cache folder, sorted."""
    root = Path(cache)
    found = sorted(p.parent for p in root.glob("*/set.json"))
    if not found:
        raise UserError(f"{root}: no truth sets; make them with `vanelia eval insert --cache {root}`")
    return found


def iter_insert_samples(cache: str | Path, sets: list[str] | None = None) -> Iterator[InsertSample]:
    """Yield every frame of every (chosen) set in the cache."""
    from shotcache.tracks import load_transforms

    for sd in set_dirs(cache):
        if sets and not any(sd.name.startswith(s) for s in sets):
            continue
        meta = json.loads((sd / "set.json").read_text(encoding="utf-8"))
        cams = load_transforms(sd / "transforms.json").frames
        for f in sorted(cams):
            mask = cv2.imread(str(sd / "mask" / f"{f:06d}.png"), cv2.IMREAD_UNCHANGED)
            if mask is None:
                raise UserError(f"{sd / 'mask'}: frame {f} missing; delete {sd} and generate it again")
            yield InsertSample(sd.name, f, read_linear(sd / "plate" / f"{f:06d}.png"), read_linear(sd / "truth" / f"{f:06d}.png"),
                               mask[..., 3].astype(np.float32) / 255.0, cams[f], meta["product_matrix"], meta["light"])
