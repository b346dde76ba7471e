"""Sidebar panels: shot setup, render, sidecar, progress with cancel, results/versions.

The same panels appear in the 3D view and in the sequencer (one class per editor, built
from shared draw code). Drawing only reads state: a few ``os.path`` checks and the list
of version folders, and the camera track's QC from shot.json (re-read only when the file
changes); all work happens in operators.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any

import bpy

from ..addon import properties, sequencer, tasks

CATEGORY = "Vanelia"


def _settings(context: bpy.types.Context) -> tuple[bpy.types.Scene, Any] | None:
    scene = context.scene
    if scene is None or not hasattr(scene, "vanelia"):
        return None
    return scene, scene.vanelia


def draw_progress(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """Progress bar and Cancel while a task runs; the last outcome otherwise."""
    found = _settings(context)
    if found is None:
        return
    scene, s = found
    if tasks.is_running(scene):
        row = layout.row(align=True)
        row.progress(factor=float(s.progress), type="BAR", text=f"{s.task_kind}: {s.progress_text}"[:120] or s.task_kind)
        row.operator("vanelia.cancel", text="", icon="CANCEL")
    elif s.task_state:
        icon: Any = {"done": "CHECKMARK", "failed": "ERROR", "cancelled": "CANCEL"}.get(s.task_state, "INFO")
        box = layout.box()
        box.label(text=f"{s.task_kind} {s.task_state}", icon=icon)
        if s.progress_text:
            for line in _wrap(s.progress_text, 48)[:4]:
                box.label(text=line)


def _wrap(text: str, width: int) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    if cur:
        lines.append(cur)
    return lines


def draw_main(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        layout.label(text="Vanelia is not registered for this scene")
        return
    scene, s = found
    layout.prop(s, "shot_dir")
    layout.label(text=properties.shot_dir(scene, context), icon="FILE_FOLDER")
    draw_progress(layout, context)


_QC_CACHE: dict[str, tuple[int, dict[str, Any]]] = {}


def shot_qc(shot_dir: str) -> dict[str, Any]:
    """camera.qc of the shot's shot.json ({} when absent): panels redraw many times a second,
    so the file is parsed again only when its modification time changes."""
    path = os.path.join(shot_dir, "shot.json")
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return {}
    hit = _QC_CACHE.get(path)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        qc = doc.get("camera", {}).get("qc") or {}
        qc = qc if isinstance(qc, dict) else {}
        shot_level = doc.get("qc")
        if isinstance(shot_level, dict) and shot_level.get("verdict"):
            qc = {**qc, "shot": shot_level}  # the run's lock + plausibility verdict (schema.ShotQC)
    except (OSError, ValueError, AttributeError):
        qc = {}
    qc = qc if isinstance(qc, dict) else {}
    _QC_CACHE[path] = (mtime, qc)
    return qc


def qc_summary(qc: dict[str, Any]) -> tuple[list[str], bool]:
    """Lines to show for a track's QC and whether to show them as an alert (not usable)."""
    med = qc.get("median_error_px")
    err = f"{float(med):.2f} px" if isinstance(med, (int, float)) and math.isfinite(med) else "n/a"
    frac = qc.get("solved_fraction")
    solved = f"{float(frac):.0%}" if isinstance(frac, (int, float)) else "?"
    bad = len(qc.get("unreliable_frames") or [])
    lines = [f"Track: median error {err}, {solved} solved, {bad} unreliable frame{'s' if bad != 1 else ''}"]
    usable = qc.get("usable", True) is not False
    if not usable:
        lines.append(f"Not usable: {qc.get('reason') or 'see the track QC'}")
    shot = qc.get("shot") if isinstance(qc.get("shot"), dict) else {}
    if shot:
        lines += lock_lines(shot)
        usable = usable and shot.get("verdict") != "refused"
    if not qc.get("median_error_px") and not qc.get("solved_fraction") and shot:
        lines = lines[1:]  # a camera without a track QC (e.g. from the .blend): only the run's verdict
    return lines, not usable


def lock_lines(shot: dict[str, Any]) -> list[str]:
    """The run's verdict: slide of the product over the plate's ground, scale, reasons."""
    mean, worst = shot.get("slide_mean_px"), shot.get("slide_max_px")
    slide = (f"slide {float(mean):.2f} px mean, {float(worst):.2f} px max"
             if isinstance(mean, (int, float)) and isinstance(worst, (int, float)) else "slide not measured")
    lines = [f"Lock: {slide} ({shot.get('verdict', '?')})"]
    if shot.get("scale_source"):
        lines.append(f"Scale: {shot['scale_source']}")
    lines += [f"Refused: {r}" for r in (shot.get("reasons") or [])[:3]]
    return lines


def draw_track_qc(layout: bpy.types.UILayout, shot_dir: str) -> None:
    qc = shot_qc(shot_dir)
    if not qc:
        return
    lines, alert = qc_summary(qc)
    box = layout.box()
    box.alert = alert
    for i, line in enumerate(lines):
        for j, part in enumerate(_wrap(line, 48)):
            icon: Any = ("ERROR" if alert else "CAMERA_DATA") if i == 0 and j == 0 else "BLANK1"
            box.label(text=part, icon=icon)


def draw_shot(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        return
    scene, s = found
    col = layout.column()
    col.prop(s, "plate_path")
    col.prop(s, "camera_source")
    if s.camera_source == "SCENE":
        col.prop(s, "camera_object")
    else:
        col.prop(s, "camera_track_path")
    col.prop(s, "product_path")
    col.prop(s, "placement")
    if s.placement == "EXPLICIT":
        col.prop(s, "product_location")
        col.prop(s, "product_rotation")
    col.prop(s, "product_scale_m")
    row = col.row(align=True)
    row.prop(s, "frame_start")
    row.prop(s, "frame_end")
    row = col.row(align=True)
    row.prop(s, "resolution_x")
    row.prop(s, "resolution_y")
    col.operator("vanelia.setup_shot", icon="SCENE_DATA")
    draw_track_qc(col, properties.shot_dir(scene, context))


def draw_render(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        return
    _scene, s = found
    layout.prop(s, "samples")
    layout.operator("vanelia.render_shot", icon="RENDER_ANIMATION")


def draw_sidecar(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        return
    _scene, s = found
    col = layout.column()
    col.prop(s, "stages")
    for stage in ("inpaint", "relight", "composite", "diffuse"):
        if stage in s.stages:
            col.prop(s, f"{stage}_engine")
    col.prop(s, "allow_fallback")
    col.prop(s, "seed")
    col.operator("vanelia.send_to_sidecar", icon="EXPORT")
    row = col.row(align=True)
    row.operator("vanelia.sidecar_check", icon="URL")
    if s.job_id:
        col.label(text=f"last job {s.job_id}")


def draw_results(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        return
    scene, s = found
    shot = properties.shot_dir(scene, context)
    versions = sequencer.list_versions(shot) if os.path.isdir(shot) else []
    layout.operator("vanelia.load_plate", icon="SEQUENCE")
    if not versions:
        layout.label(text="no results yet")
        return
    col = layout.column(align=True)
    for v in reversed(versions[-8:]):
        row = col.row(align=True)
        icon: Any = "RADIOBUT_ON" if v == s.version else "RADIOBUT_OFF"
        op = row.operator("vanelia.load_version", text=v, icon=icon)
        op.version = v
    layout.operator("vanelia.swap_version", icon="FILE_REFRESH")


class _Sidebar:
    bl_region_type = "UI"
    bl_category = CATEGORY


def _panel(space: str, suffix: str, label: str, draw_fn: Any, parent: str | None = None, closed: bool = False) -> type:
    """One panel class for one editor (Blender needs a class per space type)."""
    prefix = "VIEW3D" if space == "VIEW_3D" else "SEQUENCER"
    attrs: dict[str, Any] = {
        "bl_idname": f"VANELIA_PT_{prefix.lower()}_{suffix}",
        "bl_label": label,
        "bl_space_type": space,
        "__doc__": f"Vanelia: {label}",
        "draw": lambda self, context: draw_fn(self.layout, context),
    }
    if parent:
        attrs["bl_parent_id"] = f"VANELIA_PT_{prefix.lower()}_{parent}"
    if closed:
        attrs["bl_options"] = {"DEFAULT_CLOSED"}
    return type(attrs["bl_idname"], (_Sidebar, bpy.types.Panel), attrs)


def _panels_for(space: str) -> list[type]:
    return [
        _panel(space, "main", "Vanelia", draw_main),
        _panel(space, "shot", "Shot Setup", draw_shot, parent="main"),
        _panel(space, "render", "Render", draw_render, parent="main"),
        _panel(space, "sidecar", "Sidecar", draw_sidecar, parent="main"),
        _panel(space, "results", "Results", draw_results, parent="main"),
    ]


CLASSES: tuple[type, ...] = tuple(_panels_for("VIEW_3D") + _panels_for("SEQUENCE_EDITOR"))
