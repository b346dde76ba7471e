"""Training data: 5-frame sequences from any folders of frames or videos the user gives.

A data root may be a folder of frames (one clip), a folder of clip folders, a folder of
videos, or a single video. Frames are resized to cover the network size and centre/random
cropped; holes come from the mask curriculum (ml.inpaint.masks). Nothing is downloaded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ml.io.images import IMAGE_EXTS, list_frames, read_rgb8
from ml.io.video import VIDEO_EXTS, iter_frames

from .masks import sequence_masks


@dataclass
class Clip:
    name: str
    frames: list[Path] | None = None  # image files, read lazily
    video: list[np.ndarray] | None = None  # decoded (resized) video frames

    def __len__(self) -> int:
        return len(self.frames) if self.frames is not None else len(self.video or [])

    def read(self, i: int) -> np.ndarray:
        if self.frames is not None:
            return read_rgb8(self.frames[i])
        assert self.video is not None
        return self.video[i]


def cover_resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Scale so the image covers h x w (keeps the aspect)."""
    s = max(h / img.shape[0], w / img.shape[1])
    nh, nw = max(h, int(np.ceil(img.shape[0] * s))), max(w, int(np.ceil(img.shape[1] * s)))
    if (nh, nw) == img.shape[:2]:
        return img
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def find_clips(root: str | os.PathLike[str], size: tuple[int, int], max_video_frames: int = 600) -> list[Clip]:
    root = Path(root)
    if root.is_file() and root.suffix.lower() in VIDEO_EXTS:
        return [_video_clip(root, size, max_video_frames)]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: training data must be a folder of frames, of clip folders, or of videos")
    clips: list[Clip] = []
    images = [p for p in list_frames(root, IMAGE_EXTS) if p.suffix.lower() != ".exr"]
    if images:
        clips.append(Clip(str(root), frames=images))
    for child in sorted(root.iterdir()):
        if child.is_dir():
            clips.extend(find_clips(child, size, max_video_frames))
        elif child.suffix.lower() in VIDEO_EXTS:
            clips.append(_video_clip(child, size, max_video_frames))
    return clips


def _video_clip(path: Path, size: tuple[int, int], max_frames: int) -> Clip:
    frames = []
    for img in iter_frames(path):
        frames.append(cover_resize(img, *size))
        if len(frames) >= max_frames:
            break
    return Clip(str(path), video=frames)


class SequenceDataset(Dataset):
    """Items: frames (T,3,H,W) in [-1, 1], masks (T,1,H,W) in {0,1}; ``train`` adds random
    crops / flips and fresh masks, otherwise crops and masks are fixed by the seed."""

    def __init__(
        self, roots: list[str | os.PathLike[str]], size: tuple[int, int] = (360, 640), seq_len: int = 5,
        train: bool = True, seed: int = 0, split: tuple[float, float] = (0.0, 1.0), step: int = 1,
    ):
        self.size, self.seq_len, self.train, self.seed = size, seq_len, train, seed
        self.clips: list[Clip] = []
        for r in roots:
            self.clips.extend(c for c in find_clips(r, size) if len(c) >= seq_len)
        if not self.clips:
            raise ValueError(f"no clip with at least {seq_len} frames under {', '.join(map(str, roots))}")
        self.index: list[tuple[int, int]] = []
        for ci, c in enumerate(self.clips):
            starts = list(range(0, len(c) - seq_len + 1, step))
            lo, hi = int(len(starts) * split[0]), int(np.ceil(len(starts) * split[1]))
            self.index.extend((ci, s) for s in starts[lo:hi])
        if not self.index:
            raise ValueError(f"the split {split} leaves no sequences in {', '.join(map(str, roots))}")
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        ci, start = self.index[i]
        clip = self.clips[ci]
        h, w = self.size
        rng = np.random.default_rng((self.seed, i, self.epoch if self.train else 0))
        imgs = [cover_resize(clip.read(start + t), h, w) for t in range(self.seq_len)]
        H, W = imgs[0].shape[:2]
        y0 = int(rng.integers(0, H - h + 1)) if self.train else (H - h) // 2
        x0 = int(rng.integers(0, W - w + 1)) if self.train else (W - w) // 2
        flip = self.train and rng.random() < 0.5
        seq = np.stack([im[y0 : y0 + h, x0 : x0 + w] for im in imgs]).astype(np.float32) / 127.5 - 1.0
        if flip:
            seq = seq[:, :, ::-1]
        masks = np.stack(sequence_masks(self.seq_len, h, w, rng)).astype(np.float32)
        frames = torch.from_numpy(np.ascontiguousarray(seq.transpose(0, 3, 1, 2)))
        return frames, torch.from_numpy(masks[:, None])
