"""The camera of a continuous clip: which solver fits the footage, tried in order of rigour.

1. 2D tracks through the clip (ml.camera.klt) - cheap, and they tell whether the frames are
   a continuous clip at all (stills from all around an object do not track frame to frame).
2. Structure from motion on those tracks (COLMAP's mapper, ml.camera.colmap.solve_tracks):
   the full travelling camera with a reconstructed scene, used when it registers nearly
   every frame.
3. Otherwise the nodal solve (ml.camera.nodal): pans and follow shots whose parallax is too
   small for the mapper still get a camera for every frame, and the notes say so.

Rotation-only or travel is decided by GRIC (shotcache.motion_model: rotation-and-zoom vs
plane homography vs fundamental matrix, with each model's parameter penalty), not by an
absolute error: a walk forward over a plaza fits a rotation at a wrong focal to a pixel.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from shotcache.motion_model import select_motion

from .colmap import SolveError, solve_tracks
from .klt import Tracks, track_frames
from .nodal import NodalError, solve_nodal
from .solve import Solve

MIN_SOLVED = 0.9  # fraction of frames the mapper must register to be preferred
MAPPER_TRIES = 3  # low-parallax mapping attempts (random starts) before settling for the nodal solve
NODAL_FITS_PX = 0.6  # when GRIC cannot tell (no motion): median error under which rotation is taken


def track_dict(tracks: Tracks) -> dict[int, dict[int, tuple[float, float]]]:
    """{track id: {frame: (x, y)}} for shotcache.motion_model."""
    out: dict[int, dict[int, tuple[float, float]]] = {}
    for f, o in tracks.obs.items():
        for tid, x, y in o:
            out.setdefault(int(tid), {})[f] = (float(x), float(y))
    return out


def is_continuous(tracks: Tracks, min_median_length: int = 6) -> bool:
    """Frames of one continuous shot keep most tracks alive from frame to frame."""
    lengths = list(tracks.lengths().values()) if tracks.obs and any(len(o) for o in tracks.obs.values()) else []
    return bool(lengths) and float(np.median(lengths)) >= min_median_length


def solve_clip(
    frames: dict[int, Path],
    masks: dict[int, Path] | None = None,
    focal_px: float | None = None,
    camera_height: float = 1.5,
    workdir: Path | None = None,
    tracks: Tracks | None = None,
    log: Callable[[str], None] = print,
) -> Solve:
    """Solve a continuous clip (see the module docstring). A nodal Solve comes levelled
    (tracker 'nodal'); a mapper Solve carries its points for the ground fit.

    GRIC decides the order. When it says rotation (or cannot tell) the nodal solve runs
    first: it is cheap and, when it fits, the mapper (unstable without parallax) is skipped.
    When GRIC says the camera travels the mapper runs first and the nodal solve only when the
    mapper fails - it is then the fallback and the focal length of the low-parallax retries.
    On a 100-frame 720p walk that skips a 25 s nodal fit whose result was thrown away.
    """
    tracks = tracks or track_frames(frames, masks)
    live = [tracks.live(f) for f in sorted(frames)]
    log(f"[vanelia] track: {len(tracks.lengths())} feature tracks, {int(np.median(live))} live per frame (median)")
    motion = select_motion(track_dict(tracks), (tracks.width, tracks.height))
    log(f"[vanelia] track: motion model by GRIC: {motion['model']}"
        + (f" (rotation {motion['gric']['rotation']:.0f}, plane {motion['gric']['plane']:.0f}, "
           f"general {motion['gric']['general']:.0f}; lower wins)" if "gric" in motion else f" ({motion.get('why')})"))
    nodal: Solve | None = None
    if motion["model"] in ("rotation", "unknown"):
        nodal = _nodal(tracks, focal_px, camera_height, log)
        if nodal is not None:
            nodal_err = nodal.median_error()
            if motion["model"] == "rotation" or nodal_err <= NODAL_FITS_PX:
                nodal.notes.insert(0, f"pure rotation explains the tracks best (GRIC {motion['model']}; nodal median "
                                      f"{nodal_err:.2f} px): no parallax to reconstruct")
                return nodal
            log(f"[vanelia] track: the camera travels (nodal fit {nodal_err:.2f} px); structure from motion on the tracks")
    else:
        log(f"[vanelia] track: the camera travels (GRIC: {motion['model']}); structure from motion on the tracks")
    sfm, why, partial = _map(frames, tracks, {"focal_px": focal_px, "workdir": workdir}, "")
    if sfm is not None:
        return sfm
    if nodal is None:
        log(f"[vanelia] track: {why}; a nodal (tripod) solve for the fallback and the focal length")
        nodal = _nodal(tracks, focal_px, camera_height, log)
    if nodal is not None and focal_px is None:
        # the mapper again with the focal length the nodal solve measured from the rotation and
        # low-parallax settings: that follows a pan the mapper loses when it must also find
        # the focal; its start is random, so a few seeds
        f_nodal = nodal.cameras[min(nodal.cameras)].fx
        log(f"[vanelia] track: {why}; mapping again with the nodal focal length {f_nodal:.1f} px")
        for seed in range(MAPPER_TRIES):
            kw = {"focal_px": f_nodal, "low_parallax": True, "seed": seed,
                  "workdir": workdir / f"low_parallax_{seed}" if workdir else None}
            sfm, why, more = _map(frames, tracks, kw, f" with the focal length of the nodal solve ({f_nodal:.1f} px)")
            if sfm is not None:
                return sfm
            if more is not None and (partial is None or len(more.cameras) > len(partial.cameras)):
                partial = more
    if nodal is None:
        if partial is None:
            raise SolveError(why)
        partial.fallback = why
        return partial
    log(f"[vanelia] track: {why}; using the nodal (tripod) solve")
    nodal.notes.insert(0, why + "; the nodal solve is used and a travelling camera will slide a little")
    nodal.fallback = f"a nodal solve of a camera that travels ({why})"
    return nodal


def _nodal(tracks: Tracks, focal_px: float | None, camera_height: float, log: Callable[[str], None]) -> Solve | None:
    """The nodal (tripod) solve, or None with the reason logged."""
    try:
        return solve_nodal(tracks, focal_px, camera_height)
    except NodalError as exc:
        log(f"[vanelia] track: nodal solve failed ({exc})")
        return None


def _map(frames: dict[int, Path], tracks: Tracks, kw: dict, how: str) -> tuple[Solve | None, str, Solve | None]:
    """One mapper attempt: (the solve when it registers nearly every frame on a plausible
    path, else None; why not; the rejected solve, a last resort when no nodal solve exists)."""
    try:
        sfm = solve_tracks(frames, tracks, max_runtime_s=int(60 + 2 * len(frames)), **kw)
    except SolveError as exc:
        return None, str(exc), None
    if len(sfm.cameras) / len(frames) < MIN_SOLVED:
        why = f"the mapper registered only {len(sfm.cameras)}/{len(frames)} frames (too little parallax to triangulate)"
        return None, why, sfm
    bad = implausible(sfm)
    if bad:
        return None, bad, fill_missing(sfm, sorted(frames))  # a last resort when no nodal solve exists
    sfm.notes.append(f"structure from motion on {len(tracks.lengths())} video tracks{how}: "
                     f"{len(sfm.cameras)}/{len(frames)} frames registered")
    return fill_missing(sfm, sorted(frames)), "", None


def fill_missing(solve: Solve, frames: list[int]) -> Solve:
    """Give the few frames the mapper left out a camera: interpolated between the nearest
    solved frames (rotation by slerp, centre linearly), or held at the ends. Their error is
    unknown (NaN), so the QC lists them as unreliable, but a render has every frame."""
    from scipy.spatial.transform import Rotation, Slerp

    from shotcache.schema import FrameCamera

    solved = sorted(solve.cameras)
    missing = [f for f in frames if f not in solve.cameras]
    if not missing or len(solved) < 2:
        return solve
    mats = np.stack([solve.c2w(f) for f in solved])
    slerp = Slerp(solved, Rotation.from_matrix(mats[:, :3, :3]))
    base = solve.cameras[solved[0]]
    for f in missing:
        t = float(np.clip(f, solved[0], solved[-1]))
        c2w = np.eye(4)
        c2w[:3, :3] = slerp([t]).as_matrix()[0]
        c2w[:3, 3] = [np.interp(t, solved, mats[:, k, 3]) for k in range(3)]
        solve.cameras[f] = FrameCamera(base.fx, base.fy, base.cx, base.cy, c2w.tolist())
        solve.frame_error[f] = float("nan")
        solve.frame_tracks[f] = 0
    solve.notes.append(f"{len(missing)} frame(s) the mapper could not register were interpolated: {missing[:10]}")
    return solve


def implausible(solve: Solve, max_height_spread: float = 0.5) -> str | None:
    """Why a mapper solve cannot be a real camera move, or None.

    A reconstruction can fit the tracks to half a pixel and still be useless for a composite:
    with little parallax the scale drifts along the clip and the camera path wanders through
    the floor. Levelled on its own ground plane, a real hand-held or dolly camera keeps
    its height within about half the mean height."""
    import copy

    from .ground import GroundError, fit_ground, level_world

    trial = copy.deepcopy(solve)
    try:
        p, n, _ = fit_ground(trial)
    except GroundError:
        return None  # judged later, where the ground is fitted for real
    level_world(trial, p, n, 1.0)
    heights = np.array([trial.c2w(f)[2, 3] for f in trial.cameras])
    if heights.min() < 0.05 or heights.std() > max_height_spread:
        return (f"the mapper's camera path is not plausible (height above its ground from {heights.min():.2f} to "
                f"{heights.max():.2f} x the mean: the scale drifted along the clip)")
    return None
