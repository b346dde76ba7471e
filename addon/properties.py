# mypy: disable-error-code="valid-type"
"""The shot as the artist sets it up in one scene: ``scene.vanelia``.

Inputs (plate, camera track, product, placement, frames, samples) are what the shot
operators hand to the plain functions in addon/shot.py; the job fields (state, progress,
version) are written only by addon/tasks.py on the main thread and drawn by the panels.
``bpy.props`` calls as annotations are Blender's API, hence the ``valid-type`` exemption.
"""
from __future__ import annotations

import os
import re

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    FloatVectorProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..shotcache import schema
from ..shotcache.areas import PLACEMENT_AREAS
from . import preferences, shot_scene


def _is_camera(_self: bpy.types.PropertyGroup, obj: bpy.types.Object) -> bool:
    return obj.type == "CAMERA"


_TRACKER_HELP = {
    "auto": "Video tracks + COLMAP for a clip (about a minute per 100 frames), Blender's tracker when that fails",
    "blender": "Blender's own camera tracker (addon/tracking.py)",
    "colmap": "COLMAP structure-from-motion on tracked features",
}
"""Tooltips of the trackers; the list itself is shotcache.schema.TRACKERS."""
_TRACKER_ITEMS = [(t.upper(), "COLMAP" if t == "colmap" else t.capitalize(), _TRACKER_HELP.get(t, f"`vanelia track --tracker {t}`"))
                  for t in schema.TRACKERS]
_AREA_ITEMS = [(a.upper(), a.replace("_", " ").capitalize(), f"the {a.replace('_', ' ')} of the first frame") for a in PLACEMENT_AREAS]
"""Enum items are built here, not in the annotations: Blender evaluates those with the module
as locals, where a comprehension cannot see module names."""


def _engine_items(stage: str) -> list[tuple[str, str, str]]:
    return [(e, e, f"{stage} engine '{e}'") for e in schema.ENGINES[stage]]


class VaneliaShotSettings(bpy.types.PropertyGroup):
    """One shot per scene: inputs for setup/render and the state of the running job."""

    # ---- inputs -----------------------------------------------------------
    shot_dir: StringProperty(
        name="Shot Folder",
        description="Shot cache folder (shot.json, plate/, render/, vNNN/); empty = <cache root>/<scene name>",
        default="",
        subtype="DIR_PATH",
    )
    plate_path: StringProperty(
        name="Plate",
        description="Live-action plate: a video file, or a folder / first file of an image sequence",
        default="",
        subtype="FILE_PATH",
    )
    camera_source: EnumProperty(
        name="Camera Track",
        items=[
            ("SCENE", "Scene Camera", "A camera in this .blend (animated or solved with a Camera Solver constraint)"),
            ("FILE", "Track File", "NeRF transforms.json or a COLMAP text model folder"),
        ],
        default="SCENE",
    )
    camera_object: PointerProperty(name="Camera", type=bpy.types.Object, poll=_is_camera)
    camera_track_path: StringProperty(
        name="Track File",
        description="transforms.json, or a folder with COLMAP cameras.txt and images.txt",
        default="",
        subtype="FILE_PATH",
    )
    tracker: EnumProperty(
        name="Tracker",
        items=_TRACKER_ITEMS,
        default="AUTO",
    )
    focal_mm: FloatProperty(
        name="Focal (mm)", description="Known focal length on a 36 mm sensor; 0 = solve it", default=0.0, min=0.0, soft_max=300.0
    )
    product_path: StringProperty(name="Product", description="The product model (.glb)", default="", subtype="FILE_PATH")
    placement: EnumProperty(
        name="Placement",
        items=[
            ("EXPLICIT", "Explicit", "Place the product by the transform below"),
            ("GROUND", "On Ground", "Stand the product on the ground plane (fitted from the track's points when present)"),
            ("AREA", "In Area", "Stand it on the ground where the chosen part of the first frame shows it"),
            ("GIZMO", "By Hand", "Stand it on the ground, then move it with Blender's gizmos in the shot's scene; "
             "Render keeps where you put it"),
        ],
        default="GROUND",
    )
    placement_area: EnumProperty(
        name="Area",
        items=_AREA_ITEMS,
        default="BOTTOM_RIGHT",
    )
    product_location: FloatVectorProperty(name="Location", size=3, subtype="TRANSLATION", unit="LENGTH")
    product_rotation: FloatVectorProperty(name="Rotation", size=3, subtype="EULER", unit="ROTATION")
    product_scale_m: FloatProperty(
        name="Size (m)", description="Largest dimension of the product in metres; 0 = as modelled", default=0.0, min=0.0, soft_max=10.0
    )
    ground_cover_m: FloatProperty(
        name="Ground Cover (m)", description="Height of the grass (leaves, gravel) round the product: its base is hidden in it "
        "with a ragged edge, e.g. 0.04 for a lawn; 0 = bare ground", default=0.0, min=0.0, max=1.0, soft_max=0.5,
    )
    frame_start: IntProperty(name="Start", description="First plate frame; 0 = from the first", default=0, min=0)
    frame_end: IntProperty(name="End", description="Last plate frame; 0 = to the last", default=0, min=0)
    resolution_x: IntProperty(name="Width", description="Render width; 0 = plate width", default=0, min=0)
    resolution_y: IntProperty(name="Height", description="Render height; 0 = plate height", default=0, min=0)
    samples: IntProperty(name="Samples", description="Cycles samples per pixel", default=32, min=1, soft_max=1024)

    # ---- sidecar job ----------------------------------------------------------
    stages: EnumProperty(
        name="Stages",
        items=[(s, s.capitalize(), f"run the {s} stage") for s in schema.STAGES],
        options={"ENUM_FLAG"},
        default={"composite"},
    )
    inpaint_engine: EnumProperty(name="Inpaint", items=_engine_items("inpaint"), default=schema.DEFAULT_ENGINES["inpaint"])
    relight_engine: EnumProperty(name="Relight", items=_engine_items("relight"), default=schema.DEFAULT_ENGINES["relight"])
    composite_engine: EnumProperty(name="Composite", items=_engine_items("composite"), default=schema.DEFAULT_ENGINES["composite"])
    diffuse_engine: EnumProperty(name="Diffuse", items=_engine_items("diffuse"), default=schema.DEFAULT_ENGINES["diffuse"])
    allow_fallback: BoolProperty(
        name="Allow Classical Fallback", description="Use the classical engine when a checkpoint is missing", default=True
    )
    seed: IntProperty(name="Seed", default=12345, min=0)

    # ---- state (written by addon/tasks.py) ----------------------------------
    task_kind: StringProperty(name="Task", default="", options={"SKIP_SAVE"})
    task_state: StringProperty(name="State", default="", options={"SKIP_SAVE"})
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"})
    progress_text: StringProperty(name="Progress", default="", options={"SKIP_SAVE"})
    job_id: StringProperty(name="Job", default="")
    version: StringProperty(name="Version", description="Result version shown in the sequencer", default="")


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def shot_dir(scene: bpy.types.Scene, context: bpy.types.Context | None = None) -> str:
    """Absolute shot folder of a scene: the one set, else the shot the scene was built for
    (a shot's own scene), else <cache root>/<scene name>."""
    settings = scene.vanelia  # type: ignore[attr-defined]
    if settings.shot_dir:
        return os.path.normpath(bpy.path.abspath(settings.shot_dir))
    if shot_scene.shot_dir_of(scene):
        return shot_scene.shot_dir_of(scene)
    name = _SAFE.sub("_", scene.name).strip("._") or "shot"
    return os.path.join(preferences.shot_root(context), name)


def settings(scene: bpy.types.Scene) -> VaneliaShotSettings:
    return scene.vanelia  # type: ignore[attr-defined, no-any-return]


CLASSES: tuple[type, ...] = (VaneliaShotSettings,)


def register_scene_property() -> None:
    bpy.types.Scene.vanelia = PointerProperty(type=VaneliaShotSettings)  # type: ignore[attr-defined, func-returns-value]


def unregister_scene_property() -> None:
    if hasattr(bpy.types.Scene, "vanelia"):
        del bpy.types.Scene.vanelia  # type: ignore[attr-defined]
