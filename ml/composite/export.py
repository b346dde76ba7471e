"""`vanelia export composite --onnx OUT.onnx [--checkpoint PATH] [--size 256]`.

Exports the whole coarse-to-fine network, contextual attention included (it is written
with matmul / softmax / pixel-shuffle only), at a fixed square input size: input ``input``
(1, 8, S, S) as built by ml.composite.photorealistic.make_input; outputs ``coef``
(1, 12, S, S, the colour transform the engine upsamples and applies at full resolution) and
``image`` (1, 3, S, S, the fine composite at the network size). ``--check`` compares
onnxruntime with torch on a random input and fails above ``--tolerance``. ``--tensorrt``
builds an fp16 engine from the ONNX file when TensorRT is installed (GPU machines).
"""
from __future__ import annotations

import argparse
import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shotcache.layout import atomic_write_bytes

from .photorealistic import CompositorConfig, PhotorealisticNet, load_checkpoint


class _ExportWrapper(nn.Module):
    """Only the outputs the engine needs (coarse image dropped)."""

    def __init__(self, net: PhotorealisticNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        coef, fine, _ = self.net(x)
        return coef, fine


def example_input(size: int, seed: int = 0, height: int | None = None) -> torch.Tensor:
    """A plausible input: random plate, a centred box mask, object colours, shadow = 1."""
    g = torch.Generator().manual_seed(seed)
    h = height or size
    x = torch.rand(1, 8, h, size, generator=g)
    mask = torch.zeros(1, 1, h, size)
    mask[..., h // 4 : 3 * h // 4, size // 4 : 3 * size // 4] = 1
    x[:, 0:3] *= 1 - mask
    x[:, 3:4] = mask
    x[:, 4:7] *= mask
    x[:, 7:8] = 1
    return x


def export_onnx(net: PhotorealisticNet, path: str | Path, size: int = 256, opset: int = 17, height: int | None = None) -> Path:
    """Write the ONNX graph atomically; fixed input size (the attention rate depends on it)."""
    net = net.eval().cpu()
    wrapper = _ExportWrapper(net)
    x = example_input(size, height=height)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # shape checks in forward() are Python bools at trace time: expected for a fixed-size graph
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (x,),
            buf,  # type: ignore[arg-type]  # file-like objects are accepted
            input_names=["input"],
            output_names=["coef", "image"],
            opset_version=opset,
            dynamo=False,
        )
    return atomic_write_bytes(path, buf.getvalue())


def ort_session(path: str | Path, providers: list[str] | None = None):  # -> onnxruntime.InferenceSession
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])


def parity(net: PhotorealisticNet, onnx_path: str | Path, size: int, height: int | None = None) -> dict[str, float]:
    """Max abs difference torch vs onnxruntime (fp32) on the example input."""
    x = example_input(size, seed=1, height=height)
    with torch.no_grad():
        coef, image, _ = net.eval()(x)
    sess = ort_session(onnx_path)
    o_coef, o_image = sess.run(None, {"input": x.numpy()})
    return {"coef": float(np.abs(o_coef - coef.numpy()).max()), "image": float(np.abs(o_image - image.numpy()).max())}


def build_tensorrt(onnx_path: Path, engine_path: Path) -> Path:
    """fp16 TensorRT engine from the ONNX file (needs the tensorrt package and a GPU)."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise RuntimeError("TensorRT is not installed here (pip install tensorrt on a CUDA machine)") from exc
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        raise RuntimeError(f"{onnx_path}: TensorRT cannot parse it: {parser.get_error(0)}")
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    data = builder.build_serialized_network(network, config)
    if data is None:
        raise RuntimeError("TensorRT engine build failed")
    return atomic_write_bytes(engine_path, bytes(data))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vanelia export composite", description="export the photorealistic compositor to ONNX (and TensorRT)")
    p.add_argument("--onnx", required=True, help="output .onnx path")
    p.add_argument("--checkpoint", default=None, help="trained checkpoint; default: the repository's, else random weights with --cnum")
    p.add_argument("--cnum", type=int, default=None)
    p.add_argument("--size", type=int, default=None, help="square input side (default: the checkpoint's net_size)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--check", action="store_true", help="compare onnxruntime with torch")
    p.add_argument("--tolerance", type=float, default=1e-3)
    p.add_argument("--tensorrt", default=None, help="also build an fp16 TensorRT engine at this path")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))

    from .photorealistic_engine import resolve_checkpoint

    ckpt = resolve_checkpoint(args.checkpoint)
    if ckpt.is_file():
        net = load_checkpoint(ckpt, cnum=args.cnum)
        source = str(ckpt)
    elif args.checkpoint:
        raise FileNotFoundError(f"{ckpt}: checkpoint not found")
    else:
        net = PhotorealisticNet(CompositorConfig(cnum=args.cnum or 48))
        source = "random init (no checkpoint found; for speed tests only)"
    size = args.size or net.config.net_size
    if size % net.size_multiple:
        raise ValueError(f"--size {size}: must be a multiple of {net.size_multiple}")
    out = export_onnx(net, args.onnx, size, args.opset)
    report: dict[str, object] = {"onnx": str(out), "weights": source, "cnum": net.config.cnum, "size": size}
    if args.check:
        diff = parity(net, out, size)
        report["max_abs_diff"] = diff
        if max(diff.values()) > args.tolerance:
            print(json.dumps(report, indent=1))
            print(f"parity check failed: max abs diff {max(diff.values()):.2e} > {args.tolerance}")
            return 1
    if args.tensorrt:
        report["tensorrt"] = str(build_tensorrt(out, Path(args.tensorrt)))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
