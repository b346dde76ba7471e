# mypy: disable-error-code="valid-type"
"""Sequencer operators: show the plate, load a result version, swap versions in place.

Thin wrappers over addon/sequencer.py; they edit scene data, so they support undo.
"""
from __future__ import annotations

import os
from typing import Any

import bpy
from bpy.props import IntProperty, StringProperty

from ..addon import compat, properties, sequencer
from .common import OpResult, shot_of, vanelia_scene


def _shot_dir(context: bpy.types.Context | None) -> str | None:
    found = shot_of(context)
    return found[1] if found is not None else None


def _version_items(self: Any, context: bpy.types.Context | None) -> list[tuple[str, str, str]]:
    """Versions of the active strip's shot (else the scene's shot), newest first."""
    shot: str | None = None
    if context is not None:
        strip = _active_version_strip(context)
        shot = str(strip.get(sequencer.SHOT_KEY, "")) if strip is not None else _shot_dir(context)
    versions = sequencer.list_versions(shot) if shot else []
    items = [(v, v, f"result version {v}") for v in reversed(versions)]
    _version_items.cache = items  # type: ignore[attr-defined]  # Blender needs the strings kept alive
    return items or [("NONE", "No Versions", "this shot has no results yet")]


def _target_scene(context: bpy.types.Context | None) -> bpy.types.Scene | None:
    """Where strips go: the scene the sequencer shows (5.0 may differ from the shot's)."""
    scene = compat.sequencer_scene(context)
    return scene if isinstance(scene, bpy.types.Scene) else None


def _active_version_strip(context: bpy.types.Context | None) -> Any:
    scene = _target_scene(context)
    ed = scene.sequence_editor if scene is not None else None
    strip = getattr(ed, "active_strip", None) if ed is not None else None
    if strip is not None and strip.get(sequencer.ROLE_KEY) == "version":
        return strip
    return None


class VANELIA_OT_load_plate(bpy.types.Operator):
    """Show the shot's decoded plate as an image strip in the sequencer"""

    bl_idname = "vanelia.load_plate"
    bl_label = "Load Plate Strip"
    bl_options = {"REGISTER", "UNDO"}

    channel: IntProperty(name="Channel", default=1, min=1, max=128)

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        shot = _shot_dir(context)
        if shot is None or not os.path.isdir(os.path.join(shot, "plate")):
            cls.poll_message_set("Set the shot up first: the plate is decoded then")
            return False
        return True

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        found, target = shot_of(context), _target_scene(context)
        if found is None or target is None:
            return {"CANCELLED"}
        shot = found[1]
        try:
            strip = sequencer.load_plate(target, shot, channel=self.channel)
        except (sequencer.SequencerError, OSError, RuntimeError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"plate strip '{strip.name}'")
        return {"FINISHED"}


class VANELIA_OT_load_version(bpy.types.Operator):
    """Show a result version next to the plate (swaps the version strip already there)"""

    bl_idname = "vanelia.load_version"
    bl_label = "Load Version"
    bl_options = {"REGISTER", "UNDO"}

    version: StringProperty(name="Version", description="vNNN; empty = the newest", default="")
    channel: IntProperty(name="Channel", default=2, min=1, max=128)
    with_plate: bpy.props.BoolProperty(name="With Plate", description="Also show the plate strip", default=True)

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        shot = _shot_dir(context)
        if shot is None or not sequencer.list_versions(shot):
            cls.poll_message_set("No result versions yet: Send to Sidecar makes one")
            return False
        return True

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        found, target = shot_of(context), _target_scene(context)
        if found is None or target is None:
            return {"CANCELLED"}
        scene, shot = found
        versions = sequencer.list_versions(shot)
        version = self.version or (versions[-1] if versions else "")
        if version not in versions:
            self.report({"ERROR"}, f"{shot}: no version {version!r} with frames; versions: {', '.join(versions) or 'none'}")
            return {"CANCELLED"}
        try:
            if self.with_plate and os.path.isdir(os.path.join(shot, "plate")):
                sequencer.load_plate(target, shot, channel=max(1, self.channel - 1))
            strip = sequencer.load_version(target, shot, version, channel=self.channel)
        except (sequencer.SequencerError, OSError, RuntimeError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        properties.settings(scene).version = version
        self.report({"INFO"}, f"{version} in '{strip.name}'")
        return {"FINISHED"}


class VANELIA_OT_swap_version(bpy.types.Operator):
    """Point the active version strip at another result version, in place"""

    bl_idname = "vanelia.swap_version"
    bl_label = "Swap Version"
    bl_options = {"REGISTER", "UNDO"}
    bl_property = "version"

    version: bpy.props.EnumProperty(name="Version", items=_version_items)

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        if _active_version_strip(context) is None:
            cls.poll_message_set("Select a Vanelia version strip in the sequencer first")
            return False
        return True

    def invoke(self, context: bpy.types.Context | None, event: bpy.types.Event | None) -> OpResult:
        wm = context.window_manager if context is not None else None
        if bpy.app.background or wm is None:
            return self.execute(context)
        wm.invoke_search_popup(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        strip = _active_version_strip(context)
        scene = vanelia_scene(context)
        if strip is None or scene is None:
            self.report({"ERROR"}, "select a Vanelia version strip in the sequencer first")
            return {"CANCELLED"}
        shot = strip.get(sequencer.SHOT_KEY, "")
        if self.version == "NONE" or not self.version:
            self.report({"ERROR"}, f"{shot}: no result versions to swap to")
            return {"CANCELLED"}
        try:
            sequencer.swap_version(strip, shot, self.version)
        except (sequencer.SequencerError, OSError, RuntimeError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        properties.settings(scene).version = self.version
        return {"FINISHED"}


class VANELIA_OT_compare_versions(bpy.types.Operator):
    """Compare two versions A/B: A and B as strips, a Wipe between them (drag its fader)"""

    bl_idname = "vanelia.compare_versions"
    bl_label = "Compare A/B"
    bl_options = {"REGISTER", "UNDO"}

    a: StringProperty(name="A", description="vNNN shown left of the wipe; empty = the second newest", default="")
    b: StringProperty(name="B", description="vNNN shown right of the wipe; empty = the newest", default="")

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        shot = _shot_dir(context)
        if shot is None or len(sequencer.list_versions(shot)) < 2:
            cls.poll_message_set("A/B needs two result versions of this shot")
            return False
        return True

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        found, target = shot_of(context), _target_scene(context)
        if found is None or target is None:
            return {"CANCELLED"}
        scene, shot = found
        versions = sequencer.list_versions(shot)
        a, b = self.a or versions[-2], self.b or versions[-1]
        try:
            wipe = sequencer.compare(target, shot, a, b)
        except (sequencer.SequencerError, OSError, RuntimeError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        properties.settings(scene).version = b
        self.report({"INFO"}, f"A/B: {a} | {b} ('{wipe.name}'); drag the Wipe's fader to move the split")
        return {"FINISHED"}


CLASSES: tuple[type, ...] = (VANELIA_OT_load_plate, VANELIA_OT_load_version, VANELIA_OT_swap_version, VANELIA_OT_compare_versions)
