"""`vanelia bench farm`: the pipeline on Ray with 1, 2, 4 workers against one process.

One generated 48-frame shot (small resolution) is rendered and run through
inpaint (propagate, overlapping chunks) + composite (classical):

* plain: the render step in one Blender process, the stages in one PipelineRunner;
* Ray (``--ray local`` clusters of 1, 2, 4 CPUs): render chunks as Blender tasks, stages on
  1, 2, 4 actors; the stages are run twice, the second time with warm actors (engines set
  up), which is what a long-running farm sees;
* per-frame scheduling overhead: (Ray with one warm actor - one process) / frames, for the
  shared-folder and the object-store paths, and the driver's own time per frame;
* a projection to a 10-GPU cluster from those per-frame costs, with the arithmetic.

Prints the numbers and writes JSON (``--out``). On a 2-core machine the cores, not the
scheduler, bound the speedup: say so next to the numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from shotcache.schema import JobSpec

STAGES = {"stages": ["inpaint", "composite"], "engines": {"inpaint": "propagate", "composite": "classical"},
          "params": {"inpaint": {"window": 4}}, "seed": 1}
LIGHT = {"stages": ["composite"], "engines": {"composite": "classical"}, "seed": 1}
"""A stateless job (no overlap): what the scheduler adds per frame, and nothing else."""
GPUS = 10


def make_data(root: Path, frames: int, resolution: str, samples: int) -> tuple[Path, list[str]]:
    from app.blender import run_batch
    from ml.io.images import write_mask

    data = root / "data"
    run_batch("demo-data", ["--output", str(data), "--frames", str(frames), "--resolution", resolution, "--samples", str(samples)],
              on_line=lambda s: None)
    w, h = (int(v) for v in resolution.split("x"))
    for f in range(1, frames + 1):
        m = np.zeros((h, w), np.float32)
        x0 = int(w * 0.1) + f % max(1, w // 2)
        m[h // 3 : h // 3 + h // 4, x0 : x0 + w // 6] = 1
        write_mask(data / "masks" / f"{f:06d}.png", m)
    common = ["--plate", str(data / "plate.mp4"), "--model", str(data / "product.glb"), "--camera", str(data / "transforms.json"),
              "--samples", str(samples)]
    return data, common


def new_shot(data: Path, common: list[str], shot: Path, render: bool) -> float:
    """A shot folder (set up, rendered or not) with the masks; returns the Blender wall time."""
    from app.blender import run_batch

    t0 = time.perf_counter()
    run_batch("render", common + ["--shot", str(shot)] + ([] if render else ["--setup-only"]), on_line=lambda s: None)
    dt = time.perf_counter() - t0
    shutil.copytree(data / "masks", shot / "masks", dirs_exist_ok=True)
    return dt


def timed_run(runner: Any, shot: Path, job: dict[str, Any] = STAGES, repeat: int = 1) -> tuple[float, Any]:
    """A job into a new version, engines as they are (warm after the first run); the stage
    cache is emptied first so that every frame is computed, as on a farm's first pass.
    The best of ``repeat`` runs: the machine is shared, the minimum is the least disturbed."""
    best, res = float("inf"), None
    for _ in range(repeat):
        shutil.rmtree(shot / "cache", ignore_errors=True)
        spec = JobSpec(shot=str(shot), **job)
        version = runner.prepare(spec, shot, reuse=False)
        t0 = time.perf_counter()
        res = runner.run(spec, shot, version=version)
        best = min(best, time.perf_counter() - t0)
    return best, res


def bench_plain(data: Path, common: list[str], work: Path, frames: int) -> dict[str, Any]:
    from ml.pipeline.runner import PipelineRunner

    shot = work / "plain"
    render_s = new_shot(data, common, shot, render=True)
    runner = PipelineRunner()
    cold, res = timed_run(runner, shot)
    assert len(res.frames_done) == frames, res.skipped
    warm, _ = timed_run(runner, shot, repeat=2)
    light, _ = timed_run(runner, shot, LIGHT, repeat=3)
    return {"render_s": render_s, "stages_cold_s": cold, "stages_warm_s": warm, "light_s": light, "total_s": render_s + warm}


def bench_ray(data: Path, common: list[str], work: Path, frames: int, workers: int) -> dict[str, Any]:
    import ray

    from farm.ray import cluster
    from farm.ray.runner import RayPipelineRunner, render_shot

    if ray.is_initialized():
        ray.shutdown()
    t0 = time.perf_counter()
    cluster.connect("local", num_cpus=workers)
    start_s = time.perf_counter() - t0
    shot = work / f"ray{workers}"
    setup_s = new_shot(data, common, shot, render=False)
    made = render_shot("local", shot, workers=workers)
    runner = RayPipelineRunner(address="local", workers=workers, shared=True)
    cold, res = timed_run(runner, shot)
    assert len(res.frames_done) == frames, res.skipped
    warm, _ = timed_run(runner, shot, repeat=2)
    farm = dict(runner.last)
    out = {"workers": workers, "cluster_start_s": start_s, "setup_s": setup_s, "render_s": made["wall_s"],
           "render_chunks": made["chunks"], "stages_cold_s": cold, "stages_warm_s": warm,
           "total_s": setup_s + made["wall_s"] + warm, "chunk_size": farm["chunk_size"], "overlap": farm["overlap"],
           "chunks": farm["chunks"], "driver_s": farm["driver_s"], "nodes": sorted({n.split("/")[0] for n in made["nodes"].values()})}
    if workers == 1:  # scheduling overhead on a stateless job: shared folder, then object store
        out["light_s"], _ = timed_run(runner, shot, LIGHT, repeat=3)
        out["light_chunks"] = runner.last["chunks"]
        out["driver_light_s"] = runner.last["driver_s"]
        runner.shared = False
        out["light_packed_s"], _ = timed_run(runner, shot, LIGHT, repeat=3)
    return out


def project(plain: dict[str, Any], one: dict[str, Any], frames: int) -> dict[str, Any]:
    """10-GPU throughput from the per-frame costs measured here (arithmetic in ``steps``)."""
    c_stage = plain["stages_warm_s"] / frames
    over = (one["light_s"] - plain["light_s"]) / frames
    ov = one["overlap"]
    size = one["chunk_size"]
    k = (size + ov["before"] + ov["after"]) / size  # first-stage frames computed per frame kept
    per_worker_s = c_stage * k + max(over, 0.0)
    driver = one["driver_s"] / frames
    stage_fps = min(GPUS / per_worker_s, 1.0 / driver if driver > 0 else float("inf"))
    c_render = one["render_s"] / frames
    render_fps = GPUS / c_render
    steps = [
        f"stage cost per frame, one process: c = {plain['stages_warm_s']:.2f} s / {frames} = {c_stage * 1000:.1f} ms",
        f"scheduling overhead per frame (composite-only job, Ray with 1 warm actor - one process): o = {over * 1000:.1f} ms",
        f"overlap: chunks of {size} frames + {ov['before']} before + {ov['after']} after -> k = {k:.2f} "
        f"(upper bound: all stages counted, only the first one re-runs context frames; edge chunks have less)",
        f"per worker: c*k + o = {per_worker_s * 1000:.1f} ms/frame -> {GPUS} workers: {GPUS} / {per_worker_s:.4f} s "
        f"= {GPUS / per_worker_s:.1f} frames/s",
        f"driver (one process writes every frame and its record): {driver * 1000:.2f} ms/frame -> at most "
        f"{1 / driver if driver else float('inf'):.0f} frames/s",
        f"stages on {GPUS} workers: min(...) = {stage_fps:.1f} frames/s = {stage_fps * 3600:.0f} frames/hour",
        f"render, one Blender task per chunk, measured {c_render:.3f} s/frame incl. Blender start -> {GPUS} render nodes: "
        f"{render_fps:.1f} frames/s",
        "with GPUs, c is the GPU engine's per-frame time (same formula); o and the driver bound stay",
    ]
    return {"gpus": GPUS, "stage_ms_per_frame": c_stage * 1000, "overhead_ms_per_frame": over * 1000, "overlap_factor": k,
            "driver_ms_per_frame": driver * 1000, "stages_frames_per_s": stage_fps, "render_frames_per_s": render_fps,
            "steps": steps}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vanelia bench farm", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--resolution", default="160x90")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--out", type=Path, default=Path("out/bench/farm.json"))
    p.add_argument("--keep", type=Path, default=None, help="keep the shots here")
    a = p.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    work = Path(tempfile.mkdtemp(prefix="vanelia-bench-farm-")) if a.keep is None else a.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        data, common = make_data(work, a.frames, a.resolution, a.samples)
        plain = bench_plain(data, common, work, a.frames)
        print(f"plain: render {plain['render_s']:.1f}s  stages {plain['stages_warm_s']:.2f}s (cold {plain['stages_cold_s']:.2f}s)  "
              f"total {plain['total_s']:.1f}s", flush=True)
        runs = []
        for w in [int(v) for v in a.workers.split(",")]:
            r = bench_ray(data, common, work, a.frames, w)
            runs.append(r)
            print(f"ray x{w}: setup {r['setup_s']:.1f}s  render {r['render_s']:.1f}s ({r['render_chunks']} chunks)  "
                  f"stages {r['stages_warm_s']:.2f}s (cold {r['stages_cold_s']:.2f}s, {r['chunks']} chunks of {r['chunk_size']})  "
                  f"total {r['total_s']:.1f}s", flush=True)
        base = runs[0]
        for r in runs:
            r["speedup_vs_1"] = {k: base[k] / r[k] for k in ("render_s", "stages_warm_s", "total_s")}
            r["speedup_vs_plain"] = plain["total_s"] / r["total_s"]
        one = base
        proj = project(plain, one, a.frames)
        over = proj["overhead_ms_per_frame"]
        packed = (one["light_packed_s"] - plain["light_s"]) / a.frames * 1000
        print(f"scheduling overhead: {over:.1f} ms/frame shared folder, {packed:.1f} ms/frame object store "
              f"(target < 20); driver {proj['driver_ms_per_frame']:.2f} ms/frame", flush=True)
        for s in proj["steps"]:
            print("  " + s)
        result = {"frames": a.frames, "resolution": a.resolution, "samples": a.samples, "job": STAGES, "cpus": os.cpu_count(),
                  "loadavg": os.getloadavg(), "plain": plain, "ray": runs, "overhead_ms_per_frame": over,
                  "overhead_packed_ms_per_frame": packed, "projection": proj}
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {a.out}")
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
