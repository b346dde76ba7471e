"""Relighting samples on disk -> network tensors, and the patch dataset used for training.

A sample folder holds ``NNNNNN.exr`` + ``NNNNNN.json`` pairs written by
scripts/make_relight_data.py. Each sample becomes an 8-channel input stack
(distance, cosine, albedo RGB, normal XYZ), a 3-channel target (the key light's contribution
divided by its irradiance: the shading at unit irradiance), a per-pixel weight (alpha), and what
is needed to rebuild the full image (irradiance, ambient, the path-traced RGBA).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenEXR
import torch
from torch.utils.data import Dataset

from ml.io.exr import read_passes
from shotcache.errors import UserError
from ml.relight import maps
from ml.relight.unet import MULTIPLE

INPUT_CHANNELS = 8  # distance, cosine, albedo (3), normal (3)
TARGET_CLIP = 4.0  # highlights of near-mirror metals; keeps MSE from being ruled by a few pixels


class DataError(UserError, ValueError):
    """A sample folder that cannot be used; the message names the file."""


@dataclass
class Sample:
    name: str
    inputs: np.ndarray  # 8xHxW
    target: np.ndarray  # 3xHxW unit-irradiance shading of the key light
    weight: np.ndarray  # 1xHxW alpha
    irradiance: np.ndarray  # HxWx3
    ambient: np.ndarray  # HxWx3
    rgba: np.ndarray  # HxWx4 path-traced target (linear, straight alpha)
    passes: dict[str, np.ndarray]
    meta: dict


def list_samples(folder: str | os.PathLike[str]) -> list[Path]:
    """Sample EXRs (with their JSON) in a folder, sorted; a clear error when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; make data with scripts/make_relight_data.py --out {folder}")
    exrs = sorted(p for p in folder.glob("*.exr") if p.with_suffix(".json").is_file() and not p.name.startswith("."))
    if not exrs:
        raise DataError(f"{folder}: no relighting samples (NNNNNN.exr + NNNNNN.json); make them with scripts/make_relight_data.py")
    return exrs


def _read_key(path: Path) -> np.ndarray:
    exr = OpenEXR.File(str(path), separate_channels=True)
    ch = exr.channels()
    try:
        return np.stack([np.asarray(ch[f"key.{c}"].pixels, np.float32) for c in "RGB"], -1)
    except KeyError as exc:
        raise DataError(f"{path}: no 'key' layer (key light alone); re-make it with scripts/make_relight_data.py") from exc


def network_inputs(gb: maps.GBuffer, light: int) -> np.ndarray:
    """8xHxW float32 stack for one light of a G-buffer."""
    lm = gb.lights[light]
    return np.concatenate(
        [lm.distance[None], lm.cosine[None], gb.albedo.transpose(2, 0, 1), gb.normal.transpose(2, 0, 1)], axis=0
    ).astype(np.float32)


def load_sample(path: str | os.PathLike[str]) -> Sample:
    path = Path(path)
    passes = read_passes(path, want=("rgba", "albedo", "normal", "position"))
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    lighting = meta.get("lighting")
    if not lighting or not lighting.get("lights"):
        raise DataError(f"{path.with_suffix('.json')}: no lighting.lights")
    key = _read_key(path)
    rgba = passes["rgba"]
    gb = maps.gbuffer(passes["albedo"], passes["normal"], passes["position"], lighting, rgba[..., 3], lights="all")
    irr = gb.lights[0].irradiance
    target = np.where(irr > 1e-8, key / np.maximum(irr, 1e-8), 0.0)
    target = np.clip(target, 0.0, TARGET_CLIP).transpose(2, 0, 1).astype(np.float32)
    weight = np.clip(rgba[..., 3], 0, 1)[None].astype(np.float32)
    return Sample(path.stem, network_inputs(gb, 0), target, weight, irr, gb.ambient, rgba, passes, meta)


def choose_patch_size(height: int, width: int, patches_per_image: int = 4, minimum: int = 32) -> int:
    """Largest multiple of 8 so that about ``patches_per_image`` patches tile the image."""
    side = math.sqrt(height * width / max(1, patches_per_image))
    limit = min(height, width) // MULTIPLE * MULTIPLE
    p = int(side) // MULTIPLE * MULTIPLE
    return int(max(min(minimum, limit), min(p, limit)))


def split_names(paths: list[Path], val_fraction: float) -> tuple[list[Path], list[Path]]:
    """Deterministic hold-out: every k-th sample goes to validation."""
    if val_fraction <= 0 or len(paths) < 2:
        return paths, []
    k = max(2, int(round(1.0 / val_fraction)))
    val = [p for i, p in enumerate(paths) if i % k == k - 1]
    train = [p for i, p in enumerate(paths) if i % k != k - 1]
    return train, val


class PatchRelightDataset(Dataset):
    """Random (train) or grid (eval) patches of the samples, sized from the image size.

    Random patches are centred on a surface pixel most of the time, so empty background does
    not dominate small objects' images.
    """

    def __init__(self, samples: list[Sample], patches_per_image: int = 4, random: bool = True, seed: int = 0):
        if not samples:
            raise DataError("no samples to make patches from")
        self.samples = samples
        h, w = samples[0].target.shape[1:]
        self.patch = choose_patch_size(h, w, patches_per_image)
        self.random = random
        self.rng = np.random.default_rng(seed)
        self.grid = []
        for si, s in enumerate(samples):
            sh, sw = s.target.shape[1:]
            ys = list(range(0, sh - self.patch + 1, self.patch)) or [0]
            xs = list(range(0, sw - self.patch + 1, self.patch)) or [0]
            self.grid += [(si, y, x) for y in ys for x in xs]
        self.valid_pixels = [np.argwhere(s.weight[0] > 0.5) for s in samples]

    def __len__(self) -> int:
        return len(self.grid)

    def _random_corner(self, si: int) -> tuple[int, int]:
        s = self.samples[si]
        sh, sw = s.target.shape[1:]
        p = self.patch
        pix = self.valid_pixels[si]
        if len(pix) and self.rng.random() < 0.85:
            cy, cx = pix[self.rng.integers(len(pix))]
            y, x = int(cy) - p // 2, int(cx) - p // 2
        else:
            y, x = int(self.rng.integers(0, sh - p + 1)), int(self.rng.integers(0, sw - p + 1))
        return int(np.clip(y, 0, sh - p)), int(np.clip(x, 0, sw - p))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        si, y, x = self.grid[i]
        if self.random:
            y, x = self._random_corner(si)
        s, p = self.samples[si], self.patch
        sl = (slice(None), slice(y, y + p), slice(x, x + p))
        inp, tgt, wt = s.inputs[sl], s.target[sl], s.weight[sl]
        if self.random and self.rng.random() < 0.5:  # flips keep n.l, distances and albedo consistent
            inp, tgt, wt = inp[..., ::-1], tgt[..., ::-1], wt[..., ::-1]
        return (torch.from_numpy(np.ascontiguousarray(inp)), torch.from_numpy(np.ascontiguousarray(tgt)), torch.from_numpy(np.ascontiguousarray(wt)))


def split_inputs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Nx8xHxW stack -> the network's four inputs (distance, cosine, albedo, normals)."""
    return x[:, 0:1], x[:, 1:2], x[:, 2:5], x[:, 5:8]
