"""A small shot built without Blender, for tests and benchmarks of the sidecar side.

Plate: a noisy, textured ground under a sky gradient, panning slowly. Render: a shaded
sphere (rgba, world normals, albedo, depth, position) resting on the ground, with a soft
contact shadow in the shadow-catcher pass. Real files in the real layout (PNG plate,
multilayer EXR passes, shot.json), so whatever reads a rendered shot reads this one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.io.colour import linear_to_uint8, srgb_to_linear
from ml.io.exr import write_passes
from ml.io.images import write_rgb8
from shotcache.layout import ShotPaths
from shotcache.schema import FrameCamera, Shot


def synth_plate(w: int, h: int, frame: int, seed: int = 0, noise: float = 0.02) -> np.ndarray:
    """uint8 sRGB plate: sky gradient over a checker-textured ground, plus sensor noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    horizon = 0.38 * h
    sky = np.stack([0.55 + 0.2 * y / h, 0.7 + 0.1 * y / h, 0.95 * np.ones_like(y)], -1)
    gx = (x + frame * 2.0) / max(w, 1) * 12.0
    gy = np.maximum(y - horizon, 1.0) / h * 10.0
    checker = ((np.floor(gx / (gy + 0.3)) + np.floor(8.0 / (gy + 0.3))) % 2)[..., None]
    ground = np.array([0.42, 0.36, 0.24], np.float32) * (0.85 + 0.15 * checker)
    img = np.where((y > horizon)[..., None], ground, sky)
    rng = np.random.default_rng([seed, frame])
    img = img + rng.normal(0.0, noise, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def synth_render(w: int, h: int, frame: int, radius_frac: float = 0.18, offset: tuple[float, float] = (0.0, 0.0), visible: bool = True) -> dict[str, np.ndarray]:
    """Canonical passes of a red sphere on the ground, lit from the upper left."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    r = radius_frac * h
    cx = w * (0.5 + offset[0]) + frame * 0.5
    cy = h * (0.62 + offset[1])
    dx, dy = (x - cx) / r, (y - cy) / r
    d2 = dx**2 + dy**2
    # anti-aliased coverage over ~1 px of the rim
    alpha = np.clip((1.0 - np.sqrt(d2)) * r + 0.5, 0.0, 1.0) if visible else np.zeros_like(d2)
    nz = np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
    # camera looks along +y (world), image x = world x, image y down = world -z
    normal = np.stack([dx, -nz, -dy], -1) * (alpha[..., None] > 0)
    normal = normal / np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-6)
    albedo = np.broadcast_to(np.array([0.6, 0.08, 0.05], np.float32), (h, w, 3)) * (alpha[..., None] > 0)
    sun = np.array([-0.4, -0.5, 0.77], np.float32)
    sun /= np.linalg.norm(sun)
    shade = 0.25 + np.clip(normal @ sun, 0, None) * 0.9
    rgb = albedo * shade[..., None]
    depth = np.where(alpha > 0, 4.0 - nz * r / h, 1e10).astype(np.float32)
    position = np.stack([x / w, depth, -y / h], -1).astype(np.float32)
    sx, sy = (x - cx - 0.35 * r) / (1.45 * r), (y - (cy + 0.85 * r)) / (0.4 * r)
    shadow_amt = np.clip(1.0 - np.sqrt(sx**2 + sy**2), 0.0, 1.0) ** 0.6 * (0.75 if visible else 0.0)
    shadow = np.repeat((1.0 - shadow_amt)[..., None], 3, -1)
    return {
        "rgba": np.concatenate([rgb, alpha[..., None]], -1).astype(np.float32),
        "normal": normal.astype(np.float32),
        "albedo": albedo.astype(np.float32),
        "depth": depth[..., None],
        "position": position,
        "shadow_catcher": shadow.astype(np.float32),
    }


def make_shot(root: str | Path, frames: int = 4, size: tuple[int, int] = (96, 64), first: int = 1, noise: float = 0.02) -> ShotPaths:
    """Write a complete shot folder (plate PNGs, render EXRs, shot.json) and return its paths."""
    paths = ShotPaths(root)
    w, h = size
    nums = list(range(first, first + frames))
    cams = {}
    for f in nums:
        write_rgb8(paths.plate_frame(f), synth_plate(w, h, f, noise=noise))
        write_passes(paths.render_frame(f), synth_render(w, h, f))
        c2w = np.eye(4).tolist()
        cams[f] = FrameCamera(fx=w * 1.2, fy=w * 1.2, cx=w / 2, cy=h / 2, c2w=c2w)
    shot = Shot(name="synthetic", resolution=[w, h], fps=24.0, frames=nums)
    shot.camera.frames = cams
    shot.camera.kind = "static"
    paths.save_shot(shot)
    return paths


def linear_plate(w: int, h: int, frame: int = 1) -> np.ndarray:
    return srgb_to_linear(synth_plate(w, h, frame).astype(np.float32) / 255.0)


__all__ = ["make_shot", "synth_plate", "synth_render", "linear_plate", "linear_to_uint8"]
