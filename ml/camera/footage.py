"""Plate frames for a tracker: decode once, check sizes, detect blank or static footage."""
from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import cv2
import numpy as np

from ml.io import images as imgio
from ml.io import video
from shotcache.errors import UserError


class FootageError(UserError, ValueError):
    pass


def extract_frames(plate: Path, out_dir: Path, frames: tuple[int, int] | None = None, max_side: int = 0,
                   only: Collection[int] | None = None) -> dict[int, Path]:
    """Frames of a video or image folder as JPEGs in out_dir, numbered from 1 (or their own
    numbers); ``only``: just these frame numbers (a few frames to look at, not a clip to track)."""
    plate = Path(plate)
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict[int, Path] = {}
    size = None

    def keep(num: int, rgb: np.ndarray, src: str) -> None:
        nonlocal size
        if size is None:
            size = rgb.shape[:2]
        elif rgb.shape[:2] != size:
            raise FootageError(f"{src}: frame size {rgb.shape[1]}x{rgb.shape[0]} differs from the first frame's "
                               f"{size[1]}x{size[0]}; all plate frames must have one size")
        if (frames and not (frames[0] <= num <= frames[1])) or (only is not None and num not in only):
            return
        if max_side and max(rgb.shape[:2]) > max_side:
            s = max_side / max(rgb.shape[:2])
            rgb = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA)
        path = out_dir / f"{num:06d}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        result[num] = path

    if plate.is_dir():
        files = input_images(plate)
        if not files:
            raise FootageError(f"{plate}: no image frames in this folder")
        for num, f in files.items():
            if only is None or num in only:  # a few frames to look at: the others are not read
                keep(num, imgio.read_rgb8(f), str(f))
    elif plate.is_file():
        last = max(only, default=0) if only is not None else None
        for i, rgb in enumerate(video.iter_frames(plate)):
            if last is not None and i + 1 > last:
                break  # past the last frame asked for: the rest of the video is not decoded
            keep(i + 1, rgb, f"{plate} frame {i + 1}")
    else:
        raise FootageError(f"{plate}: no such video file or frame folder")
    if only is not None:
        return result  # a few frames to look at: whichever of them the plate has
    if len(result) < 3:
        raise FootageError(f"{plate}: {len(result)} frame(s) selected: too short to track (need >= 3 frames)")
    return result


def input_images(plate: Path) -> dict[int, Path]:
    """{frame number: image} of a folder of frames, numbered as ``extract_frames`` numbers
    them; {} for a video (its frames are no files)."""
    plate = Path(plate)
    if not plate.is_dir():
        return {}
    return {imgio.frame_number(f, i + 1): f for i, f in enumerate(imgio.list_frames(plate))}


def feature_count(path: Path) -> int:
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    pts = cv2.goodFeaturesToTrack(gray, maxCorners=500, qualityLevel=0.01, minDistance=max(4, gray.shape[1] // 100))
    return 0 if pts is None else len(pts)


def median_motion(a: Path, b: Path) -> float:
    """Median feature displacement between two frames as a fraction of the frame width."""
    ga = cv2.imread(str(a), cv2.IMREAD_GRAYSCALE)
    gb = cv2.imread(str(b), cv2.IMREAD_GRAYSCALE)
    pts = cv2.goodFeaturesToTrack(ga, maxCorners=400, qualityLevel=0.01, minDistance=5)
    if pts is None:
        return 0.0
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(ga, gb, pts, None)
    ok = st.ravel() == 1
    if not ok.any():
        return 0.0
    return float(np.median(np.linalg.norm((nxt - pts)[ok].reshape(-1, 2), axis=1)) / ga.shape[1])


def frame_size(path: Path) -> tuple[int, int]:
    img = cv2.imread(str(path))
    if img is None:
        raise FootageError(f"{path}: cannot read this frame")
    return img.shape[1], img.shape[0]


def match_masks(folder: Path, frames: dict[int, Path]) -> dict[int, Path]:
    """Moving-object masks for the frames: by frame number when the names carry them, else in
    order; frames without a mask are tracked everywhere."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FootageError(f"--masks {folder}: not a folder of mask images (white = moving object)")
    files = imgio.list_frames(folder)
    if not files:
        raise FootageError(f"--masks {folder}: no mask images in this folder")
    by_num = {imgio.frame_number(p, -1): p for p in files}
    if any(f in by_num for f in frames):
        return {f: by_num[f] for f in frames if f in by_num}
    return {f: p for f, p in zip(sorted(frames), files)}
