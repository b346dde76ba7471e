"""Streaming DSTT inference on plates of any size: one frame in, one frame out, memory carried.

The network runs at a fixed 360x640. For a plate of another size the hole's neighbourhood
(a 16:9 box around the dilated hole, with context) is resized to 360x640, filled, resized
back and pasted with a feathered seam, so that only pixels inside the dilated mask change.

The crop box is sticky: it is kept while the hole stays inside it, because the memory holds
tokens in the box's coordinates; when the hole leaves the box a new box is chosen and the
memory restarts (recorded in ``stats['memory_resets']``).

Any *runner* works: a callable ``(frames, masks, memory) -> (out, memory)`` on float32 numpy
arrays shaped as in ml.inpaint.dstt (torch eager, TorchScript, onnxruntime, TensorRT).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np
import torch

from .dstt import DSTT, DSTTConfig


class Runner(Protocol):
    cfg: DSTTConfig

    def __call__(self, frames: np.ndarray, masks: np.ndarray, memory: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def init_memory(self) -> np.ndarray: ...


class TorchRunner:
    """DSTT in torch through ml.inpaint.stream_step (precision, CUDA graph / compile).

    Frames go in and out as numpy; the memory stays a device tensor on CUDA (it is 50 MB at
    the default size: a host round trip per frame would cost more than the network), and is
    numpy on the CPU (zero-copy there)."""

    def __init__(self, model: DSTT | torch.jit.ScriptModule, cfg: DSTTConfig, device: str = "cpu", fp16: bool = False,
                 dtype: str | None = None, mode: str = "eager"):
        from .stream_step import StreamStep

        self.cfg = cfg
        self.device = torch.device(device)
        self.step = StreamStep(model, self.device, dtype or ("fp16" if fp16 else "fp32"), mode)  # type: ignore[arg-type]
        self.on_device = self.device.type == "cuda"

    def init_memory(self) -> Any:
        mem = self.step.init_memory(1)
        return mem if self.on_device else mem.float().numpy()

    def __call__(self, frames: np.ndarray, masks: np.ndarray, memory: Any) -> tuple[np.ndarray, Any]:
        mem = memory if isinstance(memory, torch.Tensor) else torch.from_numpy(np.asarray(memory))
        out, mem = self.step(torch.from_numpy(frames), torch.from_numpy(masks), mem)
        out_np = out.float().cpu().numpy()
        return out_np, (mem.clone() if self.on_device else mem.float().numpy())


@dataclass
class StreamOptions:
    dilate: int = 4
    """Pixels the mask grows by (mask edges from segmentation are rarely tight)."""
    feather: int = 3
    """Width of the soft seam inside the dilated mask."""
    context: float = 0.6
    """Box margin around the hole, as a fraction of the hole's size on each side."""
    lookahead: int = 0
    """Future frames given to the network as context (output latency = lookahead frames)."""


def dilate_mask(hole: np.ndarray, px: int) -> np.ndarray:
    if px <= 0:
        return hole.astype(bool)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(hole.astype(np.uint8), k) > 0


def feather_alpha(hole: np.ndarray, grown: np.ndarray, feather: int) -> np.ndarray:
    """1 on the hole, a soft ramp across the dilation band, exactly 0 outside ``grown``."""
    if feather <= 0:
        return grown.astype(np.float32)
    soft = cv2.GaussianBlur(grown.astype(np.float32), (0, 0), feather / 2.0)
    soft = np.clip((soft - 0.5) * 2.0 + 0.5, 0.0, 1.0)
    alpha = np.maximum(soft, hole.astype(np.float32))
    alpha[~grown] = 0.0
    return alpha


def hole_box(hole: np.ndarray, aspect: float, context: float) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1): a box of the network's aspect around the hole, inside the frame when
    possible; a hole bigger than the frame's aspect-box takes the whole frame."""
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    bh = (y1 - y0) * (1 + 2 * context)
    bw = (x1 - x0) * (1 + 2 * context)
    bh, bw = max(bh, bw / aspect, 64.0), max(bw, bh * aspect, 64.0 * aspect)
    if bh >= h or bw >= w:
        return 0, 0, h, w
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    by0 = int(round(np.clip(cy - bh / 2, 0, h - bh)))
    bx0 = int(round(np.clip(cx - bw / 2, 0, w - bw)))
    return by0, bx0, min(h, by0 + int(round(bh))), min(w, bx0 + int(round(bw)))


@dataclass
class _Pending:
    plate: np.ndarray
    hole: np.ndarray


@dataclass
class StreamingInpainter:
    """push(frame, hole) -> finished frame (or None while the look-ahead fills); flush()."""

    runner: Any
    options: StreamOptions = field(default_factory=StreamOptions)
    stats: dict[str, int] = field(default_factory=lambda: {"frames": 0, "network_calls": 0, "memory_resets": 0})

    def __post_init__(self) -> None:
        self.cfg: DSTTConfig = self.runner.cfg
        self.reset()

    def reset(self) -> None:
        self.memory = self.runner.init_memory()
        self.box: tuple[int, int, int, int] | None = None
        self.queue: deque[_Pending] = deque()

    # ---- public ----------------------------------------------------------------
    def push(self, plate: np.ndarray, hole: np.ndarray) -> np.ndarray | None:
        """``plate`` HxWx3 float [0, 1] (display-referred), ``hole`` HxW bool."""
        if plate.shape[:2] != hole.shape[:2]:
            raise ValueError(f"mask is {hole.shape[:2]} but the frame is {plate.shape[:2]}")
        self.queue.append(_Pending(plate, hole.astype(bool)))
        if len(self.queue) <= self.options.lookahead:
            return None
        return self._emit()

    def flush(self) -> list[np.ndarray]:
        out = []
        while self.queue:
            out.append(self._emit())
        return out

    def fill(self, plate: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """No look-ahead: the filled frame straight away."""
        if self.options.lookahead:
            raise ValueError("fill() is for lookahead=0; use push()/flush()")
        res = self.push(plate, hole)
        assert res is not None
        return res

    # ---- internals ---------------------------------------------------------------
    def _emit(self) -> np.ndarray:
        cur = self.queue[0]
        window = list(self.queue)
        self.queue.popleft()
        self.stats["frames"] += 1
        grown = dilate_mask(cur.hole, self.options.dilate)
        if not cur.hole.any():
            return cur.plate  # nothing to remove: untouched (memory unchanged)
        union = np.logical_or.reduce([dilate_mask(p.hole, self.options.dilate) for p in window])
        box = self._box_for(union)
        y0, x0, y1, x1 = box
        H, W = self.cfg.height, self.cfg.width
        frames = np.zeros((1, len(window), 3, H, W), np.float32)
        masks = np.zeros((1, len(window), 1, H, W), np.float32)
        for i, p in enumerate(window):
            g = grown if i == 0 else dilate_mask(p.hole, self.options.dilate)
            crop = cv2.resize(p.plate[y0:y1, x0:x1, :3].astype(np.float32), (W, H), interpolation=cv2.INTER_AREA)
            mk = cv2.resize(g[y0:y1, x0:x1].astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST) > 0
            frames[0, i] = np.where(mk[..., None], 0.0, crop * 2.0 - 1.0).transpose(2, 0, 1)
            masks[0, i, 0] = mk
        out, self.memory = self.runner(frames, masks, self.memory)
        self.stats["network_calls"] += 1
        pred = (np.clip(out[0, 0].transpose(1, 2, 0), -1.0, 1.0) + 1.0) / 2.0
        pred = cv2.resize(pred, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        alpha = feather_alpha(cur.hole, grown, self.options.feather)[y0:y1, x0:x1, None]
        result = cur.plate.copy()
        region = result[y0:y1, x0:x1, :3]
        result[y0:y1, x0:x1, :3] = np.where(alpha > 0, region * (1 - alpha) + pred * alpha, region)
        return result

    def _box_for(self, union: np.ndarray) -> tuple[int, int, int, int]:
        if self.box is not None:
            y0, x0, y1, x1 = self.box
            inside = not union[:y0].any() and not union[y1:].any() and not union[:, :x0].any() and not union[:, x1:].any()
            if inside:
                return self.box
            self.memory = self.runner.init_memory()
            self.stats["memory_resets"] += 1
        self.box = hole_box(union, self.cfg.width / self.cfg.height, self.options.context)
        return self.box


def torch_streamer(model: DSTT, device: str = "cpu", options: StreamOptions | None = None, fp16: bool = False,
                   mode: str = "eager") -> StreamingInpainter:
    return StreamingInpainter(TorchRunner(model, model.cfg, device, fp16, mode=mode), options or StreamOptions())

