"""The artist's loop in a real Blender window under Xvfb (tests/binary/gui_loop.py drives it).

Track (progress, QC graph), a failing track (status bar, panel), Set Up Shot into the shot's
own scene (the user's Cube stays home), Place by Hand + EEVEE preview over the plate,
Render with progress, two sidecar jobs (the sidecar started by the add-on from the
project's .venv), the versions in the sequencer with an A/B wipe. Screenshots land in
``$VANELIA_GUI_SHOTS`` (default: the test's tmp folder) for a person to look at; the test
checks what the steps recorded and that the screenshots show something.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from blender_run import ROOT, run_blender

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def display():
    """A private X display (Xvfb), stopped at the end."""
    if not shutil.which("Xvfb") or not shutil.which("import"):
        pytest.skip("Xvfb and ImageMagick's `import` are needed (scripts/setup.sh installs them with apt)")
    for num in range(90 + os.getpid() % 50, 200):
        if not Path(f"/tmp/.X11-unix/X{num}").exists() and not Path(f"/tmp/.X{num}-lock").exists():
            break
    proc = subprocess.Popen(["Xvfb", f":{num}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{num}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.skip(f"Xvfb :{num} did not start")
        time.sleep(0.2)
    try:
        yield f":{num}"
    finally:
        proc.terminate()
        proc.wait(10)


def _step(log: list[dict], name: str) -> dict:
    found = [s for s in log if s["step"] == name]
    assert found, f"step {name!r} missing; steps: {[s['step'] for s in log]}"
    return found[-1]


def test_artist_loop_in_the_gui(blender_bin, blender_env, demo, display, tmp_path) -> None:
    sidecar_python = ROOT / ".venv" / "bin" / "python"
    if not sidecar_python.is_file():
        pytest.skip(f"{sidecar_python} missing: run scripts/setup.sh (the sidecar environment)")
    out = Path(os.environ.get("VANELIA_GUI_SHOTS") or tmp_path / "gui")
    shutil.rmtree(out, ignore_errors=True)
    user_blend = tmp_path / "user.blend"  # Blender's default scene, Cube included: what an artist has open
    run_blender(blender_bin, blender_env, "--python-expr", f"import bpy; bpy.ops.wm.save_as_mainfile(filepath={str(user_blend)!r})")
    (tmp_path / "user").mkdir()  # it must exist, or Blender falls back to ~/.config for writing
    env = dict(blender_env, DISPLAY=display, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    # saved preferences: without them Blender greets a new user with its Quick Setup splash
    run_blender(blender_bin, env, "--python-expr", "import bpy; bpy.context.preferences.view.show_splash = False; "
                "bpy.context.preferences.use_preferences_save = False; bpy.ops.wm.save_userpref()")
    cmd = [blender_bin, str(user_blend), "--python-exit-code", "1", "--python", str(Path(__file__).with_name("gui_loop.py")),
           "--", str(out), str(demo), str(sidecar_python)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200, cwd=str(ROOT))
    log = json.loads((out / "steps.json").read_text()) if (out / "steps.json").is_file() else []
    assert res.returncode == 0 and log and log[-1]["step"] == "finish", (res.stdout + res.stderr)[-4000:]
    assert not [s for s in log if s["step"] == "error"], [s for s in log if s["step"] == "error"]

    assert _step(log, "empty_panel")["polls"] == {"track": False, "setup_shot": False, "render_shot": False, "send_to_sidecar": False}
    assert "missing.mp4" in _step(log, "missing_footage")["result"][0]
    bad = _step(log, "bad_track_done")
    assert bad["state"] == "failed" and bad["text"], bad
    track = _step(log, "track_done")
    assert track["state"] == "done", track
    assert _step(log, "track_qc")["camera_source"] == "FILE"
    doc = json.loads(Path(_step(log, "track_qc")["track"]).read_text())
    assert doc["qc"]["usable"] and len(doc["qc"]["frames"]) == 24

    setup = _step(log, "setup_shot")
    assert setup["result"] == ["FINISHED"] and setup["shot_scene"] == "Vanelia demo" != setup["user_scene"]
    assert setup["user_objects"] == ["Camera", "Cube", "Light"]  # the user's scene is untouched
    assert "Cube" not in setup["shot_objects"] and "Vanelia Product" in setup["shot_objects"]
    place = _step(log, "place_preview")
    assert place["place"] == place["preview"] == ["FINISHED"] and place["active"] == "Vanelia Product"
    assert place["shading"] == "MATERIAL"

    assert _step(log, "render_done")["state"] == "done"
    shot = Path(out) / "shots" / "demo"
    assert sorted(p.name for p in (shot / "render").glob("*.exr")) == [f"{f:06d}.exr" for f in (1, 2, 3, 4)]
    placed = json.loads((shot / "shot.json").read_text())["product"]
    assert placed["placement"] == "explicit"  # where the gizmo left it
    lit = json.loads((shot / "shot.json").read_text())["lighting"]
    assert lit["method"] == "user" and lit["lights"][0]["intensity"] == pytest.approx(5.5)  # the Light box's edit
    assert "draw_light" not in res.stderr, res.stderr[-3000:]  # the Light panel drew without an error
    assert placed["matrix_world"][0][3] == pytest.approx(place["moved"][0], abs=1e-4)

    assert _step(log, "send1_done")["state"] == "done" and _step(log, "send2_done")["state"] == "done"
    ab = _step(log, "versions_ab")
    assert ab["loaded"] == ["FINISHED"] and ab["ab"] == ["FINISHED"]
    roles = {role for _name, _ch, role in ab["strips"]}
    assert {"plate", "version", "compare_a", "compare_b", "compare_wipe"} <= roles

    # the screenshots show a drawn UI, and the preview differs from the empty start
    import cv2

    shots = {p.stem: cv2.imread(str(p)) for p in sorted(out.glob("0*.png"))}
    # 06_rendering_progress is taken only while the render still runs: an idle machine can finish first
    assert {"01_panel_empty", "02_error_in_status_bar", "03_tracking_progress", "04_track_qc_graph",
            "05_preview_eevee_over_plate", "07_versions_ab_in_sequencer"} <= set(shots), sorted(shots)
    for name, img in shots.items():
        assert img is not None and img.shape == (1080, 1920, 3) and float(img.std()) > 10, name
    view = (slice(150, 700), slice(400, 1200))
    assert float(np.abs(shots["05_preview_eevee_over_plate"][view].astype(int) - shots["01_panel_empty"][view].astype(int)).mean()) > 10
    print(f"screenshots in {out}", file=sys.stderr)


def test_key_from_shadow_clicked_in_the_camera_view(blender_bin, blender_env, demo, display, tmp_path) -> None:
    """The Light box's Key From Shadow in a real window: three clicks (simulated events) on a
    pole's foot, top and shadow tip in the shot camera's view turn into the sun that cast it,
    kept in shot.json as the artist's light (tests/binary/key_pick_gui.py drives it)."""
    out = tmp_path / "key_pick"
    (tmp_path / "user").mkdir()
    env = dict(blender_env, DISPLAY=display, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    run_blender(blender_bin, env, "--python-expr", "import bpy; bpy.context.preferences.view.show_splash = False; "
                "bpy.context.preferences.use_preferences_save = False; bpy.ops.wm.save_userpref()")
    cmd = [blender_bin, "--enable-event-simulate", "--python-exit-code", "1", "--python",
           str(Path(__file__).with_name("key_pick_gui.py")), "--", str(out), str(demo)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=str(ROOT))
    log = json.loads((out / "steps.json").read_text()) if (out / "steps.json").is_file() else []
    assert res.returncode == 0 and log and log[-1]["step"] == "finish", (res.stdout + res.stderr)[-4000:]
    assert not [s for s in log if s["step"] == "error"], [s for s in log if s["step"] == "error"]
    assert _step(log, "setup")["result"] == ["FINISHED"] and _step(log, "started")["result"] == ["RUNNING_MODAL"]
    result = _step(log, "result")
    assert result["method"] == "user" and "key from the shadow picked in frame 2: elevation 35 deg" in result["notes"], result
    assert result["off_deg"] < 2.0, result  # a click lands on a whole pixel of the window
    import cv2

    img = cv2.imread(result["png"])
    assert img is not None and img.shape == (1080, 1920, 3) and float(img.std()) > 10
