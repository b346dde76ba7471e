"""`vanelia export inpaint`: DSTT -> TorchScript, ONNX (dynamic batch/time, explicit memory),
and a TensorRT fp16 engine when ``tensorrt`` and a CUDA GPU are present.

Two ONNX flavours. ``fused_attention=True`` (the default, for onnxruntime) writes each
attention as one ``com.microsoft.MultiHeadAttention`` node: onnxruntime's CPU kernel for it
is a tiled (flash) attention that never materialises the 1620 x 4860 score matrix per head,
where the plain export (MatMul -> Softmax -> MatMul) writes and re-reads 126 MB per spatial
block, about 60 % of onnxruntime's CPU time (docs/NUMBERS.md). ``fused_attention=False``
keeps standard ONNX ops only, for TensorRT and other runtimes without Microsoft's domain.

Graph inputs/outputs (names are the contract with ml.inpaint.onnx_runner and TensorRT):
    frames  [batch, time, 3, H, W]    masks [batch, time, 1, H, W]
    memory  [batch, blocks, slots, seq_len, hidden]
 -> output  [batch, time, 3, H, W]    memory_out (same shape as memory)
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import copy
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from shotcache.layout import atomic_write

from .checkpoint import default_checkpoint, load_checkpoint
from .dstt import DSTT, SMALL, DSTTConfig, MemoryAttention

INPUTS = ["frames", "masks", "memory"]
OUTPUTS = ["output", "memory_out"]


def example_inputs(cfg: DSTTConfig, batch: int = 1, time: int = 1) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(batch, time, 3, cfg.height, cfg.width, generator=g) * 2 - 1
    masks = (torch.rand(batch, time, 1, cfg.height, cfg.width, generator=g) > 0.8).float()
    memory = torch.randn(cfg.memory_shape(batch), generator=g) * 0.1
    return frames * (1 - masks), masks, memory


class _MultiHeadAttention(torch.autograd.Function):
    """Attention on (G, N, D) projections; traced as one com.microsoft.MultiHeadAttention node.

    The forward is only run while tracing (and in tests): it must equal MemoryAttention's
    split-heads + scaled_dot_product_attention exactly, so the export is the same network."""

    @staticmethod
    def forward(ctx: object, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
        g, n, d = q.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(g, -1, heads, d // heads).transpose(1, 2)

        y = F.scaled_dot_product_attention(split(q), split(k), split(v))
        return y.transpose(1, 2).reshape(g, n, d)

    @staticmethod
    def symbolic(g: object, q: object, k: object, v: object, heads: int) -> object:
        return g.op("com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=heads)  # type: ignore[attr-defined]


class FusedMemoryAttention(nn.Module):
    """MemoryAttention with the same weights whose attention exports as one fused node."""

    def __init__(self, attn: MemoryAttention):
        super().__init__()
        self.heads, self.q, self.kv, self.proj = attn.heads, attn.q, attn.kv, attn.proj

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1]
        kv = self.kv(ctx)
        return self.proj(_MultiHeadAttention.apply(self.q(x), kv[..., :d], kv[..., d:], self.heads))


def with_fused_attention(model: DSTT) -> DSTT:
    """A deep copy of ``model`` whose attention blocks export as MultiHeadAttention (the
    original, which torch runs, is untouched)."""
    fused = copy.deepcopy(model).eval().cpu()
    for blk in fused.blocks:
        blk.attn = FusedMemoryAttention(cast(MemoryAttention, blk.attn))
    return fused


def onnx_axes(static: bool) -> dict[str, dict[int, str]] | None:
    """Dynamic batch/time axes, or None for shapes fixed to the example (batch 1, time 1)."""
    if static:
        return None
    bt = {0: "batch", 1: "time"}
    return {"frames": bt, "masks": bt, "memory": {0: "batch"}, "output": bt, "memory_out": {0: "batch"}}


def export_onnx(model: DSTT, path: str | Path, opset: int = 17, fused_attention: bool = True,
                static: bool = False) -> Path:
    """ONNX (TorchScript-based exporter; no onnxscript needed). Dynamic batch and time axes
    unless ``static`` (batch 1, time 1); fused attention: see the module docstring."""
    model = model.eval().cpu()
    net = with_fused_attention(model) if fused_attention else model
    args = example_inputs(model.cfg)
    opsets = {"com.microsoft": 1} if fused_attention else None

    def _w(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net, args, str(tmp), input_names=INPUTS, output_names=OUTPUTS, dynamic_axes=onnx_axes(static),
                opset_version=opset, dynamo=False, do_constant_folding=True, custom_opsets=opsets,
            )  # fmt: skip

    return atomic_write(path, _w, suffix=".onnx")


def export_torchscript(model: DSTT, path: str | Path) -> Path:
    model = model.eval().cpu()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example_inputs(model.cfg), check_trace=False)
    return atomic_write(path, lambda tmp: traced.save(str(tmp)), suffix=".pt")


def tensorrt_available() -> tuple[bool, str]:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False, "the 'tensorrt' Python package is not installed"
    if not torch.cuda.is_available():
        return False, "no CUDA GPU"
    return True, ""


def build_tensorrt(onnx_path: str | Path, engine_path: str | Path, cfg: DSTTConfig, fp16: bool = True,
                   max_time: int = 1, workspace_gb: float = 4.0) -> Path:
    """Serialized TensorRT engine (fp16) with an optimisation profile for batch 1, time 1..max_time."""
    ok, why = tensorrt_available()
    if not ok:
        raise RuntimeError(f"TensorRT engine not built: {why}")
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"{onnx_path}: TensorRT cannot parse this ONNX file: {errs}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    h, w = cfg.height, cfg.width
    for name, shape in (("frames", (3, h, w)), ("masks", (1, h, w))):
        profile.set_shape(name, (1, 1, *shape), (1, 1, *shape), (1, max_time, *shape))
    mem = cfg.memory_shape(1)
    profile.set_shape("memory", mem, mem, mem)
    config.add_optimization_profile(profile)
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    return atomic_write(engine_path, lambda tmp: Path(tmp).write_bytes(bytes(blob)), suffix=".engine")


def model_from_args(args: argparse.Namespace) -> DSTT:
    if args.random:
        cfg = SMALL if args.random == "small" else DSTTConfig()
        torch.manual_seed(0)
        return DSTT(cfg).eval()
    model, _ = load_checkpoint(args.checkpoint or default_checkpoint())
    return model.eval()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vanelia export inpaint", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="DSTT checkpoint (.safetensors); default checkpoints/inpaint/dstt.safetensors")
    p.add_argument("--random", choices=["small", "default"], help="export an untrained model of this size (testing)")
    p.add_argument("--onnx", help="write ONNX here")
    p.add_argument("--torchscript", help="write TorchScript here")
    p.add_argument("--tensorrt", help="write a TensorRT fp16 engine here (needs tensorrt + a GPU; uses --onnx or a temp ONNX)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--portable", action="store_true",
                   help="standard ONNX ops only (no com.microsoft fused attention; implied for --tensorrt)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.onnx or args.torchscript or args.tensorrt):
        print("vanelia export inpaint: give --onnx, --torchscript and/or --tensorrt", file=sys.stderr)
        return 2
    model = model_from_args(args)
    if args.torchscript:
        print(f"torchscript: {export_torchscript(model, args.torchscript)}")
    onnx_path = args.onnx
    if args.tensorrt and not onnx_path:
        onnx_path = str(Path(args.tensorrt).with_suffix(".onnx"))
    if onnx_path:
        fused = not (args.portable or args.tensorrt)  # TensorRT parses standard ops only
        print(f"onnx: {export_onnx(model, onnx_path, args.opset, fused_attention=fused)}")
    if args.tensorrt:
        ok, why = tensorrt_available()
        if not ok:
            print(f"vanelia export inpaint: TensorRT engine not built: {why}", file=sys.stderr)
            return 2
        print(f"tensorrt: {build_tensorrt(onnx_path, args.tensorrt, model.cfg)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
