"""One chunk of a job on one worker: the stage engines of ``ml.pipeline.runner`` over a chunk.

Why a scratch shot: ``PipelineRunner`` runs a job over a shot folder and owns everything a
frame needs (engine set-up and fallback, per-frame record of which engine ran, the stage
cache, the whole-sequence pass of bidirectional engines). A chunk is run as a job of its own
over a node-local scratch shot that holds only the chunk's frames -- links to the shared shot
folder when the node sees it, or files unpacked from the object store when it does not --
so the runner is reused as it is, and context frames (the overlap) never leave the scratch
folder (nor its stage cache: their context-starved first-stage outputs must not be reused).

The scratch copy of shot.json is byte-identical, so the runner's per-frame keys are those
of the real shot. Kept frames are copied into the real version (temp + rename) when the
node sees the shot folder, else returned as PNG bytes. Plain Python: the Ray actor in
``farm/ray/actors.py`` wraps it; tests run it without Ray.
"""
from __future__ import annotations

import functools
import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from ml.pipeline.runner import PipelineRunner
from shotcache.layout import SHOT_FILE, ShotPaths, atomic_write, atomic_write_bytes
from shotcache.params import VersionRecord
from shotcache.schema import JobSpec

from .chunks import Overlap

FRAME_DELAY_ENV = "VANELIA_FARM_FRAME_DELAY"
"""Seconds a worker pauses after each frame: only for tests that must kill a worker mid-chunk."""

Packed = dict[str, bytes]
"""Shot files by path relative to the shot folder (shot.json, plate/…, render/…, masks/…)."""


def frame_files(paths: ShotPaths, frames: list[int] | tuple[int, ...]) -> list[Path]:
    """The input files a chunk's frames need (those that exist): shot.json first, the shot-wide
    files the stages read (``shot_wide_files``), then each frame's plate, render, mask and
    holdout matte. A file left out here is silently missing on the farm: the chunk's frames
    then differ from a run on one machine (the product unoccluded, unshaded)."""
    out = [paths.shot_json, *shot_wide_files(paths)]
    for f in frames:
        out += [p for p in (paths.plate_frame(f), paths.render_frame(f), paths.mask_frame(f), paths.holdout_frame(f)) if p.is_file()]
    return out


def shot_wide_files(paths: ShotPaths) -> list[Path]:
    """Files of the whole shot the stages read besides shot.json: the plate's shadow map that
    shades the product (lighting.key_shadow)."""
    rec = paths.load_shot().lighting.key_shadow if paths.shot_json.is_file() else {}
    path = paths.root / rec["path"] if rec and rec.get("path") else None
    return [path] if path is not None and path.is_file() else []


def pack(shot_dir: Path, frames: list[int] | tuple[int, ...]) -> Packed:
    """A chunk's inputs as bytes, for workers that cannot see the shot folder."""
    root = Path(shot_dir)
    return {str(p.relative_to(root)): p.read_bytes() for p in frame_files(ShotPaths(root), frames)}


def build_scratch(scratch: Path, shot_dir: Path | None, frames: tuple[int, ...], packed: Packed | None) -> ShotPaths:
    """A shot folder holding only ``frames``: links into ``shot_dir``, or ``packed`` written out."""
    if packed is not None:
        for rel, data in packed.items():
            target = scratch / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return ShotPaths(scratch)
    assert shot_dir is not None
    src = ShotPaths(shot_dir)
    shutil.copyfile(src.shot_json, scratch / SHOT_FILE)
    for p in frame_files(src, frames)[1:]:
        link = scratch / p.relative_to(src.root)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(p, link)
    return ShotPaths(scratch)


def streamed(work: Callable[[Callable[[Any], None]], Any]) -> Iterator[Any]:
    """Run ``work(emit)`` on a thread and yield what it emits, as it emits it.

    Why: the runner and the Blender batch step report progress through callbacks, while a
    Ray generator task must ``yield`` each finished frame to the driver as soon as it exists
    (a worker killed later then loses nothing already yielded). Exceptions of ``work`` are
    raised here, after everything emitted before them."""
    q: queue.Queue = queue.Queue()
    done = object()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work(q.put)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            failure.append(exc)
        finally:
            q.put(done)

    t = threading.Thread(target=run, name="vanelia-farm-work", daemon=True)
    t.start()
    while (item := q.get()) is not done:
        yield item
    t.join()
    if failure:
        raise failure[0]


class _RecordingRunner(PipelineRunner):
    """PipelineRunner that keeps a handle on the record it writes to params.json, so each
    frame's entry (engines that ran, notes, skip reason) can travel with the frame."""

    record = VersionRecord()

    def _write_record(self, vdir: Path, record: VersionRecord, state: str) -> None:  # type: ignore[override]
        self.record = record
        PipelineRunner._write_record(vdir, record, state)


class ChunkWorker:
    """Owns one PipelineRunner (engines set up once, reused for every chunk it is given)."""

    def __init__(self, device: str = "cpu", checkpoints: dict[str, str] | None = None, node: str = "local"):
        self.runner = _RecordingRunner(device=device, checkpoints=checkpoints)
        self.node = node

    def run_chunk(self, spec: dict[str, Any], keep: tuple[int, ...], feed: tuple[int, ...], *,
                  shot_dir: str | None, version: str | None, packed: Packed | None = None) -> Iterator[dict[str, Any]]:
        """Yield one item per kept frame, in order, as soon as it is finished:
        ``{"frame", "node", "meta"}`` plus ``"png"`` (bytes) when the frame is not written
        into ``shot_dir``/``version`` here (packed inputs: no shared folder), or ``"skipped"``."""
        shared = packed is None
        with tempfile.TemporaryDirectory(prefix="vanelia-chunk-") as tmp:
            scratch = build_scratch(Path(tmp), Path(shot_dir) if shot_dir else None, feed, packed)
            job = JobSpec.from_dict(dict(spec, shot=str(scratch.root), frames=list(feed)))
            sversion = self.runner.prepare(job, scratch.root, reuse=False)
            wanted = set(keep)

            delay = float(os.environ.get(FRAME_DELAY_ENV, "0") or 0)

            def work(emit: Callable[[Any], None]) -> None:
                def on_frame(frame: int, done: int, total: int) -> None:
                    if frame in wanted:
                        emit(frame)
                        if delay:
                            time.sleep(delay)

                self.runner.run(job, scratch.root, version=sversion, on_frame=on_frame)

            engines_sent = False
            for frame in streamed(work):
                rec = self.runner.record
                item: dict[str, Any] = {"frame": frame, "node": self.node}
                if not engines_sent:
                    item["engines"] = rec.engines
                    item["params"] = rec.params
                    engines_sent = True
                out = scratch.version_frame(sversion, frame)
                if str(frame) in rec.skipped or not out.is_file():
                    item["skipped"] = rec.skipped.get(str(frame), "no output")
                else:
                    item["meta"] = rec.frames.get(str(frame), {})
                    if shared and version:
                        target = ShotPaths(shot_dir).version_frame(version, frame)  # type: ignore[arg-type]
                        atomic_write(target, functools.partial(shutil.copyfile, out))
                    else:
                        item["png"] = out.read_bytes()
                yield item


def write_returned_frame(shot_dir: Path, version: str, item: dict[str, Any]) -> None:
    """The driver's half of the object-store path: a returned frame lands like a local one."""
    if item.get("png") is not None:
        atomic_write_bytes(ShotPaths(shot_dir).version_frame(version, int(item["frame"])), item["png"])


def job_overlap(runner: PipelineRunner, spec: JobSpec, shot: Any) -> Overlap:
    """The overlap a job's chunks need: the widest of its engines' (requested and fallback),
    with the first stage counted as sequenced when the runner will use its sequence pass."""
    from ml.pipeline.runner import stage_params
    from ml.stages import base
    from shotcache import engines as catalogue
    from shotcache.schema import STAGES

    from .chunks import engine_overlap

    total = Overlap()
    stages = [s for s in STAGES if s in spec.stages]
    cache_on = bool(spec.params.get("cache", True)) if isinstance(spec.params, dict) else True
    for i, stage in enumerate(stages):
        name = runner.default_engine(spec, stage)
        params = stage_params(spec, shot, stage)
        classes = base.engines(stage)
        for n in {name, catalogue.fallback(stage, name)} - {None}:
            cls = classes.get((stage, n))  # type: ignore[arg-type]
            if cls is not None:
                total = total.merge(engine_overlap(cls, params, sequenced=(i == 0 and cache_on)))
    return total
