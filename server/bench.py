"""How much time the sidecar adds per frame, in local mode (shared disk, no pixels over HTTP).

``measure_overhead()`` runs the same job twice on the same generated shot:

1. **direct**: ``PipelineRunner.run`` in this process (what ``vanelia run`` does without
   ``--server``);
2. **served**: through a real sidecar on loopback (in-process server thread, real HTTP),
   submitted and waited for with the real client.

It reports the wall-clock and CPU-time (``process_time``: all threads of this process,
client and server included; robust to other processes on a shared machine) differences per
frame -- noisy, being differences of two large numbers -- and the *instrumented* overhead -- the time the worker spends in its own per-frame
callbacks (SQLite progress commit, cancel check, event bump), measured by the worker itself --
plus the cost of the one event a listener gets per frame (job view read + encoded): their sum is ``overhead_ms_per_frame_estimate``, the number to hold against the 5 ms target.
The fixed cost per job (submit, queue, prepare, finish) is ``queue_latency_ms`` and
``job_fixed_ms``. Used by ``vanelia bench pipeline``
and runnable alone: ``python -m server.bench --width 1920 --height 1080 --frames 10``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from shotcache.layout import ShotPaths
from shotcache.schema import FrameCamera, JobSpec, Shot


def make_shot(folder: str | Path, frames: int = 10, width: int = 64, height: int = 48, first: int = 1, name: str = "bench") -> Path:
    """A small real shot without Blender: sRGB PNG plates (a gradient that pans), multilayer
    EXR renders (a box of product with straight alpha, albedo, normals, depth, position and a
    soft shadow in the shadow-catcher pass) and shot.json."""
    from ml.io.exr import write_passes
    from ml.io.images import write_rgb8

    paths = ShotPaths(folder)
    w, h = int(width), int(height)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    nums = list(range(first, first + frames))
    cams = {}
    for i, f in enumerate(nums):
        plate = np.stack([(xx + 3 * i) / w, yy / h, 0.5 + 0.3 * np.sin((xx + yy) / 9.0)], -1)
        write_rgb8(paths.plate_frame(f), (np.clip(plate, 0, 1) * 255 + 0.5).astype(np.uint8))
        cx, cy = w * (0.35 + 0.3 * i / max(frames, 1)), h * 0.55
        inside = ((np.abs(xx - cx) < w * 0.15) & (np.abs(yy - cy) < h * 0.2)).astype(np.float32)
        rgba = np.zeros((h, w, 4), np.float32)
        rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 0.6 * inside, 0.1 * inside, 0.08 * inside, inside
        d2 = ((xx - cx) / (w * 0.25)) ** 2 + ((yy - cy - h * 0.2) / (h * 0.08)) ** 2
        shadow = 1.0 - 0.5 * np.exp(-d2)[..., None].repeat(3, -1)
        normal = np.zeros((h, w, 3), np.float32)
        normal[..., 2] = 1.0
        depth = np.where(inside > 0, 3.0, 1e10).astype(np.float32)
        write_passes(paths.render_frame(f), {
            "rgba": rgba, "albedo": rgba[..., :3].copy(), "normal": normal, "depth": depth,
            "position": np.zeros((h, w, 3), np.float32), "shadow_catcher": shadow.astype(np.float32),
        })
        c2w = np.eye(4)
        c2w[0, 3] = 0.01 * i
        cams[f] = FrameCamera(fx=w * 1.2, fy=w * 1.2, cx=w / 2, cy=h / 2, c2w=c2w.tolist())
    shot = Shot(name=name, resolution=[w, h], fps=24.0, frames=nums)
    shot.camera.frames = cams
    shot.camera.kind = "static"
    paths.save_shot(shot)
    return paths.root


def measure_overhead(width: int = 1920, height: int = 1080, frames: int = 10, stages: tuple[str, ...] = ("composite",),
                     workdir: str | Path | None = None) -> dict[str, Any]:
    """Per-frame cost of the sidecar over running the pipeline in-process, at WxH."""
    import requests
    from ml.pipeline.runner import PipelineRunner

    from shotcache.client import SidecarClient

    from .config import ServerConfig
    from .events import format_event
    from .local import BackgroundServer

    with tempfile.TemporaryDirectory(prefix="vanelia-bench-", dir=workdir) as tmp:
        root = Path(tmp) / "shots"
        shot_dir = make_shot(root / "shot", frames=frames, width=width, height=height)
        # direct (seed differs from the served job so neither reuses the other's version)
        runner = PipelineRunner()
        warm = JobSpec(shot=str(shot_dir), stages=list(stages), frames=[1], seed=0)
        runner.run(warm, shot_dir, version=runner.prepare(warm, shot_dir, reuse=False))
        spec = JobSpec(shot=str(shot_dir), stages=list(stages), seed=1)
        version = runner.prepare(spec, shot_dir, reuse=False)
        t0, c0 = time.perf_counter(), time.process_time()
        runner.run(spec, shot_dir, version=version)
        direct, direct_cpu = time.perf_counter() - t0, time.process_time() - c0

        cfg = ServerConfig(host="127.0.0.1", port=0, shot_roots=[root], data_dir=Path(tmp) / "data")
        srv = BackgroundServer(cfg)
        with srv as url:
            client = SidecarClient(url)
            client.health()
            client.wait(client.submit({"shot": "shot", "stages": list(stages), "frames": [1], "seed": 2}), poll=0.05)  # warm engines
            t0, c0 = time.perf_counter(), time.process_time()
            job_id = client.submit({"shot": "shot", "stages": list(stages), "seed": 3})
            job = client.wait(job_id, poll=1.0)  # heartbeat 1 s: nothing to cancel here
            served_client, served_cpu = time.perf_counter() - t0, time.process_time() - c0
            rows = client.status(job_id)
            t0 = time.perf_counter()
            for _ in range(200):  # the sidecar's work per frame for an event listener: one job view, encoded
                format_event("progress", srv.queue.get(job_id, with_frames=False))
            event_ms = (time.perf_counter() - t0) / 200 * 1000.0
            session = requests.Session()
            session.trust_env = False
            t0 = time.perf_counter()
            for _ in range(50):  # a polling client instead: one status request per poll
                session.get(f"{url}/jobs/{job_id}", timeout=10).raise_for_status()
            status_rtt_ms = (time.perf_counter() - t0) / 50 * 1000.0
        served = job["finished"] - job["created"]
        return {
            "resolution": [width, height],
            "frames": frames,
            "stages": list(stages),
            "direct_s_per_frame": direct / frames,
            "served_s_per_frame": served / frames,
            "served_client_wall_s_per_frame": served_client / frames,
            "overhead_ms_per_frame_wall": (served - direct) / frames * 1000.0,
            "direct_cpu_s_per_frame": direct_cpu / frames,
            "served_cpu_s_per_frame": served_cpu / frames,
            "overhead_cpu_ms_per_frame": (served_cpu - direct_cpu) / frames * 1000.0,
            "overhead_ms_per_frame_callbacks": rows["overhead_s"] / frames * 1000.0,
            "event_per_frame_ms": event_ms,
            "overhead_ms_per_frame_estimate": rows["overhead_s"] / frames * 1000.0 + event_ms,
            "status_request_roundtrip_ms": status_rtt_ms,
            "job_fixed_ms": (served - direct) * 1000.0,
            "queue_latency_ms": (job["started"] - job["created"]) * 1000.0,
            "pixels_over_http": 0,
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m server.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--stages", default="composite")
    p.add_argument("--json", default=None, help="also write the numbers here")
    a = p.parse_args(argv)
    res = measure_overhead(a.width, a.height, a.frames, tuple(a.stages.split(",")))
    text = json.dumps(res, indent=2)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
