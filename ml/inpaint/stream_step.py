"""One streaming DSTT call on a device, made fast: precision and execution mode.

``StreamStep(model, device, dtype, mode)(frames, masks, memory) -> (out, memory)`` on device
tensors. ``dtype``: ``fp32``, ``fp16`` or ``bf16`` (the network's weights are cast: pure
half-precision inference, not autocast, which keeps casting weights every call). ``mode``:

* ``eager``: plain PyTorch;
* ``cuda-graph``: the first call captures the whole forward into a CUDA graph on static
  input/output buffers; later calls copy the inputs in and replay it (batch-1 streaming is
  launch-bound: hundreds of small kernels per frame, replayed as one);
* ``compile``: ``torch.compile`` (Inductor; the first call compiles, about 20 s on an H200).

Guards, why: graphs and compilation need CUDA here; on a CPU they are off and the step runs
eager (``self.note`` says so), and fp16 on a CPU (slow, partly unsupported) runs in fp32.
A capture that fails also falls back to eager with the reason in ``note``, so asking for the
fast path can never break inference.
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from .dstt import DSTT

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
MODES = ("eager", "cuda-graph", "compile")


class StreamStep:
    """See the module docstring; ``mode`` / ``dtype`` after construction are what actually runs."""

    def __init__(self, model: DSTT, device: str | torch.device = "cpu", dtype: str = "fp32", mode: str = "eager",
                 compile_mode: str = "default"):
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r}: use one of {', '.join(DTYPES)}")
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: use one of {', '.join(MODES)}")
        self.device = torch.device(device)
        self.cfg = model.cfg
        self.notes: list[str] = []
        if self.device.type != "cuda":
            if mode != "eager":
                self.notes.append(f"{mode} needs CUDA: eager on {self.device}")
                mode = "eager"
            if dtype == "fp16":
                self.notes.append("fp16 on a CPU: fp32 instead")
                dtype = "fp32"
        self.mode, self.dtype_name, self.dtype = mode, dtype, DTYPES[dtype]
        self.model = copy.deepcopy(model).to(self.device, self.dtype).eval()
        self.fn: Any = self.model
        if mode == "compile":
            self.fn = torch.compile(self.model, mode=compile_mode, dynamic=False)
        self._graph: tuple[Any, ...] | None = None

    @property
    def note(self) -> str:
        return "; ".join(self.notes)

    def init_memory(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(self.cfg.memory_shape(batch), device=self.device, dtype=self.dtype)

    @torch.inference_mode()
    def __call__(self, frames: torch.Tensor, masks: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = frames.to(self.device, self.dtype, non_blocking=True)
        m = masks.to(self.device, self.dtype, non_blocking=True)
        mem = memory.to(self.device, self.dtype, non_blocking=True)
        if self.mode == "cuda-graph":
            try:
                return self._replay(f, m, mem)
            except RuntimeError as exc:  # capture refused: never break inference over speed
                self.notes.append(f"CUDA graph capture failed ({exc}); eager")
                self.mode, self._graph = "eager", None
        return self.fn(f, m, mem)

    def _replay(self, f: torch.Tensor, m: torch.Tensor, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shapes = (f.shape, m.shape, mem.shape)
        if self._graph is None or self._graph[0] != shapes:
            self._graph = (shapes, *self._capture(f, m, mem))
        _, graph, sf, sm, smem, sout, smem_out = self._graph
        sf.copy_(f)
        sm.copy_(m)
        smem.copy_(mem)
        graph.replay()
        return sout, smem_out  # buffers reused by the next call: the caller copies what it keeps

    def _capture(self, f: torch.Tensor, m: torch.Tensor, mem: torch.Tensor) -> tuple[Any, ...]:
        sf, sm, smem = f.clone(), m.clone(), mem.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the capture (cuDNN / cuBLAS choose kernels)
            for _ in range(3):
                self.model(sf, sm, smem)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            sout, smem_out = self.model(sf, sm, smem)
        return graph, sf, sm, smem, sout, smem_out
