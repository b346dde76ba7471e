"""The extension on Blender 5.0 (in-process): package, install, enable, operators, disable.

Blender's own extension CLI validates and builds the zip; the zip is installed with the
extensions operator into a temp user repository and enabled headless; disabling it must
leave no class, handler, timer or scene property behind. Operators are exercised
headless (poll, error reports, INVOKE_DEFAULT running execute), with the source tree
registered as ``vanelia_addon`` and its preferences entry in place.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import bpy
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import blender42_checks as checks  # noqa: E402


# ---------------------------------------------------------------------------
# package / install / enable / disable
# ---------------------------------------------------------------------------


def test_extension_lifecycle_50(tmp_path: Path) -> None:
    d = checks.extension_lifecycle(tmp_path)
    assert d["blender"].startswith("5.0")
    checks.expect_lifecycle(d)


# ---------------------------------------------------------------------------
# source-registered add-on for operator tests
# ---------------------------------------------------------------------------


@pytest.fixture
def addon(ext, empty_scene):
    """Register the source tree with a preferences entry (as Blender does when enabling)."""
    prefs = bpy.context.preferences
    entry = prefs.addons.new()
    entry.module = ext.__name__
    ext.register()
    try:
        yield ext
    finally:
        ext.unregister()
        prefs.addons.remove(entry)
        assert checks.snapshot()["types"] == [] and not hasattr(bpy.types.Scene, "vanelia")


def _prefs(ext):
    return bpy.context.preferences.addons[ext.__name__].preferences


def test_preferences_and_url_rules(addon, tmp_path: Path) -> None:
    from importlib import import_module

    prefs_mod = import_module(f"{addon.__name__}.addon.preferences")
    p = _prefs(addon)
    assert type(p).__name__ == "VaneliaPreferences"
    root = p.shot_root_path()
    assert os.path.isdir(root) and root.startswith(bpy.utils.user_resource("EXTENSIONS"))
    p.shot_root = str(tmp_path)
    assert prefs_mod.sidecar_settings().shot_root == str(tmp_path)
    assert prefs_mod.check_sidecar_url("http://localhost:9/") == "http://localhost:9"
    assert prefs_mod.check_sidecar_url("http://[::1]:9") == "http://[::1]:9"
    assert bpy.app.online_access is False
    with pytest.raises(ValueError, match="Allow Online Access"):
        prefs_mod.check_sidecar_url("http://render-farm.example:8765")
    with pytest.raises(ValueError, match="not an http"):
        prefs_mod.check_sidecar_url("ftp://127.0.0.1/")
    p.sidecar_url = "http://127.0.0.1:9123"
    assert prefs_mod.sidecar_settings().launch_argv[-1] == "9123"
    p.sidecar_python = "/opt/py/bin/python"
    assert list(p.launch_argv()[:3]) == ["/opt/py/bin/python", "-m", "cli.main"]


def test_version_operators_50(addon, tmp_path: Path) -> None:
    checks.expect_operators(checks.operator_checks(tmp_path))


def test_setup_and_render_poll_and_errors(addon, tmp_path: Path) -> None:
    scene = bpy.context.scene
    s = scene.vanelia
    s.shot_dir = str(tmp_path / "shot")
    assert not bpy.ops.vanelia.setup_shot.poll()  # no plate, no product
    assert not bpy.ops.vanelia.render_shot.poll()  # no shot.json
    assert not bpy.ops.vanelia.send_to_sidecar.poll()
    s.plate_path = str(tmp_path / "missing.mp4")
    s.product_path = str(tmp_path / "missing.glb")
    assert bpy.ops.vanelia.setup_shot.poll()
    with pytest.raises(RuntimeError, match=r"missing\.mp4: file not found"):
        bpy.ops.vanelia.setup_shot("INVOKE_DEFAULT")
    # a real plate but a corrupt GLB: the message names the GLB, the shot folder stays empty
    for f in (1, 2):
        checks.write_png(tmp_path / "plate" / f"{f:06d}.png", 32, 24, (90, 90, 90))
    (tmp_path / "bad.glb").write_bytes(b"not a glb at all")
    s.plate_path, s.product_path = str(tmp_path / "plate"), str(tmp_path / "bad.glb")
    with pytest.raises(RuntimeError, match=r"bad\.glb"):
        bpy.ops.vanelia.setup_shot()
    assert not (tmp_path / "shot" / "shot.json").exists()
    # a broken shot.json: render is offered, and its error says what is wrong
    (tmp_path / "shot").mkdir(exist_ok=True)
    (tmp_path / "shot" / "shot.json").write_text("{broken")
    assert bpy.ops.vanelia.render_shot.poll()
    with pytest.raises(RuntimeError, match=r"shot\.json: not valid JSON"):
        bpy.ops.vanelia.render_shot()
    assert scene.vanelia.task_state == ""  # no task was started


def test_send_to_sidecar_errors(addon, tmp_path: Path) -> None:
    scene = bpy.context.scene
    shot = checks.make_shot(tmp_path)
    (shot / "shot.json").write_text("{}")
    scene.vanelia.shot_dir = str(shot)
    assert bpy.ops.vanelia.send_to_sidecar.poll()
    p = _prefs(addon)
    p.sidecar_mode = "CONNECT"
    p.sidecar_url = "http://203.0.113.7:8765"  # not this machine, online access off
    with pytest.raises(RuntimeError, match="Allow Online Access"):
        bpy.ops.vanelia.send_to_sidecar()
    p.sidecar_url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    with pytest.raises(RuntimeError, match="not running or unreachable"):
        bpy.ops.vanelia.send_to_sidecar()
    assert scene.vanelia.task_state == "failed" and "unreachable" in scene.vanelia.progress_text
    with pytest.raises(RuntimeError, match="not running or unreachable"):
        bpy.ops.vanelia.sidecar_check()
    assert not bpy.ops.vanelia.cancel.poll()  # nothing running


# ---------------------------------------------------------------------------
# the non-blocking runner (timers + worker thread), driven tick by tick
# ---------------------------------------------------------------------------


def _tasks(ext):
    from importlib import import_module

    return import_module(f"{ext.__name__}.addon.tasks")


def test_step_task_progress_and_cancel(addon) -> None:
    tasks = _tasks(addon)
    scene = bpy.context.scene
    closed = []

    def steps():
        try:
            for i in range(100):
                yield tasks.Progress(i + 1, 100, f"frame {i + 1}")
        finally:
            closed.append(True)

    task = tasks.run_steps("render", scene, steps(), blocking=False)
    assert bpy.app.timers.is_registered(task._timer)
    assert task._timer() == tasks.TICK_S and task._timer() == tasks.TICK_S  # two timer ticks
    assert scene.vanelia.task_state == "running" and scene.vanelia.progress == pytest.approx(0.02)
    assert scene.vanelia.progress_text == "frame 2"
    assert bpy.ops.vanelia.cancel.poll()
    with pytest.raises(RuntimeError, match="busy with a render task"):
        tasks.run_steps("render", scene, iter(()), blocking=False)  # one task per scene
    assert bpy.ops.vanelia.cancel() == {"FINISHED"}
    assert task._timer() is None  # the next tick ends it
    assert closed == [True] and task.state == "cancelled" and scene.vanelia.task_state == "cancelled"
    bpy.app.timers.unregister(task._timer) if bpy.app.timers.is_registered(task._timer) else None


def test_step_task_failure_is_reported(addon) -> None:
    tasks = _tasks(addon)
    scene = bpy.context.scene

    def steps():
        yield tasks.Progress(1, 2, "one")
        raise ValueError("frame 2: disk full")

    task = tasks.run_steps("render", scene, steps(), blocking=True)
    assert task.state == "failed" and task.error == "frame 2: disk full"
    assert scene.vanelia.task_state == "failed" and scene.vanelia.progress_text == "frame 2: disk full"


def test_worker_task_never_blocks_and_finishes_on_main_thread(addon) -> None:
    tasks = _tasks(addon)
    scene = bpy.context.scene
    release = threading.Event()
    seen = {}

    def work(rep):
        seen["worker_thread"] = threading.current_thread().name
        rep.report(1, 3, "submitted")
        release.wait(5)
        rep.report(3, 3, "finished")
        return {"version": "v007"}

    def on_done(task):
        seen["done_thread"] = threading.current_thread() is threading.main_thread()
        seen["result"] = task.result

    t0 = time.monotonic()
    task = tasks.run_worker("sidecar", scene, work, on_done, blocking=False)
    assert time.monotonic() - t0 < 1.0  # returned while the worker waits
    deadline = time.monotonic() + 5
    while scene.vanelia.progress_text != "submitted" and time.monotonic() < deadline:
        assert task._timer() == tasks.POLL_S
        time.sleep(0.01)
    assert scene.vanelia.progress == pytest.approx(1 / 3) and task.running
    release.set()
    while task._timer() is not None:
        time.sleep(0.01)
    assert task.state == "done" and seen["result"] == {"version": "v007"} and seen["done_thread"] is True
    assert seen["worker_thread"].startswith("vanelia-")
    assert scene.vanelia.task_state == "done" and scene.vanelia.progress == 1.0


def test_worker_cancel(addon) -> None:
    tasks = _tasks(addon)
    scene = bpy.context.scene

    def work(rep):
        while True:
            rep.check()
            time.sleep(0.01)

    task = tasks.run_worker("sidecar", scene, work, blocking=False)
    tasks.cancel(scene)
    deadline = time.monotonic() + 5
    while task._timer() is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert task.state == "cancelled" and scene.vanelia.task_state == "cancelled"


# ---------------------------------------------------------------------------
# send to a real sidecar on loopback -> new version in the sequencer
# ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_send_starts_local_sidecar_and_loads_result(addon, tmp_path: Path) -> None:
    """LOCAL mode: the worker starts the sidecar from the preferences' launch command, the
    job runs, the new version appears beside the plate; disabling stops the sidecar."""
    from importlib import import_module

    from server.bench import make_shot

    sidecar_process = import_module(f"{addon.__name__}.addon.process_manager")
    root = tmp_path / "shots"
    shot = make_shot(root / "shot_a", frames=3, width=48, height=32)
    scene = bpy.context.scene
    scene.vanelia.shot_dir = str(shot)
    scene.vanelia.stages = {"composite"}
    p = _prefs(addon)
    p.sidecar_mode, p.sidecar_autostart = "LOCAL", True
    p.sidecar_url = f"http://127.0.0.1:{_free_port()}"
    p.sidecar_python = sys.executable
    p.sidecar_command = f"vanelia serve --host 127.0.0.1 --port {{port}} --data-dir {tmp_path / 'data'}"
    p.shot_root = str(root)
    assert bpy.ops.vanelia.send_to_sidecar("INVOKE_DEFAULT") == {"FINISHED"}  # blocking headless
    s = scene.vanelia
    assert s.task_state == "done", s.progress_text
    assert s.version == "v001" and s.job_id and "loaded into the sequencer" in s.progress_text
    started = sidecar_process.started_process()
    assert started is not None and started.running and str(root) in started.argv
    proc = started.proc
    assert bpy.ops.vanelia.sidecar_check() == {"FINISHED"}
    assert s.task_state == "done" and "protocol 1" in s.progress_text
    strips = {st.get("vanelia_role"): st for st in scene.sequence_editor.strips_all}
    assert set(strips) == {"plate", "version"}
    v = strips["version"]
    assert v["vanelia_version"] == "v001" and v.channel == 2 and v.frame_final_duration == 3
    assert json.loads(v["vanelia_params_json"]), "the version's params.json is stamped on the strip"
    assert sorted(os.listdir(Path(shot) / "v001" / "frames")) == ["000001.png", "000002.png", "000003.png"]

    # a changed preference restarts the sidecar Blender started, with the new setting
    other_root = tmp_path / "other_root"
    other_root.mkdir()
    p.shot_root = str(other_root)  # the update callback restarts it (in a thread)
    restarted = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        restarted = sidecar_process.started_process()
        if restarted is not None and restarted is not started and restarted.running and str(other_root) in restarted.argv:
            break
        time.sleep(0.2)
    assert restarted is not None and restarted is not started and str(other_root) in restarted.argv
    assert proc.poll() is not None  # the old one is gone

    # the shot now lies outside the sidecar's shot roots: the one upload rule sends it,
    # and the results come back into the next local version
    assert bpy.ops.vanelia.send_to_sidecar("INVOKE_DEFAULT") == {"FINISHED"}
    assert s.task_state == "done", s.progress_text
    assert s.version == "v002" and sorted(os.listdir(Path(shot) / "v002" / "frames")) == ["000001.png", "000002.png", "000003.png"]
    assert not list(other_root.iterdir()) or not (other_root / "shot_a").exists()  # nothing written beside the roots

    # disabling the add-on stops the sidecar it started
    proc = restarted.proc
    addon.unregister()
    assert proc.poll() is not None and sidecar_process.started_process() is None


# ---------------------------------------------------------------------------
# set up + render through the operators; the UI path renders one frame per tick
# ---------------------------------------------------------------------------


def panel_shot(demo: Any, tmp_path: Path, tilt_deg: float, cover_m: float = 0.0) -> tuple[Path, Any]:
    """A 3-frame 64x36 shot set up through the panel's operator: a generated bottle stood at the
    origin, seen by a scene camera 3 m back and 1 m up, tilted ``tilt_deg`` from looking down.
    Returns the shot folder and the artist's scene it was set up from."""
    import math

    glb = tmp_path / "product.glb"
    demo.make_product(glb)  # generated PBR bottle (resets the scene)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    for f in (1, 2, 3):
        checks.write_png(tmp_path / "plate" / f"{f:06d}.png", 64, 36, (120, 130, 140))
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = (0.0, -3.0, 1.0), (math.radians(tilt_deg), 0.0, 0.0)
    s = scene.vanelia
    shot = tmp_path / "shot"
    s.shot_dir, s.plate_path, s.product_path = str(shot), str(tmp_path / "plate"), str(glb)
    s.camera_source, s.camera_object = "SCENE", cam
    s.placement, s.product_location, s.samples = "EXPLICIT", (0.0, 0.0, 0.0), 1
    s.ground_cover_m = cover_m
    assert bpy.ops.vanelia.setup_shot() == {"FINISHED"}
    return shot, scene


def test_the_panels_ground_cover_is_the_shots(addon, tmp_path: Path) -> None:
    """The Setup box's ground cover goes into shot.json (ground.cover_m), where the stages read it."""
    from importlib import import_module

    demo = import_module(f"{addon.__name__}.addon.demo_scene")
    import numpy as np

    product = import_module(f"{addon.__name__}.addon.product")
    shot_mod = import_module(f"{addon.__name__}.addon.shot")
    shot, _scene = panel_shot(demo, tmp_path, tilt_deg=80.0, cover_m=0.05)
    saved = json.loads((shot / "shot.json").read_text())["ground"]
    assert saved["cover_m"] == pytest.approx(0.05)
    scene = shot_mod.shot_scene.scene_of(shot)
    catcher = shot_mod.shot_scene.find(scene, product.GROUND_NAME)
    lift = (np.asarray(catcher.matrix_world.translation) - np.asarray(saved["point"])) @ np.asarray(saved["normal"])
    assert lift == pytest.approx(0.4 * 0.05, abs=1e-6)  # on the grass, not the soil


def test_setup_and_render_operators_frame_by_frame(addon, tmp_path: Path) -> None:
    import math
    from importlib import import_module

    demo = import_module(f"{addon.__name__}.addon.demo_scene")
    render_ops = import_module(f"{addon.__name__}.operators.render")
    shot_mod = import_module(f"{addon.__name__}.addon.shot")
    tasks = _tasks(addon)
    shot, scene = panel_shot(demo, tmp_path, tilt_deg=80.0)
    s = scene.vanelia
    saved = json.loads((shot / "shot.json").read_text())
    assert saved["frames"] == [1, 2, 3] and saved["resolution"] == [64, 36] and saved["product"]["placement"] == "explicit"
    # the shot was built in its own scene, which the window now shows; the artist's scene kept only its camera
    user_scene, scene = scene, shot_mod.shot_scene.scene_of(shot)
    assert scene is not None and scene != user_scene and [o.name for o in user_scene.objects] == ["Cam"]
    assert bpy.context.scene == scene and scene.vanelia.plate_path == s.plate_path
    s = scene.vanelia

    # UI path: a timer tick per frame, cancel between frames keeps the finished one
    job = shot_mod.ShotRenderer(str(shot), scene)
    task = tasks.run_steps("render", scene, render_ops.render_steps(job), blocking=False)
    assert task._timer() == tasks.TICK_S and s.progress_text == "starting"
    assert task._timer() == tasks.TICK_S
    assert (shot / "render" / "000001.exr").is_file() and not (shot / "render" / "000002.exr").exists()
    assert s.progress == pytest.approx(1 / 3) and s.progress_text.startswith("frame 1 in")
    assert bpy.ops.vanelia.cancel() == {"FINISHED"}
    assert task._timer() is None and s.task_state == "cancelled"
    assert not (shot / "render" / "000002.exr").exists()

    # headless operator: blocking, frame 1 is unchanged and skipped
    assert bpy.ops.vanelia.render_shot.poll()
    assert bpy.ops.vanelia.render_shot() == {"FINISHED"}
    assert s.task_state == "done" and tasks.get(scene).result == [2, 3]
    assert sorted(os.listdir(shot / "render")) == ["000001.exr", "000002.exr", "000003.exr"]


def test_key_from_shadow_points_the_key_and_keeps_it_in_shot_json(addon, tmp_path: Path) -> None:
    """The Light box's Key From Shadow, typed as headless runs it: a 0.4 m pole's foot, top and
    shadow tip in frame 2 point the shot's key along the sun that cast it; its strength is
    rescaled so the plate's lit ground stays as bright (sin of the elevation); shot.json keeps
    it as the artist's light with the measurement in its notes. A pick the shot cannot measure
    is an error report and changes nothing. Clicks map to plate pixels through the camera
    frame as the viewport draws it."""
    import math
    from importlib import import_module

    import numpy as np

    demo = import_module(f"{addon.__name__}.addon.demo_scene")
    light_ops = import_module(f"{addon.__name__}.operators.light")
    shot, _user_scene = panel_shot(demo, tmp_path, tilt_deg=75.0)
    before = json.loads((shot / "shot.json").read_text())
    key = bpy.context.scene.objects["Vanelia Key"]
    energy = key.data.energy
    sin_old = float(np.asarray(before["lighting"]["lights"][0]["direction"]) @ [0, 0, 1])
    view = before["camera"]["frames"]["2"]
    c2w = np.asarray(view["c2w"])
    e, a = math.radians(35.0), math.radians(-60.0)
    light = np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
    foot = np.array([0.3, 0.4, 0.0])
    top = foot + [0.0, 0.0, 0.4]
    px = []
    for p in (foot, top, top - light * (0.4 / light[2])):
        q = (p - c2w[:3, 3]) @ c2w[:3, :3]
        px.append((view["fx"] * q[0] / q[2] + view["cx"], view["fy"] * q[1] / q[2] + view["cy"]))
    assert all(0 < x < 64 and 0 < y < 36 for x, y in px)
    pick = "2:" + ":".join(f"{x:.4f},{y:.4f}" for x, y in px)
    assert bpy.ops.vanelia.key_from_shadow(pick=pick) == {"FINISHED"}
    after = json.loads((shot / "shot.json").read_text())["lighting"]
    direction = np.asarray(after["lights"][0]["direction"])
    assert after["method"] == "user" and "key from the shadow picked in frame 2: elevation 35 deg" in after["notes"]
    assert math.degrees(math.acos(min(1.0, float(direction @ light)))) < 0.5
    assert key.data.energy == pytest.approx(energy * sin_old / math.sin(e), rel=1e-3)
    with pytest.raises(RuntimeError, match="frame 9 is not one of the shot's frames"):
        bpy.ops.vanelia.key_from_shadow(pick="9" + pick[1:])
    assert json.loads((shot / "shot.json").read_text())["lighting"] == after
    corners = [(300.0, 250.0), (300.0, 70.0), (40.0, 70.0), (40.0, 250.0)]  # the frame in the region, y up
    assert light_ops.region_to_plate((40.0, 250.0), corners, (64, 36)) == (0.0, 0.0)  # top-left corner
    assert light_ops.region_to_plate((170.0, 160.0), corners, (64, 36)) == pytest.approx((32.0, 18.0))
    assert light_ops.region_to_plate((20.0, 160.0), corners, (64, 36)) is None  # beside the frame
    bpy.data.objects.remove(key)  # a shot whose light placed no key and measured none: the pick goes to the CLI
    with pytest.raises(RuntimeError, match="vanelia render --key-from-shadow"):
        bpy.ops.vanelia.key_from_shadow(pick=pick)
    assert json.loads((shot / "shot.json").read_text())["lighting"] == after
    # one the plate measured but could not direct (banded ground): placed at the pick, with the
    # strength that makes the plate's lit/shadow ratio there
    doc = json.loads((shot / "shot.json").read_text())
    doc["lighting"].update(lights=[], unplaced_key={"ratio": [3.0, 2.8, 2.2], "ambient": [0.8, 0.9, 1.1], "angle_deg": 2.5})
    (shot / "shot.json").write_text(json.dumps(doc))
    assert bpy.ops.vanelia.key_from_shadow(pick=pick) == {"FINISHED"}
    placed = json.loads((shot / "shot.json").read_text())["lighting"]
    sun = bpy.context.scene.objects["Vanelia Key"]
    assert len(placed["lights"]) == 1 and placed["method"] == "user" and "key placed in Blender" in placed["notes"]
    assert math.degrees(math.acos(min(1.0, float(np.asarray(placed["lights"][0]["direction"]) @ light)))) < 0.5
    light_colour = import_module(f"{addon.__name__}.shotcache.key_strength").light_colour  # green kept between red and blue
    assert sun.data.energy == pytest.approx(max(light_colour([2.0 * 0.8, 1.8 * 0.9, 1.2 * 1.1])) / math.sin(e), rel=1e-3)
    assert sun.data.angle == pytest.approx(math.radians(2.5)) and placed["shadow_ratio"] == pytest.approx([1 / 3.0, 1 / 2.8, 1 / 2.2])


def test_panels_reference_real_properties_and_operators(addon) -> None:
    """Panels can't draw headless; check every name they draw exists (a typo there only
    shows up as a broken sidebar in the UI)."""
    import ast

    tree = ast.parse((ROOT / "panels" / "sidebar.py").read_text())
    settings_props = set(bpy.context.scene.vanelia.bl_rna.properties.keys())
    props, ops, native = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            first = node.args[0]
            if node.func.attr == "prop" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                if isinstance(first, ast.Name) and first.id == "s":  # the scene's Vanelia settings
                    props.add(node.args[1].value)
                else:  # the Light and Render boxes edit Blender's own light, world and render data
                    native.add(node.args[1].value)
            if node.func.attr == "operator" and isinstance(first, ast.Constant):
                ops.add(first.value)
    assert props and ops
    assert props - settings_props == set()
    rna = set(bpy.types.SunLight.bl_rna.properties.keys()) | set(bpy.types.AreaLight.bl_rna.properties.keys()) \
        | set(bpy.types.NodeSocketFloat.bl_rna.properties.keys()) \
        | set(bpy.types.RenderSettings.bl_rna.properties.keys())  # the Render box: the shot's motion blur
    assert native and native - rna == set(), native - rna
    for idname in ops:
        group, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, group), name), idname
    for space in ("view3d", "sequencer"):
        for part in ("main", "shot", "light", "render", "sidecar", "results"):
            cls = getattr(bpy.types, f"VANELIA_PT_{space}_{part}")
            assert cls.bl_category == "Vanelia" and cls.bl_region_type == "UI"


def test_zip_holds_tracked_files_only(tmp_path: Path) -> None:
    """A stray shot folder and an untracked .blend in the checkout stay out of the zip."""
    import subprocess
    import zipfile

    sys.path.insert(0, str(ROOT / "scripts"))
    import build_extension

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    build_extension.stage(tmp_path / "wt", ROOT)  # this checkout's tracked files, as edited now
    subprocess.run(["cp", "-a", f"{tmp_path / 'wt'}/.", str(clone)], check=True)
    (clone / "shot" / "render").mkdir(parents=True)
    (clone / "shot" / "render" / "000001.exr").write_bytes(b"\0" * 200_000)
    (clone / "addon" / "scratch.blend").write_bytes(b"BLENDER" + b"\0" * 1000)
    zip_path = build_extension.build(tmp_path / "dist", root=clone)
    names = zipfile.ZipFile(zip_path).namelist()
    assert "addon/render.py" in names and "blender_manifest.toml" in names
    assert not [n for n in names if n.startswith("shot/") or n.endswith(".blend")], names
    assert zip_path.stat().st_size < 1_000_000
    with pytest.raises(build_extension.BuildError, match="not a git checkout"):
        build_extension.build(tmp_path / "dist2", root=tmp_path / "wt")
