"""Every difference between the Blender versions Vanelia supports (4.2 LTS, 4.5, 5.0).

The rest of addon/ calls these helpers and never tests ``bpy.app.version`` itself, so a
new Blender release means editing this one file. Facts used here are the checked ones in
BLENDER.md (5.0: compositor node groups, ``media_type`` before ``file_format``,
``file_output_items``, renamed passes, ``strips``; 4.5+: extra glTF import options).
"""
from __future__ import annotations

from typing import Any, Iterable

import bpy

VERSION: tuple[int, int, int] = tuple(bpy.app.version)  # type: ignore[assignment]
IS_45 = VERSION >= (4, 5, 0)
IS_50 = VERSION >= (5, 0, 0)


# ---------------------------------------------------------------------------
# image formats
# ---------------------------------------------------------------------------


def set_image_format(settings: Any, file_format: str) -> None:
    """Set an ImageFormatSettings' format; 5.0 needs the media type first."""
    if IS_50:
        media = {"OPEN_EXR_MULTILAYER": "MULTI_LAYER_IMAGE", "FFMPEG": "VIDEO"}.get(file_format, "IMAGE")
        settings.media_type = media
    settings.file_format = file_format


def set_multilayer_exr(settings: Any) -> None:
    """Full-float ZIP multilayer EXR: depth and position need 32 bits."""
    set_image_format(settings, "OPEN_EXR_MULTILAYER")
    settings.color_depth = "32"
    settings.exr_codec = "ZIP"
    if hasattr(settings, "use_exr_interleave"):
        # 5.0 writes one part per layer by default and then fails ("Conflicting attributes
        # ... pixelAspectRatio") when the pixel aspect is not 1, which tracked cameras with
        # fx != fy need. Interleaved = one part, like 4.x writes.
        settings.use_exr_interleave = True


def set_ffmpeg_h264(render: Any, quality: str = "HIGH") -> None:
    """MP4/H.264 video output of the scene's render settings."""
    set_image_format(render.image_settings, "FFMPEG")
    render.ffmpeg.format = "MPEG4"
    render.ffmpeg.codec = "H264"
    render.ffmpeg.constant_rate_factor = quality
    render.ffmpeg.gopsize = 1  # every frame a keyframe: exact seeking when decoding later


# ---------------------------------------------------------------------------
# compositor
# ---------------------------------------------------------------------------


def compositor_tree(scene: Any) -> Any:
    """An empty compositor node tree used by ``scene`` (5.0: a node group; 4.x: scene.node_tree)."""
    scene.render.use_compositing = True
    if IS_50:
        tree = scene.compositing_node_group
        if tree is None:
            tree = bpy.data.node_groups.new(f"Vanelia {scene.name}", "CompositorNodeTree")  # type: ignore[arg-type]
            scene.compositing_node_group = tree
    else:
        scene.use_nodes = True
        tree = scene.node_tree
    for node in list(tree.nodes):
        tree.nodes.remove(node)
    return tree


_PASS_SOCKETS: dict[str, tuple[str, ...]] = {
    "rgba": ("Image",),
    "normal": ("Normal",),
    "albedo": ("Diffuse Color", "DiffCol"),
    "depth": ("Depth", "Z"),
    "position": ("Position",),
    "shadow_catcher": ("Shadow Catcher",),
    "key": ("Combined_key",),
}


def render_layer_socket(node: Any, canonical: str) -> Any:
    """The Render Layers output for a canonical pass name, whatever this version calls it."""
    for name in _PASS_SOCKETS[canonical]:
        sock = node.outputs.get(name)
        if sock is not None and sock.enabled:
            return sock
    raise RuntimeError(f"render pass '{canonical}' is not available in Blender {bpy.app.version_string}; enable it on the view layer")


def alpha_to_straight(tree: Any) -> Any:
    """An Alpha Convert node turning the compositor's premultiplied image into straight alpha."""
    node = tree.nodes.new("CompositorNodePremulKey")
    if hasattr(node, "mapping"):  # 4.x: enum property
        node.mapping = "PREMUL_TO_STRAIGHT"
    else:  # 5.0: menu input socket
        node.inputs["Type"].default_value = "To Straight"
    return node


def _socket_type(kind: str) -> str:
    return {"RGBA": "RGBA", "VECTOR": "VECTOR", "FLOAT": "FLOAT"}[kind]


def file_output_multilayer(tree: Any, directory: str, file_name: str, slots: Iterable[tuple[str, str]]) -> Any:
    """A File Output node writing one multilayer EXR whose layers are named by ``slots``.

    ``slots`` = (layer name, 'RGBA' | 'VECTOR' | 'FLOAT'). Returns the node; its inputs are
    found by layer name. The written file is ``directory/file_name[frame].exr``.
    """
    node = tree.nodes.new("CompositorNodeOutputFile")
    set_multilayer_exr(node.format)
    if IS_50:
        node.directory = directory
        node.file_name = file_name
        node.file_output_items.clear()
        for name, kind in slots:
            node.file_output_items.new(_socket_type(kind), name)
    else:
        node.base_path = f"{directory.rstrip('/')}/{file_name}"
        node.layer_slots.clear()
        for name, _kind in slots:
            node.layer_slots.new(name)
    return node


# ---------------------------------------------------------------------------
# world
# ---------------------------------------------------------------------------


def world_background(world: Any, color: Any, strength: float) -> None:
    """A uniform world colour via a Background node (5.0 worlds always use nodes)."""
    world.color = tuple(color)[:3]
    if not IS_50:
        world.use_nodes = True
    tree = world.node_tree
    if tree is None:
        return
    bg = next((n for n in tree.nodes if n.bl_idname == "ShaderNodeBackground"), None)
    if bg is None:
        for node in list(tree.nodes):
            tree.nodes.remove(node)
        bg = tree.nodes.new("ShaderNodeBackground")
        out = tree.nodes.new("ShaderNodeOutputWorld")
        tree.links.new(bg.outputs["Background"], out.inputs["Surface"])
    bg.inputs["Color"].default_value = (*tuple(color)[:3], 1.0)
    bg.inputs["Strength"].default_value = float(strength)


def material_nodes(mat: Any) -> Any:
    """The shader node tree of a material (4.x needs use_nodes switched on; 5.0 always has it)."""
    if not IS_50:
        mat.use_nodes = True
    return mat.node_tree


# ---------------------------------------------------------------------------
# glTF import
# ---------------------------------------------------------------------------


def gltf_import_kwargs() -> dict[str, Any]:
    """Options that only exist from 4.5 (passing them on 4.2 raises TypeError)."""
    if IS_45:
        return {"import_scene_as_collection": False, "import_select_created_objects": True}
    return {}


# ---------------------------------------------------------------------------
# animation
# ---------------------------------------------------------------------------


def action_fcurves(id_data: Any) -> list[Any]:
    """F-curves of an ID's action (5.0 removed Action.fcurves: use the slot's channelbag)."""
    ad = getattr(id_data, "animation_data", None)
    if ad is None or ad.action is None:
        return []
    action = ad.action
    if IS_50 or not hasattr(action, "fcurves"):
        from bpy_extras import anim_utils

        slot = getattr(ad, "action_slot", None)
        get_bag = getattr(anim_utils, "action_get_channelbag_for_slot")  # 4.4+
        bag = get_bag(action, slot) if slot is not None else None
        return list(bag.fcurves) if bag is not None else []
    return list(action.fcurves)


def set_constant_interpolation(*ids: Any, mode: str = "CONSTANT") -> None:
    """Keys hold until the next frame: a tracked camera must never be interpolated
    (``mode="LINEAR"`` for motion blur: still exact on every frame, moving in between)."""
    for id_data in ids:
        for fc in action_fcurves(id_data):
            for kp in fc.keyframe_points:
                kp.interpolation = mode


# ---------------------------------------------------------------------------
# sequencer (only what plate decoding needs; the UI's sequencer code adds its own below)
# ---------------------------------------------------------------------------


def op_finished(result: Any) -> bool:
    """``bpy.ops`` return value says the operator ran (CANCELLED raises nothing)."""
    return "FINISHED" in (result or ())


def strips_collection(scene: Any) -> Any:
    """Top-level strips of a scene's sequencer (4.2: ``sequences``; 5.0: ``strips``)."""
    ed = scene.sequence_editor or scene.sequence_editor_create()
    return ed.strips if hasattr(ed, "strips") else ed.sequences


# ---------------------------------------------------------------------------
# Cycles device
# ---------------------------------------------------------------------------


def enable_gpu(scene: Any) -> str:
    """Use a GPU for Cycles when one is present; returns 'GPU' or 'CPU'."""
    scene.cycles.device = "CPU"
    context: Any = bpy.context
    try:
        prefs: Any = context.preferences.addons["cycles"].preferences
    except (KeyError, AttributeError):
        return "CPU"
    for backend in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
        try:
            prefs.compute_device_type = backend
            prefs.get_devices()
        except (TypeError, ValueError, AttributeError):
            continue
        gpus = [d for d in prefs.devices if d.type == backend]
        if gpus:
            for d in prefs.devices:
                d.use = d.type == backend
            scene.cycles.device = "GPU"
            return "GPU"
    try:
        prefs.compute_device_type = "NONE"
    except (TypeError, ValueError):
        pass
    return "CPU"


def set_denoiser(scene: Any, want: bool, refraction: bool = False) -> str:
    """Denoise Cycles renders when asked *and* the build can; returns the denoiser or "".
    ``refraction``: the render shows surfaces through glass (DENOISE_PREFILTER).

    The ``denoiser`` enum's items are computed by Cycles from what the build has (Debian's
    Blender ships without OpenImageDenoise: its items are empty, and assigning raises
    ``enum "OPENIMAGEDENOISE" not found in ()``; rendering with denoising on raises "build
    has no OpenImageDenoise support"). So each candidate is tried on the enum itself, and
    denoising is switched off when none is accepted: a noisier frame, not a failed render.
    OptiX denoises only on an OptiX device, hence OIDN first.
    """
    cyc = scene.cycles
    chosen = ""
    if want:
        candidates = ["OPENIMAGEDENOISE"] + (["OPTIX"] if getattr(cyc, "device", "CPU") == "GPU" else [])
        for name in candidates:
            try:
                cyc.denoiser = name
            except TypeError:  # not among this build's items
                continue
            chosen = name
            break
    cyc.use_denoising = bool(chosen)
    if chosen == "OPENIMAGEDENOISE":
        cyc.denoising_prefilter = DENOISE_PREFILTER[refraction]
    return chosen


DENOISE_PREFILTER = {False: "FAST", True: "ACCURATE"}
"""OpenImageDenoise's guides (albedo, normal), trusted as clean (FAST) or denoised first (ACCURATE),
by whether the render sees through glass. On an opaque product they are its first surface's and
clean at any sample count. Through glass Cycles takes them past the refraction, off the ground
the product refracts, and at the render's 16-32 samples they are as noisy as the image: FAST kept
that noise as if it were the surface's detail, and a glass duck came out grained wherever it
refracts the ground (eval insert mixed seed 207: 0.035 of local grain at 16 samples, 0.016 with
ACCURATE, 0.040 undenoised). ACCURATE costs: 1.24 -> 2.08 s a 640x360 frame at 16 samples (the
demo shot, scripts/bench_render.py), and it left the eval's PSNR as it was (10 sets, glass and
not: -0.01 dB), so opaque products keep FAST."""


# ===========================================================================
# sequencer: result versions as image strips (appended by the UI side for
# addon/sequencer.py; owned with it). 4.2: ``sequences`` / ``sequences_all``,
# 4.5: both names, 5.0: only ``strips`` / ``strips_all``.
# ===========================================================================


def sequencer_strips_all(scene: Any) -> list[Any]:
    """Every strip of the scene, inside meta strips too; [] without a sequencer."""
    ed = scene.sequence_editor
    if ed is None:
        return []
    return list(ed.strips_all if hasattr(ed, "strips_all") else ed.sequences_all)


def sequencer_new_image(scene: Any, name: str, filepath: str, channel: int, frame_start: int) -> Any:
    """An image strip (4.2 ``sequences.new_image`` / 5.0 ``strips.new_image``, same arguments)."""
    return strips_collection(scene).new_image(name=name, filepath=filepath, channel=channel, frame_start=frame_start)


def sequencer_remove(scene: Any, strip: Any) -> None:
    strips_collection(scene).remove(strip)


def sequencer_scene(context: Any) -> Any:
    """The scene the sequencer editor shows: 5.0 may show another scene than
    ``context.scene`` (``context.sequencer_scene``, None headless); 4.x has only one."""
    seq_scene = getattr(context, "sequencer_scene", None) if context is not None else None
    return seq_scene if seq_scene is not None else (context.scene if context is not None else None)


def sequencer_new_effect(scene: Any, name: str, effect: str, channel: int, frame_start: int, frame_end: int, a: Any, b: Any) -> Any:
    """A two-input effect strip (WIPE for A/B): 4.2-4.4 ``frame_end``/``seq1``/``seq2``,
    5.0 ``length``/``input1``/``input2``; read from the function's own parameters."""
    coll = strips_collection(scene)
    params = set(coll.bl_rna.functions["new_effect"].parameters.keys())
    kw: dict[str, Any] = {"frame_start": frame_start}
    if "length" in params:
        kw["length"] = frame_end - frame_start
    else:
        kw["frame_end"] = frame_end
    kw.update({"input1": a, "input2": b} if "input1" in params else {"seq1": a, "seq2": b})
    return coll.new_effect(name=name, type=effect, channel=channel, **kw)

