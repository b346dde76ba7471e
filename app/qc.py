"""QC at the doors of a run: the track's QC and the placement's before the render, the shot's QC after it.

A composite can't hide a camera that slides, so `vanelia run` (and the sidecar's run job)
refuses a transforms.json whose ``qc.usable`` is false, naming the reason and the unreliable
frames, unless the user forces it. Once the product is placed, ``placement_gate`` makes the
physical checks that need no render (a tilted or flipped ground, an upside-down or distant
product) so they cost no render. Once the shot is set up, ``lock_gate`` measures the lock
(the plate frames and the solved cameras decide it) before any frame renders. After the
render, ``shot_gate`` judges what will really be composited (ml.camera.shotqc: the lock of
the product on the plate's ground, physical plausibility, the rendered alpha) and refuses it
the same way; a product missing from every frame is refused even when forced: the run never
succeeds without the product.
"""
from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Callable

from shotcache.errors import InputError, UsageError
from shotcache.schema import ShotQC


def transforms_file(camera: Path) -> Path | None:
    """The transforms.json a --camera names (the file, or one inside the folder), else None."""
    path = camera / "transforms.json" if camera.is_dir() else camera
    return path if path.suffix.lower() == ".json" and path.is_file() else None


def read_qc(camera: Path) -> dict[str, Any]:
    """The `qc` of a transforms.json camera ({} for other tracks or a track without one)."""
    path = transforms_file(camera)
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"--camera {path}: not a readable transforms.json ({exc})") from None
    qc = doc.get("qc") if isinstance(doc, dict) else None
    return qc if isinstance(qc, dict) else {}


def shot_gate(shot_dir: Path, sheet: Path, force: bool, scale_source: str, ignore: Path | None, contact_frames: int,
              log: Callable[[str], None], auto_masks: bool = True, moving: Mapping[int, Any] | None = None,
              rendered: bool = True, before: ShotQC | None = None) -> dict[str, Any]:
    """Measure and judge the rendered shot; refuse (UsageError, exit 2) with its reasons and
    a contact sheet of plate and render, unless ``force``. ``ignore``: a folder of masks
    (occluders, removed objects) that are no ground to measure the lock on; with
    ``auto_masks`` what moves on its own in the plate (people walking over the product's
    spot) is added to them (see lock_masks); ``moving``: those masks when the caller made
    them already (the run shares them with the automatic holdout). ``rendered`` False: the
    shot is set up and not rendered yet (``lock_gate``); ``before``: the ShotQC ``lock_gate``
    returned, whose lock and geometry checks stand (no masks are made again)."""
    import dataclasses

    from ml.camera.footage import match_masks
    from ml.camera.shotqc import check_shot, mark_forced, summary
    from shotcache.layout import ShotPaths

    from .contact_sheet import make_contact_sheet

    masks = None
    if before is None:
        frames = ShotPaths(shot_dir).load_shot().frames  # what the lock and the vertical lines must not take for ground
        user = match_masks(ignore, {f: Path() for f in frames}) if ignore is not None else None
        masks = lock_masks(shot_dir, frames, user, log, moving) if auto_masks else user
    verdict = check_shot(shot_dir, masks=masks, scale_source=scale_source, rendered=rendered, before=before)
    when = "QC" if rendered else "QC before the render:"
    log(f"[vanelia] run: {when} {summary(verdict)}")
    for name, check in verdict.checks.items():
        state = "ok" if check["ok"] else ("FAILED" if check["ok"] is False else "n/a")
        log(f"[vanelia] run: {when} {name}: {state} - {check['detail']}")
    if verdict.verdict == "refused":
        made = make_contact_sheet(shot_dir, None, sheet, n=contact_frames)
        what = "; ".join(verdict.reasons)
        never = rendered and verdict.checks["product_rendered"].get("frames_with_product", 0) == 0
        if not force or never:
            raise UsageError(f"refused by the QC{'' if rendered else ' before the render (nothing was rendered)'}: {what}. "
                             f"Contact sheet: {made}. "
                             + ("The product would be missing from the video, so --force cannot override this."
                                if force else "Fix the camera or placement (another --tracker, --focal-mm, --place, "
                                              "--camera-height) or give --force to composite anyway"))
        if rendered:
            mark_forced(shot_dir)
        log(f"[vanelia] run: WARNING: the QC refused this shot ({what}); going on because of --force")
    return dataclasses.asdict(verdict)


def lock_gate(shot_dir: Path, sheet: Path, force: bool, scale_source: str, ignore: Path | None, contact_frames: int,
              log: Callable[[str], None], auto_masks: bool = True, moving: Mapping[int, Any] | None = None) -> ShotQC:
    """The shot's QC on a shot set up but not rendered: the lock of the product's contact
    point on the plate's ground, which the solved cameras and the plate frames alone decide,
    and the geometry checks; a sliding camera is refused before the render (tea-table: 20
    minutes of render for a refusal it could have had in one). Returns the verdict (a
    ShotQC), for the QC after the render (``shot_gate(before=)``)."""
    return ShotQC(**shot_gate(shot_dir, sheet, force, scale_source, ignore, contact_frames, log, auto_masks, moving,
                              rendered=False))


def lock_masks(shot_dir: Path, frames: list[int], user: Mapping[int, Path] | None,
               log: Callable[[str], None], moving: Mapping[int, Any] | None = None) -> dict[int, Any] | None:
    """What the lock must not take for ground: the user's masks united with the automatic
    moving-object masks of the shot's plate frames (ml.camera.motion), as uint8 arrays
    (255 = ignore) at the plate's size. A person crossing the product's spot moves unlike
    the ground; the lock's own RANSAC would drop most of their corners, but a crowd or a
    slow walker can outvote the ground around the spot."""
    import cv2
    import numpy as np

    from ml.camera.motion import mask_stats
    from shotcache.layout import ShotPaths

    from .stages import plate_motion

    auto = dict(moving) if moving is not None else plate_motion(ShotPaths(shot_dir), frames, lambda _m: None)
    if not auto:
        return dict(user) if user else None
    stats = mask_stats(auto)
    log(f"[vanelia] run: QC lock: moving objects masked on {stats['frames']}/{len(auto)} plate frames "
        f"(mean {stats['mean_area']:.1%} of the frame)")
    out: dict[int, Any] = {}
    for f, m in auto.items():
        mine = cv2.imread(str(user[f]), cv2.IMREAD_GRAYSCALE) if user and f in user else None
        if mine is not None:
            m = m | (cv2.resize(mine, (m.shape[1], m.shape[0]), interpolation=cv2.INTER_NEAREST) > 127)
        out[f] = m.astype(np.uint8) * 255
    return out


def check_qc(camera: Path, qc: dict[str, Any], force: bool, log: Callable[[str], None]) -> None:
    """Refuse a track its QC calls unusable (a composite can't hide that), unless ``force``."""
    if not qc or qc.get("usable", True) is not False:
        return
    bad = list(qc.get("unreliable_frames") or [])
    frames = ", ".join(map(str, bad[:10])) + (f" ... ({len(bad)} in all)" if len(bad) > 10 else "")
    what = (f"the camera track {camera} is not usable: {qc.get('reason') or 'its QC says so'}; "
            f"unreliable frames: {frames or 'none listed'}")
    if not force:
        raise UsageError(f"{what}. Re-shoot or re-track (another --tracker, a known --focal-mm, a shorter --frames range), "
                         "or give --force to use it anyway")
    log(f"[vanelia] run: WARNING: {what}; going on because of --force")


def known_ground(camera: Path, render_extra: list[str]) -> tuple[list[float], list[float]] | None:
    """The ground the render will stand the product on, when it is known before the render: a
    ``--ground=p,n`` render option, else the ground `vanelia track` levelled the world on. None
    otherwise (the Blender side then fits it from the track's points or cameras)."""
    from shotcache.ground import parse_ground_option

    for arg in reversed(render_extra):
        if arg.startswith("--ground="):
            try:
                return parse_ground_option(arg.split("=", 1)[1])
            except ValueError:
                return None  # the render step refuses it, before any render
    ground = read_qc(camera).get("ground")
    if isinstance(ground, dict) and "normal" in ground:
        return [float(v) for v in ground.get("point", [0.0, 0.0, 0.0])], [float(v) for v in ground["normal"]]
    return None


def _solved_ground(camera: Path, ground: tuple[list[float], list[float]]) -> tuple[Any, Any] | None:
    """The track's own ground when the product's ``ground`` is parallel to it (the contact check
    moved the plane to a step at the spot: night-street's duck stands on a pavement 0.2 m above
    the road): the near view is judged against the solve's ground, not the step's, whose road
    lies under it. None (judge against ``ground``) otherwise."""
    import math

    import numpy as np

    track = known_ground(camera, [])
    if track is None:
        return None
    n_track, n_given = np.asarray(track[1], np.float64), np.asarray(ground[1], np.float64)
    cos = float(n_track @ n_given) / max(float(np.linalg.norm(n_track) * np.linalg.norm(n_given)), 1e-12)
    return (np.asarray(track[0], np.float64), n_track) if cos > math.cos(math.radians(1.0)) else None


def placement_gate(plate: Path, camera: Path, matrix: list[list[float]] | None, render_extra: list[str],
                   force: bool, log: Callable[[str], None], masks: Path | None = None) -> dict[str, Any] | None:
    """Judge the placement before the render (ml.camera.shotqc.geometry_checks: the cameras
    above the ground, the ground below the horizon, "up" along the plate's vertical lines,
    the product upright and within reach), and refuse it as the shot's QC would (UsageError,
    exit 2) unless ``force``: a tilted ground found after a 20-minute render costs the render.
    None when the camera, the ground or the placement is not known before the render (the
    shot's QC after it still judges everything)."""
    import tempfile

    import numpy as np

    from ml.camera.footage import FootageError, extract_frames, match_masks
    from ml.camera.plausibility import UP_FRAMES
    from ml.camera.shotqc import geometry_checks
    from ml.camera.solve import read_solve

    path = transforms_file(camera)
    ground = known_ground(camera, render_extra) if path is not None and matrix is not None else None
    if path is None or matrix is None or ground is None:
        return None
    solve = read_solve(path)
    frames = sorted(solve.cameras)
    picks = {frames[i] for i in np.linspace(0, len(frames) - 1, min(UP_FRAMES, len(frames))).round().astype(int)}  # the frames plate_up reads
    with tempfile.TemporaryDirectory(prefix="vanelia-gate-") as tmp:
        try:
            plates: dict[int, Any] = extract_frames(plate, Path(tmp), only=picks)
        except FootageError:
            plates = {}
        user = ({f: m for f, m in match_masks(masks, {f: Path() for f in frames}).items() if f in plates}
                if masks is not None and plates else None)  # paired over the whole solve, as the shot's QC pairs them
        checks = geometry_checks(solve, np.asarray(ground[0]), np.asarray(ground[1]), np.asarray(matrix), plates, user,
                                 view_ground=_solved_ground(camera, ground))
    failed = [c["detail"] for c in checks.values() if c["ok"] is False]
    for name, check in checks.items():
        state = "ok" if check["ok"] else ("FAILED" if check["ok"] is False else "n/a")
        log(f"[vanelia] run: placement check {name}: {state} - {check['detail']}")
    if failed and not force:
        raise UsageError(f"refused before the render: {'; '.join(failed)}. Nothing was rendered. Fix the camera or placement "
                         "(another --tracker, --focal-mm, --place, --camera-height, --ground) or give --force to render anyway")
    if failed:
        log(f"[vanelia] run: WARNING: the placement checks failed ({'; '.join(failed)}); rendering anyway because of --force")
    return checks
