"""Frame numbers, image-file rules, frame ranges and frame sizes: one rule each, for both sides.

* A frame's number is the **last number in its file name** (``images/0012.jpg`` -> 12,
  ``shot_v2_0012.png`` -> 12); a name without digits takes its position. The plate decoder,
  the track readers, the mask copier and the tracker all number frames this way, so a plate,
  its track and its masks made from the same images line up.
* Files inside a shot are named ``frame_name(n, ext)`` (``000012.png``).
* ``IMAGE_EXTS`` are the still formats both sides read; ``CLIP_EXTS`` adds what only
  Blender's movie-clip loader reads (DPX). ``VIDEO_EXTS`` are the video files read as plates
  (and training clips), ``VIDEO_OUTPUT_EXTS`` the containers a run writes its result in: the
  one list of each, for every tool.
* A frame range is ``A:B`` (inclusive); a frame list is ``1,4,10-12`` or ranges ``A:B``.

Stdlib only (Blender imports it through ``..shotcache.frames``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

from .errors import InputError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".exr", ".webp")
CLIP_EXTS = IMAGE_EXTS + (".dpx",)
RGB8_EXTS = tuple(e for e in IMAGE_EXTS if e != ".exr")
"""Formats of 8-bit images (plates, masks, outputs): every still format but EXR."""
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf", ".mpg", ".mpeg")
"""Video files read as plates or clips (decoded with PyAV / Blender's movie clip)."""
VIDEO_OUTPUT_EXTS = (".mp4", ".mov", ".m4v")
"""Containers `vanelia run --output` writes (H.264); any other output is an image sequence."""

_NUM_RE = re.compile(r"(\d+)(?!.*\d)")


def frame_number(name: str | os.PathLike[str], default: int) -> int:
    """The last number in the file's stem, or ``default`` when it has none."""
    m = _NUM_RE.search(Path(name).stem)
    return int(m.group(1)) if m else default


def frame_name(frame: int, ext: str) -> str:
    """Name of frame ``frame`` inside a shot folder: ``000012.png``."""
    return f"{frame:06d}.{ext.lstrip('.')}"


def is_image(path: str | os.PathLike[str], exts: tuple[str, ...] = IMAGE_EXTS) -> bool:
    p = Path(path)
    return p.suffix.lower() in exts and not p.name.startswith(".")


def list_images(folder: str | os.PathLike[str], exts: tuple[str, ...] = IMAGE_EXTS) -> list[Path]:
    """Image files of a folder in frame order (by the last number in the name, then name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder of frames")
    files = [p for p in folder.iterdir() if is_image(p, exts)]
    return sorted(files, key=lambda p: (frame_number(p.name, -1), p.name))


def numbered(files: Iterable[str | os.PathLike[str]]) -> dict[int, Path]:
    """{frame number: file} for files in frame order; positions (from 1) when two names
    share a number or a name has none, so every file keeps a frame."""
    paths = [Path(f) for f in files]
    nums = [frame_number(p.name, -1) for p in paths]
    if -1 in nums or len(set(nums)) != len(nums):
        nums = list(range(1, len(paths) + 1))
    return dict(zip(nums, paths))


# ---------------------------------------------------------------------------
# ranges and lists
# ---------------------------------------------------------------------------


def parse_frame_range(value: Any, what: str = "--frames") -> tuple[int, int] | None:
    """'A:B' / (A, B) / None or '' -> inclusive frame range (None = all frames)."""
    if value in (None, ""):
        return None
    try:
        a, b = (int(v) for v in (value.split(":") if isinstance(value, str) else value))
    except (TypeError, ValueError):
        raise InputError(f"{what} {value!r}: expected A:B with A <= B, e.g. 1:48") from None
    if b < a:
        raise InputError(f"{what} {a}:{b}: the end is before the start; expected A:B with A <= B")
    return a, b


def select_frames(text: str | None, available: list[int], what: str = "--frames") -> list[int]:
    """'1,4,10-12' or 'A:B' (any mix) -> those frame numbers, all of ``available`` when empty;
    a frame the shot does not have is an error that names it."""
    if not text:
        return list(available)
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            sep = ":" if ":" in part else ("-" if "-" in part.lstrip("-") else "")
            if sep:
                a, b = part.split(sep, 1)
                out += list(range(int(a), int(b) + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        raise InputError(f"{what} {text!r}: expected frame numbers and ranges such as 1,4,10-12 or 1:48") from None
    unknown = [f for f in out if f not in set(available)]
    if unknown:
        span = f"{available[0]}..{available[-1]}" if available else "none"
        raise InputError(f"{what}: the shot has no frame(s) {unknown[:10]}; it has {span}")
    return out


def parse_resolution(value: Any, what: str = "--resolution", minimum: int = 1) -> tuple[int, int] | None:
    """'WxH' / (W, H) / None or '' -> frame size in pixels (None = the plate's); both sides
    at least ``minimum`` (Blender refuses renders under 8x8)."""
    if value in (None, ""):
        return None
    try:
        w, h = (int(v) for v in (value.lower().split("x") if isinstance(value, str) else value))
    except (TypeError, ValueError):
        raise InputError(f"{what} {value!r}: expected WxH, e.g. 1280x720") from None
    if w < max(1, minimum) or h < max(1, minimum):
        raise InputError(f"{what} {w}x{h}: too small (at least {max(1, minimum)}x{max(1, minimum)})")
    return w, h


def check_resolution(native: tuple[int, int], wanted: tuple[int, int] | None, source: str) -> tuple[int, int]:
    """The frame size to work at: ``wanted`` (``parse_resolution``'s) where it has the plate's
    aspect (to a pixel), the plate's ``native`` size where none is asked. A size of another
    aspect would stretch the plate under a camera solved on it: refused, with a size that fits."""
    if wanted is None:
        return native
    w, h = native
    tw, th = wanted
    if abs(w * th - h * tw) > max(w, tw):
        raise InputError(
            f"{source}: plate is {w}x{h} but resolution {tw}x{th} was asked (different aspect); "
            f"choose a resolution with the plate's aspect, e.g. {tw}x{round(tw * h / w)}"
        )
    return tw, th
