"""Benchmark: render time per frame of the demo shot, and the share of time spent outside Cycles.

    python scripts/bench_render.py [--frames 48] [--resolution 640x360] [--samples 32] [--out DIR] [--json FILE]

Generates the demo data (not timed), then times ``setup_shot`` + ``render_shot`` exactly as
``vanelia render`` runs them. Inside Cycles = each ``bpy.ops.render.render`` call minus its
compositor time (Cycles' "Finished" stats line .. ``render_post``, which is where the File
Output node writes the EXR). Everything else (plate decode, scene setup, EXR writing, header patch,
rename, cache checks, shot.json saves) is "outside Cycles"; wall and process CPU time both
reported (CPU time is the fairer number on a shared machine). A second ``render_shot`` with
nothing changed measures the cache check alone. Prints a table and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="vanelia-bench-"))

import bpy  # noqa: E402

from blender_env import load_extension  # noqa: E402


class CompositorClock:
    """Sums compositor + EXR-write time per frame from Blender's render handlers.

    Cycles reports "Finished" (then "Compositing") through ``render_stats`` when its
    sampling is done; ``render_post`` fires once the compositor has written the File Output
    EXR. (``composite_pre/post`` do not fire for F12/headless renders.)
    """

    def __init__(self) -> None:
        self.total = 0.0
        self.cpu = 0.0
        self._t0: tuple[float, float] | None = None

    def stats(self, *args: object) -> None:
        text = str(args[0]) if args else ""
        if self._t0 is None and ("Finished" in text or "Compositing" in text):
            self._t0 = (time.perf_counter(), time.process_time())

    def post(self, *_a: object) -> None:
        if self._t0 is not None:
            self.total += time.perf_counter() - self._t0[0]
            self.cpu += time.process_time() - self._t0[1]
            self._t0 = None

    def __enter__(self) -> "CompositorClock":
        bpy.app.handlers.render_stats.append(self.stats)
        bpy.app.handlers.render_post.append(self.post)
        return self

    def __exit__(self, *_exc: object) -> None:
        bpy.app.handlers.render_stats.remove(self.stats)
        bpy.app.handlers.render_post.remove(self.post)


def main(argv: list[str] | None = None) -> int:
    ext = load_extension()
    from importlib import import_module

    demo = import_module(f"{ext.__name__}.addon.demo_scene")
    shot_mod = import_module(f"{ext.__name__}.addon.shot")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=demo.DEMO_FRAMES)
    p.add_argument("--resolution", default="x".join(map(str, demo.DEMO_RESOLUTION)))
    p.add_argument("--samples", type=int, default=demo.DEMO_SAMPLES)
    p.add_argument("--out", default=None, help="work folder (default: a temp folder)")
    p.add_argument("--json", default=None, help="result file (default: OUT/bench_render.json)")
    a = p.parse_args(argv)
    res = shot_mod.parse_resolution(a.resolution)
    out = Path(a.out or tempfile.mkdtemp(prefix="vanelia-bench-render-")).resolve()
    data = out / "data"
    t = time.perf_counter()
    if not (data / "demo.json").is_file() or json.loads((data / "demo.json").read_text()).get("n_frames") != a.frames \
            or json.loads((data / "demo.json").read_text()).get("resolution") != list(res):
        demo.make_demo(data, a.frames, res, a.samples, progress=lambda m: print(f"[bench] {m}", flush=True))
    t_demo = time.perf_counter() - t
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    shot_dir = out / "shot"
    if shot_dir.exists():
        import shutil

        shutil.rmtree(shot_dir)
    with CompositorClock() as comp:
        t0, c0 = time.perf_counter(), time.process_time()
        shot = shot_mod.setup_shot(shot_dir, data / "plate.mp4", data / "product.glb", data / "transforms.json", samples=a.samples)
        t1, c1 = time.perf_counter(), time.process_time()
        job = shot_mod.ShotRenderer(shot_dir)
        t2 = time.perf_counter()
        frames = []
        while job.pending:
            frames.append(job.render_next())
            tm = job.timings[-1]
            print(f"[bench] frame {len(frames)}/{len(shot.frames)}: {tm['render_s']:.2f}s wall, {tm['render_cpu_s']:.2f}s CPU", flush=True)
        t3, c3 = time.perf_counter(), time.process_time()
    t4 = time.perf_counter()
    again = shot_mod.render_shot(shot_dir)
    t5 = time.perf_counter()
    assert again == [], "nothing changed, nothing may re-render"
    render_calls = sum(x["render_s"] for x in job.timings)
    after_calls = sum(x["write_s"] for x in job.timings)
    cycles = render_calls - comp.total
    total = t3 - t0
    cycles_cpu = sum(x["render_cpu_s"] for x in job.timings) - comp.cpu
    total_cpu = c3 - c0
    result = {
        "blender": bpy.app.version_string,
        "device": bpy.context.scene.cycles.device,
        "resolution": list(res),
        "samples": a.samples,
        "frames": len(frames),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "demo_data_s": round(t_demo, 3),
        "setup_s": round(t1 - t0, 3),
        "renderer_init_s": round(t2 - t1, 3),
        "render_calls_s": round(render_calls, 3),
        "compositor_and_exr_write_s": round(comp.total, 3),
        "header_patch_rename_json_s": round(after_calls + (t3 - t2 - render_calls - after_calls), 3),
        "cycles_s": round(cycles, 3),
        "total_s": round(total, 3),
        "per_frame_s": round(render_calls / max(1, len(frames)), 3),
        "per_frame_cycles_s": round(cycles / max(1, len(frames)), 3),
        "outside_cycles_s": round(total - cycles, 3),
        "outside_cycles_share": round((total - cycles) / total, 4),
        "outside_cycles_share_excl_setup": round((t3 - t1 - cycles) / (t3 - t1), 4),
        "cache_check_rerun_s": round(t5 - t4, 3),
        "cpu": {
            "setup_s": round(c1 - c0, 3),
            "compositor_and_exr_write_s": round(comp.cpu, 3),
            "cycles_s": round(cycles_cpu, 3),
            "total_s": round(total_cpu, 3),
            "per_frame_cycles_s": round(cycles_cpu / max(1, len(frames)), 3),
            "outside_cycles_share": round((total_cpu - cycles_cpu) / total_cpu, 4),
        },
    }
    path = Path(a.json) if a.json else out / "bench_render.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")
    print(f"[bench] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
