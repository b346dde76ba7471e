"""`vanelia diffuse`: diffusion refinement / insertion of a composite image or a folder of frames.

    vanelia diffuse --composite comp.png --mask mask.png --prompt "a bag on the table" \
        --engine sdedit --model-dir ~/models/sd15 --strength 0.4 --steps 30 --seed 7 --output out.png

A folder runs as one shot (same seed and noise; ``--temporal blend|keyframe``) and prints the
flicker (warping error) of the result next to that of the composites. ``--render`` gives the
multilayer EXR(s) with the product's passes (alpha, depth, normal, shadow catcher) that the
controlnet and iclight engines condition on. Inputs are never overwritten.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from shotcache.engines import ENGINES

COMMAND_DEFAULT = "sdedit"
"""`vanelia diffuse` exists to diffuse: its default is a diffusion engine, not the pipeline's 'none'."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("diffuse", help="diffusion refinement / insertion", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--composite", required=True, help="composite image or folder of frames")
    p.add_argument("--mask", help="region to diffuse (image, or folder matching the frames); default: the render's alpha+shadow")
    p.add_argument("--render", help="multilayer EXR (or folder) with the product passes (rgba, depth, normal, shadow_catcher)")
    p.add_argument("--plate", help="background plate image/folder (iclight conditions on it; default: the composite)")
    p.add_argument("--output", "-o", required=True, help="output image (single input) or folder (folder input)")
    p.add_argument("--engine", choices=ENGINES["diffuse"], default=COMMAND_DEFAULT)
    p.add_argument("--model-dir", help="local diffusers model folder (default $VANELIA_MODEL_DIR)")
    p.add_argument("--prompt", default="")
    p.add_argument("--negative-prompt", default="")
    p.add_argument("--strength", type=float, help="start noise level in (0, 1] (engine default when omitted)")
    p.add_argument("--steps", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--guidance", type=float)
    p.add_argument("--sampler", help="ddim|euler|euler_a|dpm++|pndm (A1111/ComfyUI: their sampler names)")
    p.add_argument("--control", default="depth", help="controlnet: depth, normal or depth+normal")
    p.add_argument("--iclight-offset", help="IC-Light offset .safetensors (default <model-dir>/iclight/*.safetensors)")
    p.add_argument("--dilate", type=int, default=8, help="pixels the region grows before diffusing")
    p.add_argument("--feather", type=int, default=4)
    p.add_argument("--max-side", type=int, help="work at most at this size (longer side)")
    p.add_argument("--temporal", default="fixed", choices=("fixed", "blend", "keyframe", "independent"))
    p.add_argument("--latent-blend", type=float, default=0.25)
    p.add_argument("--keyframe-interval", type=int, default=8)
    p.add_argument("--device", default="auto")
    p.add_argument("--url", help="A1111 / ComfyUI URL (default http://127.0.0.1:7860 / :8188)")
    p.add_argument("--workflow", help="ComfyUI API-format workflow JSON with {{placeholders}}")
    p.add_argument("--comfy-checkpoint", help="checkpoint name for the built-in ComfyUI workflow")
    p.add_argument("--lora", action="append", default=[], help="A1111 LoRA tag NAME:WEIGHT (repeatable)")
    p.add_argument("--report", help="write a JSON report (engine, timings, flicker) here")
    p.set_defaults(func=run)
    return p


def _frames(path: str | None, what: str, n: int | None = None) -> list[Path] | None:
    from ml.io.images import IMAGE_EXTS, list_frames

    if not path:
        return None
    p = Path(path)
    if p.is_dir():
        files = list_frames(p, IMAGE_EXTS + (".exr",))
        if not files:
            raise FileNotFoundError(f"{p}: no {what} frames in this folder")
        if n is not None and len(files) != n:
            raise FileNotFoundError(f"{p}: {len(files)} {what} frames but {n} composites; give one per frame")
        return files
    if not p.is_file():
        raise FileNotFoundError(f"{p}: {what} not found")
    return [p] * (n or 1)


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {
        "prompt": args.prompt,
        "negative_prompt": args.negative_prompt,
        "seed": args.seed,
        "control": args.control,
        "dilate_px": args.dilate,
        "feather_px": args.feather,
        "max_side": args.max_side,
        "temporal": args.temporal,
        "latent_blend": args.latent_blend,
        "keyframe_interval": args.keyframe_interval,
        "iclight_offset": args.iclight_offset,
        "workflow": args.workflow,
        "comfy_checkpoint": args.comfy_checkpoint,
        "loras": ",".join(args.lora) if args.lora else None,
    }
    for name in ("strength", "steps", "guidance", "sampler"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    if args.model_dir:
        params["model_dir"] = args.model_dir
    if args.url:
        params["url"] = args.url
    return params


def _progress(i: int, n: int):
    def report(frac: float) -> None:
        sys.stderr.write(f"\rframe {i + 1}/{n}: {frac * 100:5.1f}%")
        sys.stderr.flush()

    return report


def run(args: argparse.Namespace) -> int:
    from shotcache.errors import UsageError
    from ml.io.exr import read_passes
    from ml.io.images import read_linear, read_mask, write_linear
    from ml.stages import base
    from ml.stages.base import FrameState

    from .temporal import warping_error

    comp_in = Path(args.composite)
    single = comp_in.is_file()
    comps = _frames(args.composite, "composite")
    assert comps is not None
    n = len(comps)
    masks_ = _frames(args.mask, "mask", n)
    renders = _frames(args.render, "render", n)
    plates = _frames(args.plate, "plate", n)
    out = Path(args.output)
    if single and out.resolve() == comp_in.resolve():
        raise UsageError(f"--output {out} is the input composite; choose another path (inputs are never overwritten)")
    if not single and out.exists() and not out.is_dir():
        raise UsageError(f"--output {out} must be a folder when --composite is a folder")
    if not single and out.resolve() == comp_in.resolve():
        raise UsageError("--output folder is the input folder; choose another one")

    engine = base.create("diffuse", args.engine)
    checkpoint = args.url if getattr(engine, "takes_url", False) else args.model_dir
    engine.setup(args.device, checkpoint)
    engine.reset()
    params = _params(args)
    outputs, refs, written = [], [], []
    import time

    t0 = time.perf_counter()
    for i, path in enumerate(comps):
        comp = read_linear(path)
        passes = read_passes(renders[i]) if renders else {}
        rgba = passes.pop("rgba", None)
        plate = read_linear(plates[i]) if plates else comp
        mask = read_mask(masks_[i]) if masks_ else None
        frame = FrameState(i, plate, rgba, passes, mask=mask, composite=comp)
        result = engine.process(frame, dict(params, progress=_progress(i, n)))
        target = out if single else out / f"{Path(path).stem}.png"
        written.append(str(write_linear(target, result)))
        if n > 1:
            outputs.append(result)
            refs.append(comp)
    sys.stderr.write("\n")
    seconds = time.perf_counter() - t0
    report: dict[str, Any] = {"engine": args.engine, "frames": n, "seconds": seconds, "seconds_per_frame": seconds / n, "outputs": written}
    if n > 1:
        report["flicker"] = warping_error(outputs, refs)
        f = report["flicker"]
        print(f"flicker (warping error, linear RGB): diffused {f['diffused']:.5f} vs composite {f['composite']:.5f} (ratio {f['ratio']:.2f})")
    print(f"{args.engine}: {n} frame(s) in {seconds:.2f} s -> {out}")
    if args.report:
        from shotcache.layout import atomic_write_json

        atomic_write_json(args.report, report)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vanelia")
    sub = parser.add_subparsers()
    add_parser(sub)
    args = parser.parse_args(["diffuse", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
