"""The product: GLB import, placement in metres, and the shadow-catcher ground under it.

glTF units are metres, so a GLB imports at its real size; ``scale`` multiplies it and
``size_m`` (largest dimension) overrides it. Placement is an explicit 4x4 world matrix, or
"on the ground": the product's lowest point rests on the ground plane where the camera's
view centre hits it, upright along the plane normal.
"""
from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..shotcache.schema import FrameCamera, Ground, cover_floor_m
from . import compat, shot_scene
from ..shotcache.errors import InputError

PRODUCT_ROOT = "Vanelia Product"
GROUND_NAME = "Vanelia Ground"


def check_glb(path: str | os.PathLike[str]) -> Path:
    """Refuse a missing, empty or non-glTF file before Blender's importer half-creates objects."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: product model not found; give the path of a .glb file")
    with open(p, "rb") as fh:
        head = fh.read(20)
    if p.suffix.lower() == ".gltf":
        try:
            json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{p}: not a valid glTF JSON file ({exc}); re-export the model") from exc
        return p
    if len(head) < 20 or head[:4] != b"glTF":
        raise InputError(f"{p}: not a GLB file (no glTF header); re-export the model as binary glTF (.glb)")
    _magic, version, length = struct.unpack("<4sII", head[:12])
    if version != 2:
        raise InputError(f"{p}: glTF version {version}; Vanelia reads glTF 2.0, re-export the model")
    if length != p.stat().st_size:
        raise InputError(f"{p}: truncated GLB ({p.stat().st_size} of {length} bytes); copy the file again or re-export it")
    return p


def import_glb(scene: Any, path: str | os.PathLike[str]) -> Any:
    """Import the GLB under one empty (PRODUCT_ROOT) so it moves as one object; returns the empty."""
    p = check_glb(path)
    remove_product(scene)
    before = set(bpy.data.objects)
    try:
        res = bpy.ops.import_scene.gltf(filepath=str(p), **compat.gltf_import_kwargs())
    except RuntimeError as exc:
        for obj in set(bpy.data.objects) - before:
            bpy.data.objects.remove(obj, do_unlink=True)
        raise InputError(f"{p}: Blender could not import this model ({str(exc).strip()}); re-export it as glTF 2.0") from exc
    new = [o for o in bpy.data.objects if o not in before]
    if not compat.op_finished(res) or not any(o.type == "MESH" for o in new):
        for obj in new:
            bpy.data.objects.remove(obj, do_unlink=True)
        raise InputError(f"{p}: the model holds no mesh; re-export it with its geometry")
    for obj in [o for o in new if o.type in ("CAMERA", "LIGHT")]:  # the shot owns camera and lights
        new.remove(obj)
        bpy.data.objects.remove(obj, do_unlink=True)
    root = bpy.data.objects.new(PRODUCT_ROOT, None)
    scene.collection.objects.link(root)
    for obj in new:  # the importer links into the context's collection: move them to the shot's scene
        for coll in list(obj.users_collection):
            coll.objects.unlink(obj)
        scene.collection.objects.link(obj)
    for obj in new:
        if obj.parent is None:
            mw = obj.matrix_world.copy()
            obj.parent = root
            obj.matrix_world = mw
    return root


REFRACTING_NODES = ("ShaderNodeBsdfGlass", "ShaderNodeBsdfRefraction")


def refracts(root: Any) -> bool:
    """Whether any of the product's materials lets light through by refraction: a glass or
    refraction shader, or a Principled BSDF with transmission (what the glTF importer makes of
    KHR_materials_transmission), set or driven by a texture. What the render sees through it
    is the ground it refracts (compat.DENOISE_PREFILTER)."""
    for obj in [root, *root.children_recursive]:
        for slot in getattr(obj, "material_slots", ()):
            tree = slot.material.node_tree if slot.material is not None and slot.material.use_nodes else None
            for node in tree.nodes if tree is not None else ():
                if node.bl_idname in REFRACTING_NODES:
                    return True
                weight = node.inputs.get("Transmission Weight") if node.bl_idname == "ShaderNodeBsdfPrincipled" else None
                if weight is not None and (weight.is_linked or float(weight.default_value) > 0.0):
                    return True
    return False


def remove_product(scene: Any) -> None:
    """Remove the scene's product (root and children); other scenes' products stay."""
    root = shot_scene.find(scene, PRODUCT_ROOT)
    if root is None:
        return
    shot_scene.remove_objects([*root.children_recursive, root])


def _update_matrices(root: Any) -> None:
    """Children's matrix_world follow their parent only after a view layer update (in every
    scene the product is in: the shot's scene need not be the context's)."""
    scenes: Any = root.users_scene or (bpy.context.scene,)
    for scene in scenes:
        for layer in scene.view_layers:
            layer.update()


def mesh_bounds(root: Any) -> tuple[np.ndarray, np.ndarray]:
    """World-space (min, max) corners over all meshes under ``root``."""
    _update_matrices(root)
    pts: list[tuple[float, ...]] = []
    for obj in root.children_recursive:
        if obj.type == "MESH":
            mw = obj.matrix_world
            pts.extend((mw @ Vector(c))[:] for c in obj.bound_box)
    if not pts:
        raise InputError("the product has no mesh to place")
    arr = np.asarray(pts, dtype=np.float64)
    return arr.min(axis=0), arr.max(axis=0)


def dimensions(root: Any) -> np.ndarray:
    """The product's size along its own axes as placed (scale included, rotation not): what
    ``--product-size`` sets the largest of. ``mesh_bounds`` is the world box, larger for a
    product turned on the ground."""
    _update_matrices(root)
    to_root = root.matrix_world.inverted()
    pts = [(to_root @ obj.matrix_world @ Vector(c))[:] for obj in root.children_recursive if obj.type == "MESH" for c in obj.bound_box]
    local = np.asarray(pts, dtype=np.float64)
    scale = np.linalg.norm(np.asarray(root.matrix_world, dtype=np.float64)[:3, :3], axis=0)
    return (local.max(axis=0) - local.min(axis=0)) * scale


def _basis_from_normal(normal: np.ndarray) -> np.ndarray:
    """A rotation whose z axis is the ground normal (x kept as close to world x as possible)."""
    z = normal / np.linalg.norm(normal)
    ref = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = ref - z * (ref @ z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def view_ground_point(cam: FrameCamera, ground: Ground, width: int, height: int,
                      pixel: tuple[float, float] | None = None) -> np.ndarray:
    """Where the ray through ``pixel`` (default: the centre, a little below) meets the ground
    plane (falls back to the plane point)."""
    c2w = np.asarray(cam.c2w, dtype=np.float64)
    origin = c2w[:3, 3]
    px, py = pixel if pixel is not None else (width / 2, height * 0.6)
    ray_cam = np.array([(px - cam.cx) / cam.fx, (py - cam.cy) / cam.fy, 1.0])
    ray = c2w[:3, :3] @ ray_cam
    n, p0 = np.asarray(ground.normal, float), np.asarray(ground.point, float)
    denom = ray @ n
    if abs(denom) < 1e-9:
        return p0
    t = ((p0 - origin) @ n) / denom
    return origin + t * ray if t > 0 else p0


def place_on_ground(root: Any, ground: Ground, point: np.ndarray, scale: float = 1.0, size_m: float | None = None, yaw_deg: float = 0.0) -> tuple[Matrix, float]:
    """Stand the product on the plane at ``point``; returns (matrix_world, uniform scale)."""
    root.matrix_world = Matrix.Identity(4)
    lo, hi = mesh_bounds(root)
    if size_m:
        scale = float(size_m) / float(max(hi - lo))
    centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])  # bottom centre of the model
    rot = _basis_from_normal(np.asarray(ground.normal, float))
    yaw = np.radians(yaw_deg)
    rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    m = np.eye(4)
    m[:3, :3] = rot @ rz * scale
    m[:3, 3] = np.asarray(point, float) - m[:3, :3] @ centre
    mat = Matrix(m.tolist())
    root.matrix_world = mat
    return mat, scale


def place_explicit(root: Any, matrix: Any, size_m: float | None = None) -> Matrix:
    """Put the product at a given world matrix; with ``size_m`` its scale is replaced so the
    largest dimension of the model is ``size_m`` metres (see ``sized_matrix``)."""
    if size_m:
        matrix, _scale = sized_matrix(root, matrix, size_m)
    mat = Matrix([list(r) for r in matrix])
    root.matrix_world = mat
    return mat


def sized_matrix(root: Any, matrix: Any, size_m: float) -> tuple[list[list[float]], float]:
    """``matrix`` with its scale replaced by the uniform one that makes the model's largest
    dimension ``size_m``; returns (matrix, scale).

    A placement matrix (e.g. chosen on the solved ground) says where and which way the
    product stands; the size is a separate choice, so the rotation part is normalised
    column by column and rescaled, and the translation (the standing point) is kept.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.isfinite(m).all():
        raise InputError(f"product matrix {m.tolist()}: expected a finite 4x4 matrix")
    norms = np.linalg.norm(m[:3, :3], axis=0)
    if (norms < 1e-12).any():
        raise InputError(f"product matrix {m.tolist()}: its rotation part has a zero axis; give a matrix with a non-zero scale")
    if not size_m or size_m <= 0 or not np.isfinite(size_m):
        raise InputError(f"product size {size_m}: must be a positive number of metres")
    root.matrix_world = Matrix.Identity(4)
    lo, hi = mesh_bounds(root)
    extent = float(max(hi - lo))
    if extent <= 0:
        raise InputError("the product model has no extent (all its vertices coincide); re-export it with its geometry")
    scale = float(size_m) / extent
    out = m.copy()
    out[:3, :3] = m[:3, :3] / norms * scale
    return out.tolist(), scale


def _matte(mat: Any, albedo: list[float] | None) -> None:
    """The catcher's Principled BSDF: the default grey, or a rough, non-specular ground of ``albedo``."""
    bsdf = next((n for n in compat.material_nodes(mat).nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"), None)
    if bsdf is None:
        return
    inp = bsdf.inputs
    if albedo:
        inp["Base Color"].default_value = (*[float(v) for v in albedo[:3]], 1.0)
        inp["Roughness"].default_value = 1.0
        inp["Specular IOR Level" if "Specular IOR Level" in inp else "Specular"].default_value = 0.0
    else:
        inp["Base Color"].default_value = (0.8, 0.8, 0.8, 1.0)
        inp["Roughness"].default_value = 0.5
        inp["Specular IOR Level" if "Specular IOR Level" in inp else "Specular"].default_value = 0.5


PLATE_NODE = "Vanelia Plate Projection"
"""The catcher material's node that holds the plate projected through the camera."""


def reflect_plate(catcher: Any, plate_image: Any, frames: list[int], irradiance: Any) -> None:
    """Let what a glossy or glass product reflects and refracts of the ground be the plate.

    The catcher's matte colour is one colour, where the plate shows the ground's texture and
    its own light and shade: a metal duck mirrored a grey floor, a glass one refracted it.
    Rays that reach the catcher by a glossy or transmission bounce now see the plate frame
    projected through the render camera (the Window coordinate projects any hit point through
    it); off the frame they keep the matte. The plate is a diffuse ground of albedo pi x plate /
    ``irradiance`` (RGB: what the render's light gives open ground at the product's foot,
    ``lighting.ground_irradiance``), so it sends the plate's own radiance where the render's
    light reaches it and less in the product's shadow: the ground under a glass duck, seen
    through it, is in the duck's shadow as in a photograph. Camera rays (the shadow catcher)
    and diffuse bounces (the ground's light on the product, tuned with the matte) are
    unchanged."""
    mat = catcher.active_material
    tree = compat.material_nodes(mat)
    for n in [n for n in tree.nodes if n.name.startswith(PLATE_NODE)]:
        tree.nodes.remove(n)
    bsdf = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    out = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    tex = _plate_texture(tree, plate_image, frames)
    mix = _node(tree, "ShaderNodeMixShader", "mix")
    tree.links.new(_bounced_in_frame(tree, tex), mix.inputs["Fac"])
    tree.links.new(bsdf.outputs["BSDF"], mix.inputs[1])
    tree.links.new(_plate_ground(tree, tex, irradiance), mix.inputs[2])
    tree.links.new(mix.outputs["Shader"], out.inputs["Surface"])


def _node(tree: Any, kind: str, tag: str = "") -> Any:
    """A node of ``reflect_plate``'s, named so that it finds and replaces its own."""
    n = tree.nodes.new(kind)
    n.name = f"{PLATE_NODE} {tag}".strip()
    return n


def _plate_texture(tree: Any, plate_image: Any, frames: list[int]) -> Any:
    """The plate frame of the frame rendered, at the Window coordinate (any hit point projected
    through the render camera); off the frame its alpha is 0 (CLIP)."""
    from . import plate

    tex = _node(tree, "ShaderNodeTexImage")
    tex.image = plate_image
    tex.extension, tex.interpolation = "CLIP", "Linear"
    plate.frame_locked(tex.image_user, frames)
    tree.links.new(_node(tree, "ShaderNodeTexCoord", "coords").outputs["Window"], tex.inputs["Vector"])
    return tex


def _bounced_in_frame(tree: Any, tex: Any) -> Any:
    """1 for a glossy or transmission ray that hits the ground the plate frames, else 0."""
    rays = _node(tree, "ShaderNodeLightPath", "rays")
    bounced, inside = _node(tree, "ShaderNodeMath", "bounced"), _node(tree, "ShaderNodeMath", "inside")
    bounced.operation, inside.operation = "MAXIMUM", "MULTIPLY"
    tree.links.new(rays.outputs["Is Glossy Ray"], bounced.inputs[0])
    tree.links.new(rays.outputs["Is Transmission Ray"], bounced.inputs[1])
    tree.links.new(bounced.outputs[0], inside.inputs[0])
    tree.links.new(tex.outputs["Alpha"], inside.inputs[1])
    return inside.outputs[0]


def _plate_ground(tree: Any, tex: Any, irradiance: Any) -> Any:
    """The plate as a diffuse ground of albedo pi x plate / irradiance: lit by the render's
    light it sends the plate's radiance, less in the product's shadow."""
    albedo = _node(tree, "ShaderNodeVectorMath", "albedo")
    albedo.operation = "MULTIPLY"
    albedo.inputs[1].default_value = [math.pi / max(float(e), 1e-6) for e in irradiance[:3]]
    tree.links.new(tex.outputs["Color"], albedo.inputs[0])
    lit = _node(tree, "ShaderNodeBsdfDiffuse", "lit")
    tree.links.new(albedo.outputs["Vector"], lit.inputs["Color"])
    return lit.outputs["BSDF"]


def plate_reflected(catcher: Any) -> bool:
    """Whether ``reflect_plate`` set up this catcher."""
    mat = catcher.active_material
    return mat is not None and mat.node_tree is not None and PLATE_NODE in mat.node_tree.nodes


def make_shadow_catcher(scene: Any, ground: Ground, albedo: list[float] | None = None) -> Any:
    """A plane on the ground that only catches shadows (transparent in Combined).

    Reflections, refractions and bounce light still see its material: with ``albedo`` (the
    light estimate's, Lighting.ground_albedo) it is a matte ground of that colour, so a metal
    or glass product shows the plate's ground, not a white floor."""
    old = shot_scene.find(scene, GROUND_NAME)
    if old is not None:
        old_mat = old.active_material
        shot_scene.remove_objects([old])
        if old_mat is not None and old_mat.users == 0:  # a fresh material each time: no plate of an earlier set-up
            bpy.data.materials.remove(old_mat)
    s = ground.size_m / 2.0
    mesh = bpy.data.meshes.new(GROUND_NAME)
    mesh.from_pydata([(-s, -s, 0), (s, -s, 0), (s, s, 0), (-s, s, 0)], [], [(0, 1, 2, 3)])
    mesh.update()
    mat: Any = bpy.data.materials.new(GROUND_NAME)
    mat.diffuse_color = (0.8, 0.8, 0.8, 1.0)
    _matte(mat, albedo)
    mesh.materials.append(mat)
    obj = bpy.data.objects.new(GROUND_NAME, mesh)
    scene.collection.objects.link(obj)
    m = np.eye(4)
    n = np.asarray(ground.normal, float)
    m[:3, :3] = _basis_from_normal(n)
    # on grass the catcher is the blades the camera sees, not the soil (shotcache/schema.py COVER_FLOOR)
    m[:3, 3] = np.asarray(ground.point, float) + n / max(float(np.linalg.norm(n)), 1e-9) * cover_floor_m(ground.cover_m)
    obj.matrix_world = Matrix(m.tolist())
    obj.is_shadow_catcher = True
    return obj
