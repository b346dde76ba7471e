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

from ..addon import lighting as lighting_names
from ..addon import properties, sequencer, shot_scene, tasks

CATEGORY = "Vanelia"


def _settings(context: bpy.types.Context) -> tuple[bpy.types.Scene, Any] | None:
    scene = context.scene
    if scene is None or not hasattr(scene, "vanelia"):
        return None
    return scene, scene.vanelia


def _chars(context: bpy.types.Context) -> int:
    """Characters per line that fit the sidebar's current width (labels are never cut)."""
    region = context.region
    width = region.width if region is not None else 300
    scale = context.preferences.system.ui_scale if context.preferences is not None else 1.0
    return max(20, int((width - 50) / (6.5 * scale)))


def draw_progress(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """Progress bar and Cancel while a task runs; the last outcome, in full, otherwise."""
    found = _settings(context)
    if found is None:
        return
    scene, s = found
    width = _chars(context)
    if tasks.is_running(scene):
        row = layout.row(align=True)
        text = f"{s.task_kind}: {s.progress_text}" if s.progress_text else s.task_kind
        row.progress(factor=float(s.progress), type="BAR", text=text[: width - 4])
        row.operator("vanelia.cancel", text="", icon="CANCEL")
        for line in _wrap(s.progress_text, width)[1:3] if len(s.progress_text) > width - 4 else []:
            layout.label(text=line)
    elif s.task_state:
        icon: Any = {"done": "CHECKMARK", "failed": "ERROR", "cancelled": "CANCEL"}.get(s.task_state, "INFO")
        box = layout.box()
        box.alert = s.task_state == "failed"
        box.label(text=f"{s.task_kind.capitalize()} {s.task_state}", icon=icon)
        for line in _wrap(s.progress_text, width)[:14]:  # the whole message: its last words say what to do
            box.label(text=line)


def _wrap(text: str, width: int) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        while len(word) > width:  # a long path: break it, don't cut it
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(word[:width])
            word = word[width:]
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    if cur:
        lines.append(cur)
    return lines


def _field(layout: bpy.types.UILayout, data: Any, prop: str, label: str, hint: str = "") -> None:
    """A label on its own line above a full-width field: long labels and paths fit the
    default sidebar width; ``hint`` (e.g. "0 = auto") is said next to the label."""
    col = layout.column(align=True)
    col.label(text=f"{label}  ({hint})" if hint else label)
    col.prop(data, prop, text="")


def draw_main(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        layout.label(text="Vanelia is not registered for this scene")
        return
    scene, s = found
    _field(layout, s, "shot_dir", "Shot Folder", "empty = automatic")
    if not s.shot_dir:  # say where "automatic" is
        for line in _wrap(properties.shot_dir(scene, context), _chars(context)):
            layout.label(text=line, icon="BLANK1")
    if shot_scene.shot_dir_of(scene):
        layout.label(text=f"Shot scene: {scene.name}", icon="SCENE_DATA")
    draw_progress(layout, context)


_DOC_CACHE: dict[str, tuple[int, dict[str, Any]]] = {}


def _doc(path: str) -> dict[str, Any]:
    """A JSON file's object ({} when absent or unreadable). Panels redraw many times a
    second: parsed again only when the file changes."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return {}
    hit = _DOC_CACHE.get(path)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    _DOC_CACHE[path] = (mtime, doc)
    return doc


def _qc_of(path: str, key: str) -> dict[str, Any]:
    """``qc`` of a JSON file (shot.json: under ``camera``; transforms.json: top level), {}
    when absent."""
    doc = _doc(path)
    try:
        qc = (doc.get(key, {}) if key else doc).get("qc") or {}
        qc = qc if isinstance(qc, dict) else {}
        shot_level = doc.get("qc") if key else None
        if isinstance(shot_level, dict) and shot_level.get("verdict"):
            qc = {**qc, "shot": shot_level}  # the run's lock + plausibility verdict (schema.ShotQC)
    except AttributeError:
        qc = {}
    return qc


def shot_lighting(shot_dir: str) -> dict[str, Any]:
    """The shot's light record (shot.json ``lighting``: method, notes, lights), {} when absent."""
    light = _doc(os.path.join(shot_dir, "shot.json")).get("lighting")
    return light if isinstance(light, dict) else {}


def shot_qc(shot_dir: str) -> dict[str, Any]:
    """camera.qc of the shot's shot.json ({} when absent)."""
    return _qc_of(os.path.join(shot_dir, "shot.json"), "camera")


def track_qc_for(scene: bpy.types.Scene, shot_dir: str) -> dict[str, Any]:
    """The QC to show: the shot's, else that of the chosen track file (a fresh Track)."""
    qc = shot_qc(shot_dir)
    s = properties.settings(scene)
    if not qc and s.camera_source == "FILE" and s.camera_track_path:
        path = bpy.path.abspath(s.camera_track_path)
        qc = _qc_of(path if path.endswith(".json") else os.path.join(path, "transforms.json"), "")
    return qc


def frame_errors(qc: dict[str, Any]) -> list[tuple[int, float | None]]:
    """(frame, reprojection error in px or None when unsolved) for every frame of the QC."""
    out = []
    for key, v in (qc.get("frames") or {}).items():
        try:
            err = v.get("error_px") if isinstance(v, dict) else None
            out.append((int(key), float(err) if isinstance(err, (int, float)) and math.isfinite(err) else None))
        except ValueError:
            continue
    return sorted(out)


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


GRAPH_ROWS = 12
WARN_PX = 1.5


def draw_error_graph(layout: bpy.types.UILayout, qc: dict[str, Any]) -> None:
    """Per-frame reprojection error as a bar chart: one bar per frame (or per group of
    frames, their worst), red above the warning level or where the solve has no camera."""
    errs = frame_errors(qc)
    if not errs:
        return
    per = max(1, math.ceil(len(errs) / GRAPH_ROWS))
    top = max([WARN_PX * 2] + [e for _, e in errs if e is not None])
    col = layout.column(align=True)
    col.label(text=f"Error per frame (px, bar = {top:.1f})")
    for i in range(0, len(errs), per):
        group = errs[i : i + per]
        values = [e for _, e in group if e is not None]
        worst = max(values) if len(values) == len(group) else None
        first, last = group[0][0], group[-1][0]
        row = col.row(align=True)
        row.alert = worst is None or worst > WARN_PX
        name = f"{first}" if first == last else f"{first}-{last}"
        row.progress(factor=(worst or top) / top, type="BAR", text=f"{name}: {worst:.2f}" if worst is not None else f"{name}: unsolved")


def draw_track_qc(layout: bpy.types.UILayout, qc: dict[str, Any], width: int = 48) -> None:
    if not qc:
        return
    lines, alert = qc_summary(qc)
    box = layout.box()
    box.alert = alert
    for i, line in enumerate(lines):
        for j, part in enumerate(_wrap(line, width)):
            icon: Any = ("ERROR" if alert else "CAMERA_DATA") if i == 0 and j == 0 else "BLANK1"
            box.label(text=part, icon=icon)
    draw_error_graph(box, qc)


def draw_track(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        return
    scene, s = found
    _field(layout, s, "plate_path", "Footage (Plate)")
    row = layout.row(align=True)
    row.prop(s, "tracker", text="")
    row.prop(s, "focal_mm", text="Focal")
    if s.focal_mm == 0:
        layout.label(text="Focal 0 = solved from the footage", icon="INFO")
    layout.operator("vanelia.track", icon="TRACKER")
    draw_track_qc(layout, track_qc_for(scene, properties.shot_dir(scene, context)), _chars(context))


def draw_shot(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        return
    scene, s = found
    col = layout.column()
    col.prop(s, "camera_source", text="")
    if s.camera_source == "SCENE":
        col.prop(s, "camera_object", text="Camera")
    else:
        _field(col, s, "camera_track_path", "Track File")
    _field(col, s, "product_path", "Product (.glb)")
    col.prop(s, "placement", text="")
    if s.placement == "AREA":
        col.prop(s, "placement_area", text="")
    if s.placement == "EXPLICIT":
        col.prop(s, "product_location")
        col.prop(s, "product_rotation")
    _field(col, s, "product_scale_m", "Size in metres", "0 = as modelled")
    _field(col, s, "ground_cover_m", "Grass round the base (m)", "0 = bare ground")
    col.label(text="Frames  (0 = whole plate)")
    row = col.row(align=True)
    row.prop(s, "frame_start")
    row.prop(s, "frame_end")
    col.label(text="Resolution  (0 = plate's)")
    row = col.row(align=True)
    row.prop(s, "resolution_x", text="W")
    row.prop(s, "resolution_y", text="H")
    col.operator("vanelia.setup_shot", icon="SCENE_DATA")
    if shot_scene.shot_dir_of(scene):
        row = col.row(align=True)
        row.operator("vanelia.place_product", icon="OBJECT_ORIGIN")
        row.operator("vanelia.preview", icon="SHADING_TEXTURE")


LIGHT_METHODS = {"plate": "estimated from the plate", "legacy": "plate mean + a sun", "user": "edited by you"}


def draw_light(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """The shot's light: where it came from, the estimator's notes, and the key light and
    world strength to edit in place (rotate the key in the viewport to move it). Render Shot
    writes the edit into shot.json (addon/shot.py ``sync_lighting``)."""
    found = _settings(context)
    if found is None:
        return
    scene, _s = found
    shot_dir = shot_scene.shot_dir_of(scene)
    if not shot_dir:
        layout.label(text="Set up a shot to see and edit its light", icon="INFO")
        return
    rec = shot_lighting(shot_dir)
    method = str(rec.get("method", ""))
    layout.label(text=f"Light: {LIGHT_METHODS.get(method, method or 'unknown')}", icon="LIGHT_SUN")
    notes = str(rec.get("notes", ""))
    if notes:
        for line in _wrap(notes, _chars(context))[:6]:
            layout.label(text=line)
    keys = sorted((o for o in scene.objects if o.name.startswith(lighting_names.SUN_NAME) and o.type == "LIGHT"),
                  key=lambda o: o.name)
    for obj in keys:
        data: Any = obj.data  # a Light (the objects were filtered on type LIGHT)
        box = layout.box()
        box.label(text=obj.name, icon="LIGHT")
        box.prop(data, "energy", text="Strength")
        if data.type == "SUN":
            box.prop(data, "angle", text="Size (angle)")
        elif data.type == "AREA":
            box.prop(data, "size", text="Size")
        box.prop(data, "color", text="")
        box.prop(obj, "rotation_quaternion" if obj.rotation_mode == "QUATERNION" else "rotation_euler", text="Direction")
    if keys:
        layout.operator("vanelia.key_from_shadow", icon="LIGHT_SUN")
    else:
        layout.label(text="No key light: soft light from the environment", icon="INFO")
    world = scene.world
    tree = world.node_tree if world is not None else None
    bg = next((n for n in tree.nodes if n.bl_idname == "ShaderNodeBackground"), None) if tree is not None else None
    if bg is not None:
        layout.prop(bg.inputs["Strength"], "default_value", text="Environment Strength")
    layout.label(text="Render Shot keeps your edits (--light shot)", icon="INFO")


def draw_render(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        return
    scene, s = found
    layout.prop(s, "samples")
    shot_dir = shot_scene.shot_dir_of(scene)
    if shot_dir:  # the shot's own scene: its camera motion blur, as measured or edited
        row = layout.row(align=True)
        row.prop(scene.render, "use_motion_blur", text="Motion Blur")
        sub = row.row(align=True)
        sub.enabled = scene.render.use_motion_blur
        sub.prop(scene.render, "motion_blur_shutter", text="Shutter")
        rec = _doc(os.path.join(shot_dir, "shot.json")).get("render")
        note = str(rec.get("motion_blur_note", "")) if isinstance(rec, dict) else ""
        for line in _wrap(note, _chars(context))[:3]:
            layout.label(text=line)
        plate = _doc(os.path.join(shot_dir, "shot.json")).get("plate")
        blur_note = str(plate.get("blur_note", "")) if isinstance(plate, dict) else ""
        if blur_note:  # the per-frame softness the compositor adds (ml/camera/frame_blur.py)
            for line in _wrap(f"Plate softness: {blur_note}", _chars(context))[:3]:
                layout.label(text=line)
    layout.operator("vanelia.render_shot", icon="RENDER_ANIMATION")
    layout.label(text="Unchanged frames are skipped", icon="INFO")


def draw_sidecar(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        return
    _scene, s = found
    col = layout.column()
    col.prop(s, "stages")
    for stage in ("inpaint", "relight", "composite", "diffuse"):
        if stage in s.stages:
            split = col.split(factor=0.42, align=True)
            split.label(text=stage.capitalize())
            split.prop(s, f"{stage}_engine", text="")
    col.prop(s, "allow_fallback", text="Classical Fallback")
    col.prop(s, "seed")
    col.operator("vanelia.send_to_sidecar", icon="EXPORT")
    col.operator("vanelia.sidecar_check", icon="URL")
    if s.job_id:
        col.label(text=f"Last job {s.job_id}")


def _params_lines(shot: str, version: str, versions: list[str]) -> list[str]:
    """A version's parameters, short: engine per stage (and a fallback), seed, and which
    stages it re-ran compared with the version before it (the others were reused)."""
    params = sequencer.read_params(shot, version)
    found, job_found = params.get("engines"), params.get("job")
    engines: dict[str, Any] = found if isinstance(found, dict) else {}
    job: dict[str, Any] = job_found if isinstance(job_found, dict) else {}
    lines = []
    for stage, rec in engines.items():
        rec = rec if isinstance(rec, dict) else {"name": rec}
        fell = f" (fallback: {rec['fallback_reason']})" if rec.get("fallback_reason") else ""
        lines.append(f"{stage}: {rec.get('name', '?')}{fell}")
    if "seed" in job:
        lines.append(f"seed {job['seed']}")
    i = versions.index(version) if version in versions else 0
    if i > 0:
        changed = sequencer.changed_stages(shot, versions[i - 1], version)
        lines.append(f"vs {versions[i - 1]}: " + (f"re-ran {', '.join(changed)}" if changed else "nothing changed"))
    return lines


def draw_results(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    found = _settings(context)
    if found is None:
        return
    scene, s = found
    shot = properties.shot_dir(scene, context)
    versions = sequencer.list_versions(shot) if os.path.isdir(shot) else []
    layout.operator("vanelia.load_plate", icon="SEQUENCE")
    if not versions:
        layout.label(text="No results yet")
        return
    col = layout.column(align=True)
    for v in reversed(versions[-8:]):
        row = col.row(align=True)
        icon: Any = "RADIOBUT_ON" if v == s.version else "RADIOBUT_OFF"
        op = row.operator("vanelia.load_version", text=v, icon=icon)
        op.version = v
    shown = s.version if s.version in versions else versions[-1]
    box = layout.box()
    box.label(text=f"{shown} parameters", icon="PROPERTIES")
    try:
        lines = _params_lines(shot, shown, versions)
    except sequencer.SequencerError as exc:
        lines = [str(exc)]
        box.alert = True
    for line in lines:
        for part in _wrap(line, _chars(context)):
            box.label(text=part)
    row = layout.row(align=True)
    row.operator("vanelia.compare_versions", icon="SPLIT_HORIZONTAL")
    row.operator("vanelia.swap_version", icon="FILE_REFRESH")


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
    seq = space == "SEQUENCE_EDITOR"  # the sequencer is for results: set-up panels start closed there
    return [
        _panel(space, "main", "Vanelia", draw_main),
        _panel(space, "track", "Footage & Track", draw_track, parent="main", closed=seq),
        _panel(space, "shot", "Shot Setup", draw_shot, parent="main", closed=seq),
        _panel(space, "light", "Light", draw_light, parent="main", closed=seq),
        _panel(space, "render", "Render", draw_render, parent="main", closed=seq),
        _panel(space, "sidecar", "Sidecar", draw_sidecar, parent="main"),
        _panel(space, "results", "Results", draw_results, parent="main"),
    ]


CLASSES: tuple[type, ...] = tuple(_panels_for("VIEW_3D") + _panels_for("SEQUENCE_EDITOR"))
