"""Analytic relighting: re-shade the product from its albedo and world normals.

Diffuse (Lambert) shading with the shot's lighting estimate (shot.json ``lighting``):

    rgb = albedo * (ambient + sum_l colour_l * intensity_l * max(0, n . l) / pi)

* sun: ``direction`` points from the scene towards the light; ``intensity`` is irradiance
  (Blender's sun "strength", W/m^2), so radiance = albedo / pi * E * cos.
* point / area: direction and inverse-square falloff from the position pass,
  irradiance = power / (4 pi d^2) (Blender's watts, area treated as a point).
* ambient: the world colour x strength is the radiance of a uniform environment, which gives
  radiance albedo * L for an unoccluded diffuse surface. An optional sky/ground split
  (``sky_split``: brighter from above) stands in for occlusion; it is off by default because on
  the held-out relighting scenes the uniform term scored 1.5 dB PSNR better (ml/relight eval).

Used when the lighting changes without re-rendering. It knows no self-shadowing or specular:
for a one-off render, the Cycles render itself (relight ``none``) is the better product.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ml.stages.base import Engine, FrameState, MissingInput, declare_params, register
from shotcache.schema import Lighting


def _unit(v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32).reshape(3)
    n = float(np.linalg.norm(a))
    return a / n if n > 0 else np.array([0, 0, 1], np.float32)


def lambert_shade(
    albedo: np.ndarray,
    normal: np.ndarray,
    lighting: Lighting,
    position: np.ndarray | None = None,
    ambient_scale: float = 1.0,
    light_scale: float = 1.0,
    sky_split: float = 0.0,
) -> np.ndarray:
    """Linear HxWx3 radiance of a diffuse surface under ``lighting``."""
    n = np.asarray(normal, np.float32)
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
    world = np.asarray(lighting.world_color, np.float32).reshape(3) * float(lighting.world_strength)
    sky = 1.0 - 0.5 * sky_split + 0.5 * sky_split * n[..., 2:3]  # split 0.5: 0.75 + 0.25 n_z
    irradiance = world[None, None, :] * sky * ambient_scale
    for light in lighting.lights:
        colour = np.asarray(light.color, np.float32).reshape(3) * float(light.intensity) * light_scale
        if light.type == "sun" or position is None:
            cos = np.clip(n @ _unit(light.direction), 0.0, None)[..., None]
            irradiance = irradiance + colour[None, None, :] * cos / np.pi
        else:
            to_l = np.asarray(light.position, np.float32).reshape(1, 1, 3) - position
            d2 = np.maximum((to_l**2).sum(-1, keepdims=True), 1e-4)
            cos = np.clip((n * to_l).sum(-1, keepdims=True) / np.sqrt(d2), 0.0, None)
            irradiance = irradiance + colour[None, None, :] * cos / (4.0 * np.pi * d2) / np.pi
    return (np.asarray(albedo, np.float32) * irradiance).astype(np.float32)


@register
class LambertRelight(Engine):
    """relight/lambert: analytic diffuse re-shading from albedo + normals + shot lights."""

    stage = "relight"
    name = "lambert"
    needs = ("rgba", "albedo", "normal", "lighting")
    Params = declare_params("LambertParams", {"ambient": 1.0, "light": 1.0, "sky_split": 0.0, "strength": 1.0})

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        rgba = frame.rgba
        if rgba is None:
            raise MissingInput(f"relight: frame {frame.index} has no product render")
        shaded = lambert_shade(
            frame.passes["albedo"],
            frame.passes["normal"],
            frame.lighting,
            position=frame.passes.get("position"),
            ambient_scale=float(params.get("ambient", 1.0)),
            light_scale=float(params.get("light", 1.0)),
            sky_split=float(params.get("sky_split", 0.0)),
        )
        alpha = rgba[..., 3:4]
        mix = float(params.get("strength", 1.0))
        rgb = rgba[..., :3] * (1 - mix) + shaded * mix
        rgb = np.where(alpha > 0, rgb, 0.0)
        return np.concatenate([rgb, alpha], axis=-1).astype(np.float32)


@register
class NoRelight(Engine):
    """relight/none: keep the Cycles render as it is."""

    stage = "relight"
    name = "none"
    needs = ("rgba",)
    Params = declare_params("NoRelightParams", {})

    def process(self, frame: FrameState, params: dict[str, Any]) -> np.ndarray:
        return np.asarray(frame.rgba, np.float32)
