"""Track: find the camera of raw footage, level the world on the ground, QC it, write transforms.json.

The solver is chosen per footage: a fixed camera for footage without parallax; for a
continuous clip video tracks + COLMAP's mapper (with a nodal solve for pans), then, under
``auto`` and when that solve is weak or upside down, Blender's tracker (alone with
``tracker="blender"``); COLMAP on SIFT matches for stills (SOLVER_ORDER). The
result is written by ``shotcache.tracks`` (through ml.camera.solve.write_solve) with each
frame's input image in ``file_path``. Used by `vanelia track`, `vanelia run` and the sidecar's
``/track`` jobs; progress goes to ``log``; bad footage raises a ``UserError`` before any file
is written.

Scale: the levelled world is in metres from one of three sources (``shotcache.camera_ground.
scale_source``): ``camera_height``, a ``known_size`` (two ground points of one frame and their
distance, measured after levelling by ml/camera/scale.py) or the typical camera height. The
QC records it as ``qc['scale'] = {'source', 'camera_height_m', ...}`` and the log says it.
"""
from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ml.camera import footage
from ml.camera.colmap import solve_images
from ml.camera.ground import GroundError, fit_ground, level_world
from ml.camera.klt import track_frames
from ml.camera.motion import coverage_grid, mask_stats, moving_masks, write_masks
from ml.camera.nodal import level_tripod
from ml.camera.placement import choose_placement
from ml.camera.qc import track_qc
from ml.camera.scale import rescale_ground_info, scale_to_known_size
from ml.camera.solve import STATIONARY_TRACKERS, Solve, solve_from_dict, write_solve
from ml.camera.video import is_continuous, solve_clip
from shotcache.camera_ground import TYPICAL_CAMERA_HEIGHT_M, KnownSize, check_scale_options, scale_source
from shotcache.errors import Cancelled, InputError, UserError
from shotcache.schema import FrameCamera
from shotcache.tracks import input_file_paths

from . import preflight
from .blender import run_batch

SENSOR_MM = 36.0
Log = Callable[[str], None]


def static_solve(frames: dict[int, Path], focal_mm: float | None, height_m: float) -> Solve:
    """A fixed camera for footage without parallax: the focal given or assumed (35 mm)."""
    w, h = footage.frame_size(next(iter(frames.values())))
    f_px = (focal_mm or 35.0) / SENSOR_MM * w
    # camera at height_m looking slightly down (10 deg) along +y; OpenCV axes in a z-up world
    tilt = np.radians(10.0)
    # columns: x right (1,0,0), y image-down (0,-sin,-cos), z forward (0,cos,-sin); the old
    # transposed matrix rolled the camera 180 deg (an upside-down world, caught by the shot QC)
    R = np.array([[1, 0, 0], [0, -np.sin(tilt), np.cos(tilt)], [0, -np.cos(tilt), -np.sin(tilt)]])
    c2w = np.eye(4)
    c2w[:3, :3] = R
    c2w[:3, 3] = [0, 0, height_m]
    cams = {n: FrameCamera(f_px, f_px, w / 2, h / 2, c2w.tolist()) for n in frames}
    s = Solve(width=w, height=h, cameras=cams, tracker="static", frame_error={n: 0.0 for n in frames},
              frame_tracks={n: 0 for n in frames})
    s.notes.append(f"static camera: no parallax in the footage; fixed camera with {'given' if focal_mm else 'assumed'} "
                   f"focal length {focal_mm or 35.0} mm (36 mm sensor) at {height_m} m, 10 deg down")
    return s


def check_track_inputs(plate: Path, frames: tuple[int, int] | None = None, camera_height: float | None = None,
                       known_size: str | KnownSize | None = None) -> tuple[preflight.PlateFacts, KnownSize | None]:
    """The checks of a solve, before any frame is decoded: the plate is a video or a folder
    of frames (a .txt or a .glb is refused, naming it), the frame range holds frames, the
    scale options agree and a known size's points lie inside the plate's frame."""
    facts = preflight.probe_plate(Path(plate), "--input")
    tracked = preflight.restrict(facts, frames)
    if isinstance(known_size, KnownSize):
        if camera_height is not None:
            check_scale_options(camera_height, known_size.text)
        known: KnownSize | None = known_size
    else:
        known = check_scale_options(camera_height, known_size)
    if known is not None and facts.size is not None:
        known.check_frame(facts.size[0], facts.size[1], tracked)
    return facts, known


def track_plate(plate: Path, output: Path, tracker: str = "auto", focal_mm: float | None = None,
                frames: tuple[int, int] | None = None, camera_height: float | None = None, max_image_size: int = 1280,
                place: str | None = None, masks: Path | None = None, max_side: int = 0, auto_masks: bool = True,
                log: Log = print, known_size: str | KnownSize | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict:
    """Solve, level and QC the camera of a plate; write transforms.json; return its QC.

    ``masks`` (a folder, white = a moving object such as a person) keep the tracker off
    things that move on their own; without them and with ``auto_masks`` such masks are
    made from the footage (ml.camera.motion: flow the camera's motion cannot explain) and
    every tracker gets them (Blender's deletes the tracks that mostly lie inside them);
    qc['moving_masks'] says how much was masked. With ``place`` (an area name, 'x,y' or a
    box) the product placement on the ground is chosen too and returned as qc['placement']
    (matrix_world in the levelled world). ``max_side`` > 0 tracks frames downscaled to it
    (a run's working resolution; intrinsics scale back to any plate size). The scale:
    ``camera_height`` (metres), ``known_size`` ('X1,Y1,X2,Y2=METRES[@FRAME]', see
    ``shotcache.camera_ground.parse_known_size``; not with ``camera_height``) or the typical
    camera height when neither is given. ``should_stop`` (a cancelled sidecar job) stops
    Blender's tracker mid-solve and the solvers between attempts (Cancelled); COLMAP, which
    runs in this process, finishes its attempt first.
    """
    facts, known = check_track_inputs(plate, frames, camera_height, known_size)
    height = camera_height if camera_height is not None else TYPICAL_CAMERA_HEIGHT_M
    with tempfile.TemporaryDirectory(prefix="vanelia-track-") as tmp:
        imgs = footage.extract_frames(plate, Path(tmp) / "frames", frames, max_side=max_side)
        first, last = imgs[min(imgs)], imgs[max(imgs)]
        n_feat = footage.feature_count(first)
        if n_feat < 20:
            raise footage.FootageError(f"{plate}: only {n_feat} trackable features in the first frame (a blank wall?); "
                                       "this footage cannot be tracked - give a camera track with --camera")
        user_masks = footage.match_masks(masks, imgs) if masks else None
        log(f"[vanelia] track: {len(imgs)} frames, {n_feat} features in the first frame, tracker {tracker}")
        masked: dict | None = None
        if footage.median_motion(first, last) < 0.004:
            solve = static_solve(imgs, focal_mm, height)
        else:
            mask_files, masked = tracking_masks(imgs, user_masks, auto_masks, Path(tmp) / "masks", log)
            mask_dir = Path(tmp) / "masks" if mask_files else None
            if tracker == "blender":
                solve = _blender_solve(Path(tmp) / "frames", Path(tmp), focal_mm, mask_dir, should_stop)
            else:
                solve = solve_footage(imgs, mask_files, focal_mm, height, max_image_size, Path(tmp), log,
                                      tracker=tracker, mask_dir=mask_dir, should_stop=should_stop)
        plate_size = facts.size or footage.frame_size(first)
        doc_qc = level_and_qc(solve, sorted(imgs), height, known=known, plate_size=plate_size,
                              given_height=camera_height, images=imgs)
        if masked is not None:
            doc_qc["moving_masks"] = masked
        if place:
            doc_qc["placement"] = choose_placement(solve, place, moving=(masked or {}).get("coverage"))
        write_solve(output, solve, _file_paths(plate, output, imgs), qc=doc_qc)
    log(f"[vanelia] track: {len(solve.cameras)}/{len(imgs)} frames solved ({solve.tracker}), median reprojection error "
        f"{doc_qc['median_error_px']:.3f} px, {len(doc_qc['unreliable_frames'])} unreliable frame(s) -> {output}")
    for note in solve.notes:
        log(f"[vanelia] track: note: {note}")
    if not doc_qc["usable"]:
        log(f"[vanelia] track: WARNING: this track is not usable ({doc_qc['reason']}); `vanelia run` refuses it unless --force")
    sc = doc_qc["scale"]
    log(f"[vanelia] track: scale from {sc['source']}: camera height {sc['camera_height_m']:.3g} m"
        + ("" if sc.get("levelled", True) else " (no ground plane found: the world is in the solver's units)"))
    return doc_qc


def tracking_masks(imgs: dict[int, Path], user: dict[int, Path] | None, auto: bool, folder: Path,
                   log: Log) -> tuple[dict[int, Path] | None, dict | None]:
    """The moving-object masks every tracker gets, as images in ``folder`` named by frame
    number (000012.png, white = moving): the user's (``user``, matched to the frames) when
    given, else automatic ones when ``auto``, else none. Returns {frame: mask file} and
    what the track's QC records (with the grid of how often each part of the frame moves,
    ``coverage_grid``, which the placement keeps off)."""
    if user is not None:
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for f, src in user.items():
            files[f] = folder / f"{f:06d}{src.suffix.lower()}"
            shutil.copyfile(src, files[f])
        return files, {"source": "user", "frames": len(files), "coverage": coverage_grid(files)}
    if not auto:
        return None, None
    found = moving_masks(imgs, log=log)
    return write_masks(found, folder), {"source": "auto", **mask_stats(found), "coverage": coverage_grid(found)}


def _file_paths(plate: Path, output: Path, imgs: dict[int, Path]) -> dict[int, str] | None:
    """``file_path`` of each frame: the input image itself for a folder of frames (relative
    to the transforms.json), so the file round-trips with other tools; a video has no images,
    so its frames are named as a shot folder holds them (plate/000012.png)."""
    sources = footage.input_images(plate)
    if not sources:
        return None
    return input_file_paths(output, {n: sources[n] for n in imgs if n in sources})


SOLVER_ORDER: dict[str, tuple[str, ...]] = {
    "auto": ("video", "blender", "stills"),
    "colmap": ("video", "stills"),
}
"""Solvers tried in turn for a continuous clip, per ``--tracker``; the first solve that is
neither weak nor implausible is kept, else the best of them. ``auto`` starts with the video
tracks + mapper: 100 frames of 720p in about a minute on 2 cores, against over an hour for
Blender's tracker (docs/bench_track.json), which is the fallback when the fast solve fails
(a mirrored long-lens reconstruction, a pan the mapper loses). ``blender`` runs Blender's
tracker alone (track_plate); stills that do not track frame to frame go to COLMAP on SIFT
matches whatever the option."""


SOLVER_LABEL = {"video": "video-track (COLMAP mapper)", "blender": "Blender tracker", "stills": "still-photo (COLMAP SIFT)"}
"""How the log names each solver of SOLVER_ORDER."""


def solve_footage(imgs: dict[int, Path], masks: dict[int, Path] | None, focal_mm: float | None, camera_height: float,
                  max_image_size: int, tmp: Path, log: Log, tracker: str = "colmap",
                  mask_dir: Path | None = None, should_stop: Callable[[], bool] | None = None) -> Solve:
    """The camera of footage, from the solvers SOLVER_ORDER lists for ``tracker`` (``auto``:
    the video tracks, then Blender's tracker, then stills; ``colmap``: no Blender). A solve is kept
    when it covers the clip within 1.5 px (``_weak_solve``) and its world is physically
    plausible once levelled (``_implausible_world``): cameras above the ground, the ground
    below the horizon. Each rejection is logged and kept in the notes."""
    focal_px = focal_mm / SENSOR_MM * footage.frame_size(next(iter(imgs.values())))[0] if focal_mm else None
    tracks = track_frames(imgs, masks) if len(imgs) >= 8 else None
    if tracks is None or not is_continuous(tracks):
        log("[vanelia] track: frames do not track from one to the next: solving them as stills (COLMAP)")
        return solve_images(imgs, workdir=tmp / "colmap", focal_px=focal_px, max_image_size=max_image_size, masks=masks)
    solvers: dict[str, Callable[[], Solve]] = {
        "video": lambda: solve_clip(imgs, masks, focal_px, camera_height, workdir=tmp / "colmap", tracks=tracks, log=log),
        "blender": lambda: _blender_solve(tmp / "frames", tmp, focal_mm, mask_dir, should_stop),
        "stills": lambda: solve_images(imgs, workdir=tmp / "colmap_stills", focal_px=focal_px,
                                       max_image_size=max_image_size, masks=masks),
    }
    tried: list[tuple[Solve, bool]] = []
    rejected: list[str] = []
    for name in SOLVER_ORDER[tracker]:
        if should_stop is not None and should_stop():
            raise Cancelled(f"the track was stopped before the {SOLVER_LABEL[name]} solve: the job was cancelled")
        if rejected:
            log(f"[vanelia] track: {rejected[-1]}; trying {SOLVER_LABEL[name]}")
        try:
            solve = solvers[name]()
        except UserError as exc:
            rejected.append(f"{SOLVER_LABEL[name]} failed ({exc})")
            continue
        weak = _weak_solve(solve, len(imgs))
        upside_down = "" if weak else _implausible_world(solve, imgs)
        if not weak and not upside_down:
            solve.notes[:0] = rejected
            return solve
        rejected.append(f"the {SOLVER_LABEL[name]} solve is not kept: {weak or upside_down}")
        tried.append((solve, bool(upside_down)))
    if not tried:
        raise UserError("no solver could track this footage: " + "; ".join(rejected)
                        + ". Give a camera track with --camera, or --focal-mm if the lens is known")
    best = max(tried, key=lambda t: (not t[1],) + _solve_rank(t[0], len(imgs)))[0]
    best.notes[:0] = rejected + [f"kept the best of {len(tried)} weak solves ({best.tracker})"]
    return best


def _implausible_world(solve: Solve, images: dict[int, Path]) -> str:
    """Why the solve's world is upside down once levelled ('' when it is not): the shot QC's
    first two checks, run on a levelled copy before anything is rendered. A long-lens pan
    can reconstruct mirrored (the depth-reversal ambiguity of a near-affine camera) at
    0.4 px; the shot QC refuses it after the render, but another solver often gets it right."""
    from ml.camera.plausibility import cameras_above_ground, ground_below_horizon

    if solve.tracker in STATIONARY_TRACKERS:
        return ""  # levelled over an assumed ground by construction
    trial = levelled_copy(solve, images)
    if trial is None:
        return ""  # no ground to judge by: the QC says so later
    zero, up = np.zeros(3), np.array([0.0, 0.0, 1.0])
    for check in (cameras_above_ground(trial, zero, up), ground_below_horizon(trial, up)):
        if not check["ok"]:
            return str(check["detail"])
    roll = camera_roll_deg(trial)
    if roll is not None and roll > MAX_ROLL_DEG:
        return (f"the levelled camera rolls {roll:.0f} deg (median over the frames): the solved ground is tilted "
                "against the footage, and a product standing on it would lean")
    return ""


def levelled_copy(solve: Solve, images: dict[int, Path]) -> Solve | None:
    """A copy of ``solve`` levelled on its ground (as level_and_qc will level it, unit camera
    height), or None when no ground plane is found; the solve itself is left as it is."""
    trial = copy.deepcopy(solve)
    try:
        point, normal, _, _ = _ground_with_up(trial, images)
    except GroundError:
        return None
    level_world(trial, point, normal, 1.0)
    return trial


MAX_ROLL_DEG = 20.0
"""A levelled camera whose horizon leans more than this (median over the shot) sits on a
tilted ground: hand-held and broadcast cameras hold the horizon within a few degrees, a
deliberate Dutch angle is rare. Under ``auto`` the next solver is tried; nothing is refused here."""


def camera_roll_deg(solve: Solve) -> float | None:
    """Median |roll| of a levelled solve (ground z = 0, up +z): the angle between the image's
    up and the world's up projected into the image. Frames looking nearly straight down or
    up (world up within about 12 deg of the optical axis) say nothing and are left out."""
    rolls = []
    for f in solve.cameras:
        x, y, _ = solve.c2w(f)[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # world up in OpenCV camera axes (y down)
        if np.hypot(x, y) < 0.2:
            continue
        rolls.append(abs(np.degrees(np.arctan2(x, -y))))
    return float(np.median(rolls)) if rolls else None


def _weak_solve(solve: Solve, n_frames: int) -> str:
    """Why a solve is too weak to keep without trying another path ('' when it is fine):
    under 90 % of the frames registered, a median reprojection error over 1.5 px, or a
    solver that settled for a weaker model (``Solve.fallback``)."""
    if solve.fallback:
        return solve.fallback
    med = solve.median_error()
    if len(solve.cameras) < 0.9 * n_frames or med > 1.5:
        return f"{len(solve.cameras)}/{n_frames} frames registered, median error {med:.2f} px ({solve.tracker})"
    return ""


def _solve_rank(solve: Solve, n_frames: int) -> tuple[bool, int, float]:
    """Order of preference: not weak, then more frames registered, then lower median error."""
    return (not _weak_solve(solve, n_frames), len(solve.cameras), -solve.median_error())


def _blender_solve(plate: Path, tmp: Path, focal_mm: float | None, mask_dir: Path | None = None,
                   should_stop: Callable[[], bool] | None = None) -> Solve:
    out = tmp / "blender_track.json"
    run_batch("track", ["--input", str(plate), "--output", str(out)] + (["--focal-mm", str(focal_mm)] if focal_mm else [])
              + (["--masks", str(mask_dir)] if mask_dir else []), should_stop=should_stop)
    return solve_from_dict(json.loads(out.read_text()))


def _ground_with_up(solve: Solve, images: dict[int, Path] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The ground plane, consistent with the plate's "up" when its vertical lines give one.

    Why: the points' dominant near-horizontal plane is not always the ground (a corridor's
    wall-to-ceiling band, market stalls); the hotel corridor came out 32 deg off its walls and
    the duck rendered on its side. With an up from the vertical vanishing points the plane
    must be within VP_TILT_DEG of it; when none is, the ground is assumed level, camera
    height below the cameras (as for a nodal solve), rather than tilted. Without verticals
    the cameras' own up guides the fit as before. Returns (point, normal, inliers, how)."""
    from ml.camera.plausibility import plate_up

    up = plate_up(solve, images) if images else None
    if up is None:
        point, normal, inl = fit_ground(solve)
        return point, normal, inl, "cameras"
    try:
        point, normal, inl = fit_ground(solve, max_tilt_deg=VP_TILT_DEG, up=up)
        above = float(np.median((solve.centres() - point) @ up))
        if normal @ up > 0 and above > 0:
            return point, normal, inl, "vertical lines"
        # too few points below the cameras: the fit fell back to all of them and found a
        # roof or a canopy above the cameras (an upside-down world once levelled)
        solve.notes.append(f"the only plane within {VP_TILT_DEG:g} deg of the plate's vertical lines lies above the "
                           "cameras; ground assumed level below them")
    except GroundError as exc:
        solve.notes.append(f"no ground plane within {VP_TILT_DEG:g} deg of the plate's vertical lines ({exc}); "
                           "ground assumed level below the cameras")
    centres = solve.centres()
    drop = float(np.median(np.linalg.norm(centres - centres.mean(0), axis=1))) or 1.0
    return centres.mean(0) - drop * up, up, np.zeros(len(solve.points), bool), "vertical lines (ground assumed)"


VP_TILT_DEG = 10.0
"""How far the ground's normal may lean from the plate's vertical lines (their vanishing
point is good to a few degrees; a real floor is level to about one)."""


def level_and_qc(solve: Solve, frames: list[int], camera_height: float, known: KnownSize | None = None,
                 plate_size: tuple[int, int] | None = None, given_height: float | None = None,
                 images: dict[int, Path] | None = None) -> dict:
    """Fit the ground and level the world (a static or nodal solve comes levelled), scale it
    to the ``known`` size when given (``plate_size``: the plate's own (width, height), in which
    its pixel points are), then QC. ``qc['scale']`` says where the scale came from
    (``given_height``: the user's --camera-height, None for the typical height); ``images``:
    the frames the solve was made from, whose vertical lines say which way is up."""
    ground: dict[str, Any] | None = None
    if solve.tracker == "blender-tripod":
        level_tripod(solve, camera_height)
    if solve.tracker in STATIONARY_TRACKERS:
        ground = {"point": [0.0, 0.0, 0.0], "normal": [0.0, 0.0, 1.0], "assumed": True, "camera_height": camera_height}
    else:
        try:
            point, normal, inl, how = _ground_with_up(solve, images)
            info = level_world(solve, point, normal, camera_height)
            ground = {"point": [0.0, 0.0, 0.0], "normal": [0.0, 0.0, 1.0], "inliers": int(inl.sum()), "up": how, **info}
            if not inl.any():
                ground["assumed"] = True
        except GroundError as exc:
            solve.notes.append(f"ground plane: {exc}; world left as solved")
            if known is not None:
                raise InputError(f"--known-size {known.text}: the solve found no ground plane to measure the two points on "
                                 f"({exc}); give --camera-height instead") from None
    scale: dict[str, Any] = {"source": scale_source(given_height, known),
                             "camera_height_m": float((ground or {}).get("camera_height", camera_height))}
    if known is not None and ground is not None:
        done = scale_to_known_size(solve, known, plate_size or (solve.width, solve.height), min(frames) if frames else None)
        ground = rescale_ground_info(ground, done["factor"], done["camera_height_m"])
        scale.update(camera_height_m=done["camera_height_m"], known_size=known.text, frame=done["frame"],
                     metres=known.metres, factor=done["factor"], ground_points=done["points"], warning=done["warning"])
        if done["warning"]:
            solve.notes.append(done["warning"])
    elif ground is None:
        scale["levelled"] = False
    qc = track_qc(solve, frames)
    if ground:
        qc["ground"] = ground
    qc["scale"] = scale
    return qc
