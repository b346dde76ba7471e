"""The lat-long (equirectangular) layout of environment maps: one rule for both sides.

Blender's layout (Cycles ``direction_to_equirectangular``): row 0 is the zenith, column u maps
to azimuth phi = pi - 2 pi u (u = 0.5 looks along +x); world z is up. The sidecar builds the
shot's environment map in it (ml/light/envmap.py) and the Blender side reads it back to find
where the environment's light comes from (shotcache/render_region.py); Blender's world node
shows it as is.
"""
from __future__ import annotations

import numpy as np


def directions(width: int, height: int) -> np.ndarray:
    """HxWx3 unit world directions of the lat-long pixel centres (Blender's layout)."""
    theta = np.pi * (np.arange(height) + 0.5) / height
    phi = np.pi - 2 * np.pi * (np.arange(width) + 0.5) / width
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    return np.stack([st * np.cos(phi)[None, :], st * np.sin(phi)[None, :], np.broadcast_to(ct, (height, width))], -1).astype(np.float64)


def direction_to_pixel(d: np.ndarray, width: int, height: int) -> tuple[float, float]:
    """(column, row) in the lat-long image of a world direction (the inverse of ``directions``)."""
    d = np.asarray(d, np.float64) / np.linalg.norm(d)
    u = 0.5 - np.arctan2(d[1], d[0]) / (2 * np.pi)
    theta = np.arccos(np.clip(d[2], -1, 1))
    return float(u % 1.0 * width), float(theta / np.pi * height)


def solid_angles(width: int, height: int) -> np.ndarray:
    """H x 1 solid angle (sr) of a pixel in each row: rows near the poles cover less of the sphere."""
    theta = np.pi * (np.arange(height) + 0.5) / height
    return (np.sin(theta) * (np.pi / height) * (2 * np.pi / width))[:, None]


def irradiance(env: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Irradiance (RGB) an environment map (HxWx3, this layout, linear) gives a surface facing
    ``normal``: the cosine-weighted sum of its radiance over the hemisphere above that surface,
    as a path tracer integrates it (a Lambertian surface of albedo a then sends a E / pi)."""
    h, w = env.shape[:2]
    n = np.asarray(normal, np.float64)
    cos = np.clip(directions(w, h) @ (n / np.linalg.norm(n)), 0.0, None)
    return np.einsum("hw,hwc->c", cos * solid_angles(w, h), np.asarray(env, np.float64)[..., :3])
