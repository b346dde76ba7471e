"""Inpaint engines: ``telea`` (per frame), ``propagate`` (flow-guided, no weights), ``dstt``
(learned, streaming memory) and ``propagate+dstt`` (the network fills only what no frame showed).

All engines read ``plate`` (linear RGB) + ``mask`` (1 = remove) and return a plate in which
only masked pixels (for dstt: the slightly dilated mask) differ from the input; an empty mask
returns the plate untouched; a mask covering the whole frame is an error (nothing to fill from).

Frame-by-frame (``process``) the propagation engines are causal: they use the last
``window`` frames of the sequence. ``process_sequence(frames, params)`` is the full
bidirectional version (past *and* future frames); a runner that can hand over a whole
sequence (or a chunk) should call it when the engine has it -- see ``latency``.
"""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

import dataclasses

import cv2
import numpy as np

from ml.io.colour import linear_to_srgb, srgb_to_linear
from ml.stages.base import Engine, EngineError, EngineUnavailable, FrameState, declare_params, register

from .checkpoint import default_checkpoint as _default_checkpoint
from .propagate import PropagateOptions, propagate, spatial_fill

FULL_FRAME = 0.999
"""A mask covering more than this fraction of a frame leaves nothing to fill from."""


def hole_of(frame: FrameState, params: dict[str, Any] | None = None) -> np.ndarray:
    """Bool HxW hole; clear errors for a missing / mis-sized / full-frame mask.

    ``params['dilate']`` (px, default 0) grows the mask first: segmentation masks are often
    tight and leave the object's soft edge or motion blur behind."""
    if frame.mask is None:
        raise EngineError(f"inpaint: frame {frame.index} has no mask (give --masks / masks/NNNNNN.png)")
    mask = np.asarray(frame.mask)
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if mask.shape[:2] != frame.plate.shape[:2]:
        raise EngineError(
            f"inpaint: frame {frame.index}: mask is {mask.shape[1]}x{mask.shape[0]} but the plate is "
            f"{frame.plate.shape[1]}x{frame.plate.shape[0]}; masks must match the frames' size"
        )
    hole = mask > 0.5
    grow = int((params or {}).get("dilate", 0) or 0)
    if grow > 0 and hole.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        hole = cv2.dilate(hole.astype(np.uint8), k) > 0
    if hole.mean() > FULL_FRAME:
        raise EngineError(
            f"inpaint: frame {frame.index}: the mask covers the whole frame; nothing is left to fill "
            f"it from (white = remove: is the mask inverted?)"
        )
    return hole


def _compose(plate: np.ndarray, filled_srgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Linear plate with only hole pixels replaced (others bit-identical)."""
    out = np.array(plate, dtype=np.float32, copy=True)
    out[hole, :3] = srgb_to_linear(filled_srgb[hole, :3])
    return out


def _srgb(plate: np.ndarray) -> np.ndarray:
    return linear_to_srgb(np.clip(plate[..., :3], 0.0, 1.0))


@register
class TeleaEngine(Engine):
    """Per-frame OpenCV Telea: the baseline (no temporal information)."""

    stage = "inpaint"
    name = "telea"
    needs = ("plate", "mask")
    Params = declare_params("TeleaParams", {"radius": 5, "dilate": 0})

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        hole = hole_of(frame, params)
        if not hole.any():
            return frame.plate
        filled = spatial_fill(_srgb(frame.plate), hole, int(params.get("radius", 5)))
        return _compose(frame.plate, filled, hole)


def _options(params: dict[str, Any]) -> PropagateOptions:
    opt = PropagateOptions()
    for k in ("rounds", "flow_max_side", "spatial_radius"):
        if k in params:
            setattr(opt, k, int(params[k]))
    if "flow_dilate" in params:
        opt.flow_dilate = float(params["flow_dilate"])
    if "blend" in params:
        opt.blend = bool(params["blend"])
    return opt


@register
class PropagateEngine(Engine):
    """Flow-guided propagation; causal per frame, bidirectional through process_sequence."""

    stage = "inpaint"
    name = "propagate"
    needs = ("plate", "mask")
    Params = declare_params("PropagateParams", {"window": 12, "dilate": 0, **dataclasses.asdict(PropagateOptions())})
    window: ClassVar[int] = 12
    """Frames of context per side (causal: past only; sequence: past and future)."""
    latency: ClassVar[int] = 12
    """Frames ``process_sequence`` reads ahead before it yields a frame."""

    def __init__(self) -> None:
        super().__init__()
        self._past: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._keys: deque[int] = deque()
        self._cache: dict = {}
        self._counter = 0

    def reset(self) -> None:
        self._past.clear()
        self._keys.clear()
        self._cache.clear()

    # one engine call = propagate over a window of sRGB frames, keeping the frames ``keep``
    # (indices into the window, in time order); propagate+dstt overrides the spatial part
    def _fill(
        self, srgb: list[np.ndarray], holes: list[np.ndarray], params: dict[str, Any], keep: list[int],
        keys: list[int] | None = None,
    ) -> list[np.ndarray]:
        res = propagate(srgb, holes, _options(params), keys=keys, cache=self._cache if keys else None)
        return [res.frames[i] for i in keep]

    def _prune(self, live: set[int]) -> None:
        """Drop cached flows of frames that left the window."""
        for k in [k for k in self._cache if not set(k[1:]) <= live]:
            del self._cache[k]

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        hole = hole_of(frame, params)
        window = int(params.get("window", self.window))
        srgb = _srgb(frame.plate)
        self._past.append((srgb, hole))
        self._keys.append(self._counter)
        self._counter += 1
        while len(self._past) > window + 1:
            self._past.popleft()
            self._keys.popleft()
        self._prune(set(self._keys))
        if not hole.any():
            return frame.plate
        frames = [p[0] for p in self._past]
        holes = [p[1] for p in self._past]
        filled = self._fill(frames, holes, params, [len(frames) - 1], list(self._keys))[0]
        return _compose(frame.plate, filled, hole)

    def process_sequence(self, frames: Iterable[FrameState], params: dict[str, Any]) -> Iterator[np.ndarray]:
        """Bidirectional: yields one plate per input frame, in order, ``latency`` frames late.

        Frames are processed in chunks of ``window`` with ``window`` frames of context on each
        side; memory use is bounded by 3 * window frames.
        """
        win = max(1, int(params.get("window", self.window)))
        plates: list[np.ndarray] = []
        holes: list[np.ndarray] = []
        srgb: list[np.ndarray] = []
        ids: list[int] = []  # absolute frame numbers: flows of overlapping windows are reused
        start = 0  # index (in the lists) of the first frame not yet yielded
        self._cache.clear()

        def run_chunk(end_core: int) -> Iterator[np.ndarray]:
            nonlocal plates, holes, srgb, ids, start
            lo = max(0, start - win)
            hi = min(len(plates), end_core + win)
            filled = None
            if any(h.any() for h in holes[start:end_core]):
                keep = list(range(start - lo, end_core - lo))
                filled = self._fill(srgb[lo:hi], holes[lo:hi], params, keep, ids[lo:hi])
            for i in range(start, end_core):
                if filled is None or not holes[i].any():
                    yield plates[i]
                else:
                    yield _compose(plates[i], filled[i - start], holes[i])
            start = end_core
            drop = max(0, start - win)
            plates, holes, srgb, ids = plates[drop:], holes[drop:], srgb[drop:], ids[drop:]
            start -= drop
            self._prune(set(ids))

        for n, fr in enumerate(frames):
            plates.append(fr.plate)
            holes.append(hole_of(fr, params))
            srgb.append(_srgb(fr.plate))
            ids.append(n)
            if len(plates) - start >= 2 * win:  # a full core plus its look-ahead context
                yield from run_chunk(start + win)
        while start < len(plates):
            yield from run_chunk(min(len(plates), start + win))
        self._cache.clear()


def _checkpoint_path(checkpoint: str | None) -> Path:
    from .checkpoint import default_checkpoint

    return Path(checkpoint) if checkpoint else default_checkpoint()


class _DSTTMixin:
    """Loads the network and keeps one streaming inpainter per sequence."""

    RESOLUTION = (360, 640)

    def _setup_dstt(self, device: str, checkpoint: str | None) -> None:
        from .checkpoint import CheckpointError, load_checkpoint
        from .streaming import StreamingInpainter, StreamOptions, TorchRunner

        path = _checkpoint_path(checkpoint)
        if not path.is_file():
            raise EngineUnavailable(
                f"inpaint 'dstt' needs a trained checkpoint at {path} (train one with `vanelia train inpaint "
                f"--data DIR --out {path}` or pass --checkpoint PATH); the 'propagate' engine needs no weights"
            )
        try:
            model, _ = load_checkpoint(path, resolution=self.RESOLUTION)
        except CheckpointError as exc:
            raise EngineError(str(exc)) from exc
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise EngineUnavailable(f"inpaint 'dstt': device {device} requested but CUDA is not available")
        self._streamer = StreamingInpainter(TorchRunner(model, model.cfg, device, fp16=device.startswith("cuda")), StreamOptions())
        self.checkpoint = str(path)

    def _dstt_fill(self, srgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return self._streamer.fill(srgb, hole)


@register
class DSTTEngine(_DSTTMixin, Engine):
    """The learned streaming inpainter (memory carried between frames; reset per sequence)."""

    stage = "inpaint"
    name = "dstt"
    needs = ("plate", "mask")
    Params = declare_params("DSTTParams", {"dilate": 0})
    default_checkpoint = _default_checkpoint()

    def setup(self, device: str = "cpu", checkpoint: str | None = None) -> None:
        super().setup(device, checkpoint)
        self._setup_dstt(device, checkpoint)

    def reset(self) -> None:
        if hasattr(self, "_streamer"):
            self._streamer.reset()

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        hole = hole_of(frame, params)
        if not hole.any():
            return frame.plate
        if not hasattr(self, "_streamer"):
            raise EngineUnavailable("inpaint 'dstt' was not set up (call setup(device, checkpoint) first)")
        filled = self._dstt_fill(_srgb(frame.plate), hole)
        # the network may change the dilated band too (feathered seam): compose on that band
        grown = filled[..., :3] != _srgb(frame.plate)
        band = grown.any(axis=-1) | hole
        return _compose(frame.plate, filled, band)


@register
class PropagateDSTTEngine(_DSTTMixin, PropagateEngine):
    """Propagation first; the network fills only pixels that no frame of the window showed."""

    stage = "inpaint"
    name = "propagate+dstt"
    default_checkpoint = _default_checkpoint()

    def setup(self, device: str = "cpu", checkpoint: str | None = None) -> None:
        Engine.setup(self, device, checkpoint)
        self._setup_dstt(device, checkpoint)

    def reset(self) -> None:
        super().reset()
        if hasattr(self, "_streamer"):
            self._streamer.reset()

    def _fill(
        self, srgb: list[np.ndarray], holes: list[np.ndarray], params: dict[str, Any], keep: list[int],
        keys: list[int] | None = None,
    ) -> list[np.ndarray]:
        res = propagate(srgb, holes, _options(params), keys=keys, cache=self._cache if keys else None)
        out = []
        for i in keep:  # in time order, so the network's memory streams forward
            img, unseen = res.frames[i], res.unseen[i]
            if unseen.any():
                net = self._dstt_fill(img, unseen)
                img = img.copy()
                img[unseen] = net[unseen]
            out.append(img)
        return out
