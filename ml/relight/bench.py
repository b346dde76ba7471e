"""`vanelia bench relight`: milliseconds per frame of the relighting network.

Sizes: a 960x960 crop and a 1920x1080 full frame (padded to 1920x1088, multiples of 8), one
light, batch 1. Back-ends: torch eager and onnxruntime on the CPU; on a CUDA GPU also torch
fp16 (a TensorRT engine is built by `vanelia export relight --tensorrt`, not timed here). The network width comes from the checkpoint (or
``--width``). Prints a table and writes JSON; nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ml.relight.export import INPUT_NAMES, example_inputs, export_onnx, onnx_session
from ml.relight.unet import RelightUNet, UNetConfig, count_parameters, load_checkpoint
from shotcache.layout import atomic_write_json

SIZES = {"960x960": (960, 960), "1920x1080": (1088, 1920)}


def timed(fn: Callable[[], Any], reps: int, warmup: int = 1, sync: Callable[[], None] = lambda: None) -> float:
    """Median ms over ``reps`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def bench(model: RelightUNet, sizes: dict[str, tuple[int, int]], reps: int, threads: int, backends: list[str]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    model = model.eval()
    onnx_path = None
    if "onnxruntime" in backends:
        onnx_path = Path(tempfile.mkdtemp(prefix="vanelia-relight-bench-")) / "unet.onnx"
        export_onnx(model, onnx_path)
        sess = onnx_session(onnx_path, threads)
    for label, (h, w) in sizes.items():
        inputs = example_inputs(model.config, h, w)
        row: dict[str, float] = {}
        if "torch" in backends:
            with torch.inference_mode():
                row["torch_cpu_ms"] = timed(lambda: model(*inputs), reps)
        if onnx_path is not None:
            feed = {n: t.numpy() for n, t in zip(INPUT_NAMES, inputs)}
            row["onnxruntime_cpu_ms"] = timed(lambda: sess.run(None, feed), reps)
        if torch.cuda.is_available():
            gm = RelightUNet(model.config).cuda().half().eval()
            gm.load_state_dict(model.state_dict())
            gin = [t.cuda().half() for t in inputs]
            with torch.inference_mode():
                row["torch_cuda_fp16_ms"] = timed(lambda: gm(*gin), max(reps, 20), 3, torch.cuda.synchronize)
        res[label] = row
        print(f"{label:>10s}: " + "  ".join(f"{k} {v:8.1f}" for k, v in row.items()), flush=True)
    return res


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="vanelia bench relight", description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="default checkpoints/relight/unet.safetensors when it exists")
    ap.add_argument("--width", type=float, default=None, help="bench an untrained network of this width instead")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch and onnxruntime (0 = default)")
    ap.add_argument("--sizes", default="960x960,1920x1080")
    ap.add_argument("--backends", default="torch,onnxruntime")
    ap.add_argument("--json", default="bench_relight.json")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.width is not None:
        model, source = RelightUNet(UNetConfig(width=args.width)), f"untrained width {args.width}"
    else:
        from ml.relight.unet_engine import DEFAULT_CHECKPOINT

        ckpt = Path(args.checkpoint) if args.checkpoint else DEFAULT_CHECKPOINT
        model, _ = load_checkpoint(ckpt)
        source = str(ckpt)
    sizes = {k: SIZES[k] for k in args.sizes.split(",") if k in SIZES}
    if not sizes:
        print(f"vanelia bench relight: --sizes must name some of {', '.join(SIZES)}", file=sys.stderr)
        return 2
    print(f"relight unet ({source}): width {model.config.width}, {count_parameters(model) / 1e6:.2f} M parameters")
    results = bench(model, sizes, args.reps, args.threads, [b.strip() for b in args.backends.split(",")])
    report = {
        "model": source,
        "width": model.config.width,
        "parameters": count_parameters(model),
        "results_ms": results,
        "note": "one light, batch 1; the engine runs only the product's box, so real frames cost less",
        "machine": {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
    }
    atomic_write_json(args.json, report)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
