"""`vanelia bench pipeline`: end-to-end wall time against render-only, sidecar overhead, memory.

In one run, on the demo shot:

* render-only: the Blender render step alone into a fresh shot folder;
* end-to-end: `vanelia run` (render into another fresh folder + stages + MP4 + contact sheet);
  the ratio end-to-end / render-only is the pipeline's cost over Blender (target <= 1.15x with
  the classical engines);
* stages per frame at 1920x1080 in-process (PipelineRunner on a generated shot);
* sidecar overhead per frame at 1920x1080 in local mode (server.bench.measure_overhead:
  the same job direct and through a real loopback sidecar);
* peak memory (this process and its children, i.e. Blender when spawned).

Prints a table and writes JSON. Numbers only: nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (Blender): unlike
    wall time, it does not grow when other jobs share the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_mb() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {"peak_rss_mb_self": round(own, 1), "peak_rss_mb_children": round(kids, 1)}


def stages_per_frame(width: int, height: int, frames: int, stages: list[str]) -> dict[str, Any]:
    """In-process PipelineRunner on a generated shot: seconds per frame (second run warm)."""
    from ml.pipeline.runner import PipelineRunner
    from ml.pipeline.synthetic import make_shot
    from shotcache.schema import JobSpec

    with tempfile.TemporaryDirectory(prefix="vanelia-bench-stages-") as tmp:
        shot = make_shot(Path(tmp) / "shot", frames=frames, size=(width, height))
        runner = PipelineRunner()
        warm = JobSpec(shot=str(shot.root), stages=stages, frames=[shot.load_shot().frames[0]], seed=0)
        runner.run(warm, shot.root, version=runner.prepare(warm, shot.root, reuse=False))
        spec = JobSpec(shot=str(shot.root), stages=stages, seed=1)
        v = runner.prepare(spec, shot.root, reuse=False)
        t0, c0 = time.perf_counter(), _cpu()
        res = runner.run(spec, shot.root, version=v)
        dt, cpu = time.perf_counter() - t0, _cpu() - c0
        # the same job again: everything reused, the cost of the checks alone
        t0 = time.perf_counter()
        runner.run(spec, shot.root, version=v)
        again = time.perf_counter() - t0
    return {
        "resolution": [width, height], "frames": frames, "stages": stages, "engines": res.engines,
        "s_per_frame": dt / frames, "fps": frames / dt, "cpu_s_per_frame": cpu / frames, "rerun_same_job_s": again,
    }


def sidecar_overhead(width: int, height: int, frames: int) -> dict[str, Any]:
    try:
        from server.bench import measure_overhead
    except ImportError as exc:
        return {"error": f"server.bench not available ({exc})"}
    return measure_overhead(width=width, height=height, frames=frames)


def end_to_end(frames: int, resolution: str, samples: int, blender: str | None, workdir: Path) -> dict[str, Any]:
    """Render-only vs the whole `vanelia run`, on the demo data, in this one process."""
    from cli.demo import find_demo_inputs
    from app.blender import run_batch
    from app.run import RunOptions, render_args, run_pipeline

    data = workdir / "data"
    run_batch("demo-data", ["--output", str(data), "--frames", str(frames), "--resolution", resolution], blender)
    inputs = find_demo_inputs(data)
    opts = RunOptions(input=inputs["plate"], model=inputs["model"], camera=inputs["camera"], output=workdir / "final.mp4",
                      resolution=resolution, samples=samples, keep=workdir / "shot_e2e", blender=blender,
                      compositor_type="classical", device="cpu", progress=False)
    ro = workdir / "shot_render_only"
    t0, c0 = time.perf_counter(), _cpu()
    run_batch("render", render_args(opts, inputs["camera"], ro), blender)
    render_only, render_cpu = time.perf_counter() - t0, _cpu() - c0
    t0, c0 = time.perf_counter(), _cpu()
    summary = run_pipeline(opts, log=lambda s: None)
    e2e, e2e_cpu = time.perf_counter() - t0, _cpu() - c0
    return {
        "frames": frames, "resolution": resolution, "samples": samples,
        "render_only_s": render_only, "end_to_end_s": e2e, "ratio": e2e / render_only,
        "render_only_cpu_s": render_cpu, "end_to_end_cpu_s": e2e_cpu, "ratio_cpu": e2e_cpu / render_cpu,
        "end_to_end_breakdown_s": summary["timings"], "engines": summary["engines"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vanelia bench pipeline", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=12, help="demo shot frames")
    p.add_argument("--resolution", default="640x360", help="demo shot WxH")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--hd-frames", type=int, default=6, help="frames of the 1920x1080 stage / sidecar measurements")
    p.add_argument("--blender", default=None)
    p.add_argument("--skip-render", action="store_true", help="only the 1920x1080 stage and sidecar numbers (no Blender)")
    p.add_argument("--json", type=Path, default=Path("out/bench_pipeline.json"))
    args = p.parse_args(argv)

    report: dict[str, Any] = {"machine": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": _cpus()}}
    hd = (1920, 1080)
    print(f"[bench] stages in-process at {hd[0]}x{hd[1]}, {args.hd_frames} frames ...", flush=True)
    report["stages_1080p"] = stages_per_frame(*hd, args.hd_frames, ["composite"])
    print(f"[bench] sidecar overhead at {hd[0]}x{hd[1]} ...", flush=True)
    report["sidecar_1080p"] = sidecar_overhead(*hd, args.hd_frames)
    if not args.skip_render:
        with tempfile.TemporaryDirectory(prefix="vanelia-bench-e2e-") as tmp:
            print(f"[bench] demo shot: render-only vs end-to-end ({args.frames} frames at {args.resolution}) ...", flush=True)
            report["end_to_end"] = end_to_end(args.frames, args.resolution, args.samples, args.blender, Path(tmp))
    report["memory"] = _peak_mb()

    st = report["stages_1080p"]
    print(f"stages (classical composite) 1920x1080: {st['s_per_frame'] * 1000:.0f} ms/frame wall, "
          f"{st['cpu_s_per_frame'] * 1000:.0f} ms/frame CPU ({st['fps']:.2f} fps); "
          f"same job again: {st['rerun_same_job_s'] * 1000:.0f} ms total")
    sc = report["sidecar_1080p"]
    if "error" in sc:
        print(f"sidecar overhead: {sc['error']}")
    else:
        print(f"sidecar overhead 1920x1080: {sc['overhead_ms_per_frame_callbacks']:.2f} ms/frame instrumented, "
              f"{sc['overhead_ms_per_frame_wall']:.1f} ms/frame wall difference (target < 5 ms)")
    if "end_to_end" in report:
        e = report["end_to_end"]
        print(f"end-to-end {e['end_to_end_s']:.1f} s vs render-only {e['render_only_s']:.1f} s: {e['ratio']:.3f}x wall, "
              f"{e['ratio_cpu']:.3f}x CPU time ({e['end_to_end_cpu_s']:.1f} vs {e['render_only_cpu_s']:.1f} s) (target <= 1.15x)")
    m = report["memory"]
    print(f"peak memory: {m['peak_rss_mb_self']:.0f} MB this process, {m['peak_rss_mb_children']:.0f} MB largest child")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"[bench] wrote {args.json}")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


if __name__ == "__main__":
    sys.exit(main())
