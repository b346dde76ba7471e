"""The result of a camera solve, whatever tracker produced it.

On disk a solve is a transforms.json read and written by ``shotcache.tracks`` (the one
track reader/writer); ``read_solve``/``write_solve`` only convert between its ``TrackData``
and ``Solve``, which adds the sparse points' errors and the geometry helpers the tracker needs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shotcache import lens, tracks
from shotcache.schema import Distortion, FrameCamera

STATIONARY_TRACKERS = ("static", "nodal", "blender-tripod")
"""Solves of a camera that does not travel: they come levelled over an assumed ground, and
they see no depth (nothing can be triangulated from them)."""


@dataclass
class Solve:
    """Per-frame cameras (OpenCV c2w), sparse 3D points and what the tracker measured.

    ``frame_error`` is the mean reprojection error (px) of each solved frame and
    ``frame_tracks`` its number of live tracks: the inputs of the QC.
    """

    width: int
    height: int
    cameras: dict[int, FrameCamera]
    distortion: Distortion = field(default_factory=Distortion)
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    point_error: np.ndarray = field(default_factory=lambda: np.zeros((0,)))
    frame_error: dict[int, float] = field(default_factory=dict)
    frame_tracks: dict[int, int] = field(default_factory=dict)
    tracker: str = ""
    notes: list[str] = field(default_factory=list)
    fallback: str = ""
    """Why the solver settled for a weaker model than the footage needs (a nodal solve of a
    camera that travels): another solver may do better. Not written to transforms.json."""

    def median_error(self) -> float:
        """Median reprojection error (px) over the solved frames that measured one; inf if none."""
        errs = [e for e in self.frame_error.values() if np.isfinite(e)]
        return float(np.median(errs)) if errs else float("inf")

    def c2w(self, frame: int) -> np.ndarray:
        return np.asarray(self.cameras[frame].c2w, dtype=np.float64)

    def centres(self) -> np.ndarray:
        return np.stack([self.c2w(f)[:3, 3] for f in sorted(self.cameras)])

    def K(self, frame: int) -> np.ndarray:
        c = self.cameras[frame]
        return np.array([[c.fx, 0, c.cx], [0, c.fy, c.cy], [0, 0, 1.0]])

    def project(self, frame: int, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coords (corner convention) and camera-space depth of world points, through
        the solve's lens (``distortion``, shotcache/lens.py): where the plate shows them."""
        w2c = np.linalg.inv(self.c2w(frame))
        cam = (w2c[:3, :3] @ np.asarray(pts, dtype=np.float64).T + w2c[:3, 3:4]).T
        z = cam[:, 2]
        if not self.distortion.is_zero():
            c = self.cameras[frame]
            with np.errstate(divide="ignore", invalid="ignore"):
                return lens.project(c, self.distortion, cam), z
        uv = (self.K(frame) @ cam.T).T
        with np.errstate(divide="ignore", invalid="ignore"):
            px = uv[:, :2] / uv[:, 2:3]
        return px, z

    def transform(self, M: np.ndarray, scale: float = 1.0) -> "Solve":
        """Apply a world similarity x' = scale * R x + t (M = [R t; 0 1], R orthonormal) in place."""
        R, t = M[:3, :3], M[:3, 3]
        for cam in self.cameras.values():
            c2w = np.asarray(cam.c2w, dtype=np.float64)
            new = np.eye(4)
            new[:3, :3] = R @ c2w[:3, :3]
            new[:3, 3] = scale * (R @ c2w[:3, 3]) + t
            cam.c2w = new.tolist()
        if len(self.points):
            self.points = (scale * (R @ self.points.T)).T + t
        return self


def solve_from_dict(doc: dict) -> Solve:
    """A Solve from the plain dict addon/tracking.py writes (Blender's tracker)."""
    from shotcache.schema import SchemaError

    try:
        cams = {int(k): FrameCamera(**v) for k, v in doc["cameras"].items()}
        pts = np.asarray(doc.get("points") or np.zeros((0, 3)), dtype=np.float64).reshape(-1, 3)
        return Solve(
            width=int(doc["width"]), height=int(doc["height"]), cameras=cams,
            distortion=Distortion(**{k: float(v) for k, v in doc.get("distortion", {}).items()}),
            points=pts, point_error=np.zeros(len(pts)),
            frame_error={int(k): float(v) for k, v in doc.get("frame_error", {}).items()},
            frame_tracks={int(k): int(v) for k, v in doc.get("frame_tracks", {}).items()},
            tracker=str(doc.get("tracker", "")), notes=list(doc.get("notes", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"camera solve document is malformed ({exc})") from exc


def solve_from_track(track: tracks.TrackData) -> Solve:
    """A Solve of a track read from a file (points and per-frame QC inputs as recorded)."""
    pts = track.points if track.points is not None else np.zeros((0, 3))
    return Solve(width=track.width, height=track.height, cameras=dict(track.frames), distortion=track.distortion,
                 points=np.asarray(pts, dtype=np.float64).reshape(-1, 3), point_error=np.zeros(len(pts)),
                 frame_error=dict(track.frame_error), frame_tracks=dict(track.frame_tracks), tracker=track.tracker)


def track_of(solve: Solve, qc: dict[str, Any] | None = None) -> tracks.TrackData:
    """The TrackData of a solve, for ``shotcache.tracks.write_transforms``."""
    return tracks.TrackData("transforms", "", dict(solve.cameras), solve.width, solve.height, solve.distortion,
                            points=solve.points if len(solve.points) else None, qc=dict(qc or {}), tracker=solve.tracker,
                            frame_error=dict(solve.frame_error), frame_tracks=dict(solve.frame_tracks))


def read_solve(path: str | os.PathLike[str]) -> Solve:
    """A transforms.json or COLMAP model as a Solve; every frame it lists, image beside it or not."""
    return solve_from_track(tracks.load_track(path, skip_missing=False))


def write_solve(path: str | os.PathLike[str], solve: Solve, frame_files: dict[int, str] | None = None,
                qc: dict[str, Any] | None = None) -> Path:
    """Write a solve as transforms.json (see shotcache.tracks.write_transforms for ``frame_files``)."""
    return tracks.write_transforms(path, track_of(solve), frame_files, qc=qc)
