"""Runs a job's stages over a shot, frame by frame, into an output version ``vNNN``.

Used in-process by the CLI (``vanelia run``) and by the sidecar server. What it guarantees:

* Stages run in ``STAGES`` order on one FrameState per frame; each engine writes its
  ``PRODUCES`` field. Engines are set up once per runner and reused across jobs.
* An engine that cannot be set up (EngineUnavailable: missing checkpoint, package, device)
  is replaced by its ``fallback`` / the stage's classical default only when the job allows
  fallback; which engine actually ran is recorded per frame in ``vNNN/params.json``.
* Resume: frames already present in ``vNNN/frames`` are never recomputed.
* Re-running with one changed parameter recomputes only the stages downstream of it
  (``cache.StageCache``); the same job again reuses its version (``prepare``).
* Bad frames (missing files, NaN/Inf passes, mixed sizes, engine errors) are logged skips
  with the reason; nothing already written is touched.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ml.stages import base
from ml.stages.base import EngineError, EngineUnavailable, FrameState
from shotcache import params as version_params
from shotcache.layout import ShotPaths, file_sha256, stable_hash
from shotcache.params import VersionRecord
from shotcache import engines as catalogue
from shotcache.schema import PROTOCOL_VERSION, STAGES, JobSpec, SchemaError, Shot

from .cache import StageCache, chain_key, file_stamp
from .fastio import write_png_linear
from .frames import prefetch

log = logging.getLogger("vanelia.pipeline")

OnFrame = Callable[[int, int, int], None]
ShouldCancel = Callable[[], bool]


@dataclass
class RunResult:
    version: str
    frames_done: list[int]
    skipped: dict[int, str]
    engines: dict[str, str]
    computed: list[int] = field(default_factory=list)
    """Frames computed by this call (frames_done also holds those found already finished)."""
    cancelled: bool = False


@dataclass
class _StagePlan:
    stage: str
    engine: base.Engine
    name: str
    requested: str
    params: dict[str, Any]
    checkpoint: str | None
    config_key: str
    fallback_reason: str | None = None


def stage_params(spec: JobSpec, shot: Shot | None, stage: str) -> dict[str, Any]:
    """Params an engine of ``stage`` sees: shot defaults < job globals < job per-stage, + seed.

    ``params`` may hold per-stage dicts (``{"composite": {"grain": 0.5}}``) and/or global
    keys that every stage sees (``{"strength": 0.8}``).
    """
    out: dict[str, Any] = {}
    for src in ((shot.stage_params if shot else {}) or {}, spec.params or {}):
        out.update({k: v for k, v in src.items() if k not in STAGES})
    for src in ((shot.stage_params if shot else {}) or {}, spec.params or {}):
        per = src.get(stage)
        if isinstance(per, dict):
            out.update(per)
    out.setdefault("seed", spec.seed)
    return out


class PipelineRunner:
    def __init__(self, device: str = "cpu", checkpoints: dict[str, str] | None = None):
        self.device = device
        self.checkpoints = dict(checkpoints or {})
        self._engines: dict[tuple[str, str, str | None], base.Engine] = {}
        self._failed: dict[tuple[str, str, str | None], str] = {}
        self.params_flush_s = 1.0

    # ---- engines -------------------------------------------------------------
    def loaded_engines(self) -> list[dict[str, Any]]:
        """Engines set up so far (for capabilities): describe() of each, plus failures."""
        out = [dict(e.describe(), loaded=True) for e in self._engines.values()]
        out += [{"stage": s, "name": n, "checkpoint": c, "loaded": False, "error": msg} for (s, n, c), msg in self._failed.items()]
        return out

    def checkpoint_for(self, spec: JobSpec, stage: str, name: str) -> str | None:
        """Job checkpoints override the runner's; keys 'stage.engine', 'stage:engine', engine or stage."""
        for table in (spec.checkpoints or {}, self.checkpoints):
            for key in (f"{stage}.{name}", f"{stage}:{name}", name, stage):
                if table.get(key):
                    return str(table[key])
        return None

    def engine(self, stage: str, name: str, checkpoint: str | None = None) -> base.Engine:
        """A set-up engine, cached per (stage, name, checkpoint); raises EngineUnavailable."""
        key = (stage, name, checkpoint)
        if key in self._engines:
            return self._engines[key]
        if key in self._failed:
            raise EngineUnavailable(self._failed[key])
        eng = base.create(stage, name)
        try:
            eng.setup(self.device, checkpoint)
        except EngineUnavailable as exc:
            self._failed[key] = str(exc)
            raise
        except (OSError, RuntimeError, ValueError, KeyError, ImportError) as exc:
            # a checkpoint that fails to load or has the wrong shapes: same as unavailable
            msg = f"{stage} engine '{name}' could not be set up ({type(exc).__name__}: {exc})"
            self._failed[key] = msg
            raise EngineUnavailable(msg) from exc
        self._engines[key] = eng
        return eng

    def weights_present(self, spec: JobSpec, stage: str, name: str) -> bool:
        """A learned engine's weights are here: configured for the job or this runner, or shipped."""
        cls = base.engines(stage).get((stage, name))
        shipped = getattr(cls, "default_checkpoint", None)
        return bool(self.checkpoint_for(spec, stage, name)) or (shipped is not None and Path(shipped).is_file())

    def default_engine(self, spec: JobSpec, stage: str) -> str:
        """The job's engine for a stage (shotcache.engines.default_engine, also the job key's rule)."""
        return spec.engine_for(stage, lambda st, name: self.weights_present(spec, st, name))

    def _plan(self, spec: JobSpec, shot: Shot | None) -> list[_StagePlan]:
        plans: list[_StagePlan] = []
        upstream = ""
        for stage in [s for s in STAGES if s in spec.stages]:
            requested = self.default_engine(spec, stage)
            own = (spec.params or {}).get(stage)
            if isinstance(own, dict):
                base.check_params(stage, requested, own)  # before any fallback: the keys were meant for this one
            name, reason, eng = requested, None, None
            tried: list[str] = []
            while eng is None:
                ckpt = self.checkpoint_for(spec, stage, name)
                try:
                    eng = self.engine(stage, name, ckpt)
                except EngineUnavailable as exc:
                    tried.append(name)
                    reason = f"{stage} engine '{name}' unavailable: {exc}"
                    fb = catalogue.fallback(stage, name)
                    if not spec.allow_fallback:
                        raise EngineUnavailable(f"{reason} (fallback to a classical engine is disabled for this job)") from exc
                    if fb is None or fb in tried:
                        raise EngineUnavailable(f"{reason}; no fallback engine available for stage {stage}") from exc
                    log.warning("%s; falling back to '%s'", reason, fb)
                    name = fb
            params = stage_params(spec, shot, stage)
            key = chain_key(upstream, stage, name, ckpt, params)
            plans.append(_StagePlan(stage, eng, name, requested, params, ckpt, key, reason))
            upstream = key
        return plans

    # ---- versions ------------------------------------------------------------
    @staticmethod
    def _shot_hash(paths: ShotPaths) -> str:
        return file_sha256(paths.shot_json)[:16] if paths.shot_json.is_file() else ""

    def job_key(self, spec: JobSpec, shot_dir: Path) -> str:
        """Identity of a job's output: same key = same pixels (frames list excluded)."""
        paths = ShotPaths(shot_dir)
        shot = paths.load_shot() if paths.shot_json.is_file() else None
        return stable_hash(
            {
                "shot": self._shot_hash(paths),
                "stages": [s for s in STAGES if s in spec.stages],
                "engines": {s: self.default_engine(spec, s) for s in spec.stages},
                "params": {s: stage_params(spec, shot, s) for s in spec.stages},
                "fallback": spec.allow_fallback,
                "ckpt": {s: self.checkpoint_for(spec, s, self.default_engine(spec, s)) for s in spec.stages},
            }
        )

    def prepare(self, spec: JobSpec, shot_dir: Path, *, reuse: bool = True) -> str:
        """The output version for this job: an existing one made by the very same job
        (same shot, stages, engines, params) when ``reuse``, else a newly allocated vNNN."""
        spec.validate()
        paths = ShotPaths(shot_dir)
        paths.load_shot()  # clear error now for a missing / foreign shot
        key = self.job_key(spec, Path(shot_dir))
        if reuse:
            for v in reversed(paths.versions()):
                if version_params.read(paths.version_dir(v)).job_key == key:
                    return v
        version = paths.new_version()
        version_params.write(paths.version_dir(version), VersionRecord(job_key=key, job=spec.to_dict(), state="prepared"))
        return version

    # ---- running -------------------------------------------------------------
    @staticmethod
    def _measure_frame_blur(paths: ShotPaths, shot: Shot) -> None:
        """Each frame's softness beyond the sharpest (ml/camera/frame_blur.py) for a shot that
        was never measured: one set up and rendered in Blender, whose render step does not run
        the sidecar's measurements (a `vanelia run` / `render` measures it before the render)."""
        from ml.camera.frame_blur import measure_into

        measure_into(paths, shot)
        try:
            paths.save_shot(shot)  # the panel shows it; a read-only shot folder keeps it for this run only
        except OSError as exc:
            log.warning("could not record the per-frame blur in %s: %s", paths.shot_json, exc)

    def run(
        self,
        spec: JobSpec,
        shot_dir: Path,
        *,
        version: str,
        on_frame: OnFrame | None = None,
        should_cancel: ShouldCancel | None = None,
    ) -> RunResult:
        spec.validate()
        paths = ShotPaths(shot_dir)
        shot = paths.load_shot()
        frames = list(spec.frames) if spec.frames is not None else list(shot.frames)
        unknown = [f for f in frames if f not in set(shot.frames)]
        if unknown:
            raise SchemaError(f"frames {unknown[:10]} are not in shot {paths.root} (frames {_span(shot.frames)})")
        plans = self._plan(spec, shot)
        if any(p.stage == "composite" for p in plans) and not shot.plate.blur_note:
            self._measure_frame_blur(paths, shot)
        vdir = paths.version_dir(version)
        (vdir / "frames").mkdir(parents=True, exist_ok=True)
        record = self._initial_record(spec, paths, shot, plans, version)
        out_ext = "png"
        done_before = [f for f in frames if paths.version_frame(version, f, out_ext).is_file()]
        todo = [f for f in frames if f not in set(done_before)]
        for f in done_before:
            record.frames.setdefault(str(f), {"resumed": True})
        total = len(frames)
        done = len(done_before)
        result = RunResult(version, sorted(done_before), {}, {p.stage: p.name for p in plans})
        for f in done_before:
            if on_frame:
                on_frame(f, done, total)
        cache = StageCache(paths.root, enabled=bool(spec.params.get("cache", True)) if isinstance(spec.params, dict) else True)
        need_render = any(p.stage in ("relight", "composite", "diffuse") for p in plans)
        sequenced = set(self._sequence_pass(plans, paths, shot, todo, cache, should_cancel))
        for p in plans:
            p.engine.reset()
        last_flush = time.monotonic()
        self._write_record(vdir, record, "running")
        # frame k is written on a worker thread while k+1 computes; a frame counts as done
        # (result, params.json, on_frame) only once its file is in place
        pending: tuple[int, Future, dict] | None = None

        def settle() -> None:
            nonlocal pending, done
            if pending is None:
                return
            f, fut, meta = pending
            pending = None
            try:
                fut.result()
                record.frames[str(f)] = meta
                result.frames_done.append(f)
                result.computed.append(f)
                record.skipped.pop(str(f), None)
            except OSError as exc:
                self._skip(result, record, f, f"frame {f}: could not write the output ({exc})")
            done += 1
            if on_frame:
                on_frame(f, done, total)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vanelia-write") as writer:
            for loaded in prefetch(paths, shot, todo, need_render):
                if should_cancel and should_cancel():
                    result.cancelled = True
                    break
                f = loaded.frame
                if loaded.state is None:
                    settle()
                    self._skip(result, record, f, loaded.error or "unreadable")
                    done += 1
                    if on_frame:
                        on_frame(f, done, total)
                else:
                    try:
                        out, meta = self._process_frame(loaded.state, plans, cache, paths, shot, f in sequenced)
                    except EngineError as exc:
                        settle()
                        self._skip(result, record, f, f"frame {f}: {exc}")
                        done += 1
                        if on_frame:
                            on_frame(f, done, total)
                    else:
                        settle()
                        pending = (f, writer.submit(write_png_linear, paths.version_frame(version, f, out_ext), out), meta)
                if time.monotonic() - last_flush > self.params_flush_s:
                    self._write_record(vdir, record, "running")
                    last_flush = time.monotonic()
            settle()
        result.frames_done.sort()
        state = "cancelled" if result.cancelled else ("done" if not result.skipped else "done_with_skips")
        self._write_record(vdir, record, state)
        return result

    @staticmethod
    def _input_key(paths: ShotPaths, shot: Shot, f: int) -> str:
        """What a frame's stage outputs depend on besides the stage configuration."""
        return stable_hash(
            [
                file_stamp(paths.plate_frame(f)),
                file_stamp(paths.render_frame(f)),
                file_stamp(paths.mask_frame(f)),
                file_stamp(paths.holdout_frame(f)),
                shot.camera.frames[f].__dict__ if f in shot.camera.frames else None,
                shot.lighting,
                *([shot.ground.cover_m] if shot.ground.cover_m else []),  # hides the product's base (frames.cover_base)
            ]
        )[:12]

    def _sequence_pass(
        self, plans: list[_StagePlan], paths: ShotPaths, shot: Shot, frames: list[int], cache: StageCache,
        should_cancel: ShouldCancel | None,
    ) -> list[int]:
        """Run a windowed first stage over the whole sequence before the per-frame loop.

        Engines such as the inpainter's `propagate` are bidirectional: frame k needs frames
        after k. When the first stage's engine offers ``process_sequence`` (one output per
        input frame, in order, a bounded number of frames late), it runs here over the frames
        still to do and its outputs go to the stage cache, where the per-frame loop finds them.
        Without a cache, or when this pass fails, the per-frame ``process`` path runs as before.
        Returns the frames whose first stage was computed here.
        """
        if not plans or not cache.enabled:
            return []
        p = plans[0]
        seq = getattr(p.engine, "process_sequence", None)
        if seq is None:
            return []
        keys = {f: self._input_key(paths, shot, f) for f in frames}
        need = [f for f in frames if not cache.path(p.stage, p.config_key, f, keys[f]).is_file()]
        if not need:
            return []
        fed: list[FrameState] = []

        def states() -> Iterator[FrameState]:
            for loaded in prefetch(paths, shot, need, need_render=False):
                if should_cancel and should_cancel():
                    return
                if loaded.state is not None:  # unreadable frames are skipped later, per frame
                    fed.append(loaded.state)
                    yield loaded.state

        done: list[int] = []
        p.engine.reset()
        try:
            for st, out in zip_sequence(fed, seq(states(), dict(p.params))):
                cache.put(p.stage, p.config_key, st.index, keys[st.index], _check_output(out, st, p))
                done.append(st.index)
        except EngineError as exc:
            log.warning("%s engine '%s': whole-sequence pass failed (%s); processing frame by frame", p.stage, p.name, exc)
        finally:
            p.engine.reset()
        return done

    def _process_frame(
        self, st: FrameState, plans: list[_StagePlan], cache: StageCache, paths: ShotPaths, shot: Shot,
        sequenced: bool = False,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        f = st.index
        input_key = self._input_key(paths, shot, f)
        meta: dict[str, Any] = {}
        notes: list[str] = []
        if st.rgba is not None and float(st.rgba[..., 3].max(initial=0.0)) < 1e-4:
            notes.append("product not visible (empty alpha): plate and shadow only")
        out: np.ndarray | None = None
        for i, p in enumerate(plans):
            field_name = base.PRODUCES[p.stage]
            is_last = i == len(plans) - 1
            # the last stage is never cached, except a first stage computed by _sequence_pass
            use_cache = not is_last or (i == 0 and sequenced)
            hit = cache.get(p.stage, p.config_key, f, input_key) if use_cache else None
            if hit is not None:
                setattr(st, field_name, hit)
                meta[p.stage] = {"engine": p.name, "cached": True}
            else:
                engine_name = p.name
                try:
                    p.engine.check_inputs(st)
                    res = p.engine.process(st, dict(p.params))
                except EngineUnavailable as exc:
                    # failed mid-run (e.g. out of GPU memory): this frame with the fallback
                    fb = catalogue.fallback(p.stage, p.name)
                    if fb is None:
                        raise
                    eng = self.engine(p.stage, fb, None)
                    eng.check_inputs(st)
                    res = eng.process(st, dict(p.params))
                    engine_name = fb
                    notes.append(f"{p.stage}: '{p.name}' failed on this frame ({exc}); used '{fb}'")
                res = _check_output(res, st, p)
                setattr(st, field_name, res)
                if not is_last and engine_name == p.name:
                    cache.put(p.stage, p.config_key, f, input_key, res)
                meta[p.stage] = {"engine": engine_name, **st.meta.pop(p.stage, {})}
            if p.fallback_reason:
                meta[p.stage]["requested"] = p.requested
            out = getattr(st, field_name)
        if notes:
            meta["notes"] = notes
        assert out is not None
        return out, meta

    # ---- params.json -----------------------------------------------------------
    def _initial_record(self, spec: JobSpec, paths: ShotPaths, shot: Shot, plans: list[_StagePlan], version: str) -> VersionRecord:
        old = version_params.read(paths.version_dir(version))
        return VersionRecord(
            protocol=PROTOCOL_VERSION,
            version=version,
            job_key=self.job_key(spec, paths.root),
            job=spec.to_dict(),
            shot_hash=self._shot_hash(paths),
            shot_name=shot.name,
            params={p.stage: p.params for p in plans},
            engines={
                p.stage: {
                    **p.engine.describe(),
                    "requested": p.requested,
                    "fallback_reason": p.fallback_reason,
                    "cache_key": p.config_key,
                }
                for p in plans
            },
            device=self.device,
            frames=dict(old.frames),
            skipped=dict(old.skipped),
            started=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )

    @staticmethod
    def _write_record(vdir: Path, record: VersionRecord, state: str) -> None:
        record.state = state
        version_params.write(vdir, record)

    @staticmethod
    def _skip(result: RunResult, record: VersionRecord, frame: int, reason: str) -> None:
        log.warning("skipping %s", reason)
        result.skipped[frame] = reason
        record.skipped[str(frame)] = reason


def zip_sequence(fed: list[FrameState], outputs: Iterable[Any]) -> Iterator[tuple[FrameState, Any]]:
    """Pair a sequence engine's outputs with the frames it was fed, in order.

    The engine consumes its input iterator ahead of its outputs (its latency), so the frame
    for output i is the i-th frame fed, which is already in ``fed`` when output i arrives.
    """
    for i, out in enumerate(outputs):
        if i >= len(fed):
            raise EngineError(f"sequence engine yielded more outputs ({i + 1}) than frames fed ({len(fed)})")
        yield fed[i], out


def _check_output(res: Any, st: FrameState, p: _StagePlan) -> np.ndarray:
    """Engines must return finite float arrays of the frame's size; say which one didn't."""
    arr = np.asarray(res, dtype=np.float32)
    h, w = st.plate.shape[:2]
    if arr.shape[:2] != (h, w):
        raise EngineError(f"{p.stage} engine '{p.name}' returned {arr.shape}, expected {h}x{w}")
    if not np.isfinite(arr).all():
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
        log.warning("%s engine '%s' produced NaN/Inf on frame %d; zeroed", p.stage, p.name, st.index)
    return arr


def _span(frames: list[int]) -> str:
    return f"{min(frames)}..{max(frames)}" if frames else "none"
