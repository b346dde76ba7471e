"""`vanelia composite --composite IMG --mask MASK --output OUT [--engine ...] [--checkpoint PATH]`.

Harmonizes the masked region of a composite image; pixels outside the mask are kept. The
default engine is ``photorealistic`` when a checkpoint is there (given, or the repository's
default), ``classical`` otherwise; the output file is written atomically and an existing
output is only replaced by a complete new file.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from shotcache.engines import CLASSICAL, LEARNED_DEFAULT, default_engine
from shotcache.frames import RGB8_EXTS

IMAGE_ENGINES = (LEARNED_DEFAULT["composite"], CLASSICAL["composite"])
"""Composite engines that harmonize a single image (the others need a shot's passes)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    # `harmonize` is the command's old name, kept as an alias for scripts and docs/NUMBERS.md
    p = subparsers.add_parser("composite", aliases=["harmonize"], help="harmonize a composite image inside a mask",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--composite", required=True, help="composite image (sRGB)")
    p.add_argument("--mask", required=True, help="mask image: white = the inserted object to harmonize")
    p.add_argument("--output", required=True, help="output image path (.png / .jpg)")
    p.add_argument("--engine", choices=IMAGE_ENGINES, default=None, help="default: the learned engine if its checkpoint exists")
    p.add_argument("--checkpoint", default=None, help="photorealistic checkpoint (.safetensors)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--strength", type=float, default=1.0, help="0 = unchanged, 1 = full correction")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml.io.images import read_mask, read_rgb8, write_rgb8
    from ml.stages import base

    from .evaluate import CLASSICAL_PARAMS
    from .photorealistic_engine import harmonize_image, resolve_checkpoint

    comp = read_rgb8(args.composite).astype(np.float32) / 255.0
    mask = read_mask(args.mask)
    if mask.shape != comp.shape[:2]:
        raise ValueError(f"{args.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but {args.composite} is {comp.shape[1]}x{comp.shape[0]}")
    if mask.max() <= 0:
        print(f"vanelia composite: {args.mask} has no white pixel; writing the composite unchanged")
    out_path = Path(args.output)
    if out_path.suffix.lower() not in RGB8_EXTS:
        raise ValueError(f"--output {out_path}: use an image extension (.png, .jpg, ...)")
    name = default_engine("composite", {"composite": args.engine} if args.engine else {},
                          lambda stage, learned: resolve_checkpoint(args.checkpoint).is_file())
    engine = base.create("composite", name)
    engine.setup(args.device, args.checkpoint if engine.learned else None)
    params = {"strength": args.strength, **(CLASSICAL_PARAMS if name == CLASSICAL["composite"] else {})}
    out = harmonize_image(engine, comp, mask, params) if mask.max() > 0 else comp
    write_rgb8(out_path, (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8))
    print(f"harmonized with '{name}' -> {out_path}")
    return 0
