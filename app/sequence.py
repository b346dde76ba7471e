"""`vanelia run --output DIR/`: the composite as an image sequence, as artists work.

Formats: PNG (8-bit sRGB) or EXR (half float, linear). Chosen by ``--format``, or by the
extension of a pattern such as ``out/comp.####.exr`` (the #s are the zero-padded frame
number); a folder (``out/seq/``) gets ``NNNNNN.png``. Every file is written to a temp name
and renamed, so an interrupted run leaves complete frames only.

The stages keep their result as 8-bit sRGB PNGs (the version's frames); an EXR frame holds
that result in linear light (no more precision than the PNG it came from).
"""
from __future__ import annotations

import re
from pathlib import Path

from shotcache.errors import UsageError

FORMATS = ("png", "exr")


def is_sequence(output: Path, raw: str | None = None) -> bool:
    """An image-sequence target: a folder (existing, or written with a trailing /), or a #-pattern."""
    text = raw if raw is not None else str(output)
    return text.endswith(("/", "\\")) or "#" in output.name or output.is_dir() or (output.suffix == "" and not output.exists())


def sequence_format(output: Path, fmt: str | None) -> str:
    ext = output.suffix.lower().lstrip(".") if "#" in output.name else ""
    if fmt and ext and fmt != ext:
        raise UsageError(f"--output {output}: the extension says {ext} but --format says {fmt}; make them agree")
    chosen = fmt or ext or "png"
    if chosen not in FORMATS:
        raise UsageError(f"--output {output}: image sequences are {' or '.join(FORMATS)}, not {chosen!r}")
    return chosen


def frame_path(output: Path, frame: int, fmt: str) -> Path:
    if "#" in output.name:
        m = re.search(r"#+", output.name)
        assert m is not None
        name = output.name[: m.start()] + f"{frame:0{len(m.group())}d}" + output.name[m.end() :]
        return output.with_name(name)
    return output / f"{frame:06d}.{fmt}"


def write_sequence(shot_dir: Path, version: str, frames: list[int], output: Path, fmt: str) -> tuple[int, list[int]]:
    """Write the version's frames (the plate where a frame has none); returns (written, missing)."""
    from ml.io.exr import write_rgb
    from ml.io.images import read_linear, read_rgb8, write_rgb8
    from shotcache.layout import ShotPaths

    paths = ShotPaths(shot_dir)
    missing: list[int] = []
    for f in frames:
        src = paths.delivered_frame(version, f)
        if not src.is_file():
            missing.append(f)
            src = paths.plate_frame(f)
        target = frame_path(output, f, fmt)
        target.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "png":
            write_rgb8(target, read_rgb8(src))
        else:
            write_rgb(target, read_linear(src), half=True)
    return len(frames) - len(missing), missing
