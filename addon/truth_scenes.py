"""Path-traced truth sets for `vanelia eval insert` (and training data for learned engines).

A set is a small generated scene (a ground of one material, a few background objects, one
light setup) filmed by a moving camera, rendered twice with Cycles and the same seed: once
without the product (the plate Vanelia gets) and once with it (the truth Vanelia's
composite is scored against). No background object stands between a camera and the product
(``clear_line_of_sight``): the product is always seen whole, so its alpha is its visible
region and the eval scores light, not a missing occlusion matte. The product is the Duck GLB (or a sphere) with a material
override, exported as the set's own ``product.glb`` so Vanelia renders exactly that object.

Written per set (``DIR/<name>/``): ``plate/NNNNNN.png``, ``truth/NNNNNN.png``,
``mask/NNNNNN.png`` (the product's own alpha, rendered alone), ``transforms.json`` (the exact
camera, NeRF convention, no light hint), ``product.glb`` and ``set.json`` (recipe, product
matrix_world, ground, the true lights: what the light estimate is checked against; the
generator version and how many props were moved off the lines of sight).
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..shotcache.layout import atomic_write_json
from ..shotcache.schema import Ground
from . import camera as cam_mod
from . import compat, demo_scene, product

Progress = Callable[[str], None]

LIGHTINGS = ("sun_high", "sun_low", "overcast", "interior", "ceiling", "night", "mixed", "hazy")
GROUNDS = ("tiles", "concrete", "grass", "wood", "asphalt", "sand")
MATERIALS = ("diffuse", "glossy", "metal", "glass")

RECIPES: dict[str, dict[str, Any]] = {
    "sun_high_tiles_diffuse": {"light": "sun_high", "ground": "tiles", "material": "diffuse", "shape": "duck"},
    "sun_low_concrete_metal": {"light": "sun_low", "ground": "concrete", "material": "metal", "shape": "duck"},
    "overcast_grass_glossy": {"light": "overcast", "ground": "grass", "material": "glossy", "shape": "duck"},
    "interior_wood_diffuse": {"light": "interior", "ground": "wood", "material": "diffuse", "shape": "duck"},
    "night_asphalt_metal": {"light": "night", "ground": "asphalt", "material": "metal", "shape": "sphere"},
    "mixed_sand_glass": {"light": "mixed", "ground": "sand", "material": "glass", "shape": "duck"},
    "ceiling_tiles_glossy": {"light": "ceiling", "ground": "tiles", "material": "glossy", "shape": "duck"},
    "sun_low_grass_diffuse_blur": {"light": "sun_low", "ground": "grass", "material": "diffuse", "shape": "duck", "shutter": 0.5,
                                   "drift_m": 0.5},
    "overcast_meadow_diffuse": {"light": "overcast", "ground": "grass", "material": "diffuse", "shape": "duck", "cover_m": 0.08},
    "hazy_concrete_diffuse": {"light": "hazy", "ground": "concrete", "material": "diffuse", "shape": "duck"},
}
"""The standard sets: every light setup, ground and product material at least once. A recipe's
``shutter`` (frames) films it with camera motion blur, as a 180-degree video camera does: the
plate is streaked, and a product rendered without the same blur reads as pasted on. Its
``drift_m`` pans the aim past the product, so that the product streaks too. Its ``cover_m``
grows blades of grass that tall round the product (``grow_grass``): they hide its base in the
truth, as `vanelia run --ground-cover` is to."""
HAZY_SUN_DEG = 25.0
"""The angular size of a hazy day's sun (``build_lights`` "hazy"): thin cloud spreads it into a
bright patch of sky, so the shadows are soft - edges wider than a sun's - yet all lean away
from one side, as under a large window across a room (real clip apple-countertop)."""
GRASS_HALF_M = 1.5
"""Half-size of the patch of grass round the product (its lines of sight from the cameras)."""
GRASS_PER_M2 = 20000
"""Blades per square metre (a lawn has 10-40 thousand)."""

CEILING_M = 2.8
"""Height of a room's walls, and of the ceiling that holds the panels of a ceiling-lit room."""
PRODUCT_SIZE_M = 0.42
PRODUCT_CLEAR_M = 0.35
"""Clearance round the product's standing axis kept free of props along every line of sight:
the duck's half length (0.21 m) and its shadow's near end, with a margin."""
GENERATOR_VERSION = 3
"""Bumped when a change alters the rendered scenes: cached sets of another version are rendered
again. 2: props keep clear of the cameras' lines of sight to the product. 3: glass is traced
through (8 glossy, 12 transmission and total bounces): at Blender's 4 glossy and 6 in all, the
lower half of a glass duck came out black where light reflects inside it."""


def _noop(_msg: str) -> None:
    pass


# ---------------------------------------------------------------------------
# materials
# ---------------------------------------------------------------------------


def _bsdf(mat: Any) -> Any:
    tree = compat.material_nodes(mat)
    return next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")


def _noise_ramp(tree: Any, scale: float, c1: tuple, c2: tuple, detail: float = 6.0) -> Any:
    coord = tree.nodes.new("ShaderNodeTexCoord")
    noise = tree.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = scale
    noise.inputs["Detail"].default_value = detail
    ramp = tree.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (*c1, 1)
    ramp.color_ramp.elements[1].color = (*c2, 1)
    tree.links.new(coord.outputs["Object"], noise.inputs["Vector"])
    tree.links.new(noise.outputs["Fac"], ramp.inputs["Fac"])
    return ramp.outputs["Color"]


def ground_material(kind: str, rng: np.random.Generator) -> Any:
    """One of GROUNDS: texture for the tracker and the eye, a roughness that suits it."""
    mat = bpy.data.materials.new(f"Ground {kind}")
    tree = compat.material_nodes(mat)
    bsdf = _bsdf(mat)
    jitter = tuple(float(v) for v in rng.uniform(0.9, 1.1, 3))

    def tint(c: tuple) -> tuple:
        return tuple(min(1.0, a * b) for a, b in zip(c, jitter))

    rough = {"tiles": 0.6, "concrete": 0.85, "grass": 0.95, "wood": 0.45, "asphalt": 0.35, "sand": 0.95}[kind]
    bsdf.inputs["Roughness"].default_value = rough
    if kind == "tiles":
        brick = tree.nodes.new("ShaderNodeTexBrick")
        brick.inputs["Color1"].default_value = (*tint((0.55, 0.5, 0.42)), 1)
        brick.inputs["Color2"].default_value = (*tint((0.42, 0.38, 0.33)), 1)
        brick.inputs["Mortar"].default_value = (0.25, 0.24, 0.22, 1)
        brick.inputs["Scale"].default_value = 1.5
        colour = brick.outputs["Color"]
    elif kind == "wood":
        wave = tree.nodes.new("ShaderNodeTexWave")
        wave.inputs["Scale"].default_value = 1.2
        wave.inputs["Distortion"].default_value = 6.0
        ramp = tree.nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].color = (*tint((0.28, 0.15, 0.07)), 1)
        ramp.color_ramp.elements[1].color = (*tint((0.5, 0.3, 0.15)), 1)
        tree.links.new(wave.outputs["Fac"], ramp.inputs["Fac"])
        colour = ramp.outputs["Color"]
    else:
        c1, c2, scale = {
            "concrete": ((0.35, 0.35, 0.34), (0.55, 0.54, 0.52), 6.0),
            "grass": ((0.08, 0.16, 0.04), (0.2, 0.32, 0.08), 14.0),
            "asphalt": ((0.03, 0.03, 0.035), (0.09, 0.09, 0.1), 20.0),
            "sand": ((0.55, 0.45, 0.3), (0.7, 0.6, 0.42), 9.0),
        }[kind]
        colour = _noise_ramp(tree, scale, tint(c1), tint(c2))
    tree.links.new(colour, bsdf.inputs["Base Color"])
    return mat


def override_material(kind: str, base: Any | None) -> Any:
    """A product material of MATERIALS; ``base`` (the model's own material) keeps its texture."""
    mat: Any = base.copy() if base is not None else bpy.data.materials.new("Product")
    mat.name = f"Product {kind}"
    bsdf = _bsdf(mat)
    inp = bsdf.inputs
    if kind == "diffuse":
        inp["Roughness"].default_value = 0.8
        inp["Metallic"].default_value = 0.0
    elif kind == "glossy":
        inp["Roughness"].default_value = 0.12
        inp["Metallic"].default_value = 0.0
        if base is None:
            inp["Base Color"].default_value = (0.6, 0.05, 0.04, 1)
    elif kind == "metal":
        for link in list(inp["Base Color"].links):
            mat.node_tree.links.remove(link)
        inp["Base Color"].default_value = (0.9, 0.72, 0.4, 1)
        inp["Metallic"].default_value = 1.0
        inp["Roughness"].default_value = 0.25
    elif kind == "glass":
        for link in list(inp["Base Color"].links):
            mat.node_tree.links.remove(link)
        inp["Base Color"].default_value = (0.92, 0.97, 0.95, 1)
        inp["Metallic"].default_value = 0.0
        inp["Roughness"].default_value = 0.03
        inp["IOR"].default_value = 1.45
        inp["Transmission Weight" if "Transmission Weight" in inp else "Transmission"].default_value = 1.0
    return mat


# ---------------------------------------------------------------------------
# world and lights
# ---------------------------------------------------------------------------


def gradient_world(scene: Any, horizon: tuple, zenith: tuple, strength: float) -> dict:
    """A sky that is brighter at the horizon (by elevation of the view direction): the ramp's
    factor is the view direction's z, clamped to 0..1. Returns its record for set.json (the
    truth-light eval rebuilds the sky from it)."""
    world = bpy.data.worlds.new("Truth Sky")
    scene.world = world
    compat.world_background(world, horizon, strength)
    tree: Any = world.node_tree
    bg = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBackground")
    coord = tree.nodes.new("ShaderNodeTexCoord")
    sep = tree.nodes.new("ShaderNodeSeparateXYZ")
    ramp = tree.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (*horizon, 1)
    ramp.color_ramp.elements[1].color = (*zenith, 1)
    tree.links.new(coord.outputs["Generated"], sep.inputs[0])
    tree.links.new(sep.outputs["Z"], ramp.inputs["Fac"])
    tree.links.new(ramp.outputs["Color"], bg.inputs["Color"])
    return {"horizon": list(horizon), "zenith": list(zenith), "strength": float(strength)}


def _light(scene: Any, kind: str, name: str, energy: float, colour: tuple, location: tuple = (0, 0, 0), towards: tuple | None = None, size: float = 0.0, angle_deg: float = 0.0) -> dict:
    data: Any = bpy.data.lights.new(name, kind)  # type: ignore[arg-type]
    data.energy = energy
    data.color = colour
    if kind == "SUN":
        data.angle = math.radians(angle_deg)
    elif kind == "AREA":
        data.size = size
    else:
        data.shadow_soft_size = size
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    obj.location = location
    direction = None
    if towards is not None:  # lights shine along their local -z
        d = Vector(towards).normalized()
        obj.rotation_euler = (-d).to_track_quat("-Z", "Y").to_euler()
        direction = [float(d.x), float(d.y), float(d.z)]
    return {"type": kind.lower(), "energy": energy, "color": list(colour), "position": list(location), "direction": direction, "size": size, "angle_deg": angle_deg}


def _sun_dir(elev_deg: float, az_deg: float) -> tuple:
    e, a = math.radians(elev_deg), math.radians(az_deg)
    return (math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e))


def build_lights(scene: Any, kind: str, rng: np.random.Generator) -> dict:
    """World + lights of one of LIGHTINGS; returns the truth record (soft: no hard key; the
    world's sky gradient as ``gradient_world`` records it)."""
    az = float(rng.uniform(-180, 180))
    lights: list[dict] = []
    if kind in ("sun_high", "sun_low", "mixed"):
        elev = {"sun_high": 62.0, "sun_low": 24.0, "mixed": 35.0}[kind] + float(rng.uniform(-4, 4))
        world = gradient_world(scene, (0.55, 0.62, 0.72), (0.2, 0.35, 0.7), 1.0)
        warm = (1.0, 0.92, 0.8) if kind != "sun_high" else (1.0, 0.97, 0.92)
        lights.append(_light(scene, "SUN", "Truth Sun", 2.6 if kind != "mixed" else 2.0, warm, towards=_sun_dir(elev, az), angle_deg=1.5))
        if kind == "mixed":
            p = (1.3 * math.cos(math.radians(az + 150)), 1.3 * math.sin(math.radians(az + 150)), 1.2)
            lights.append(_light(scene, "POINT", "Truth Practical", 120.0, (0.7, 0.8, 1.0), location=p, size=0.1))
        hard = True
    elif kind == "hazy":
        elev = 40.0 + float(rng.uniform(-10, 10))
        world = gradient_world(scene, (0.72, 0.74, 0.78), (0.55, 0.58, 0.64), 1.0)
        lights.append(_light(scene, "SUN", "Truth Hazy Sun", 2.2, (1.0, 0.95, 0.88), towards=_sun_dir(elev, az), angle_deg=HAZY_SUN_DEG))
        hard = False
    elif kind == "overcast":
        world = gradient_world(scene, (0.8, 0.8, 0.82), (0.62, 0.64, 0.68), 1.2)
        hard = False
    elif kind == "interior":
        world = gradient_world(scene, (0.05, 0.05, 0.06), (0.04, 0.04, 0.05), 1.0)
        a = math.radians(az)
        win = (2.6 * math.cos(a), 2.6 * math.sin(a), 1.6)
        lights.append(_light(scene, "AREA", "Truth Window", 500.0, (1.0, 0.85, 0.65), location=win, towards=win, size=1.4))
        fill = (-2.4 * math.cos(a + 0.6), -2.4 * math.sin(a + 0.6), 2.2)
        lights.append(_light(scene, "AREA", "Truth Fill", 80.0, (0.7, 0.8, 1.0), location=fill, towards=fill, size=2.5))
        hard = False
    elif kind == "ceiling":
        # a shop, office or gym: panels in a ceiling the low cameras never see, no daylight
        world = gradient_world(scene, (0.05, 0.05, 0.06), (0.04, 0.04, 0.05), 1.0)
        a = math.radians(az)
        along, across = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
        shift = rng.uniform(-0.8, 0.8, 2)
        for i, (u, v) in enumerate(((-1.6, -0.8), (-1.6, 0.8), (0.0, -0.8), (0.0, 0.8), (1.6, -0.8), (1.6, 0.8))):
            xy = (u + shift[0]) * along + (v + shift[1]) * across
            p = (float(xy[0]), float(xy[1]), CEILING_M - 0.05)
            lights.append(_light(scene, "AREA", f"Truth Panel {i}", 25.0, (1.0, 0.96, 0.9), location=p, towards=(0.0, 0.0, 1.0), size=0.6))
        hard = False
    elif kind == "night":
        world = gradient_world(scene, (0.012, 0.014, 0.022), (0.004, 0.005, 0.01), 1.0)
        for i in range(3):
            a = math.radians(az + 120 * i + float(rng.uniform(-20, 20)))
            r = float(rng.uniform(1.4, 2.4))
            lights.append(_light(scene, "POINT", f"Truth Lamp {i}", 90.0 if i else 180.0, (1.0, 0.7, 0.4), location=(r * math.cos(a), r * math.sin(a), 2.2), size=0.08))
        hard = True
    else:
        raise ValueError(f"unknown lighting {kind!r}; choose from {', '.join(LIGHTINGS)}")
    return {"kind": kind, "hard_key": hard, "lights": lights, "world": world}


# ---------------------------------------------------------------------------
# set dressing, camera
# ---------------------------------------------------------------------------


def build_set(scene: Any, ground_kind: str, light_kind: str, rng: np.random.Generator) -> list[tuple[Any, float]]:
    """Ground, background objects around a free centre, walls for interiors; returns the
    props with their footprint radius (for ``clear_line_of_sight``)."""
    s = 12.0
    demo_scene._add_mesh_object(scene, "Truth Ground", [(-s, -s, 0), (s, -s, 0), (s, s, 0), (-s, s, 0)], [(0, 1, 2, 3)], ground_material(ground_kind, rng), (0, 0, 0))
    n = 5
    props: list[tuple[Any, float]] = []
    for i in range(n):
        ang = 2 * math.pi * i / n + float(rng.uniform(-0.3, 0.3))
        r = float(rng.uniform(1.1, 2.4))
        c = rng.uniform(0.15, 0.7, 3)
        col = (float(c[0]), float(c[1]), float(c[2]))
        build = demo_scene._brick_colour(col) if i % 2 else demo_scene._wave_colour(col)
        if i % 3:
            sx, sy = (float(v) for v in rng.uniform(0.25, 0.6, 2))
            shape = demo_scene._box(sx, sy, float(rng.uniform(0.3, 1.1)))
            foot = 0.5 * math.hypot(sx, sy)
        else:
            rad = float(rng.uniform(0.1, 0.2))
            shape = demo_scene._cylinder(rad, float(rng.uniform(0.6, 1.4)))
            foot = rad
        obj = demo_scene._add_mesh_object(scene, f"Prop {i}", shape[0], shape[1], demo_scene._material(f"Prop {i}", build), (r * math.cos(ang), r * math.sin(ang), 0), float(rng.uniform(0, 3)))
        props.append((obj, foot))
    if light_kind in ("interior", "ceiling"):
        wall = demo_scene._material("Wall", demo_scene._wave_colour((0.7, 0.68, 0.62)))
        for i, (loc, rot) in enumerate((((0, 3.5, 0), 0.0), ((-3.5, 0, 0), math.pi / 2), ((3.5, 0, 0), math.pi / 2), ((0, -3.5, 0), 0.0))):
            v, f = demo_scene._box(7.0, 0.1, CEILING_M)
            demo_scene._add_mesh_object(scene, f"Wall {i}", v, f, wall, loc, rot)
    if light_kind == "ceiling":
        ceiling = demo_scene._material("Ceiling", demo_scene._wave_colour((0.8, 0.8, 0.78)))
        demo_scene._add_mesh_object(scene, "Ceiling", [(-3.5, -3.5, CEILING_M), (3.5, -3.5, CEILING_M), (3.5, 3.5, CEILING_M), (-3.5, 3.5, CEILING_M)],
                                    [(0, 3, 2, 1)], ceiling, (0, 0, 0))
    return props


def grow_grass(scene: Any, cover_m: float, rng: np.random.Generator) -> Any:
    """Blades of grass up to ``cover_m`` tall on a patch round the origin (hair strands on an
    emitter that does not render itself), coloured from the grass ground's palette strand by
    strand; returns the emitter."""
    h = GRASS_HALF_M
    mat = bpy.data.materials.new("Grass blades")
    tree = compat.material_nodes(mat)
    bsdf = _bsdf(mat)
    bsdf.inputs["Roughness"].default_value = 0.8
    info = tree.nodes.new("ShaderNodeHairInfo")
    ramp = tree.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (0.07, 0.15, 0.035, 1)
    ramp.color_ramp.elements[1].color = (0.24, 0.34, 0.08, 1)
    tree.links.new(info.outputs["Random"], ramp.inputs["Fac"])
    tree.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    emitter = demo_scene._add_mesh_object(scene, "Grass", [(-h, -h, 0), (h, -h, 0), (h, h, 0), (-h, h, 0)], [(0, 1, 2, 3)], mat, (0, 0, 0))
    st = emitter.modifiers.new("Grass", "PARTICLE_SYSTEM").particle_system.settings
    emitter.particle_systems[0].seed = int(rng.integers(0, 2**31 - 1))
    st.type = "HAIR"
    st.count = int(GRASS_PER_M2 * (2 * h) ** 2)
    st.hair_length = cover_m
    st.length_random = 0.5  # blades between half and all of the cover's height
    st.factor_random = 0.25 * cover_m  # leaning a little, each its own way
    st.emit_from, st.distribution, st.use_emit_random = "FACE", "RAND", True
    emitter.show_instancer_for_render = False  # the blades render, not the patch they grow on
    st.radius_scale, st.root_radius, st.tip_radius = 0.0015, 1.0, 0.1
    st.render_step = 3
    st.material = 1
    return emitter


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = float(np.clip((p - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def clear_line_of_sight(props: list[tuple[float, float, float]], eyes: list[tuple[float, float]], clearance: float = PRODUCT_CLEAR_M,
                        step_deg: float = 10.0) -> list[tuple[float, float]]:
    """Prop centres (x, y) such that no prop stands between any camera and the product.

    ``props`` are (x, y, footprint radius) round the product at the origin, ``eyes`` the
    cameras' ground positions. The scored product region is the product's own alpha and every
    variant draws the whole product: a prop hiding part of it in the truth would score the
    missing occlusion matte (which Vanelia does not have, and which is not light) and put the
    prop's pixels where the light estimate looks for the ground under the product. So a prop
    whose footprint comes within ``clearance`` of a line of sight (a capsule round each
    camera-to-product segment, which also keeps the cameras out of the props) is turned round
    the product, at its distance, by the smallest multiple of ``step_deg`` that clears every
    line of sight without overlapping the props already placed. Props already clear do not
    move, so the rest of a set's scene (and its random draws) is unchanged."""
    centre = np.zeros(2)
    eye_pts = [np.asarray(e, np.float64) for e in eyes]
    placed: list[tuple[np.ndarray, float]] = []
    out: list[tuple[float, float]] = []

    def clear(c: np.ndarray, r: float) -> bool:
        return all(_segment_distance(c, e, centre) >= r + clearance for e in eye_pts)

    for x, y, r in props:
        dist, ang = math.hypot(x, y), math.atan2(y, x)
        best = np.array([x, y], np.float64)
        if not clear(best, r):
            for k in range(1, int(180 / step_deg) + 1):
                cands = [ang + math.radians(step_deg * k * s) for s in (1, -1)]
                pts = [np.array([dist * math.cos(a), dist * math.sin(a)]) for a in cands]
                ok = [p for p in pts if clear(p, r) and all(np.linalg.norm(p - q) >= r + rq for q, rq in placed)]
                if ok:
                    best = ok[0]
                    break
        placed.append((best, r))
        out.append((float(best[0]), float(best[1])))
    return out


def camera_path(frames: int, rng: np.random.Generator, drift_m: float = 0.0) -> list[Matrix]:
    """A short arc round the product, slowly rising: parallax for the eye, a moving camera.
    ``drift_m``: the aim slides this far sideways over the shot, so the product crosses the
    frame instead of staying centred (a camera aimed at the product never streaks it)."""
    start = float(rng.uniform(-180, 180))
    sweep = float(rng.uniform(10, 18))
    radius = float(rng.uniform(1.5, 1.9))
    height = float(rng.uniform(0.55, 0.85))
    out = []
    for i in range(frames):
        t = i / max(1, frames - 1)
        ang = math.radians(start + sweep * t)
        eye = Vector((radius * math.cos(ang), radius * math.sin(ang), height + 0.1 * t))
        target = Vector((0.0, 0.0, 0.22))
        if drift_m:
            side = Vector((-math.sin(ang), math.cos(ang), 0.0))  # along the arc, the way the camera moves
            target = target + side * (drift_m * (t - 0.5))
        rot = (target - eye).to_track_quat("-Z", "Y").to_matrix().to_4x4()
        out.append(Matrix.Translation(eye[:]) @ rot)
    return out


# ---------------------------------------------------------------------------
# the product
# ---------------------------------------------------------------------------


def build_product(scene: Any, shape: str, material: str, model: str | None, glb_out: Path) -> Any:
    """Product under one root at identity, material overridden, exported to ``glb_out``."""
    if shape == "duck":
        if not model:
            raise ValueError("a duck set needs the Duck GLB (--model)")
        root = product.import_glb(scene, model)
    else:
        bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, segments=48, ring_count=24, location=(0, 0, 0.5))
        sphere: Any = bpy.context.active_object
        bpy.ops.object.shade_smooth()
        root = bpy.data.objects.new(product.PRODUCT_ROOT, None)
        scene.collection.objects.link(root)
        sphere.parent = root
    for obj in root.children_recursive:
        if obj.type == "MESH":
            slots = obj.material_slots
            if not slots:
                obj.data.materials.append(override_material(material, None))
            for slot in slots:
                slot.material = override_material(material, slot.material)
    for obj in bpy.data.objects:
        obj.select_set(False)
    for obj in [root, *root.children_recursive]:
        obj.select_set(True)
    tmp = glb_out.with_name(f".{glb_out.stem}.tmp.glb")
    res = bpy.ops.export_scene.gltf(filepath=str(tmp), export_format="GLB", use_selection=True)
    if not compat.op_finished(res) or not tmp.is_file():
        raise RuntimeError(f"{glb_out}: glTF export failed")
    os.replace(tmp, glb_out)
    return root


# ---------------------------------------------------------------------------
# rendering one set
# ---------------------------------------------------------------------------


def _render_sequence(scene: Any, out_dir: Path, frames: int, rgba: bool = False) -> None:
    """PNG sequence into ``out_dir`` via a temp folder (a killed render leaves no half set)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        r = scene.render
        compat.set_image_format(r.image_settings, "PNG")
        r.image_settings.color_mode = "RGBA" if rgba else "RGB"
        r.image_settings.color_depth = "8"
        r.filepath = str(tmp) + "/######"
        r.use_file_extension = True
        scene.frame_start, scene.frame_end = 1, frames
        res = bpy.ops.render.render(animation=True, scene=scene.name)
        if not compat.op_finished(res):
            raise RuntimeError(f"{out_dir}: render cancelled")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _setup_render(scene: Any, resolution: tuple[int, int], samples: int, seed: int) -> None:
    r = scene.render
    r.resolution_x, r.resolution_y = resolution
    r.resolution_percentage = 100
    r.fps = 24
    r.engine = "CYCLES"
    compat.enable_gpu(scene)
    c = scene.cycles
    c.samples = samples
    c.seed = seed
    c.use_animated_seed = False
    c.use_adaptive_sampling = True
    c.adaptive_threshold = 0.02
    compat.set_denoiser(scene, True)  # OIDN where the build has it (Debian's Blender has none: denoising on failed the render)
    c.max_bounces = 12
    c.glossy_bounces = 8  # light inside glass reflects off its faces before it leaves (GENERATOR_VERSION 3)
    c.transmission_bounces = 12
    c.caustics_reflective = False
    c.caustics_refractive = False
    c.sample_clamp_indirect = 5.0
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"


def make_set(out_dir: str | os.PathLike[str], name: str, recipe: dict[str, Any], model: str | None, frames: int, resolution: tuple[int, int], samples: int, seed: int, progress: Progress = _noop) -> dict:
    """Render one truth set into ``out_dir`` (plate, truth, mask, transforms.json, product.glb, set.json)."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene: Any = bpy.context.scene
    scene.name = f"Truth {name}"
    _setup_render(scene, resolution, samples, seed)
    truth_light = build_lights(scene, recipe["light"], rng)
    props = build_set(scene, recipe["ground"], recipe["light"], rng)
    data = bpy.data.cameras.new("Truth Camera")
    data.lens, data.sensor_width, data.sensor_fit = 30.0, 36.0, "HORIZONTAL"
    cam = bpy.data.objects.new("Truth Camera", data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.rotation_mode = "QUATERNION"
    path = camera_path(frames, rng, drift_m=float(recipe.get("drift_m", 0.0)))
    eyes = [(float(m.translation.x), float(m.translation.y)) for m in path]
    for i, m in enumerate(path, start=1):
        cam.matrix_world = m
        cam.keyframe_insert("location", frame=i)
        cam.keyframe_insert("rotation_quaternion", frame=i)
    shutter = float(recipe.get("shutter", 0.0))
    compat.set_constant_interpolation(cam, mode="LINEAR" if shutter > 0 else "CONSTANT")
    scene.render.use_motion_blur = shutter > 0
    if shutter > 0:  # the camera moves while the shutter is open, centred on each frame
        scene.render.motion_blur_shutter = shutter
        scene.render.motion_blur_position = "CENTER"
    moved = _clear_props(props, eyes)
    if float(recipe.get("cover_m", 0.0)) > 0:
        grow_grass(scene, float(recipe["cover_m"]), rng)
    progress(f"{name}: plate ({frames} frames {resolution[0]}x{resolution[1]}, {samples} samples)")
    _render_sequence(scene, out / "plate", frames)
    root = build_product(scene, recipe["shape"], recipe["material"], model, out / "product.glb")
    yaw = float(rng.uniform(0, 360))
    mat, _scale = product.place_on_ground(root, Ground(), np.zeros(3), size_m=PRODUCT_SIZE_M, yaw_deg=yaw)
    progress(f"{name}: truth (with the product)")
    _render_sequence(scene, out / "truth", frames)
    progress(f"{name}: product mask")
    _render_mask(scene, root, out / "mask", frames)
    w, h = resolution
    fx, fy, cx, cy = cam_mod.from_blender(data, w, h)
    doc: dict[str, Any] = {"fl_x": fx, "fl_y": fy, "cx": cx, "cy": cy, "w": w, "h": h, "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": []}
    for i in range(1, frames + 1):
        scene.frame_set(i)
        doc["frames"].append({"file_path": f"plate/{i:06d}.png", "transform_matrix": np.array(cam.matrix_world, dtype=float).tolist()})
    atomic_write_json(out / "transforms.json", doc)
    meta = {"name": name, "recipe": recipe, "seed": seed, "frames": frames, "resolution": [w, h], "samples": samples,
            "product_matrix": np.array(mat, dtype=float).tolist(), "ground": {"point": [0, 0, 0], "normal": [0, 0, 1]},
            "light": truth_light, "generator": GENERATOR_VERSION, "props_moved": moved}
    atomic_write_json(out / "set.json", meta)
    return meta


def _clear_props(props: list[tuple[Any, float]], eyes: list[tuple[float, float]]) -> int:
    """Move the props off the cameras' lines of sight (``clear_line_of_sight``); how many moved."""
    spots = clear_line_of_sight([(float(o.location.x), float(o.location.y), r) for o, r in props], eyes)
    moved = 0
    for (obj, _r), (x, y) in zip(props, spots):
        if abs(obj.location.x - x) + abs(obj.location.y - y) > 1e-6:
            obj.location.x, obj.location.y = x, y
            moved += 1
    return moved


def _render_mask(scene: Any, root: Any, out_dir: Path, frames: int) -> None:
    """The product alone on a transparent film: its alpha is the product region."""
    keep = {root, *root.children_recursive}
    for obj in scene.objects:
        if obj not in keep and obj.type != "CAMERA":
            obj.hide_render = True
    compat.world_background(scene.world, (0, 0, 0), 0.0)
    scene.render.film_transparent = True
    scene.cycles.samples = 8
    scene.cycles.use_denoising = False
    _render_sequence(scene, out_dir, frames, rgba=True)


def _parse_res(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def batch_make_sets(argv: list[str]) -> int:
    """Batch step ``insert-truth``: render truth sets (skipping complete ones)."""
    import argparse
    import json

    p = argparse.ArgumentParser(prog="vanelia_batch.py insert-truth", description=batch_make_sets.__doc__)
    p.add_argument("--output", required=True, help="cache folder; one sub-folder per set")
    p.add_argument("--sets", default=",".join(RECIPES), help="comma-separated recipe names")
    p.add_argument("--model", default=None, help="Duck GLB for duck-shaped products")
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--resolution", default="320x180")
    p.add_argument("--samples", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    unknown = [s for s in a.sets.split(",") if s not in RECIPES]
    if unknown:
        raise ValueError(f"unknown set(s) {unknown}; sets are {', '.join(RECIPES)}")
    res = _parse_res(a.resolution)
    for name in a.sets.split(","):
        folder = Path(a.output) / f"{name}-s{a.seed}"
        meta_path = folder / "set.json"
        want = {"frames": a.frames, "resolution": list(res), "samples": a.samples, "seed": a.seed, "recipe": RECIPES[name], "generator": GENERATOR_VERSION}
        if meta_path.is_file():
            old = json.loads(meta_path.read_text(encoding="utf-8"))
            if all(old.get(k) == v for k, v in want.items()):
                print(f"[vanelia] {folder.name}: cached", flush=True)
                continue
        make_set(folder, name, RECIPES[name], a.model, a.frames, res, a.samples, a.seed, progress=lambda m: print(f"[vanelia] {m}", flush=True))
    return 0


BATCH_STEPS = {"insert-truth": batch_make_sets}
