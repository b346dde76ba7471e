"""Benchmark: tracking + solve of a 100-frame 720p clip (app.track.track_plate, default tracker).

Input: a real clip (default ../shared/data/video/dog-lawn/dog-example.mp4, 1280x720, 122
frames; the first ``--frames`` are tracked at the plate's own resolution) or any video or
folder of frames given with ``--input``. ``track_plate`` runs exactly as `vanelia track`
runs it (tracker ``auto``); its phases are timed by wrapping the functions it calls (frame
decode, feature checks, video tracks, Blender's tracker, COLMAP mapper, levelling + QC,
writing). The machine's load average (/proc/loadavg) before and after is recorded: other
processes sharing the CPUs slow the run. Target (issue "Locked to real footage"): <= 60 s
for 100 frames at 720p on 2 cores.

    python scripts/bench_track.py [--input CLIP] [--frames 100] [--json docs/bench_track.json]
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app.track as track_mod  # noqa: E402

DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "video" / "dog-lawn" / "dog-example.mp4"
TARGET_S = 60.0


def loadavg() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


class Phases:
    """Wall and CPU seconds per wrapped function (summed over calls)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        fn: Callable[..., Any] = getattr(owner, attr)

        @functools.wraps(fn)
        def timed(*a: Any, **k: Any) -> Any:
            t0, c0 = time.perf_counter(), _cpu()
            try:
                return fn(*a, **k)
            finally:
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - t0
                self.cpu[name] = self.cpu.get(name, 0.0) + _cpu() - c0
                self.calls[name] = self.calls.get(name, 0) + 1

        setattr(owner, attr, timed)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (Blender, COLMAP run in children)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", type=Path, default=DEFAULT_CLIP, help="video or folder of frames (default: dog-lawn, 1280x720)")
    ap.add_argument("--frames", type=int, default=100, help="track the first N frames")
    ap.add_argument("--max-side", type=int, default=0, help="downscale frames to this longest side (0: the plate's own size)")
    ap.add_argument("--tracker", default="auto", help="as `vanelia track --tracker` (default auto: the default tracker)")
    ap.add_argument("--json", type=Path, default=ROOT / "docs" / "bench_track.json")
    a = ap.parse_args(argv)
    if not a.input.exists():
        raise SystemExit(f"{a.input}: no such clip; give --input VIDEO_OR_FOLDER")

    phases = Phases()
    phases.wrap(track_mod, "check_track_inputs", "preflight_probe")
    phases.wrap(track_mod.footage, "extract_frames", "decode_frames")
    phases.wrap(track_mod.footage, "feature_count", "feature_check")
    phases.wrap(track_mod.footage, "median_motion", "motion_check")
    phases.wrap(track_mod, "track_frames", "video_tracks")
    phases.wrap(track_mod, "_blender_solve", "blender_tracker")
    phases.wrap(track_mod, "solve_clip", "colmap_clip_solve")
    phases.wrap(track_mod, "solve_images", "colmap_stills_solve")
    phases.wrap(track_mod, "level_and_qc", "level_and_qc")
    phases.wrap(track_mod, "write_solve", "write_transforms")

    lines: list[tuple[float, str]] = []
    t_start = time.perf_counter()

    def log(line: str) -> None:
        lines.append((round(time.perf_counter() - t_start, 2), line))
        print(f"[{time.perf_counter() - t_start:7.1f} s] {line}", flush=True)

    # Blender's tracker prints its progress itself: timestamp its lines too
    batch = track_mod.run_batch
    track_mod.run_batch = lambda step, args, *r, **k: batch(step, args, *r, **{**k, "on_line": k.get("on_line") or (
        lambda line: log(line.strip()) if line.startswith("[vanelia]") else None)})

    load_before = loadavg()

    def stopped(signum: int, _frame: Any) -> None:
        """Killed (a time limit): keep what was measured so far."""
        partial = {"input": str(a.input), "frames_requested": a.frames, "stopped_by_signal": signum,
                   "wall_s_until_stopped": round(time.perf_counter() - t_start, 2),
                   "phases_wall_s_finished": {k: round(v, 2) for k, v in phases.wall.items()},
                   "loadavg_before": load_before, "loadavg_at_stop": loadavg(), "cpus": os.cpu_count(), "log": lines}
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(partial, indent=2) + "\n")
        raise SystemExit(f"stopped by signal {signum} after {partial['wall_s_until_stopped']} s; partial report -> {a.json}")

    signal.signal(signal.SIGTERM, stopped)
    signal.signal(signal.SIGINT, stopped)
    with tempfile.TemporaryDirectory(prefix="bench-track-") as tmp:
        out = Path(tmp) / "transforms.json"
        t0, c0 = time.perf_counter(), _cpu()
        qc = track_mod.track_plate(a.input, out, tracker=a.tracker, frames=(1, a.frames), max_side=a.max_side, log=log)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        doc = json.loads(out.read_text())
    load_after = loadavg()
    per_100 = wall / max(1, a.frames) * 100
    report = {
        "input": str(a.input), "frames_requested": a.frames, "frames_solved": len(doc.get("frames", [])),
        "resolution": [doc.get("w"), doc.get("h")], "max_side": a.max_side, "tracker_option": a.tracker,
        "tracker_used": doc.get("tracker"), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "seconds_per_100_frames": round(per_100, 2), "target_s": TARGET_S, "within_target": wall <= TARGET_S,
        "phases_wall_s": {k: round(v, 2) for k, v in phases.wall.items()},
        "phases_cpu_s": {k: round(v, 2) for k, v in phases.cpu.items()},
        "phase_calls": phases.calls,
        "qc": {k: qc.get(k) for k in ("usable", "reason", "median_error_px", "solved_fraction")},
        "unreliable_frames": len(qc.get("unreliable_frames") or []),
        "loadavg_before": load_before, "loadavg_after": load_after, "cpus": os.cpu_count(),
        "machine": platform.platform(), "python": platform.python_version(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "log": lines,
    }
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"track {report['frames_solved']} frames {report['resolution'][0]}x{report['resolution'][1]} "
          f"({report['tracker_used']}): {wall:.1f} s wall, {cpu:.1f} s CPU (target {TARGET_S:g} s) "
          f"load {load_before} -> {load_after}")
    for k, v in sorted(phases.wall.items(), key=lambda kv: -kv[1]):
        print(f"  {k:22s} {v:7.2f} s wall  {phases.cpu[k]:7.2f} s CPU  ({phases.calls[k]} call(s))")
    print(f"-> {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
