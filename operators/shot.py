"""Set up the scene's shot from the panel's inputs (addon/shot.py does the work)."""
from __future__ import annotations

import os
from typing import Any

import bpy
from mathutils import Euler, Matrix

from ..addon import properties, shot_scene
from ..addon import shot as shot_mod
from .common import OpResult, idle_scene, shot_of


def setup_kwargs(scene: bpy.types.Scene, shot_dir: str) -> dict[str, Any]:
    """The panel's inputs as arguments of ``addon.shot.setup_shot`` (paths made absolute)."""
    s = properties.settings(scene)
    camera: Any
    if s.camera_source == "FILE":
        if not s.camera_track_path:
            raise ValueError("choose a camera track file (transforms.json or a COLMAP folder), or use the scene camera")
        camera = bpy.path.abspath(s.camera_track_path)
    else:
        camera = s.camera_object or None
    frames = (s.frame_start or 0, s.frame_end or 10**9) if (s.frame_start or s.frame_end) else None
    resolution = (s.resolution_x, s.resolution_y) if s.resolution_x and s.resolution_y else None
    kw: dict[str, Any] = {
        "shot_dir": shot_dir,
        "plate_source": bpy.path.abspath(s.plate_path),
        "model": bpy.path.abspath(s.product_path),
        "camera": camera,
        "frames": frames,
        "resolution": resolution,
        "samples": int(s.samples),
        "source_scene": scene,
        "product_size_m": float(s.product_scale_m) or None,
        "ground_cover_m": float(s.ground_cover_m),
    }
    if s.placement == "AREA":
        kw["place_area"] = str(s.placement_area).lower()
    if s.placement == "EXPLICIT":
        m = Matrix.LocRotScale(tuple(s.product_location), Euler(tuple(s.product_rotation)), (1.0, 1.0, 1.0))
        kw["product_matrix"] = [[float(m[i][j]) for j in range(4)] for i in range(4)]
    return kw


class VANELIA_OT_setup_shot(bpy.types.Operator):
    """Decode the plate, bake the camera, import and place the product, light the scene"""

    bl_idname = "vanelia.setup_shot"
    bl_label = "Set Up Shot"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        scene = idle_scene(cls, context)
        if scene is None:
            return False
        s = properties.settings(scene)
        if not s.plate_path or not s.product_path:
            cls.poll_message_set("Choose the plate and the product (.glb) first")
            return False
        return True

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        found = shot_of(context)
        if found is None:
            return {"CANCELLED"}
        scene, shot_dir = found
        try:
            kw = setup_kwargs(scene, shot_dir)
            for key in ("plate_source", "model"):
                if not os.path.exists(kw[key]):
                    raise ValueError(f"{kw[key]}: file not found; choose the {'plate' if key == 'plate_source' else 'product .glb'} again")
            shot = shot_mod.setup_shot(**kw, progress=lambda msg: print(f"[vanelia setup] {msg}", flush=True))
        except (ValueError, OSError, RuntimeError, TypeError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        built = shot_scene.scene_of(shot_dir)
        window = context.window if context is not None else None
        if built is not None and window is not None:
            built.vanelia.shot_dir = shot_dir  # the panel of the shot's scene names the same folder
            window.scene = built  # the artist continues in the shot's own scene
        self.report({"INFO"}, f"shot ready: {len(shot.frames)} frames {shot.resolution[0]}x{shot.resolution[1]} in {shot_dir}")
        return {"FINISHED"}


CLASSES: tuple[type, ...] = (VANELIA_OT_setup_shot,)
