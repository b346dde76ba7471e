"""`vanelia farm`: the stage half of a render-farm job, one command per farm task.

Render farms (Flamenco, AWS Deadline / OpenJD) run a shot as tasks with dependencies:

    set-up   vanelia_batch.py render ... --setup-only        (a Blender worker)
    render   vanelia_batch.py render-shot --frames A:B        (Blender workers, one task per chunk)
    prepare  vanelia farm prepare --shot S --job JOB          (allocates the output version once)
    stages   vanelia farm stages --shot S --job JOB --frames A:B   (GPU workers, one per chunk)
    finish   vanelia farm finish --shot S --job JOB [--output final.mp4]

``stages`` feeds its chunk the context frames its engines need (``farm.chunks``: same
overlap and block alignment as on Ray, so the frames equal a single-machine run), writes
the chunk's frames into the version (temp + rename) and its record into
``vNNN/farm/``; ``finish`` merges those records into ``params.json`` (which host made each
frame) and fails, naming them, when frames are missing. Tasks that run again (a farm retry)
skip the frames already written. JOB is the job spec (``shotcache.schema.JobSpec``) as JSON,
inline or ``@file``.
"""
from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path
from typing import Any

from shotcache import params as version_params
from shotcache.errors import InputError, UsageError
from shotcache.layout import ShotPaths, atomic_write_json
from shotcache.schema import JobSpec

RECORDS = "farm"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("farm", help="render-farm tasks: prepare / stages for a frame chunk / finish",
                       description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(func=_run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=("prepare", "stages", "finish"))
    p.add_argument("--shot", required=True, type=Path, help="shot folder (shared storage)")
    p.add_argument("--job", required=True, help="job spec as JSON, or @FILE: stages, engines, params, seed ...")
    p.add_argument("--frames", default=None, help="stages: the chunk's frames, 'A:B' or 'A-B' (inclusive)")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--output", type=Path, default=None, help="finish: also encode this .mp4")


def load_job(text: str, shot: Path) -> JobSpec:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--job {text}: cannot read it ({exc})") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--job: not JSON ({exc}); give the job spec, e.g. '{{\"stages\": [\"composite\"]}}'") from exc
    if not isinstance(data, dict):
        raise UsageError("--job: expected a JSON object")
    data = dict(data, shot=str(shot.resolve()))
    data.setdefault("frames", None)
    return JobSpec.from_dict(data)


def parse_range(text: str, shot_frames: list[int]) -> list[int]:
    """'A:B' / 'A-B' / 'A', comma-separated (a farm's chunk notation) -> the shot's frames in them."""
    picked: set[int] = set()
    try:
        for part in filter(None, text.replace(" ", "").split(",")):
            a, _, b = part.replace(":", "-").partition("-")
            lo, hi = int(a), int(b or a)
            picked.update(f for f in shot_frames if lo <= f <= hi)
    except ValueError:
        raise UsageError(f"--frames {text!r}: expected A:B ranges, comma-separated, e.g. 1:8") from None
    frames = [f for f in shot_frames if f in picked]
    if not frames:
        raise UsageError(f"--frames {text}: no frame of the shot is in it (shot frames {shot_frames[0]}..{shot_frames[-1]})")
    return frames


def prepare(spec: JobSpec, shot: Path) -> str:
    """The job's output version; refused while frames the stages read are not rendered."""
    from ml.pipeline.runner import PipelineRunner

    paths = ShotPaths(shot)
    doc = paths.load_shot()
    if any(s in spec.stages for s in ("relight", "composite", "diffuse")):
        frames = list(spec.frames) if spec.frames else list(doc.frames)
        missing = [f for f in frames if not paths.render_frame(f).is_file()]
        if missing:
            raise InputError(f"{shot}: frames {missing[:20]} are not rendered yet; run (or wait for) the render tasks first")
    return PipelineRunner().prepare(spec, shot)


def find_version(spec: JobSpec, shot: Path) -> str:
    """The version ``prepare`` made for this job (never a new one: tasks run in parallel)."""
    from ml.pipeline.runner import PipelineRunner

    key = PipelineRunner().job_key(spec, shot)
    paths = ShotPaths(shot)
    for v in reversed(paths.versions()):
        if version_params.read(paths.version_dir(v)).job_key == key:
            return v
    raise UsageError(f"{shot}: no output version for this job; run `vanelia farm prepare` for it first")


def run_chunk(spec: JobSpec, shot: Path, frames_text: str, device: str) -> dict[str, Any]:
    """One farm task: the chunk's frames not yet written, with their context frames."""
    from farm.chunks import plan_chunks
    from farm.worker import ChunkWorker, job_overlap

    paths = ShotPaths(shot)
    doc = paths.load_shot()
    order = list(spec.frames) if spec.frames else list(doc.frames)
    version = find_version(spec, shot)
    wanted = parse_range(frames_text, order)
    todo = [f for f in wanted if not paths.version_frame(version, f).is_file()]
    worker = ChunkWorker(device=device, node=socket.gethostname())
    overlap = job_overlap(worker.runner, spec, doc)
    made: dict[str, Any] = {}
    if todo:
        span = order.index(todo[-1]) + 1 - order.index(todo[0]) // overlap.align * overlap.align
        size = -(-span // overlap.align) * overlap.align
        for c in plan_chunks(order, todo, size, overlap):
            for item in worker.run_chunk(spec.to_dict(), c.keep, c.feed, shot_dir=str(shot), version=version):
                entry = {"skipped": item["skipped"]} if "skipped" in item else dict(item.get("meta") or {})
                made[str(item["frame"])] = dict(entry, node=item["node"])
                if item.get("engines"):
                    made.setdefault("_engines", item["engines"])
    rec = {"frames": {k: v for k, v in made.items() if not k.startswith("_")}, "engines": made.get("_engines", {}),
           "already_done": [f for f in wanted if f not in todo]}
    atomic_write_json(paths.version_dir(version) / RECORDS / f"chunk-{wanted[0]:06d}-{wanted[-1]:06d}.json", rec)
    return rec


def finish(spec: JobSpec, shot: Path, output: Path | None) -> tuple[str, list[int]]:
    """Merge the chunk records into params.json; the frames still missing (an error)."""
    paths = ShotPaths(shot)
    doc = paths.load_shot()
    version = find_version(spec, shot)
    vdir = paths.version_dir(version)
    record = version_params.read(vdir)
    for p in sorted((vdir / RECORDS).glob("chunk-*.json")):
        chunk = json.loads(p.read_text(encoding="utf-8"))
        for f, meta in chunk.get("frames", {}).items():
            if "skipped" in meta:
                record.skipped[f] = meta["skipped"]
            else:
                record.frames[f] = meta
        if chunk.get("engines"):
            record.engines = chunk["engines"]
    frames = list(spec.frames) if spec.frames else list(doc.frames)
    missing = [f for f in frames if not paths.version_frame(version, f).is_file()]
    record.state = "failed" if missing else "done_with_skips" if record.skipped else "done"
    version_params.write(vdir, record)
    if output is not None and not missing:
        from app.encode import encode

        encode(paths, version, frames, output, doc.fps)
    return version, missing


def _run(a: argparse.Namespace) -> int:
    spec = load_job(a.job, a.shot)
    if a.task == "prepare":
        version = prepare(spec, a.shot)
        print(f"[vanelia] farm: version {version} for {a.shot}", flush=True)
    elif a.task == "stages":
        if not a.frames:
            raise UsageError("vanelia farm stages needs --frames A:B (the chunk)")
        rec = run_chunk(spec, a.shot, a.frames, a.device)
        print(f"[vanelia] farm: made {len(rec['frames'])} frames, {len(rec['already_done'])} already done", flush=True)
    else:
        version, missing = finish(spec, a.shot, a.output)
        if missing:
            raise UsageError(f"{a.shot}/{version}: frames {missing[:20]} were not made; run their stage tasks again")
        print(f"[vanelia] farm: {version} complete" + (f", wrote {a.output}" if a.output else ""), flush=True)
    return 0
