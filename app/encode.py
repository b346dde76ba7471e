"""Encode: a version's frames -> H.264 MP4 at the plate's frame rate."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

from shotcache.layout import ShotPaths


def encode(shot: ShotPaths, version: str, frames: list[int], output: Path, fps: float | Fraction) -> tuple[int, list[int]]:
    """MP4 of the version's frames; a frame without output shows the plate so timing stays
    right. Returns (frames written from the version, frames that showed the plate)."""
    from ml.io.images import read_rgb8
    from ml.io.video import write_mp4

    missing: list[int] = []

    def gen() -> Iterator[Any]:
        for f in frames:
            p = shot.delivered_frame(version, f)
            if p.is_file():
                yield read_rgb8(p)
            else:
                missing.append(f)
                yield read_rgb8(shot.plate_frame(f))

    write_mp4(output, gen(), fps)
    return len(frames) - len(missing), missing
