"""Blender's own motion tracker, run from code: detect, track both ways, clean, solve, report.

The same functions serve the panel and `vanelia track --tracker blender` (through the batch
script). The result is a plain dict with the fields of ml.camera.solve.Solve (width, height,
cameras {frame: {fx, fy, cx, cy, c2w}}, distortion, points, frame_error, frame_tracks,
tracker, notes), poses in the OpenCV convention and pixels with (0, 0) at the top-left
corner (shotcache.schema conventions), so the sidecar side can fit the ground, QC and write
transforms.json without knowing Blender. Frames are numbered like ml.camera.footage does:
from 1 for a video, by their file numbers for an image sequence or a folder of frames.

What is done and why (each step is a plain function below):

* features are detected on the first frame and again wherever the live tracks thin out
  (checked every few frames), each batch tracked forward and backward, so the whole clip
  keeps enough long tracks; jumpy and short tracks are dropped;
* the solve is libmv's (``clip.solve_camera``). Blender's focal refinement alone easily
  runs off (3000+ px on a 530 px shot), so an unknown focal is searched: solves at fixed
  focal lengths on a log grid, the lowest reprojection error wins, a finer grid around
  it, and Blender's refinement only last, kept when it lowers the error and stays inside
  the searched range;
* Blender's automatic keyframe selection (slow: it runs once) is compared with keyframe
  pairs chosen here (a third of the clip apart, most shared tracks); the lowest median
  track error wins and that pair is fixed for the other solves;
* tracks that lie inside moving-object masks (``masks``: a folder of images named by frame
  number, white = moving; the sidecar makes them automatically, ml.camera.motion) on most
  of their frames are deleted before solving: a person walking through the shot is a
  rigid scene to no camera;
* tracks with a large reprojection error (above 3 px, then above 3x the median) are
  deleted and the camera solved again;
* footage without parallax (a pan on a tripod): libmv finds no keyframe pair, the full solve
  fails or is poor, or the tracks' motion model (GRIC, shotcache.motion_model) says the
  camera only rotated; the tripod solver is tried then, wins when it fits about as well, and
  the result says so (tracker ``blender-tripod``). The motion model counts on its own: on a
  loaded machine libmv sometimes found a keyframe pair in a pure pan and its full solve
  "fitted" (1 run in 20 of tests/addon/test_tracking.py's pan), any depths fitting a camera
  that does not move.

Tracker settings (measured on the generated plates): Perspective motion model matched
against the keyframe (no drift, follows the floor's perspective change), brute-force
pre-pass on, normalisation off, pattern about 1/24 and search about 1/6 of the short side.
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

from ..shotcache.axes import gl_to_cv
from ..shotcache.errors import UserError
from ..shotcache.frames import CLIP_EXTS, frame_number, is_image
from ..shotcache.layout import atomic_write_json
from ..shotcache.motion_model import select_motion
from . import plate


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
    motion_model: str = "Perspective"
    pattern_match: str = "KEYFRAME"
    correlation_min: float = 0.75
    detect_threshold: float = 0.005
    min_distance: int | None = None
    detect_margin: int = 8
    detect_every: int | None = None  # frames between checks for thinning tracks
    min_live_tracks: int | None = None  # re-detect where fewer tracks than this are live
    min_track_frames: int = 8
    max_jump: float = 0.08  # fraction of the frame a marker may move between two frames
    max_error_px: float = 3.0  # tracks above this reprojection error are deleted
    min_error_px: float = 0.5  # ...and above 3x the median, but never below this
    min_tracks: int = 12
    refine_focal: bool = True
    focal_min_mm: float = 18.0
    focal_max_mm: float = 100.0
    focal_steps: int = 8


# ---------------------------------------------------------------------------
# clip and context
# ---------------------------------------------------------------------------


def _tracking(clip: bpy.types.MovieClip) -> Any:
    """The clip's tracking data (typed Optional in the stubs; a loaded clip always has it)."""
    return clip.tracking


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
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(CLIP_EXTS))
    if not names:
        raise TrackingError(f"{folder}: no image files ({', '.join(CLIP_EXTS)}) in this folder; give a video or a folder of frames")
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
    """First and last clip frame: markers and reconstructed cameras count from 1 whatever
    scene frame the clip starts on (``frame_start``) or file number its sequence starts at."""
    return 1, clip.frame_duration


def first_file_number(clip: bpy.types.MovieClip) -> int:
    """The frame number of the result's first frame: an image sequence's first file number
    (``000010.png`` -> 10, as ml.camera.footage numbers frames), else 1 for a video."""
    if clip.source != "SEQUENCE":
        return 1
    stem = os.path.splitext(os.path.basename(bpy.path.abspath(clip.filepath)))[0]
    digits = stem[len(stem.rstrip("0123456789")):]
    return int(digits) if digits else 1


def configure_clip(clip: bpy.types.MovieClip, opts: TrackerOptions, focal_mm: float | None, sensor_mm: float) -> None:
    """Camera intrinsics to start from and the tracker's defaults for new tracks."""
    size: Any = clip.size
    W, H = int(size[0]), int(size[1])
    tracking = _tracking(clip)
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
    tracking = _tracking(clip)
    return tracking.objects.active.tracks


def _live_marker(track: Any, frame: int) -> Any:
    """The track's marker at ``frame`` when it is tracked there (not a disabled end marker)."""
    m = track.markers.find_frame(frame, exact=True)
    return m if m is not None and not m.mute else None


def marker_tracks(clip: bpy.types.MovieClip, W: int, H: int) -> dict[int, dict[int, tuple[float, float]]]:
    """Live markers as {track: {frame: (x, y)}} in pixels, y down (shotcache.motion_model's input)."""
    out: dict[int, dict[int, tuple[float, float]]] = {}
    for i, tr in enumerate(_tracks(clip)):
        obs = {int(m.frame): (float(m.co[0]) * W, (1.0 - float(m.co[1])) * H) for m in tr.markers if not m.mute}
        if len(obs) >= 2:
            out[i] = obs
    return out


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
    """Go to clip frame ``frame`` (the clip operators read the scene frame)."""
    clip = ctx["edit_movieclip"]
    ctx["space_data"].clip_user.frame_current = frame
    scene: Any = bpy.context.scene
    scene.frame_set(frame + clip.frame_start - 1)


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
         min_distance=min_dist, margin=max(opts.detect_margin, _tracking(clip).settings.default_search_size // 2))
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


def drop_bad_tracks(clip: bpy.types.MovieClip, opts: TrackerOptions) -> int:
    """Delete tracks that jump (lost features snapping elsewhere) or are too short to solve with.

    "Short" is ``min_track_frames``, or half the clip for clips shorter than twice that.
    """
    jump = opts.max_jump
    min_frames = min(opts.min_track_frames, max(3, clip.frame_duration // 2))

    def bad(tr: Any) -> bool:
        pts = sorted((m.frame, m.co[0], m.co[1]) for m in tr.markers if not m.mute)
        if len(pts) < min_frames:
            return True
        return any(f1 == f0 + 1 and math.hypot(x1 - x0, y1 - y0) > jump for (f0, x0, y0), (f1, x1, y1) in zip(pts, pts[1:]))

    return _delete_where(clip, bad)


def read_masks(folder: str, max_side: int = 960) -> dict[int, np.ndarray]:
    """Moving-object masks of a folder as {file number: bool array}, rows bottom-up (as
    Blender stores images and as marker ``co`` counts y). Larger masks are subsampled to
    about ``max_side``: a marker only looks up its own pixel."""
    if not os.path.isdir(folder):
        raise TrackingError(f"--masks {folder}: not a folder of mask images (white = moving object)")
    out: dict[int, np.ndarray] = {}
    for name in sorted(os.listdir(folder)):
        number = frame_number(name, -1)
        if number < 0 or not is_image(name):
            continue
        px = plate.read_pixels(os.path.join(folder, name))[::-1]  # back to Blender's bottom-up rows
        step = max(1, math.ceil(max(px.shape[:2]) / max_side))
        out[number] = px[::step, ::step, :3].max(axis=2) > 0.5
    return out


def masked_fraction(track: Any, masks: dict[int, np.ndarray], shift: int) -> float:
    """Fraction of the track's live markers (on frames that have a mask) inside a mask.
    ``shift`` turns clip frames into the masks' file numbers (first_file_number - 1)."""
    n = inside = 0
    for m in track.markers:
        mask = None if m.mute else masks.get(int(m.frame) + shift)
        if mask is None:
            continue
        h, w = mask.shape
        x, y = int(m.co[0] * w), int(m.co[1] * h)
        n += 1
        inside += bool(0 <= x < w and 0 <= y < h and mask[y, x])
    return inside / n if n else 0.0


def drop_masked_tracks(clip: bpy.types.MovieClip, masks: dict[int, np.ndarray], most: float = 0.5) -> int:
    """Delete the tracks inside a moving-object mask on more than ``most`` of their frames."""
    if not masks:
        return 0
    shift = first_file_number(clip) - 1
    return _delete_where(clip, lambda tr: masked_fraction(tr, masks, shift) > most)


# ---------------------------------------------------------------------------
# solving
# ---------------------------------------------------------------------------


def _reconstruction(clip: bpy.types.MovieClip) -> Any:
    tracking = _tracking(clip)
    return tracking.objects.active.reconstruction


@dataclass
class SolveTry:
    """One solve's settings and its result.

    ``error`` is Blender's average reprojection error (px; inf = failed); ``robust`` the
    median of the tracks' errors, which outlier tracks barely move, so solves of the same
    tracks at different focal lengths compare fairly before the tracks are cleaned.
    """

    focal_mm: float
    keyframes: tuple[int, int] | None  # None = Blender's automatic selection
    refine: bool = False
    tripod: bool = False
    error: float = math.inf
    robust: float = math.inf
    solved: int = 0
    result_focal_mm: float = 0.0
    result_keyframes: tuple[int, int] = (0, 0)

    def label(self) -> str:
        if self.tripod:
            return f"tripod, {self.focal_mm:.1f} mm"
        kf = "auto" if self.keyframes is None else f"{self.keyframes[0]}-{self.keyframes[1]}"
        return f"{'refined focal from' if self.refine else 'fixed focal'} {self.focal_mm:.1f} mm, keyframes {kf}"


def solve(clip: bpy.types.MovieClip, t: SolveTry) -> SolveTry:
    """Run Blender's solver (in a clip editor context) with the settings of ``t``; fill in its results."""
    tracking = _tracking(clip)
    s, obj = tracking.settings, tracking.objects.active
    tracking.camera.focal_length = t.focal_mm
    s.use_tripod_solver = t.tripod
    s.refine_intrinsics_focal_length = t.refine
    s.use_keyframe_selection = t.keyframes is None and not t.tripod
    if t.keyframes is not None:
        obj.keyframe_a, obj.keyframe_b = t.keyframes
    try:
        result = bpy.ops.clip.solve_camera()
    except RuntimeError:  # "Failed to solve the motion: ... no good keyframes" and the like
        result = {"CANCELLED"}
    rec = obj.reconstruction
    ok = "FINISHED" in (result or set()) and rec.is_valid and len(rec.cameras) > 0 and math.isfinite(rec.average_error)
    errs = [tr.average_error for tr in obj.tracks if tr.has_bundle]
    t.error = float(rec.average_error) if ok else math.inf
    t.robust = float(np.median(errs)) if ok and errs else math.inf
    t.solved = len(rec.cameras) if ok else 0
    t.result_focal_mm = float(tracking.camera.focal_length)
    t.result_keyframes = (int(obj.keyframe_a), int(obj.keyframe_b))
    return t


def keyframe_candidates(clip: bpy.types.MovieClip, n: int = 3) -> list[tuple[int, int]]:
    """Frame pairs about a third of the clip apart sharing the most tracks (best first).

    Blender's automatic selection sometimes picks two frames with little parallax (or
    fails), which spoils the initial reconstruction; these are the alternatives.
    """
    start, end = clip_frames(clip)
    gap = max(2, (end - start + 1) // 3)
    on: dict[int, set[str]] = {f: set() for f in range(start, end + 1)}
    for tr in _tracks(clip):
        for m in tr.markers:
            if not m.mute and m.frame in on:
                on[m.frame].add(tr.name)
    scored = sorted(((len(on[a] & on[a + gap]), a) for a in range(start, end - gap + 1)), reverse=True)
    picked: list[tuple[int, int]] = []
    for shared, a in scored:
        if shared >= 8 and all(abs(a - pa) > gap // 3 for pa, _pb in picked):
            picked.append((a, a + gap))
        if len(picked) == n:
            break
    return picked


def focal_grid(lo: float, hi: float, steps: int) -> list[float]:
    """``steps`` focal lengths from lo to hi, evenly spaced on a log scale."""
    return [float(v) for v in np.geomspace(lo, hi, steps)]


def parabola_min(tries: list[SolveTry], best: SolveTry, key: str) -> float | None:
    """The focal at the vertex of a parabola through ``best`` and its grid neighbours (log focal).

    Between two grid steps the error is close to a parabola, so this lands near the true
    minimum with one more solve. None when ``best`` is at the edge of the grid.
    """
    pts = sorted((math.log(t.focal_mm), getattr(t, key)) for t in tries if t.solved == best.solved and math.isfinite(getattr(t, key)))
    xs = [x for x, _e in pts]
    i = xs.index(math.log(best.focal_mm)) if math.log(best.focal_mm) in xs else -1
    if i <= 0 or i >= len(pts) - 1:
        return None
    (x0, e0), (x1, e1), (x2, e2) = pts[i - 1], pts[i], pts[i + 1]
    den = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (e1 - e0) + x1 * (e0 - e2) + x0 * (e2 - e1)) / den
    b = (x2 * x2 * (e0 - e1) + x1 * x1 * (e2 - e0) + x0 * x0 * (e1 - e2)) / den
    if a <= 0:
        return None
    x = -b / (2 * a)
    return math.exp(x) if x0 < x < x2 and abs(x - x1) > 1e-4 else None


class Solver:
    """Runs solves on one clip (inside its clip editor context) and remembers every try."""

    def __init__(self, clip: bpy.types.MovieClip, opts: TrackerOptions) -> None:
        self.clip, self.opts = clip, opts
        self.tries: list[SolveTry] = []
        self.cleaned = 0
        self.auto_failed = False  # libmv found no keyframe pair with parallax
        self.tripod_note = ""

    def run(self, focal_mm: float, keyframes: tuple[int, int] | None = None, refine: bool = False, tripod: bool = False) -> SolveTry:
        t = solve(self.clip, SolveTry(focal_mm, keyframes, refine, tripod))
        self.tries.append(t)
        return t

    def redo(self, t: SolveTry) -> SolveTry:
        """Solve again with the settings of ``t``: after cleaning tracks, or to leave ``t`` in the clip."""
        return self.run(t.focal_mm, t.keyframes, t.refine, t.tripod)

    def keep(self, t: SolveTry) -> SolveTry:
        """Make ``t`` the clip's current solve (re-solving unless it was the last one run)."""
        return t if self.tries and self.tries[-1] is t else self.redo(t)

    def keyframes(self, focal_mm: float) -> SolveTry:
        """Blender's automatic keyframes against the pairs of :func:`keyframe_candidates`.

        The automatic selection is slow (seconds), so it runs once; the winning pair is then
        fixed for the other solves (fractions of a second each).
        """
        auto = self.run(focal_mm)
        self.auto_failed = not math.isfinite(auto.error)
        tries = [auto] + [self.run(focal_mm, kf) for kf in keyframe_candidates(self.clip)]
        best = min(tries, key=lambda t: (-t.solved, t.robust))
        if best is auto and math.isfinite(auto.error):
            best = SolveTry(**{**vars(auto), "keyframes": auto.result_keyframes})
        return best

    def focal_search(self, kf: tuple[int, int] | None, around: SolveTry | None = None, key: str = "robust",
                     tripod: bool = False) -> SolveTry:
        """Fixed-focal solves on a log grid (the whole range, or finer ``around`` a try); the lowest error wins."""
        o = self.opts
        ratio = (o.focal_max_mm / o.focal_min_mm) ** (1.0 / max(1, o.focal_steps - 1))
        if around is None:
            focals = focal_grid(o.focal_min_mm, o.focal_max_mm, o.focal_steps)
        else:
            focals = [around.focal_mm * ratio ** (k / 4.0) for k in (-3, -2, -1, 1, 2, 3)]
            focals = [f for f in focals if o.focal_min_mm * 0.999 <= f <= o.focal_max_mm * 1.001]
        tries = ([around] if around else []) + [self.run(f, kf, tripod=tripod) for f in focals]
        best = min(tries, key=lambda t: (-t.solved, getattr(t, key)))
        vertex = parabola_min(tries, best, key) if around is not None else None
        if vertex is not None:
            best = min([best, self.run(vertex, kf, tripod=tripod)], key=lambda t: (-t.solved, getattr(t, key)))
        return best

    def clean(self, best: SolveTry, rounds: int = 3) -> SolveTry:
        """Delete outlier tracks and re-solve: first above ``max_error_px``, then above 3x the median track error.

        Never below ``min_error_px`` (sub-pixel noise is not an outlier) and never down to
        fewer than ``min_tracks`` tracks.
        """
        o = self.opts
        for k in range(rounds):
            errs = [tr.average_error for tr in _tracks(self.clip) if tr.has_bundle]
            if not errs:
                break
            thr = o.max_error_px if k == 0 else min(o.max_error_px, max(o.min_error_px, 3.0 * float(np.median(errs))))
            n_bad = sum(e > thr for e in errs)
            if n_bad == 0 or len(errs) - n_bad < o.min_tracks:
                break
            self.cleaned += _delete_where(self.clip, lambda tr: tr.has_bundle and tr.average_error > thr)
            best = self.redo(best)
            if not math.isfinite(best.error):
                break
        return best

    def refine_focal(self, base: SolveTry) -> SolveTry:
        """Blender's focal refinement from the best fixed focal, kept only when it helps and stays in range."""
        t = self.run(base.focal_mm, base.keyframes, refine=True)
        in_range = self.opts.focal_min_mm <= t.result_focal_mm <= self.opts.focal_max_mm
        if t.solved >= base.solved and t.error < base.error and in_range:
            return t
        return self.redo(base)


def solve_full(sv: Solver, focal_mm: float | None) -> SolveTry:
    """Keyframes, focal (searched when unknown), outlier cleaning, a finer focal search, refinement.

    The coarse focal search compares the median track error (outlier tracks are still in);
    after cleaning, the finer search and the refinement compare the average error.
    """
    o = sv.opts
    kf_try = sv.keyframes(focal_mm or 35.0)
    # automatic selection once more per focal would cost seconds each: fall back to a pair
    kf = kf_try.keyframes if math.isfinite(kf_try.error) else next(iter(keyframe_candidates(sv.clip)), None)
    best = kf_try if focal_mm else sv.focal_search(kf)
    if not math.isfinite(best.error):
        return best
    best = sv.clean(sv.keep(best))
    if not math.isfinite(best.error) or focal_mm:
        return sv.keep(best)
    best = sv.focal_search(best.keyframes, around=best, key="error")
    if not math.isfinite(best.error):
        return best
    best = sv.clean(sv.keep(best), rounds=1)
    return sv.refine_focal(best) if o.refine_focal else sv.keep(best)


def solve_tripod(sv: Solver, focal_mm: float | None) -> SolveTry:
    """No parallax: rotation-only solves (the focal searched when unknown; Blender's refinement not used)."""
    if focal_mm:
        best = sv.run(focal_mm, tripod=True)
    else:
        best = sv.focal_search(None, key="robust", tripod=True)
        if math.isfinite(best.error):
            best = sv.focal_search(None, around=sv.clean(sv.keep(best), rounds=2), key="error", tripod=True)
    if math.isfinite(best.error):
        best = sv.clean(sv.keep(best), rounds=2)
    return sv.keep(best) if math.isfinite(best.error) else best


def prefer_tripod(full: SolveTry, tri: SolveTry, no_parallax: bool, motion: str = "unknown") -> bool:
    """Whether the tripod solve should replace the full one.

    A full solve of a pure pan can "succeed" with a small error (any depths fit when the
    camera does not move), so when libmv found no keyframe pair with parallax the tripod
    solve wins unless it fits clearly worse; otherwise only when the full solve failed or
    is worse than it. ``motion`` is the tracks' GRIC verdict (shotcache.motion_model): when it
    says the camera travelled ('plane' or 'general'), a working full solve is never traded
    for a tripod one, however well a rotation at some focal length fits.
    """
    if not math.isfinite(tri.error) or tri.solved < full.solved:
        return False
    if not math.isfinite(full.error):
        return True
    if motion in ("plane", "general"):
        return False
    if no_parallax:
        return tri.error <= 1.5 * full.error + 0.1
    return tri.error < full.error


def track_and_solve(
    path: str,
    focal_mm: float | None = None,
    sensor_mm: float = 36.0,
    opts: TrackerOptions | None = None,
    progress: Callable[[str], None] = print,
    masks: str | None = None,
) -> dict[str, Any]:
    """Track the footage at ``path`` and solve the camera; see the module docstring for the
    result. ``masks``: a folder of moving-object masks named by frame number."""
    opts = opts or TrackerOptions()
    mask_imgs = read_masks(masks) if masks else {}
    t0 = time.perf_counter()
    clip = load_clip(path)
    size: Any = clip.size
    W, H = int(size[0]), int(size[1])
    configure_clip(clip, opts, focal_mm, sensor_mm)
    ctx = _clip_context(clip)
    override: Any = bpy.context.temp_override(**ctx)  # the 5.2 stubs lack __enter__
    with override:
        det = track_features(ctx, clip, opts, progress)
        dropped = drop_bad_tracks(clip, opts)
        moving = drop_masked_tracks(clip, mask_imgs)
        n = len(_tracks(clip))
        progress(f"[vanelia] track: {n} tracks (features detected on frame(s) {', '.join(map(str, det))}; "
                 f"{dropped} jumpy/short dropped, {moving} on moving objects dropped"
                 f"{f' ({len(mask_imgs)} masks)' if masks else ''}), solving")
        if n < opts.min_tracks:
            raise TrackingError(f"{path}: only {n} usable tracks (too few features: a blank wall?); "
                                "give a camera track or try the colmap tracker")
        sv = Solver(clip, opts)
        motion = select_motion(marker_tracks(clip, W, H), (W, H)).get("model", "unknown")  # before any cleaning
        best, tracker = solve_full(sv, focal_mm), "blender"
        no_parallax = sv.auto_failed or motion == "rotation"
        if not math.isfinite(best.error) or best.error > opts.max_error_px or no_parallax:
            why = ("failed" if not math.isfinite(best.error) else f"is poor ({best.error:.2f} px)" if best.error > opts.max_error_px
                   else "found no keyframes with parallax" if sv.auto_failed else "fits, but the tracks show a rotation only")
            progress(f"[vanelia] track: the full solve {why}; trying the tripod (rotation only) solver")
            tri = solve_tripod(sv, focal_mm)
            sv.tripod_note = (f"the full solve {why}; tripod solve: " +
                              (f"{tri.error:.3f} px at {tri.focal_mm:.2f} mm" if math.isfinite(tri.error) else "failed") +
                              (f" vs full {best.error:.3f} px" if math.isfinite(best.error) else ""))
            sv.tripod_note += f"; motion model by GRIC: {motion}"
            if prefer_tripod(best, tri, no_parallax, motion):
                best, tracker = tri, "blender-tripod"
            elif math.isfinite(best.error):
                best = sv.keep(best)
    rec = _reconstruction(clip)
    if not math.isfinite(best.error) or not rec.is_valid or not len(rec.cameras):
        raise TrackingError(f"{path}: Blender could not solve the camera ({len(sv.tries)} solves tried: no parallax "
                            "or too few tracks); for a locked-off shot give --focal-mm and a static camera is used")
    notes = [f"tracked {n} features detected on frame(s) {', '.join(map(str, det))}; {dropped} jumpy/short tracks dropped, "
             f"{moving} inside moving-object masks on most of their frames dropped, "
             f"{sv.cleaned} with reprojection error above threshold deleted"]
    notes += _solve_notes(sv, best, focal_mm, tracker)
    notes.append(f"Blender {bpy.app.version_string} solve: {len(rec.cameras)} frames, average error "
                 f"{rec.average_error:.3f} px, {len(sv.tries)} solves, {time.perf_counter() - t0:.0f} s")
    progress(f"[vanelia] track: solved {len(rec.cameras)} frames, average error {rec.average_error:.3f} px, "
             f"focal {_tracking(clip).camera.focal_length:.2f} mm ({best.label()})")
    return _result(clip, W, H, tracker, notes)


def _solve_notes(sv: Solver, best: SolveTry, focal_mm: float | None, tracker: str) -> list[str]:
    """What the solve did, for the result's notes (printed by `vanelia track`)."""
    o = sv.opts
    notes = []
    if sv.tripod_note:
        notes.append(sv.tripod_note)
    if tracker == "blender-tripod":
        notes.append("no usable parallax: solved with Blender's tripod solver (rotation only, the camera does not move); "
                     "the points are directions, not a scene")
    if focal_mm:
        notes.append(f"focal length given: {focal_mm:g} mm (36 mm sensor), not refined")
    else:
        fixed = [t for t in sv.tries if not t.refine and t.tripod == best.tripod and (best.tripod or t.keyframes is not None)]
        notes.append(f"focal unknown: {len(fixed)} fixed-focal {'tripod ' if best.tripod else ''}solves over "
                     f"{o.focal_min_mm:g}-{o.focal_max_mm:g} mm (log grid, then finer around the best), "
                     f"lowest error at {best.focal_mm:.2f} mm")
        if not best.tripod and o.refine_focal:
            refined = [t for t in sv.tries if t.refine]
            got = f"{refined[-1].result_focal_mm:.2f} mm, {refined[-1].error:.3f} px" if refined else "not run"
            notes.append(f"Blender's focal refinement {'kept' if best.refine else 'not kept (no lower error or out of range)'}: {got}")
    if not best.tripod:
        kf = best.keyframes or best.result_keyframes
        auto = "failed, " if sv.auto_failed else ""
        notes.append(f"keyframes {kf[0]} and {kf[1]} (Blender's automatic choice {auto}compared with "
                     f"{len(keyframe_candidates(sv.clip))} pairs a third of the clip apart)")
    return notes


def _intrinsics(clip: bpy.types.MovieClip) -> dict[str, float]:
    """The solved camera's fx, fy, cx, cy in pixels, (0, 0) at the top-left corner."""
    tracking = _tracking(clip)
    cam = tracking.camera
    size: Any = clip.size
    W, H = int(size[0]), int(size[1])
    f_px = cam.focal_length / cam.sensor_width * W
    ppx, ppy = cam.principal_point_pixels  # Blender: from the bottom-left corner
    return {"fx": f_px, "fy": f_px * cam.pixel_aspect, "cx": float(ppx), "cy": float(H - ppy)}


def _result(clip: bpy.types.MovieClip, W: int, H: int, tracker: str = "blender", notes: list[str] | None = None) -> dict[str, Any]:
    tracking = _tracking(clip)
    cam = tracking.camera
    intr = _intrinsics(clip)
    cameras, errors, counts = {}, {}, {}
    shift = first_file_number(clip) - 1
    rec = _reconstruction(clip)
    for rc in rec.cameras:
        c2w = gl_to_cv(np.array(rc.matrix))
        key = str(rc.frame + shift)
        cameras[key] = {**intr, "c2w": c2w.tolist()}
        errors[key] = float(rc.average_error)
        counts[key] = 0
    points = []
    for tr in _tracks(clip):
        if tr.has_bundle:
            points.append([float(v) for v in tr.bundle])
            for m in tr.markers:
                if not m.mute and str(m.frame + shift) in counts:
                    counts[str(m.frame + shift)] += 1
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
    bi = camera.to_blender(**_intrinsics(clip), width=W, height=H, sensor_width=_tracking(clip).camera.sensor_width)
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
    """Batch step ``track``: ``--input PLATE --output SOLVE.json [--focal-mm F] [--masks DIR]``.

    Writes the plain solve document (see the module docstring); `vanelia track --tracker
    blender` turns it into a levelled, QC'd transforms.json on the sidecar side.
    """
    p = argparse.ArgumentParser(prog="vanelia_batch.py track", description=batch_track.__doc__)
    p.add_argument("--input", required=True, help="plate video, image sequence (first frame's path) or folder of frames")
    p.add_argument("--output", required=True, help="solve document (.json) to write")
    p.add_argument("--focal-mm", type=float, default=None, help="known focal length on a 36 mm sensor")
    p.add_argument("--masks", default=None,
                   help="folder of moving-object masks named by frame number (white = moving): tracks mostly inside are dropped")
    a = p.parse_args(argv)
    if a.focal_mm is not None and not 1.0 <= a.focal_mm <= 2000.0:
        raise TrackingError(f"--focal-mm {a.focal_mm}: not a focal length in mm on a 36 mm sensor (1-2000)")
    doc = track_and_solve(os.path.abspath(a.input), focal_mm=a.focal_mm,
                          masks=os.path.abspath(a.masks) if a.masks else None)
    atomic_write_json(a.output, doc)
    print(f"[vanelia] track: wrote {a.output}", flush=True)
    return 0


BATCH_STEPS = {"track": batch_track}
