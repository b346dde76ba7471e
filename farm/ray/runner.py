"""The pipeline on a Ray cluster, behind the PipelineRunner API the sidecar and the CLI use.

``RayPipelineRunner`` has ``prepare`` / ``run`` / ``loaded_engines`` like
``ml.pipeline.runner.PipelineRunner`` (which does the version bookkeeping here, and the
per-chunk work on every actor), so the sidecar's durable queue drives it unchanged
(``vanelia serve --ray ADDRESS``) and ``vanelia run --ray ADDRESS`` swaps it in.

What it adds: frame chunks (with the overlap the job's engines need, ``farm.chunks``)
spread over stage actors, one per GPU or CPU worker, which live as long as this runner, so
each sets its engines up once; frames written to the shot folder when every node sees it
(shared storage), else brought back through the object store and written here; per frame,
the node that made it (``params.json`` ``frames[N].node``); a dead worker's frames planned
again elsewhere (``farm.ray.dispatch``). ``render_shot`` renders a shot's frames as Blender
tasks the same way.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any, Callable, ClassVar

from farm.chunks import Chunk, chunk_size, plan_chunks
from farm.ray import cluster
from farm.worker import job_overlap, pack, write_returned_frame
from ml.pipeline.runner import OnFrame, PipelineRunner, RunResult, ShouldCancel
from shotcache import params as version_params
from shotcache.errors import Cancelled
from shotcache.layout import SHOT_FILE, ShotPaths, atomic_write_bytes
from shotcache.params import VersionRecord
from shotcache.schema import PROTOCOL_VERSION, JobSpec, SchemaError

log = logging.getLogger("vanelia.farm")

FLUSH_S = 1.0
ACTOR_START_S = 180
RENDER_CHUNK_MIN = 8
"""Frames per render task at least: each task starts Blender (seconds) before its first frame."""


def _probe_shared(shot_dir: Path) -> tuple[bool, dict[str, bool]]:
    """Does every live node see ``shot_dir``? One probe task pinned to each node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from farm.ray.remote import PROBE_PREFIX, probe

    token = secrets.token_hex(8)
    marker = shot_dir / f"{PROBE_PREFIX}{token}"
    marker.write_text(token)
    try:
        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote(str(shot_dir), token) for n in nodes]
        seen = dict(ray.get(refs, timeout=120))
    finally:
        marker.unlink(missing_ok=True)
    return all(seen.values()), seen


class RayPipelineRunner:
    default_address: ClassVar[str] = "local"
    """Set by ``vanelia serve --ray ADDRESS`` (``configure``) before the queue builds runners."""

    def __init__(self, device: str = "cpu", checkpoints: dict[str, str] | None = None, *, address: str | None = None,
                 workers: int | None = None, shared: bool | None = None, chunk_frames: int | None = None,
                 on_made: Callable[[int, str], None] | None = None):
        self.local = PipelineRunner(device=device, checkpoints=checkpoints)
        self.checkpoints = dict(checkpoints or {})
        self.address = cluster.check_address(address or type(self).default_address)
        self.workers = workers
        self.shared = shared
        """None: probe the nodes; False: always through the object store (tests, benchmarks)."""
        self.chunk_frames = chunk_frames
        """Frames kept per chunk (default: about three chunks per worker, see farm.chunks)."""
        self.on_made = on_made
        """Called with (frame, node) as each frame comes back (tests, benchmarks)."""
        self._actors: list[Any] = []
        self.last: dict[str, Any] = {}
        """What the last run did on the farm (workers, chunks, lost chunks, timings)."""

    @classmethod
    def configure(cls, address: str) -> None:
        """Refuse a malformed address or one where nothing answers (the sidecar's start)."""
        cls.default_address = cluster.check_address(address)
        cluster.check_reachable(cls.default_address)

    # ---- the PipelineRunner API ------------------------------------------------
    def prepare(self, spec: JobSpec, shot_dir: Path, *, reuse: bool = True) -> str:
        return self.local.prepare(spec, shot_dir, reuse=reuse)

    def job_key(self, spec: JobSpec, shot_dir: Path) -> str:
        return self.local.job_key(spec, shot_dir)

    def loaded_engines(self) -> list[dict[str, Any]]:
        return self.local.loaded_engines()

    def run(self, spec: JobSpec, shot_dir: Path, *, version: str, on_frame: OnFrame | None = None,
            should_cancel: ShouldCancel | None = None) -> RunResult:
        spec.validate()
        shot_dir = Path(shot_dir).resolve()
        paths = ShotPaths(shot_dir)
        shot = paths.load_shot()
        frames = list(spec.frames) if spec.frames is not None else list(shot.frames)
        unknown = [f for f in frames if f not in set(shot.frames)]
        if unknown:
            raise SchemaError(f"frames {unknown[:10]} are not in shot {paths.root}")
        resources = cluster.connect(self.address)
        shared = self._shared(shot_dir)
        actors = self._pool(resources)
        overlap = job_overlap(self.local, spec, shot)
        done_before = [f for f in frames if paths.version_frame(version, f).is_file()]
        todo = [f for f in frames if f not in set(done_before)]
        size = chunk_size(len(frames), len(actors), overlap)
        if self.chunk_frames:
            size = max(overlap.align, -(-self.chunk_frames // overlap.align) * overlap.align)
        chunks = plan_chunks(frames, todo, size, overlap)
        record = self._record(spec, paths, version, shot.name)
        farm: dict[str, Any] = {"address": self.address, "workers": len(actors), "chunk_size": size, "shared_storage": shared,
                                "overlap": {"before": overlap.before, "after": overlap.after, "align": overlap.align, "exact": overlap.exact}}
        record.extra["farm"] = farm
        result = RunResult(version, sorted(done_before), {}, {})
        total, state = len(frames), {"done": len(done_before), "n": len(chunks)}
        clock = {"flushed": time.monotonic(), "driver_s": 0.0}
        for f in done_before:
            record.frames.setdefault(str(f), {"resumed": True})
            if on_frame:
                on_frame(f, state["done"], total)
        vdir = paths.version_dir(version)
        _write(vdir, record, "running")
        body = spec.to_dict()

        def sink(item: dict[str, Any]) -> None:
            t_in = time.perf_counter()
            f = int(item["frame"])
            if item.get("engines") and not record.engines:
                record.engines, record.params = item["engines"], item.get("params", {})
                result.engines.update(record.engines_used())
            if "skipped" in item:
                result.skipped[f] = record.skipped[str(f)] = str(item["skipped"])
            else:
                write_returned_frame(shot_dir, version, item)
                record.frames[str(f)] = dict(item.get("meta") or {}, node=item["node"])
                record.skipped.pop(str(f), None)
                result.frames_done.append(f)
                result.computed.append(f)
                if self.on_made:
                    self.on_made(f, item["node"])
            state["done"] += 1
            if on_frame:
                on_frame(f, state["done"], total)
            if time.monotonic() - clock["flushed"] > FLUSH_S:
                _write(vdir, record, "running")
                clock["flushed"] = time.monotonic()
            clock["driver_s"] += time.perf_counter() - t_in

        def replan(left: list[int], attempt: int) -> list[Chunk]:
            out = plan_chunks(frames, left, size, overlap, first_index=state["n"], attempt=attempt)
            state["n"] += len(out)
            return out

        def launcher(actor: Any) -> Callable[[Chunk], Any]:
            def launch(c: Chunk) -> Any:
                packed = None if shared else pack(shot_dir, c.feed)
                return actor.run_chunk.options(num_returns="streaming").remote(body, c.keep, c.feed, str(shot_dir), version, packed)
            return launch

        from farm.ray.dispatch import Dispatch, Slot

        slots = [Slot(f"stage-{i}", launcher(a), restart=self._restarter(resources, launcher, i)) for i, a in enumerate(actors)]
        disp = Dispatch(chunks, replan, sink, should_cancel)
        t0 = time.perf_counter()
        try:
            disp.run(slots)
        finally:
            if disp.lost:
                self._drop_dead()
            result.frames_done.sort()
            result.cancelled = disp.cancelled
            farm.update(chunks=state["n"], lost=disp.lost, wall_s=round(time.perf_counter() - t0, 3),
                        driver_s=round(clock["driver_s"], 4), computed=len(result.computed))
            final = "failed" if disp.error else "cancelled" if disp.cancelled else "done" if not result.skipped else "done_with_skips"
            _write(vdir, record, final)
            self.last = farm
        return result

    # ---- workers ---------------------------------------------------------------
    def _shared(self, shot_dir: Path) -> bool:
        if self.shared is not None:
            return self.shared
        shared, seen = _probe_shared(shot_dir)
        if not shared:
            log.info("farm: nodes %s do not see %s; frames travel through the object store", [n for n, s in seen.items() if not s], shot_dir)
        return shared

    def _pool(self, resources: dict[str, Any]) -> list[Any]:
        """Stage actors, made once and kept; dead ones are dropped and the pool topped up.
        An actor that does not start within ``ACTOR_START_S`` (no room left) is dropped too."""
        import ray

        from farm.ray.remote import StageActor as _Actor

        actor_cls: Any = _Actor
        want, opts, device = cluster.stage_slots(resources, self.workers)
        while len(self._actors) < want:
            self._actors.append(actor_cls.options(**opts).remote(device, self.checkpoints or None))
        pings = [(a, a.node.remote()) for a in self._actors]
        ready, _ = ray.wait([r for _, r in pings], num_returns=len(pings), timeout=ACTOR_START_S)
        ok = []
        for a, r in pings:
            try:
                ray.get(r, timeout=0 if r not in ready else 10)
                ok.append(a)
            except Exception:  # noqa: BLE001 - could not start (no room, crashed): dropped
                ray.kill(a)
        if not ok:
            raise cluster.ClusterError(f"no stage worker could start on the Ray cluster at {self.address} within {ACTOR_START_S} s")
        self._actors = ok
        return ok

    def _restarter(self, resources: dict[str, Any], launcher: Callable[[Any], Any], i: int) -> Callable[[], Any]:
        def restart() -> Any:
            from farm.ray.dispatch import Slot
            from farm.ray.remote import StageActor as _Actor

            actor_cls: Any = _Actor
            _, opts, device = cluster.stage_slots(resources, 1)
            actor = actor_cls.options(**opts).remote(device, self.checkpoints or None)
            self._actors.append(actor)
            return Slot(f"stage-{i}-restarted", launcher(actor), restart=None)
        return restart

    def _drop_dead(self) -> None:
        import ray

        alive = []
        for a in self._actors:
            try:
                ray.get(a.node.remote(), timeout=30)
                alive.append(a)
            except Exception:  # noqa: BLE001 - died with its node
                pass
        self._actors = alive

    # ---- params.json -------------------------------------------------------------
    def _record(self, spec: JobSpec, paths: ShotPaths, version: str, shot_name: str) -> VersionRecord:
        old = version_params.read(paths.version_dir(version))
        return VersionRecord(
            protocol=PROTOCOL_VERSION, version=version, job_key=self.local.job_key(spec, paths.root), job=spec.to_dict(),
            shot_name=shot_name, device=self.local.device, frames=dict(old.frames), skipped=dict(old.skipped),
            started=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )


def _write(vdir: Path, record: VersionRecord, state: str) -> None:
    record.state = state
    version_params.write(vdir, record)


def render_shot(address: str, shot_dir: Path, *, blender: str | None = None, workers: int | None = None,
                shared: bool | None = None, frames: list[int] | None = None, chunk_frames: int | None = None,
                on_frame: Callable[[int, str], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Render a set-up shot's frames (``render --setup-only`` done) as Blender tasks on the cluster.

    Frames whose inputs did not change are skipped by the batch step itself; the driver is
    the only writer of shot.json (the frame hashes the render nodes report). Returns which
    node rendered which frame, and what was lost and redone. ``should_stop`` (a cancelled
    job): no chunk starts once it is true, the frames already back are kept, and Cancelled is
    raised."""
    from farm.chunks import Overlap
    from farm.ray.dispatch import Dispatch, Slot
    from farm.ray.remote import render_chunk, render_inputs

    shot_dir = Path(shot_dir).resolve()
    paths = ShotPaths(shot_dir)
    shot = paths.load_shot()
    frames = list(frames or shot.frames)
    resources = cluster.connect(address)
    lanes = cluster.render_slots(resources, workers)
    shared = _probe_shared(shot_dir)[0] if shared is None else shared
    size = chunk_frames or chunk_size(len(frames), lanes, Overlap(), per_worker=2, minimum=RENDER_CHUNK_MIN)
    chunks = plan_chunks(frames, frames, size, Overlap())
    hashes: dict[int, str] = {}
    nodes: dict[int, str] = {}
    state = {"n": len(chunks)}
    clock = {"flushed": time.monotonic()}

    def save_hashes() -> None:
        doc = paths.load_shot()
        doc.render.frame_hashes.update(hashes)
        paths.save_shot(doc)

    def sink(item: dict[str, Any]) -> None:
        f = int(item["frame"])
        if item.get("exr") is not None:
            atomic_write_bytes(paths.render_frame(f), item["exr"])
        if item.get("hash"):
            hashes[f] = item["hash"]
        nodes[f] = item["node"]
        if on_frame:
            on_frame(f, item["node"])
        if time.monotonic() - clock["flushed"] > FLUSH_S:
            save_hashes()
            clock["flushed"] = time.monotonic()

    def replan(left: list[int], attempt: int) -> list[Chunk]:
        out = plan_chunks(frames, left, size, Overlap(), first_index=state["n"], attempt=attempt)
        state["n"] += len(out)
        return out

    def launch(c: Chunk) -> Any:
        packed = None
        if not shared:
            existing = [f for f in c.keep if paths.render_frame(f).is_file()]
            packed = {SHOT_FILE: paths.shot_json.read_bytes(), "product.glb": Path(shot.product.source).read_bytes(),
                      "existing.json": json.dumps(existing).encode()}
            packed.update({str(p.relative_to(paths.root)): p.read_bytes() for p in render_inputs(paths, c.keep)})
        return render_chunk.options(num_returns="streaming").remote(str(shot_dir), c.keep, packed, blender)

    disp = Dispatch(chunks, replan, sink, should_stop)
    t0 = time.perf_counter()
    try:
        disp.run([Slot(f"render-{i}", launch, dies_with_work=False) for i in range(lanes)])
    finally:
        if hashes:
            save_hashes()
    if disp.cancelled:
        raise Cancelled(f"the render of {shot_dir} on the cluster was stopped with {len(nodes)} of {len(frames)} frame(s) "
                        "back: the job was cancelled")
    return {"rendered": sorted(nodes), "nodes": {str(k): v for k, v in sorted(nodes.items())}, "lanes": lanes,
            "chunks": state["n"], "lost": disp.lost, "wall_s": round(time.perf_counter() - t0, 3), "shared_storage": shared}
