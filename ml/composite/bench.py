"""`vanelia bench composite`: milliseconds per frame of the photorealistic compositor.

Cases (``--cases``):
* ``crop960``: a 960x960 crop around the product;
* ``full1080``: a 1920x1080 frame with the product in it.

For each case two measurements:
* ``network``: the network alone at the case's own resolution (1920x1080 is padded to
  1920x1088, a multiple of 8) - the number the GPU target (<= 10 ms per 960x960 crop at
  cnum 48 on an H100) refers to;
* ``frame``: the engine's whole per-frame path (crop 1.1x the object, network at
  ``--net-size``, coefficients upsampled and applied at full resolution, paste).

Backends: torch eager fp32 on the CPU and onnxruntime CPU always; torch fp16 and
onnxruntime TensorRT fp16 when a CUDA GPU (and TensorRT) is present. Weights: the
checkpoint if given, else random at ``--cnum`` (speed does not depend on the values).
Prints a table and writes JSON (``--out``). Benchmarks, not tests: nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from shotcache.layout import atomic_write_json

from .export import example_input, export_onnx, ort_session
from .photorealistic import CompositorConfig, PhotorealisticNet, load_checkpoint
from .photorealistic_engine import CoefFn, composite_photorealistic, torch_coef_fn

CASES = {"crop960": (960, 960), "full1080": (1080, 1920)}


def time_ms(fn: Callable[[], Any], reps: int, warmup: int = 1, sync: Callable[[], None] | None = None) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"ms_median": statistics.median(times), "ms_min": min(times), "reps": reps}


def synthetic_frame(h: int, w: int, object_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear plate + RGBA render with an elliptical product covering ``object_frac`` of the short side."""
    import cv2

    rng = np.random.default_rng(0)
    plate = rng.random((h, w, 3), dtype=np.float32) * 0.6
    rgba = np.zeros((h, w, 4), np.float32)
    r = int(min(h, w) * object_frac / 2)
    alpha = np.zeros((h, w), np.uint8)
    cv2.ellipse(alpha, (w // 2, h // 2), (r, int(r * 0.8)), 0, 0, 360, (1,), -1)
    rgba[..., :3] = rng.random((h, w, 3), dtype=np.float32)
    rgba[..., 3] = alpha
    return plate, rgba


def pad8(h: int, w: int, m: int) -> tuple[int, int]:
    return (h + m - 1) // m * m, (w + m - 1) // m * m


def _ort_fn(sess: Any) -> CoefFn:
    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(sess.run(["coef"], {"input": x})[0])

    return run


def backends(net: PhotorealisticNet, device: str, with_onnx: bool, tmp: Path, size_hw: tuple[int, int]) -> dict[str, CoefFn]:
    """Coefficient functions per backend for one input size (ONNX graphs are fixed-size)."""
    out: dict[str, CoefFn] = {"torch_fp32_" + device.split(":")[0]: torch_coef_fn(net.to(device), device)}
    if device.startswith("cuda"):
        half = PhotorealisticNet(net.config).to(device)
        half.load_state_dict(net.state_dict())
        out["torch_fp16_cuda"] = torch_coef_fn(half.half().eval(), device, half=True)
    if with_onnx:
        h, w = size_hw
        path = tmp / f"compositor_{h}x{w}.onnx"
        export_onnx(net.cpu(), path, size=w, height=h)
        net.to(device)
        import onnxruntime as ort

        sess = ort_session(path, ["CPUExecutionProvider"])
        out["onnxruntime_cpu"] = _ort_fn(sess)
        if "TensorrtExecutionProvider" in ort.get_available_providers():
            trt = ort.InferenceSession(
                str(path),
                providers=[("TensorrtExecutionProvider", {"trt_fp16_enable": True}), "CUDAExecutionProvider"],
            )
            out["tensorrt_fp16"] = _ort_fn(trt)
    return out


def device_frame_paths(net: PhotorealisticNet, device: str, plate: np.ndarray, rgba: np.ndarray, net_size: int,
                       reps: int, sync: Callable[[], None] | None) -> dict[str, dict[str, float]]:
    """The whole frame in torch on ``device`` (ml.composite.photorealistic_device): inputs
    already resident (a renderer/decoder on the GPU hands tensors over), and with the host
    upload + download included."""
    from .photorealistic_device import composite_on_device

    dev = torch.device(device)
    plate_t, rgba_t = torch.from_numpy(plate).to(dev), torch.from_numpy(rgba).to(dev)
    run = partial(composite_on_device, net, plate_t, rgba_t, net_size=net_size, multiple=net.size_multiple, device=dev)
    out = {f"torch {dev.type} frame (resident)": time_ms(run, reps, sync=sync)}
    full = partial(lambda: composite_on_device(net, plate, rgba, net_size=net_size, multiple=net.size_multiple, device=dev).cpu())
    out[f"torch {dev.type} frame (+host copies)"] = time_ms(full, reps, sync=sync)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vanelia bench composite", description="ms per frame of the photorealistic compositor")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--cnum", type=int, default=48)
    p.add_argument("--cases", default="crop960,full1080")
    p.add_argument("--what", default="network,frame", help="network and/or frame")
    p.add_argument("--net-size", type=int, default=256, help="network size for the 'frame' measurement")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--no-onnx", action="store_true")
    p.add_argument("--out", default="out/bench_composite.json")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    net = load_checkpoint(args.checkpoint) if args.checkpoint else PhotorealisticNet(CompositorConfig(cnum=args.cnum))
    net = net.eval().to(args.device)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    rows: list[dict[str, Any]] = []
    whats = [w.strip() for w in args.what.split(",") if w.strip()]
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
            if case not in CASES:
                raise ValueError(f"unknown case {case!r}; choose from {', '.join(CASES)}")
            h, w = CASES[case]
            if "network" in whats:
                nh, nw = pad8(h, w, net.size_multiple)
                x = example_input(nw, height=nh).numpy()
                for name, fn in backends(net, args.device, not args.no_onnx, tmp, (nh, nw)).items():
                    res = time_ms(partial(fn, x), args.reps, sync=sync)
                    rows.append({"case": case, "what": "network", "input": [nh, nw], "backend": name, **res})
                    print(f"{case:9s} network {nh}x{nw:<5d} {name:18s} {res['ms_median']:10.1f} ms", flush=True)
            if "frame" in whats:
                plate, rgba = synthetic_frame(h, w, 0.8 if case == "crop960" else 0.4)
                s = args.net_size
                for name, fn in backends(net, args.device, not args.no_onnx, tmp, (s, s)).items():
                    run = partial(composite_photorealistic, fn, plate, rgba, net_size=s, multiple=net.size_multiple)
                    res = time_ms(run, args.reps, sync=sync)
                    rows.append({"case": case, "what": "frame", "frame": [h, w], "net_size": s, "backend": name, **res})
                    print(f"{case:9s} frame   net {s:<4d}      {name:18s} {res['ms_median']:10.1f} ms", flush=True)
                for name, res in device_frame_paths(net, args.device, plate, rgba, s, args.reps, sync).items():
                    rows.append({"case": case, "what": "frame", "frame": [h, w], "net_size": s, "backend": name, **res})
                    print(f"{case:9s} frame   net {s:<4d}      {name:18s} {res['ms_median']:10.1f} ms", flush=True)
    report = {
        "machine": {"platform": platform.platform(), "cpu_threads": torch.get_num_threads(), "device": args.device,
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "cnum": net.config.cnum,
        "params": sum(p.numel() for p in net.parameters()),
        "weights": args.checkpoint or "random",
        "results": rows,
    }
    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")
    print(json.dumps({"cnum": report["cnum"], "params": report["params"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
