"""Per-stage cache of intermediate frames, so a re-run recomputes only what changed.

Layout inside a shot folder::

    cache/<stage>/<config_key>/<frame:06d>_<input_key>.exr

``config_key`` chains the stage's engine, checkpoint and params with the keys of every stage
upstream of it (so changing the inpainter invalidates everything after it, changing the
compositor leaves the clean plate alone). ``input_key`` is the frame's own inputs (plate,
render, mask files by size + mtime, its camera and the lighting): a re-rendered frame gets a
new name and is recomputed, an untouched one is found again. Values are float32 EXR
(lossless), so a result rebuilt from the cache is bit-identical to one computed afresh.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import OpenEXR

from shotcache.layout import ShotPaths, atomic_write, frame_name, stable_hash

_CHANNELS = {1: ("Y",), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}


def file_stamp(path: Path) -> list:
    """Cheap identity of a file (no read): name, size, mtime; None when absent."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return [path.name, None]
    return [path.name, st.st_size, st.st_mtime_ns]


def chain_key(upstream: str, stage: str, engine: str, checkpoint: str | None, params: dict) -> str:
    return stable_hash({"up": upstream, "stage": stage, "engine": engine, "ckpt": checkpoint, "params": params})


class StageCache:
    """Read/write cached stage outputs of one shot."""

    def __init__(self, shot_root: str | os.PathLike[str], enabled: bool = True):
        self.root = ShotPaths(shot_root).cache_dir
        self.enabled = enabled

    def path(self, stage: str, config_key: str, frame: int, input_key: str) -> Path:
        return self.root / stage / config_key / f"{frame_name(frame, '')[:-1]}_{input_key}.exr"

    def get(self, stage: str, config_key: str, frame: int, input_key: str) -> np.ndarray | None:
        if not self.enabled:
            return None
        p = self.path(stage, config_key, frame, input_key)
        if not p.is_file():
            return None
        try:
            exr = OpenEXR.File(str(p), separate_channels=True)
            chans = exr.channels()
            for n in (4, 3, 1):
                names = _CHANNELS[n]
                if all(c in chans for c in names):
                    arr = np.stack([np.asarray(chans[c].pixels, dtype=np.float32) for c in names], axis=-1)
                    return arr[..., 0] if n == 1 else arr
        except Exception:  # a damaged cache entry is just a miss: recompute it
            return None
        return None

    def put(self, stage: str, config_key: str, frame: int, input_key: str, arr: np.ndarray) -> Path | None:
        if not self.enabled:
            return None
        arr = np.asarray(arr, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[..., None]
        names = _CHANNELS.get(arr.shape[-1])
        if names is None:
            return None
        channels = {c: np.ascontiguousarray(arr[..., i]) for i, c in enumerate(names)}
        header = {"compression": OpenEXR.ZIPS_COMPRESSION, "type": OpenEXR.scanlineimage}
        p = self.path(stage, config_key, frame, input_key)
        # one entry per frame and config: drop stale entries of this frame (old inputs)
        if p.parent.is_dir():
            for old in p.parent.glob(f"{p.name.split('_')[0]}_*.exr"):
                if old != p:
                    old.unlink(missing_ok=True)
        return atomic_write(p, lambda tmp: OpenEXR.File(header, channels).write(str(tmp)))
