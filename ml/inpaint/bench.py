"""`vanelia bench inpaint`: DSTT streaming speed at 360x640, batch 1, memory carried.

Paths: torch eager fp32 and onnxruntime on the CPU; on a CUDA GPU also torch fp16,
onnxruntime CUDA and TensorRT fp16 (each when its package is present). Also the classical
``propagate`` engine (frames per second on a 360x640 sequence). Prints a table and writes JSON.

The CPU paths are timed interleaved (each repeat streams ``frames`` calls through every path
in turn) and reported as medians, with the load average seen during each repeat: on shared
cores the load changes by the minute, and interleaving makes it affect every path alike.
CPU onnxruntime paths: the default (``OnnxRunner.from_model``: fused attention, no spinning),
the previous default (plain export, spinning threads) and the opt-in int8.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from shotcache.layout import atomic_write_json

from .checkpoint import load_checkpoint
from .dstt import DSTT, SIZES, count_parameters, psnr_from_mse
from .export import example_inputs, export_onnx


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_stream(step: Callable[[Any], Any], memory: Any, frames: int, warmup: int) -> dict[str, float]:
    """Streaming loop: each call consumes the memory the previous call returned."""
    for _ in range(warmup):
        memory = step(memory)
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        memory = step(memory)
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    return {"fps": round(1.0 / med, 3), "ms_median": round(1e3 * med, 2), "ms_mean": round(1e3 * float(np.mean(times)), 2)}


def time_interleaved(steps: dict[str, Callable[[Any], Any]], memories: dict[str, Any], frames: int, warmup: int,
                     repeats: int) -> tuple[dict[str, dict[str, float]], list[float]]:
    """A/B/A/B timing: per repeat, ``frames`` streamed calls of each path in turn. Returns the
    per-path medians and the 1-minute load average at the start of every repeat."""
    for name, step in steps.items():
        for _ in range(warmup):
            memories[name] = step(memories[name])
    times: dict[str, list[float]] = {n: [] for n in steps}
    loads = []
    for _ in range(repeats):
        loads.append(round(os.getloadavg()[0], 2))
        for name, step in steps.items():
            for _ in range(frames):
                t0 = time.perf_counter()
                memories[name] = step(memories[name])
                times[name].append(time.perf_counter() - t0)
    return {n: _summary(t) for n, t in times.items()}, loads


def _summary(times: list[float]) -> dict[str, float]:
    med = float(np.median(times))
    return {"fps": round(1.0 / med, 3), "ms_median": round(1e3 * med, 2), "ms_mean": round(1e3 * float(np.mean(times)), 2),
            "calls": len(times)}


def cpu_steps(model: DSTT, cache: Path, threads: int) -> tuple[dict[str, Callable[[Any], Any]], dict[str, Any]]:
    """Streaming steps (memory in, memory out) of the CPU paths, same inputs for all."""
    from .onnx_runner import OnnxRunner

    f, k, mem = example_inputs(model.cfg)
    fn, kn = f.numpy(), k.numpy()
    model = model.cpu().float().eval()

    @torch.inference_mode()
    def eager(memory: torch.Tensor) -> torch.Tensor:
        return model(f, k, memory)[1]

    plain = OnnxRunner(export_onnx(model, cache / "plain.onnx", fused_attention=False), model.cfg, "cpu", threads,
                       spinning=True)
    fast = OnnxRunner.from_model(model, cache, "fp32", "cpu", threads)
    int8 = OnnxRunner.from_model(model, cache, "int8", "cpu", threads)
    steps: dict[str, Callable[[Any], Any]] = {"torch eager fp32 cpu": eager,
             "onnxruntime cpu": lambda m: fast(fn, kn, m)[1],
             "onnxruntime cpu, before (plain export, spinning)": lambda m: plain(fn, kn, m)[1],
             "onnxruntime cpu int8 (opt-in)": lambda m: int8(fn, kn, m)[1]}
    mems = {n: (mem.clone() if n.startswith("torch") else mem.numpy().copy()) for n in steps}
    return steps, mems


def hole_psnr(out: np.ndarray, target: np.ndarray, hole: np.ndarray) -> float:
    """PSNR (peak 1) of the hole pixels, images in [-1, 1] mapped to [0, 1]."""
    sel = np.broadcast_to(hole > 0.5, out.shape)
    mse = float(np.mean(((out[sel] - target[sel]) / 2) ** 2))
    return psnr_from_mse(mse)


def variance_preserving(model: DSTT, seed: int = 0) -> DSTT:
    """A copy with Kaiming-initialised weights. Why: PyTorch's default init shrinks the
    activations so much that the untrained output hardly depends on the input (std 0.06),
    which would hide quantization error; no trained checkpoint ships to measure instead."""
    import copy

    torch.manual_seed(seed)
    lively = copy.deepcopy(model)
    for mod in lively.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(mod.weight, a=0.2, nonlinearity="leaky_relu")
            if mod.bias is not None:
                torch.nn.init.normal_(mod.bias, std=0.05)
    return lively.eval()


def int8_parity(model: DSTT, cache: Path, frames: int = 6) -> dict[str, float]:
    """int8 vs fp32 onnxruntime over a streamed synthetic clip (not the calibration clip):
    hole PSNR against the ground truth of each, their difference, the PSNR of int8 against
    fp32 in the hole and the largest output difference."""
    from .onnx_runner import OnnxRunner, synthetic_stream

    runners = {p: OnnxRunner.from_model(model, cache, p, "cpu") for p in ("fp32", "int8")}
    mems = {p: r.init_memory() for p, r in runners.items()}
    outs: dict[str, list[np.ndarray]] = {p: [] for p in runners}
    clip = synthetic_stream(model.cfg, frames, seed=7)
    for f, k, _ in clip:
        for p, r in runners.items():
            out, mems[p] = r(f, k, mems[p])
            outs[p].append(out)
    holes = np.stack([k for _, k, _ in clip])
    target = np.stack([t for _, _, t in clip])
    a, b = np.stack(outs["fp32"]), np.stack(outs["int8"])
    res = {"fp32_hole_psnr_db": hole_psnr(a, target, holes), "int8_hole_psnr_db": hole_psnr(b, target, holes),
           "int8_vs_fp32_hole_psnr_db": hole_psnr(b, a, holes), "max_abs_diff": float(np.abs(a - b).max())}
    res["hole_psnr_loss_db"] = res["fp32_hole_psnr_db"] - res["int8_hole_psnr_db"]
    return {key: round(v, 4) for key, v in res.items()}


def bench_torch(model: DSTT, device: str, fp16: bool, frames: int, warmup: int) -> dict[str, Any]:
    dt = torch.float16 if fp16 else torch.float32
    m = model.to(device).to(dt).eval()
    f, k, mem = (x.to(device, dt) for x in example_inputs(model.cfg))
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    @torch.inference_mode()
    def step(memory: torch.Tensor) -> torch.Tensor:
        out, memory = m(f, k, memory)
        if device == "cuda":
            torch.cuda.synchronize()
        return memory

    res = time_stream(step, mem, frames, warmup)
    res["peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1) if device == "cuda" else round(_rss_mb(), 1)
    res["peak_kind"] = "cuda max allocated" if device == "cuda" else "process max RSS"
    model.to("cpu").float()
    return res


def flops_per_frame(model: DSTT) -> float:
    """Forward FLOPs of one streamed frame (batch 1), counted by torch on the CPU."""
    from torch.utils.flop_counter import FlopCounterMode

    f, k, mem = example_inputs(model.cfg)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.eval()(f, k, mem)
    return float(counter.get_total_flops())


def stream_paths(model: DSTT, device: str, frames: int = 50, warmup: int = 5, batches: tuple[int, ...] = (1,),
                 paths: tuple[tuple[str, str], ...] | None = None) -> dict[str, Any]:
    """Streaming speed of every StreamStep path (ml.inpaint.stream_step) on ``device``:
    frames/s, ms per call, TFLOP/s, and for compile its compile time. Batch > 1 = several
    shots streamed together (one memory per shot)."""
    from .stream_step import StreamStep

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    if paths is None:
        paths = ((("eager", "fp32"), ("eager", "fp16"), ("eager", "bf16"), ("cuda-graph", "fp16"),
                  ("cuda-graph", "bf16"), ("compile", "fp16")) if cuda else (("eager", "fp32"), ("eager", "bf16")))
    gflop = flops_per_frame(model) / 1e9
    report: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
                              "gflop_per_frame": round(gflop, 2), "paths": {}, "skipped": {}}
    for batch in batches:
        for mode, dtype in paths:
            if batch > 1 and mode == "compile":
                continue
            name = f"{mode} {dtype} batch {batch}"
            try:
                t0 = time.perf_counter()
                step = StreamStep(model, dev, dtype, mode)
                f, k, mem = (x.repeat(batch, *[1] * (x.dim() - 1)) for x in example_inputs(model.cfg))
                f, k, mem = f.to(dev), k.to(dev), step.init_memory(batch)
                step(f, k, mem)  # first call: capture / compile
                if cuda:
                    torch.cuda.synchronize()
                first = time.perf_counter() - t0

                def one(memory: torch.Tensor) -> torch.Tensor:
                    out, memory = step(f, k, memory)
                    if cuda:
                        torch.cuda.synchronize()
                    return memory

                res = time_stream(one, mem, frames, warmup)
            except (RuntimeError, ValueError) as exc:
                report["skipped"][name] = f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
            fps = res["fps"] * batch
            report["paths"][name] = {**res, "frames_per_s": round(fps, 1), "tflops": round(fps * gflop / 1e3, 2),
                                     "first_call_s": round(first, 2), "ran_as": f"{step.mode} {step.dtype_name}",
                                     **({"note": step.note} if step.note else {})}
            print(f"{name:28s} {fps:9.1f} frames/s {res['ms_median']:8.2f} ms/call {fps * gflop / 1e3:7.2f} TFLOP/s"
                  f"  (first call {first:.1f} s){'  ' + step.note if step.note else ''}", flush=True)
            del step
            if cuda:
                torch.cuda.empty_cache()
    if cuda:
        report["peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return report


def path_agreement(model: DSTT, device: str, frames: int = 3) -> dict[str, float]:
    """Largest output difference of every StreamStep path from eager fp32 over a short stream
    (correctness of the fast paths, checked where they run)."""
    from .stream_step import StreamStep

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    combos = [("eager", "fp16"), ("eager", "bf16"), ("cuda-graph", "fp16"), ("compile", "fp16")] if cuda else [("eager", "bf16")]

    def stream(step: StreamStep) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(0)
        mem, outs = step.init_memory(1), []
        h, w = model.cfg.height, model.cfg.width
        for _ in range(frames):
            f = torch.rand(1, 1, 3, h, w, generator=g) * 2 - 1
            m = (torch.rand(1, 1, 1, h, w, generator=g) > 0.8).float()
            out, mem = step(f * (1 - m), m, mem)
            outs.append(out.float().cpu().clone())
            mem = mem.clone()
        return outs

    ref = stream(StreamStep(model, dev, "fp32"))
    res = {}
    for mode, dtype in combos:
        try:
            step = StreamStep(model, dev, dtype, mode)
            res[f"{step.mode} {step.dtype_name}"] = round(max(float((a - b).abs().max()) for a, b in zip(ref, stream(step))), 5)
        except RuntimeError as exc:
            res[f"{mode} {dtype}"] = f"failed: {str(exc)[:200]}"  # type: ignore[assignment]
    return res


def bench_ort(onnx_path: Path, model: DSTT, provider: str, frames: int, warmup: int, threads: int,
              spinning: bool = True) -> dict[str, Any]:
    from .onnx_runner import OnnxRunner

    runner = OnnxRunner(onnx_path, model.cfg, provider, threads, spinning)
    f, k, mem = (x.numpy() for x in example_inputs(model.cfg))
    res = time_stream(lambda memory: runner(f, k, memory)[1], mem, frames, warmup)
    res["peak_mb"] = round(_rss_mb(), 1)
    res["peak_kind"] = "process max RSS"
    return res


def bench_tensorrt(onnx_path: Path, model: DSTT, frames: int, warmup: int) -> dict[str, Any]:
    import tensorrt as trt

    from .export import build_tensorrt

    engine_path = onnx_path.with_suffix(".engine")
    build_tensorrt(onnx_path, engine_path, model.cfg, fp16=True)
    rt = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = rt.deserialize_cuda_engine(engine_path.read_bytes())
    ctx = engine.create_execution_context()
    f, k, mem = (x.cuda() for x in example_inputs(model.cfg))
    out = torch.empty_like(f)
    mems = [mem.clone(), torch.empty_like(mem)]
    for name, t in (("frames", f), ("masks", k)):
        ctx.set_input_shape(name, tuple(t.shape))
        ctx.set_tensor_address(name, t.data_ptr())
    ctx.set_input_shape("memory", tuple(mem.shape))
    ctx.set_tensor_address("output", out.data_ptr())
    stream = torch.cuda.current_stream().cuda_stream
    torch.cuda.reset_peak_memory_stats()
    state = {"i": 0}

    def step(_: Any) -> None:
        a, b = mems[state["i"] % 2], mems[(state["i"] + 1) % 2]
        ctx.set_tensor_address("memory", a.data_ptr())
        ctx.set_tensor_address("memory_out", b.data_ptr())
        ctx.execute_async_v3(stream)
        torch.cuda.synchronize()
        state["i"] += 1

    res = time_stream(step, None, frames, warmup)
    res["engine_mb"] = round(engine_path.stat().st_size / 2**20, 1)
    return res


def bench_propagate(frames: int = 12) -> dict[str, Any]:
    """Classical engine on a synthetic panning 360x640 sequence with a 10 % hole."""
    from .engines import PropagateEngine
    from ml.stages.base import FrameState

    rng = np.random.default_rng(0)
    world = rng.random((360 // 8, (640 + 8 * frames) // 8, 3)).astype(np.float32)
    import cv2

    world = cv2.resize(world, (640 + 8 * frames, 360), interpolation=cv2.INTER_CUBIC)
    mask = np.zeros((360, 640), np.float32)
    mask[120:240, 260:440] = 1
    states = [FrameState(i, np.clip(world[:, 8 * i : 8 * i + 640], 0, 1), mask=mask) for i in range(frames)]
    eng = PropagateEngine()
    t0 = time.perf_counter()
    n = sum(1 for _ in eng.process_sequence(iter(states), {}))
    dt = time.perf_counter() - t0
    return {"fps": round(n / dt, 3), "frames": n}


def run(size: str, checkpoint: str | None, frames: int, warmup: int, threads: int, repeats: int = 5) -> dict[str, Any]:
    if threads:
        torch.set_num_threads(threads)
    if checkpoint:
        model, _ = load_checkpoint(checkpoint)
    else:
        torch.manual_seed(0)
        model = DSTT(SIZES[size])
    model.eval()
    cfg = model.cfg
    report: dict[str, Any] = {
        "model": {"size": size if not checkpoint else checkpoint, "params_m": round(count_parameters(model) / 1e6, 3),
                  "resolution": [cfg.height, cfg.width], "token_grid": list(cfg.token_grid),
                  "memory_shape": list(cfg.memory_shape(1))},
        "host": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                 "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "batch": 1, "stream_frames": frames, "repeats": repeats, "paths": {}, "skipped": {},
    }
    paths = report["paths"]
    with tempfile.TemporaryDirectory() as tmp:
        steps, mems = cpu_steps(model, Path(tmp), threads)
        cpu, loads = time_interleaved(steps, mems, frames, warmup, repeats)
        paths.update(cpu)
        report["cpu_load_average_per_repeat"] = loads
        report["cpu_peak_rss_mb"] = round(_rss_mb(), 1)  # the process, all CPU paths loaded at once
        report["int8_parity"] = int8_parity(model, Path(tmp))
        report["int8_parity_variance_preserving_init"] = int8_parity(variance_preserving(model), Path(tmp))
        onnx_path = export_onnx(model, Path(tmp) / "portable.onnx", fused_attention=False)  # TensorRT: standard ops
        if torch.cuda.is_available():
            paths["torch eager fp16 cuda"] = bench_torch(model, "cuda", True, frames * 5, warmup * 5)
            try:
                paths["onnxruntime cuda"] = bench_ort(onnx_path, model, "cuda", frames * 5, warmup * 5, 0)
            except (RuntimeError, ImportError) as exc:
                report["skipped"]["onnxruntime cuda"] = str(exc)
            try:
                paths["tensorrt fp16"] = bench_tensorrt(onnx_path, model, frames * 10, warmup * 5)
            except (ImportError, RuntimeError) as exc:
                report["skipped"]["tensorrt fp16"] = str(exc)
        else:
            for k in ("torch eager fp16 cuda", "onnxruntime cuda", "tensorrt fp16"):
                report["skipped"][k] = "no CUDA GPU"
    base = paths["torch eager fp32 cpu"]["fps"]
    for key, name in (("onnxruntime_cpu_speedup", "onnxruntime cpu"),
                      ("onnxruntime_cpu_before_speedup", "onnxruntime cpu, before (plain export, spinning)"),
                      ("onnxruntime_cpu_int8_speedup", "onnxruntime cpu int8 (opt-in)")):
        report[key] = round(paths[name]["fps"] / base, 3)
    if torch.cuda.is_available():
        report["cuda_stream_paths"] = stream_paths(model, "cuda", frames * 10, warmup * 3, batches=(1, 16))
    report["load_average"] = list(os.getloadavg())
    report["propagate_engine_cpu_360x640"] = bench_propagate()
    return report


def print_report(r: dict[str, Any]) -> None:
    m = r["model"]
    print(f"DSTT {m['size']} ({m['params_m']} M params) at {m['resolution'][0]}x{m['resolution'][1]}, grid "
          f"{m['token_grid']}, batch 1, streaming {r['stream_frames']} frames")
    print(f"{'path':50s} {'fps':>8s} {'ms/frame':>9s}")
    for name, v in r["paths"].items():
        print(f"{name:50s} {v['fps']:8.2f} {v['ms_median']:9.1f}")
    for name, why in r["skipped"].items():
        print(f"{name:50s} skipped: {why}")
    print(f"onnxruntime / torch eager on CPU: {r['onnxruntime_cpu_speedup']:.2f}x (before: "
          f"{r['onnxruntime_cpu_before_speedup']:.2f}x, int8: {r['onnxruntime_cpu_int8_speedup']:.2f}x); "
          f"load average per repeat {r['cpu_load_average_per_repeat']}")
    print(f"int8 vs fp32: {r['int8_parity']}; variance-preserving init: {r['int8_parity_variance_preserving_init']}")
    print(f"propagate engine (CPU, 360x640): {r['propagate_engine_cpu_360x640']['fps']:.2f} fps")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vanelia bench inpaint", description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="small", help="untrained model of this width")
    p.add_argument("--checkpoint", help="benchmark this checkpoint instead")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds over the CPU paths (medians over all)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch and onnxruntime (0 = default)")
    p.add_argument("--json", help="write the report here")
    a = p.parse_args(argv)
    r = run(a.size, a.checkpoint, a.frames, a.warmup, a.threads, a.repeats)
    print_report(r)
    if a.json:
        atomic_write_json(a.json, r)
        print(f"report: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
