"""Blender's own motion tracker, run from code: detect, track both ways, clean, solve, report.

The same functions serve the panel and `vanelia track --tracker blender` (through the batch
script). The result is a plain dict with the fields of ml.camera.solve.Solve (width, height,
cameras {frame: {fx, fy, cx, cy, c2w}}, distortion, points, frame_error, frame_tracks,
tracker, notes), poses in the OpenCV convention and pixels with (0, 0) at the top-left
corner (shotcache.schema conventions), so the sidecar side can fit the ground, QC and write
transforms.json without knowing Blender.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Callable

import bpy
import numpy as np

from ..shotcache.layout import atomic_write_json
from ..shotcache.schema import UserError

CV_FROM_BLENDER_CAM = np.diag([1.0, -1.0, -1.0, 1.0])


class TrackingError(UserError, RuntimeError):
    """The footage could not be tracked or solved; says why and what to try."""


def _clip_context(clip: bpy.types.MovieClip) -> dict[str, Any]:
    """A CLIP_EDITOR area to run clip operators in, headless or not."""
    wm: Any = bpy.context.window_manager
    if not wm.windows:
        raise TrackingError("no Blender window to run the tracker in (start Blender normally or with -b)")
    win = wm.windows[0]
    area = max(win.screen.areas, key=lambda a: a.width * a.height)
    area.type = "CLIP_EDITOR"
    space: Any = area.spaces.active
    space.clip = clip
    space.mode = "TRACKING"
    region = next(r for r in area.regions if r.type == "WINDOW")
    return {"window": win, "area": area, "region": region, "space_data": space, "edit_movieclip": clip}


def _run(op: Any, what: str, **kw: Any) -> None:
    result = op(**kw)
    if "FINISHED" not in result:
        raise TrackingError(f"Blender's {what} did not finish ({result})")


def load_clip(path: str) -> bpy.types.MovieClip:
    if not os.path.exists(path):
        raise TrackingError(f"{path}: no such video or image sequence")
    try:
        clip = bpy.data.movieclips.load(path, check_existing=True)
    except RuntimeError as exc:
        raise TrackingError(f"{path}: Blender cannot open this footage ({exc})") from exc
    size: Any = clip.size
    if clip.frame_duration < 3 or size[0] == 0:
        raise TrackingError(f"{path}: {clip.frame_duration} frame(s); a clip this short cannot be tracked (need >= 3)")
    return clip


def _drop_jumpy_tracks(clip: bpy.types.MovieClip, max_jump: float = 0.08) -> int:
    """Select tracks whose marker jumps more than max_jump (frame fraction) between frames."""
    tracking: Any = clip.tracking
    tracks = tracking.objects.active.tracks
    bad = []
    for tr in tracks:
        pts = [(m.frame, m.co[0], m.co[1]) for m in tr.markers if not m.mute]
        pts.sort()
        for (f0, x0, y0), (f1, x1, y1) in zip(pts, pts[1:]):
            if f1 == f0 + 1 and ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 > max_jump:
                bad.append(tr)
                break
    for tr in tracks:
        tr.select = tr in bad
    return len(bad)


def track_and_solve(
    path: str,
    focal_mm: float | None = None,
    sensor_mm: float = 36.0,
    min_track_frames: int = 8,
    max_error_px: float = 3.0,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Track the footage at ``path`` and solve the camera; see the module docstring for the result."""
    clip = load_clip(path)
    size: Any = clip.size
    W, H = int(size[0]), int(size[1])
    start, end = clip.frame_start, clip.frame_start + clip.frame_duration - 1
    tracking: Any = clip.tracking
    scene: Any = bpy.context.scene
    cam = tracking.camera
    cam.sensor_width = sensor_mm
    cam.units = "MILLIMETERS"
    cam.distortion_model = "POLYNOMIAL"
    cam.focal_length = focal_mm or 35.0
    cam.principal_point_pixels = (W / 2.0, H / 2.0)
    settings = tracking.settings
    settings.default_pattern_size = max(11, (min(W, H) // 40) | 1)
    settings.default_search_size = settings.default_pattern_size * 4 + 1
    settings.default_motion_model = "Loc"
    settings.use_keyframe_selection = True
    settings.refine_intrinsics_focal_length = focal_mm is None
    settings.refine_intrinsics_radial_distortion = False
    ctx = _clip_context(clip)
    override: Any = bpy.context.temp_override(**ctx)  # the 5.2 stubs lack __enter__
    with override:
        for frame, backwards in ((start, False), (end, True)):
            ctx["space_data"].clip_user.frame_current = frame
            scene.frame_set(frame)
            bpy.ops.clip.select_all(action="DESELECT")
            _run(bpy.ops.clip.detect_features, "feature detection", threshold=0.005, min_distance=max(6, W // 60), margin=8)
            progress(f"[vanelia] track: {len(tracking.tracks)} tracks, tracking {'backward' if backwards else 'forward'}")
            _run(bpy.ops.clip.track_markers, "marker tracking", backwards=backwards, sequence=True)
        dropped = _drop_jumpy_tracks(clip)
        if dropped:
            bpy.ops.clip.delete_track()
        bpy.ops.clip.select_all(action="SELECT")
        bpy.ops.clip.clean_tracks(frames=min_track_frames, error=0.0, action="DELETE_TRACK")
        if len(tracking.tracks) < 8:
            raise TrackingError(f"{path}: only {len(tracking.tracks)} usable tracks (too few features: a blank wall?); "
                                "give a camera track or try the colmap tracker")
        _run(bpy.ops.clip.solve_camera, "camera solve")
        bpy.ops.clip.select_all(action="SELECT")
        bpy.ops.clip.clean_tracks(frames=min_track_frames, error=max_error_px, action="DELETE_TRACK")
        _run(bpy.ops.clip.solve_camera, "camera solve (after cleaning)")
    rec = tracking.objects.active.reconstruction
    if not rec.is_valid or not len(rec.cameras):
        raise TrackingError(f"{path}: Blender could not solve the camera (no parallax or too few tracks); "
                            "for a locked-off shot give --focal-mm and a static camera is used")
    progress(f"[vanelia] track: solved {len(rec.cameras)} frames, average error {rec.average_error:.3f} px")
    return _result(clip, W, H)


def _result(clip: bpy.types.MovieClip, W: int, H: int) -> dict[str, Any]:
    tracking: Any = clip.tracking
    cam = tracking.camera
    f_px = cam.focal_length / cam.sensor_width * W
    ppx, ppy = cam.principal_point_pixels
    intr = {"fx": f_px, "fy": f_px * cam.pixel_aspect, "cx": float(ppx), "cy": float(H - ppy)}
    cameras, errors, counts = {}, {}, {}
    rec = tracking.objects.active.reconstruction
    for rc in rec.cameras:
        c2w = np.array(rc.matrix) @ CV_FROM_BLENDER_CAM
        cameras[str(rc.frame)] = {**intr, "c2w": c2w.tolist()}
        errors[str(rc.frame)] = float(rc.average_error)
        counts[str(rc.frame)] = 0
    points = []
    for tr in tracking.objects.active.tracks:
        if tr.has_bundle:
            points.append([float(v) for v in tr.bundle])
            for m in tr.markers:
                if not m.mute and str(m.frame) in counts:
                    counts[str(m.frame)] += 1
    return {
        "width": W, "height": H, "tracker": "blender", "cameras": cameras,
        "distortion": {"k1": cam.k1, "k2": cam.k2, "k3": cam.k3, "p1": 0.0, "p2": 0.0},
        "points": points, "frame_error": errors, "frame_tracks": counts,
        "notes": [f"Blender {bpy.app.version_string} solve, average error {rec.average_error:.3f} px"],
    }


def batch_track(argv: list[str]) -> int:
    """Batch step ``track``: ``--input PLATE --output SOLVE.json [--focal-mm F]``.

    Writes the plain solve document (see the module docstring); `vanelia track --tracker
    blender` turns it into a levelled, QC'd transforms.json on the sidecar side.
    """
    p = argparse.ArgumentParser(prog="vanelia_batch.py track", description=batch_track.__doc__)
    p.add_argument("--input", required=True, help="plate video or image sequence (first frame's path)")
    p.add_argument("--output", required=True, help="solve document (.json) to write")
    p.add_argument("--focal-mm", type=float, default=None, help="known focal length on a 36 mm sensor")
    a = p.parse_args(argv)
    doc = track_and_solve(os.path.abspath(a.input), focal_mm=a.focal_mm)
    atomic_write_json(a.output, doc)
    print(f"[vanelia] track: wrote {a.output}", flush=True)
    return 0


BATCH_STEPS = {"track": batch_track}
