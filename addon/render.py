"""Cycles render of one frame -> ``render/NNNNNN.exr`` with the canonical pass names.

A compositor File Output node whose layer slots carry our names (rgba, normal, albedo,
depth, position, shadow_catcher) writes one multilayer EXR per frame on 4.2 (single part)
and 5.0 (multi part) alike; the only name Blender picks itself is the channel of a value
socket (``depth.V``), which is renamed to ``depth.Z`` in the EXR header in place (same
length, so no offset moves). Every frame is written into a temp folder beside the target
and renamed over it: a killed render never leaves a broken EXR, and the previous good one
survives until the new one is complete.
"""
from __future__ import annotations

import os
import shutil
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import bpy

from ..shotcache.layout import stable_hash
from ..shotcache.schema import PASSES, SchemaError, Shot
from . import compat
from .lighting import KEY_GROUP

COMPOSITOR_NODE = "Vanelia Passes"
SLOT_KINDS = {"rgba": "RGBA", "normal": "VECTOR", "albedo": "RGBA", "depth": "FLOAT", "position": "VECTOR", "shadow_catcher": "RGBA", "key": "RGBA"}
_VALUE_CHANNEL = b"V"
"""Channel letter Blender gives a value (float) socket in a multilayer EXR."""


class RenderError(RuntimeError):
    """A frame that could not be rendered/written; the message says which and why."""


MIN_DENOISE_SAMPLES = 4
"""Denoise (where the build has OpenImageDenoise) from this many samples up. At 4 samples a
product comes out speckled without it and clean with it (real clips dog-lawn and judo, 360 and
240 lines: docs/NUMBERS.md, stop 23), for about 1 s more a 640x360 frame on 2 cores; under 4
there is too little to guide it."""


def check_passes(passes: list[str]) -> list[str]:
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise SchemaError(f"unknown render pass(es) {unknown}; known passes: {', '.join(PASSES)}")
    return [p for p in PASSES if p in passes] or ["rgba"]


def configure(scene: Any, samples: int, passes: list[str], device: str = "AUTO", denoise: bool | None = None, motion_blur: float = 0.0,
              refraction: bool = False) -> str:
    """Cycles with transparent film and the requested passes; returns the device used.

    Adaptive sampling stops converged pixels early (most of the frame is empty film or
    shadow catcher). ``motion_blur`` > 0 (shutter in frames) blurs with the solved camera's
    motion: its keys become linear, still exact on every frame. ``refraction``: the product has
    glass (product.refracts), whose denoiser guides need denoising too (compat.DENOISE_PREFILTER)."""
    passes = check_passes(passes)
    scene.render.engine = "CYCLES"
    used = compat.enable_gpu(scene) if device in ("AUTO", "GPU") else "CPU"
    if device == "CPU":
        scene.cycles.device = "CPU"
    cyc = scene.cycles
    cyc.samples = int(samples)
    cyc.use_adaptive_sampling = True
    compat.set_denoiser(scene, bool(samples >= MIN_DENOISE_SAMPLES) if denoise is None else denoise, refraction)  # off when the build has no denoiser
    cyc.adaptive_threshold = 0.02
    cyc.use_light_tree = False  # one sun + a uniform world: the tree only adds overhead
    cyc.max_bounces = 8  # diffuse and glossy paths stop at 2; glass needs 4+ interfaces (in, out, back in, out) or it renders black
    cyc.diffuse_bounces = 2
    cyc.glossy_bounces = GLASS_GLOSSY_BOUNCES if refraction else 2  # a glass product's inner reflections are glossy bounces
    cyc.transmission_bounces = 8
    cyc.transparent_max_bounces = 8
    scene.render.film_transparent = True
    scene.render.use_motion_blur = motion_blur > 0
    if motion_blur > 0:
        scene.render.motion_blur_shutter = float(motion_blur)
        scene.render.motion_blur_position = "CENTER"
        if scene.camera is not None:
            compat.set_constant_interpolation(scene.camera, scene.camera.data, mode="LINEAR")
    scene.render.use_persistent_data = True  # keep BVH/textures between frames: only the camera moves
    scene.render.resolution_percentage = 100
    vl = scene.view_layers[0]
    vl.use_pass_combined = True
    vl.use_pass_z = "depth" in passes
    vl.use_pass_normal = "normal" in passes
    vl.use_pass_position = "position" in passes
    vl.use_pass_diffuse_color = "albedo" in passes
    vl.cycles.use_pass_shadow_catcher = "shadow_catcher" in passes
    if "key" in passes and vl.lightgroups.get(KEY_GROUP) is None:
        vl.lightgroups.add(name=KEY_GROUP)
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    build_compositor(scene, passes)
    return used


def build_compositor(scene: Any, passes: list[str]) -> Any:
    """Render Layers -> (alpha to straight) -> File Output with canonical layer names."""
    tree = compat.compositor_tree(scene)
    rl = tree.nodes.new("CompositorNodeRLayers")
    rl.scene = scene
    tmp = tempfile.gettempdir()
    out = compat.file_output_multilayer(tree, tmp, "frame", [(p, SLOT_KINDS[p]) for p in passes])
    out.name = COMPOSITOR_NODE
    for p in passes:
        src = compat.render_layer_socket(rl, p)
        if p == "rgba":
            conv = compat.alpha_to_straight(tree)
            tree.links.new(src, conv.inputs[0])
            src = conv.outputs[0]
        tree.links.new(src, out.inputs[p])
    return out


def _output_node(scene: Any) -> Any:
    tree = scene.compositing_node_group if compat.IS_50 else scene.node_tree
    node = tree.nodes.get(COMPOSITOR_NODE) if tree is not None else None
    if node is None:
        raise RenderError("the scene has no Vanelia pass output; set the shot up again (setup_shot)")
    return node


def _set_output_dir(node: Any, directory: Path) -> None:
    if compat.IS_50:
        node.directory = str(directory)
        node.file_name = "frame"
    else:
        node.base_path = str(directory / "frame")


# ---------------------------------------------------------------------------
# EXR header: rename value-socket channels (depth.V -> depth.Z) in place
# ---------------------------------------------------------------------------


def _cstr(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.index(b"\0", pos)
    return data[pos:end], end + 1


def rename_value_channels(path: Path, letters: dict[bytes, bytes]) -> int:
    """Give value channels their canonical letter (``{b'depth': b'Z'}``); returns how many.

    Walks the header attributes (single- or multi-part) to the ``chlist`` and overwrites the
    one-letter suffix in place. Data offsets do not move because names keep their length.
    """
    with open(path, "r+b") as fh:
        data = fh.read(1 << 20)
        if data[:4] != b"\x76\x2f\x31\x01":
            raise RenderError(f"{path}: Blender did not write an EXR")
        flags = struct.unpack("<I", data[4:8])[0]
        multipart = bool(flags & 0x1000)
        pos, patches = 8, []
        while True:
            part_name = b""
            chan_entries: list[tuple[int, bytes]] = []
            while True:
                name, pos = _cstr(data, pos)
                if not name:
                    break
                typ, pos = _cstr(data, pos)
                size = struct.unpack("<i", data[pos : pos + 4])[0]
                pos += 4
                value = data[pos : pos + size]
                if typ == b"chlist":
                    q = 0
                    while value[q : q + 1] != b"\0":
                        cname, nq = _cstr(value, q)
                        chan_entries.append((pos + q, cname))
                        q = nq + 16
                elif name == b"name":
                    part_name = value.rstrip(b"\0")
                pos += size
            for offset, cname in chan_entries:
                layer, _, letter = cname.rpartition(b".")
                layer = layer or part_name.split(b".")[-1]
                if letter == _VALUE_CHANNEL and layer in letters:
                    patches.append(offset + len(cname) - 1)
                    fh.seek(offset + len(cname) - 1)
                    fh.write(letters[layer])
            if not multipart or data[pos : pos + 1] == b"\0":
                break
    return len(patches)


# ---------------------------------------------------------------------------
# one frame
# ---------------------------------------------------------------------------


GLASS_GLOSSY_BOUNCES = 8
"""Glossy bounces when the product has glass: light inside it reflects off its faces (a glossy
bounce each) before it leaves, and at 2 the lower half of a glass duck, which sees the ground
through its bottom after a reflection or two, rendered black where the truth shows the sand
(eval insert mixed 301)."""
RENDER_RECIPE = 2
"""Bumped when the scene Vanelia builds from a shot renders differently, so frames cached by an
earlier build render again. 2: glossy and glass products reflect the plate (product.reflect_plate), glass
products get GLASS_GLOSSY_BOUNCES."""


def frame_hash(shot: Shot, frame: int, glb_sha256: str, plate_sha256: str = "", environment_sha256: str = "") -> str:
    """Everything a frame's pixels depend on; unchanged hash = the EXR on disk is still right.
    ``plate_sha256``: the frame's plate file's, which glossy and glass products mirror (a plate
    decoded again in place, from other footage, renders them again). ``environment_sha256``: the
    environment map's file's; shot.json names it by path only, so a light estimated again that
    rewrites it in place with the same record (its notes and strengths unchanged) would
    otherwise keep frames lit by the old map."""
    d = shot.to_dict()
    return stable_hash(
        {
            "recipe": RENDER_RECIPE,
            "plate_frame": plate_sha256,
            "environment": environment_sha256,
            "camera": d["camera"]["frames"].get(str(frame)),
            "resolution": shot.resolution,
            "product": {k: v for k, v in d["product"].items() if k != "source"},
            "glb": glb_sha256,
            "ground": {k: v for k, v in d["ground"].items() if k != "cover_m" or v},  # bare ground: the hashes of before the cover
            "lighting": d["lighting"],
            "samples": shot.render.samples,
            "motion_blur": shot.render.motion_blur,
            "passes": shot.render.passes,
            "undistorted": shot.plate.undistorted,
        }
    )


def render_frame(scene: Any, frame: int, target: str | os.PathLike[str], border: tuple[float, float, float, float] | None = None) -> dict[str, float]:
    """Render ``frame`` and move its EXR to ``target``; returns wall and CPU timings in s.
    ``border`` (x_min, x_max, y_min, y_max; fractions of the frame, y up): only that rectangle
    is path-traced, the EXR keeps the frame's size and is zero outside it (addon/render_region.py);
    the scene's own border settings are put back afterwards."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    node = _output_node(scene)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=target.parent))
    r = scene.render
    kept = (r.use_border, r.use_crop_to_border, r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y)
    try:
        _set_output_dir(node, tmp)
        if border is not None:
            r.use_border, r.use_crop_to_border = True, False
            r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y = border
        scene.frame_set(frame)
        t0, c0 = time.perf_counter(), time.process_time()
        res = bpy.ops.render.render(write_still=False, scene=scene.name)
        t1, c1 = time.perf_counter(), time.process_time()
        if not compat.op_finished(res):
            raise RenderError(f"frame {frame}: the render was cancelled")
        produced = sorted(tmp.glob("*.exr"))
        if not produced:
            raise RenderError(f"frame {frame}: Blender wrote no EXR into {tmp}; check the disk space and the compositor")
        rename_value_channels(produced[0], {b"depth": b"Z"})
        os.replace(produced[0], target)
        return {"render_s": t1 - t0, "write_s": time.perf_counter() - t1, "render_cpu_s": c1 - c0, "write_cpu_s": time.process_time() - c1}
    finally:
        r.use_border, r.use_crop_to_border, r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y = kept
        shutil.rmtree(tmp, ignore_errors=True)
