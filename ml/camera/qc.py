"""Track quality control: which frames can be trusted, and whether the track is usable at all."""
from __future__ import annotations

import numpy as np

from .solve import Solve


def track_qc(solve: Solve, frames: list[int], warn_px: float = 1.5, refuse_px: float = 5.0, min_tracks: int = 12) -> dict:
    """Per-frame reprojection error and live tracks; unreliable frames; a usable verdict.

    A frame the solver did not register counts as unreliable. The track is refused (usable =
    False) when the median error exceeds ``refuse_px`` or fewer than half the frames are
    solved — far beyond what a composite can hide.
    """
    per = {}
    bad = []
    for f in frames:
        err = solve.frame_error.get(f)
        n = solve.frame_tracks.get(f, 0)
        solved = f in solve.cameras
        per[str(f)] = {"error_px": None if err is None or not np.isfinite(err) else round(float(err), 4), "tracks": int(n), "solved": solved}
        if not solved or err is None or not np.isfinite(err) or err > warn_px or n < min_tracks:
            bad.append(f)
    errs = [v["error_px"] for v in per.values() if v["error_px"] is not None]
    median = float(np.median(errs)) if errs else float("inf")
    solved_frac = sum(bool(v["solved"]) for v in per.values()) / max(len(frames), 1)
    usable = median <= refuse_px and solved_frac >= 0.5
    reason = ""
    if not usable:
        reason = (f"median reprojection error {median:.2f} px (limit {refuse_px} px)" if median > refuse_px
                  else f"only {solved_frac:.0%} of frames solved")
    return {"frames": per, "unreliable_frames": bad, "median_error_px": median, "mean_error_px": float(np.mean(errs)) if errs else None,
            "solved_fraction": solved_frac, "usable": usable, "reason": reason, "tracker": solve.tracker, "notes": list(solve.notes)}
