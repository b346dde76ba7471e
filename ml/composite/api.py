"""The compositor's Python API, the same for every composite engine.

Shape kept from the photorealistic compositor reference (../shared/reference/
photorealistic-compositor.md)::

    comp = Compositor(engine="classical", device="cpu", checkpoint_path=None, **params)
    out = comp.process_frame(background_frame, render_frame, shadow=None, strength=1.0)
    paths = comp.process_video_sequence(render_dir, background_dir, output_dir, strength=1.0, seed=12345)

Dtypes: uint8 sRGB in -> uint8 sRGB out; float32 linear in -> float32 linear out (the render's
alpha is straight and never colour-converted). ``render_dir`` may hold RGBA PNGs or Vanelia's
multilayer EXRs; with EXRs the shadow-catcher and depth passes are used when present.
A fixed seed gives identical output.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ml.io.colour import linear_to_uint8, uint8_to_linear
from ml.io.exr import read_passes
from ml.io.images import frame_number, list_frames, read_linear, write_linear
from ml.stages import base
from shotcache import engines as catalogue
from ml.stages.base import EngineError, EngineUnavailable, FrameState

log = logging.getLogger("vanelia.composite")


def _to_linear(img: np.ndarray, what: str, channels: int) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != channels:
        raise ValueError(f"{what}: expected an HxWx{channels} array, got shape {img.shape}")
    if img.dtype == np.uint8:
        lin = uint8_to_linear(img[..., :3])
        if channels == 4:
            a = img[..., 3:4].astype(np.float32) / 255.0
            lin = np.concatenate([lin, a], axis=-1)
        return lin.astype(np.float32)
    if img.dtype in (np.float32, np.float64, np.float16):
        return img.astype(np.float32)
    raise ValueError(f"{what}: dtype {img.dtype} not supported; give uint8 sRGB or float32 linear")


def _read_rgba_png(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"{path}: cannot read this render image")
    if img.dtype == np.uint16:
        img = (img / 257.0 + 0.5).astype(np.uint8)
    if img.ndim == 2 or img.shape[2] == 3:
        raise ValueError(f"{path}: render has no alpha channel; render with a transparent film (RGBA PNG or EXR)")
    rgba = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return _to_linear(rgba, str(path), 4)


class Compositor:
    """Composite a rendered product into background frames with one composite engine."""

    def __init__(self, engine: str = "classical", device: str = "cpu", checkpoint_path: str | os.PathLike[str] | None = None, **params: Any):
        allow_fallback = bool(params.pop("allow_fallback", True))
        self.device = device
        self.params: dict[str, Any] = dict(params)
        self.seed = int(self.params.pop("seed", 12345))
        self.requested = engine
        self.fallback_reason: str | None = None
        ckpt = str(checkpoint_path) if checkpoint_path else None
        try:
            self.engine = self._make(engine, device, ckpt)
        except EngineUnavailable as exc:
            fallback = catalogue.fallback("composite", engine)
            if not allow_fallback or fallback is None:
                raise
            self.fallback_reason = str(exc)
            log.warning("composite engine %r unavailable (%s); using %r", engine, exc, fallback)
            self.engine = self._make(fallback, device, None)
        self.engine_name = self.engine.name
        self._index = 0

    @staticmethod
    def _make(name: str, device: str, checkpoint: str | None) -> base.Engine:
        eng = base.create("composite", name)
        eng.setup(device, checkpoint)
        return eng

    def reset(self) -> None:
        self.engine.reset()
        self._index = 0

    def process_frame(
        self,
        background_frame: np.ndarray,
        render_frame: np.ndarray,
        shadow: np.ndarray | None = None,
        strength: float = 1.0,
        *,
        passes: dict[str, np.ndarray] | None = None,
        frame_index: int | None = None,
    ) -> np.ndarray:
        """(H,W,3) background + (H,W,4) straight-alpha render [+ (H,W[,3]) shadow multiplier] -> (H,W,3)."""
        as_uint8 = np.asarray(background_frame).dtype == np.uint8
        plate = _to_linear(background_frame, "background_frame", 3)
        rgba = _to_linear(render_frame, "render_frame", 4)
        if rgba.shape[:2] != plate.shape[:2]:
            raise ValueError(f"render_frame is {rgba.shape[1]}x{rgba.shape[0]} but background_frame is {plate.shape[1]}x{plate.shape[0]}")
        extra = dict(passes or {})
        if shadow is not None:
            sh = np.asarray(shadow, np.float32)
            if np.asarray(shadow).dtype == np.uint8:
                sh = sh / 255.0
            extra["shadow_catcher"] = sh if sh.ndim == 3 else np.repeat(sh[..., None], 3, axis=-1)
        idx = self._index if frame_index is None else int(frame_index)
        self._index = idx + 1
        state = FrameState(index=idx, plate=plate, rgba=rgba, passes=extra)
        self.engine.check_inputs(state)
        out = np.asarray(self.engine.process(state, {**self.params, "strength": float(strength), "seed": self.seed}), np.float32)
        return linear_to_uint8(out) if as_uint8 else out

    def process_video_sequence(
        self,
        render_dir: str | os.PathLike[str],
        background_dir: str | os.PathLike[str],
        output_dir: str | os.PathLike[str],
        strength: float = 1.0,
        seed: int = 12345,
    ) -> list[Path]:
        """Composite every render frame over the background frame with the same number
        (or the same position when the numbering differs); writes output_dir/NNNNNN.png."""
        renders = [p for p in list_frames(render_dir) if p.suffix.lower() in (".png", ".exr", ".tif", ".tiff")]
        backgrounds = list_frames(background_dir)
        if not renders:
            raise FileNotFoundError(f"{render_dir}: no render frames (RGBA PNG or EXR) found")
        if not backgrounds:
            raise FileNotFoundError(f"{background_dir}: no background frames found")
        by_num = {frame_number(p, i): p for i, p in enumerate(backgrounds)}
        out_dir = Path(output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.seed = int(seed)
        self.reset()
        written: list[Path] = []
        for i, rpath in enumerate(renders):
            num = frame_number(rpath, i)
            bpath = by_num.get(num) or (backgrounds[i] if i < len(backgrounds) else None)
            if bpath is None:
                raise FileNotFoundError(f"{background_dir}: no background frame for render {rpath.name}")
            plate = read_linear(bpath)
            passes: dict[str, np.ndarray] = {}
            if rpath.suffix.lower() == ".exr":
                passes = read_passes(rpath)
                rgba = passes.pop("rgba", None)
                if rgba is None:
                    raise EngineError(f"{rpath}: no rgba pass")
            else:
                rgba = _read_rgba_png(rpath)
            out = self.process_frame(plate, rgba, strength=strength, passes=passes, frame_index=num)
            written.append(write_linear(out_dir / f"{num:06d}.png", out))
        return written
