"""`vanelia segment`: a text-prompted mask (CLIPSeg), a cut-out object, or a placement pixel.

    vanelia segment --image photo.png --text "dog" --output dog_mask.png [--model-dir DIR]
    vanelia segment --image bag.jpg --text "bag" --output bag_rgba.png --cutout
    vanelia segment --image plate.png --text "grass" --place bottom_right --object-size 80x60 --output heat.png
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("segment", help="text-prompted mask with CLIPSeg", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", required=True)
    p.add_argument("--text", required=True, help='what to find, e.g. "dog", "table top"')
    p.add_argument("--output", "-o", required=True, help="mask PNG (cut-out RGBA PNG with --cutout, heat map PNG with --place)")
    p.add_argument("--model-dir", help="local CLIPSeg folder (default $VANELIA_CLIPSEG_DIR or $VANELIA_MODEL_DIR/clipseg)")
    p.add_argument("--threshold", type=float, default=0.4)
    p.add_argument("--cutout", action="store_true", help="write the object with its background removed (RGBA, cropped)")
    p.add_argument("--place", help="target area top_left|top_right|bottom_left|bottom_right|center or x0,y0,x1,y1: print the best pixel as JSON")
    p.add_argument("--object-size", help="product footprint WxH in pixels for --place")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from shotcache.errors import UsageError
    from ml.io.images import read_rgb8, write_mask, write_rgb8

    from ml.camera.text_placement import text_guided_placement
    from .segment import Segmenter, remove_background

    image = read_rgb8(args.image)
    if Path(args.output).resolve() == Path(args.image).resolve():
        raise UsageError(f"--output {args.output} is the input image; choose another path")
    seg = Segmenter(args.model_dir, None if args.device == "auto" else args.device)
    if args.place:
        size = None
        if args.object_size:
            try:
                w, h = (int(v) for v in args.object_size.lower().split("x"))
                size = (w, h)
            except ValueError as exc:
                raise UsageError(f"--object-size {args.object_size!r}: use WxH, e.g. 80x60") from exc
        pl = text_guided_placement(seg, image, args.text, args.place, size)
        heat = (seg.heatmap(image, args.text) * 255).astype(np.uint8)
        vis = cv2.applyColorMap(heat, cv2.COLORMAP_INFERNO)[..., ::-1].copy()
        x0, y0, x1, y1 = pl.box
        cv2.rectangle(vis, (x0, y0), (x1 - 1, y1 - 1), (0, 255, 0), 1)
        cv2.drawMarker(vis, (pl.x, pl.y), (0, 255, 255), cv2.MARKER_CROSS, 9, 2)
        write_rgb8(args.output, vis)
        print(json.dumps(pl.to_dict()))
        return 0
    if args.cutout:
        rgba, box = remove_background(image, args.text, seg, args.threshold)
        write_rgb8(args.output, rgba)
        print(f"cut-out {rgba.shape[1]}x{rgba.shape[0]} from box {box} -> {args.output}")
        return 0
    mask = seg.segment(image, args.text, args.threshold)
    write_mask(args.output, mask)
    print(f"mask of {args.text!r}: {mask.mean() * 100:.1f}% of the image -> {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vanelia")
    sub = parser.add_subparsers()
    add_parser(sub)
    args = parser.parse_args(["segment", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
