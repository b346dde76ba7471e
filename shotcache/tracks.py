"""Camera tracks in files: the one NeRF ``transforms.json`` / COLMAP text reader, and the writer.

Stdlib + numpy, so both sides use it (Blender builds a shot from a track, the tracker writes
one). Every track comes out in the shot convention: pixel intrinsics (0,0 = top-left corner)
and OpenCV camera-to-world (axes.py), keyed by plate frame number. A frame's number is its
``frame`` entry when the file gives one (`vanelia track` does), else the last number in its
image name (``images/0012.jpg`` -> 12; frames.py), the rule the plate decoder uses too, so
a track and a plate made from the same images line up. The writer names each frame's
*input* image in ``file_path`` (relative to the file), so its output is a normal
transforms.json other tools (nerfstudio, instant-ngp) read as well.

A new track format goes here: a ``load_<format>`` returning ``TrackData`` and a branch in
``load_track``.
"""
from __future__ import annotations

import json
import math
import os
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .axes import cv_to_gl, gl_to_cv
from .errors import InputError
from .frames import IMAGE_EXTS, frame_name, frame_number
from .layout import atomic_write_bytes, atomic_write_json
from .schema import Distortion, FrameCamera


@dataclass
class TrackData:
    """A camera track in shot convention, plus what it was solved against."""

    kind: str
    source: str
    frames: dict[int, FrameCamera]
    width: int = 0
    height: int = 0
    distortion: Distortion = field(default_factory=Distortion)
    points: np.ndarray | None = None
    """Nx3 world points of the reconstruction (COLMAP points3D), used to fit a ground plane."""
    light_direction: list[float] | None = None
    """A key light direction recorded with the track (``light_direction`` in transforms.json,
    e.g. by the demo generator, which knows its sun); used unless the user gives one."""
    qc: dict[str, Any] = field(default_factory=dict)
    """The solver's quality report (``qc`` in transforms.json written by `vanelia track`):
    median error, solved fraction, unreliable frames, usable verdict; kept in shot.json."""
    tracker: str = ""
    """Which solver made it (``tracker`` in transforms.json)."""
    frame_error: dict[int, float] = field(default_factory=dict)
    """Mean reprojection error (px) per solved frame, when the solver measured it."""
    frame_tracks: dict[int, int] = field(default_factory=dict)
    """Live feature tracks per solved frame, when the solver counted them."""
    files: dict[int, str] = field(default_factory=dict)
    """Each frame's ``file_path`` as written in the file."""


def load_track(path: str | os.PathLike[str], skip_missing: bool = True) -> TrackData:
    """transforms.json, a COLMAP text model folder, or its cameras.txt / images.txt.

    ``skip_missing``: a transforms.json frame whose image is not beside the file (and that
    gives no explicit ``frame`` number) is left out: it can't be matched to a plate frame."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: camera track not found; give a transforms.json or a COLMAP text model folder")
    if p.is_dir():
        if (p / "transforms.json").is_file():
            return load_transforms(p / "transforms.json", skip_missing)
        for sub in (p, p / "sparse" / "0", p / "sparse"):
            if (sub / "cameras.txt").is_file() and (sub / "images.txt").is_file():
                return load_colmap(sub)
        raise InputError(f"{p}: no transforms.json or COLMAP cameras.txt + images.txt in this folder")
    if p.suffix.lower() == ".json":
        return load_transforms(p, skip_missing)
    if p.name in ("cameras.txt", "images.txt", "points3D.txt"):
        return load_colmap(p.parent)
    raise InputError(f"{p}: unknown camera track format; give a transforms.json or a COLMAP text model (cameras.txt, images.txt)")


# ---------------------------------------------------------------------------
# NeRF transforms.json
# ---------------------------------------------------------------------------


def _intrinsics(d: dict[str, Any], base: dict[str, Any], where: str) -> tuple[float, float, float, float, int, int]:
    def get(key: str) -> Any:
        return d.get(key, base.get(key))

    w, h = get("w"), get("h")
    w = int(round(float(w))) if w is not None else 0
    h = int(round(float(h))) if h is not None else 0
    fx, fy = get("fl_x"), get("fl_y")
    if fx is None and get("camera_angle_x") is not None:
        if not w:
            raise InputError(f"{where}: camera_angle_x needs the image width 'w'")
        fx = 0.5 * w / math.tan(0.5 * float(get("camera_angle_x")))
    if fx is None:
        raise InputError(f"{where}: no focal length (fl_x or camera_angle_x); add the intrinsics to the track")
    if fy is None:
        fy = fx
        if get("camera_angle_y") is not None and h:
            fy = 0.5 * h / math.tan(0.5 * float(get("camera_angle_y")))
    cx = get("cx")
    cy = get("cy")
    if cx is None or cy is None:
        if not (w and h):
            raise InputError(f"{where}: no principal point (cx, cy) and no image size (w, h)")
        cx = w / 2.0 if cx is None else cx
        cy = h / 2.0 if cy is None else cy
    return float(fx), float(fy), float(cx), float(cy), w, h


def _image_exists(base_dir: Path, file_path: str) -> bool:
    p = base_dir / file_path
    if p.is_file():
        return True
    if not p.suffix:  # instant-ngp files sometimes omit the extension
        return any(p.with_suffix(e).is_file() for e in IMAGE_EXTS)
    return False


def load_transforms(path: str | Path, skip_missing: bool = True) -> TrackData:
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable transforms.json ({exc}); give a NeRF-style transforms.json") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list) or not doc["frames"]:
        raise InputError(f"{path}: no 'frames' list; a transforms.json needs frames with file_path and transform_matrix")
    dist = Distortion(**{k: float(doc.get(k, 0.0)) for k in ("k1", "k2", "p1", "p2", "k3")})
    frames: dict[int, FrameCamera] = {}
    errors: dict[int, float] = {}
    counts: dict[int, int] = {}
    files: dict[int, str] = {}
    width = height = 0
    skipped = 0
    for i, fr in enumerate(doc["frames"]):
        where = f"{path}: frames[{i}]"
        if not isinstance(fr, dict) or "transform_matrix" not in fr:
            raise InputError(f"{where}: missing transform_matrix")
        name = str(fr.get("file_path", ""))
        explicit = _explicit_frame(fr, where)
        # a frame numbered explicitly (`vanelia track` writes "frame": n; its images were
        # temporary) is the plate's frame n: no image needed to place it in the shot
        if skip_missing and name and explicit is None and not _image_exists(path.parent, name):
            skipped += 1
            continue
        fx, fy, cx, cy, w, h = _intrinsics(fr, doc, where)
        width, height = width or w, height or h
        m = np.asarray(fr["transform_matrix"], dtype=np.float64)
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise InputError(f"{where}: transform_matrix must be a finite 4x4 matrix")
        c2w = gl_to_cv(m)
        num = explicit if explicit is not None else (frame_number(name, i + 1) if name else i + 1)
        if num in frames:
            raise InputError(f"{where}: two frames map to frame number {num}; image names must carry distinct numbers")
        frames[num] = FrameCamera(fx, fy, cx, cy, c2w.tolist())
        files[num] = name
        if isinstance(fr.get("reprojection_error"), (int, float)):
            errors[num] = float(fr["reprojection_error"])
        if isinstance(fr.get("tracks"), int):
            counts[num] = int(fr["tracks"])
    if not frames:
        raise InputError(f"{path}: none of the {skipped} images named in its frames exist next to it; put the images beside transforms.json")
    light = doc.get("light_direction")
    if light is not None:
        try:
            light = [float(v) for v in light]
        except (TypeError, ValueError):
            light = None
        if light is None or len(light) != 3 or not any(light):
            raise InputError(f"{path}: light_direction must be 3 numbers (a direction towards the light)")
    qc = doc.get("qc", {})
    if not isinstance(qc, dict):
        raise InputError(f"{path}: 'qc' must be an object (the track's quality report), got {type(qc).__name__}; remove it or re-run vanelia track")
    return TrackData("transforms", str(path), dict(sorted(frames.items())), width, height, dist, light_direction=light,
                     qc=_json_safe(qc), tracker=str(doc.get("tracker", "")), frame_error=errors, frame_tracks=counts,
                     files=files, points=_points_beside(path, doc.get("ply_file_path")))


def _points_beside(path: Path, name: Any) -> np.ndarray | None:
    """The track's sparse points (``ply_file_path``, nerfstudio's key), None when it has none.
    A missing file is not an error: the cameras and the levelled ground are all a shot needs;
    without points only the automatic static occluders are lost (a track copied without its
    .ply, a farm chunk)."""
    if not isinstance(name, str) or not name:
        return None
    ply = path.parent / name
    return read_ply(ply) if ply.is_file() else None


MAX_PLY_POINTS = 50_000
"""Points written with a track: enough to densify occluders and fit the ground, a few MB."""


def write_ply(path: str | os.PathLike[str], points: np.ndarray) -> Path:
    """Binary little-endian PLY of Nx3 float32 vertices (what nerfstudio and Blender read),
    thinned evenly to MAX_PLY_POINTS; written atomically."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) > MAX_PLY_POINTS:
        pts = pts[np.linspace(0, len(pts) - 1, MAX_PLY_POINTS).astype(int)]
    head = ("ply\nformat binary_little_endian 1.0\n"
            f"element vertex {len(pts)}\nproperty float x\nproperty float y\nproperty float z\nend_header\n")
    return atomic_write_bytes(path, head.encode("ascii") + pts.astype("<f4").tobytes())


def read_ply(path: str | os.PathLike[str]) -> np.ndarray:
    """Nx3 float64 vertices of a PLY (ascii or binary little-endian; x, y, z read, other
    float properties skipped). A malformed file is an InputError naming it."""
    data = Path(path).read_bytes()
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise InputError(f"{path}: not a PLY file (no 'ply' header)")
    header = data[:end].decode("ascii", "replace").splitlines()
    body = data[data.index(b"\n", end) + 1:]
    fmt = next((ln.split()[1] for ln in header if ln.startswith("format")), "")
    count, props, in_vertex = 0, [], False
    for ln in header:
        parts = ln.split()
        if parts[:2] == ["element", "vertex"]:
            count, in_vertex = int(parts[2]), True
        elif parts[:1] == ["element"]:
            in_vertex = False
        elif parts[:1] == ["property"] and in_vertex:
            props.append((parts[-1], parts[1]))
    kinds = {"float": "<f4", "float32": "<f4", "double": "<f8", "float64": "<f8", "uchar": "u1", "uint8": "u1",
             "int": "<i4", "int32": "<i4"}
    try:
        if fmt == "ascii":
            rows = np.array([ln.split() for ln in body.decode("ascii").splitlines()[:count]], dtype=np.float64)
            table = {name: rows[:, i] for i, (name, _) in enumerate(props)}
        elif fmt == "binary_little_endian":
            arr = np.frombuffer(body, dtype=np.dtype([(n, kinds[t]) for n, t in props]), count=count)
            table = {name: arr[name].astype(np.float64) for name, _ in props}
        else:
            raise InputError(f"{path}: PLY format {fmt!r} is not read (ascii or binary_little_endian)")
        return np.stack([table["x"], table["y"], table["z"]], axis=1).reshape(-1, 3)
    except (KeyError, ValueError, IndexError) as exc:
        raise InputError(f"{path}: malformed PLY vertices ({exc})") from None


def _explicit_frame(fr: dict[str, Any], where: str) -> int | None:
    """The frame's own plate frame number ("frame"), if it gives one."""
    if fr.get("frame") is None:
        return None
    try:
        return int(fr["frame"])
    except (TypeError, ValueError):
        raise InputError(f"{where}: 'frame' must be a frame number, got {fr['frame']!r}") from None


def _json_safe(value: Any) -> Any:
    """``value`` with NaN/Infinity (an error over no frames) as None: shot.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


# ---------------------------------------------------------------------------
# COLMAP text model
# ---------------------------------------------------------------------------


def _data_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _colmap_camera(model: str, params: list[float], where: str) -> tuple[float, float, float, float, Distortion]:
    d = Distortion()
    if model == "SIMPLE_PINHOLE":
        f, cx, cy = params[:3]
        return f, f, cx, cy, d
    if model == "PINHOLE":
        fx, fy, cx, cy = params[:4]
        return fx, fy, cx, cy, d
    if model == "SIMPLE_RADIAL":
        f, cx, cy, k = params[:4]
        return f, f, cx, cy, Distortion(k1=k)
    if model == "RADIAL":
        f, cx, cy, k1, k2 = params[:5]
        return f, f, cx, cy, Distortion(k1=k1, k2=k2)
    if model in ("OPENCV", "FULL_OPENCV"):
        fx, fy, cx, cy, k1, k2, p1, p2 = params[:8]
        k3 = params[8] if model == "FULL_OPENCV" and len(params) > 8 else 0.0
        return fx, fy, cx, cy, Distortion(k1=k1, k2=k2, p1=p1, p2=p2, k3=k3)
    raise InputError(f"{where}: COLMAP camera model {model} is not supported; use PINHOLE, SIMPLE_RADIAL, RADIAL or OPENCV")


def quat_to_matrix(qw: float, qx: float, qy: float, qz: float) -> np.ndarray:
    q = np.array([qw, qx, qy, qz], dtype=np.float64)
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError("zero quaternion")
    w, x, y, z = q / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def load_colmap(folder: str | Path) -> TrackData:
    folder = Path(folder)
    cams_path, imgs_path = folder / "cameras.txt", folder / "images.txt"
    for p in (cams_path, imgs_path):
        if not p.is_file():
            raise InputError(f"{p}: missing; a COLMAP text model needs cameras.txt and images.txt (export with colmap model_converter --output_type TXT)")
    cams: dict[int, tuple[float, float, float, float, Distortion, int, int]] = {}
    for ln in _data_lines(cams_path):
        bits = ln.split()
        try:
            cid, model, w, h = int(bits[0]), bits[1], int(bits[2]), int(bits[3])
            params = [float(v) for v in bits[4:]]
            fx, fy, cx, cy, dist = _colmap_camera(model, params, f"{cams_path}: camera {cid}")
        except (IndexError, ValueError) as exc:
            raise InputError(f"{cams_path}: bad line {ln!r} ({exc})") from exc
        cams[cid] = (fx, fy, cx, cy, dist, w, h)
    lines = [ln for ln in imgs_path.read_text(encoding="utf-8").splitlines() if not ln.lstrip().startswith("#")]
    frames: dict[int, FrameCamera] = {}
    width = height = 0
    distortion = Distortion()
    # images.txt: two lines per image (pose line, then 2D points line which may be empty)
    entries = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        entries.append(lines[i])
        i += 2
    for idx, ln in enumerate(entries):
        bits = ln.split()
        try:
            qw, qx, qy, qz, tx, ty, tz = (float(v) for v in bits[1:8])
            cid, name = int(bits[8]), " ".join(bits[9:])
            rot = quat_to_matrix(qw, qx, qy, qz)
        except (IndexError, ValueError) as exc:
            raise InputError(f"{imgs_path}: bad image line {ln!r} ({exc})") from exc
        if cid not in cams:
            raise InputError(f"{imgs_path}: image {name} uses camera {cid}, which cameras.txt does not define")
        fx, fy, cx, cy, dist, w, h = cams[cid]
        width, height, distortion = width or w, height or h, dist
        c2w = np.eye(4)
        c2w[:3, :3] = rot.T
        c2w[:3, 3] = -rot.T @ np.array([tx, ty, tz])
        num = frame_number(name, idx + 1)
        if num in frames:
            raise InputError(f"{imgs_path}: two images map to frame number {num}; image names must carry distinct numbers")
        frames[num] = FrameCamera(fx, fy, cx, cy, c2w.tolist())
    if not frames:
        raise InputError(f"{imgs_path}: no registered images; the COLMAP model is empty")
    points = None
    pts_path = folder / "points3D.txt"
    if pts_path.is_file():
        rows = []
        for ln in _data_lines(pts_path):
            bits = ln.split()
            if len(bits) >= 4:
                rows.append([float(bits[1]), float(bits[2]), float(bits[3])])
        points = np.asarray(rows, dtype=np.float64).reshape(-1, 3) if rows else None
    return TrackData("colmap", str(folder), dict(sorted(frames.items())), width, height, distortion, points)


# ---------------------------------------------------------------------------
# fitting a track to a plate
# ---------------------------------------------------------------------------


def scale_to(track: TrackData, width: int, height: int) -> TrackData:
    """Rescale intrinsics solved at the track's image size to the plate's size.

    Same aspect (within a pixel) is required: anything else means the track belongs to
    other footage or a crop, which no scale can fix.
    """
    tw, th = track.width, track.height
    if not (tw and th) or (tw, th) == (width, height):
        return track
    if abs(tw * height - th * width) > max(tw, width):
        raise InputError(
            f"{track.source}: the track was solved on {tw}x{th} images but the plate is {width}x{height} "
            "(different aspect); give the track made for this plate"
        )
    sx, sy = width / tw, height / th
    frames = {f: FrameCamera(c.fx * sx, c.fy * sy, c.cx * sx, c.cy * sy, c.c2w) for f, c in track.frames.items()}
    return dataclasses.replace(track, frames=frames, width=width, height=height)


# ---------------------------------------------------------------------------
# writing transforms.json
# ---------------------------------------------------------------------------


def input_file_paths(output: str | os.PathLike[str], images: dict[int, str | os.PathLike[str]]) -> dict[int, str]:
    """``file_path`` entries that name the input images: relative to the folder of the
    transforms.json being written (absolute only when there is no relative path, e.g.
    another drive), with forward slashes as the format expects."""
    base = Path(os.path.abspath(Path(output).parent))
    out = {}
    for num, img in images.items():
        full = os.path.abspath(img)
        try:
            out[num] = Path(os.path.relpath(full, base)).as_posix()
        except ValueError:
            out[num] = Path(full).as_posix()
    return out


def write_transforms(path: str | os.PathLike[str], track: TrackData, frame_files: dict[int, str] | None = None,
                     qc: dict[str, Any] | None = None) -> Path:
    """Write ``track`` as a NeRF transforms.json (atomically): global OPENCV intrinsics of the
    first frame, OpenGL camera-to-world, the explicit plate frame number of every frame and
    ``file_path`` from ``frame_files`` (see ``input_file_paths``; a shot's own
    ``plate/000012.png`` when not given), plus the solver's per-frame error and track count."""
    frames = sorted(track.frames)
    if not frames:
        raise InputError(f"{path}: the track has no solved frame to write")
    first = track.frames[frames[0]]
    d = track.distortion
    files = {**track.files, **(frame_files or {})}
    doc: dict[str, Any] = {
        "camera_model": "OPENCV",
        "w": track.width, "h": track.height,
        "fl_x": first.fx, "fl_y": first.fy, "cx": first.cx, "cy": first.cy,
        "k1": d.k1, "k2": d.k2, "p1": d.p1, "p2": d.p2,
        "tracker": track.tracker,
        "frames": [
            {
                "file_path": files.get(f) or f"plate/{frame_name(f, 'png')}",
                "frame": f,
                "transform_matrix": cv_to_gl(track.frames[f].c2w).tolist(),
                "reprojection_error": track.frame_error.get(f),
                "tracks": track.frame_tracks.get(f),
            }
            for f in frames
        ],
    }
    if d.k3:
        doc["k3"] = d.k3
    if track.points is not None and len(track.points):
        ply = Path(path).with_name(Path(path).stem + "_points.ply")
        write_ply(ply, track.points)
        doc["ply_file_path"] = ply.name
    if track.light_direction is not None:
        doc["light_direction"] = list(track.light_direction)
    if qc is not None or track.qc:
        doc["qc"] = _json_safe(qc if qc is not None else track.qc)
    return atomic_write_json(path, doc)
