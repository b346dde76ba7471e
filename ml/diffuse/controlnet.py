"""ControlNet conditioning on our own render passes so the product's geometry stays put.

* depth: the Depth pass (planar depth in metres, background >= 1e9) -> normalised inverse
  depth, near = bright (the convention of depth ControlNets); background black.
* normal: the world-space Normal pass -> camera space (when the frame has a camera) in the
  OpenGL-camera convention normal ControlNets use (x right, y up, z towards the viewer), mapped
  to [0,1]; background = (0.5, 0.5, 1) ("facing the camera").

Nets come from the model folder: ``controlnet/`` (depth) and ``controlnet_normal/`` (normals).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ml.stages.base import EngineError, EngineUnavailable

from .models import DiffusionModels, check_prompt
from .sdedit import Options, Result, TemporalHooks, diffuse_region

CONTROL_FOLDERS = {"depth": "controlnet", "normal": "controlnet_normal"}
BACKGROUND_DEPTH = 1e9


def parse_control(spec: str | None) -> tuple[str, ...]:
    """'depth', 'normal' or 'depth+normal' -> the passes to condition on."""
    kinds = tuple(k.strip() for k in (spec or "depth").replace(",", "+").split("+") if k.strip())
    bad = [k for k in kinds if k not in CONTROL_FOLDERS]
    if bad or not kinds:
        raise EngineError(f"unknown control {spec!r}; use depth, normal or depth+normal")
    return kinds


def depth_condition(depth: np.ndarray) -> np.ndarray:
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim == 3:
        d = d[..., 0]
    valid = np.isfinite(d) & (d > 0) & (d < BACKGROUND_DEPTH)
    out = np.zeros(d.shape, np.float32)
    if valid.any():
        inv = 1.0 / d[valid]
        lo, hi = float(inv.min()), float(inv.max())
        out[valid] = 0.2 + 0.8 * ((inv - lo) / (hi - lo) if hi > lo else 1.0)
    return np.repeat(out[..., None], 3, axis=2)


def normal_condition(normal: np.ndarray, c2w: Any = None) -> np.ndarray:
    n = np.asarray(normal, dtype=np.float32)[..., :3]
    length = np.linalg.norm(n, axis=2, keepdims=True)
    valid = length[..., 0] > 0.5
    n = n / np.maximum(length, 1e-6)
    if c2w is not None:
        r = np.asarray(c2w, dtype=np.float32).reshape(4, 4)[:3, :3] if np.size(c2w) == 16 else np.asarray(c2w, np.float32)[:3, :3]
        n = n @ r  # world -> OpenCV camera: R^T n, row-vector form
        n = n * np.array([1.0, -1.0, -1.0], np.float32)  # OpenCV camera -> OpenGL camera
    out = np.where(valid[..., None], (n + 1.0) / 2.0, np.array([0.5, 0.5, 1.0], np.float32))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def camera_c2w(camera: Any) -> Any:
    if camera is None:
        return None
    for name in ("c2w", "camera_to_world", "matrix"):
        if getattr(camera, name, None) is not None:
            return getattr(camera, name)
    return None


def controlnet_diffuse(
    models: DiffusionModels,
    image_lin: np.ndarray,
    region: np.ndarray,
    opts: Options,
    depth: np.ndarray | None = None,
    normal: np.ndarray | None = None,
    camera: Any = None,
    control: str = "depth",
    scale: float = 1.0,
    temporal: TemporalHooks | None = None,
) -> Result:
    check_prompt(opts.prompt, "controlnet", required=False)
    controls = []
    for kind in parse_control(control):
        folder = CONTROL_FOLDERS[kind]
        net = models.controlnets.get(folder)
        if net is None:
            raise EngineUnavailable(f"model folder {models.folder} has no '{folder}/' ControlNet for {kind}: place a diffusers ControlNet there")
        if kind == "depth":
            if depth is None:
                raise EngineError("controlnet engine conditioned on depth needs the Depth pass (render it)")
            controls.append((net, depth_condition(depth), float(scale)))
        else:
            if normal is None:
                raise EngineError("controlnet engine conditioned on normals needs the Normal pass (render it)")
            controls.append((net, normal_condition(normal, camera_c2w(camera)), float(scale)))
    return diffuse_region(models, image_lin, region, opts, controls=controls, temporal=temporal)
