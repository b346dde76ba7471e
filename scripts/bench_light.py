"""Benchmark: light estimation (ml/light) for a 100-frame shot; prints and writes JSON.

The shot is built from real footage (the first 100 frames of a clip in ../shared/data/video,
decoded once into a shot folder, not timed) with a fixed camera 1.5 m over the ground looking
20 degrees down; then ``estimate_shot`` (environment map + key light + shot.json + env.exr)
is timed, wall and CPU, and the shutter read off the plate's motion blur (ml.camera.shutter)
and each frame's own softness at the product (ml.camera.frame_blur), the other measurements
between the set-up and the render. Target (issue 13): <= 30 s on 2 cores for all three.

    python scripts/bench_light.py [--clip dog-lawn] [--json out/bench/light.json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml.io.images import write_rgb8  # noqa: E402
from ml.io.video import iter_frames  # noqa: E402
from ml.camera.frame_blur import estimate_shot as estimate_frame_blur  # noqa: E402
from ml.camera.shutter import estimate_shot as estimate_shutter  # noqa: E402
from ml.light.shot import estimate_shot  # noqa: E402
from shotcache.layout import ShotPaths, atomic_write_json  # noqa: E402
from shotcache.schema import CameraTrack, FrameCamera, Ground, Lighting, Product, Shot  # noqa: E402


def fixed_camera(w: int, h: int, height: float = 1.5, tilt_deg: float = 20.0) -> FrameCamera:
    t = math.radians(tilt_deg)
    # OpenCV axes: x right, y down, z forward; forward tilted down by t, looking along +y
    fwd = np.array([0.0, math.cos(t), -math.sin(t)])
    right = np.array([1.0, 0.0, 0.0])
    down = np.cross(fwd, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, fwd, (0.0, 0.0, height)
    f = 0.9 * w
    return FrameCamera(f, f, w / 2, h / 2, c2w.tolist())


def build_shot(clip: Path, shot_dir: Path, n: int) -> Shot:
    paths = ShotPaths(shot_dir)
    frames = []
    size = None
    for i, img in enumerate(iter_frames(clip), start=1):
        if i > n:
            break
        write_rgb8(paths.plate_frame(i), img)
        frames.append(i)
        size = img.shape[1], img.shape[0]
    if len(frames) < n:
        raise SystemExit(f"{clip}: only {len(frames)} frames; need {n}")
    assert size is not None
    cam = fixed_camera(*size)
    point = [0.0, 1.5 / math.tan(math.radians(20.0)), 0.0]
    m = np.eye(4)
    m[:3, 3] = point
    shot = Shot(name="bench-light", resolution=list(size), frames=frames, camera=CameraTrack(kind="static", frames={f: cam for f in frames}),
                product=Product(matrix_world=m.tolist()), ground=Ground(point=point), lighting=Lighting(estimated=True))
    paths.save_shot(shot)
    return shot


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", default="dog-lawn")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--work", type=Path, default=ROOT / "out" / "bench" / "light_shot")
    p.add_argument("--json", type=Path, default=ROOT / "out" / "bench" / "light.json")
    a = p.parse_args(argv)
    clip_dir = ROOT.parent / "shared" / "data" / "video" / a.clip
    clips = sorted(clip_dir.glob("*.mp4"))
    if not clips:
        raise SystemExit(f"{clip_dir}: no .mp4 clip there (shared data missing?)")
    shot = build_shot(clips[0], a.work, a.frames)
    t0, c0 = time.perf_counter(), time.process_time()
    info = estimate_shot(a.work)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    shutter = estimate_shutter(a.work)
    s_wall, s_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    blur = estimate_frame_blur(a.work)
    b_wall, b_cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {"clip": a.clip, "frames": len(shot.frames), "resolution": shot.resolution, "wall_s": wall, "cpu_s": cpu,
           "frames_used": info["frames_used"], "hard_key": info["hard_key"], "notes": info["notes"],
           "shutter": {"wall_s": s_wall, "cpu_s": s_cpu, "frames_used": shutter["frames_used"], "why": shutter["why"]},
           "frame_blur": {"wall_s": b_wall, "cpu_s": b_cpu, "pairs": blur["pairs"], "note": blur["note"]},
           "total_wall_s": wall + s_wall + b_wall, "target_s": 30.0}
    atomic_write_json(a.json, out)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
