"""A model's box read from its glTF JSON matches what Blender builds from the same file."""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
import pytest

from shotcache.gltf_extent import footprint, model_box


def _export_nested(path: Path) -> np.ndarray:
    """A GLB from Blender: a scaled, turned parent empty over two boxes (one offset, one
    stretched and turned again), exported as Blender's glTF exporter writes it. Returns the
    world box's extent in glTF axes (Blender x, z, y: +Y up)."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    parent = bpy.data.objects.new("Parent", None)
    bpy.context.scene.collection.objects.link(parent)
    parent.scale = (2.0, 2.0, 2.0)
    parent.rotation_euler = (0.0, 0.0, math.radians(30.0))
    for i, (loc, scale, yaw) in enumerate((((0.3, 0.0, 0.1), (0.1, 0.2, 0.3), 0.0), ((-0.2, 0.4, 0.0), (0.05, 0.3, 0.1), 50.0))):
        bpy.ops.mesh.primitive_cube_add(size=1.0)
        box = bpy.context.active_object
        box.name = f"Box{i}"
        box.location, box.scale, box.rotation_euler = loc, scale, (0.0, 0.0, math.radians(yaw))
        box.parent = parent
    bpy.context.view_layer.update()
    verts = np.array([tuple(o.matrix_world @ v.co) for o in bpy.context.scene.objects if o.type == "MESH" for v in o.data.vertices])
    bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB")
    ext = verts.max(axis=0) - verts.min(axis=0)
    return np.array([ext[0], ext[2], ext[1]])


def test_the_box_of_a_nested_turned_model_is_blenders(tmp_path):
    """Rotations about the vertical keep a box's corners its vertices, so the corners through the
    node transforms give the exact extent; the exporter writes the parent as TRS and its
    quaternion, which the reader must compose in glTF's order (T R S, parent first)."""
    expected = _export_nested(tmp_path / "nested.glb")
    lo, hi = model_box(tmp_path / "nested.glb")
    np.testing.assert_allclose(hi - lo, expected, rtol=1e-4)


def test_footprint_scales_the_largest_dimension(tmp_path):
    ext = _export_nested(tmp_path / "nested.glb")
    radius, height = footprint(tmp_path / "nested.glb", size_m=0.08)
    k = 0.08 / ext.max()
    assert height == pytest.approx(ext[1] * k, rel=1e-4)
    assert radius == pytest.approx(0.5 * math.hypot(ext[0], ext[2]) * k, rel=1e-4)
    assert footprint(tmp_path / "nested.glb")[1] == pytest.approx(ext[1], rel=1e-4)  # as modelled: metres


def test_a_file_that_is_no_model_gives_no_footprint(tmp_path):
    bad = tmp_path / "notes.glb"
    bad.write_text("not a model")
    assert footprint(bad) is None
    empty = tmp_path / "empty.gltf"
    empty.write_text('{"asset": {"version": "2.0"}, "scenes": [{"nodes": []}]}')
    assert footprint(empty) is None


def test_a_quantized_models_normalized_bounds_are_read_as_fractions(tmp_path):
    """KHR_mesh_quantization: positions stored as normalized shorts, their bounds the stored
    integers, the node's scale the dequantization: 32767 x (0.5 / 32767) is half a metre, not
    16 km."""
    import json

    doc = {"asset": {"version": "2.0"}, "extensionsUsed": ["KHR_mesh_quantization"], "scene": 0,
           "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0, "scale": [0.5, 0.5, 0.5]}],
           "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
           "accessors": [{"componentType": 5122, "normalized": True, "count": 2, "type": "VEC3",
                          "min": [-32767, 0, -16384], "max": [32767, 32767, 16384]}]}
    path = tmp_path / "quantized.gltf"
    path.write_text(json.dumps(doc))
    lo, hi = model_box(path)
    np.testing.assert_allclose(hi - lo, [1.0, 0.5, 0.5], atol=1e-4)
