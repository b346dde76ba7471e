"""Stage run: the sidecar stages of a shot, in this process or on a sidecar.

In process, ``ml.pipeline.runner.PipelineRunner`` runs them (version reuse, resume, per-frame
record of the engine that ran). On a sidecar the job goes by path when the sidecar can read
the shot folder, else the shot is uploaded and the results downloaded: the one rule for that
is ``shotcache.net.needs_upload``, shared with the Blender add-on.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from shotcache.errors import Cancelled, InputError, UsageError
from shotcache.layout import ShotPaths
from shotcache.net import needs_upload
from shotcache.schema import STAGES, JobSpec

CHECKPOINT_ENV = "VANELIA_CHECKPOINTS"
OnProgress = Callable[[int, int], None]
"""``on_progress(done, total)``: frames finished so far (the CLI draws a bar from it)."""


def _quiet(done: int, total: int) -> None:
    pass


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; anything else as given."""
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def find_checkpoints(given: dict[str, str], folder: Path | None = None) -> dict[str, str]:
    """``given`` (STAGE[.ENGINE] -> path) + files in ``folder`` (or $VANELIA_CHECKPOINTS) named
    <stage>[_<engine>].safetensors; a given path that does not exist is an error."""
    found: dict[str, str] = {}
    folder = folder or (Path(os.environ[CHECKPOINT_ENV]) if os.environ.get(CHECKPOINT_ENV) else None)
    if folder and folder.is_dir():
        for p in sorted(folder.iterdir()):
            stem = p.stem if p.is_file() else p.name
            stage, _, engine = stem.partition("_")
            if stage in STAGES:
                found[f"{stage}.{engine}" if engine else stage] = str(p)
    for key, path in given.items():
        if not Path(path).exists():
            raise InputError(f"--checkpoint {key}={path}: no such file; put the checkpoint there or drop the option")
    found.update(given)
    return found


def copy_masks(mask_dir: Path, shot: ShotPaths, frames: list[int]) -> None:
    """Each frame's mask (matched by the frame number in its name: app.preflight) into the shot."""
    from ml.io.images import read_mask, write_mask

    from .preflight import match_masks

    for f, src in match_masks(mask_dir, frames).items():
        write_mask(shot.mask_frame(f), read_mask(src))


def _write_png(path: Path, img: Any) -> None:
    import cv2

    from shotcache.layout import atomic_write

    def write(tmp: Path) -> None:
        cv2.imwrite(str(tmp), img)

    atomic_write(path, write, suffix=".png")


def write_holdout(folder: Path, shot: ShotPaths, frames: list[int], size: tuple[int, int], log: Callable[[str], None]) -> None:
    """Holdout mattes into the shot (by frame number, resized to the shot), replacing old ones;
    ml.pipeline.frames cuts the product's alpha and shadow with them for every stage."""
    import shutil

    import cv2

    from ml.io.images import frame_number, list_frames

    files = list_frames(folder)
    by_num = {frame_number(p, -1): p for p in files}
    hit = [f for f in frames if f in by_num]
    if not hit:
        raise InputError(f"--holdout {folder}: no matte is named by one of the shot's frame numbers "
                         f"({frames[0]}..{frames[-1]}); name them like 000012.png")
    shutil.rmtree(shot.holdout_dir, ignore_errors=True)
    shot.holdout_dir.mkdir(parents=True)
    for f in hit:
        img = cv2.imread(str(by_num[f]), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise InputError(f"--holdout {by_num[f]}: cannot read this matte image")
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA) if (img.shape[1], img.shape[0]) != size else img
        _write_png(shot.holdout_frame(f), img)
    log(f"[vanelia] run: holdout mattes for {len(hit)}/{len(frames)} frames from {folder}")


def plate_motion(shot: ShotPaths, frames: list[int], log: Callable[[str], None]) -> dict[int, Any]:
    """What moves on its own in the shot's plate frames (ml.camera.motion), made once per run
    for both the QC's lock (not ground) and the automatic holdout (in front of the product)."""
    from ml.camera.motion import moving_masks

    plates = {f: shot.plate_frame(f) for f in frames if shot.plate_frame(f).is_file()}
    return moving_masks(plates, log=log) if len(plates) >= 2 else {}


def auto_holdout(shot: ShotPaths, frames: list[int], user_holdout_present: bool, log: Callable[[str], None],
                 moving: dict[int, Any] | None = None) -> dict[str, Any]:
    """Automatic occlusion: what moves on its own in the plate (ml.camera.motion) and stands
    in front of the product (ml.camera.occlusion: its foot on the ground vs the render's
    depth), and what the solve's points put in front of it (ml.camera.point_occlusion), hides it; its matte joins the user's (``write_holdout``) in the shot's holdout
    folder, which ml.pipeline.frames applies to the product's alpha and shadow."""
    from ml.camera.occlusion import auto_holdout as occlusion_holdout
    from ml.camera.point_occlusion import shot_points

    if moving is None:
        moving = plate_motion(shot, frames, log)
    points, why = shot_points(shot.load_shot())
    if points is None:
        log(f"[vanelia] run: no static occluders from the solve: {why}")
    return occlusion_holdout(shot.root, moving, user_holdout_present, log, points=points)


def run_stages_local(spec: JobSpec, shot_dir: Path, device: str, checkpoints: dict[str, str],
                     on_progress: OnProgress = _quiet, ray: str | None = None,
                     should_stop: Callable[[], bool] | None = None) -> tuple[str, Any]:
    """Run the job's stages here, or on a Ray cluster with ``ray`` (same runner API,
    farm/ray/runner.py); returns (version, RunResult). ``should_stop`` is the runner's
    ``should_cancel``: checked between frames; Cancelled when it stopped the stages."""
    from ml.pipeline.runner import PipelineRunner

    runner: Any = PipelineRunner(device=device, checkpoints=checkpoints)
    if ray:
        from farm.ray.runner import RayPipelineRunner

        runner = RayPipelineRunner(device=device, checkpoints=checkpoints, address=ray)
    version = runner.prepare(spec, shot_dir)
    total = len(spec.frames or ShotPaths(shot_dir).load_shot().frames)
    on_progress(0, total)
    result = runner.run(spec, shot_dir, version=version, on_frame=lambda frame, done, tot: on_progress(done, tot),
                        should_cancel=should_stop)
    if getattr(result, "cancelled", False):
        raise Cancelled(f"the stages of {shot_dir} were stopped with {len(result.frames_done)} frame(s) done: "
                        "the job was cancelled")
    return version, result


def run_stages_server(spec: JobSpec, shot_dir: Path, url: str, token: str | None,
                      on_progress: OnProgress = _quiet) -> tuple[str, dict]:
    """Submit to a sidecar (by path, or upload + download per ``needs_upload``); returns (version, job)."""
    from shotcache.client import SidecarClient

    client = SidecarClient(url, token=token)
    client.health()
    body = spec.to_dict()
    roots = client.capabilities().get("shot_roots")
    remote = needs_upload(url, shot_dir, roots if isinstance(roots, list) else None)
    body["shot"] = client.upload_shot(shot_dir) if remote else str(shot_dir.resolve())
    job_id = client.submit(body)

    def progress(job: dict) -> None:
        on_progress(int(job.get("frames_done", 0)), int(job.get("frames_total") or len(spec.frames or [])))

    job = client.wait(job_id, progress=progress)
    if job.get("state") != "done":
        raise UsageError(f"sidecar job {job_id} ended {job.get('state')}: {job.get('error') or ''}")
    paths = ShotPaths(shot_dir)
    if remote:
        version = paths.new_version()
        client.download_results(job_id, paths.version_dir(version))
    else:
        version = str(job["version"])
    return version, job
