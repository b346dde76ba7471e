# mypy: disable-error-code="valid-type"
"""Operators that control the running task of a scene (render or sidecar job)."""
from __future__ import annotations

import bpy

from ..addon import tasks
from .common import OpResult, vanelia_scene


class VANELIA_OT_cancel(bpy.types.Operator):
    """Stop the scene's running Vanelia task (finished frames are kept)"""

    bl_idname = "vanelia.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        scene = vanelia_scene(context)
        if scene is None or not tasks.is_running(scene):
            cls.poll_message_set("No Vanelia task is running in this scene")
            return False
        return True

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        scene = vanelia_scene(context)
        if scene is None or not tasks.cancel(scene):
            self.report({"WARNING"}, "nothing to cancel")
            return {"CANCELLED"}
        self.report({"INFO"}, "cancelling...")
        return {"FINISHED"}


CLASSES: tuple[type, ...] = (VANELIA_OT_cancel,)
