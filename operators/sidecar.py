"""Sidecar operators: check the connection, send the shot as a job, start/stop the sidecar.

Sending runs in a worker thread (addon/tasks.py): the thread gets plain values only (URL,
token, the job as a dict) and talks HTTP; when the job is done the main thread loads the
new version into the sequencer. Headless the same work blocks with progress on stdout.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import bpy

from ..addon import client as sidecar_process
from ..addon import preferences, properties, sequencer, tasks
from ..shotcache import schema
from ..shotcache.client import SidecarClient, SidecarError
from ..shotcache.layout import ShotPaths
from ..shotcache.net import url_is_loopback
from .common import OpResult, shot_of, vanelia_scene


def job_spec(scene: bpy.types.Scene, shot_dir: str, prefs: preferences.SidecarSettings) -> dict[str, Any]:
    """The job for the scene's shot, from the panel's stage/engine choices."""
    s = properties.settings(scene)
    stages = [st for st in schema.STAGES if st in set(s.stages)] or ["composite"]
    engines = {st: str(getattr(s, f"{st}_engine")) for st in stages}
    spec = schema.JobSpec(shot=shot_dir, stages=stages, engines=engines, allow_fallback=bool(s.allow_fallback), seed=int(s.seed))
    if prefs.device != "AUTO":
        spec.params["device"] = prefs.device.lower()
    spec.validate()
    return spec.to_dict()


def _remote(url: str) -> bool:
    return not url_is_loopback(url)


def run_job(
    url: str,
    token: str,
    spec: dict[str, Any],
    shot_dir: str,
    rep: tasks.Reporter,
    start: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Worker-thread body (no bpy): start the local sidecar if asked, submit, follow
    progress, honour cancel, fetch results.

    A sidecar on this machine reads and writes the shot folder itself; a remote one gets
    the shot uploaded and its results downloaded into the same vNNN folder name here.
    """
    if start is not None:
        rep.report(0, 0, "starting the sidecar")
        start()  # returns at once when one already answers at the URL
    rep.check()
    client = SidecarClient(url, token or None)
    client.health()
    remote = _remote(url)
    if remote:
        rep.report(0, 0, "uploading shot")
        spec = dict(spec, shot=client.upload_shot(shot_dir))
    rep.check()
    job_id = client.submit(spec)
    rep.report(0, 0, f"job {job_id} queued")

    def progress(job: dict[str, Any]) -> None:
        rep.report(int(job.get("frames_done") or 0), int(job.get("frames_total") or 0), f"job {job_id}: {job.get('state')}")

    job = client.wait(job_id, progress=progress, should_cancel=lambda: rep.cancelled)
    job = dict(job, id=job_id)
    if job.get("state") == "done" and remote and job.get("version"):
        rep.report(int(job.get("frames_total") or 0), int(job.get("frames_total") or 0), "downloading results")
        client.download_results(job_id, ShotPaths(shot_dir).version_dir(str(job["version"])))
    return job


class VANELIA_OT_send_to_sidecar(bpy.types.Operator):
    """Send the rendered shot to the sidecar; the result appears in the sequencer when done"""

    bl_idname = "vanelia.send_to_sidecar"
    bl_label = "Send to Sidecar"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        found = shot_of(context)
        if found is None:
            return False
        scene, shot = found
        return not tasks.is_running(scene) and os.path.isfile(os.path.join(shot, "shot.json"))

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        found = shot_of(context)
        if found is None:
            return {"CANCELLED"}
        scene, shot = found
        prefs = preferences.sidecar_settings(context)
        try:
            url = preferences.check_sidecar_url(prefs.url)
            spec = job_spec(scene, shot, prefs)
            start = _local_starter(prefs) if prefs.mode == "LOCAL" and prefs.autostart and not _remote(url) else None
        except (ValueError, schema.SchemaError, SidecarError, OSError, RuntimeError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        scene_name = scene.name

        def on_done(task: tasks.Task) -> None:
            sc = bpy.data.scenes.get(scene_name)
            job = task.result if isinstance(task.result, dict) else {}
            if sc is None or task.state != "done":
                return
            s = properties.settings(sc)
            s.job_id = str(job.get("id", ""))
            version = str(job.get("version") or "")
            if job.get("state") == "done" and version:
                sequencer.load_plate(sc, shot)
                sequencer.load_version(sc, shot, version)
                s.version = version
                task.progress.message = f"{version} loaded into the sequencer"
            elif job.get("state") == "cancelled":
                task.state = "cancelled"

        try:
            tasks.run_worker("sidecar", scene, lambda rep: run_job(url, prefs.token, spec, shot, rep, start), on_done)
        except RuntimeError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        task = tasks.get(scene)
        if task is not None and task.state == "failed":
            self.report({"ERROR"}, task.error)
            return {"CANCELLED"}
        return {"FINISHED"}


def _local_starter(prefs: preferences.SidecarSettings) -> Callable[[], Any]:
    """A no-bpy callable that starts the local sidecar (addon/client.py) in the worker.

    Starting can take many seconds (the sidecar imports its engines), so it never runs
    on Blender's main thread; the log path is resolved here, where bpy may be used.
    """
    log = Path(preferences.user_data_dir("logs")) / "sidecar.log"
    return lambda: sidecar_process.start_sidecar(prefs, log_path=log)


def check_sidecar(url: str, token: str, rep: tasks.Reporter) -> str:
    """Worker-thread body: health (protocol) and capabilities as one line for the panel."""
    client = SidecarClient(url, token or None, timeout=30.0)
    rep.report(0, 2, "health")
    info = client.health()
    rep.report(1, 2, "capabilities")
    caps = client.capabilities()
    device = caps.get("device", "?") if isinstance(caps, dict) else "?"
    return f"sidecar {info.get('version', '?')} at {url}: protocol {info.get('protocol')}, device {device}"


class VANELIA_OT_sidecar_check(bpy.types.Operator):
    """Ask the sidecar for its health and capabilities (in the background)"""

    bl_idname = "vanelia.sidecar_check"
    bl_label = "Check Sidecar"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context | None) -> bool:
        scene = vanelia_scene(context)
        return scene is not None and not tasks.is_running(scene)

    def execute(self, context: bpy.types.Context | None) -> OpResult:
        scene = vanelia_scene(context)
        if scene is None:
            return {"CANCELLED"}
        prefs = preferences.sidecar_settings(context)
        try:
            url = preferences.check_sidecar_url(prefs.url)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}

        def on_done(task: tasks.Task) -> None:
            if task.state == "done":
                task.progress.message = str(task.result)

        task = tasks.run_worker("check", scene, lambda rep: check_sidecar(url, prefs.token, rep), on_done)
        if task.state == "failed":
            self.report({"ERROR"}, task.error)
            return {"CANCELLED"}
        if task.state == "done":
            self.report({"INFO"}, str(task.result))
        return {"FINISHED"}


CLASSES: tuple[type, ...] = (VANELIA_OT_send_to_sidecar, VANELIA_OT_sidecar_check)
