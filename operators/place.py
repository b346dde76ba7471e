"""Place the product by hand on the solved ground, and preview it over the plate.

``Place Product`` selects the product in the shot's scene and switches to Blender's Move
tool with snapping to the ground's surface, so the usual gizmos and G/R/S keys move it;
Render (and Send) write where it ended into shot.json (addon/shot.py ``sync_placement``).
``Preview`` looks through the shot camera with the plate as camera background and shades
the viewport with EEVEE (Material Preview) under the shot's estimated light and world.
"""
from __future__ import annotations

from typing import Any

import bpy

from ..addon import product, shot_scene
from .common import OpResult, vanelia_scene


def _shot_scene_poll(cls: Any, context: bpy.types.Context | None) -> Any:
    scene = vanelia_scene(context)
    if scene is None or not shot_scene.shot_dir_of(scene):
        cls.poll_message_set("Set the shot up first: placement and preview work in the shot's own scene")
        return None
    if context is None or context.area is None or context.area.type != "VIEW_3D":
        cls.poll_message_set("Use it from the 3D Viewport's Vanelia tab")
        return None
    return scene


class VANELIA_OT_place_product(bpy.types.Operator):
    """Select the product and move it with the gizmos, snapped onto the solved ground"""

    bl_idname = "vanelia.place_product"
    bl_label = "Place by Hand"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        scene = _shot_scene_poll(cls, context)
        if scene is None:
            return False
        if shot_scene.find(scene, product.PRODUCT_ROOT) is None:
            cls.poll_message_set("This shot's scene has no product; set the shot up again")
            return False
        return True

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        ctx: Any = context
        scene = ctx.scene
        root = shot_scene.find(scene, product.PRODUCT_ROOT)
        for obj in ctx.view_layer.objects:
            obj.select_set(False)
        root.select_set(True)
        ctx.view_layer.objects.active = root
        ts = scene.tool_settings
        ts.use_snap = True
        try:
            ts.snap_elements = {"FACE_PROJECT"}  # onto the ground's surface
        except TypeError:
            ts.snap_elements = {"FACE"}
        try:
            bpy.ops.wm.tool_set_by_id(name="builtin.move")
        except RuntimeError as exc:  # no tool system in this context: the G key still works
            self.report({"WARNING"}, f"could not switch to the Move tool ({exc}); press G to move")
        self.report({"INFO"}, "move the product with the gizmo; Render keeps where you put it")
        return {"FINISHED"}


class VANELIA_OT_preview(bpy.types.Operator):
    """Look through the shot camera: plate behind, product under the estimated light (EEVEE)"""

    bl_idname = "vanelia.preview"
    bl_label = "Preview over Plate"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        scene = _shot_scene_poll(cls, context)
        if scene is None:
            return False
        if scene.camera is None:
            cls.poll_message_set("The shot's scene has no camera; set the shot up again")
            return False
        return True

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        assert context is not None and context.area is not None
        space: Any = context.area.spaces.active
        space.shading.type = "MATERIAL"  # EEVEE
        space.shading.use_scene_lights = True  # the estimated key light, not the studio HDRI
        space.shading.use_scene_world = False  # the plate shows behind, not the world colour
        space.shading.studiolight_background_alpha = 0.0
        space.overlay.show_floor = False
        space.overlay.show_axis_x = space.overlay.show_axis_y = False
        space.region_3d.view_perspective = "CAMERA"
        ctx: Any = context
        cam = ctx.scene.camera.data
        ground = shot_scene.find(ctx.scene, product.GROUND_NAME)
        if ground is not None:  # EEVEE draws the shadow catcher opaque: show the solved ground as a wire
            ground.display_type = "WIRE"
        cam.show_background_images = True
        for bg in cam.background_images:
            bg.display_depth = "BACK"
            bg.alpha = 1.0
        self.report({"INFO"}, "preview: EEVEE over the plate through the shot camera")
        return {"FINISHED"}


CLASSES: tuple[type, ...] = (VANELIA_OT_place_product, VANELIA_OT_preview)
