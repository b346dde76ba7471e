"""A glTF model's size, read from its JSON alone: the spot the product stands on is chosen
before Blender opens the model.

glTF units are metres and +Y is up (the spec's axes, which Blender's importer turns into +Z
up). Every mesh primitive's POSITION accessor carries its ``min`` and ``max`` (the spec
requires them), so the model's box is those boxes' corners through the node transforms of the
scene, with no geometry decoded. Skins and morph targets can move vertices outside it; the box
is the model as modelled, which is what ``--product-size`` scales.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

GLB_MAGIC = b"glTF"
"""The first four bytes of a glTF binary (.glb)."""
GLB_JSON_CHUNK = 0x4E4F534A
"""The type of a GLB's first chunk, its JSON ("JSON" little-endian)."""


def read_gltf_json(path: str | Path) -> dict:
    """The glTF JSON of a .glb (its first chunk) or a .gltf file. ValueError where it is neither."""
    raw = Path(path).read_bytes()
    if raw[:4] == GLB_MAGIC:
        if len(raw) < 20:
            raise ValueError(f"{path}: truncated GLB header")
        chunk_len, chunk_type = struct.unpack("<II", raw[12:20])
        if chunk_type != GLB_JSON_CHUNK:
            raise ValueError(f"{path}: the GLB's first chunk is not its JSON")
        raw = raw[20:20 + chunk_len]
    doc = json.loads(raw.decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a glTF document")
    return doc


def node_matrix(node: dict) -> np.ndarray:
    """A node's local transform: its ``matrix`` (column-major) or T * R * S."""
    if "matrix" in node:
        return np.asarray(node["matrix"], np.float64).reshape(4, 4).T
    x, y, z, w = node.get("rotation", (0.0, 0.0, 0.0, 1.0))
    rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    m = np.eye(4)
    m[:3, :3] = rot * np.asarray(node.get("scale", (1.0, 1.0, 1.0)), np.float64)[None, :]
    m[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    return m


NORMALIZED_MAX = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0}
"""The largest stored value of each integer component type: a normalized accessor's bounds are
stored as such integers (KHR_mesh_quantization's positions), its values these fractions of it."""


def _bounds(accessor: dict) -> tuple[list[float], list[float]]:
    """An accessor's (min, max) as the values it reads as: a normalized one's stored integers
    divided by their type's largest (NORMALIZED_MAX; signed ones no lower than -1)."""
    lo, hi = [float(v) for v in accessor["min"]], [float(v) for v in accessor["max"]]
    top = NORMALIZED_MAX.get(accessor.get("componentType", 5126)) if accessor.get("normalized") else None
    if top is None:
        return lo, hi
    return [max(v / top, -1.0) for v in lo], [max(v / top, -1.0) for v in hi]


def _mesh_corners(doc: dict, mesh_index: int) -> list[np.ndarray]:
    """The 8 corners of each primitive's POSITION box (homogeneous, 4 x 8)."""
    out = []
    accessors = doc.get("accessors", [])
    for prim in doc["meshes"][mesh_index].get("primitives", []):
        acc = prim.get("attributes", {}).get("POSITION")
        if acc is None or acc >= len(accessors) or "min" not in accessors[acc] or "max" not in accessors[acc]:
            continue
        lo, hi = _bounds(accessors[acc])
        corners = np.array([[(lo, hi)[(k >> a) & 1][a] for a in range(3)] + [1.0] for k in range(8)], np.float64).T
        out.append(corners)
    return out


def model_box(path: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(lowest, highest) corner of the model's box in glTF axes (metres, +Y up), over the default
    scene (else every scene); None when no mesh gives a box."""
    doc = read_gltf_json(path)
    nodes = doc.get("nodes", [])
    scenes = doc.get("scenes", [])
    if "scene" in doc and doc["scene"] < len(scenes):
        roots = list(scenes[doc["scene"]].get("nodes", []))
    else:
        roots = [n for s in scenes for n in s.get("nodes", [])]
    pts = []
    stack = [(r, np.eye(4)) for r in roots]
    seen = 0
    while stack and seen < 100_000:  # a cyclic node graph (invalid glTF) must not loop for ever
        index, parent = stack.pop()
        seen += 1
        if not 0 <= index < len(nodes):
            continue
        node = nodes[index]
        world = parent @ node_matrix(node)
        if "mesh" in node and 0 <= node["mesh"] < len(doc.get("meshes", [])):
            pts += [(world @ c)[:3].T for c in _mesh_corners(doc, node["mesh"])]
        stack += [(c, world) for c in node.get("children", [])]
    if not pts:
        return None
    allp = np.concatenate(pts)
    return allp.min(axis=0), allp.max(axis=0)


def footprint(path: str | Path, size_m: float | None = None) -> tuple[float, float] | None:
    """(radius, height) in metres of the product standing upright as modelled: the radius of the
    circle round its box on the ground (whatever way it is turned to face the camera), its
    height along +Y. ``size_m`` (``--product-size``): the largest dimension is scaled to it. None
    when the model gives no box or a flat one."""
    try:
        box = model_box(path)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    if box is None:
        return None
    ext = box[1] - box[0]
    largest = float(ext.max())
    if not math.isfinite(largest) or largest <= 0:
        return None
    k = size_m / largest if size_m else 1.0
    return 0.5 * math.hypot(ext[0], ext[2]) * k, float(ext[1]) * k
