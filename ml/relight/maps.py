"""G-buffer -> light maps: what the relighting network sees, computed from render passes.

For a light ``l`` and a surface point ``p`` with unit normal ``n`` (world space, metres):

* cosine   = n . l_dir, with l_dir the unit direction from p towards the light
  (sun: the light's ``direction``; point/area: ``normalize(position - p)``). Not clamped: the
  sign tells the network which side faces away.
* distance = metres to the light. Point: ``|position - p|``. Sun (infinitely far): the distance
  along the light's direction from the plane, facing the sun, through the object's point nearest
  to it, ``max_q(q . l_dir) - p . l_dir`` - a depth as seen from the sun, the cue for cast shadows.
* irradiance = the light's colour x strength arriving at p on a surface facing it, divided by
  pi so that an unshadowed Lambertian surface shades to ``albedo * max(cos, 0)`` at unit
  irradiance (Cycles conventions: sun strength in W/m2, point power in W radiated over 4 pi sr).

Several lights: one (distance, cosine) pair per light; light transport is linear, so the
engine runs the network once per light and sums ``irradiance x shading``, or keeps only the
strongest light (``strongest_light``) when speed matters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


def _field(light: Any, name: str, default: Any = None) -> Any:
    if isinstance(light, dict):
        return light.get(name, default)
    return getattr(light, name, default)


def _unit(v: np.ndarray, axis: int = -1) -> np.ndarray:
    n = np.linalg.norm(v, axis=axis, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32)


def valid_mask(normal: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """HxW bool: pixels that hold a surface (alpha > 0, else a non-zero normal)."""
    if alpha is not None:
        return np.asarray(alpha).reshape(normal.shape[:2]) > 1e-3
    return np.linalg.norm(normal, axis=-1) > 0.5


def light_direction(position: np.ndarray, light: Any) -> np.ndarray:
    """HxWx3 unit vectors from each point towards the light."""
    kind = str(_field(light, "type", "sun"))
    if kind == "sun":
        d = _unit(np.asarray(_field(light, "direction"), dtype=np.float32))
        return np.broadcast_to(d, position.shape).astype(np.float32)
    return _unit(np.asarray(_field(light, "position"), dtype=np.float32) - position)


def cosine_map(normal: np.ndarray, position: np.ndarray, light: Any, valid: np.ndarray | None = None) -> np.ndarray:
    """HxW n.l (0 outside ``valid``)."""
    cos = np.sum(_unit(normal) * light_direction(position, light), axis=-1)
    if valid is not None:
        cos = np.where(valid, cos, 0.0)
    return cos.astype(np.float32)


def distance_map(position: np.ndarray, light: Any, valid: np.ndarray | None = None) -> np.ndarray:
    """HxW metres to the light (sun: depth along the light direction, see module doc)."""
    kind = str(_field(light, "type", "sun"))
    if kind == "sun":
        d = _unit(np.asarray(_field(light, "direction"), dtype=np.float32))
        along = position @ d
        ref = float(along[valid].max()) if valid is not None and valid.any() else float(along.max())
        dist = ref - along
    else:
        dist = np.linalg.norm(np.asarray(_field(light, "position"), dtype=np.float32) - position, axis=-1)
    if valid is not None:
        dist = np.where(valid, dist, 0.0)
    return dist.astype(np.float32)


def irradiance_map(position: np.ndarray, light: Any, valid: np.ndarray | None = None) -> np.ndarray:
    """HxWx3 light colour x strength / pi reaching each point (point lights fall off as 1/d^2)."""
    color = np.asarray(_field(light, "color", (1.0, 1.0, 1.0)), dtype=np.float32)[:3]
    strength = float(_field(light, "intensity", 1.0))
    kind = str(_field(light, "type", "sun"))
    if kind == "sun":
        e = np.broadcast_to(color * strength / math.pi, position.shape).astype(np.float32)
    else:
        d2 = np.sum((np.asarray(_field(light, "position"), dtype=np.float32) - position) ** 2, axis=-1, keepdims=True)
        e = color * strength / (4.0 * math.pi * math.pi * np.maximum(d2, 1e-4))
    if valid is not None:
        e = np.where(valid[..., None], e, 0.0)
    return e.astype(np.float32)


def ambient_map(albedo: np.ndarray, lighting: Any, valid: np.ndarray | None = None) -> np.ndarray:
    """HxWx3 unoccluded uniform-world term: albedo x world colour x world strength."""
    wc = np.asarray(_field(lighting, "world_color", (0.0, 0.0, 0.0)), dtype=np.float32)[:3]
    ws = float(_field(lighting, "world_strength", 0.0))
    amb = albedo[..., :3] * wc * ws
    if valid is not None:
        amb = np.where(valid[..., None], amb, 0.0)
    return amb.astype(np.float32)


def strongest_light(lighting: Any, position: np.ndarray, valid: np.ndarray) -> int:
    """Index of the light that brings the most mean irradiance onto the visible surface."""
    lights = list(_field(lighting, "lights", []) or [])
    if not lights:
        raise ValueError("lighting has no lights; add one to shot.json lighting.lights")
    pts = position[valid] if valid.any() else position.reshape(-1, 3)[:1]
    scores = [float(irradiance_map(pts[None], light).mean()) for light in lights]
    return int(np.argmax(scores))


@dataclass
class LightMaps:
    """Network inputs for one light (HxW float32 each, normalised) + its irradiance (HxWx3)."""

    distance: np.ndarray
    cosine: np.ndarray
    irradiance: np.ndarray


@dataclass
class GBuffer:
    """What every light shares: albedo, normals, validity, the ambient term."""

    albedo: np.ndarray
    normal: np.ndarray
    valid: np.ndarray
    ambient: np.ndarray
    lights: list[LightMaps]


def normalised_distance(dist: np.ndarray, position: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Distance minus its nearest value, over the object's size: scale-free shadow cue."""
    if not valid.any():
        return np.zeros_like(dist)
    pts = position[valid]
    extent = float(np.linalg.norm(pts.max(0) - pts.min(0)))
    rel = (dist - dist[valid].min()) / max(extent, 1e-3)
    return np.where(valid, rel, 0.0).astype(np.float32)


def gbuffer(
    albedo: np.ndarray,
    normal: np.ndarray,
    position: np.ndarray,
    lighting: Any,
    alpha: np.ndarray | None = None,
    lights: str = "all",
) -> GBuffer:
    """Build the per-light maps from passes; ``lights`` = "all" or "strongest"."""
    valid = valid_mask(normal, alpha)
    all_lights: Sequence[Any] = list(_field(lighting, "lights", []) or [])
    if lights == "strongest" and all_lights:
        all_lights = [all_lights[strongest_light(lighting, position, valid)]]
    maps = []
    for light in all_lights:
        dist = distance_map(position, light, valid)
        maps.append(
            LightMaps(
                distance=normalised_distance(dist, position, valid),
                cosine=cosine_map(normal, position, light, valid),
                irradiance=irradiance_map(position, light, valid),
            )
        )
    unit_normal = np.where(valid[..., None], _unit(normal), 0.0).astype(np.float32)
    alb = np.where(valid[..., None], albedo, 0.0).astype(np.float32)
    return GBuffer(albedo=alb, normal=unit_normal, valid=valid, ambient=ambient_map(alb, lighting, valid), lights=maps)
