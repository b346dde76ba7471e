"""The plate: footage decoded once into ``plate/NNNNNN.png`` (sRGB 8-bit), shown behind the camera.

Decoding runs inside Blender (its FFmpeg via a throw-away sequencer scene for video, its
image loader for sequences), so headless Blender needs nothing else installed. Frames land
in a temp folder and are renamed into place, so an interrupted decode never leaves a
half-written frame. Resizing to a requested resolution happens here, once.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import bpy
import numpy as np

from ..shotcache import lens
from ..shotcache.layout import ShotPaths, frame_name
from ..shotcache.schema import Distortion, FrameCamera
from . import compat
from ..shotcache.errors import InputError
from ..shotcache.frames import check_resolution
from ..shotcache.frames import IMAGE_EXTS, VIDEO_EXTS, frame_number, list_images  # noqa: F401

Progress = Callable[[str], None]


@dataclass
class PlateInfo:
    source: str
    kind: str  # video | images
    width: int
    height: int
    fps: float
    frames: list[int] = field(default_factory=list)


def _noop(_msg: str) -> None:
    pass


def _select(frames: list[int], wanted: tuple[int, int] | None, source: str) -> list[int]:
    if wanted is None:
        return frames
    a, b = wanted
    out = [f for f in frames if a <= f <= b]
    if not out:
        raise InputError(f"{source}: no plate frames in the range {a}:{b} (the plate has {frames[0]}..{frames[-1]})")
    return out


def probe(source: str | os.PathLike[str]) -> PlateInfo:
    """Size, fps and frame numbers of a plate without decoding it."""
    src = Path(source)
    if not src.exists():
        raise InputError(f"{src}: plate not found; give a video file or a folder of images")
    if src.is_dir():
        files = list_images(src)
        if not files:
            raise InputError(f"{src}: no images in this folder ({', '.join(IMAGE_EXTS)})")
        w, h = _image_size(files[0])
        nums = [frame_number(p.name, i + 1) for i, p in enumerate(files)]
        if len(set(nums)) != len(nums):
            nums = list(range(1, len(files) + 1))
        return PlateInfo(str(src), "images", w, h, 24.0, nums)
    if src.suffix.lower() in IMAGE_EXTS:
        w, h = _image_size(src)
        return PlateInfo(str(src), "images", w, h, 24.0, [1])
    scene = bpy.data.scenes.new("Vanelia plate probe")
    try:
        strip = compat.strips_collection(scene).new_movie("plate", str(src), 1, 1)
        fps = float(getattr(strip, "fps", 0.0) or 0.0)
        n = int(strip.frame_final_duration)
        elems: Any = strip.elements
        elem = elems[0] if len(elems) else None
        w, h = (elem.orig_width, elem.orig_height) if elem is not None else (0, 0)
    except RuntimeError as exc:
        raise InputError(f"{src}: cannot decode this video ({exc}); give an MP4/MOV or a folder of images") from exc
    finally:
        bpy.data.scenes.remove(scene)
    if fps <= 0 or n < 1 or w <= 0 or h <= 0:
        raise InputError(f"{src}: cannot decode this video (not a video Blender's FFmpeg can read); give an MP4/MOV or a folder of images")
    return PlateInfo(str(src), "video", int(w), int(h), fps, list(range(1, n + 1)))


def _load_image(path: Path) -> Any:
    try:
        img: Any = bpy.data.images.load(str(path), check_existing=False)
    except RuntimeError as exc:
        raise InputError(f"{path}: cannot read this image ({exc}); replace or remove the frame") from exc
    if img.size[0] <= 0 or img.size[1] <= 0 or not img.has_data:
        bpy.data.images.remove(img)
        raise InputError(f"{path}: cannot decode this image; replace or remove the frame")
    return img


def _image_size(path: Path) -> tuple[int, int]:
    img = _load_image(path)
    try:
        return int(img.size[0]), int(img.size[1])
    finally:
        bpy.data.images.remove(img)


def _set_identity_colour(scene: Any) -> None:
    """Display transform that maps sRGB in to the same sRGB out (no Filmic/AgX tone curve)."""
    scene.display_settings.display_device = "sRGB"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    scene.render.dither_intensity = 0.0
    try:
        scene.sequencer_colorspace_settings.name = "sRGB"
    except TypeError:
        pass


def decode(
    source: str | os.PathLike[str],
    shot_dir: str | os.PathLike[str],
    frames: tuple[int, int] | None = None,
    resolution: tuple[int, int] | None = None,
    progress: Progress = _noop,
) -> PlateInfo:
    """Decode the plate into ``shot_dir/plate/NNNNNN.png``; returns the decoded frames' info."""
    info = probe(source)
    width, height = check_resolution((info.width, info.height), resolution, str(source))
    info.frames = _select(info.frames, frames, str(source))
    paths = ShotPaths(shot_dir)
    paths.plate_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".decode-", dir=paths.plate_dir))
    try:
        if info.kind == "video":
            _decode_video(info, width, height, tmp, progress)
        else:
            _decode_images(info, width, height, tmp, progress)
        for f in info.frames:
            produced = tmp / frame_name(f, "png")
            if not produced.is_file():
                raise InputError(f"{source}: frame {f} could not be decoded; the file may be truncated")
            os.replace(produced, paths.plate_frame(f))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info.width, info.height = width, height
    return info


def _decode_video(info: PlateInfo, width: int, height: int, out: Path, progress: Progress) -> None:
    scene = bpy.data.scenes.new("Vanelia plate decode")
    try:
        r = scene.render  # resolution first: a strip's fit is computed against it when added
        r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
        strip = compat.strips_collection(scene).new_movie("plate", info.source, 1, 1, fit_method="STRETCH")
        r.pixel_aspect_x = r.pixel_aspect_y = 1.0
        r.use_sequencer = True
        r.use_compositing = False
        r.fps = max(1, round(info.fps))
        r.fps_base = r.fps / info.fps
        scene.frame_start, scene.frame_end = info.frames[0], info.frames[-1]
        strip.frame_start = 1
        _set_identity_colour(scene)
        compat.set_image_format(r.image_settings, "PNG")
        r.image_settings.color_mode = "RGB"
        r.image_settings.color_depth = "8"
        r.image_settings.compression = 15
        r.filepath = str(out) + "/######"
        r.use_file_extension = True
        progress(f"decoding {len(info.frames)} plate frames from {Path(info.source).name}")
        res = bpy.ops.render.render(animation=True, scene=scene.name)
        if not compat.op_finished(res):
            raise InputError(f"{info.source}: decoding the video was cancelled")
    finally:
        bpy.data.scenes.remove(scene)


def _decode_images(info: PlateInfo, width: int, height: int, out: Path, progress: Progress) -> None:
    src = Path(info.source)
    files = list_images(src) if src.is_dir() else [src]
    by_num = dict(zip(probe(src).frames, files))
    for i, f in enumerate(info.frames):
        path = by_num[f]
        if path.suffix.lower() == ".png" and (width, height) == (info.width, info.height):
            w, h = _image_size(path)
            if (w, h) != (width, height):
                raise InputError(f"{path}: frame is {w}x{h} but the sequence is {width}x{height}; all plate frames must have one size")
            shutil.copyfile(path, out / frame_name(f, "png"))
        else:
            img = _load_image(path)
            try:
                w, h = img.size
                if (w, h) != (info.width, info.height):
                    raise InputError(f"{path}: frame is {w}x{h} but the sequence is {info.width}x{info.height}; all plate frames must have one size")
                if (w, h) != (width, height):
                    img.scale(width, height)
                img.filepath_raw = str(out / frame_name(f, "png"))
                img.file_format = "PNG"
                img.save()
            finally:
                bpy.data.images.remove(img)
        if i % 10 == 0:
            progress(f"plate frame {i + 1}/{len(info.frames)}")


def read_pixels(path: str | os.PathLike[str]) -> np.ndarray:
    """HxWx4 float32 of a plate PNG as stored (sRGB-encoded), rows top-down."""
    img = _load_image(Path(path))
    try:
        w, h = img.size
        buf = np.empty(w * h * 4, dtype=np.float32)
        pixels: Any = img.pixels
        pixels.foreach_get(buf)
        return buf.reshape(h, w, 4)[::-1]
    finally:
        bpy.data.images.remove(img)


def write_pixels(path: str | os.PathLike[str], rgba: np.ndarray) -> None:
    """Write HxWx4 float32 (sRGB-encoded, top-down) as an 8-bit PNG, atomically."""
    h, w = rgba.shape[:2]
    img = bpy.data.images.new("vanelia-write", w, h, alpha=True, float_buffer=False)
    try:
        pixels: Any = img.pixels
        pixels.foreach_set(np.ascontiguousarray(rgba[::-1], dtype=np.float32).ravel())
        target = Path(path)
        tmp = target.with_name(f".{target.stem}.tmp.png")
        img.filepath_raw = str(tmp)
        img.file_format = "PNG"
        img.save()
        os.replace(tmp, target)
    finally:
        bpy.data.images.remove(img)


def undistort(shot_dir: str | os.PathLike[str], frames: list[int], cam: FrameCamera, dist: Distortion) -> None:
    """Replace plate frames by their undistorted version (OpenCV radial-tangential model).

    For every output pixel the ideal ray is distorted forward and the source is sampled
    bilinearly there: no iterative inversion needed. Rendered images then line up with it.
    """
    if dist.is_zero():
        return
    paths = ShotPaths(shot_dir)
    first = read_pixels(paths.plate_frame(frames[0]))
    h, w = first.shape[:2]
    u, v = np.meshgrid(np.arange(w, dtype=np.float64) + 0.5, np.arange(h, dtype=np.float64) + 0.5)
    xd, yd = lens.distort((u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, dist)
    su = np.clip(xd * cam.fx + cam.cx - 0.5, 0, w - 1)
    sv = np.clip(yd * cam.fy + cam.cy - 0.5, 0, h - 1)
    u0, v0 = np.floor(su).astype(int), np.floor(sv).astype(int)
    u1, v1 = np.minimum(u0 + 1, w - 1), np.minimum(v0 + 1, h - 1)
    fu, fv = (su - u0)[..., None], (sv - v0)[..., None]
    for f in frames:
        img = first if f == frames[0] else read_pixels(paths.plate_frame(f))
        out = (img[v0, u0] * (1 - fu) * (1 - fv) + img[v0, u1] * fu * (1 - fv) + img[v1, u0] * (1 - fu) * fv + img[v1, u1] * fu * fv)
        write_pixels(paths.plate_frame(f), out.astype(np.float32))


def plate_sequence(shot_dir: str | os.PathLike[str], frames: list[int]) -> Any:
    """The decoded plate as one Blender image sequence (``frame_locked`` shows frame F at F),
    named by the first of ``frames`` the folder holds: a farm chunk's folder holds its own."""
    paths = ShotPaths(shot_dir)
    first = next((paths.plate_frame(f) for f in frames if paths.plate_frame(f).is_file()), paths.plate_frame(frames[0]))
    img = bpy.data.images.load(str(first), check_existing=True)
    img.source = "SEQUENCE"
    return img


def frame_locked(image_user: Any, frames: list[int]) -> None:
    """Make an image user of ``plate_sequence`` show plate frame F at scene frame F (the
    shot's frames are the plate's numbers: ``plate/NNNNNN.png``)."""
    image_user.frame_start = frames[0]
    image_user.frame_offset = frames[0] - 1
    image_user.frame_duration = frames[-1] - frames[0] + 1
    image_user.use_auto_refresh = True


def set_camera_background(cam_obj: Any, shot_dir: str | os.PathLike[str], frames: list[int]) -> None:
    """Show the decoded plate behind the camera in the viewport (image sequence, frame-locked)."""
    data = cam_obj.data
    data.show_background_images = True
    data.background_images.clear()
    bg = data.background_images.new()
    bg.image = plate_sequence(shot_dir, frames)
    bg.alpha = 1.0
    bg.frame_method = "STRETCH"
    frame_locked(bg.image_user, frames)
