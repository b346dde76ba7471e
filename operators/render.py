# mypy: disable-error-code="valid-type"
"""Render the shot frame by frame without freezing Blender (one frame per timer tick).

addon/shot.py's ``ShotRenderer`` knows which frames need rendering (unchanged inputs are
skipped); this operator only drives it through addon/tasks.py. Headless it runs blocking
with a progress line per frame.
"""
from __future__ import annotations

import os
from typing import Generator

import bpy
from bpy.props import BoolProperty

from ..addon import shot as shot_mod
from ..addon import tasks
from .common import OpResult, shot_of, shot_ready


def render_steps(job: shot_mod.ShotRenderer) -> Generator[tasks.Progress, None, list[int]]:
    """One rendered frame per step; returns the list of rendered frame numbers."""
    total = len(job.pending) + len(job.skipped)
    done = len(job.skipped)
    rendered: list[int] = []
    yield tasks.Progress(done, total, f"{done} unchanged frame(s) skipped" if done else "starting")
    while job.pending:
        frame = job.render_next()
        if frame is None:
            break
        rendered.append(frame)
        done += 1
        t = job.timings[-1]
        yield tasks.Progress(done, total, f"frame {frame} in {t.get('render_s', 0.0):.1f}s")
    return rendered


class VANELIA_OT_render_shot(bpy.types.Operator):
    """Render the product passes of every frame that changed (Cycles, one EXR per frame)"""

    bl_idname = "vanelia.render_shot"
    bl_label = "Render Shot"
    bl_options = {"REGISTER"}

    force: BoolProperty(name="Re-render All", description="Render frames whose inputs did not change too", default=False)

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        return shot_ready(cls, context)

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        found = shot_of(context)
        if found is None:
            return {"CANCELLED"}
        scene, shot_dir = found
        try:
            own = bool(shot_mod.shot_scene.shot_dir_of(scene))  # the shot's scene, or the artist's: then the shot's is used
            if own and shot_mod.sync_placement(scene, shot_dir):
                self.report({"INFO"}, "kept the product where you placed it")
            if own and shot_mod.sync_lighting(scene, shot_dir):
                self.report({"INFO"}, "kept your light edits (shot.json lighting: user)")
            if own and shot_mod.sync_motion_blur(scene, shot_dir):
                self.report({"INFO"}, "kept your motion blur (shot.json render.motion_blur)")
            job = shot_mod.ShotRenderer(shot_dir, scene if own else None, force=self.force)
            task = tasks.run_steps("render", scene, render_steps(job))
        except (ValueError, OSError, RuntimeError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if task.state == "failed":
            self.report({"ERROR"}, task.error)
            return {"CANCELLED"}
        if task.state == "done":
            self.report({"INFO"}, f"rendered {len(task.result or [])} frame(s) into {shot_dir}/render")
        return {"FINISHED"}


CLASSES: tuple[type, ...] = (VANELIA_OT_render_shot,)
