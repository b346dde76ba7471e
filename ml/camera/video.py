"""The camera of a continuous clip: which solver fits the footage, tried in order of rigour.

1. 2D tracks through the clip (ml.camera.klt) - cheap, and they tell whether the frames are
   a continuous clip at all (stills from all around an object do not track frame to frame).
2. Structure from motion on those tracks (COLMAP's mapper, ml.camera.colmap.solve_tracks):
   the full travelling camera with a reconstructed scene, used when it registers nearly
   every frame.
3. Otherwise the nodal solve (ml.camera.nodal): pans and follow shots whose parallax is too
   small for the mapper still get a camera for every frame, and the notes say so.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .colmap import SolveError, solve_tracks
from .klt import Tracks, track_frames
from .nodal import NodalError, solve_nodal
from .solve import Solve

MIN_SOLVED = 0.9  # fraction of frames the mapper must register to be preferred
NODAL_FITS_PX = 0.6  # median error under which a rotation-only camera is taken as the truth


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

    The nodal solve runs first because it is cheap (seconds): when pure rotation already
    explains the tracks to within ``NODAL_FITS_PX`` the camera did not travel, and the mapper
    (minutes, and unstable without parallax) is skipped.
    """
    tracks = tracks or track_frames(frames, masks)
    live = [tracks.live(f) for f in sorted(frames)]
    log(f"[vanelia] track: {len(tracks.lengths())} feature tracks, {int(np.median(live))} live per frame (median)")
    nodal: Solve | None = None
    try:
        nodal = solve_nodal(tracks, focal_px, camera_height)
        nodal_err = float(np.median([e for e in nodal.frame_error.values() if np.isfinite(e)]))
        if nodal_err <= NODAL_FITS_PX:
            nodal.notes.insert(0, f"pure rotation explains the tracks (median {nodal_err:.2f} px): no parallax to reconstruct")
            return nodal
        log(f"[vanelia] track: the camera travels (nodal fit {nodal_err:.2f} px); structure from motion on the tracks")
    except NodalError as exc:
        log(f"[vanelia] track: nodal solve failed ({exc}); structure from motion on the tracks")
    why = ""
    sfm: Solve | None = None
    try:
        sfm = solve_tracks(frames, tracks, workdir=workdir, focal_px=focal_px,
                           max_runtime_s=int(60 + 2 * len(frames)))
        if len(sfm.cameras) / len(frames) >= MIN_SOLVED:
            sfm.notes.append(f"structure from motion on {len(tracks.lengths())} video tracks: "
                             f"{len(sfm.cameras)}/{len(frames)} frames registered")
            return sfm
        why = f"the mapper registered only {len(sfm.cameras)}/{len(frames)} frames (too little parallax to triangulate)"
    except SolveError as exc:
        why = str(exc)
    if nodal is None or (sfm is not None and len(sfm.cameras) >= len(nodal.cameras)):
        if sfm is None:
            raise SolveError(why)
        return sfm
    log(f"[vanelia] track: {why}; using the nodal (tripod) solve")
    nodal.notes.insert(0, why + "; the nodal solve is used and a travelling camera will slide a little")
    return nodal
