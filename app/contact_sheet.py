"""Side-by-side contact sheet: plate | product render | composite, for a few frames.

A quick look at a run without opening the video: one row per chosen frame, the product render
shown over a neutral checkerboard (so its alpha edge and colour are judged on their own),
labels on each tile. Written as one PNG next to the output video.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ml.io.colour import linear_to_uint8
from ml.io.exr import PassError, read_passes
from ml.io.images import read_rgb8, write_rgb8
from shotcache.layout import ShotPaths


def pick_frames(frames: list[int], n: int = 4) -> list[int]:
    """``n`` frames spread evenly over the shot (first and last included)."""
    if len(frames) <= n:
        return list(frames)
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in sorted(set(idx.tolist()))]


def _checker(h: int, w: int, cell: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    c = ((y // cell + x // cell) % 2).astype(np.float32)
    return (0.18 + 0.08 * c)[..., None].repeat(3, -1)


def render_tile(render_exr: Path, size: tuple[int, int]) -> np.ndarray:
    """The product render (straight alpha) over a checkerboard, sRGB uint8; grey if absent."""
    w, h = size
    try:
        rgba = read_passes(render_exr, ["rgba"])["rgba"]
    except (FileNotFoundError, PassError):
        return np.full((h, w, 3), 64, np.uint8)
    a = rgba[..., 3:4]
    h, w = rgba.shape[:2]
    bg = _checker(h, w, max(4, h // 16))
    return linear_to_uint8(rgba[..., :3] * a + bg * (1 - a))


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    scale = max(0.35, img.shape[0] / 480.0)
    th = max(1, int(round(scale * 1.5)))
    (tw, tht), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, th)
    cv2.rectangle(img, (0, 0), (tw + 8, tht + base + 8), (0, 0, 0), -1)
    cv2.putText(img, text, (4, tht + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), th, cv2.LINE_AA)
    return img


def make_contact_sheet(
    shot_dir: str | os.PathLike[str],
    version: str,
    output: str | os.PathLike[str],
    frames: list[int] | None = None,
    n: int = 4,
    max_tile_width: int = 640,
) -> Path:
    """Write the sheet for ``version`` of a shot; returns the PNG path."""
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    chosen = frames or pick_frames([f for f in shot.frames if paths.version_frame(version, f).is_file()] or shot.frames, n)
    w, h = shot.resolution
    scale = min(1.0, max_tile_width / float(w))
    tw, th = max(2, int(round(w * scale))), max(2, int(round(h * scale)))
    rows = []
    for f in chosen:
        plate = read_rgb8(paths.plate_frame(f)) if paths.plate_frame(f).is_file() else np.zeros((h, w, 3), np.uint8)
        render = render_tile(paths.render_frame(f), (w, h))
        out_path = paths.version_frame(version, f)
        comp = read_rgb8(out_path) if out_path.is_file() else np.full((h, w, 3), 32, np.uint8)
        tiles = []
        for img, name in ((plate, f"plate {f}"), (render, "product render"), (comp, f"composite {version}" if out_path.is_file() else "skipped")):
            img = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA) if img.shape[:2] != (th, tw) else img
            tiles.append(_label(img, name))
        gap = np.full((th, 4, 3), 255, np.uint8)
        rows.append(np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1))
    sep = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    sheet = np.concatenate([x for r in rows for x in (r, sep)][:-1], axis=0)
    return write_rgb8(output, sheet)
