"""DSTT through onnxruntime (CPU or CUDA provider) as a streaming runner.

Same call as ml.inpaint.streaming.TorchRunner: ``(frames, masks, memory) -> (out, memory)``
on float32 numpy arrays, so StreamingInpainter works unchanged.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .dstt import DSTTConfig


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


class OnnxRunner:
    def __init__(self, path: str | os.PathLike[str], cfg: DSTTConfig, provider: str = "cpu", threads: int = 0,
                 spinning: bool = True):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ONNX model not found (make one with `vanelia export inpaint --onnx {path}`)")
        want = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}[provider]
        if want not in ort.get_available_providers():
            raise RuntimeError(f"onnxruntime provider {want} is not available here (have {ort.get_available_providers()})")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            so.intra_op_num_threads = threads
        if not spinning:  # idle threads sleep instead of spinning: better when the cores are shared
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [want] if want == "CPUExecutionProvider" else [want, "CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), so, providers=providers)
        self.cfg = cfg
        self.provider = provider
        names = [i.name for i in self.session.get_inputs()]
        if names != ["frames", "masks", "memory"]:
            raise ValueError(f"{path}: inputs {names} are not a Vanelia DSTT export (frames, masks, memory)")
        mem_shape = self.session.get_inputs()[2].shape
        if list(mem_shape[1:]) != list(cfg.memory_shape(1)[1:]):
            raise ValueError(f"{path}: memory shape {mem_shape} does not match the config {cfg.memory_shape(1)}")

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
