"""The Track operator: `vanelia track` run by the add-on's process manager from a worker
thread, on a generated clip; the result becomes the scene's camera track with its QC.
Headless the worker runs blocking (timers never fire), the same code path otherwise."""
from __future__ import annotations

import json
import sys
from importlib import import_module
from pathlib import Path

import bpy
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def addon(ext, empty_scene):
    prefs = bpy.context.preferences
    entry = prefs.addons.new()
    entry.module = ext.__name__
    ext.register()
    entry.preferences.sidecar_python = sys.executable  # the sidecar environment: this venv
    try:
        yield ext
    finally:
        ext.unregister()
        prefs.addons.remove(entry)


def test_track_operator(addon, tmp_path: Path) -> None:
    demo = import_module(f"{addon.__name__}.addon.demo_scene")
    demo.make_demo(tmp_path / "demo", frames=24, resolution=(320, 180), samples=4)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    s = scene.vanelia
    assert not bpy.ops.vanelia.track.poll()  # no footage chosen yet
    s.shot_dir = str(tmp_path / "shot")
    s.plate_path = str(tmp_path / "nope.mp4")
    with pytest.raises(RuntimeError, match="nope.mp4"):
        bpy.ops.vanelia.track()
    s.plate_path = str(tmp_path / "demo" / "plate.mp4")
    assert bpy.ops.vanelia.track() == {"FINISHED"}
    assert s.task_state == "done", s.progress_text
    out = tmp_path / "shot" / "track" / "transforms.json"
    assert s.camera_source == "FILE" and Path(s.camera_track_path) == out
    doc = json.loads(out.read_text())
    assert len(doc["frames"]) == 24 and doc["qc"]["usable"] is True
    assert doc["qc"]["median_error_px"] < 1.0
    # the panel's QC reads the same file: one error per frame for the graph
    sidebar = import_module(f"{addon.__name__}.panels.sidebar")
    qc = sidebar.track_qc_for(scene, str(tmp_path / "shot"))
    assert len(sidebar.frame_errors(qc)) == 24
