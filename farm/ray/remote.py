"""What runs on Ray workers: Blender render chunks (tasks) and stage engines (actors).

Both are generators: each finished frame is yielded to the driver as soon as it exists, so
a worker that dies mid-chunk has already handed over every frame it finished, and only the
rest of its chunk is planned again elsewhere.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import ray

from farm.ray.cluster import node_label
from farm.worker import ChunkWorker, Packed, streamed
from shotcache.layout import SHOT_FILE, ShotPaths, atomic_write

_RENDERED = re.compile(r"\(#(-?\d+)\) rendered")
PROBE_PREFIX = ".vanelia-farm-probe-"


def sees_folder(folder: str, token: str) -> bool:
    """Does this node see the driver's shot folder (shared storage)? The driver wrote a
    probe file holding ``token`` there; a same-named local folder without it does not count."""
    try:
        return (Path(folder) / f"{PROBE_PREFIX}{token}").read_text() == token
    except OSError:
        return False


@ray.remote(num_cpus=0)
def probe(folder: str, token: str) -> tuple[str, bool]:
    return node_label(), sees_folder(folder, token)


def frame_spec(frames: list[int] | tuple[int, ...]) -> str:
    """[1, 2, 3, 7] -> '1:3,7' for ``render-shot --frames``."""
    out, run = [], [frames[0], frames[0]]
    for f in list(frames[1:]) + [None]:  # type: ignore[list-item]
        if f is not None and f == run[1] + 1:
            run[1] = f
            continue
        out.append(f"{run[0]}:{run[1]}" if run[1] != run[0] else str(run[0]))
        if f is not None:
            run = [f, f]
    return ",".join(out)


def render_inputs(paths: ShotPaths, frames: list[int] | tuple[int, ...]) -> list[Path]:
    """The files a render of ``frames`` reads besides shot.json and the GLB: the plate-light
    environment map (shot-relative), and each frame's plate, which glossy and glass products
    mirror (addon/product.reflect_plate). A render without them is not the shot's render: its
    reflections fall back to the matte, and its frames differ from one machine's."""
    env = paths.load_shot().lighting.environment
    out = [paths.root / env] if env and (paths.root / env).is_file() else []
    return out + [paths.plate_frame(f) for f in frames if paths.plate_frame(f).is_file()]


def _render_scratch(scratch: Path, shot_dir: str, frames: tuple[int, ...], packed: Packed | None) -> None:
    """A shot folder for render-shot: shot.json, what the render reads (``render_inputs``), and
    the frames already rendered (links, or empty stand-ins when the folder is not shared) so
    that unchanged frames are skipped."""
    (scratch / "render").mkdir(parents=True)
    if packed is None:
        shutil.copyfile(Path(shot_dir) / SHOT_FILE, scratch / SHOT_FILE)
        main = ShotPaths(shot_dir)
        for src in render_inputs(main, frames):
            link = scratch / src.relative_to(main.root)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(src, link)
        for f in frames:
            if main.render_frame(f).is_file():
                os.symlink(main.render_frame(f), ShotPaths(scratch).render_frame(f))
        return
    doc = json.loads(packed[SHOT_FILE])
    glb = scratch / "product.glb"
    glb.write_bytes(packed["product.glb"])
    doc["product"]["source"] = str(glb)  # not part of any frame's hash
    (scratch / SHOT_FILE).write_text(json.dumps(doc))
    for rel, data in packed.items():
        if rel not in (SHOT_FILE, "product.glb", "existing.json"):  # the render's inputs
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            (scratch / rel).write_bytes(data)
    for f in json.loads(packed["existing.json"]):
        ShotPaths(scratch).render_frame(int(f)).touch()


@ray.remote(num_cpus=1, resources={"blender": 1}, max_retries=0)
def render_chunk(shot_dir: str, frames: tuple[int, ...], packed: Packed | None, blender: str | None) -> Iterator[dict[str, Any]]:
    """Render ``frames`` of a shot with the headless batch script (render-shot --frames).

    Yields ``{"frame", "hash", "node"}`` per rendered frame (+ ``"exr"`` bytes when the
    shot folder is not shared; otherwise the EXR is already in its place, temp + rename)."""
    from app.blender import run_batch

    node = node_label()
    with tempfile.TemporaryDirectory(prefix="vanelia-render-") as tmp:
        scratch = Path(tmp) / "shot"
        _render_scratch(scratch, shot_dir, frames, packed)

        def work(emit: Any) -> None:
            def on_line(line: str) -> None:
                m = _RENDERED.search(line)
                if m:
                    emit(int(m.group(1)))

            run_batch("render-shot", ["--shot", str(scratch), "--frames", frame_spec(frames)], blender=blender, on_line=on_line)

        for f in streamed(work):
            done = ShotPaths(scratch)
            item: dict[str, Any] = {"frame": f, "node": node, "hash": done.load_shot().render.frame_hashes.get(f)}
            src = done.render_frame(f)
            if packed is None:
                atomic_write(ShotPaths(shot_dir).render_frame(f), functools.partial(shutil.copyfile, src))
            else:
                item["exr"] = src.read_bytes()
            yield item


@ray.remote(max_restarts=0, max_task_retries=0)
class StageActor:
    """One engine host per GPU (or CPU worker): its PipelineRunner sets each engine up once
    and keeps it for every chunk and job it is given."""

    def __init__(self, device: str, checkpoints: dict[str, str] | None):
        self.worker = ChunkWorker(device=device, checkpoints=checkpoints, node=node_label())

    def node(self) -> str:
        return self.worker.node

    def run_chunk(self, spec: dict[str, Any], keep: tuple[int, ...], feed: tuple[int, ...], shot_dir: str,
                  version: str, packed: Packed | None) -> Iterator[dict[str, Any]]:
        yield from self.worker.run_chunk(spec, keep, feed, shot_dir=shot_dir, version=version, packed=packed)
