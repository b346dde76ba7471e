"""`vanelia run`: plate + GLB -> final.mp4, the whole pipeline headless (app.run does the work).

This module only turns the command line into ``app.run.RunOptions``, draws a progress bar
and prints; see app/run.py for the steps.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from app.light_render import LIGHT_CHOICES
from app.run import DEFAULT_PLACE, RunOptions, run_pipeline
from app.stages import CHECKPOINT_ENV
from shotcache.areas import PLACEMENT_AREAS
from shotcache.camera_ground import KNOWN_SIZE_HELP
from shotcache.errors import UsageError
from shotcache.engines import ENGINES
from shotcache.key_pick import FORMAT as KEY_PICK_FORMAT, HELP as KEY_PICK_HELP
from shotcache.schema import GROUND_COVER_HELP, STAGES, TRACKERS

COMPOSITOR_TYPES = ENGINES["composite"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="the whole pipeline: plate + GLB -> final.mp4", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(func=main_args)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, type=Path, help="plate: video file or folder of frames")
    p.add_argument("--model", required=True, type=Path, help="product .glb")
    p.add_argument("--output", required=True, type=str,
                   help="final .mp4 to write (contact sheet goes next to it), or an image sequence: a folder DIR/ "
                        "or a pattern such as DIR/comp.####.exr (PNG 8-bit sRGB or EXR half linear)")
    p.add_argument("--format", dest="output_format", choices=("png", "exr"), default=None, help="image-sequence format (default: pattern extension, else png)")
    p.add_argument("--light", choices=LIGHT_CHOICES, default="plate",
                   help="plate: environment + key light estimated from the footage (default); legacy: plate mean + a sun "
                        "through the brightest block; shot: the light the shot folder records (edited in the panel)")
    p.add_argument("--product-matrix", default=None,
                   help="product matrix_world: 16 comma-separated numbers (row-major 4x4) or a .json holding a 4x4 list (overrides --place)")
    p.add_argument("--camera", type=Path, default=None, help="camera track: transforms.json, COLMAP text folder or .blend (solved from the plate when absent)")
    p.add_argument("--frames", default=None, help="A:B frame range (inclusive)")
    p.add_argument("--resolution", default=None, help="WxH (default: the plate's)")
    p.add_argument("--samples", type=int, default=None, help="Cycles samples per pixel")
    p.add_argument("--stages", default=None, help=f"comma list of {','.join(STAGES)} (default: composite; +inpaint with --mask)")
    p.add_argument("--compositor-type", choices=COMPOSITOR_TYPES, default=None,
                   help="composite engine (default: photorealistic when its checkpoint is configured, else classical)")
    p.add_argument("--engine", action="append", default=[], metavar="STAGE=NAME", help="engine of another stage, e.g. inpaint=telea")
    p.add_argument("--param", action="append", default=[], metavar="STAGE.KEY=VALUE", help="engine parameter, e.g. composite.grain=0.5")
    p.add_argument("--mask", type=Path, default=None, help="folder of removal masks (white = remove), one per frame")
    p.add_argument("--holdout", type=Path, default=None,
                   help="folder of holdout mattes (white = something in front of the product, which hides it), "
                        "matched to plate frames by frame number")
    p.add_argument("--keep-placement", action="store_true",
                   help="stand the product exactly where the placement puts it on the solved ground, without checking "
                        "the spot against the plate's own ground texture")
    p.add_argument("--no-auto-holdout", action="store_true",
                   help="do not hide the product automatically behind moving things in front of it")
    p.add_argument("--no-auto-masks", action="store_true",
                   help="do not mask what moves on its own in the plate (flow the camera cannot explain) for the "
                        "tracker and the lock QC; --mask and --holdout still apply")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--keep", type=Path, default=None, help="keep the shot cache in this folder (re-runs reuse it)")
    p.add_argument("--server", default=None, help="run the stages on a running sidecar at this URL")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="render and run the stages on a Ray cluster: 'local' (one in this process) or HOST:PORT of a Ray head")
    p.add_argument("--token", default=os.environ.get("VANELIA_TOKEN"), help="sidecar token (or $VANELIA_TOKEN)")
    p.add_argument("--blender", default=None, help="blender binary to render with (default: the bpy module)")
    p.add_argument("--device", default="auto", help="cpu | cuda | auto")
    p.add_argument("--checkpoint", action="append", default=[], metavar="STAGE=PATH", help="checkpoint of a learned engine")
    p.add_argument("--checkpoints", type=Path, default=None, help=f"folder of checkpoints <stage>.safetensors (or ${CHECKPOINT_ENV})")
    p.add_argument("--no-fallback", action="store_true", help="fail instead of using a classical engine when a learned one is unavailable")
    p.add_argument("--contact-frames", type=int, default=4)
    p.add_argument("--product-size", type=float, default=None, help="largest product dimension in metres (render option)")
    p.add_argument("--ground", default=None, help="ground plane 'px,py,pz,nx,ny,nz' (render option)")
    p.add_argument("--light-dir", default=None, help="key light direction 'x,y,z' (render option; default estimated)")
    p.add_argument("--key-from-shadow", default=None, metavar=KEY_PICK_FORMAT, help=KEY_PICK_HELP + " (render option)")
    p.add_argument("--motion-blur", default="auto", metavar="auto|off|SHUTTER",
                   help="camera motion blur: auto (default: the shutter measured from the plate's own motion blur), off, "
                        "or a shutter in frames (0.5 = 180 degrees)")
    p.add_argument("--codec-match", default="auto", metavar="auto|off|CRF",
                   help="the product through the plate's codec, so it is compressed as the plate was: auto (default: the quality "
                        "measured from a video plate's rate; nothing for image sequences), off, or an H.264 CRF (about 18-28 "
                        "for cameras). Never for an EXR sequence")
    p.add_argument("--ground-cover", type=float, default=None, metavar="METRES",
                   help=GROUND_COVER_HELP + " (default: what a --keep folder records, else bare ground)")
    p.add_argument("--tracker", choices=TRACKERS, default="auto",
                   help="camera solver when no --camera is given (auto: video tracks + COLMAP's mapper for clips, Blender's tracker when that solve is weak or upside down, COLMAP on SIFT matches for stills; blender: Blender's tracker only)")
    p.add_argument("--focal-mm", type=float, default=None, help="known focal length in mm (36 mm sensor width) for the solve")
    p.add_argument("--camera-height", type=float, default=None,
                   help="camera height above the ground in metres: the scene's scale (default: a typical 1.5 m unless --known-size)")
    p.add_argument("--known-size", default=None, metavar="X1,Y1,X2,Y2=METRES[@FRAME]",
                   help=f"scale of a camera solved here from a known size: {KNOWN_SIZE_HELP}")
    p.add_argument("--place", default=None, metavar="AREA",
                   help=f"stand the product on the solved ground inside this part of the frame: {'|'.join(PLACEMENT_AREAS)}, "
                        f"a pixel 'x,y' or a box 'x0,y0,x1,y1' (default {DEFAULT_PLACE} when the camera is solved here)")
    p.add_argument("--force", action="store_true",
                   help="composite even when the track QC or the shot QC (lock, plausibility) refuses it; never without the product")
    p.add_argument("--place-prompt", default=None, metavar="TEXT",
                   help="text-guided placement: stand the product where CLIPSeg finds TEXT (e.g. 'grass') inside --place's area")
    p.add_argument("--clipseg", type=Path, default=None, help="local CLIPSeg model folder for --place-prompt (or $VANELIA_CLIPSEG_DIR)")


def _kv(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for it in items:
        if "=" not in it:
            raise UsageError(f"{what} {it!r}: expected KEY=VALUE")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _value(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def options_from_args(args: argparse.Namespace) -> RunOptions:
    stages = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages else ["composite"]
    params: dict[str, Any] = {}
    for key, val in _kv(args.param, "--param").items():
        stage, _, name = key.partition(".")
        if not name:
            params[stage] = _value(val)
        else:
            params.setdefault(stage, {})[name] = _value(val)
    return RunOptions(
        input=args.input, model=args.model, output=Path(args.output), camera=args.camera, frames=args.frames,
        resolution=args.resolution, samples=args.samples, stages=stages, compositor_type=args.compositor_type,
        engines=_kv(args.engine, "--engine"), params=params, mask=args.mask, holdout=args.holdout,
        auto_holdout=not args.no_auto_holdout, auto_masks=not args.no_auto_masks, refine_contact=not args.keep_placement, seed=args.seed, keep=args.keep,
        server=args.server, ray=args.ray, token=args.token, blender=args.blender, device=args.device,
        checkpoints=_kv(args.checkpoint, "--checkpoint"), checkpoint_dir=args.checkpoints,
        allow_fallback=not args.no_fallback, contact_frames=args.contact_frames,
        render_extra=_render_extra(args), tracker=args.tracker, focal_mm=args.focal_mm,
        camera_height=args.camera_height, known_size=args.known_size, place=args.place, force=args.force,
        place_prompt=args.place_prompt, clipseg=args.clipseg, light=args.light, product_matrix=args.product_matrix,
        output_format=args.output_format, sequence=_is_sequence(str(args.output)), motion_blur=args.motion_blur,
        codec_match=args.codec_match, ground_cover=args.ground_cover,
    )


def _is_sequence(raw: str) -> bool:
    from app.sequence import is_sequence
    from shotcache.frames import VIDEO_OUTPUT_EXTS

    return Path(raw).suffix.lower() not in VIDEO_OUTPUT_EXTS and is_sequence(Path(raw), raw)


def _render_extra(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for flag, key in (("--product-size", "product_size"), ("--ground", "ground"), ("--light-dir", "light_dir"),
                      ("--key-from-shadow", "key_from_shadow")):
        val = getattr(args, key, None)
        if val is not None:
            out.append(f"{flag}={val}")  # '=' form: values such as '-0.2,0.6,0.7' start with '-'
    return out


class _Bars:
    """tqdm bars fed by app.run's ``on_progress(step, done, total)``."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict[str, Any] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(step)
        if bar is None:
            bar = self.bars[step] = tqdm(total=total, desc=step, unit="frame", disable=not self.enabled, file=sys.stderr,
                                         dynamic_ncols=True)
        bar.total = total or bar.total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def main_args(args: argparse.Namespace) -> int:
    opts = options_from_args(args)
    bars = _Bars(opts.progress)
    try:
        summary = run_pipeline(opts, log=print, on_progress=bars)
    finally:
        bars.close()
    return 0 if summary["frames_written"] else 1
