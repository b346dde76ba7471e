"""Blender's tracker drops the tracks that lie on moving objects (addon/tracking.py, --masks).

Tracks are made by hand on a tiny generated image sequence (no tracking run), so the test
is exact and takes a second: which markers are inside the masks is known. No cv2 (the
Blender 4.2 environment has none): PNGs are written by hand, so the file also runs there
(`.venv42/bin/python -m pytest -p no:xdist tests/addon/test_motion_masks.py`).
"""
from __future__ import annotations

import struct
import zlib
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest

W, H, FIRST, N = 160, 90, 10, 6


@pytest.fixture(scope="module")
def tracking(ext):  # noqa: ANN001, ANN201 - the extension's addon.tracking module
    return import_module(f"{ext.__name__}.addon.tracking")


def _png(path: Path, img: np.ndarray) -> None:
    """An 8-bit greyscale or RGB PNG of a top-down array."""
    h, w = img.shape[:2]
    kind = 0 if img.ndim == 2 else 2

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(img, np.uint8).reshape(h, -1))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, kind, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _sequence(folder: Path) -> Path:
    """Frames 0010.png ... (file numbers from 10) and masks 000010.png ... whose top-left
    quarter is white (image rows top-down: rows 0..44, columns 0..79)."""
    frames, masks = folder / "frames", folder / "masks"
    frames.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(0)
    mask = np.zeros((H, W), np.uint8)
    mask[: H // 2, : W // 2] = 255
    for f in range(FIRST, FIRST + N):
        _png(frames / f"{f:04d}.png", (rng.random((H, W, 3)) * 255).astype(np.uint8))
        _png(masks / f"{f:06d}.png", mask)
    return folder


def test_tracks_mostly_inside_a_mask_are_deleted(tracking, empty_scene, tmp_path: Path) -> None:
    import bpy

    folder = _sequence(tmp_path)
    masks = tracking.read_masks(str(folder / "masks"))
    assert sorted(masks) == list(range(FIRST, FIRST + N))
    m = masks[FIRST]
    # rows bottom-up, as marker co counts y: the white quarter is the top-left, y > 0.5
    assert m.shape == (H, W) and m[int(0.75 * H), int(0.25 * W)] and not m[int(0.25 * H), int(0.25 * W)]

    clip = tracking.load_clip(str(folder / "frames"))
    assert tracking.first_file_number(clip) == FIRST
    ctx = tracking._clip_context(clip)
    with bpy.context.temp_override(**ctx):
        tracks = clip.tracking.objects.active.tracks
        paths = {
            "person": [(0.25, 0.75)] * N,  # inside on every frame
            "ground": [(0.75, 0.25)] * N,  # never inside
            "passing": [(0.25, 0.75)] * 2 + [(0.75, 0.75)] * (N - 2),  # inside on 2 of 6 frames
            "mostly": [(0.25, 0.75)] * 4 + [(0.75, 0.75)] * (N - 4),  # inside on 4 of 6 frames
        }
        for name, cos in paths.items():
            tr = tracks.new(name=name, frame=1)
            for k, co in enumerate(cos):
                tr.markers.insert_frame(k + 1, co=co)  # clip frames count from 1
        shift = FIRST - 1
        fractions = {tr.name: tracking.masked_fraction(tr, masks, shift) for tr in tracks}
        assert fractions == pytest.approx({"person": 1.0, "ground": 0.0, "passing": 2 / 6, "mostly": 4 / 6})
        dropped = tracking.drop_masked_tracks(clip, masks)
        left = sorted(tr.name for tr in clip.tracking.objects.active.tracks)
    assert dropped == 2 and left == ["ground", "passing"]


def test_a_missing_mask_folder_is_a_clear_error(tracking, tmp_path: Path) -> None:
    with pytest.raises(tracking.TrackingError, match="not a folder of mask images"):
        tracking.read_masks(str(tmp_path / "nope"))
