"""Vanelia Blender extension: registration only; the work lives in addon/ (plain functions).

The package runs as ``bl_ext.<repo>.vanelia`` when installed and as ``vanelia_addon``
when scripts/tests load the source tree; everything below is relative to ``__package__``.
``unregister`` removes every class, the scene property, every timer of running tasks and
the local sidecar process, so disabling the add-on leaves nothing behind.
"""
from __future__ import annotations

import bpy

from .addon import preferences, process_manager, properties, tasks
from . import operators, panels

_CLASSES: tuple[type, ...] = (
    *properties.CLASSES,
    *preferences.CLASSES,
    *operators.CLASSES,
    *panels.CLASSES,
)


def _stop_sidecar() -> None:
    """Stop a sidecar this Blender started (addon/process_manager.py); never block disabling."""
    try:
        process_manager.stop_sidecar()
    except Exception as exc:
        print(f"vanelia: stopping the sidecar failed: {exc}")


def register() -> None:
    registered: list[type] = []
    try:
        for cls in _CLASSES:
            bpy.utils.register_class(cls)
            registered.append(cls)
        properties.register_scene_property()
    except Exception:
        for cls in reversed(registered):
            bpy.utils.unregister_class(cls)
        raise


def unregister() -> None:
    tasks.shutdown()
    _stop_sidecar()
    properties.unregister_scene_property()
    for cls in reversed(_CLASSES):
        try:
            bpy.utils.unregister_class(cls)
        except RuntimeError:  # not registered (a failed register): nothing to remove
            pass
