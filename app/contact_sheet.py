"""Side-by-side contact sheet: plate | product render | composite, for a few frames.

A quick look at a run without opening the video: one row per chosen frame, the product render
shown over a neutral checkerboard (so its alpha edge and colour are judged on their own),
labels on each tile. Written as one PNG next to the output video.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def spot_tile(plate: np.ndarray, shot: Any, frame: int) -> np.ndarray | None:
    """The plate with the product's contact point ringed, for a frame with no render (a shot
    refused before the render): where the lock was measured, and how it moves over the
    sheet's frames. None when the frame has no camera or the point is behind it."""
    from ml.camera.shotqc import contact_point, shot_solve

    if frame not in shot.camera.frames:
        return None
    px, z = shot_solve(shot).project(frame, contact_point(shot)[None])
    if z[0] <= 0:
        return None
    img = plate.copy()
    r = max(6, img.shape[0] // 40)
    centre = (int(round(px[0, 0])), int(round(px[0, 1])))
    cv2.circle(img, centre, r, (255, 64, 64), max(2, r // 4), cv2.LINE_AA)
    cv2.drawMarker(img, centre, (255, 64, 64), cv2.MARKER_CROSS, r // 2, max(1, r // 8), cv2.LINE_AA)
    return img


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    scale = max(0.35, img.shape[0] / 480.0)
    th = max(1, int(round(scale * 1.5)))
    (tw, tht), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, th)
    cv2.rectangle(img, (0, 0), (tw + 8, tht + base + 8), (0, 0, 0), -1)
    cv2.putText(img, text, (4, tht + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), th, cv2.LINE_AA)
    return img


def qc_banner(shot: Any, width: int) -> np.ndarray | None:
    """A strip with the shot's QC verdict (lock slide, scale source, reasons), if checked."""
    qc = shot.qc
    if not qc.verdict:
        return None
    slide = (f"slide {qc.slide_mean_px:.2f} px mean / {qc.slide_max_px:.2f} px max"
             if qc.slide_mean_px is not None and qc.slide_max_px is not None else "slide not measured")
    lines = [f"QC {qc.verdict.upper()}: {slide}" + (f" | scale: {qc.scale_source}" if qc.scale_source else "")]
    lines += [f"- {r}" for r in qc.reasons]
    scale = max(0.4, width / 2400.0)
    th = max(1, int(round(scale * 1.5)))
    wrapped: list[str] = []
    for line in lines:
        words, cur = line.split(), ""
        for w in words:
            if cv2.getTextSize(cur + " " + w, cv2.FONT_HERSHEY_SIMPLEX, scale, th)[0][0] > width - 16 and cur:
                wrapped.append(cur)
                cur = "  " + w
            else:
                cur = (cur + " " + w).strip() if cur else w
        wrapped.append(cur)
    lh = int(cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, th)[0][1] * 1.9) + 2
    colour = (40, 110, 40) if qc.verdict == "accepted" else ((150, 30, 30) if qc.verdict == "refused" else (150, 100, 20))
    img = np.zeros((lh * len(wrapped) + 10, width, 3), np.uint8)
    img[:] = colour
    for i, line in enumerate(wrapped):
        cv2.putText(img, line, (8, lh * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), th, cv2.LINE_AA)
    return img


def make_contact_sheet(
    shot_dir: str | os.PathLike[str],
    version: str | None,
    output: str | os.PathLike[str],
    frames: list[int] | None = None,
    n: int = 4,
    max_tile_width: int = 640,
) -> Path:
    """Write the sheet for ``version`` of a shot (None: not composited, e.g. refused by the
    QC); the QC verdict heads the sheet and each composite carries its frame's slide."""
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    have = [f for f in shot.frames if version and paths.delivered_frame(version, f).is_file()]
    chosen = frames or pick_frames(have or shot.frames, n)
    w, h = shot.resolution
    scale = min(1.0, max_tile_width / float(w))
    tw, th = max(2, int(round(w * scale))), max(2, int(round(h * scale)))
    rows = []
    for f in chosen:
        plate = read_rgb8(paths.plate_frame(f)) if paths.plate_frame(f).is_file() else np.zeros((h, w, 3), np.uint8)
        spot = None if paths.render_frame(f).is_file() else spot_tile(plate, shot, f)
        render = render_tile(paths.render_frame(f), (w, h)) if spot is None else spot
        out_path = paths.delivered_frame(version, f) if version else None
        done = out_path is not None and out_path.is_file()
        comp = read_rgb8(out_path) if done and out_path is not None else np.full((h, w, 3), 32, np.uint8)
        slide = shot.qc.slide_per_frame.get(str(f))
        name = (f"composite {version}" if done else ("skipped" if version else "not composited"))
        name += f"  slide {slide:.2f} px" if slide is not None else ""
        tiles = []
        for img, name in ((plate, f"plate {f}"), (render, "product render" if spot is None else "the product's spot (not rendered)"),
                          (comp, name)):
            img = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA) if img.shape[:2] != (th, tw) else img
            tiles.append(_label(img, name))
        gap = np.full((th, 4, 3), 255, np.uint8)
        rows.append(np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1))
    sep = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    banner = qc_banner(shot, rows[0].shape[1])
    sheet = np.concatenate(([banner, sep] if banner is not None else []) + [x for r in rows for x in (r, sep)][:-1], axis=0)
    return write_rgb8(output, sheet)
