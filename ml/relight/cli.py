"""`vanelia relight --shot DIR --output DIR [--engine unet|lambert|none]`: re-shade a shot's renders.

Writes per frame ``OUTPUT/NNNNNN.exr`` (canonical ``rgba`` pass: linear, straight alpha = the
render's) and ``OUTPUT/NNNNNN.png`` (sRGB preview), plus ``OUTPUT/relight.json`` saying which
engine shaded each frame and which frames were skipped and why. With no usable unet checkpoint
the command falls back to ``lambert`` and says so (``--no-fallback`` makes that an error).
The shot's own files are never written.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from shotcache.engines import ENGINES, LEARNED_DEFAULT
from shotcache.errors import UsageError
from shotcache.frames import select_frames
from shotcache.layout import ShotPaths, atomic_write_json, check_writable


def parse_frames(text: str | None, available: list[int]) -> list[int]:
    """'1,4,10-12' -> frame numbers (all of the shot's frames when empty): shotcache.frames' rule."""
    return select_frames(text, available)


def make_engine(name: str, checkpoint: str | None, device: str, fallback: bool) -> Any:
    from ml.stages.base import EngineUnavailable, create

    eng = create("relight", name)
    try:
        eng.setup(device, checkpoint)
    except EngineUnavailable as exc:
        if not fallback or not eng.fallback:
            raise
        print(f"vanelia relight: {exc}\nvanelia relight: falling back to '{eng.fallback}'", file=sys.stderr)
        eng = create("relight", eng.fallback)
        eng.setup(device, None)
    return eng


def run(args: argparse.Namespace) -> int:
    from ml.io.exr import write_passes
    from ml.io.images import write_linear
    from ml.pipeline.frames import FrameSkip, load_frame
    from ml.stages.base import MissingInput

    paths = ShotPaths(args.shot)
    shot = paths.load_shot()
    out = Path(args.output).resolve()
    for inside in (paths.render_dir, paths.plate_dir, paths.masks_dir):
        if out == inside.resolve() or inside.resolve() in out.parents:
            raise UsageError(f"--output {out} lies inside the shot's {inside.name}/ folder; choose a separate folder (nothing of the shot is overwritten)")
    check_writable(out)
    frames = parse_frames(args.frames, shot.frames)
    if not frames:
        raise UsageError(f"{paths.shot_json}: the shot lists no frames")
    engine = make_engine(args.engine, args.checkpoint, args.device, not args.no_fallback)
    params = {"lights": args.lights} if engine.name == "unet" else {}
    record: dict[str, Any] = {"shot": str(paths.root), "engine": engine.name, "asked": args.engine, "checkpoint": engine.checkpoint, "frames": {}, "skipped": {}}
    t0 = time.perf_counter()
    for f in frames:
        try:
            state = load_frame(paths, shot, f, need_render=True)
            engine.check_inputs(state)
            rgba = engine.process(state, params)
        except (FrameSkip, MissingInput) as exc:
            record["skipped"][str(f)] = str(exc)
            print(f"vanelia relight: skip: {exc}", file=sys.stderr)
            continue
        write_passes(out / f"{f:06d}.exr", {"rgba": rgba})
        write_linear(out / f"{f:06d}.png", rgba)
        record["frames"][str(f)] = engine.name
    record["seconds"] = round(time.perf_counter() - t0, 3)
    atomic_write_json(out / "relight.json", record)
    done = len(record["frames"])
    print(f"vanelia relight: {done}/{len(frames)} frames with '{engine.name}' -> {out} ({record['seconds']} s)")
    return 0 if done else 1


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("relight", help="re-shade the product renders of a shot", description=__doc__.splitlines()[0])
    p.add_argument("--shot", required=True, help="shot folder (shot.json + render/ EXRs)")
    p.add_argument("--output", required=True, help="folder for the relit frames")
    p.add_argument("--engine", default=LEARNED_DEFAULT["relight"], choices=ENGINES["relight"],
                   help="falls back to the classical engine when the learned one is unavailable")
    p.add_argument("--checkpoint", default=None, help="unet checkpoint (default checkpoints/relight/unet.safetensors)")
    p.add_argument("--frames", default=None, help="e.g. 1,5,10-20 (default: all)")
    p.add_argument("--lights", default="all", choices=("all", "strongest"), help="unet: shade with every light or the strongest")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-fallback", action="store_true", help="fail instead of using lambert when unet cannot run")
    p.set_defaults(func=run)
