"""What every operator shares: the result type and the scene/shot lookups.

The fake-bpy stubs type ``Operator.execute/poll/invoke`` with ``Context`` (4.2) or
``Context | None`` (5.2); accepting ``Context | None`` satisfies both.
"""
from __future__ import annotations

from typing import Literal

import bpy

from ..addon import properties

OpResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]


def vanelia_scene(context: bpy.types.Context | None) -> bpy.types.Scene | None:
    """The context's scene when it carries Vanelia's settings (the add-on is registered)."""
    scene = context.scene if context is not None else None
    return scene if scene is not None and hasattr(scene, "vanelia") else None


def shot_of(context: bpy.types.Context | None) -> tuple[bpy.types.Scene, str] | None:
    """(scene, absolute shot folder) of the context, or None."""
    scene = vanelia_scene(context)
    if scene is None:
        return None
    return scene, properties.shot_dir(scene, context)
