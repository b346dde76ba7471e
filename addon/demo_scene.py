"""Built-in demo data, generated (nothing is downloaded).

* A procedurally textured set (checker/noise ground, a few textured blocks and columns
  around an empty centre) rendered with Cycles along a moving camera: the plate
  (``frames/NNNNNN.png`` + ``plate.mp4``) with its *exact* track (``transforms.json``,
  NeRF convention, written from the very camera that rendered it).
* A procedural PBR product (a bottle: generated label texture on a glossy dielectric body,
  metallic cap) exported as ``product.glb``.

The centre of the set is left free, ground plane z = 0: the product goes there.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import bpy
import numpy as np
from mathutils import Euler, Matrix, Vector

from ..shotcache.layout import atomic_write_json
from . import camera as cam_mod
from . import compat

DEMO_RESOLUTION = (640, 360)
DEMO_FRAMES = 48
DEMO_SAMPLES = 32
DEMO_FPS = 24

Progress = Callable[[str], None]


def _noop(_msg: str) -> None:
    pass


# ---------------------------------------------------------------------------
# the set
# ---------------------------------------------------------------------------


def _material(name: str, build: Callable[[Any, Any], Any], roughness: float = 0.7) -> Any:
    mat = bpy.data.materials.new(name)
    tree = compat.material_nodes(mat)
    bsdf = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    bsdf.inputs["Roughness"].default_value = roughness
    colour = build(tree, bsdf)
    tree.links.new(colour, bsdf.inputs["Base Color"])
    return mat


def _ground_colour(tree: Any, _bsdf: Any) -> Any:
    """Large checker tiles broken up by noise: gives the tracker and the eye texture everywhere."""
    coord = tree.nodes.new("ShaderNodeTexCoord")
    checker = tree.nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = 3.0
    checker.inputs["Color1"].default_value = (0.42, 0.33, 0.22, 1)
    checker.inputs["Color2"].default_value = (0.20, 0.22, 0.15, 1)
    noise = tree.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 2.5
    noise.inputs["Detail"].default_value = 8.0
    mix = tree.nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    mix.blend_type = "MULTIPLY"
    mix.inputs["Factor"].default_value = 0.7
    tree.links.new(coord.outputs["Object"], checker.inputs["Vector"])
    tree.links.new(coord.outputs["Object"], noise.inputs["Vector"])
    tree.links.new(checker.outputs["Color"], mix.inputs[6])
    tree.links.new(noise.outputs["Color"], mix.inputs[7])
    return mix.outputs[2]


def _brick_colour(rgb: tuple[float, float, float]) -> Callable[[Any, Any], Any]:
    def build(tree: Any, _bsdf: Any) -> Any:
        brick = tree.nodes.new("ShaderNodeTexBrick")
        brick.inputs["Color1"].default_value = (*rgb, 1)
        brick.inputs["Color2"].default_value = tuple(0.6 * c for c in rgb) + (1,)
        brick.inputs["Mortar"].default_value = (0.8, 0.8, 0.75, 1)
        brick.inputs["Scale"].default_value = 4.0
        return brick.outputs["Color"]

    return build


def _wave_colour(rgb: tuple[float, float, float]) -> Callable[[Any, Any], Any]:
    def build(tree: Any, _bsdf: Any) -> Any:
        wave = tree.nodes.new("ShaderNodeTexWave")
        wave.inputs["Scale"].default_value = 3.0
        ramp = tree.nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].color = tuple(0.4 * c for c in rgb) + (1,)
        ramp.color_ramp.elements[1].color = (*rgb, 1)
        tree.links.new(wave.outputs["Fac"], ramp.inputs["Fac"])
        return ramp.outputs["Color"]

    return build


def _add_mesh_object(scene: Any, name: str, verts: list, faces: list, mat: Any, location: tuple, rotation_z: float = 0.0) -> Any:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    mesh.update()
    mesh.materials.append(mat)
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    obj.location = location
    obj.rotation_euler = Euler((0, 0, rotation_z))
    return obj


def _box(sx: float, sy: float, sz: float) -> tuple[list, list]:
    v = [(x * sx / 2, y * sy / 2, z * sz) for z in (0, 1) for y in (-1, 1) for x in (-1, 1)]
    f: list[tuple[int, ...]] = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return v, f


def _cylinder(r: float, h: float, n: int = 24) -> tuple[list, list]:
    v = [(r * math.cos(2 * math.pi * i / n), r * math.sin(2 * math.pi * i / n), z) for z in (0, h) for i in range(n)]
    f: list[tuple[int, ...]] = [(i, (i + 1) % n, n + (i + 1) % n, n + i) for i in range(n)]
    f += [tuple(range(n - 1, -1, -1)), tuple(range(n, 2 * n))]
    return v, f


SUN_EULER = (math.radians(40), math.radians(15), math.radians(-35))


def sun_direction() -> list[float]:
    """Direction from the set towards the demo sun (a sun shines along its local -z)."""
    d = Euler(SUN_EULER).to_matrix() @ Vector((0.0, 0.0, 1.0))
    return [float(d.x), float(d.y), float(d.z)]


def build_set(scene: Any) -> None:
    """Ground, set dressing around a free centre, sky and sun."""
    ground = _material("Demo Ground", _ground_colour, 0.85)
    s = 15.0
    _add_mesh_object(scene, "Demo Ground", [(-s, -s, 0), (s, -s, 0), (s, s, 0), (-s, s, 0)], [(0, 1, 2, 3)], ground, (0, 0, 0))
    props = [
        ("Block A", _box(0.8, 0.6, 0.7), _brick_colour((0.55, 0.18, 0.12)), (-1.6, 1.2, 0), 0.4),
        ("Block B", _box(0.5, 0.5, 1.2), _wave_colour((0.15, 0.35, 0.6)), (1.7, 1.6, 0), -0.3),
        ("Column", _cylinder(0.25, 1.6), _brick_colour((0.7, 0.65, 0.5)), (0.2, 2.6, 0), 0.0),
        ("Block C", _box(0.6, 0.9, 0.45), _wave_colour((0.5, 0.55, 0.2)), (-2.2, -0.4, 0), 0.9),
        ("Crate", _box(0.45, 0.45, 0.45), _brick_colour((0.45, 0.3, 0.15)), (1.9, -0.3, 0), 0.2),
    ]
    for name, (v, f), build, loc, rot in props:
        _add_mesh_object(scene, name, v, f, _material(name, build), loc, rot)
    world = bpy.data.worlds.new("Demo Sky")
    scene.world = world
    compat.world_background(world, (0.45, 0.55, 0.75), 0.8)
    sun: Any = bpy.data.lights.new("Demo Sun", "SUN")
    sun.energy = 3.5
    sun.angle = math.radians(2.0)
    obj = bpy.data.objects.new("Demo Sun", sun)
    scene.collection.objects.link(obj)
    obj.rotation_euler = Euler(SUN_EULER)


def camera_path(frames: int) -> list[Matrix]:
    """An arc around the centre, slowly rising, looking slightly past the centre."""
    out = []
    for i in range(frames):
        t = i / max(1, frames - 1)
        ang = math.radians(-115 + 50 * t)
        radius = 2.6 - 0.3 * t
        eye = Vector((radius * math.cos(ang), radius * math.sin(ang), 0.9 + 0.25 * t))
        target = Vector((0.05 * math.sin(3 * t), 0.0, 0.2))
        rot = (target - eye).to_track_quat("-Z", "Y").to_matrix().to_4x4()
        out.append(Matrix.Translation(eye[:]) @ rot)
    return out


def _render_png_sequence(scene: Any, out_dir: Path, first: int, last: int) -> None:
    r = scene.render
    compat.set_image_format(r.image_settings, "PNG")
    r.image_settings.color_mode = "RGB"
    r.image_settings.color_depth = "8"
    r.filepath = str(out_dir) + "/######"
    r.use_file_extension = True
    scene.frame_start, scene.frame_end = first, last
    res = bpy.ops.render.render(animation=True, scene=scene.name)
    if not compat.op_finished(res):
        raise RuntimeError("demo plate render was cancelled")


def encode_mp4(frame_files: list[Path], out: Path, fps: int, width: int, height: int) -> None:
    """PNG frames -> H.264 MP4 with Blender's FFmpeg (a throw-away sequencer scene), atomically."""
    scene: Any = bpy.data.scenes.new("Vanelia encode")
    tmp = Path(tempfile.mkdtemp(prefix=".encode-", dir=out.parent))
    try:
        r = scene.render  # resolution first: a strip's fit is computed against it when added
        r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
        strip = compat.strips_collection(scene).new_image("frames", str(frame_files[0]), 1, 1, fit_method="STRETCH")
        for p in frame_files[1:]:
            strip.elements.append(p.name)
        r.fps, r.fps_base = fps, 1.0
        scene.frame_start, scene.frame_end = 1, len(frame_files)
        scene.view_settings.view_transform = "Standard"
        compat.set_ffmpeg_h264(r)
        r.filepath = str(tmp / "plate.mp4")
        res = bpy.ops.render.render(animation=True, scene=scene.name)
        produced = sorted(tmp.glob("*.mp4"))
        if not compat.op_finished(res) or not produced:
            raise RuntimeError(f"{out}: Blender wrote no MP4 (FFmpeg support missing?)")
        os.replace(produced[0], out)
    finally:
        bpy.data.scenes.remove(scene)
        shutil.rmtree(tmp, ignore_errors=True)


def make_plate(out_dir: Path, frames: int, resolution: tuple[int, int], samples: int, progress: Progress = _noop) -> dict:
    """Render the set along the camera path; write frames/, plate.mp4 and transforms.json."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene: Any = bpy.context.scene
    scene.name = "Vanelia Demo Set"
    r = scene.render
    r.resolution_x, r.resolution_y = resolution
    r.resolution_percentage = 100
    r.fps = DEMO_FPS
    r.engine = "CYCLES"
    compat.enable_gpu(scene)
    scene.cycles.samples = samples
    compat.set_denoiser(scene, samples >= 16)
    scene.cycles.max_bounces = 4
    scene.view_settings.view_transform = "Standard"
    build_set(scene)
    data = bpy.data.cameras.new("Demo Camera")
    data.lens, data.sensor_width, data.sensor_fit = 30.0, 36.0, "HORIZONTAL"
    data.shift_x, data.shift_y = 0.02, -0.015  # an off-centre principal point: the track must carry it
    cam = bpy.data.objects.new("Demo Camera", data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.rotation_mode = "QUATERNION"
    for i, m in enumerate(camera_path(frames), start=1):
        cam.matrix_world = m
        cam.keyframe_insert("location", frame=i)
        cam.keyframe_insert("rotation_quaternion", frame=i)
    compat.set_constant_interpolation(cam)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".frames-", dir=out_dir))
    try:
        progress(f"rendering {frames} demo plate frames {resolution[0]}x{resolution[1]} ({samples} samples)")
        _render_png_sequence(scene, tmp, 1, frames)
        frames_dir = out_dir / "frames"
        if frames_dir.exists():
            shutil.rmtree(frames_dir)
        os.replace(tmp, frames_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    w, h = resolution
    fx, fy, cx, cy = cam_mod.from_blender(data, w, h)
    doc: dict[str, Any] = {"fl_x": fx, "fl_y": fy, "cx": cx, "cy": cy, "w": w, "h": h, "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0,
                           "camera_angle_x": 2 * math.atan(w / (2 * fx)), "camera_angle_y": 2 * math.atan(h / (2 * fy)),
                           "light_direction": sun_direction(), "frames": []}
    for i in range(1, frames + 1):
        scene.frame_set(i)
        gl = np.array(cam.matrix_world, dtype=float).tolist()
        doc["frames"].append({"file_path": f"frames/{i:06d}.png", "transform_matrix": gl})
    atomic_write_json(out_dir / "transforms.json", doc)
    progress("encoding plate.mp4")
    files = sorted((out_dir / "frames").glob("*.png"))
    encode_mp4(files, out_dir / "plate.mp4", DEMO_FPS, w, h)
    return doc


# ---------------------------------------------------------------------------
# the product
# ---------------------------------------------------------------------------

BOTTLE_PROFILE = [(0.0, 0.0), (0.05, 0.0), (0.056, 0.006), (0.056, 0.2), (0.05, 0.235), (0.022, 0.275), (0.02, 0.31)]
CAP = (0.024, 0.31, 0.345)  # radius, bottom, top (metres)


def _label_image(width: int = 256, height: int = 128) -> Any:
    """A generated label: cream band with red stripes and a dark ring, as a packed PNG image."""
    v = np.linspace(0, 1, height)[:, None]
    u = np.linspace(0, 1, width)[None, :]
    rgb = np.zeros((height, width, 3), dtype=np.float32)
    rgb[:] = (0.55, 0.06, 0.05)  # deep red glass
    band = (v > 0.3) & (v < 0.7)
    rgb[np.broadcast_to(band, (height, width))] = (0.85, 0.8, 0.65)
    stripes = band & (np.sin(u * 2 * np.pi * 12) > 0.6)
    rgb[np.broadcast_to(stripes, (height, width))] = (0.7, 0.1, 0.08)
    ring = (np.abs(v - 0.32) < 0.02) | (np.abs(v - 0.68) < 0.02)
    rgb[np.broadcast_to(ring, (height, width))] = (0.08, 0.06, 0.05)
    img = bpy.data.images.new("Bottle Label", width, height, alpha=True)
    pixels: Any = img.pixels
    rgba = np.concatenate([rgb ** (1 / 2.2), np.ones((height, width, 1), np.float32)], axis=-1)
    pixels.foreach_set(rgba.ravel())
    img.file_format = "PNG"
    img.pack()
    return img


def _lathe(profile: list[tuple[float, float]], segments: int) -> tuple[list, list, list]:
    """Revolve an (r, z) profile; returns verts, quads and per-face-corner UVs (u = angle, v = z)."""
    zmax = max(z for _r, z in profile)
    verts = [(r * math.cos(2 * math.pi * s / segments), r * math.sin(2 * math.pi * s / segments), z) for r, z in profile for s in range(segments + 1)]
    faces, uvs = [], []
    row = segments + 1
    for i in range(len(profile) - 1):
        for s in range(segments):
            a, b = i * row + s, i * row + s + 1
            c, d = (i + 1) * row + s + 1, (i + 1) * row + s
            faces.append((a, b, c, d))
            uvs.append([(s / segments, profile[i][1] / zmax), ((s + 1) / segments, profile[i][1] / zmax),
                        ((s + 1) / segments, profile[i + 1][1] / zmax), (s / segments, profile[i + 1][1] / zmax)])
    return verts, faces, uvs


def _mesh_with_uvs(name: str, verts: list, faces: list, uvs: list) -> Any:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    mesh.update()
    layer = mesh.uv_layers.new(name="UVMap")
    flat = [c for face in uvs for corner in face for c in corner]
    layer.data.foreach_set("uv", flat)
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    return mesh


def make_product(path: Path) -> None:
    """Build the bottle in an empty scene and export it as GLB (factors + label texture)."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene: Any = bpy.context.scene
    body = bpy.data.materials.new("Bottle Glass")
    tree = compat.material_nodes(body)
    bsdf = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    tex = tree.nodes.new("ShaderNodeTexImage")
    tex.image = _label_image()
    tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Metallic"].default_value = 0.0
    bsdf.inputs["Roughness"].default_value = 0.22
    cap = bpy.data.materials.new("Bottle Cap")
    ctree = compat.material_nodes(cap)
    cbsdf = next(n for n in ctree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    cbsdf.inputs["Base Color"].default_value = (0.85, 0.65, 0.25, 1)
    cbsdf.inputs["Metallic"].default_value = 1.0
    cbsdf.inputs["Roughness"].default_value = 0.3
    v, f, uv = _lathe(BOTTLE_PROFILE, 48)
    body_mesh = _mesh_with_uvs("Bottle", v, f, uv)
    body_mesh.materials.append(body)
    bottle = bpy.data.objects.new("Bottle", body_mesh)
    r, z0, z1 = CAP
    v, f, uv = _lathe([(0.0, z0), (r, z0), (r, z1), (0.0, z1)], 48)
    cap_mesh = _mesh_with_uvs("Cap", v, f, uv)
    cap_mesh.materials.append(cap)
    cap_obj = bpy.data.objects.new("Cap", cap_mesh)
    for obj in (bottle, cap_obj):
        scene.collection.objects.link(obj)
        obj.select_set(True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.glb")
    res = bpy.ops.export_scene.gltf(filepath=str(tmp), export_format="GLB", use_selection=True)
    if not compat.op_finished(res) or not tmp.is_file():
        raise RuntimeError(f"{path}: glTF export failed")
    os.replace(tmp, path)


def make_demo(out_dir: str | os.PathLike[str], frames: int = DEMO_FRAMES, resolution: tuple[int, int] = DEMO_RESOLUTION, samples: int = DEMO_SAMPLES, progress: Progress = _noop) -> dict[str, str]:
    """Write plate.mp4, frames/, transforms.json and product.glb into ``out_dir``."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    progress("building the demo product (product.glb)")
    make_product(out / "product.glb")
    make_plate(out, frames, resolution, samples, progress)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    manifest = {"plate": str(out / "plate.mp4"), "frames": str(out / "frames"), "camera": str(out / "transforms.json"), "model": str(out / "product.glb")}
    atomic_write_json(out / "demo.json", {**manifest, "resolution": list(resolution), "n_frames": frames, "samples": samples})
    return manifest
