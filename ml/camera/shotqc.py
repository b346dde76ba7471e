"""The QC of a rendered shot: lock + physical plausibility + the product really rendered.

Runs after the Blender render and before any stage or encoding, on what the shot folder
holds (shot.json, plate frames, render EXRs), so it judges exactly what will be composited,
whatever camera or placement produced it. The verdict is written into shot.json (``qc``),
where the contact sheet and the Blender panel read it.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shotcache.layout import ShotPaths
from shotcache.schema import Distortion, Shot, ShotQC, cover_floor_m

from . import plausibility as pl
from .lock import measure_lock
from .solve import Solve


def shot_solve(shot: Shot) -> Solve:
    """The shot's cameras (already at the shot's resolution) as a Solve, with the plate's
    lens unless the plate was undistorted: its projections land where the plate shows."""
    w, h = shot.resolution
    d = shot.camera.distortion if not shot.plate.undistorted else Distortion()
    return Solve(width=int(w), height=int(h), cameras=dict(shot.camera.frames), tracker=shot.camera.kind, distortion=d)


def ground_contact(matrix_world: np.ndarray, g_point: np.ndarray, g_normal: np.ndarray) -> np.ndarray:
    """Where the product meets the ground: its origin dropped onto the ground plane."""
    t = np.asarray(matrix_world, dtype=np.float64)[:3, 3]
    p, n = np.asarray(g_point, dtype=np.float64), np.asarray(g_normal, dtype=np.float64)
    n = n / (np.linalg.norm(n) + 1e-12)
    return t - ((t - p) @ n) * n


def contact_point(shot: Shot) -> np.ndarray:
    """Where the shot's product meets its ground (``ground_contact``)."""
    return ground_contact(np.asarray(shot.product.matrix_world), np.asarray(shot.ground.point), _normal(shot))


JUDGE_MAX_LINES = 720
"""The lock's targets hold at the clip's own resolution, up to 720p."""


def judge_scale(shot: Shot) -> float:
    """Factor from the shot's (working) resolution to the one the lock is judged at: the
    source footage's height capped at JUDGE_MAX_LINES. A run at --resolution 640x360 of a
    720p clip is judged at 720p: its slide, in pixels of the frame an artist watches, is
    twice what the working frames show."""
    h = int(shot.resolution[1])
    native = shot.plate.native_size
    src_h = int(native[1]) if len(native) == 2 and int(native[1]) > 0 else h
    return min(src_h, JUDGE_MAX_LINES) / max(h, 1)


def _normal(shot: Shot) -> np.ndarray:
    n = np.asarray(shot.ground.normal, dtype=np.float64)
    return n / (np.linalg.norm(n) + 1e-12)


def _alphas(paths: ShotPaths, frames: list[int], shot: Shot | None = None) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """The product's alpha per frame, in the plate's lens when the shot has one: as rendered,
    and as the video will show it, with the shot's ground cover taken off (ml/pipeline/
    ground_cover.py; the same dict without a cover). Each render is read once."""
    from ml.io.exr import PassError, read_passes
    from ml.pipeline.ground_cover import apply_cover
    from ml.pipeline.lens import needs_lens, to_plate_lens

    lens_d = shot.camera.distortion if shot is not None else Distortion()
    cams = shot.camera.frames if shot is not None and needs_lens(lens_d, shot.plate.undistorted) else None
    cover = shot.ground.cover_m if shot is not None else 0.0
    rendered, shown = {}, {}
    for f in frames:
        try:
            got = read_passes(paths.render_frame(f), ["rgba", "position"] if cover > 0 else ["rgba"])
            rgba, passes = got["rgba"], {k: v for k, v in got.items() if k != "rgba"}
            if cams is not None and f in cams:  # the render in the plate's lens, as the stages see it
                warped, passes = to_plate_lens(rgba, passes, cams[f], lens_d)
                rgba = rgba if warped is None else warped
            rendered[f] = shown[f] = rgba[..., 3]
            if cover > 0 and shot is not None:
                shown[f] = apply_cover(rgba, passes["position"], shot.ground.point, shot.ground.normal, cover).rgba[..., 3]
        except (FileNotFoundError, PassError):
            rendered[f] = shown[f] = np.zeros((1, 1), np.float32)
    return rendered, shown


def geometry_checks(solve: Solve, g_point: np.ndarray, g_normal: np.ndarray, matrix_world: np.ndarray,
                    plates: Mapping[int, Path | np.ndarray], masks: Mapping[int, Path | np.ndarray] | None = None,
                    view_ground: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, dict]:
    """The checks a placement can fail before anything is rendered: the cameras above the
    ground, the ground below the horizon, the near view not under the ground (with a
    solve's points), "up" along the plate's vertical lines, the product
    upright and within reach. `vanelia run` makes them before the render (app.qc.placement_gate)
    and again on the rendered shot, so a tilted ground costs no render. ``view_ground``: the
    plane (point, normal) the near view is judged against when it is not the product's (the
    solve's ground, where the product stands on a step of it: a kerb, a pavement)."""
    g_point, g_normal = np.asarray(g_point, dtype=np.float64), np.asarray(g_normal, dtype=np.float64)
    g_normal = g_normal / (np.linalg.norm(g_normal) + 1e-12)
    M = np.asarray(matrix_world, dtype=np.float64)
    contact = ground_contact(M, g_point, g_normal)
    med_h = float(np.median(list(pl.camera_heights(solve, g_point, g_normal).values())))
    # a shot's cameras carry no points: the near view was judged by the track's own gate
    near_view = {"view_above_ground": pl.view_above_ground(solve, *(view_ground or (g_point, g_normal)))} if len(solve.points) else {}
    return {
        "cameras_above_ground": pl.cameras_above_ground(solve, g_point, g_normal),
        "ground_below_horizon": pl.ground_below_horizon(solve, g_normal),
        **near_view,
        "up_vs_vertical_lines": pl.up_agrees_with_verticals(solve, g_normal, plates, masks=masks),
        "product_upright": pl.product_upright(solve, M, g_normal, 0.2 * abs(med_h)),
        "distance": pl.plausible_distance(solve, contact, g_point, g_normal),
    }


def check_shot(shot_dir: str | Path, masks: Mapping[int, Path | np.ndarray] | None = None, scale_source: str = "",
               lock_frames: list[int] | None = None, rendered: bool = True, before: ShotQC | None = None) -> ShotQC:
    """Measure and judge a shot; returns the ShotQC (verdict accepted | refused).

    ``masks``: masks (white = a moving object / to ignore; files or uint8 arrays) by frame
    for the lock;
    ``lock_frames``: limit the lock to these frames (default all);
    ``rendered``: False for a shot set up but not rendered yet. The lock is measured on the
    plate frames alone (the plate's ground texture at the contact point, through the solved
    cameras), so it and the geometry checks can refuse a sliding camera before the render
    (app.qc.lock_gate); only the checks of the rendered alpha wait for the render;
    ``before``: this shot's verdict before the render: its lock and geometry checks are kept
    (nothing they read has changed), and only the rendered alpha is judged."""
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    solve = shot_solve(shot)
    contact = contact_point(shot)
    if before is not None:
        checks = dict(before.checks)
        lock: dict[str, Any] = {**before.lock, "per_frame": dict(before.slide_per_frame)}
    else:
        g_point, g_normal = np.asarray(shot.ground.point, dtype=np.float64), _normal(shot)
        plates = {f: paths.plate_frame(f) for f in (lock_frames or shot.frames) if paths.plate_frame(f).is_file()}
        checks = geometry_checks(solve, g_point, g_normal, np.asarray(shot.product.matrix_world), plates, masks)
        lock = measure_lock(plates, solve, contact, normal=g_normal, masks=masks, judge_scale=judge_scale(shot)) if plates else \
            {"ok": False, "reason": "no plate frames in the shot to measure the lock on", "slide_px": None, "per_frame": {}}
    if rendered:
        alphas, shown = _alphas(paths, shot.frames, shot)  # as rendered; as the video will show it
        cover = shot.ground.cover_m
        checks["product_rendered"] = pl.alpha_in_frame(solve, contact, shown)
        if cover > 0 and not checks["product_rendered"]["ok"]:
            checks["product_rendered"]["detail"] += f" once the ground cover of {cover:g} m hides its base (lower --ground-cover)"
        # the render's product starts where its shadow catcher stands: on the grass of a cover
        foot = contact + _normal(shot) * cover_floor_m(cover)
        checks["product_on_contact"] = pl.product_on_contact(solve, foot, alphas)
    reasons = [c["detail"] for c in checks.values() if c["ok"] is False]
    if not lock["ok"]:
        reasons.append(f"lock: {lock['reason']}")
    stats = lock.get("slide_px") or {}
    qc = ShotQC(verdict="refused" if reasons else "accepted", reasons=reasons, slide_mean_px=stats.get("mean"),
                slide_max_px=stats.get("max"), slide_per_frame=dict(lock.get("per_frame") or {}),
                lock={k: v for k, v in lock.items() if k != "per_frame"}, checks=checks,
                scale_source=scale_source or str((shot.camera.qc.get("scale") or {}).get("source", "")))
    shot.qc = qc
    paths.save_shot(shot)
    return qc


def mark_forced(shot_dir: str | Path) -> None:
    """Record that a refused shot was composited anyway (--force)."""
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    shot.qc.verdict = "forced"
    paths.save_shot(shot)


def summary(qc: ShotQC) -> str:
    """One line for logs and the contact sheet."""
    slide = (f"slide {qc.slide_mean_px:.2f} px mean / {qc.slide_max_px:.2f} px max"
             if qc.slide_mean_px is not None and qc.slide_max_px is not None else "slide not measured")
    return f"{qc.verdict.upper()}: {slide}" + (f", scale: {qc.scale_source}" if qc.scale_source else "")
