"""A plate frame's hash is its pixels': the date Blender stamps on a PNG does not change it."""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from shotcache.layout import file_sha256, image_sha256


def _with_text(png: bytes, text: bytes) -> bytes:
    """The PNG with a tEXt chunk after its header, as Blender writes its Date."""
    chunk = b"tEXt" + text
    head = 8 + 12 + 13  # signature, IHDR
    return png[:head] + struct.pack(">I", len(text)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[head:]


def test_the_same_pixels_stamped_differently_hash_alike_and_other_pixels_do_not(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    png = cv2.imencode(".png", img)[1].tobytes()
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(_with_text(png, b"Date\x002026/12/06 11:09:07"))
    b.write_bytes(_with_text(png, b"Date\x002026/12/06 11:09:09"))
    assert file_sha256(a) != file_sha256(b) and image_sha256(a) == image_sha256(b)
    assert cv2.imread(str(a)) is not None  # still a valid PNG
    img[3, 4] += 1
    c = tmp_path / "c.png"
    c.write_bytes(_with_text(cv2.imencode(".png", img)[1].tobytes(), b"Date\x002026/12/06 11:09:07"))
    assert image_sha256(c) != image_sha256(a)
    exr = tmp_path / "frame.exr"  # not a PNG: the file's bytes
    exr.write_bytes(b"v/1\x01 not a png")
    assert image_sha256(exr) == file_sha256(exr)
