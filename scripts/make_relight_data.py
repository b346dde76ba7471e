"""Render relighting training data: random procedural objects under random lights (Cycles).

Runs with the ``bpy`` module (``.venv/bin/python scripts/make_relight_data.py --out DIR``) or
inside Blender (``blender -b --python-exit-code 1 --python scripts/make_relight_data.py -- ...``).

Each sample ``NNNNNN`` is two files:

* ``NNNNNN.exr``: canonical passes ``rgba`` (the path-traced target, linear, straight alpha),
  ``albedo`` (Diffuse Color), ``normal`` and ``position`` (world space), ``depth``, plus an extra
  layer ``key`` = the key light's contribution alone (a Cycles light group). Light transport is
  linear, so ``rgba.rgb = key + ambient``; the relighter learns the key light's shading and the
  ambient part stays analytic, which keeps the learning problem independent of light strength.
* ``NNNNNN.json``: ``lighting`` in the shot.json Lighting format (sun: direction towards the
  light, strength in W/m2; point: position, power in W), the camera, and the scene recipe.

Why a light group instead of two renders: one render gives both the total and the key-only image.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402  (this script runs under Blender / the bpy module)
import OpenEXR  # noqa: E402

from shotcache.axes import gl_to_cv  # noqa: E402
from shotcache.layout import atomic_write, atomic_write_json  # noqa: E402
from shotcache.schema import BLENDER_PASS_ALIASES, PASSES  # noqa: E402

KEY_GROUP = "key"
PRIMITIVES = ("cube", "sphere", "cylinder", "cone", "torus", "monkey", "ico")


# ---------------------------------------------------------------------------
# scene building
# ---------------------------------------------------------------------------


def _add_primitive(kind: str) -> bpy.types.Object:
    ops = bpy.ops.mesh
    if kind == "cube":
        ops.primitive_cube_add(size=1.2)
    elif kind == "sphere":
        ops.primitive_uv_sphere_add(radius=0.7, segments=48, ring_count=24)
    elif kind == "cylinder":
        ops.primitive_cylinder_add(radius=0.5, depth=1.3, vertices=48)
    elif kind == "cone":
        ops.primitive_cone_add(radius1=0.6, depth=1.3, vertices=48)
    elif kind == "torus":
        ops.primitive_torus_add(major_radius=0.6, minor_radius=0.22)
    elif kind == "monkey":
        ops.primitive_monkey_add(size=1.2)
    else:
        ops.primitive_ico_sphere_add(radius=0.7, subdivisions=3)
    return bpy.context.active_object


def _deform(obj: bpy.types.Object, rng: np.random.Generator) -> str:
    """Random deformation so the network sees more than textbook primitives."""
    choice = rng.choice(["none", "displace", "twist", "bend"], p=[0.3, 0.3, 0.2, 0.2])
    if choice == "none":
        return "none"
    sub = obj.modifiers.new("sub", "SUBSURF")
    sub.levels = sub.render_levels = 2
    sub.subdivision_type = "SIMPLE"
    if choice == "displace":
        tex = bpy.data.textures.new(f"tex{len(bpy.data.textures)}", type="CLOUDS")
        tex.noise_scale = float(rng.uniform(0.3, 1.0))
        mod = obj.modifiers.new("disp", "DISPLACE")
        mod.texture = tex
        mod.strength = float(rng.uniform(0.1, 0.35))
    else:
        mod = obj.modifiers.new("deform", "SIMPLE_DEFORM")
        mod.deform_method = "TWIST" if choice == "twist" else "BEND"
        mod.angle = float(rng.uniform(0.4, 1.4))
        mod.deform_axis = str(rng.choice(["X", "Y", "Z"]))
    for poly in obj.data.polygons:
        poly.use_smooth = bool(choice != "none")
    return str(choice)


def _material(rng: np.random.Generator) -> tuple[bpy.types.Material, dict]:
    mat = bpy.data.materials.new(f"mat{len(bpy.data.materials)}")
    mat.use_nodes = True
    nt = mat.node_tree
    bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
    c1 = list(rng.uniform(0.05, 0.95, 3)) + [1.0]
    c2 = list(rng.uniform(0.05, 0.95, 3)) + [1.0]
    kind = str(rng.choice(["flat", "noise", "checker", "voronoi"], p=[0.35, 0.3, 0.2, 0.15]))
    if kind == "flat":
        bsdf.inputs["Base Color"].default_value = c1
    else:
        if kind == "noise":
            tex = nt.nodes.new("ShaderNodeTexNoise")
            tex.inputs["Scale"].default_value = float(rng.uniform(2, 10))
            fac = tex.outputs["Fac"]
        elif kind == "checker":
            tex = nt.nodes.new("ShaderNodeTexChecker")
            tex.inputs["Scale"].default_value = float(rng.uniform(2, 8))
            fac = tex.outputs["Fac"]
        else:
            tex = nt.nodes.new("ShaderNodeTexVoronoi")
            tex.inputs["Scale"].default_value = float(rng.uniform(2, 8))
            fac = tex.outputs["Distance"]
        ramp = nt.nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].color = c1
        ramp.color_ramp.elements[1].color = c2
        nt.links.new(fac, ramp.inputs["Fac"])
        nt.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    rough = float(rng.uniform(0.25, 1.0))
    metal = float(rng.uniform(0.0, 1.0)) if rng.random() < 0.15 else 0.0
    bsdf.inputs["Roughness"].default_value = rough
    bsdf.inputs["Metallic"].default_value = metal
    return mat, {"texture": kind, "roughness": rough, "metallic": metal}


def _look_at(obj: bpy.types.Object, target: np.ndarray) -> None:
    from mathutils import Vector

    direction = Vector(target.tolist()) - obj.location
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _random_light(rng: np.random.Generator) -> dict:
    """One key light; values are Blender's (sun W/m2, point W), colours near white."""
    az = rng.uniform(0, 2 * math.pi)
    el = math.radians(rng.uniform(15, 80))
    direction = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    tint = rng.uniform(0.75, 1.0, 3)
    color = (tint / tint.max()).tolist()
    if rng.random() < 0.5:
        return {"type": "sun", "direction": direction.tolist(), "position": (direction * 10).tolist(),
                "color": color, "intensity": float(rng.uniform(1.5, 5.0)), "angle_deg": float(rng.uniform(0.5, 4.0))}
    dist = rng.uniform(2.5, 5.0)
    pos = direction * dist
    return {"type": "point", "direction": direction.tolist(), "position": pos.tolist(), "color": color,
            "intensity": float(rng.uniform(150, 600) * dist**2 / 9.0), "radius": float(rng.uniform(0.02, 0.2))}


def build_scene(rng: np.random.Generator, size: int, samples: int, threads: int) -> dict:
    """A fresh scene: objects (+ maybe a ground), one key light, a uniform world, a camera."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = True
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 4
    scene.cycles.caustics_reflective = scene.cycles.caustics_refractive = False
    scene.cycles.seed = int(rng.integers(0, 2**31 - 1))
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.render.threads_mode = "FIXED"
    scene.render.threads = threads
    scene.view_settings.view_transform = "Standard"
    vl = scene.view_layers[0]
    vl.use_pass_normal = vl.use_pass_position = vl.use_pass_diffuse_color = vl.use_pass_z = True
    vl.lightgroups.add(name=KEY_GROUP)

    recipe: dict = {"objects": []}
    n_obj = int(rng.integers(1, 4))
    for i in range(n_obj):
        kind = str(rng.choice(PRIMITIVES))
        obj = _add_primitive(kind)
        deform = _deform(obj, rng)
        offset = rng.uniform(-0.8, 0.8, 3) * (0 if i == 0 else 1)
        obj.location = offset.tolist()
        obj.rotation_euler = rng.uniform(0, 2 * math.pi, 3).tolist()
        obj.scale = [float(rng.uniform(0.6, 1.2))] * 3
        mat, info = _material(rng)
        obj.data.materials.append(mat)
        recipe["objects"].append({"kind": kind, "deform": deform, **info})
    if rng.random() < 0.5:
        bpy.ops.mesh.primitive_plane_add(size=8, location=(0, 0, -0.9))
        ground = bpy.context.active_object
        mat, info = _material(rng)
        ground.data.materials.append(mat)
        recipe["ground"] = info

    light = _random_light(rng)
    ldata = bpy.data.lights.new("key", type="SUN" if light["type"] == "sun" else "POINT")
    ldata.color = light["color"]
    ldata.energy = light["intensity"]
    if light["type"] == "sun":
        ldata.angle = math.radians(light["angle_deg"])
    else:
        ldata.shadow_soft_size = light["radius"]
    lobj = bpy.data.objects.new("key", ldata)
    scene.collection.objects.link(lobj)
    lobj.location = light["position"]
    _look_at(lobj, np.zeros(3))  # a sun shines along its -Z: towards the origin
    lobj.lightgroup = KEY_GROUP

    world = bpy.data.worlds.new("world")
    scene.world = world
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    wc = rng.uniform(0.6, 1.0, 3)
    world_color = (wc / wc.max()).tolist()
    world_strength = float(rng.uniform(0.05, 0.4))
    bg.inputs["Color"].default_value = world_color + [1.0]
    bg.inputs["Strength"].default_value = world_strength

    cam_data = bpy.data.cameras.new("cam")
    cam_data.lens = 50.0
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    az, el = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(5, 40))
    dist = rng.uniform(3.6, 5.0)
    cam.location = (dist * math.cos(el) * math.cos(az), dist * math.cos(el) * math.sin(az), dist * math.sin(el))
    _look_at(cam, np.zeros(3))
    scene.camera = cam
    bpy.context.view_layer.update()
    c2w = gl_to_cv(np.array(cam.matrix_world))
    f = size * cam_data.lens / cam_data.sensor_width
    return {
        "lighting": {
            "world_color": world_color,
            "world_strength": world_strength,
            "lights": [{k: light[k] for k in ("type", "direction", "position", "color", "intensity")}],
            "estimated": False,
        },
        "camera": {"fx": f, "fy": f, "cx": size / 2, "cy": size / 2, "c2w": c2w.tolist()},
        "recipe": {**recipe, "light": light},
    }


# ---------------------------------------------------------------------------
# EXR in (Blender's) and out (canonical)
# ---------------------------------------------------------------------------


def _read_blender_exr(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """{layer: {letter: plane}} for 4.x single-part and 5.0 multi-part multilayer EXRs."""
    exr = OpenEXR.File(str(path), separate_channels=True)
    layers: dict[str, dict[str, np.ndarray]] = {}
    for part in exr.parts:
        pname = part.name() if callable(getattr(part, "name", None)) else getattr(part, "name", "")
        for full, chan in part.channels.items():
            bits = full.split(".")
            if len(bits) == 1 and pname:
                bits = str(pname).split(".") + bits
            layers.setdefault(bits[-2] if len(bits) > 1 else "Combined", {})[bits[-1]] = np.asarray(chan.pixels, np.float32)
    return layers


def _stack(chans: dict[str, np.ndarray], letters: tuple[str, ...]) -> np.ndarray:
    if len(letters) == 1:
        return next(iter(chans.values()))[..., None]
    return np.stack([chans[c] for c in letters], axis=-1)


def convert(blender_exr: Path) -> dict[str, np.ndarray]:
    """Blender's passes -> canonical arrays; rgba and key become straight alpha."""
    layers = _read_blender_exr(blender_exr)
    out: dict[str, np.ndarray] = {}
    key = None
    for layer, chans in layers.items():
        name = BLENDER_PASS_ALIASES.get(layer, layer if layer in PASSES else None)
        if layer == f"Combined_{KEY_GROUP}":
            key = _stack(chans, ("R", "G", "B"))
        elif name is not None and name not in out:
            out[name] = _stack(chans, PASSES[name])
    missing = [p for p in ("rgba", "albedo", "normal", "position") if p not in out]
    if missing or key is None:
        raise RuntimeError(f"{blender_exr}: Blender wrote no {missing or ['Combined_key']} pass (layers: {sorted(layers)})")
    alpha = out["rgba"][..., 3:4]
    safe = np.where(alpha > 1e-4, alpha, 1.0)
    out["rgba"] = np.concatenate([np.where(alpha > 1e-4, out["rgba"][..., :3] / safe, 0.0), alpha], -1).astype(np.float32)
    out["key"] = np.where(alpha > 1e-4, key / safe, 0.0).astype(np.float32)
    return out


def write_sample(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """One single-part EXR: canonical passes + the extra ``key`` layer (R, G, B)."""
    channels = {}
    for name, arr in arrays.items():
        letters = PASSES.get(name, ("R", "G", "B"))
        for i, letter in enumerate(letters):
            channels[f"{name}.{letter}"] = np.ascontiguousarray(arr[..., i].astype(np.float32))
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    atomic_write(path, lambda tmp: OpenEXR.File(header, channels).write(str(tmp)))


def render_sample(out_dir: Path, index: int, seed: int, size: int, samples: int, threads: int) -> dict:
    rng = np.random.default_rng([seed, index])
    meta = build_scene(rng, size, samples, threads)
    scene = bpy.context.scene
    img = scene.render.image_settings
    if hasattr(img, "media_type"):  # 5.0: media type before the file format
        img.media_type = "MULTI_LAYER_IMAGE"
    img.file_format = "OPEN_EXR_MULTILAYER"
    img.color_depth = "32"
    with tempfile.TemporaryDirectory(prefix="vanelia-relight-") as tmp:
        scene.render.filepath = str(Path(tmp) / "render.exr")
        result = bpy.ops.render.render(write_still=True)
        if "FINISHED" not in result:
            raise RuntimeError(f"sample {index}: Cycles render did not finish ({result})")
        produced = sorted(Path(tmp).glob("*.exr"))
        if not produced:
            raise RuntimeError(f"sample {index}: Blender wrote no EXR in {tmp}")
        arrays = convert(produced[0])
    stem = f"{index:06d}"
    write_sample(out_dir / f"{stem}.exr", arrays)
    meta.update({"index": index, "seed": seed, "size": size, "samples": samples, "blender": bpy.app.version_string})
    atomic_write_json(out_dir / f"{stem}.json", meta)
    return meta


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--start", type=int, default=0, help="first sample index (resume / split work)")
    ap.add_argument("--seed", type=int, default=1, help="different seeds give disjoint scenes (train vs test)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--samples", type=int, default=64, help="Cycles samples per pixel")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-existing", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    done = 0
    for i in range(args.start, args.start + args.count):
        if args.skip_existing and (out / f"{i:06d}.json").is_file():
            continue
        render_sample(out, i, args.seed, args.size, args.samples, args.threads)
        done += 1
        if done % 10 == 0 or done == args.count:
            dt = time.perf_counter() - t0
            print(f"[relight-data] {done}/{args.count} samples, {dt / done:.2f} s/sample", flush=True)
    print(f"[relight-data] wrote {done} samples to {out} in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
