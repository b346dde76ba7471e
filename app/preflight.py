"""Every input of a run checked before the first expensive step (solve, render, inference).

Why a module of its own: the camera solve takes minutes and the render longer, so a
problem found afterwards (a text file named .glb, 50 masks for 70 frames, a truncated
video, an output folder nobody can write) wastes all of it -- or, worse, runs to the end
and pairs masks with the wrong frames. Here each input is opened just enough to know it is
usable (headers, packet counts, file names; no frame decoded) and refused with one message
that names the file and says what to do. Plain functions; never imports ``cli``.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from shotcache.errors import InputError, UsageError, UserError
from shotcache.frames import IMAGE_EXTS, VIDEO_EXTS, frame_number, list_images, numbered
from shotcache.gltf_extent import GLB_JSON_CHUNK, GLB_MAGIC
from shotcache.imagesize import image_size
from shotcache.layout import check_writable


class PreflightError(InputError):
    """An input that cannot be used; the message names it and what to do (exit 2)."""


@dataclass
class PlateFacts:
    """What the plate is, learned without decoding it."""

    path: Path
    kind: str  # video | images
    frames: list[int]
    """Frame numbers as the render numbers them: 1..N for a video, the numbers in the file
    names for a folder of images (1..N when the names carry none or repeat)."""
    size: tuple[int, int] | None  # (width, height) when known
    rate: Fraction | None = None
    """A video's exact average frame rate; the output MP4 keeps it."""
    codec: str | None = None
    """A video's codec (FFmpeg's name: h264, hevc, prores ...)."""
    bits_per_pixel: float | None = None
    """A video's rate: its predicted frames' mean bits over the frame's pixels (the codec match
    measures the plate's quality from it: ml.io.video.inter_bits)."""


# ---- plate ---------------------------------------------------------------------------------
NOT_FOOTAGE = {
    ".glb": "a 3D model (the product: it goes to `vanelia run --model`)",
    ".gltf": "a 3D model (the product: it goes to `vanelia run --model`)",
    ".obj": "a 3D model", ".fbx": "a 3D model", ".usd": "a 3D scene", ".usdz": "a 3D scene",
    ".blend": "a Blender file", ".json": "a JSON file (a camera track goes to --camera)",
    ".txt": "a text file", ".csv": "a text file", ".md": "a text file", ".pdf": "a document", ".zip": "an archive",
}
"""Files that are certainly not footage, refused by name before anything opens them."""


def not_footage(path: Path, what: str, why: str = "") -> PreflightError:
    """The error for a file given as a plate that is no video: names it, says what it seems
    to be and what to give instead."""
    kind = NOT_FOOTAGE.get(path.suffix.lower()) or (f"a {path.suffix} file" if path.suffix else "a file without extension")
    return PreflightError(f"{what} {path}: not footage: this is {kind}{f' ({why})' if why else ''}. Give the plate as a "
                          f"video file ({', '.join(VIDEO_EXTS[:4])} ...) or a folder of its frames (PNG, JPEG, ...)")


def probe_plate(path: Path, what: str = "--input") -> PlateFacts:
    """A video's frame count and rate from its container (every packet present), or a
    folder's image frames; PreflightError for a missing, empty, damaged or truncated plate,
    or a file that is no footage (a model, a text: named, with what to give instead)."""
    path = Path(path)
    if path.is_dir():
        return _probe_folder(path, what)
    if not path.is_file():
        raise PreflightError(f"{what} {path}: no such file or folder; give the plate video or a folder of frames")
    if path.suffix.lower() in IMAGE_EXTS:  # a still: one frame
        return PlateFacts(path, "images", [1], _image_size(path, what))
    if path.suffix.lower() in NOT_FOOTAGE:
        raise not_footage(path, what)
    return _probe_video(path, what)


def _probe_folder(path: Path, what: str) -> PlateFacts:
    files = [p for p in list_images(path) if p.suffix.lower() != ".exr"]
    if not files:
        raise PreflightError(f"{what} {path}: no image frames in this folder (PNG, JPEG, TIFF ...)")
    size = _image_size(files[0], what)
    return PlateFacts(path, "images", list(numbered(files)), size)


def _probe_video(path: Path, what: str) -> PlateFacts:
    import av

    from ml.io.video import inter_bits

    try:
        with av.open(str(path)) as box:
            if not box.streams.video:
                raise PreflightError(f"{what} {path}: has no video stream; give a video or a folder of frames")
            st = box.streams.video[0]
            declared, size = int(st.frames or 0), (st.codec_context.width, st.codec_context.height)
            rate = st.average_rate or st.guessed_rate
            codec = st.codec_context.name
            packets = [(pkt.size, bool(pkt.is_keyframe)) for pkt in box.demux(st) if pkt.size]
            present = len(packets)
    except PreflightError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        if path.suffix.lower() not in VIDEO_EXTS:
            raise not_footage(path, what, f"it does not open as a video: {exc}") from None
        raise PreflightError(f"{what} {path}: cannot read this video ({exc}); it is damaged or not a video. "
                             "Copy or export it again, or give a folder of frames") from None
    if present == 0:
        raise PreflightError(f"{what} {path}: the video holds no frames; export it again")
    if declared and present < declared:
        raise PreflightError(f"{what} {path}: the video is truncated or damaged: only {present} of the {declared} frames it "
                             "declares are in the file. Copy or export it again")
    if not rate:
        raise PreflightError(f"{what} {path}: the video states no frame rate; re-encode it with one")
    bpp = inter_bits(packets) / max(size[0] * size[1], 1)
    return PlateFacts(path, "video", list(range(1, (declared or present) + 1)), size, Fraction(rate), codec, bpp)


def _image_size(path: Path, what: str) -> tuple[int, int]:
    """Size from the header (PNG, EXR) or by decoding the one image (JPEG, TIFF ...)."""
    try:
        size = image_size(path)
    except OSError as exc:
        raise PreflightError(f"{what} {path}: cannot read this image ({exc.strerror})") from None
    if size is None:
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise PreflightError(f"{what} {path}: cannot read this image (empty, damaged or not an image); replace it")
        size = (img.shape[1], img.shape[0])
    return size


def restrict(plate: PlateFacts, frame_range: tuple[int, int] | None) -> list[int]:
    """The plate's frames inside ``--frames A:B``; an empty result is an error."""
    if frame_range is None:
        return list(plate.frames)
    a, b = frame_range
    frames = [f for f in plate.frames if a <= f <= b]
    if not frames:
        raise PreflightError(f"--frames {a}:{b}: the plate has frames {plate.frames[0]}..{plate.frames[-1]}, none in that range")
    return frames


# ---- product model -------------------------------------------------------------------------
def check_model(path: Path) -> None:
    """A glTF binary (.glb) whose header, length and JSON chunk hold up, or a .gltf JSON."""
    path = Path(path)
    if not path.is_file():
        raise PreflightError(f"--model {path}: no such file; give the product .glb")
    if path.suffix.lower() == ".gltf":
        _gltf_json(path.read_bytes(), path)
        return
    with open(path, "rb") as fh:
        head = fh.read(20)
        if len(head) < 20 or head[:4] != GLB_MAGIC:
            raise PreflightError(f"--model {path}: not a valid GLB file (it does not start with the glTF binary header); "
                                 "export the product as glTF Binary (.glb)")
        version, length, chunk_len, chunk_type = struct.unpack("<IIII", head[4:20])
        size = path.stat().st_size
        if version != 2:
            raise PreflightError(f"--model {path}: glTF version {version}; Vanelia reads glTF 2.0 .glb files, export again")
        if length != size or chunk_type != GLB_JSON_CHUNK or 20 + chunk_len > size:
            raise PreflightError(f"--model {path}: not a valid GLB file (header says {length} bytes, the file has {size}: "
                                 "truncated or damaged); export or copy it again")
        _gltf_json(fh.read(chunk_len), path)


def _gltf_json(raw: bytes, path: Path) -> None:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PreflightError(f"--model {path}: not a valid GLB file (its glTF JSON does not parse); export it again") from None
    if not isinstance(doc, dict) or "asset" not in doc:
        raise PreflightError(f"--model {path}: not a valid GLB file (no glTF 'asset' record); export it again")


# ---- camera ------------------------------------------------------------------------------------
def check_camera(path: Path) -> None:
    """The track exists and reads (transforms.json or COLMAP text model; a .blend is the
    render step's to open)."""
    if not path.exists():
        raise PreflightError(f"--camera {path}: no such file or folder")
    if path.suffix.lower() == ".blend":
        return
    from shotcache.tracks import load_track

    try:
        load_track(path)
    except (UserError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PreflightError(f"--camera {path}: not a usable camera track ({exc})") from None


# ---- masks ------------------------------------------------------------------------------------
def match_masks(mask_dir: Path, frames: list[int], all_frames: list[int] | None = None,
                size: tuple[int, int] | None = None) -> dict[int, Path]:
    """Mask file for each frame, matched by the frame number in its name (000012.png -> 12).

    Never by position: 50 masks for 70 frames paired in order puts each mask on the wrong
    frame. Refused: a mask name without a number, a frame without a mask, a mask numbered
    for a frame the plate does not have (``all_frames``), masks of another size than the plate."""
    mask_dir = Path(mask_dir)
    if not mask_dir.is_dir():
        raise PreflightError(f"--mask {mask_dir}: not a folder of mask images (white = remove), one per frame")
    files = list_images(mask_dir)
    if not files:
        raise PreflightError(f"--mask {mask_dir}: no mask images in this folder")
    how = "masks are matched to frames by the frame number in their file name (000012.png is frame 12)"
    unnumbered = [p.name for p in files if frame_number(p, -1) < 0]
    if unnumbered:
        raise PreflightError(f"--mask {mask_dir}: {unnumbered[0]} has no frame number in its name; {how}")
    by_num: dict[int, Path] = {}
    for p in files:
        n = frame_number(p, -1)
        if n in by_num:
            raise PreflightError(f"--mask {mask_dir}: {by_num[n].name} and {p.name} are both frame {n}; keep one")
        by_num[n] = p
    missing = [f for f in frames if f not in by_num]
    foreign = sorted(set(by_num) - set(all_frames if all_frames is not None else frames))
    if missing or foreign:
        parts = []
        if missing:
            parts.append(f"no mask for frame(s) {_few(missing)}")
        if foreign:
            parts.append(f"mask(s) for frame(s) {_few(foreign)} that the plate does not have")
        raise PreflightError(f"--mask {mask_dir}: {len(files)} masks for {len(frames)} frames ({frames[0]}..{frames[-1]}): "
                             f"{'; '.join(parts)}. {how[0].upper() + how[1:]}; give one mask per frame")
    if size is not None:
        for f in frames:
            got = _image_size(by_num[f], "--mask")
            if got != size:
                raise PreflightError(f"--mask {by_num[f]}: mask is {got[0]}x{got[1]} but the plate is {size[0]}x{size[1]}; "
                                     "give masks at the plate's size")
    return {f: by_num[f] for f in frames}


def _few(nums: list[int]) -> str:
    return ", ".join(map(str, nums[:8])) + (f" ... ({len(nums)} in all)" if len(nums) > 8 else "")


# ---- outputs ----------------------------------------------------------------------------------
def check_output(path: Path, what: str = "--output") -> None:
    """The folder ``path`` goes into exists or can be made, and a file can be created there."""
    folder = Path(path).parent if Path(path).suffix else Path(path)
    check_output_dir(folder, what)


def check_output_dir(folder: Path, what: str = "--output") -> None:
    folder = Path(folder) if str(folder) else Path(".")
    try:
        check_writable(folder)
    except (PermissionError, NotADirectoryError) as exc:
        raise PreflightError(f"{what}: {exc}") from None


# ---- a whole run ---------------------------------------------------------------------------------
@dataclass
class RunInputs:
    plate: PlateFacts
    frames: list[int]
    masks: dict[int, Path] | None


def check_key_options(light_dir: str | None, key_from_shadow: str | None, plate: PlateFacts | None = None,
                      frames: list[int] | None = None, light: str = "plate") -> None:
    """--light-dir and --key-from-shadow both give the key's direction: one at most, well
    formed, the pick's frame one of the shot's and its pixels inside the plate (the solved
    camera checks the rest, before the render); neither with --light shot, which renders the
    light the shot folder records as it is."""
    from shotcache.key_pick import OPTION, check_in_frame, parse_pick

    given = [f for f, v in (("--light-dir", light_dir), (OPTION, key_from_shadow)) if v is not None]
    if light == "shot" and given:
        raise UsageError(f"{given[0]} with --light shot: the shot's recorded light is rendered as it is; give the direction "
                         "without --light shot (or edit the key in the panel)")
    if key_from_shadow is None:
        return
    if light_dir is not None:
        raise UsageError(f"--light-dir and {OPTION} both give the key light's direction; give one")
    pick = parse_pick(key_from_shadow)
    if plate is not None and plate.size is not None:
        check_in_frame(pick, plate.size[0], plate.size[1], frames if frames is not None else plate.frames)


def check_run(*, plate: Path, model: Path, output: Path, camera: Path | None = None, masks: Path | None = None,
              frame_range: tuple[int, int] | None = None, keep: Path | None = None) -> RunInputs:
    """Everything `vanelia run` reads or writes, checked in the order a user fixes things."""
    check_model(model)
    facts = probe_plate(plate)
    frames = restrict(facts, frame_range)
    if camera is not None:
        check_camera(Path(camera))
    matched = match_masks(masks, frames, facts.frames, facts.size) if masks is not None else None
    check_output(output)
    if keep is not None:
        check_output_dir(keep, "--keep")
    return RunInputs(facts, frames, matched)
