# mypy: disable-error-code="valid-type"
"""Key From Shadow: point the shot's key with three clicks on a cast shadow in the camera view.

The artist clicks the foot of a vertical edge (a pole, a box corner), its top, and where the
top's shadow falls; addon/shot.py ``key_from_shadow`` measures the direction with that frame's
solved camera (shotcache/key_pick.py) and keeps it in shot.json. The same pick can be typed
(``pick``, as `vanelia render --key-from-shadow` takes it), which is also how it runs headless.
"""
from __future__ import annotations

from typing import Any, Sequence

import bpy
from bpy.props import StringProperty

from ..addon import shot as shot_mod
from ..addon import shot_scene
from ..shotcache.errors import UserError
from ..shotcache.key_pick import FORMAT, ShadowPick, parse_pick
from .common import OpResult, shot_of, shot_ready

STEPS = ("the foot of a vertical edge, where it meets the ground", "the top of that edge", "where the top's shadow falls")


def region_to_plate(mouse: Sequence[float], frame_corners: Sequence[Sequence[float]], size: Sequence[int]) -> tuple[float, float] | None:
    """Plate pixel (x right, y down, the plate on disk: ``size``) under a click at ``mouse``
    (region pixels, y up) in a camera view whose frame's corners are ``frame_corners`` (region
    pixels); None outside the frame. The camera view draws the frame upright and unrolled."""
    xs, ys = [c[0] for c in frame_corners], [c[1] for c in frame_corners]
    left, right, bottom, top = min(xs), max(xs), min(ys), max(ys)
    if right - left < 1 or top - bottom < 1:
        return None
    u, v = (mouse[0] - left) / (right - left), (top - mouse[1]) / (top - bottom)
    if not (0.0 <= u <= 1.0 and 0.0 <= v <= 1.0):
        return None
    return u * size[0], v * size[1]


def _frame_corners(context: bpy.types.Context, scene: Any) -> list[Any] | None:
    from bpy_extras.view3d_utils import location_3d_to_region_2d

    cam, region, rv3d = scene.camera, context.region, context.region_data
    if cam is None or region is None or rv3d is None or rv3d.view_perspective != "CAMERA":
        return None
    pts = [location_3d_to_region_2d(region, rv3d, cam.matrix_world @ v) for v in cam.data.view_frame(scene=scene)]
    return None if any(p is None for p in pts) else [(p.x, p.y) for p in pts]


class VANELIA_OT_key_from_shadow(bpy.types.Operator):
    """Point the key light along a shadow: click the foot of a vertical edge, its top, and where the top's shadow falls"""

    bl_idname = "vanelia.key_from_shadow"
    bl_label = "Key From Shadow"
    bl_options = {"REGISTER", "UNDO"}

    pick: StringProperty(name="Pick", description=f"{FORMAT} in the plate's pixels (empty: click them in the camera view)",
                         default="", options={"SKIP_SAVE"})  # not remembered: the next click on the button asks for new clicks

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        return shot_ready(cls, context)

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        found = shot_of(context)
        if found is None:
            return {"CANCELLED"}
        scene, shot_dir = found
        target = scene if shot_scene.shot_dir_of(scene) else shot_scene.scene_of(shot_dir)
        if target is None:
            self.report({"ERROR"}, "the shot's scene is not in this file: set the shot up again")
            return {"CANCELLED"}
        try:
            picked = shot_mod.key_from_shadow(target, shot_dir, parse_pick(self.pick))
        except (UserError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"key elevation {picked.elevation_deg:.0f} deg from a {picked.height_m:.2f} m edge's "
                              f"{picked.length_m:.2f} m shadow (kept in shot.json)")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context | None, event: Any) -> OpResult:
        if self.pick:
            return self.execute(context)
        if context is None or context.area is None or context.area.type != "VIEW_3D" or _frame_corners(context, context.scene) is None:
            self.report({"ERROR"}, "look through the shot's camera in a 3D view (Numpad 0), then click the shadow; "
                                   f"or type the pick ({FORMAT})")
            return {"CANCELLED"}
        self._points: list[tuple[float, float]] = []
        wm = context.window_manager
        assert wm is not None  # an invoked operator runs in a window
        wm.modal_handler_add(self)
        self._say(context)
        return {"RUNNING_MODAL"}

    def _say(self, context: bpy.types.Context) -> None:
        if context.area is not None:
            context.area.header_text_set(f"Key From Shadow: click {STEPS[len(self._points)]} (Esc cancels)")

    def modal(self, context: bpy.types.Context | None, event: Any) -> OpResult:
        if context is None:
            return {"CANCELLED"}
        if event.type in {"ESC", "RIGHTMOUSE"} and event.value == "PRESS":
            if context.area is not None:
                context.area.header_text_set(None)
            return {"CANCELLED"}
        if event.type != "LEFTMOUSE" or event.value != "PRESS":
            return {"PASS_THROUGH"}
        found = shot_of(context)
        if found is None:
            return {"CANCELLED"}
        scene = found[0]
        corners = _frame_corners(context, scene)
        native = _plate_size(found[1])
        px = region_to_plate((event.mouse_region_x, event.mouse_region_y), corners, native) if corners and native else None
        if px is None:
            self.report({"WARNING"}, "click inside the camera frame")
            return {"RUNNING_MODAL"}
        self._points.append(px)
        if len(self._points) < len(STEPS):
            self._say(context)
            return {"RUNNING_MODAL"}
        if context.area is not None:
            context.area.header_text_set(None)
        self.pick = ShadowPick(int(scene.frame_current), *self._points).text()
        return self.execute(context)


def _plate_size(shot_dir: str) -> tuple[int, int] | None:
    from ..shotcache.layout import ShotPaths

    try:
        shot = ShotPaths(shot_dir).load_shot()
    except (UserError, OSError):
        return None
    size = shot.plate.native_size or shot.resolution
    return int(size[0]), int(size[1])


CLASSES: tuple[type, ...] = (VANELIA_OT_key_from_shadow,)
