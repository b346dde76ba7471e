"""DSTT through onnxruntime (CPU or CUDA provider) as a streaming runner.

Same call as ml.inpaint.streaming.TorchRunner: ``(frames, masks, memory) -> (out, memory)``
on float32 numpy arrays, so StreamingInpainter works unchanged.

``OnnxRunner.from_model(model, cache_dir)`` is the fast CPU path, what the measurements in
docs/NUMBERS.md chose: the export with fused attention (ml.inpaint.export), full graph
optimisation, and idle threads that sleep instead of spinning (spinning costs ~2 % on idle
cores but a descheduled spinner stalls every op when Cycles or another process shares
them). ``precision="int8"`` is an opt-in: convolutions and matmuls quantized statically
(QDQ, per channel) with calibration frames from the project's own synthetic clips; it is
faster but changes the output (bench reports how much), so fp32 stays the default.

Exports are cached in ``cache_dir`` under a key of everything that shapes the file (weights,
config, options, torch / onnxruntime versions): a changed model never reuses a stale file.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .dstt import DSTT, DSTTConfig

PRECISIONS = ("fp32", "int8")
EXPORT_VERSION = 2
"""Bump when the export or quantization recipe changes: old cache entries stop matching."""


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def session_options(threads: int = 0, spinning: bool = False) -> Any:
    """CPU session options: full graph optimisation; ``threads`` 0 = onnxruntime's default."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    if not spinning:  # idle threads sleep instead of spinning: better when the cores are shared
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


class OnnxRunner:
    def __init__(self, path: str | os.PathLike[str], cfg: DSTTConfig, provider: str = "cpu", threads: int = 0,
                 spinning: bool = False):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ONNX model not found (make one with `vanelia export inpaint --onnx {path}`)")
        want = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}[provider]
        if want not in ort.get_available_providers():
            raise RuntimeError(f"onnxruntime provider {want} is not available here (have {ort.get_available_providers()})")
        providers = [want] if want == "CPUExecutionProvider" else [want, "CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), session_options(threads, spinning), providers=providers)
        self.cfg = cfg
        self.provider = provider
        self.path = path
        names = [i.name for i in self.session.get_inputs()]
        if names != ["frames", "masks", "memory"]:
            raise ValueError(f"{path}: inputs {names} are not a Vanelia DSTT export (frames, masks, memory)")
        mem_shape = self.session.get_inputs()[2].shape
        if list(mem_shape[1:]) != list(cfg.memory_shape(1)[1:]):
            raise ValueError(f"{path}: memory shape {mem_shape} does not match the config {cfg.memory_shape(1)}")

    @classmethod
    def from_model(cls, model: DSTT, cache_dir: str | os.PathLike[str], precision: str = "fp32", provider: str = "cpu",
                   threads: int = 0, spinning: bool = False) -> "OnnxRunner":
        """The fast path for ``model``: its cached export (see the module docstring)."""
        return cls(cached_onnx(model, cache_dir, precision), model.cfg, provider, threads, spinning)

    def init_memory(self) -> np.ndarray:
        return np.zeros(self.cfg.memory_shape(1), np.float32)

    def __call__(self, frames: np.ndarray, masks: np.ndarray, memory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out, mem = self.session.run(
            ["output", "memory_out"],
            {
                "frames": np.ascontiguousarray(frames, np.float32),
                "masks": np.ascontiguousarray(masks, np.float32),
                "memory": np.ascontiguousarray(memory, np.float32),
            },
        )
        return out, mem


# ----------------------------------------------------------------------------- cache
def model_key(model: DSTT, precision: str) -> str:
    """Hash of the weights, config, precision, recipe version and the torch / onnxruntime
    versions (a new exporter or optimiser may write a different graph)."""
    import onnxruntime as ort
    import torch

    h = hashlib.sha256()
    meta = {"cfg": model.cfg.to_json(), "precision": precision, "recipe": EXPORT_VERSION,
            "torch": torch.__version__, "onnxruntime": ort.__version__}
    h.update(json.dumps(meta, sort_keys=True).encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def cached_onnx(model: DSTT, cache_dir: str | os.PathLike[str], precision: str = "fp32") -> Path:
    """Path of ``model``'s export in ``cache_dir`` at ``precision``, written if not there yet."""
    from .export import export_onnx

    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"dstt-{precision}-{model_key(model, precision)}.onnx"
    if path.is_file():
        return path
    if precision == "fp32":
        return export_onnx(model, path)
    return quantize_int8(model, cached_onnx(model, cache, "fp32"), path)


# ----------------------------------------------------------------------------- int8
def synthetic_stream(cfg: DSTTConfig, frames: int = 6, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(frames, masks, target) network inputs of a synthetic clip: a camera path over a
    procedural still with a moving hole (the project's own data engine, no downloads)."""
    import cv2

    from .masks import sequence_masks
    from .synthetic import camera_path_clip

    rng = np.random.default_rng(seed)
    coarse = rng.random((max(2, cfg.height // 24), max(2, cfg.width // 24), 3)).astype(np.float32)
    still = cv2.resize(coarse, (2 * cfg.width, 2 * cfg.height), interpolation=cv2.INTER_CUBIC)
    clip = camera_path_clip((np.clip(still, 0, 1) * 255).astype(np.uint8), frames, cfg.height, cfg.width, rng)
    out = []
    for img, hole in zip(clip, sequence_masks(frames, cfg.height, cfg.width, rng)):
        k = hole.astype(np.float32)[None, None, None]
        target = (img.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None, None]
        out.append((np.ascontiguousarray(target * (1 - k)), k, target))
    return out


def calibration_feeds(model: DSTT, frames: int = 6, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Inputs of a streamed synthetic clip with the memory the model itself carries: the
    activations that quantization has to cover."""
    import torch

    memory, feeds = model.init_memory(1), []
    for f, k, _ in synthetic_stream(model.cfg, frames, seed):
        feeds.append({"frames": f, "masks": k, "memory": memory.numpy()})
        with torch.inference_mode():
            memory = model.eval()(torch.from_numpy(f), torch.from_numpy(k), memory)[1]
    return feeds


def quantize_int8(model: DSTT, fp32_path: Path, path: Path) -> Path:
    """Static QDQ int8 (per-channel weights, uint8 activations) of the Conv and MatMul nodes;
    attention (MultiHeadAttention) stays fp32."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from shotcache.layout import atomic_write

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(calibration_feeds(model))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    def _w(tmp: Path) -> None:
        quantize_static(str(fp32_path), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        op_types_to_quantize=["Conv", "MatMul"], activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)

    return atomic_write(path, _w, suffix=".onnx")
