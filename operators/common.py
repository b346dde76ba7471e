"""What every operator shares: the result type and the scene/shot lookups.

The fake-bpy stubs type ``Operator.execute/poll/invoke`` with ``Context`` (4.2) or
``Context | None`` (5.2); accepting ``Context | None`` satisfies both.
"""
from __future__ import annotations

import os
from typing import Any, Literal

import bpy

from ..addon import properties, tasks

OpResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]


def vanelia_scene(context: bpy.types.Context | None) -> bpy.types.Scene | None:
    """The context's scene when it carries Vanelia's settings (the add-on is registered)."""
    scene = context.scene if context is not None else None
    return scene if scene is not None and hasattr(scene, "vanelia") else None


def idle_scene(cls: Any, context: bpy.types.Context | None) -> bpy.types.Scene | None:
    """The Vanelia scene when no task runs in it; otherwise None, with the poll message saying why."""
    scene = vanelia_scene(context)
    if scene is None:
        cls.poll_message_set("Vanelia is not enabled for this scene")
        return None
    if tasks.is_running(scene):
        cls.poll_message_set("A Vanelia task is running in this scene; wait or cancel it")
        return None
    return scene


def shot_ready(cls: Any, context: bpy.types.Context | None) -> bool:
    """Poll of the operators that need a set-up shot and an idle scene; says why not."""
    if idle_scene(cls, context) is None:
        return False
    found = shot_of(context)
    assert found is not None  # idle_scene found the Vanelia scene
    if not os.path.isfile(os.path.join(found[1], "shot.json")):
        cls.poll_message_set("Set the shot up first (Shot > Set Up Shot)")
        return False
    return True


def shot_of(context: bpy.types.Context | None) -> tuple[bpy.types.Scene, str] | None:
    """(scene, absolute shot folder) of the context, or None."""
    scene = vanelia_scene(context)
    if scene is None:
        return None
    return scene, properties.shot_dir(scene, context)
