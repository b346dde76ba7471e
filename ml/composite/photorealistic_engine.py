"""composite/photorealistic: the learned coarse-to-fine compositor as a stage engine.

How a frame of any size is processed (why: the network sees a fixed-size square, the
product may be anywhere and any size):

1. shadow: the plate is multiplied by the shadow-catcher pass when the shot has one;
2. crop: a box about ``crop_scale`` (1.1) x the object's bounds (square where the frame
   allows) around every pixel with alpha > 0;
3. network: the crop, resized to ``net_size``, gives per-pixel colour-transform coefficients
   (see ml.composite.photorealistic); they are upsampled to the crop's own size and applied
   to the full-resolution object, so no detail is lost to the resize;
4. paste: the harmonized object goes over the (shadowed) plate with the render's alpha;
   pixels outside the crop, and inside it where alpha is 0, are the shadowed plate exactly.

Pass-through: an alpha with no pixel above 0.5 (object outside the frame, or only a faint
fringe) is composited as is, without the network.

Checkpoint: ``checkpoints/composite/photorealistic.safetensors`` in the repository unless
a path is given; a missing or unreadable file raises EngineUnavailable naming the file
(the runner then offers ``classical``); a file of another width than requested raises
CheckpointError.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch

from ml.io.colour import linear_to_srgb, srgb_to_linear
from ml.stages.base import Engine, EngineError, EngineUnavailable, FrameState, declare_params, register

from .api import Compositor
from .classical import DEFAULTS as BASE_DEFAULTS
from .photorealistic import CheckpointError, PhotorealisticNet, load_checkpoint, make_input

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKPOINT = REPO_ROOT / "checkpoints" / "composite" / "photorealistic.safetensors"
DEFAULTS: dict[str, Any] = {"strength": 1.0, "crop_scale": 1.1, "net_size": None}

CoefFn = Callable[[np.ndarray], np.ndarray]
"""(1, 8, H, W) float32 network input -> (1, 12, H, W) coefficients (torch or onnxruntime)."""


def object_box(alpha: np.ndarray, scale: float) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): ``scale`` x the bounds of alpha > 0, squared where the frame allows."""
    ys, xs = np.nonzero(alpha > 0)
    return box_around((int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())), alpha.shape, scale)


def box_around(bounds: tuple[int, int, int, int], shape: tuple[int, ...], scale: float) -> tuple[int, int, int, int]:
    """The crop box for inclusive pixel bounds (y_min, y_max, x_min, x_max) of the object
    (shared by the numpy path and the on-device path, which finds the bounds on the GPU)."""
    h, w = shape[:2]
    ymin, ymax, xmin, xmax = bounds
    by, bx = ymax - ymin + 1, xmax - xmin + 1
    cy, cx = (ymin + ymax + 1) / 2.0, (xmin + xmax + 1) / 2.0
    side = max(by, bx) * scale
    sh, sw = int(min(h, max(side, by))), int(min(w, max(side, bx)))
    y0 = int(np.clip(round(cy - sh / 2), 0, h - sh))
    x0 = int(np.clip(round(cx - sw / 2), 0, w - sw))
    # the box must hold every alpha > 0 pixel even after rounding
    y0, x0 = min(y0, ymin), min(x0, xmin)
    y1, x1 = max(y0 + sh, ymax + 1), max(x0 + sw, xmax + 1)
    return y0, min(y1, h), x0, min(x1, w)


def network_dims(crop_h: int, crop_w: int, net_size: int, multiple: int) -> tuple[int, int]:
    """Network input size for a crop: longer side = net_size, aspect kept, multiples of ``multiple``."""
    s = net_size / max(crop_h, crop_w)
    nh = max(multiple, int(round(crop_h * s / multiple)) * multiple)
    nw = max(multiple, int(round(crop_w * s / multiple)) * multiple)
    return nh, nw


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    interp = cv2.INTER_AREA if h < img.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(img, (w, h), interpolation=interp)


ROW_CHUNK = 256
"""Rows of the full-resolution crop handled at once: bounds memory on 12-megapixel crops."""


def _upsample_rows(coef_x: np.ndarray, full_h: int, r0: int, r1: int) -> np.ndarray:
    """Rows r0:r1 of the bilinear (half-pixel centred, like cv2) upsampling of (nh, W, 12) to full_h rows."""
    nh = coef_x.shape[0]
    y = np.clip((np.arange(r0, r1, dtype=np.float32) + 0.5) * (nh / full_h) - 0.5, 0.0, nh - 1)
    i0 = np.floor(y).astype(np.int64)
    i1 = np.minimum(i0 + 1, nh - 1)
    t = (y - i0)[:, None, None]
    return coef_x[i0] * (1.0 - t) + coef_x[i1] * t


def apply_upsampled(coef: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Upsample (12, nh, nw) coefficients to rgb's size and apply them, a band of rows at a time."""
    h, w = rgb.shape[:2]
    coef_x = cv2.resize(np.ascontiguousarray(coef.transpose(1, 2, 0)), (w, coef.shape[1]), interpolation=cv2.INTER_LINEAR)
    coef_x = coef_x.reshape(coef.shape[1], w, 12)
    out = np.empty_like(rgb)
    for r0 in range(0, h, ROW_CHUNK):
        r1 = min(h, r0 + ROW_CHUNK)
        out[r0:r1] = apply_coefficients_np(_upsample_rows(coef_x, h, r0, r1), rgb[r0:r1])
    return out


def apply_coefficients_np(coef_hw12: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    mat = coef_hw12[..., :9].reshape(*coef_hw12.shape[:2], 3, 3)
    return rgb + np.einsum("hwij,hwj->hwi", mat, rgb) + coef_hw12[..., 9:12]


def composite_photorealistic(
    coef_fn: CoefFn,
    plate: np.ndarray,
    rgba: np.ndarray,
    shadow: np.ndarray | None = None,
    strength: float = 1.0,
    net_size: int = 256,
    multiple: int = 8,
    crop_scale: float = 1.1,
) -> np.ndarray:
    """Linear plate (HxWx3) + straight-alpha linear render (HxWx4) [+ shadow] -> linear HxWx3."""
    if rgba.shape[:2] != plate.shape[:2]:
        raise ValueError(f"render is {rgba.shape[1]}x{rgba.shape[0]} but the plate is {plate.shape[1]}x{plate.shape[0]}")
    bg = plate.astype(np.float32)  # our own copy: the object goes over it in place
    shadow1 = None
    if shadow is not None:
        mult = np.clip(np.asarray(shadow, np.float32), 0.0, 1.0)
        mult = mult if mult.ndim == 3 else mult[..., None]
        bg *= mult
        shadow1 = mult.mean(axis=2)
    return harmonize_over(coef_fn, bg, rgba[..., :3], rgba[..., 3], shadow1, strength, net_size, multiple, crop_scale)


def harmonize_over(
    coef_fn: CoefFn,
    bg: np.ndarray,
    obj: np.ndarray,
    alpha: np.ndarray,
    shadow1: np.ndarray | None = None,
    strength: float = 1.0,
    net_size: int = 256,
    multiple: int = 8,
    crop_scale: float = 1.1,
) -> np.ndarray:
    """The harmonized object (linear HxWx3, straight ``alpha`` HxW) over ``bg`` (linear float32
    HxWx3, written in place and returned). Everything after finding the object's box works on
    the box: on a 1080p frame the full-frame copies and clips had cost more than the network."""
    if not (alpha > 0.5).any():  # nothing opaque in frame: plain over (= the plate when alpha is 0)
        a = np.clip(alpha.astype(np.float32), 0.0, 1.0)[..., None]
        if (a > 0).any():
            bg[...] = bg * (1.0 - a) + np.clip(obj.astype(np.float32), 0.0, None) * a
        return bg
    y0, y1, x0, x1 = object_box(alpha, crop_scale)
    a = np.clip(alpha[y0:y1, x0:x1].astype(np.float32), 0.0, 1.0)
    obj_c = np.clip(obj[y0:y1, x0:x1].astype(np.float32), 0.0, None)
    bg_c = bg[y0:y1, x0:x1]
    ch, cw = a.shape
    nh, nw = network_dims(ch, cw, net_size, multiple)
    bg_s = linear_to_srgb(np.clip(bg_c, 0.0, 1.0))
    obj_s = linear_to_srgb(np.clip(obj_c, 0.0, 1.0))
    mask_n = (_resize(a, nh, nw) > 0.5).astype(np.float32)
    sh_n = np.ones((nh, nw), np.float32) if shadow1 is None else _resize(shadow1[y0:y1, x0:x1], nh, nw)
    x = make_input(
        torch.from_numpy(_resize(bg_s, nh, nw)).permute(2, 0, 1)[None],
        torch.from_numpy(mask_n)[None, None],
        torch.from_numpy(_resize(obj_s, nh, nw)).permute(2, 0, 1)[None],
        torch.from_numpy(sh_n)[None, None],
    ).numpy()
    coef = coef_fn(np.ascontiguousarray(x, np.float32))[0]
    harm_s = np.clip(apply_upsampled(coef, obj_s), 0.0, 1.0)
    harm = srgb_to_linear(harm_s)
    # keep HDR highlights above 1: only the in-range part is re-coloured
    harm = np.where(obj_c > 1.0, obj_c * harm / np.maximum(srgb_to_linear(obj_s), 1e-6), harm)
    fg = obj_c + float(strength) * (harm - obj_c)
    bg[y0:y1, x0:x1] = bg_c * (1.0 - a[..., None]) + fg * a[..., None]
    return bg


def resolve_checkpoint(checkpoint: str | os.PathLike[str] | None) -> Path:
    return Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT


def load_model(checkpoint: str | os.PathLike[str] | None, cnum: int | None, device: str) -> tuple[PhotorealisticNet, Path]:
    """The network from a checkpoint; missing/unreadable -> EngineUnavailable naming the file."""
    path = resolve_checkpoint(checkpoint)
    if not path.is_file():
        raise EngineUnavailable(
            f"photorealistic compositor checkpoint not found: {path}. Train one (vanelia train composite "
            f"--data FRAMES_DIR) and copy OUT/last.safetensors to {DEFAULT_CHECKPOINT}, or give --checkpoint PATH; "
            "or use the 'classical' engine"
        )
    try:
        model = load_checkpoint(path, cnum=cnum)
    except CheckpointError as exc:
        if "cnum=" in str(exc) and "requested" in str(exc):
            raise  # a width mismatch is the caller's error, not a reason to fall back silently
        raise EngineUnavailable(f"{exc}. Expected a checkpoint from `vanelia train composite` at {path}") from exc
    except (OSError, ValueError, KeyError) as exc:
        raise EngineUnavailable(f"{path}: cannot load the photorealistic compositor checkpoint ({exc})") from exc
    return model.to(device).eval(), path


def torch_coef_fn(model: PhotorealisticNet, device: str = "cpu", half: bool = False) -> CoefFn:
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(x).to(device)
            if half:
                t = t.half()
            coef, _, _ = model(t)
            return coef.float().cpu().numpy()

    return run


@register
class PhotorealisticEngine(Engine):
    """composite/photorealistic: learned coarse-to-fine compositor with contextual attention."""

    stage = "composite"
    name = "photorealistic"
    Params = declare_params("PhotorealisticParams", {**BASE_DEFAULTS, **DEFAULTS})
    """Its own parameters and those of the engine a checkpoint may run first (classical: the
    only base there is), which reach that engine; a checkpoint without a base refuses them."""
    needs = ("plate", "rgba")
    default_checkpoint = DEFAULT_CHECKPOINT

    def __init__(self) -> None:
        super().__init__()
        self.cnum: int | None = None
        self.model: PhotorealisticNet | None = None
        self._coef_fn: CoefFn | None = None
        self.base: Engine | None = None

    def setup(self, device: str = "cpu", checkpoint: str | None = None) -> None:
        from ml.stages.base import create

        self.model, path = load_model(checkpoint, self.cnum, device)
        super().setup(device, str(path))
        self.cnum = self.model.config.cnum
        self._coef_fn = torch_coef_fn(self.model, device)
        self._on_device = device.startswith("cuda")  # the work around the network on the GPU too
        if self.model.config.base:  # a network that corrects another engine's composite runs after it
            self.base = create("composite", self.model.config.base)
            self.base.setup(device)

    def reset(self) -> None:
        if self.base is not None:
            self.base.reset()

    def _base_composite(self, frame: FrameState, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(composite, mask) for a network trained on a base engine's composites: the base
        engine's composite (a new array, the network's plate and object at once) and the mask it
        learnt on, the render's pixels with alpha > 0.5. The base engine gets the parameters it
        declares (an artist's grain=0 still reaches it)."""
        from ml.stages.base import param_names

        assert self.base is not None and frame.rgba is not None
        declared = set(param_names(type(self.base)) or ())  # what the base engine itself declares
        comp = np.asarray(self.base.process(frame, {k: v for k, v in params.items() if k in declared and k not in DEFAULTS}), np.float32)
        if not comp.flags.writeable or np.shares_memory(comp, frame.plate):
            comp = comp.copy()  # the object goes over it in place
        return comp, (np.asarray(frame.rgba[..., 3]) > 0.5).astype(np.float32)

    def _refuse_base_params(self, params: dict[str, Any]) -> None:
        """A checkpoint without a base engine has no use for the classical engine's parameters."""
        from ml.stages.base import GLOBAL_PARAMS

        base_keys = sorted(k for k in params if k in BASE_DEFAULTS and k not in DEFAULTS and k not in GLOBAL_PARAMS)
        if base_keys:
            raise EngineError(f"composite engine 'photorealistic': {', '.join(base_keys)} belong to the classical engine, "
                              f"and the checkpoint {self.checkpoint} does not run it first; use --compositor-type classical")

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        if self._coef_fn is None or self.model is None:
            raise EngineUnavailable("photorealistic engine used before setup(); call setup(device, checkpoint)")
        self.check_inputs(frame)
        assert frame.rgba is not None  # check_inputs raised MissingInput otherwise
        p = {**DEFAULTS, **params}
        net_size, multiple, scale = int(p["net_size"] or self.model.config.net_size), self.model.size_multiple, float(p["crop_scale"])
        on_device = getattr(self, "_on_device", False)
        if self.base is None:
            self._refuse_base_params(params)
            plate, rgba, shadow = frame.plate, frame.rgba, frame.passes.get("shadow_catcher")
        else:
            comp, mask = self._base_composite(frame, params)
            if not on_device:
                return harmonize_over(self._coef_fn, comp, comp, mask, None, float(p["strength"]), net_size, multiple, scale)
            plate, rgba, shadow = comp, np.concatenate([comp, mask[..., None]], axis=-1), None
        if on_device:
            from .photorealistic_device import composite_on_device

            out = composite_on_device(self.model, plate, rgba, shadow, float(p["strength"]), net_size, multiple, scale, device=self.device)
            return out.cpu().numpy()
        return composite_photorealistic(self._coef_fn, plate, rgba, shadow=shadow, strength=float(p["strength"]), net_size=net_size,
                                        multiple=multiple, crop_scale=scale)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "cnum": self.cnum, "base": self.base.name if self.base is not None else None}


class PhotorealisticCompositor(Compositor):
    """``PhotorealisticCompositor(device="cpu", cnum=None, checkpoint_path=None, **params)``.

    The reference API (process_frame / process_video_sequence from Compositor) on the
    photorealistic engine. ``cnum`` None takes the checkpoint's width; a number must match
    it (CheckpointError otherwise). No silent fallback to classical unless
    ``allow_fallback=True`` is given.
    """

    def __init__(self, device: str = "cpu", cnum: int | None = None, checkpoint_path: str | os.PathLike[str] | None = None, **params: Any):
        self.cnum = cnum
        params.setdefault("allow_fallback", False)
        super().__init__(engine="photorealistic", device=device, checkpoint_path=checkpoint_path, **params)

    def _make(self, name: str, device: str, checkpoint: str | None) -> Engine:  # type: ignore[override]
        from ml.stages import base

        eng = base.create("composite", name)
        if isinstance(eng, PhotorealisticEngine):
            eng.cnum = self.cnum
        eng.setup(device, checkpoint)
        return eng


def harmonize_image(engine: Engine, composite: np.ndarray, mask: np.ndarray, params: dict[str, Any] | None = None) -> np.ndarray:
    """Harmonize the masked region of a composite (float32 sRGB in [0,1], HxWx3) -> sRGB float32.

    The composite is both the plate and the object; the mask is the object's alpha, so
    pixels outside the mask come back unchanged.
    """
    lin = srgb_to_linear(np.clip(composite, 0.0, 1.0))
    rgba = np.concatenate([lin, (np.asarray(mask, np.float32) > 0.5).astype(np.float32)[..., None]], axis=-1)
    frame = FrameState(index=0, plate=lin, rgba=rgba)
    out = engine.process(frame, dict(params or {}))
    res = linear_to_srgb(np.clip(out, 0.0, 1.0))
    return np.where(mask[..., None] > 0.5, res, composite).astype(np.float32)
