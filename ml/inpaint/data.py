"""The video-inpainting data engine: sequences of ``seq_len`` frames with holes, for DSTT.

Sources (mixed in one pool):

* **clips**: folders of frames, folders of clip folders, videos (the user's footage, and the
  project's own Blender renders: ``vanelia demo`` / the demo set writes ``frames/NNNNNN.png``
  along a moving camera, which is just a folder of frames);
* **stills**: large photographs turned into video by a virtual camera path with parallax
  layers (ml.inpaint.synthetic).

Holes: moving object silhouettes or the curriculum's rectangles / strokes
(ml.inpaint.masks.training_masks).

Why it is built this way (the trainer was input-bound on a GPU):

* **decode once**: every clip and still is decoded a single time, resized to the working size
  (``FrameStore``); with ``cache_dir`` the decoded arrays are also kept on disk as ``.npy``
  and memory-mapped, so loader workers share the pages and a second run decodes nothing;
* **uint8 all the way to the device**: items are uint8 tensors (4x less to copy and pin than
  float32); ``to_network`` converts on the device;
* **deterministic by position**: item ``k`` of the endless stream is a pure function of
  (seed, k): epoch ``k // N`` picks a seeded permutation, and the item's crop, flip, stride
  and holes come from a generator seeded by (seed, epoch, index). Workers, their number and
  a resume in the middle of an epoch (``StreamSampler(start=...)``) do not change what a
  step sees.

PyAV is imported only when a video is decoded (ml.io.video); folders of PNG/JPEG need none.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ml.io.images import MASK_DIR_NAMES, list_frames, read_rgb8
from ml.io.video import iter_frames
from shotcache.frames import RGB8_EXTS, VIDEO_EXTS

from .masks import training_masks
from .synthetic import PathOptions, camera_path_clip

# ----------------------------------------------------------------------------- discovery
@dataclass(frozen=True)
class ClipRef:
    """A clip on disk: image files in frame order, or one video."""

    name: str
    files: tuple[Path, ...] = ()
    video: Path | None = None

    def stamp(self) -> list[Any]:
        """What the decoded cache depends on: every file's name, size and mtime."""
        paths = [self.video] if self.video else list(self.files)
        return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths if p is not None]


def find_clips(root: str | os.PathLike[str]) -> list[ClipRef]:
    """A folder of frames (one clip), a folder of clip folders, a folder of videos, or a video.
    Mask folders (``masks/`` beside ``frames/``) are not clips."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() in VIDEO_EXTS:
        return [ClipRef(str(root), video=root)]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: clip data must be a folder of frames, of clip folders, or of videos")
    clips: list[ClipRef] = []
    images = [p for p in list_frames(root, RGB8_EXTS)]
    if images:
        clips.append(ClipRef(str(root), files=tuple(images)))
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name not in MASK_DIR_NAMES and not child.name.startswith("."):
            clips.extend(find_clips(child))
        elif child.suffix.lower() in VIDEO_EXTS:
            clips.append(ClipRef(str(child), video=child))
    return clips


def find_stills(root: str | os.PathLike[str]) -> list[Path]:
    """Every image under ``root`` (recursively; mask folders skipped), or ``root`` itself."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: stills must be an image or a folder of images")
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in MASK_DIR_NAMES and not d.startswith("."))
        out.extend(Path(dirpath) / f for f in sorted(filenames) if Path(f).suffix.lower() in RGB8_EXTS)
    return out


# ----------------------------------------------------------------------------- decode once
def cover_resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Scale so the image covers h x w (keeps the aspect)."""
    s = max(h / img.shape[0], w / img.shape[1])
    nh, nw = max(h, int(np.ceil(img.shape[0] * s))), max(w, int(np.ceil(img.shape[1] * s)))
    if (nh, nw) == img.shape[:2]:
        return img
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def fit_long_side(img: np.ndarray, max_side: int) -> np.ndarray:
    s = max_side / max(img.shape[:2])
    if s >= 1:
        return img
    return cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))), interpolation=cv2.INTER_AREA)


@dataclass
class FrameStore:
    """Decoded frames, once per (file set, size): in memory, and as memory-mapped ``.npy``
    files under ``cache_dir`` when given (shared by loader workers, reused by later runs)."""

    cache_dir: Path | None = None
    memory: dict[str, np.ndarray] = field(default_factory=dict)
    decoded: int = 0
    """How many clips / stills were actually decoded (not found in a cache)."""

    def _cached(self, key_data: Any, decode: Any) -> np.ndarray:
        key = hashlib.sha1(json.dumps(key_data, sort_keys=True, default=str).encode()).hexdigest()[:20]
        if key in self.memory:
            return self.memory[key]
        path = self.cache_dir / f"{key}.npy" if self.cache_dir else None
        if path is not None and path.is_file():
            arr = np.load(path, mmap_mode="r")
        else:
            arr = decode()
            self.decoded += 1
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                with open(tmp, "wb") as fh:
                    np.save(fh, arr)
                os.replace(tmp, path)
                arr = np.load(path, mmap_mode="r")
        self.memory[key] = arr
        return arr

    def clip(self, ref: ClipRef, h: int, w: int, max_frames: int = 600) -> np.ndarray:
        """(T, H', W', 3) uint8 covering h x w."""

        def decode() -> np.ndarray:
            it = iter_frames(ref.video) if ref.video else (read_rgb8(p) for p in ref.files)
            frames = []
            for img in it:
                frames.append(cover_resize(img, h, w))
                if len(frames) >= max_frames:
                    break
            if not frames:
                raise ValueError(f"{ref.name}: no frames could be read")
            return np.stack(frames)

        return self._cached(["clip", ref.stamp(), h, w, max_frames], decode)

    def still(self, path: Path, max_side: int) -> np.ndarray:
        st = path.stat()
        return self._cached(["still", str(path), st.st_size, st.st_mtime_ns, max_side],
                            lambda: fit_long_side(read_rgb8(path), max_side))


# ----------------------------------------------------------------------------- dataset
@dataclass(frozen=True)
class DataOptions:
    size: tuple[int, int] = (360, 640)
    seq_len: int = 5
    seed: int = 0
    margin: float = 1.15
    """Clips are decoded to cover ``margin`` x the size: room for random crops."""
    synthetic_per_still: int = 8
    """Camera-path clips made from each still per epoch."""
    still_max_side: int = 1600
    p_object: float = 0.5
    """Share of moving object silhouettes among the holes (the rest: curriculum shapes)."""
    max_stride: int = 2
    """Clip frames are taken every 1..max_stride frames (slower and faster motion)."""
    hole_area: tuple[float, float] = (0.05, 0.20)
    path: PathOptions = PathOptions()


class VideoInpaintDataset(Dataset):
    """Item ``k`` (any k >= 0: the stream is endless) -> (frames (T,3,H,W) uint8,
    holes (T,1,H,W) uint8 in {0,1}); see the module docstring for the determinism."""

    def __init__(self, clips: list[np.ndarray], stills: list[np.ndarray], options: DataOptions = DataOptions(),
                 train: bool = True):
        self.o, self.train = options, train
        self.clips, self.stills = clips, stills
        t = options.seq_len
        self.windows = [(ci, s) for ci, c in enumerate(clips) for s in range(0, len(c) - t + 1)]
        self.n_synthetic = len(stills) * options.synthetic_per_still
        if not self.windows and not self.n_synthetic:
            raise ValueError(f"no clip with at least {t} frames and no stills: nothing to train on")
        self._perm: tuple[int, np.ndarray] | None = None

    @property
    def epoch_size(self) -> int:
        return len(self.windows) + self.n_synthetic

    def __len__(self) -> int:
        return self.epoch_size  # one epoch; indices past it continue the stream

    def locate(self, k: int) -> tuple[int, int]:
        """Stream position -> (epoch, item index within the epoch's pool)."""
        n = self.epoch_size
        epoch, i = divmod(int(k), n)
        if not self.train:
            return 0, i
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.o.seed, 7, epoch]).permutation(n))
        return epoch, int(self._perm[1][i])

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, j = self.locate(k)
        rng = np.random.default_rng([self.o.seed, epoch, j])
        h, w = self.o.size
        seq = self._clip_window(j, rng) if j < len(self.windows) else self._synthetic(j - len(self.windows), rng)
        holes = np.stack(training_masks(self.o.seq_len, h, w, rng, self.o.p_object, self.o.hole_area))
        frames = torch.from_numpy(np.ascontiguousarray(seq.transpose(0, 3, 1, 2)))
        return frames, torch.from_numpy(holes[:, None].astype(np.uint8))

    def _clip_window(self, j: int, rng: np.random.Generator) -> np.ndarray:
        ci, start = self.windows[j]
        clip = self.clips[ci]
        t, (h, w) = self.o.seq_len, self.o.size
        stride = int(rng.integers(1, self.o.max_stride + 1)) if self.train else 1
        while stride > 1 and start + (t - 1) * stride >= len(clip):
            stride -= 1
        H, W = clip.shape[1:3]
        y0 = int(rng.integers(0, H - h + 1)) if self.train else (H - h) // 2
        x0 = int(rng.integers(0, W - w + 1)) if self.train else (W - w) // 2
        seq = np.stack([clip[start + i * stride, y0 : y0 + h, x0 : x0 + w] for i in range(t)])
        if self.train and rng.random() < 0.5:
            seq = seq[:, :, ::-1]
        if self.train and rng.random() < 0.25:
            seq = seq[::-1]  # played backwards: the camera path reversed
        return seq

    def _synthetic(self, j: int, rng: np.random.Generator) -> np.ndarray:
        still = self.stills[j // self.o.synthetic_per_still]
        h, w = self.o.size
        return np.stack(camera_path_clip(np.asarray(still), self.o.seq_len, h, w, rng, [np.asarray(s) for s in self.stills], self.o.path))


def split_clip(n: int, part: str, holdout_fraction: float, seq_len: int) -> slice:
    """Frames of an n-frame clip for ``part``: 'all', 'train' (the start) or 'holdout' (the
    last ``holdout_fraction``, at least one sequence), with a gap of ``seq_len`` frames between
    them so no training sequence overlaps a held-out one. A clip too short to split trains
    whole and holds nothing out."""
    if part == "all":
        return slice(0, n)
    hold = max(seq_len, int(round(n * holdout_fraction)))
    if n < hold + seq_len + seq_len:
        return slice(0, n) if part == "train" else slice(0, 0)
    if part == "train":
        return slice(0, n - hold - seq_len)
    if part == "holdout":
        return slice(n - hold, n)
    raise ValueError(f"unknown part {part!r}; use all, train or holdout")


def build_dataset(clips: Sequence[str | os.PathLike[str]], stills: Sequence[str | os.PathLike[str]] = (), *,
                  options: DataOptions = DataOptions(), train: bool = True, store: FrameStore | None = None,
                  part: str = "all", holdout_fraction: float = 0.15) -> VideoInpaintDataset:
    """Discover, decode once (through ``store``) and wrap; ``part`` splits every clip in time
    (``split_clip``) for a held-out set inside the same footage."""
    store = store or FrameStore()
    h, w = options.size
    m = options.margin if train else 1.0
    ch, cw = int(np.ceil(h * m)), int(np.ceil(w * m))
    arrays = []
    for root in clips:
        for ref in find_clips(root):
            arr = store.clip(ref, ch, cw)
            arr = arr[split_clip(len(arr), part, holdout_fraction, options.seq_len)]
            if len(arr) >= options.seq_len:
                arrays.append(arr)
    images = [store.still(p, options.still_max_side) for root in stills for p in find_stills(root)]
    if not arrays and not images:
        what = "held-out " if part == "holdout" else ""
        raise ValueError(f"no {what}clip with at least {options.seq_len} frames and no stills under "
                         f"{', '.join(map(str, [*clips, *stills])) or '(nothing given)'}"
                         + ("; give longer clips or --val-data" if part == "holdout" else ""))
    return VideoInpaintDataset(arrays, images, options, train)


# ----------------------------------------------------------------------------- loading
class StreamSampler(Sampler[int]):
    """Positions ``start``, ``start + 1``, ... of the endless stream (``stop`` excluded)."""

    def __init__(self, start: int = 0, stop: int | None = None):
        self.start, self.stop = int(start), stop

    def __iter__(self) -> Iterator[int]:
        k = self.start
        while self.stop is None or k < self.stop:
            yield k
            k += 1

    def __len__(self) -> int:
        return (self.stop - self.start) if self.stop is not None else 2**62


def make_loader(ds: VideoInpaintDataset, batch: int, start_step: int = 0, workers: int = 0,
                device: str | torch.device = "cpu", stop_step: int | None = None) -> DataLoader:
    """Batches for steps ``start_step``, ``start_step + 1``, ...: the data position of a
    resumed run is just the step. Pinned memory and prefetching when the device is CUDA.

    With workers, this process's OpenCV is set to one thread *before* they fork: the workers
    are the parallelism, and OpenCV's thread pool does not survive a fork (a child that
    reconfigures the inherited pool hangs; seen here)."""
    cuda = torch.device(device).type == "cuda"
    if workers:
        cv2.setNumThreads(1)
    return DataLoader(
        ds, batch_size=batch, sampler=StreamSampler(start_step * batch, None if stop_step is None else stop_step * batch),
        num_workers=workers, pin_memory=cuda, prefetch_factor=4 if workers else None,
        timeout=600 if workers else 0,  # a stuck worker becomes an error, not a silent hang
    )


def to_network(frames: torch.Tensor, holes: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 batch -> frames in [-1, 1] and holes in {0, 1}, float32, on ``device``
    (the conversion runs there: on a GPU the host only copies bytes)."""
    f = frames.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
    m = holes.to(device, non_blocking=True).float()
    return f, m
