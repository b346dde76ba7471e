"""Loading one frame of a shot into a FrameState, and reading frame k+1 while k computes.

Bad input is caught here, per frame, with a message that names the file and says what to do
(the runner turns it into a logged skip): a missing or unreadable plate or render, NaN/Inf in
a pass, a plate and render of different sizes.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from ml.io.exr import PassError, read_passes
from ml.pipeline.ground_cover import apply_cover, shade_under_cover
from ml.pipeline.lens import needs_lens, to_plate_lens
from ml.io.images import read_mask
from ml.light import key_shadow
from ml.stages.base import FrameState
from shotcache.imagesize import check_pixels
from shotcache.layout import ShotPaths

from .fastio import read_linear
from shotcache.schema import SchemaError, Shot


class FrameSkip(Exception):
    """This frame cannot be processed; the message is the logged reason."""


@dataclass
class Loaded:
    frame: int
    state: FrameState | None
    error: str | None = None


def _check_pixels(path, frame: int) -> None:
    """Refuse, from the header alone, an image too large to decode (FrameSkip with why)."""
    try:
        check_pixels(path)
    except (SchemaError, OSError) as exc:
        raise FrameSkip(f"frame {frame}: {exc}") from exc


def load_frame(paths: ShotPaths, shot: Shot, frame: int, need_render: bool = True) -> FrameState:
    """Read plate, render passes and mask of ``frame``; raise FrameSkip with the reason."""
    plate_path = paths.plate_frame(frame)
    if not plate_path.is_file():
        raise FrameSkip(f"frame {frame}: plate {plate_path} is missing; re-decode the plate (vanelia render)")
    try:
        _check_pixels(plate_path, frame)
        plate = read_linear(plate_path)
    except (FileNotFoundError, ValueError) as exc:
        raise FrameSkip(f"frame {frame}: {exc}") from exc
    w, h = shot.resolution
    ph, pw = plate.shape[:2]
    if (pw, ph) != (w, h):
        raise FrameSkip(f"frame {frame}: plate {plate_path} is {pw}x{ph} but the shot is {w}x{h}; re-decode the plate at one size")
    rgba = None
    passes: dict[str, np.ndarray] = {}
    render_path = paths.render_frame(frame)
    if render_path.is_file():
        try:
            _check_pixels(render_path, frame)
            passes = read_passes(render_path)
        except PassError as exc:
            raise FrameSkip(f"frame {frame}: {exc}") from exc
        rgba = passes.pop("rgba", None)
        rh, rw = next(iter(passes.values())).shape[:2] if passes else (rgba.shape[:2] if rgba is not None else (ph, pw))
        if (rw, rh) != (pw, ph):
            raise FrameSkip(
                f"frame {frame}: render {render_path} is {rw}x{rh} but the plate is {pw}x{ph}; "
                "re-render the shot at the plate's resolution"
            )
    elif need_render:
        raise FrameSkip(f"frame {frame}: render {render_path} is missing; render the shot first (vanelia render)")
    if passes and shot.lighting.key_shadow:  # the plate's own cast shadows on the product (render space)
        shadow_map = key_shadow.load(paths.root, shot.lighting.key_shadow)
        if shadow_map is not None:
            rgba = key_shadow.apply(rgba, passes, shot.lighting, shadow_map)
    cam = shot.camera.frames.get(frame)
    if (rgba is not None or passes) and cam is not None and needs_lens(shot.camera.distortion, shot.plate.undistorted):
        rgba, passes = to_plate_lens(rgba, passes, cam, shot.camera.distortion)  # the plate's lens (ml/pipeline/lens.py)
    if rgba is not None:
        rgba = apply_holdout(paths, frame, rgba, passes, (pw, ph))
        rgba = cover_base(shot, frame, rgba, passes)
    mask = None
    mask_path = paths.mask_frame(frame)
    if mask_path.is_file():
        try:
            _check_pixels(mask_path, frame)
            mask = read_mask(mask_path)
        except FileNotFoundError as exc:
            raise FrameSkip(f"frame {frame}: {exc}") from exc
        if mask.shape != (ph, pw):
            raise FrameSkip(f"frame {frame}: mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but the plate is {pw}x{ph}")
    return FrameState(
        index=frame,
        plate=plate,
        rgba=rgba,
        passes=passes,
        mask=mask,
        camera=cam,
        lighting=shot.lighting,
        plate_blur=plate_blur(shot, frame),
    )


def plate_blur(shot: Shot, frame: int) -> np.ndarray | None:
    """The frame's recorded blur beyond the shot's sharpest (shot.json plate.blur) as a 2x2
    covariance; None where it was not measured."""
    v = shot.plate.blur.get(frame)
    if v is None:
        return None
    return np.array([[v[0], v[1]], [v[1], v[2]]], np.float32)


def cover_base(shot: Shot, frame: int, rgba: np.ndarray, passes: dict[str, np.ndarray]) -> np.ndarray:
    """The ground cover (shot.json ground.cover_m: grass round the product) hides the product's
    base, as a holdout every stage respects (ml/pipeline/ground_cover.py)."""
    if shot.ground.cover_m <= 0:
        return rgba
    if "position" not in passes:
        raise FrameSkip(f"frame {frame}: the shot's ground cover ({shot.ground.cover_m:g} m) needs the render's position pass; "
                        "render it (the default passes) or set the cover to 0")
    covered = apply_cover(rgba, passes["position"], shot.ground.point, shot.ground.normal, shot.ground.cover_m)
    if "shadow_catcher" in passes:
        passes["shadow_catcher"] = shade_under_cover(passes["shadow_catcher"], rgba[..., 3], covered)
    return covered.rgba


def apply_holdout(paths: ShotPaths, frame: int, rgba: np.ndarray, passes: dict[str, np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """What stands in front of the product hides it: the frame's holdout matte (white =
    occluder) cuts the product's alpha and its shadow, before any stage sees them, so every
    compositor respects it."""
    path = paths.holdout_frame(frame)
    if not path.is_file():
        return rgba
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)  # soft: a matte's edges are fractional
    if img is None:
        raise FrameSkip(f"frame {frame}: {path}: cannot read this holdout matte")
    hold = img.astype(np.float32) / 255.0
    if hold.shape != (size[1], size[0]):
        raise FrameSkip(f"frame {frame}: holdout {path} is {hold.shape[1]}x{hold.shape[0]} but the plate is {size[0]}x{size[1]}")
    keep = (1.0 - np.clip(hold.astype(np.float32), 0.0, 1.0))
    out = rgba.copy()
    out[..., 3] *= keep
    if "shadow_catcher" in passes:
        passes["shadow_catcher"] = 1.0 - (1.0 - passes["shadow_catcher"]) * keep[..., None]
    return out


def _load_safe(paths: ShotPaths, shot: Shot, frame: int, need_render: bool) -> Loaded:
    try:
        return Loaded(frame, load_frame(paths, shot, frame, need_render))
    except FrameSkip as exc:
        return Loaded(frame, None, str(exc))


def prefetch(paths: ShotPaths, shot: Shot, frames: list[int], need_render: bool = True) -> Iterator[Loaded]:
    """Yield loaded frames in order; frame k+1 is read on a worker thread while k is used.

    Decoding PNG/EXR releases the GIL (OpenCV, OpenEXR), so the read overlaps the compute.
    """
    if not frames:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vanelia-prefetch") as pool:
        nxt: Future = pool.submit(_load_safe, paths, shot, frames[0], need_render)
        for i in range(len(frames)):
            cur = nxt.result()
            if i + 1 < len(frames):
                nxt = pool.submit(_load_safe, paths, shot, frames[i + 1], need_render)
            yield cur
