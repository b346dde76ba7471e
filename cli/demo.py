"""`vanelia demo`: the whole pipeline on data the project generates itself (nothing downloaded).

1. ``demo-data`` (Blender batch step): a procedurally textured set rendered along a moving
   camera -> a plate with an exact camera track, and a procedural PBR product GLB;
2. ``vanelia run`` on it -> ``final.mp4`` + ``final_contact.png``;
3. ``sequencer`` (Blender batch step) -> ``demo.blend`` whose sequencer holds the plate strip
   and the composite version strip.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from app.blender import run_batch
from app.run import RunOptions, run_pipeline
from shotcache.engines import ENGINES
from shotcache.errors import UsageError
from shotcache.frames import VIDEO_EXTS, parse_resolution

DEFAULT_OUTPUT = Path("out/demo")
def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the pipeline on generated data (no download)", description=__doc__.split("\n\n")[0])
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"folder for final.mp4, the contact sheet and demo.blend (default {DEFAULT_OUTPUT})")
    p.add_argument("--frames", type=int, default=24, help="number of frames (default 24)")
    p.add_argument("--resolution", default="640x360", help="WxH (default 640x360)")
    p.add_argument("--samples", type=int, default=16, help="Cycles samples (default 16)")
    p.add_argument("--compositor-type", default=None, choices=ENGINES["composite"])
    p.add_argument("--blender", default=None, help="blender binary (default: the bpy module)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--no-blend", action="store_true", help="skip writing demo.blend")
    p.set_defaults(func=main_args)


def main_args(args: argparse.Namespace) -> int:
    summary = run_demo(
        args.output, frames=args.frames, resolution=args.resolution, samples=args.samples,
        compositor_type=args.compositor_type, blender=args.blender, device=args.device, seed=args.seed,
        blend=not args.no_blend,
    )
    return 0 if summary["frames_written"] else 1


def find_demo_inputs(data_dir: Path) -> dict[str, Path]:
    """The plate, product and camera track that the demo-data step wrote."""
    def first(patterns: tuple[str, ...]) -> Path | None:
        for pat in patterns:
            hits = sorted(data_dir.rglob(pat))
            if hits:
                return hits[0]
        return None

    glb = first(("*.glb",))
    cam = first(("transforms.json", "cameras.txt"))
    plate = next((p for p in sorted(data_dir.rglob("*")) if p.suffix.lower() in VIDEO_EXTS), None)
    if plate is None:
        plate = data_dir / "plate" if (data_dir / "plate").is_dir() else None
    if cam is not None and cam.name == "cameras.txt":
        cam = cam.parent
    missing = [n for n, v in (("product .glb", glb), ("camera track", cam), ("plate", plate)) if v is None]
    if missing:
        raise UsageError(f"the demo-data step wrote no {', '.join(missing)} into {data_dir}; see its messages above")
    return {"plate": plate, "model": glb, "camera": cam}  # type: ignore[dict-item]


def run_demo(
    output: Path = DEFAULT_OUTPUT,
    frames: int = 24,
    resolution: str = "640x360",
    samples: int = 16,
    compositor_type: str | None = None,
    blender: str | None = None,
    device: str = "auto",
    seed: int = 12345,
    blend: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    if frames < 1:
        raise UsageError(f"--frames {frames}: need at least 1 frame")
    w, h = parse_resolution(resolution)
    output = output.resolve()
    data_dir = output / "data"
    shot_dir = output / "shot"
    log(f"[vanelia] demo: generating the demo set ({frames} frames at {w}x{h}) in {data_dir}")
    run_batch("demo-data", ["--output", str(data_dir), "--frames", str(frames), "--resolution", f"{w}x{h}"], blender)
    inputs = find_demo_inputs(data_dir)
    opts = RunOptions(
        input=inputs["plate"], model=inputs["model"], camera=inputs["camera"], output=output / "final.mp4",
        resolution=f"{w}x{h}", samples=samples, compositor_type=compositor_type, keep=shot_dir, blender=blender,
        device=device, seed=seed, progress=progress,
    )
    summary = run_pipeline(opts, log=log)
    if blend:
        blend_path = output / "demo.blend"
        run_batch("sequencer", ["--shot", str(shot_dir), "--version", summary["version"], "--output", str(blend_path)], blender)
        summary["blend"] = str(blend_path)
        log(f"[vanelia] demo: {blend_path} holds the plate and the composite ({summary['version']}) in its sequencer")
    (output / "demo_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
