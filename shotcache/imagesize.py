"""Width and height of a PNG or EXR from its header, without decoding a pixel.

Why: a 36 KB PNG can declare 12000x12000 pixels and take gigabytes once decoded. Readers
ask here first and refuse anything over ``schema.MAX_PIXELS`` (and the sidecar refuses such
an upload outright). Stdlib only: both sides import it.
"""
from __future__ import annotations

import os
import struct

from .schema import MAX_PIXELS, SchemaError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EXR_MAGIC = b"\x76\x2f\x31\x01"


def image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) of a PNG or EXR file; None for other formats or an unreadable header."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if head == PNG_MAGIC:
            chunk = fh.read(16)  # length, "IHDR", width, height
            if len(chunk) == 16 and chunk[4:8] == b"IHDR":
                return struct.unpack(">II", chunk[8:16])
            return None
        if head[:4] == _EXR_MAGIC:
            return _exr_data_window(fh)
    return None


def _exr_data_window(fh) -> tuple[int, int] | None:
    """The first header's ``dataWindow`` (box2i) of an OpenEXR file positioned after the version."""
    for _ in range(256):  # attributes of one header; a sane file has a few dozen
        name = _cstring(fh)
        if not name:
            return None
        kind = _cstring(fh)
        raw = fh.read(4)
        if len(raw) < 4:
            return None
        (size,) = struct.unpack("<i", raw)
        if size < 0 or size > 1 << 24:
            return None
        value = fh.read(size)
        if name == b"dataWindow" and kind == b"box2i" and len(value) == 16:
            x0, y0, x1, y1 = struct.unpack("<iiii", value)
            return x1 - x0 + 1, y1 - y0 + 1
    return None


def _cstring(fh, limit: int = 256) -> bytes:
    out = bytearray()
    while len(out) < limit:
        c = fh.read(1)
        if not c or c == b"\x00":
            return bytes(out)
        out += c
    return bytes(out)


def check_pixels(path: str | os.PathLike[str], limit: int = MAX_PIXELS) -> tuple[int, int] | None:
    """The image's size, or SchemaError when its header declares more than ``limit`` pixels."""
    size = image_size(path)
    if size is not None and (size[0] <= 0 or size[1] <= 0 or size[0] * size[1] > limit):
        raise SchemaError(f"{path}: image of {size[0]}x{size[1]} pixels is over the limit of {limit} pixels "
                          "(or has no pixels); scale it down")
    return size
