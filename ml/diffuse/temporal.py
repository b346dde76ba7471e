"""Diffusion on video without flicker: shot-fixed noise, latent blending, keyframe propagation.

Modes (param ``temporal``):

* ``fixed`` (default): every frame of a shot is denoised from the *same* noise (same seed,
  same tensor), so static content gets the same answer frame after frame.
* ``blend``: also mixes the previous frame's denoised latents into this frame's start latents
  (weight ``latent_blend``), pulling consecutive results together.
* ``keyframe``: diffuse every ``keyframe_interval``-th frame; in between, warp the keyframe's
  change (diffused - composite) along optical flow of the *composites* and add it.

Flicker is measured as the warping error: the mean absolute difference between a frame and
the previous frame warped to it (flow from the non-diffused composites, occlusions excluded),
reported next to the same number for the composites themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from ml.io.colour import linear_to_uint8
from ml.stages.base import EngineError

from .masks import blend_keep_outside
from .sdedit import Result, TemporalHooks

MODES = ("fixed", "blend", "keyframe", "independent")


def _grey(lin: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(linear_to_uint8(lin[..., :3]), cv2.COLOR_RGB2GRAY)


def backward_flow(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Flow f with current(y, x) ~ previous(y + f_y, x + f_x) (Farneback on luminance)."""
    return cv2.calcOpticalFlowFarneback(_grey(current), _grey(previous), None, 0.5, 3, 15, 3, 5, 1.2, 0)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def valid_mask(current: np.ndarray, previous: np.ndarray, flow_cp: np.ndarray, tol: float = 1.0) -> np.ndarray:
    """Forward-backward consistency: pixels whose flow round-trips within ``tol`` px, inside the frame."""
    flow_pc = backward_flow(previous, current)
    back = warp(flow_pc, flow_cp)
    err = np.linalg.norm(flow_cp + back, axis=2)
    h, w = flow_cp.shape[:2]
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    inside = (gx + flow_cp[..., 0] >= 0) & (gx + flow_cp[..., 0] <= w - 1) & (gy + flow_cp[..., 1] >= 0) & (gy + flow_cp[..., 1] <= h - 1)
    return (err < tol) & inside


def warping_error(outputs: list[np.ndarray], references: list[np.ndarray]) -> dict[str, float]:
    """Flicker of ``outputs`` vs ``references`` (same length): flows come from the references."""
    if len(outputs) != len(references):
        raise EngineError(f"warping error needs as many outputs ({len(outputs)}) as references ({len(references)})")
    if len(outputs) < 2:
        return {"diffused": 0.0, "composite": 0.0, "ratio": 1.0, "pairs": 0}
    e_out, e_ref = [], []
    for t in range(1, len(outputs)):
        f = backward_flow(references[t], references[t - 1])
        v = valid_mask(references[t], references[t - 1], f)
        if not v.any():
            continue
        e_out.append(float(np.abs(outputs[t][..., :3] - warp(outputs[t - 1][..., :3], f))[v].mean()))
        e_ref.append(float(np.abs(references[t][..., :3] - warp(references[t - 1][..., :3], f))[v].mean()))
    d, c = float(np.mean(e_out)) if e_out else 0.0, float(np.mean(e_ref)) if e_ref else 0.0
    return {"diffused": d, "composite": c, "ratio": d / c if c > 0 else float("inf") if d > 0 else 1.0, "pairs": len(e_out)}


def propagate(key_out: np.ndarray, key_ref: np.ndarray, current_ref: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """Carry a keyframe's diffusion change to another frame along the composites' flow."""
    f = backward_flow(current_ref, key_ref)
    change = warp(key_out[..., :3] - key_ref[..., :3], f)
    # the change already carries the keyframe's soft edge: apply it whole, only inside the region
    support = ((warp(soft, f) > 1e-6) & (soft > 0)).astype(np.float32)
    return blend_keep_outside(current_ref, current_ref[..., :3] + change, support)


@dataclass
class Sequencer:
    """Per-shot temporal state an engine keeps between frames; ``reset`` starts a new shot."""

    mode: str = "fixed"
    latent_blend: float = 0.25
    keyframe_interval: int = 8
    hooks: TemporalHooks = field(default_factory=TemporalHooks)
    count: int = 0
    key: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def configure(self, params: dict) -> None:
        mode = str(params.get("temporal", self.mode) or "fixed")
        if mode not in MODES:
            raise EngineError(f"unknown temporal mode {mode!r}; choose from {', '.join(MODES)}")
        if mode != self.mode:
            self.reset()
        self.mode = mode
        self.latent_blend = float(params.get("latent_blend", self.latent_blend))
        self.keyframe_interval = max(1, int(params.get("keyframe_interval", self.keyframe_interval)))

    def reset(self) -> None:
        self.hooks = TemporalHooks()
        self.count = 0
        self.key = None

    def step(self, composite: np.ndarray, run: Callable[[TemporalHooks | None], Result]) -> np.ndarray:
        """One frame: ``run(hooks)`` diffuses it; returns the frame's output."""
        i = self.count
        self.count += 1
        if self.mode == "independent":
            return run(None).image
        if self.mode == "keyframe" and self.key is not None and i % self.keyframe_interval != 0:
            key_out, key_ref, soft = self.key
            if key_ref.shape == composite.shape:
                return propagate(key_out, key_ref, composite, soft)
        self.hooks.blend = self.latent_blend if self.mode == "blend" else 0.0
        res = run(self.hooks)
        self.hooks.previous = self.hooks.last_latents
        if self.mode == "keyframe":
            self.key = (res.image, composite.astype(np.float32), res.soft)
        return res.image
