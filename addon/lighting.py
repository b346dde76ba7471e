"""Light the product from the plate, not from Blender's defaults.

The world is a uniform environment of the plate's mean (linear) colour: the product picks
up the footage's overall tint and level. A sun is the key light: its direction is the
user's, or estimated from the brightest region of the plate (the ray through it, lifted
above the horizon), or, for a flat plate, from over the camera's shoulder.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import bpy
import numpy as np
from mathutils import Vector

from pathlib import Path

from ..shotcache import latlong
from ..shotcache.colour import REC709_LUMA
from ..shotcache.layout import ShotPaths
from ..shotcache.schema import FrameCamera, Light, Lighting
from . import compat, plate
from ..shotcache.errors import InputError

SUN_NAME = "Vanelia Key"
KEY_GROUP = "key"
"""Cycles light group of the key light (the first light): its Combined is the "key" render
pass, the key's share of the product."""
WORLD_NAME = "Vanelia World"
MIN_ELEVATION_DEG = 25.0


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _sample_frames(frames: list[int], n: int = 5) -> list[int]:
    if len(frames) <= n:
        return list(frames)
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in idx]


def plate_mean_color(shot_dir: str, frames: list[int]) -> list[float]:
    paths = ShotPaths(shot_dir)
    means = [srgb_to_linear(plate.read_pixels(paths.plate_frame(f))[::4, ::4, :3]).reshape(-1, 3).mean(axis=0) for f in _sample_frames(frames)]
    return [float(v) for v in np.mean(means, axis=0)]


def _lift(direction: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Keep a light direction at least MIN_ELEVATION_DEG above the horizon."""
    d = direction / np.linalg.norm(direction)
    elev = math.asin(float(np.clip(d @ up, -1, 1)))
    min_e = math.radians(MIN_ELEVATION_DEG)
    if elev >= min_e:
        return d
    horiz = d - up * (d @ up)
    if np.linalg.norm(horiz) < 1e-9:
        return up.copy()
    horiz /= np.linalg.norm(horiz)
    return horiz * math.cos(min_e) + up * math.sin(min_e)


def estimate_key_direction(shot_dir: str, frame: int, cam: FrameCamera, up: list[float]) -> tuple[list[float], bool]:
    """(direction towards the light, estimated?) from one plate frame."""
    img = plate.read_pixels(ShotPaths(shot_dir).plate_frame(frame))[..., :3]
    lum = srgb_to_linear(img) @ np.array(REC709_LUMA)
    h, w = lum.shape
    k = max(1, min(h, w) // 16)  # box-blur by block averaging: robust to single hot pixels
    hb, wb = h // k, w // k
    blocks = lum[: hb * k, : wb * k].reshape(hb, k, wb, k).mean(axis=(1, 3))
    c2w = np.asarray(cam.c2w, dtype=np.float64)
    upv = np.asarray(up, dtype=np.float64)
    if blocks.max() - blocks.mean() < 0.1 * max(blocks.mean(), 1e-3):
        back, right, cam_up = -c2w[:3, 2], c2w[:3, 0], -c2w[:3, 1]
        return _lift(back + 1.5 * cam_up + 0.5 * right, upv).tolist(), False
    by, bx = np.unravel_index(int(np.argmax(blocks)), blocks.shape)
    u, v = (bx + 0.5) * k, (by + 0.5) * k
    ray = c2w[:3, :3] @ np.array([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, 1.0])
    return _lift(ray, upv).tolist(), True


def estimate(shot_dir: str, frames: list[int], cameras: dict[int, FrameCamera], up: list[float], direction: list[float] | None = None, intensity: float = 3.0) -> Lighting:
    colour = plate_mean_color(shot_dir, frames)
    estimated = direction is None
    if direction is None:
        direction, estimated = estimate_key_direction(shot_dir, frames[0], cameras[frames[0]], up)
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    return Lighting(world_color=colour, world_strength=1.0, lights=[Light(type="sun", direction=d.tolist(), intensity=intensity)], estimated=estimated)


def apply(scene: Any, lighting: Lighting, shot_dir: str | None = None) -> None:
    """World (the estimated environment map, else a uniform colour) + lights in the scene,
    replacing earlier Vanelia lights of this scene."""
    own = scene.world is not None and scene.world.name.startswith(WORLD_NAME)  # each shot scene its own world
    world = scene.world if own else bpy.data.worlds.new(WORLD_NAME)
    scene.world = world
    compat.world_background(world, lighting.world_color, lighting.world_strength)
    env = Path(shot_dir) / lighting.environment if shot_dir and lighting.environment else None
    if env is not None:
        if not env.is_file():
            raise InputError(f"{env}: the shot's environment map is missing; estimate the light again (vanelia render)")
        world_environment(world, env)
    for obj in [o for o in scene.objects if o.name.startswith(SUN_NAME)]:  # this scene's lights only
        bpy.data.objects.remove(obj, do_unlink=True)
    for i, light in enumerate(lighting.lights):
        name = SUN_NAME if i == 0 else f"{SUN_NAME} {i}"
        data: Any = bpy.data.lights.new(name, "SUN" if light.type == "sun" else light.type.upper())  # type: ignore[arg-type]
        data.color = light.color
        data.energy = light.intensity
        data.use_shadow = bool(light.shadow)
        if light.type == "sun":
            data.angle = math.radians(light.angle_deg)
        elif light.type == "area":
            data.size = light.angle_deg
        elif light.type == "point":
            data.shadow_soft_size = light.angle_deg
        obj = bpy.data.objects.new(name, data)
        scene.collection.objects.link(obj)
        point_at(obj, light.direction)
        obj.location = light.position
        obj.visible_camera = False  # a lamp or window panel inside the frame must not show as a shape
        if i == 0:
            obj.lightgroup = KEY_GROUP  # its share of the product is the "key" pass


def load_env(path: Path) -> np.ndarray | None:
    """The lat-long environment map as H x W x 3 (row 0 the zenith), or None when unreadable."""
    try:
        img: Any = bpy.data.images.load(str(path), check_existing=True)
    except RuntimeError:
        return None
    w, h = int(img.size[0]), int(img.size[1])
    if w == 0 or h == 0:
        return None
    buf = np.empty(w * h * img.channels, np.float32)
    img.pixels.foreach_get(buf)
    return buf.reshape(h, w, img.channels)[::-1, :, :3]  # Blender stores rows bottom-up


def ground_irradiance(lighting: Lighting, shot_dir: str | None, normal: list[float], at: list[float] | None = None) -> np.ndarray | None:
    """Irradiance (linear RGB, Cycles' units) the shot's light gives open ground facing
    ``normal``: the world (its environment map, else its uniform colour), the suns, and lamps
    and windows at the ground point ``at`` (the product's foot): a lamp's light changes along
    the ground, and the foot's is the ground a product mirrors and refracts most. Without
    ``at`` a shot lit by a lamp has none (None)."""
    n = np.asarray(normal, np.float64) / max(float(np.linalg.norm(normal)), 1e-12)
    sky = load_env(Path(shot_dir) / lighting.environment) if shot_dir and lighting.environment else None
    if sky is not None:
        e = latlong.irradiance(sky, n)
    else:
        e = math.pi * np.asarray(lighting.world_color[:3], np.float64)  # a uniform sky over the hemisphere
    e = e * float(lighting.world_strength)
    for light in lighting.lights:
        if light.type != "sun" and at is None:
            return None
        e = e + _light_irradiance(light, n, None if at is None else np.asarray(at, np.float64)) * np.asarray(light.color[:3], np.float64)
    return e


def _light_irradiance(light: Light, n: np.ndarray, at: np.ndarray | None) -> float:
    """One light's irradiance on ground facing ``n`` (at ``at`` for a lamp or a window), as
    Cycles gives it (checked by rendering a white plane): a sun its strength by the cosine; a
    point of P watts P / (4 pi d^2) by the cosine; a small area light P / (pi d^2) by the
    cosines at both ends (it shines down its -Z, away from ``direction``)."""
    d = np.asarray(light.direction, np.float64)
    if light.type == "sun":
        return float(light.intensity) * max(0.0, float(d @ n) / max(float(np.linalg.norm(d)), 1e-12))
    assert at is not None
    to = np.asarray(light.position, np.float64) - at
    dist2 = max(float(to @ to), 1e-6)
    cos = max(0.0, float(to @ n) / math.sqrt(dist2))
    if light.type == "area":
        cos_emit = max(0.0, float(to @ d) / (math.sqrt(dist2) * max(float(np.linalg.norm(d)), 1e-12)))
        return float(light.intensity) / (math.pi * dist2) * cos * cos_emit
    return float(light.intensity) / (4 * math.pi * dist2) * cos


def point_at(obj: Any, direction: Any) -> None:
    """Turn a light so that it shines from ``direction`` (towards the light): a Blender light
    shines down its local -Z, so its +Z goes to the direction (``capture`` reads it back)."""
    obj.rotation_mode = "QUATERNION"
    obj.rotation_quaternion = Vector((0.0, 0.0, 1.0)).rotation_difference(Vector(direction))


def shining_from(obj: Any) -> np.ndarray:
    """Unit direction towards the light of a Vanelia light object, from its own transform now
    (matrix_world waits for a depsgraph update): the inverse of ``point_at``."""
    d = obj.matrix_basis.to_3x3().normalized() @ Vector((0.0, 0.0, 1.0))
    return np.asarray(d.normalized(), np.float64)


def world_environment(world: Any, path: Path) -> None:
    """Feed an equirectangular image into the world's Background node (linear EXR)."""
    tree = world.node_tree
    bg = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBackground")
    for node in [n for n in tree.nodes if n.bl_idname == "ShaderNodeTexEnvironment"]:
        tree.nodes.remove(node)
    tex: Any = tree.nodes.new("ShaderNodeTexEnvironment")
    name = f"Vanelia Env {path.parent.parent.name}"
    old = bpy.data.images.get(name)
    if old is not None:
        bpy.data.images.remove(old)
    img = bpy.data.images.load(str(path), check_existing=False)
    img.name = name
    tex.image = img
    tree.links.new(tex.outputs["Color"], bg.inputs["Color"])


def capture(scene: Any, base: Lighting) -> Lighting:
    """The light the scene holds now, as a shot record: the Vanelia lights (as the artist
    left them: rotated, moved, brighter, softer, another colour) and the world's strength,
    over ``base`` (every other field kept: environment map, world colour, ground albedo ...). The inverse of
    ``apply``, so an artist's edit in the viewport survives into shot.json and every later
    render of the shot, headless ones included."""
    lights: list[Light] = []
    for obj in sorted((o for o in scene.objects if o.name.startswith(SUN_NAME) and o.type == "LIGHT"), key=lambda o: o.name):
        data: Any = obj.data
        kind = {"SUN": "sun", "POINT": "point", "AREA": "area", "SPOT": "point"}.get(data.type, "sun")
        basis = obj.matrix_basis
        direction = shining_from(obj)
        size = math.degrees(data.angle) if kind == "sun" else float(data.shadow_soft_size if data.type == "POINT" else getattr(data, "size", 0.0) or 0.0)
        lights.append(Light(type=kind, direction=[float(v) for v in direction],
                            position=[float(v) for v in basis.translation], color=[float(c) for c in data.color],
                            intensity=float(data.energy), angle_deg=float(size), shadow=bool(data.use_shadow)))
    strength = base.world_strength
    world = scene.world
    tree = world.node_tree if world is not None else None
    bg = next((n for n in tree.nodes if n.bl_idname == "ShaderNodeBackground"), None) if tree is not None else None
    if bg is not None:
        strength = float(bg.inputs["Strength"].default_value)
    return dataclasses.replace(base, world_strength=strength, lights=lights, estimated=False)  # the rest as recorded


def edited(before: Lighting, after: Lighting, tol: float = 1e-4) -> bool:
    """Whether ``after`` (captured from the scene) differs from the recorded ``before``."""
    if len(before.lights) != len(after.lights) or abs(before.world_strength - after.world_strength) > tol:
        return True
    for a, b in zip(before.lights, after.lights):
        if a.type != b.type or abs(a.intensity - b.intensity) > tol * max(1.0, a.intensity) or abs(a.angle_deg - b.angle_deg) > 1e-3:
            return True
        for u, v in ((a.direction, b.direction), (a.color, b.color), (a.position, b.position)):
            if np.abs(np.asarray(u, float) - np.asarray(v, float)).max() > 1e-4:
                return True
    return False
