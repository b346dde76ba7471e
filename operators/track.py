"""Track: solve the camera of the chosen footage, with progress and cancel.

The tracking itself is the sidecar side's ``vanelia track`` (Blender's tracker in
addon/tracking.py through the batch step, COLMAP when it fails, levelling on the ground,
QC per frame), run as a child process by the add-on's process manager (addon/process_manager.py)
from a worker thread that touches no ``bpy`` (addon/tasks.py); its output lines are the
progress, Cancel ends its process group. The result, ``<shot>/track/transforms.json`` with
its QC, becomes the shot's camera track; the panel shows the QC with a per-frame error
graph (panels/sidebar.py).
"""
from __future__ import annotations

import os
import re

import bpy

from ..addon import process_manager
from ..addon import preferences, properties, tasks
from .common import OpResult, idle_scene, shot_of

_FRAME = re.compile(r"\bframe (\d+)\b")


def track_argv(cli: tuple[str, ...], plate: str, out: str, tracker: str, focal_mm: float) -> list[str]:
    argv = [*cli, "track", "--input", plate, "--output", out, "--tracker", tracker.lower()]
    if focal_mm > 0:
        argv += ["--focal-mm", f"{focal_mm:g}"]
    return argv


def track_output(shot_dir: str) -> str:
    return os.path.join(shot_dir, "track", "transforms.json")


class VANELIA_OT_track(bpy.types.Operator):
    """Solve the camera of the footage (progress in the panel, Cancel stops it); the solved
    track with its QC becomes the shot's camera track"""

    bl_idname = "vanelia.track"
    bl_label = "Track Camera"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        scene = idle_scene(cls, context)
        if scene is None:
            return False
        if not properties.settings(scene).plate_path:
            cls.poll_message_set("Choose the footage (Plate) first")
            return False
        return True

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        found = shot_of(context)
        if found is None:
            return {"CANCELLED"}
        scene, shot_dir = found
        s = properties.settings(scene)
        plate = bpy.path.abspath(s.plate_path)
        if not os.path.exists(plate):
            self.report({"ERROR"}, f"{plate}: footage not found; choose the plate again")
            return {"CANCELLED"}
        out = track_output(shot_dir)
        prefs = preferences.sidecar_settings(context)
        argv = track_argv(prefs.cli_argv, plate, out, str(s.tracker), float(s.focal_mm))
        scene_name = scene.name

        def work(rep: tasks.Reporter) -> str:
            os.makedirs(os.path.dirname(out), exist_ok=True)
            rep.report(0, 0, f"tracking {os.path.basename(plate)} (the first lines take a while)")
            last = [0]

            def line(text: str) -> None:
                m = _FRAME.search(text)
                last[0] = int(m.group(1)) if m else last[0]
                rep.report(last[0], 0, text.replace("[vanelia] ", ""))

            try:
                process_manager.run_command(argv, line, lambda: rep.cancelled)
            except InterruptedError as exc:
                raise tasks.Cancelled(str(exc)) from exc
            if not os.path.isfile(out):
                raise RuntimeError(f"the tracker wrote no {out}; see the console")
            return out

        def on_done(task: tasks.Task) -> None:
            sc = bpy.data.scenes.get(scene_name)
            if sc is None or task.state != "done":
                return
            st = properties.settings(sc)
            st.camera_source, st.camera_track_path = "FILE", str(task.result)
            task.progress = tasks.Progress(1, 1, f"camera solved: {task.result}")

        try:
            task = tasks.run_worker("track", scene, work, on_done=on_done)
        except RuntimeError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if task.state == "failed":
            self.report({"ERROR"}, task.error)
            return {"CANCELLED"}
        self.report({"INFO"}, "tracking..." if task.running else f"track {task.state}: {out}")
        return {"FINISHED"}


CLASSES: tuple[type, ...] = (VANELIA_OT_track,)
