"""Key From Shadow clicked in a real Blender window (under Xvfb, events simulated).

Run by tests/binary/test_gui.py as
``blender --enable-event-simulate --python tests/binary/key_pick_gui.py -- OUT DEMO``.
Sets up the demo shot, looks through its camera, starts the operator from the Light box as a
click would, and clicks three points: the foot, the top and the shadow tip of a pole that a
known sun (35 deg up) would cast beside the product, each projected through the frame's
solved camera into the plate and from there into the viewport's camera frame. The operator
must turn those clicks back into the plate's pixels (operators/light.py) and the sun's
direction. ``OUT/steps.json`` records what each step saw; a screenshot shows the panel.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import bpy
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from blender_env import load_extension  # noqa: E402

ARGS = sys.argv[sys.argv.index("--") + 1 :]
OUT, DEMO = Path(ARGS[0]), Path(ARGS[1])
LOG: list[dict[str, Any]] = []
ext = load_extension()
SUN = (35.0, -50.0)  # elevation, azimuth (deg) of the sun whose shadow is clicked
STATE: dict[str, Any] = {}


def record(step: str, **info: Any) -> None:
    LOG.append({"step": step, **info})
    (OUT / "steps.json").write_text(json.dumps(LOG, indent=1, default=str))
    print(f"[gui] {step} {info}", flush=True)


def view3d() -> tuple[Any, Any, Any]:
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    return window, area, next(r for r in area.regions if r.type == "WINDOW")


def setup() -> None:
    prefs = bpy.context.preferences
    entry = prefs.addons.new()
    entry.module = ext.__name__
    ext.register()
    s = bpy.context.window_manager.windows[0].scene.vanelia
    s.shot_dir = str(OUT / "shot")
    s.plate_path, s.product_path = str(DEMO / "plate.mp4"), str(DEMO / "product.glb")
    s.camera_source, s.camera_track_path = "FILE", str(DEMO / "transforms.json")
    s.frame_start, s.frame_end, s.samples = 1, 3, 1
    window, area, region = view3d()
    with bpy.context.temp_override(window=window, area=area, region=region):
        res = bpy.ops.vanelia.setup_shot()
    record("setup", result=sorted(res))


def look_through_camera() -> None:
    window, area, region = view3d()
    area.spaces.active.region_3d.view_perspective = "CAMERA"
    area.spaces.active.show_region_ui = True
    ui = next(r for r in area.regions if r.type == "UI")
    try:
        ui.active_panel_category = "Vanelia"  # the Light box, with the button and the notes
    except (AttributeError, TypeError):
        pass
    ui.tag_redraw()
    window.scene.frame_set(2)
    record("camera_view", scene=window.scene.name)


def clicks() -> list[tuple[float, float]]:
    """Window pixels of the pole's foot, top and shadow tip in the viewport's camera frame."""
    window, area, region = view3d()
    shot = json.loads((OUT / "shot" / "shot.json").read_text())
    view = shot["camera"]["frames"]["2"]
    c2w = np.asarray(view["c2w"])
    n = np.asarray(shot["ground"]["normal"], float)
    foot = np.asarray(shot["product"]["matrix_world"], float)[:3, 3] + np.array([0.25, 0.0, 0.0])
    foot -= n * ((foot - np.asarray(shot["ground"]["point"], float)) @ n)
    e, a = (math.radians(v) for v in SUN)
    light = np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
    top = foot + 0.3 * n
    tip = top - light * (0.3 / float(light @ n))
    STATE["light"] = light
    from bpy_extras.view3d_utils import location_3d_to_region_2d

    cam = window.scene.camera
    corners = [location_3d_to_region_2d(region, area.spaces.active.region_3d, cam.matrix_world @ v)
               for v in cam.data.view_frame(scene=window.scene)]
    xs, ys = [c.x for c in corners], [c.y for c in corners]
    w, h = shot["resolution"]
    out = []
    for p in (foot, top, tip):
        q = (p - c2w[:3, 3]) @ c2w[:3, :3]
        u, v = (view["fx"] * q[0] / q[2] + view["cx"]) / w, (view["fy"] * q[1] / q[2] + view["cy"]) / h
        out.append((region.x + min(xs) + u * (max(xs) - min(xs)), region.y + max(ys) - v * (max(ys) - min(ys))))
    return out


def start_operator() -> None:
    window, area, region = view3d()
    ui = next(r for r in area.regions if r.type == "UI")
    try:
        ui.active_panel_category = "Vanelia"  # the tabs exist once the sidebar has been drawn
    except (AttributeError, TypeError):
        pass
    with bpy.context.temp_override(window=window, area=area, region=region):
        res = bpy.ops.vanelia.key_from_shadow("INVOKE_DEFAULT")
    STATE["clicks"] = clicks()
    record("started", result=sorted(res), clicks=STATE["clicks"], header=True, ui_region=ui.width > 1)


def click(i: int) -> Callable[[], None]:
    def step() -> None:
        window = bpy.context.window_manager.windows[0]
        x, y = STATE["clicks"][i]
        window.event_simulate(type="MOUSEMOVE", value="NOTHING", x=int(round(x)), y=int(round(y)))
        window.event_simulate(type="LEFTMOUSE", value="PRESS", x=int(round(x)), y=int(round(y)))
        window.event_simulate(type="LEFTMOUSE", value="RELEASE", x=int(round(x)), y=int(round(y)))
        record(f"click_{i}", at=(x, y))

    return step


def check() -> None:
    lit = json.loads((OUT / "shot" / "shot.json").read_text())["lighting"]
    d = np.asarray(lit["lights"][0]["direction"])
    off = math.degrees(math.acos(min(1.0, float(d @ STATE["light"]))))
    path = OUT / "key_from_shadow.png"
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=60)
    record("result", method=lit["method"], notes=lit["notes"], off_deg=off, png=str(path))


def finish() -> None:
    record("finish")
    ext.unregister()
    bpy.ops.wm.quit_blender()


STEPS: list[Callable[[], Any]] = [setup, look_through_camera, start_operator, click(0), click(1), click(2), check]


def runner() -> float | None:
    if not STEPS:
        finish()
        return None
    try:
        STEPS.pop(0)()
    except Exception as exc:
        traceback.print_exc()
        record("error", error=f"{type(exc).__name__}: {exc}")
        STEPS.clear()
    return 1.0


OUT.mkdir(parents=True, exist_ok=True)
T0 = time.monotonic()
bpy.app.timers.register(runner, first_interval=3.0)
