"""Drive Vanelia's panels through the artist's loop in a real Blender window (under Xvfb).

Run by tests/binary/test_gui.py as
``blender user.blend --python tests/binary/gui_loop.py -- OUT DEMO SIDECAR_PYTHON``.
Each step runs from a ``bpy.app.timers`` callback (so the UI redraws and background tasks
advance between steps), calls the same operators a click would (with the 3D view's sidebar
as context), waits for the task it started, and saves a screenshot of the whole screen
(``import -window root``). ``OUT/steps.json`` records what each step saw, for the test to
check; the script quits Blender at the end.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import bpy

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from blender_env import load_extension  # noqa: E402

ARGS = sys.argv[sys.argv.index("--") + 1 :]
OUT, DEMO, SIDECAR_PY = Path(ARGS[0]), Path(ARGS[1]), ARGS[2]
LOG: list[dict[str, Any]] = []
T0 = time.monotonic()
ext = load_extension()


def record(step: str, **info: Any) -> None:
    LOG.append({"step": step, "t": round(time.monotonic() - T0, 1), **info})
    (OUT / "steps.json").write_text(json.dumps(LOG, indent=1, default=str))
    print(f"[gui] {step} {info}", flush=True)


def screenshot(name: str) -> str:
    path = OUT / f"{name}.png"
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=60)
    return str(path)


def areas(kind: str) -> tuple[Any, Any, Any]:
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == kind)
    region = next(r for r in area.regions if r.type == "UI")
    return window, area, region


def op(name: str, kind: str = "VIEW_3D", **kw: Any) -> list[str]:
    """Call ``bpy.ops.vanelia.<name>`` as a click in that editor's Vanelia tab would."""
    window, area, region = areas(kind)
    with bpy.context.temp_override(window=window, area=area, region=region, scene=window.scene):
        fn = getattr(bpy.ops.vanelia, name)
        if not fn.poll():
            return ["POLL_FAILED"]
        try:
            return sorted(fn("INVOKE_DEFAULT", **kw))
        except RuntimeError as exc:  # an ERROR report raises when called from Python
            return [f"ERROR: {str(exc).strip()}"]


def scene() -> Any:
    return bpy.context.window_manager.windows[0].scene


def task_state() -> str:
    return str(scene().vanelia.task_state) if hasattr(scene(), "vanelia") else ""


def show_tab(region: Any) -> None:
    try:
        region.active_panel_category = "Vanelia"  # the sidebar's Vanelia tab (4.2+)
    except (AttributeError, TypeError):
        pass
    region.tag_redraw()


# ---------------------------------------------------------------------------
# steps: each returns None when done, or seconds after which to call it again
# ---------------------------------------------------------------------------


def setup_ui() -> None:
    prefs = bpy.context.preferences
    entry = prefs.addons.new()
    entry.module = ext.__name__
    ext.register()
    p = entry.preferences
    p.sidecar_python = SIDECAR_PY
    p.shot_root = str(OUT / "shots")
    port = 20000 + os.getpid() % 20000
    p.sidecar_url = f"http://127.0.0.1:{port}"
    p.sidecar_command = "vanelia serve --host 127.0.0.1 --port {port} --data-dir " + str(OUT / "sidecar-data")
    window, area, region = areas("VIEW_3D")
    area.spaces.active.show_region_ui = True
    show_tab(region)
    scene().vanelia.shot_dir = str(OUT / "shots" / "demo")
    record("setup", user_scene=scene().name, user_objects=sorted(o.name for o in scene().objects),
           category=getattr(region, "active_panel_category", "?"))


def empty_panel() -> None:
    window, area, region = areas("VIEW_3D")
    show_tab(region)  # the tabs exist once the sidebar has been drawn
    with bpy.context.temp_override(window=window, area=area, region=region):
        polls = {n: getattr(bpy.ops.vanelia, n).poll() for n in ("track", "setup_shot", "render_shot", "send_to_sidecar")}
    record("empty_panel", polls=polls, category=region.active_panel_category)


def bad_track() -> None:
    """Footage that is not a video: the tracker fails in the background; the failure must
    reach the status bar and the panel."""
    bad = OUT / "not_a_video.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    scene().vanelia.plate_path = str(bad)
    record("bad_track_started", result=op("track"))


def missing_footage() -> None:
    scene().vanelia.plate_path = str(OUT / "missing.mp4")
    record("missing_footage", result=op("track"))


def start_track() -> None:
    scene().vanelia.plate_path = str(DEMO / "plate.mp4")
    record("track_started", result=op("track"), state=task_state())


_shots_taken: set[str] = set()
RUNNING_SHOT_AFTER_S = 1.5
"""How long a task runs before its progress is shot: the panel has redrawn its progress by then.
It was 5 s, and on a lightly loaded machine the demo's tracking finished first (no
03_tracking_progress: the GUI test failed in a clean-clone CI run of stop 61, with no change on
the Blender side)."""


def wait_task(name: str, shot_while_running: str | None = None, limit_s: float = 400.0) -> Callable[[], float | None]:
    start: list[float] = []

    def step() -> float | None:
        start[:] = start or [time.monotonic()]
        state = task_state()
        if state == "running":
            if shot_while_running and time.monotonic() - start[0] > RUNNING_SHOT_AFTER_S and shot_while_running not in _shots_taken:
                _shots_taken.add(shot_while_running)
                record(f"{name}_running", progress=scene().vanelia.progress_text, png=screenshot(shot_while_running))
            if time.monotonic() - start[0] > limit_s:
                op("cancel")
                raise TimeoutError(f"{name} did not finish in {limit_s} s")
            return 1.0
        record(f"{name}_done", state=state, text=scene().vanelia.progress_text)
        return None

    return step


def track_qc() -> None:
    s = scene().vanelia
    record("track_qc", camera_source=s.camera_source, track=s.camera_track_path)


def setup_shot() -> None:
    s = scene().vanelia
    s.product_path = str(DEMO / "product.glb")
    s.placement = "GIZMO"
    s.frame_start, s.frame_end = 1, 4
    s.samples = 8
    user = scene()
    res = op("setup_shot")
    now = scene()
    record("setup_shot", result=res, user_scene=user.name, shot_scene=now.name,
           user_objects=sorted(o.name for o in user.objects), shot_objects=sorted(o.name for o in now.objects))


def place_and_preview() -> None:
    res_place = op("place_product")
    root = bpy.context.view_layer.objects.active
    moved = None
    if root is not None and root.name.startswith("Vanelia Product"):
        root.location.x += 0.15  # what dragging the Move gizmo does
        moved = list(root.location)
    key = next((o for o in scene().objects if o.name == "Vanelia Key" and o.type == "LIGHT"), None)
    if key is not None:
        key.data.energy = 5.5  # what the Light box's Strength field does
    res_prev = op("preview")
    window, area, region = areas("VIEW_3D")
    record("place_preview", place=res_place, preview=res_prev, active=getattr(root, "name", None), moved=moved,
           shading=area.spaces.active.shading.type)


def shot(name: str, wait_s: float = 0.0) -> Callable[[], float | None]:
    """A step that takes a screenshot, after the UI redrew what the previous step did."""
    waited: list[bool] = []

    def step() -> float | None:
        if wait_s and not waited:
            waited.append(True)
            return wait_s
        record(f"shot {name}", png=screenshot(name))
        return None

    return step


def render() -> None:
    record("render_started", result=op("render_shot"), state=task_state())


def send(seed: int, relight: bool = False) -> Callable[[], None]:
    def step() -> None:
        s = scene().vanelia
        s.seed = seed
        if relight:  # a second version that looks different: relit by the estimated light
            s.stages = {"relight", "composite"}
            s.relight_engine = "lambert"
        record("send_started", seed=seed, result=op("send_to_sidecar"), state=task_state())

    return step


def to_sequencer() -> None:
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    area.ui_type = "SEQUENCE_EDITOR"  # the artist's sequencer, with its own Vanelia tab
    space = area.spaces.active
    space.view_type = "SEQUENCER_PREVIEW"
    space.show_region_ui = True


def versions_ab() -> None:
    window, area, region = areas("SEQUENCE_EDITOR")
    show_tab(region)
    loaded = op("load_version", kind="SEQUENCE_EDITOR", version="")
    ab = op("compare_versions", kind="SEQUENCE_EDITOR")
    sc = window.scene
    compat = importlib.import_module(f"{ext.__name__}.addon.compat")
    strips = sorted((s.name, s.channel, str(s.get("vanelia_role", ""))) for s in compat.sequencer_strips_all(sc))
    sc.frame_current = 2
    record("versions_ab", loaded=loaded, ab=ab, strips=strips)


def finish() -> None:
    record("finish")
    try:
        ext.unregister()  # stops the sidecar this Blender started
    finally:
        bpy.ops.wm.quit_blender()


STEPS: list[Callable[[], float | None]] = [
    setup_ui, empty_panel, shot("01_panel_empty"), missing_footage, bad_track, wait_task("bad_track"),
    shot("02_error_in_status_bar"), start_track,
    wait_task("track", shot_while_running="03_tracking_progress"),
    track_qc, shot("04_track_qc_graph"), setup_shot, place_and_preview, shot("05_preview_eevee_over_plate", wait_s=8.0), render,
    wait_task("render", shot_while_running="06_rendering_progress", limit_s=300),
    send(1), wait_task("send1", limit_s=300),
    send(2, relight=True), wait_task("send2", limit_s=300),
    to_sequencer, versions_ab, shot("07_versions_ab_in_sequencer", wait_s=2.0),
]


def runner() -> float | None:
    """One step per call; a step returning seconds is called again after that long."""
    if not STEPS:
        finish()
        return None
    try:
        again = STEPS[0]()
    except Exception as exc:
        traceback.print_exc()
        record("error", error=f"{type(exc).__name__}: {exc}", png=screenshot("99_error"))
        STEPS.clear()
        return 0.5
    if again is None:
        STEPS.pop(0)
        return 1.5
    return again


OUT.mkdir(parents=True, exist_ok=True)
bpy.app.timers.register(runner, first_interval=3.0)
