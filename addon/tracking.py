"""Blender's own motion tracker, run from code: detect, track both ways, clean, solve, report.

The same functions serve the panel and `vanelia track --tracker blender` (through the batch
script). The result is a plain dict with the fields of ml.camera.solve.Solve (width, height,
cameras {frame: {fx, fy, cx, cy, c2w}}, distortion, points, frame_error, frame_tracks,
tracker, notes), poses in the OpenCV convention and pixels with (0, 0) at the top-left
corner (shotcache.schema conventions), so the sidecar side can fit the ground, QC and write
transforms.json without knowing Blender.

What is done and why (each step is a plain function below):

* features are detected on the first frame and again wherever the live tracks thin out
  (checked every few frames), each batch tracked forward and backward, so the whole clip
  keeps enough long tracks; jumpy and short tracks are dropped;
* the solve is libmv's (``clip.solve_camera``). Blender's focal refinement alone easily
  runs off (3000+ px on a 530 px shot), so an unknown focal is searched: solves at fixed
  focal lengths on a log grid, the lowest reprojection error wins, a finer grid around
  it, and Blender's refinement only last, kept when it lowers the error and stays inside
  the searched range;
* automatic keyframe selection is compared with keyframe pairs chosen here (about a third
  of the clip apart, most shared tracks); the lowest average error wins;
* tracks with a large reprojection error are deleted and the camera solved again;
* footage without parallax (a pan on a tripod) fails the full solve; the tripod solver is
  tried then and the result says so (tracker ``blender-tripod``).
"""
from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import bpy
import numpy as np

from ..shotcache.layout import atomic_write_json
from ..shotcache.schema import UserError

CV_FROM_BLENDER_CAM = np.diag([1.0, -1.0, -1.0, 1.0])
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".bmp", ".dpx")


class TrackingError(UserError, RuntimeError):
    """The footage could not be tracked or solved; says why and what to try."""


@dataclass
class TrackerOptions:
    """Knobs of the tracker; the defaults are the ones measured on the generated demo plates.

    Sizes are in pixels at the clip's resolution unless they say otherwise; ``None`` means
    "derived from the frame size" (see :func:`configure_clip`).
    """

    pattern_size: int | None = None
    search_size: int | None = None
    motion_model: str = "Loc"  # Loc is the most robust for small patterns; the floor still tracks
    pattern_match: str = "PREV_FRAME"  # follows slow perspective change; drift is cleaned by error
    correlation_min: float = 0.75
    detect_threshold: float = 0.005
    min_distance: int | None = None
    detect_margin: int = 8
    detect_every: int | None = None  # frames between checks for thinning tracks
    min_live_tracks: int | None = None  # re-detect where fewer tracks than this are live
    min_track_frames: int = 8
    max_jump: float = 0.08  # frame fraction a marker may move between two frames
    max_error_px: float = 3.0
    focal_min_mm: float = 18.0
    focal_max_mm: float = 100.0
    focal_steps: int = 8


# ---------------------------------------------------------------------------
# clip and context
# ---------------------------------------------------------------------------


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


def _first_image(folder: str) -> str:
    """The first image of a folder of frames: Blender opens a sequence from its first file."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTS))
    if not names:
        raise TrackingError(f"{folder}: no image files ({', '.join(IMAGE_EXTS)}) in this folder; give a video or a folder of frames")
    return os.path.join(folder, names[0])


def load_clip(path: str) -> bpy.types.MovieClip:
    """A movie clip of a video, an image sequence (its first file) or a folder of frames."""
    if not os.path.exists(path):
        raise TrackingError(f"{path}: no such video or image sequence")
    if os.path.isdir(path):
        path = _first_image(path)
    try:
        clip = bpy.data.movieclips.load(path, check_existing=True)
    except RuntimeError as exc:
        raise TrackingError(f"{path}: Blender cannot open this footage ({exc})") from exc
    size: Any = clip.size
    if clip.frame_duration < 3 or size[0] == 0:
        raise TrackingError(f"{path}: {clip.frame_duration} frame(s); a clip this short cannot be tracked (need >= 3)")
    return clip


def clip_frames(clip: bpy.types.MovieClip) -> tuple[int, int]:
    """First and last clip frame (the numbers markers and reconstructed cameras use)."""
    return clip.frame_start, clip.frame_start + clip.frame_duration - 1


def configure_clip(clip: bpy.types.MovieClip, opts: TrackerOptions, focal_mm: float | None, sensor_mm: float) -> None:
    """Camera intrinsics to start from and the tracker's defaults for new tracks."""
    size: Any = clip.size
    W, H = int(size[0]), int(size[1])
    tracking: Any = clip.tracking
    cam = tracking.camera
    cam.sensor_width = sensor_mm
    cam.units = "MILLIMETERS"
    cam.distortion_model = "POLYNOMIAL"
    cam.k1 = cam.k2 = cam.k3 = 0.0
    cam.focal_length = focal_mm or 35.0
    cam.principal_point_pixels = (W / 2.0, H / 2.0)
    s = tracking.settings
    pattern = opts.pattern_size or max(11, (min(W, H) // 24) | 1)
    s.default_pattern_size = pattern
    s.default_search_size = opts.search_size or max(pattern * 3, (min(W, H) // 6)) | 1
    s.default_motion_model = opts.motion_model
    s.default_pattern_match = opts.pattern_match
    s.default_correlation_min = opts.correlation_min
    s.default_margin = max(opts.detect_margin, pattern // 2 + 1)
    s.default_frames_limit = 0
    s.use_default_brute = True  # translation pre-pass: survives fast motion
    s.use_default_normalization = False  # lighting is constant within a shot; normalising adds jitter
    s.use_default_mask = False
    s.use_default_red_channel = s.use_default_green_channel = s.use_default_blue_channel = True
    s.default_weight = 1.0
    s.use_tripod_solver = False
    s.use_keyframe_selection = True
    s.refine_intrinsics_focal_length = False
    s.refine_intrinsics_principal_point = False
    s.refine_intrinsics_radial_distortion = False
    s.refine_intrinsics_tangential_distortion = False


# ---------------------------------------------------------------------------
# tracks
# ---------------------------------------------------------------------------


def _tracks(clip: bpy.types.MovieClip) -> Any:
    tracking: Any = clip.tracking
    return tracking.objects.active.tracks


def _live_marker(track: Any, frame: int) -> Any:
    """The track's marker at ``frame`` when it is tracked there (not a disabled end marker)."""
    m = track.markers.find_frame(frame, exact=True)
    return m if m is not None and not m.mute else None


def live_track_counts(clip: bpy.types.MovieClip) -> dict[int, int]:
    """Number of tracks with a live marker on every clip frame."""
    start, end = clip_frames(clip)
    counts = {f: 0 for f in range(start, end + 1)}
    for tr in _tracks(clip):
        for m in tr.markers:
            if not m.mute and m.frame in counts:
                counts[m.frame] += 1
    return counts


def _set_frame(ctx: dict[str, Any], frame: int) -> None:
    ctx["space_data"].clip_user.frame_current = frame
    scene: Any = bpy.context.scene
    scene.frame_set(frame)


def _select_only(clip: bpy.types.MovieClip, keep: Callable[[Any], bool]) -> int:
    n = 0
    for tr in _tracks(clip):
        tr.select = bool(keep(tr))
        n += tr.select
    return n


def _delete_where(clip: bpy.types.MovieClip, bad: Callable[[Any], bool]) -> int:
    """Delete the tracks ``bad`` picks (through the operator: tracks have no API remove)."""
    n = _select_only(clip, bad)
    if n:
        _run(bpy.ops.clip.delete_track, "track deletion", confirm=False)
    return n


def detect_and_track(ctx: dict[str, Any], clip: bpy.types.MovieClip, frame: int, opts: TrackerOptions) -> int:
    """Detect features at ``frame`` away from the tracks already live there; track them both ways.

    Returns the number of tracks added.
    """
    size: Any = clip.size
    W, H = int(size[0]), int(size[1])
    min_dist = opts.min_distance or max(6, W // 60)
    old = {tr.name for tr in _tracks(clip)}
    live = [(m.co[0] * W, m.co[1] * H) for tr in _tracks(clip) if (m := _live_marker(tr, frame)) is not None]
    _set_frame(ctx, frame)
    bpy.ops.clip.select_all(action="DESELECT")
    _run(bpy.ops.clip.detect_features, "feature detection", placement="FRAME", threshold=opts.detect_threshold,
         min_distance=min_dist, margin=max(opts.detect_margin, clip.tracking.settings.default_search_size // 2))
    pts = np.asarray(live, dtype=np.float64).reshape(-1, 2)

    def crowded(tr: Any) -> bool:
        if tr.name in old:
            return False
        m = tr.markers.find_frame(frame, exact=True)
        if m is None or not len(pts):
            return m is None
        return float(np.min(np.hypot(pts[:, 0] - m.co[0] * W, pts[:, 1] - m.co[1] * H))) < min_dist

    _delete_where(clip, crowded)
    added = _select_only(clip, lambda tr: tr.name not in old)
    if not added:
        return 0
    start, end = clip_frames(clip)
    for backwards in (False, True):
        if (frame == end and not backwards) or (frame == start and backwards):
            continue
        _select_only(clip, lambda tr: tr.name not in old)
        _set_frame(ctx, frame)
        _run(bpy.ops.clip.track_markers, "marker tracking", backwards=backwards, sequence=True)
    return added


def track_features(ctx: dict[str, Any], clip: bpy.types.MovieClip, opts: TrackerOptions, progress: Callable[[str], None]) -> list[int]:
    """Detect and track on the first frame, then wherever the live tracks thin out; returns the detection frames.

    Thinning is checked every ``detect_every`` frames (default: an eighth of the clip, at
    least 4): a frame with fewer live tracks than ``min_live_tracks`` (default: 60 % of
    what the first detection found, at least 40) gets new features. The last frame is
    always checked, so the clip's end is covered by tracks going backward.
    """
    start, end = clip_frames(clip)
    every = opts.detect_every or max(4, (end - start + 1) // 8)
    added = detect_and_track(ctx, clip, start, opts)
    want = opts.min_live_tracks or max(40, int(0.6 * added))
    frames = [start]
    checks = list(range(start + every, end, every)) + [end]
    for f in checks:
        live = live_track_counts(clip)[f]
        if live < want:
            n = detect_and_track(ctx, clip, f, opts)
            frames.append(f)
            progress(f"[vanelia] track: frame {f}: {live} live tracks < {want}, {n} new tracks")
    return frames


def drop_bad_tracks(ctx: dict[str, Any], clip: bpy.types.MovieClip, opts: TrackerOptions) -> int:
    """Delete tracks that jump (lost features snapping elsewhere) or are too short to solve with."""
    jump = opts.max_jump

    def bad(tr: Any) -> bool:
        pts = sorted((m.frame, m.co[0], m.co[1]) for m in tr.markers if not m.mute)
        if len(pts) < opts.min_track_frames:
            return True
        return any(f1 == f0 + 1 and math.hypot(x1 - x0, y1 - y0) > jump for (f0, x0, y0), (f1, x1, y1) in zip(pts, pts[1:]))

    return _delete_where(clip, bad)


# ---------------------------------------------------------------------------
# solving
# ---------------------------------------------------------------------------


def _reconstruction(clip: bpy.types.MovieClip) -> Any:
    tracking: Any = clip.tracking
    return tracking.objects.active.reconstruction


@dataclass
class SolveTry:
    """One solve's settings and its result (average reprojection error in px; inf = failed)."""

    focal_mm: float
    keyframes: tuple[int, int] | None  # None = Blender's automatic selection
    refine: bool = False
    tripod: bool = False
    error: float = math.inf
    solved: int = 0
    result_focal_mm: float = 0.0

    def label(self) -> str:
        kf = "auto" if self.keyframes is None else f"{self.keyframes[0]}-{self.keyframes[1]}"
        mode = "tripod" if self.tripod else ("refined focal" if self.refine else "fixed focal")
        return f"{mode} {self.focal_mm:.1f} mm, keyframes {kf}"


def solve(ctx: dict[str, Any], clip: bpy.types.MovieClip, t: SolveTry) -> SolveTry:
    """Run Blender's solver with the settings of ``t``; fills in its error and frames solved."""
    tracking: Any = clip.tracking
    s, obj = tracking.settings, tracking.objects.active
    tracking.camera.focal_length = t.focal_mm
    s.use_tripod_solver = t.tripod
    s.refine_intrinsics_focal_length = t.refine
    s.use_keyframe_selection = t.keyframes is None
    if t.keyframes is not None:
        obj.keyframe_a, obj.keyframe_b = t.keyframes
    result = bpy.ops.clip.solve_camera()
    rec = obj.reconstruction
    ok = "FINISHED" in result and rec.is_valid and len(rec.cameras) > 0
    t.error = float(rec.average_error) if ok else math.inf
    t.solved = len(rec.cameras) if ok else 0
    t.result_focal_mm = float(tracking.camera.focal_length)
    return t


def _better(a: SolveTry | None, b: SolveTry) -> SolveTry:
    """The solve to keep: more frames solved first (a partial solve is no solve), then lower error."""
    if a is None:
        return b
    return b if (b.solved, -b.error) > (a.solved, -a.error) else a


def keyframe_candidates(clip: bpy.types.MovieClip, n: int = 3) -> list[tuple[int, int]]:
    """Frame pairs about a third of the clip apart sharing the most tracks (best first).

    Blender's automatic selection sometimes picks two frames with little parallax, which
    makes the initial reconstruction (and everything after it) bad; these are the
    alternatives compared with it.
    """
    start, end = clip_frames(clip)
    length = end - start + 1
    gap = max(2, length // 3)
    on: dict[int, set[str]] = {f: set() for f in range(start, end + 1)}
    for tr in _tracks(clip):
        for m in tr.markers:
            if not m.mute and m.frame in on:
                on[m.frame].add(tr.name)
    scored = []
    for a in range(start, end - gap + 1):
        for b in (a + gap, a + gap + gap // 4):
            if b <= end:
                scored.append((len(on[a] & on[b]), -abs(a - (start + end - b)), a, b))
    scored.sort(reverse=True)
    picked: list[tuple[int, int]] = []
    for shared, _c, a, b in scored:
        if shared >= 8 and all(abs(a - pa) > gap // 3 for pa, _pb in picked):
            picked.append((a, b))
        if len(picked) == n:
            break
    return picked


def focal_grid(lo: float, hi: float, steps: int) -> list[float]:
    """``steps`` focal lengths from lo to hi, evenly spaced on a log scale."""
    return [float(v) for v in np.geomspace(lo, hi, steps)]


class Solver:
    """Runs solves on one clip and remembers every try (for the notes and the choice)."""

    def __init__(self, ctx: dict[str, Any], clip: bpy.types.MovieClip, opts: TrackerOptions) -> None:
        self.ctx, self.clip, self.opts = ctx, clip, opts
        self.tries: list[SolveTry] = []

    def run(self, focal_mm: float, keyframes: tuple[int, int] | None = None, refine: bool = False, tripod: bool = False) -> SolveTry:
        t = solve(self.ctx, self.clip, SolveTry(focal_mm, keyframes, refine, tripod))
        self.tries.append(t)
        return t

    def best_of(self, tries: list[SolveTry]) -> SolveTry:
        best: SolveTry | None = None
        for t in tries:
            best = _better(best, t)
        assert best is not None
        return best

    def search_focal(self) -> SolveTry:
        """Unknown focal: a coarse log grid, then a finer one around the best (automatic keyframes)."""
        o = self.opts
        best = self.best_of([self.run(f) for f in focal_grid(o.focal_min_mm, o.focal_max_mm, o.focal_steps)])
        if not math.isfinite(best.error):
            return best
        step = (o.focal_max_mm / o.focal_min_mm) ** (1.0 / max(1, o.focal_steps - 1))
        fine = [best.focal_mm * step ** (k / 4.0) for k in (-3, -2, -1, 1, 2, 3)]
        return self.best_of([best] + [self.run(f, best.keyframes) for f in fine if o.focal_min_mm <= f <= o.focal_max_mm])

    def choose_keyframes(self, base: SolveTry) -> SolveTry:
        """Blender's automatic keyframes vs pairs chosen here, at the focal of ``base``."""
        alts = [self.run(base.focal_mm, kf) for kf in keyframe_candidates(self.clip)]
        return self.best_of([base] + alts)

    def refine_focal(self, base: SolveTry) -> SolveTry:
        """Blender's focal refinement from the best fixed focal, kept only when it helps and stays in range."""
        t = self.run(base.focal_mm, base.keyframes, refine=True)
        in_range = self.opts.focal_min_mm <= t.result_focal_mm <= self.opts.focal_max_mm
        if t.solved >= base.solved and t.error < base.error and in_range:
            return t
        return self.run(base.focal_mm, base.keyframes)  # leave the kept solve in the clip

    def redo(self, t: SolveTry) -> SolveTry:
        """Solve again with the settings of ``t`` (after cleaning tracks, or to restore it)."""
        return self.run(t.focal_mm, t.keyframes, t.refine, t.tripod)


def _clean(ctx: dict[str, Any], clip: bpy.types.MovieClip, opts: TrackerOptions) -> int:
    """Delete tracks whose reprojection error in the current solve exceeds ``max_error_px``."""
    before = len(_tracks(clip))
    bpy.ops.clip.select_all(action="SELECT")
    bpy.ops.clip.clean_tracks(frames=opts.min_track_frames, error=opts.max_error_px, action="DELETE_TRACK")
    return before - len(_tracks(clip))


def _solve_full(sv: Solver, focal_mm: float | None) -> SolveTry:
    """Focal (searched when unknown), keyframes, cleaning, a re-solve and the final refinement."""
    base = sv.run(focal_mm) if focal_mm else sv.search_focal()
    if not math.isfinite(base.error):
        return base
    best = sv.choose_keyframes(base)
    if sv.tries[-1] is not best:
        best = sv.redo(best)
    removed = _clean(sv.ctx, sv.clip, sv.opts)
    if removed:
        best = sv.redo(best)
        if not math.isfinite(best.error):
            return best
    if focal_mm is None:
        best = sv.refine_focal(best)
    return best


def _solve_tripod(sv: Solver, focal_mm: float | None) -> SolveTry:
    """No parallax: rotation-only solves (focal searched when unknown, refinement off)."""
    o = sv.opts
    focals = [focal_mm] if focal_mm else focal_grid(o.focal_min_mm, o.focal_max_mm, o.focal_steps)
    best = sv.best_of([sv.run(f, tripod=True) for f in focals])
    if math.isfinite(best.error) and sv.tries[-1] is not best:
        best = sv.redo(best)
    return best


def track_and_solve(
    path: str,
    focal_mm: float | None = None,
    sensor_mm: float = 36.0,
    opts: TrackerOptions | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Track the footage at ``path`` and solve the camera; see the module docstring for the result."""
    opts = opts or TrackerOptions()
    t0 = time.perf_counter()
    clip = load_clip(path)
    size: Any = clip.size
    W, H = int(size[0]), int(size[1])
    configure_clip(clip, opts, focal_mm, sensor_mm)
    ctx = _clip_context(clip)
    notes: list[str] = []
    override: Any = bpy.context.temp_override(**ctx)  # the 5.2 stubs lack __enter__
    with override:
        det = track_features(ctx, clip, opts, progress)
        dropped = drop_bad_tracks(ctx, clip, opts)
        n = len(_tracks(clip))
        progress(f"[vanelia] track: {n} tracks (features detected on frames {det}, {dropped} jumpy/short dropped)")
        notes.append(f"tracked {n} features detected on frame(s) {', '.join(map(str, det))}; {dropped} jumpy/short tracks dropped")
        if n < 8:
            raise TrackingError(f"{path}: only {n} usable tracks (too few features: a blank wall?); "
                                "give a camera track or try the colmap tracker")
        sv = Solver(ctx, clip, opts)
        best = _solve_full(sv, focal_mm)
        tracker = "blender"
        if not math.isfinite(best.error) or best.error > opts.max_error_px:
            progress(f"[vanelia] track: full solve {'failed' if not math.isfinite(best.error) else f'poor ({best.error:.2f} px)'}; trying the tripod solver")
            tri = _solve_tripod(sv, focal_mm)
            if math.isfinite(tri.error) and tri.error < best.error:
                best, tracker = tri, "blender-tripod"
                notes.append(f"no usable parallax: the full solve {'failed' if not math.isfinite(best.error) else 'was poor'}, "
                             "solved as a tripod (rotation only) camera")
            elif math.isfinite(best.error):
                best = sv.redo(best)
    rec = _reconstruction(clip)
    if not math.isfinite(best.error) or not rec.is_valid or not len(rec.cameras):
        raise TrackingError(f"{path}: Blender could not solve the camera (no parallax or too few tracks, "
                            f"{len(sv.tries)} solves tried); for a locked-off shot give --focal-mm and a static camera is used")
    notes += _solve_notes(sv, best, focal_mm, opts)
    notes.append(f"Blender {bpy.app.version_string} solve, average error {rec.average_error:.3f} px, {time.perf_counter() - t0:.0f} s")
    progress(f"[vanelia] track: solved {len(rec.cameras)} frames, average error {rec.average_error:.3f} px, "
             f"focal {clip.tracking.camera.focal_length:.2f} mm ({best.label()})")
    return _result(clip, W, H, tracker, notes)


def _solve_notes(sv: Solver, best: SolveTry, focal_mm: float | None, opts: TrackerOptions) -> list[str]:
    """What the solve did, for the result's notes (shown by `vanelia track`)."""
    notes = []
    if focal_mm is None and not best.tripod:
        grid = [t for t in sv.tries if not t.refine and not t.tripod and t.keyframes is None]
        finite = [t for t in grid if math.isfinite(t.error)]
        notes.append(f"focal unknown: searched {opts.focal_min_mm:g}-{opts.focal_max_mm:g} mm ({len(grid)} fixed-focal solves, "
                     f"{len(finite)} succeeded), best {best.focal_mm:.2f} mm")
        notes.append(f"focal refinement {'kept' if best.refine else 'not kept (no lower error or out of range)'}: "
                     f"{best.result_focal_mm:.2f} mm")
    notes.append(f"keyframes: {'automatic' if best.keyframes is None else f'{best.keyframes[0]} and {best.keyframes[1]}'} "
                 f"(lowest error of {1 + len([t for t in sv.tries if t.keyframes is not None])} compared)")
    return notes


def _intrinsics(clip: bpy.types.MovieClip) -> dict[str, float]:
    """The solved camera's fx, fy, cx, cy in pixels, (0, 0) at the top-left corner."""
    tracking: Any = clip.tracking
    cam = tracking.camera
    size: Any = clip.size
    W, H = int(size[0]), int(size[1])
    f_px = cam.focal_length / cam.sensor_width * W
    ppx, ppy = cam.principal_point_pixels  # Blender: from the bottom-left corner
    return {"fx": f_px, "fy": f_px * cam.pixel_aspect, "cx": float(ppx), "cy": float(H - ppy)}


def _result(clip: bpy.types.MovieClip, W: int, H: int, tracker: str = "blender", notes: list[str] | None = None) -> dict[str, Any]:
    tracking: Any = clip.tracking
    cam = tracking.camera
    intr = _intrinsics(clip)
    cameras, errors, counts = {}, {}, {}
    rec = _reconstruction(clip)
    for rc in rec.cameras:
        c2w = np.array(rc.matrix) @ CV_FROM_BLENDER_CAM
        cameras[str(rc.frame)] = {**intr, "c2w": c2w.tolist()}
        errors[str(rc.frame)] = float(rc.average_error)
        counts[str(rc.frame)] = 0
    points = []
    for tr in _tracks(clip):
        if tr.has_bundle:
            points.append([float(v) for v in tr.bundle])
            for m in tr.markers:
                if not m.mute and str(m.frame) in counts:
                    counts[str(m.frame)] += 1
    return {
        "width": W, "height": H, "tracker": tracker, "cameras": cameras,
        "distortion": {"k1": cam.k1, "k2": cam.k2, "k3": cam.k3, "p1": 0.0, "p2": 0.0},
        "points": points, "frame_error": errors, "frame_tracks": counts,
        "notes": list(notes or []),
    }


# ---------------------------------------------------------------------------
# the solved camera in the scene
# ---------------------------------------------------------------------------


def bake_solution(clip: bpy.types.MovieClip, scene: Any, cam_obj: Any) -> list[int]:
    """Key ``cam_obj`` on every solved frame from the clip's reconstruction; returns the scene frames.

    Location and rotation come from the reconstructed camera matrices, lens and shift from
    the solved focal length and principal point, all with constant interpolation (a solved
    camera must never be interpolated). The scene's resolution and pixel aspect are set to
    the clip's so lens and shift mean what the solve meant. It is what the Camera Solver
    constraint does, baked: the camera keeps working without the clip, and the shot cache
    reads it like any animated camera (addon.camera.bake_camera).
    """
    if cam_obj is None or cam_obj.type != "CAMERA":
        raise TrackingError("bake the solved camera: choose a camera object")
    rec = _reconstruction(clip)
    if not rec.is_valid or not len(rec.cameras):
        raise TrackingError(f"{clip.name}: no camera solve to bake; solve the camera first")
    from mathutils import Matrix

    from . import camera, compat

    size: Any = clip.size
    W, H = int(size[0]), int(size[1])
    bi = camera.to_blender(**_intrinsics(clip), width=W, height=H, sensor_width=clip.tracking.camera.sensor_width)
    scene.render.resolution_x, scene.render.resolution_y = W, H
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x, scene.render.pixel_aspect_y = bi.pixel_aspect_x, bi.pixel_aspect_y
    data = cam_obj.data
    data.type, data.sensor_fit, data.sensor_width = "PERSP", "HORIZONTAL", bi.sensor_width
    data.lens, data.shift_x, data.shift_y = bi.lens, bi.shift_x, bi.shift_y
    for prop in ("lens", "shift_x", "shift_y"):
        data.keyframe_insert(prop, frame=clip.frame_start)
    cam_obj.rotation_mode = "QUATERNION"
    frames, prev = [], None
    for rc in sorted(rec.cameras, key=lambda c: c.frame):
        frame = rc.frame + clip.frame_start - 1  # reconstruction frames are the clip's, from 1
        cam_obj.matrix_world = Matrix(rc.matrix)
        q = cam_obj.rotation_quaternion.copy()
        if prev is not None and q.dot(prev) < 0:  # one hemisphere: no flips between keys
            q.negate()
            cam_obj.rotation_quaternion = q
        prev = q
        cam_obj.keyframe_insert("location", frame=frame)
        cam_obj.keyframe_insert("rotation_quaternion", frame=frame)
        frames.append(frame)
    compat.set_constant_interpolation(cam_obj, data)
    return frames


def batch_track(argv: list[str]) -> int:
    """Batch step ``track``: ``--input PLATE --output SOLVE.json [--focal-mm F]``.

    Writes the plain solve document (see the module docstring); `vanelia track --tracker
    blender` turns it into a levelled, QC'd transforms.json on the sidecar side.
    """
    p = argparse.ArgumentParser(prog="vanelia_batch.py track", description=batch_track.__doc__)
    p.add_argument("--input", required=True, help="plate video, image sequence (first frame's path) or folder of frames")
    p.add_argument("--output", required=True, help="solve document (.json) to write")
    p.add_argument("--focal-mm", type=float, default=None, help="known focal length on a 36 mm sensor")
    a = p.parse_args(argv)
    if a.focal_mm is not None and not 1.0 <= a.focal_mm <= 2000.0:
        raise TrackingError(f"--focal-mm {a.focal_mm}: not a focal length in mm on a 36 mm sensor (1-2000)")
    doc = track_and_solve(os.path.abspath(a.input), focal_mm=a.focal_mm)
    atomic_write_json(a.output, doc)
    print(f"[vanelia] track: wrote {a.output}", flush=True)
    return 0


BATCH_STEPS = {"track": batch_track}
