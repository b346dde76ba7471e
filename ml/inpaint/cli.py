"""`vanelia inpaint`: remove masked regions from a frame folder or a video (clean plate).

Masks: white = remove; one mask per frame (same order) or a single mask for all frames.
Everything is checked before the first frame is written, and existing output frames are
never overwritten unless ``--overwrite`` is given.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ml.io.colour import linear_to_uint8, uint8_to_linear
from ml.io.images import IMAGE_EXTS, list_frames, read_mask, read_rgb8, write_rgb8
from ml.io.video import iter_frames, probe
from shotcache.frames import VIDEO_EXTS
from ml.stages.base import Engine, EngineError, FrameState, create
from shotcache.layout import check_writable

from .engines import FULL_FRAME

from shotcache.engines import CLASSICAL, ENGINES


@dataclass
class Source:
    """Frames from a folder or a video, with output names."""

    path: Path
    names: list[str]
    size: tuple[int, int]  # (h, w)

    def frames(self) -> Iterator[np.ndarray]:
        if self.path.is_dir():
            for p in list_frames(self.path):
                yield read_rgb8(p)
        else:
            yield from iter_frames(self.path)


def open_source(path: str | os.PathLike[str]) -> Source:
    path = Path(path)
    if path.is_dir():
        files = [p for p in list_frames(path) if p.suffix.lower() != ".exr"]
        if not files:
            raise FileNotFoundError(f"{path}: no image frames in this folder")
        first = read_rgb8(files[0])
        return Source(path, [p.stem + ".png" for p in files], first.shape[:2])
    if path.suffix.lower() in VIDEO_EXTS and path.is_file():
        info = probe(path)
        n = info["frames"] or sum(1 for _ in iter_frames(path))
        return Source(path, [f"{i:06d}.png" for i in range(n)], (info["height"], info["width"]))
    raise FileNotFoundError(f"{path}: not a folder of frames or a video ({', '.join(VIDEO_EXTS)})")


def load_masks(path: str | os.PathLike[str], n_frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """One mask per frame, or one for all; sizes must match the frames."""
    path = Path(path)
    files = [path] if path.is_file() else [p for p in list_frames(path, IMAGE_EXTS)]
    if not files:
        raise FileNotFoundError(f"{path}: no mask images")
    if len(files) not in (1, n_frames):
        raise EngineError(
            f"{path}: {len(files)} masks for {n_frames} frames; give one mask per frame or a single mask for all"
        )
    masks = [read_mask(f) for f in files]
    for f, m in zip(files, masks):
        if m.shape != size:
            raise EngineError(
                f"{f}: mask is {m.shape[1]}x{m.shape[0]} but the frames are {size[1]}x{size[0]}; resize the masks"
            )
        if m.mean() > FULL_FRAME:
            raise EngineError(f"{f}: the mask covers the whole frame; nothing is left to fill it from (white = remove: inverted?)")
    return masks * n_frames if len(masks) == 1 else masks


def make_engine(name: str, checkpoint: str | None, device: str) -> Engine:
    eng = create("inpaint", name)
    eng.setup(device, checkpoint)
    eng.reset()
    return eng


def run_engine(eng: Engine, plates: Iterator[np.ndarray], masks: list[np.ndarray], params: dict[str, Any]) -> Iterator[np.ndarray]:
    """Linear plates in, linear plates out (whole-sequence path when the engine has one)."""
    states = (FrameState(index=i, plate=p, mask=masks[i]) for i, p in enumerate(plates))
    if hasattr(eng, "process_sequence"):
        yield from eng.process_sequence(states, params)  # type: ignore[attr-defined]
    else:
        for st in states:
            eng.check_inputs(st)
            yield eng.process(st, params)


def inpaint_folder(
    frames: str, masks: str, output: str, engine: str = "propagate", checkpoint: str | None = None,
    device: str = "cpu", overwrite: bool = False, params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    src = open_source(frames)
    mlist = load_masks(masks, len(src.names), src.size)
    out_dir = Path(output)
    clash = [n for n in src.names if (out_dir / n).exists()]
    if clash and not overwrite:
        raise FileExistsError(f"{out_dir}: {len(clash)} output frames already exist (e.g. {clash[0]}); use --overwrite or another --output")
    check_writable(out_dir)  # before any frame is computed, not after all of them
    eng = make_engine(engine, checkpoint, device)
    t0 = time.perf_counter()
    originals: list[np.ndarray] = []

    def plates() -> Iterator[np.ndarray]:
        for img in src.frames():
            originals.append(img)
            yield uint8_to_linear(img)

    n = 0
    for i, res in enumerate(run_engine(eng, plates(), mlist, params or {})):
        orig = originals[i]
        out = linear_to_uint8(res)
        changed = np.abs(res - uint8_to_linear(orig)).max(axis=-1) > 0  # hole (+ dilation / seam)
        final = np.where(changed[..., None], out, orig)
        write_rgb8(out_dir / src.names[i], final)
        originals[i] = None  # type: ignore[call-overload]
        n += 1
    dt = time.perf_counter() - t0
    return {"frames": n, "engine": engine, "seconds": round(dt, 3), "fps": round(n / dt, 3) if dt else None, "output": str(out_dir)}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("inpaint", help="remove masked regions from frames (clean plate)", description=__doc__)
    p.add_argument("--frames", required=True, help="folder of frames or a video file")
    p.add_argument("--masks", required=True, help="folder of masks (white = remove), one per frame or one for all; or one mask file")
    p.add_argument("--output", required=True, help="output folder (PNG frames)")
    p.add_argument("--engine", default=CLASSICAL["inpaint"], choices=ENGINES["inpaint"])
    p.add_argument("--checkpoint", help="DSTT checkpoint (default checkpoints/inpaint/dstt.safetensors)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--window", type=int, help="propagation context frames per side (default 12)")
    p.add_argument("--dilate", type=int, default=0, help="grow the masks by this many pixels first (tight segmentation masks)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output frames")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"window": args.window} if args.window else {}
    if args.dilate:
        params["dilate"] = args.dilate
    try:
        info = inpaint_folder(args.frames, args.masks, args.output, args.engine, args.checkpoint, args.device, args.overwrite, params)
    except (FileExistsError, ValueError) as exc:  # user errors the dispatcher does not list
        print(f"vanelia inpaint: error: {exc}", file=sys.stderr)
        return 2
    print(f"inpaint: {info['frames']} frames with '{info['engine']}' in {info['seconds']} s ({info['fps']} fps) -> {info['output']}")
    return 0
