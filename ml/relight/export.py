"""`vanelia export relight --onnx OUT.onnx [--checkpoint CKPT]`: ONNX export with a parity check.

The graph takes the network's four inputs (distances Nx1xHxW, cosines Nx1xHxW, albedo NxCxHxW,
normals Nx3xHxW; H and W multiples of 8, dynamic) and returns the Nx3xHxW shading. Parity:
onnxruntime (CPU) against torch eager on a random input; the export fails if they differ by more
than the tolerance (default 1e-3). ``--tensorrt`` builds an fp16 engine when TensorRT is installed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.relight.unet import RelightUNet, UNetConfig, load_checkpoint
from shotcache.layout import atomic_write, atomic_write_bytes

INPUT_NAMES = ("distances", "cosines", "albedo", "normals")
OPSET = 17


def example_inputs(config: UNetConfig, height: int = 64, width: int = 96, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.rand(1, 1, height, width, generator=g),
        torch.rand(1, 1, height, width, generator=g) * 2 - 1,
        torch.rand(1, config.albedo_channels, height, width, generator=g),
        torch.nn.functional.normalize(torch.randn(1, 3, height, width, generator=g), dim=1),
    )


def export_onnx(model: RelightUNet, path: str | Path) -> Path:
    """Trace the eval-mode network into ONNX (dynamic batch, height, width); atomic write."""
    model = model.eval().cpu()
    dyn = {n: {0: "batch", 2: "height", 3: "width"} for n in INPUT_NAMES}
    dyn["shading"] = {0: "batch", 2: "height", 3: "width"}

    def _write(tmp: Path) -> None:
        with torch.no_grad():
            torch.onnx.export(
                model,
                example_inputs(model.config),
                str(tmp),
                input_names=list(INPUT_NAMES),
                output_names=["shading"],
                dynamic_axes=dyn,
                opset_version=OPSET,
                dynamo=False,
            )

    return atomic_write(path, _write)


def onnx_session(path: str | Path, threads: int = 0) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def parity(model: RelightUNet, onnx_path: str | Path, height: int = 48, width: int = 72) -> float:
    """Max |onnxruntime - torch| on a random input of another size than the traced one."""
    inputs = example_inputs(model.config, height, width, seed=1)
    with torch.no_grad():
        ref = model.eval()(*inputs).numpy()
    sess = onnx_session(onnx_path)
    got = sess.run(None, {n: t.numpy() for n, t in zip(INPUT_NAMES, inputs)})[0]
    return float(np.abs(got - ref).max())


def export_tensorrt(onnx_path: Path, engine_path: Path) -> Path:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise RuntimeError("TensorRT is not installed here (pip install tensorrt on a machine with an NVIDIA GPU); the ONNX file works with onnxruntime") from exc
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        raise RuntimeError(f"{onnx_path}: TensorRT could not parse it: {parser.get_error(0)}")
    cfg = builder.create_builder_config()
    cfg.set_flag(trt.BuilderFlag.FP16)
    prof = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        inp = network.get_input(i)
        c = inp.shape[1]
        prof.set_shape(inp.name, (1, c, 64, 64), (1, c, 960, 960), (1, c, 1088, 1920))
    cfg.add_optimization_profile(prof)
    blob = builder.build_serialized_network(network, cfg)
    if blob is None:
        raise RuntimeError("TensorRT engine build failed")
    return atomic_write_bytes(engine_path, bytes(blob))


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="vanelia export relight", description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="default checkpoints/relight/unet.safetensors")
    ap.add_argument("--onnx", required=True, help="output .onnx path")
    ap.add_argument("--tensorrt", default=None, help="also build a TensorRT fp16 engine here")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--width", type=float, default=None, help="export an untrained network of this width (no checkpoint)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.width is not None and args.checkpoint is None:
        model = RelightUNet(UNetConfig(width=args.width)).eval()
    else:
        from ml.relight.unet_engine import DEFAULT_CHECKPOINT

        model, _ = load_checkpoint(args.checkpoint or DEFAULT_CHECKPOINT)
    out = export_onnx(model, args.onnx)
    err = parity(model, out)
    result = {"onnx": str(out), "max_abs_diff": err, "tolerance": args.tolerance, "ok": err <= args.tolerance}
    if args.tensorrt:
        result["tensorrt"] = str(export_tensorrt(out, Path(args.tensorrt)))
    print(json.dumps(result))
    if err > args.tolerance:
        print(f"vanelia export relight: onnxruntime differs from torch by {err:.2e} > {args.tolerance:.0e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
