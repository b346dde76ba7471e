"""NeRF-style transforms.json <-> Solve (intrinsics, distortion, OpenGL camera-to-world)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shotcache.layout import atomic_write_json
from shotcache.schema import Distortion, FrameCamera, SchemaError

from .solve import Solve

GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])
"""OpenCV camera axes (x right, y down, z forward) -> OpenGL (x right, y up, z back)."""


def write_transforms(path: Path, solve: Solve, frame_files: dict[int, str] | None = None, qc: dict | None = None) -> Path:
    frames = sorted(solve.cameras)
    first = solve.cameras[frames[0]]
    d = solve.distortion
    doc = {
        "camera_model": "OPENCV",
        "w": solve.width, "h": solve.height,
        "fl_x": first.fx, "fl_y": first.fy, "cx": first.cx, "cy": first.cy,
        "k1": d.k1, "k2": d.k2, "p1": d.p1, "p2": d.p2,
        "tracker": solve.tracker,
        "frames": [
            {
                "file_path": (frame_files or {}).get(f, f"plate/{f:06d}.png"),
                "frame": f,
                "transform_matrix": (np.asarray(solve.cameras[f].c2w) @ GL_FROM_CV).tolist(),
                "reprojection_error": solve.frame_error.get(f),
                "tracks": solve.frame_tracks.get(f),
            }
            for f in frames
        ],
    }
    if qc is not None:
        doc["qc"] = qc
    return atomic_write_json(path, doc)


def read_transforms(path: Path, require_images: bool = False) -> Solve:
    """Read a transforms.json; frames without an image on disk are skipped when asked."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SchemaError(f"{path}: not a readable transforms.json ({exc})") from exc
    for key in ("fl_x", "frames"):
        if key not in doc:
            raise SchemaError(f"{path}: missing '{key}'; expected NeRF-style transforms.json")
    w, h = int(doc.get("w", 0)), int(doc.get("h", 0))
    fx = float(doc["fl_x"])
    fy = float(doc.get("fl_y", fx))
    cx = float(doc.get("cx", w / 2))
    cy = float(doc.get("cy", h / 2))
    cams: dict[int, FrameCamera] = {}
    for i, fr in enumerate(doc["frames"]):
        if require_images and not (path.parent / fr["file_path"]).exists():
            continue
        num = int(fr.get("frame", i + 1))
        c2w = np.asarray(fr["transform_matrix"], dtype=np.float64) @ GL_FROM_CV
        cams[num] = FrameCamera(fx=fx, fy=fy, cx=cx, cy=cy, c2w=c2w.tolist())
    dist = Distortion(**{k: float(doc.get(k, 0.0)) for k in ("k1", "k2", "p1", "p2")})
    return Solve(width=w, height=h, cameras=cams, distortion=dist, tracker=str(doc.get("tracker", "")))
