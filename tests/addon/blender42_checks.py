"""Extension and sequencer checks that run the same way on any Blender version.

Used two ways:
* in-process by the 5.0 tests (tests/addon/test_extension.py, test_sequencer.py import the
  functions and assert on what they return), and
* as a script under the Blender 4.2 ``bpy`` module (``.venv42/bin/python THIS WORKDIR``),
  run by tests/addon/test_blender42.py, which asserts on the JSON it prints last
  (one line starting with ``VANELIA_CHECKS``).

Everything is real: Blender's own extension CLI validates and builds the zip, the
extension operator installs it into the user repository, frames are real PNG files and
the sequencer result is checked by rendering the sequencer and reading the pixels back.
"""
from __future__ import annotations

import json
import os
import struct
import sys
import tempfile
import traceback
import zipfile
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXT_ID = "vanelia"
REPO = "user_default"
MODULE = f"bl_ext.{REPO}.{EXT_ID}"
ALLOWED_TOP = {"blender_manifest.toml", "__init__.py", "addon", "operators", "panels", "shotcache", "README.md", "LICENSE"}
FORBIDDEN_TOP = {"ml", "server", "cli", "app", "scripts", "tests", "requirements", ".venv", ".venv42", ".git", ".dev", ".ci"}

# colours of the generated frames (sRGB 8-bit), distinct per source
PLATE_RGB = (10, 20, 30)
VERSION_RGB = {"v001": (200, 40, 0), "v002": (0, 180, 60)}
SIZE = (32, 24)


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------


def write_png(path: Path, w: int, h: int, rgb: tuple[int, int, int]) -> None:
    """A real 8-bit RGB PNG (stdlib only: both Blender venvs can write it)."""
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def make_shot(root: Path) -> Path:
    """A shot folder with a 5-frame plate, v001 (frames 1-5) and v002 (2-8, frame 4 missing)."""
    shot = root / "shot_seq"
    for f in range(1, 6):
        write_png(shot / "plate" / f"{f:06d}.png", *SIZE, PLATE_RGB)
    frames = {"v001": [1, 2, 3, 4, 5], "v002": [2, 3, 5, 6, 7, 8]}
    for v, fs in frames.items():
        for f in fs:
            write_png(shot / v / "frames" / f"{f:06d}.png", *SIZE, VERSION_RGB[v])
        params = {"engines": {"composite": "classical"}, "version": v, "strength": 0.5, "frames": fs, "note": None}
        (shot / v / "params.json").write_text(json.dumps(params))
    (shot / "v003").mkdir()  # a version folder without frames: not listed
    return shot


# ---------------------------------------------------------------------------
# extension: validate, build, install, enable, disable
# ---------------------------------------------------------------------------


def build_zip(out_dir: Path, source: Path = ROOT) -> dict[str, Any]:
    """Blender's own validator and builder (bl_pkg), as `blender --command extension ...`,
    on the git-tracked files of ``source`` (scripts/build_extension.py stages them)."""
    from bl_pkg.bl_extension_cli import cli_extension_handler

    sys.path.insert(0, str(ROOT / "scripts"))
    import build_extension

    out_dir.mkdir(parents=True, exist_ok=True)
    staged = out_dir.parent / "staged"
    build_extension.stage(staged, source)
    validate_rc = cli_extension_handler(["validate", str(staged)])
    build_rc = cli_extension_handler(["build", "--source-dir", str(staged), "--output-dir", str(out_dir)])
    zips = sorted(out_dir.glob("*.zip"))
    names = zipfile.ZipFile(zips[0]).namelist() if zips else []
    return {"validate_rc": validate_rc, "build_rc": build_rc, "zip": str(zips[0]) if zips else "", "names": names}


def _handler_counts() -> dict[str, int]:
    import bpy

    out = {}
    for name in dir(bpy.app.handlers):
        value = getattr(bpy.app.handlers, name)
        if isinstance(value, list):
            out[name] = len(value)
    return out


def _vanelia_types() -> list[str]:
    import bpy

    return sorted(n for n in dir(bpy.types) if "vanelia" in n.lower())


def snapshot() -> dict[str, Any]:
    """What an add-on could leave behind: types, handlers, scene properties."""
    import bpy

    return {
        "types": _vanelia_types(),
        "handlers": _handler_counts(),
        "scene_prop": hasattr(bpy.types.Scene, "vanelia"),
    }


def install_enable(zip_path: str) -> dict[str, Any]:
    import bpy

    res = bpy.ops.extensions.package_install_files(filepath=zip_path, repo=REPO, enable_on_install=True)
    prefs = bpy.context.preferences
    enabled = MODULE in prefs.addons
    out: dict[str, Any] = {"install_result": sorted(res), "enabled": enabled, "types": _vanelia_types()}
    if not enabled:
        return out
    addon_prefs = prefs.addons[MODULE].preferences
    out["prefs_class"] = type(addon_prefs).__name__
    out["prefs_url"] = addon_prefs.sidecar_url
    out["cache_root"] = addon_prefs.shot_root_path()
    out["user_dir"] = bpy.utils.extension_path_user(MODULE)
    out["scene_prop"] = hasattr(bpy.context.scene, "vanelia")
    out["operators"] = sorted(n for n in dir(bpy.ops.vanelia))
    mod = sys.modules[MODULE]
    out["package_path"] = str(Path(mod.__file__).parent)
    return out


def run_a_task_with_timer() -> dict[str, Any]:
    """Start a non-blocking task (its timer registers even headless) so disable must remove it."""
    import bpy

    tasks = sys.modules[f"{MODULE}.addon.tasks"]

    def forever():
        while True:
            yield tasks.Progress(0, 1, "waiting")

    task = tasks.run_steps("probe", bpy.context.scene, forever(), blocking=False)
    return {"timer_registered": bpy.app.timers.is_registered(task._timer), "task": task}


def disable() -> dict[str, Any]:
    import addon_utils

    addon_utils.disable(MODULE, default_set=True)
    import bpy

    return {"enabled_after": MODULE in bpy.context.preferences.addons}


def extension_lifecycle(work: Path, source: Path = ROOT) -> dict[str, Any]:
    """Build -> install -> enable -> (task with timer) -> disable, with before/after snapshots."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    out: dict[str, Any] = {"blender": bpy.app.version_string}
    out["before"] = snapshot()
    out["build"] = build_zip(work / "dist", source)
    if not out["build"]["zip"]:
        return out
    out["install"] = install_enable(out["build"]["zip"])
    if out["install"].get("enabled"):
        probe = run_a_task_with_timer()
        task = probe.pop("task")
        out["probe"] = probe
        out["disable"] = disable()
        out["probe"]["timer_after"] = bpy.app.timers.is_registered(task._timer)
        out["probe"]["task_state_after"] = task.state
    out["after"] = snapshot()
    return out


# ---------------------------------------------------------------------------
# sequencer
# ---------------------------------------------------------------------------


def _render_pixel(scene: Any, frame: int, path: Path) -> list[int]:
    """Render the sequencer at ``frame`` and return the centre pixel (sRGB 0-255)."""
    import bpy

    scene.frame_set(frame)
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True, scene=scene.name)
    img = bpy.data.images.load(str(path))
    try:
        w, h = img.size
        px = list(img.pixels[:])
    finally:
        bpy.data.images.remove(img)
    i = ((h // 2) * w + w // 2) * 4
    return [round(v * 255) for v in px[i : i + 3]]


def sequencer_checks(seq: Any, work: Path) -> dict[str, Any]:
    """Load plate + v001, swap to v002 and back, with pixels read from sequencer renders.

    ``seq`` is the add-on's addon.sequencer module (installed or source-loaded).
    """
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = SIZE[0], SIZE[1], 100
    r.image_settings.file_format = "PNG"
    r.use_sequencer = True
    scene.view_settings.view_transform = "Standard"
    shot = make_shot(work)
    out: dict[str, Any] = {"versions": seq.list_versions(shot)}
    plate = seq.load_plate(scene, shot)
    strip = seq.load_version(scene, shot, "v001")
    out["plate"] = {"channel": plate.channel, "start": plate.frame_final_start, "duration": plate.frame_final_duration}
    out["v001"] = {
        "name": strip.name,
        "channel": strip.channel,
        "start": strip.frame_final_start,
        "duration": strip.frame_final_duration,
        "directory": strip.directory,
        "elements": [e.filename for e in strip.elements],
        "version": strip["vanelia_version"],
        "params": seq.strip_params(strip),
        "params_group_strength": strip["vanelia_params"]["strength"],
        "pixel_f3": _render_pixel(scene, 3, work / "r_v001.png"),
    }
    seq.swap_version(strip, shot, "v002")
    out["v002"] = {
        "same_strip": strip == seq.find_strips(scene, shot, "version")[0],
        "n_version_strips": len(seq.find_strips(scene, shot, "version")),
        "name": strip.name,
        "start": strip.frame_final_start,
        "duration": strip.frame_final_duration,
        "directory": strip.directory,
        "elements": [e.filename for e in strip.elements],
        "version": strip["vanelia_version"],
        "params_version": seq.strip_params(strip)["version"],
        "pixel_f3": _render_pixel(scene, 3, work / "r_v002.png"),
    }
    again = seq.load_version(scene, shot, "v001")
    out["reload"] = {
        "same_strip": again == strip,
        "n_strips": len(seq.find_strips(scene, shot)),
        "elements": [e.filename for e in strip.elements],
        "pixel_f3": _render_pixel(scene, 3, work / "r_v001b.png"),
    }
    strip.mute = True
    out["plate_pixel_f3"] = _render_pixel(scene, 3, work / "r_plate.png")
    try:
        seq.swap_version(strip, shot, "v003")
        out["swap_empty_error"] = ""
    except Exception as exc:
        out["swap_empty_error"] = str(exc)
    out["after_failed_swap"] = [e.filename for e in strip.elements]
    return out


# ---------------------------------------------------------------------------
# operators (registered add-on)
# ---------------------------------------------------------------------------


def operator_checks(work: Path) -> dict[str, Any]:
    """Polls and error paths of the version operators, headless (INVOKE runs execute)."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    out: dict[str, Any] = {}
    scene.vanelia.shot_dir = str(work / "no_such_shot")
    out["load_version_poll_empty"] = bpy.ops.vanelia.load_version.poll()
    out["load_plate_poll_empty"] = bpy.ops.vanelia.load_plate.poll()
    out["swap_poll_no_strip"] = bpy.ops.vanelia.swap_version.poll()
    out["cancel_poll_idle"] = bpy.ops.vanelia.cancel.poll()
    shot = make_shot(work / "ops")
    scene.vanelia.shot_dir = str(shot)
    out["load_version_poll"] = bpy.ops.vanelia.load_version.poll()
    try:
        bpy.ops.vanelia.load_version(version="v009")
        out["bad_version_error"] = ""
    except RuntimeError as exc:  # an operator reporting ERROR raises in background mode
        out["bad_version_error"] = str(exc)
    out["load_version"] = sorted(bpy.ops.vanelia.load_version("INVOKE_DEFAULT"))
    ed = scene.sequence_editor
    strips = list(ed.strips_all if hasattr(ed, "strips_all") else ed.sequences_all)
    out["strips"] = sorted((s.name, s.channel, s.get("vanelia_version", "")) for s in strips)
    out["scene_version"] = scene.vanelia.version
    vstrip = [s for s in strips if s.get("vanelia_role") == "version"][0]
    ed.active_strip = vstrip
    out["swap_poll"] = bpy.ops.vanelia.swap_version.poll()
    out["swap"] = sorted(bpy.ops.vanelia.swap_version(version="v001"))
    out["swapped_version"] = vstrip["vanelia_version"]
    return out


# ---------------------------------------------------------------------------
# expectations (shared by the 5.0 tests and the 4.2 test, which only has the JSON)
# ---------------------------------------------------------------------------


def expect_lifecycle(d: dict[str, Any]) -> None:
    b = d["build"]
    assert b["validate_rc"] == 0 and b["build_rc"] == 0 and b["zip"], b
    tops = {n.split("/", 1)[0] for n in b["names"]}
    assert tops & FORBIDDEN_TOP == set(), f"zip holds non-add-on folders: {sorted(tops & FORBIDDEN_TOP)}"
    assert tops <= ALLOWED_TOP, f"zip holds unexpected entries {sorted(tops - ALLOWED_TOP)}; exclude them in blender_manifest.toml"
    assert not [n for n in b["names"] if "__pycache__" in n or n.endswith(".pyc")]
    for needed in ("blender_manifest.toml", "__init__.py", "addon/sequencer.py", "operators/__init__.py", "panels/sidebar.py", "shotcache/schema.py"):
        assert needed in b["names"], needed
    inst = d["install"]
    assert inst["install_result"] == ["FINISHED"] and inst["enabled"], inst
    assert inst["prefs_class"] == "VaneliaPreferences" and inst["prefs_url"].startswith("http://127.0.0.1:")
    # writable data under the extension's user folder, not inside the installed package
    assert inst["cache_root"].startswith(inst["user_dir"]) and os.path.isdir(inst["cache_root"])
    assert not inst["cache_root"].startswith(inst["package_path"])
    assert inst["scene_prop"] is True
    for op in ("setup_shot", "render_shot", "key_from_shadow", "send_to_sidecar", "cancel", "load_version", "swap_version", "load_plate"):
        assert op in inst["operators"], op
    for pt in ("VANELIA_PT_view3d_main", "VANELIA_PT_sequencer_main", "VANELIA_PT_view3d_results", "VANELIA_PT_sequencer_sidecar"):
        assert pt in inst["types"], pt
    assert d["probe"]["timer_registered"] is True
    # disabled: nothing left behind
    assert d["disable"]["enabled_after"] is False
    assert d["probe"]["timer_after"] is False and d["probe"]["task_state_after"] == "cancelled"
    assert d["after"]["types"] == [] == d["before"]["types"], d["after"]["types"]
    assert d["after"]["handlers"] == d["before"]["handlers"]
    assert d["after"]["scene_prop"] is False


def expect_sequencer(d: dict[str, Any]) -> None:
    assert d["versions"] == ["v001", "v002"]  # v003 has no frames
    assert d["plate"] == {"channel": 1, "start": 1, "duration": 5}
    v1 = d["v001"]
    assert (v1["channel"], v1["start"], v1["duration"], v1["version"]) == (2, 1, 5, "v001")
    assert v1["directory"].rstrip("/\\").endswith(os.path.join("v001", "frames"))
    assert v1["params"]["strength"] == 0.5 and v1["params"]["note"] is None and v1["params_group_strength"] == 0.5
    assert v1["pixel_f3"] == list(VERSION_RGB["v001"])
    v2 = d["v002"]
    assert v2["same_strip"] and v2["n_version_strips"] == 1 and v2["name"].endswith("v002")
    # v002 has frames 2..8 without 4: seven timeline frames, frame 4 holds frame 3
    assert (v2["start"], v2["duration"]) == (2, 7)
    assert v2["elements"] == ["000002.png", "000003.png", "000003.png", "000005.png", "000006.png", "000007.png", "000008.png"]
    assert v2["version"] == v2["params_version"] == "v002"
    assert v2["pixel_f3"] == list(VERSION_RGB["v002"])
    r = d["reload"]
    assert r["same_strip"] and r["n_strips"] == 2 and len(r["elements"]) == 5
    assert r["pixel_f3"] == list(VERSION_RGB["v001"])  # the cache was invalidated on swap
    assert d["plate_pixel_f3"] == list(PLATE_RGB)
    assert "v003" in d["swap_empty_error"] and "no frames" in d["swap_empty_error"]
    assert len(d["after_failed_swap"]) == 5  # a failed swap changes nothing


def expect_operators(d: dict[str, Any]) -> None:
    assert d["load_version_poll_empty"] is False and d["load_plate_poll_empty"] is False
    assert d["swap_poll_no_strip"] is False and d["cancel_poll_idle"] is False
    assert d["load_version_poll"] is True
    assert "v009" in d["bad_version_error"] and "v001, v002" in d["bad_version_error"]
    assert d["load_version"] == ["FINISHED"]
    assert [list(s[1:]) for s in d["strips"]] == [[1, ""], [2, "v002"]] and d["scene_version"] == "v002"
    assert d["swap_poll"] is True and d["swap"] == ["FINISHED"] and d["swapped_version"] == "v001"


# ---------------------------------------------------------------------------
# a shot in its own scene, rolled back on failure (addon/shot_scene.py)
# ---------------------------------------------------------------------------


def shot_scene_checks(ext: Any, work: Path) -> dict[str, Any]:
    """From Blender's default scene (Cube): set a shot up with a scene camera, then fail one."""
    import importlib
    import math

    import bpy

    demo = importlib.import_module(f"{ext.__name__}.addon.demo_scene")
    shot = importlib.import_module(f"{ext.__name__}.addon.shot")
    shot_scene = importlib.import_module(f"{ext.__name__}.addon.shot_scene")
    glb = work / "product.glb"
    if not glb.is_file():  # the 4.2 test makes it with 5.0: bpy 4.2's glTF exporter crashes the process at exit
        demo.make_product(glb)
    for f in (1, 2):
        write_png(work / "plate" / f"{f:06d}.png", 64, 36, (120, 130, 140))
    bpy.ops.wm.read_homefile(use_factory_startup=True)
    user = bpy.context.scene
    user.camera.location, user.camera.rotation_euler = (0.0, -4.0, 1.0), (math.radians(80), 0.0, 0.0)
    before = sorted(o.name for o in user.objects)
    s = shot.setup_shot(work / "s", work / "plate", glb, None, samples=16)  # 16 spp asks for the denoiser
    made = shot_scene.scene_of(work / "s")
    out: dict[str, Any] = {"frames": s.frames, "user_before": before, "user_after": sorted(o.name for o in user.objects),
                           "shot_scene": made.name if made else None,
                           "shot_objects": sorted(o.name for o in made.objects) if made else []}
    ids = {k: len(getattr(bpy.data, k)) for k in ("scenes", "objects", "meshes", "materials", "images", "worlds")}
    bad = work / "bad.glb"
    bad.write_bytes(b"glTF" + b"\x02\x00\x00\x00" + b"\x00" * 64)
    try:
        shot.setup_shot(work / "s", work / "plate", bad, None, samples=4)
        out["bad_raised"] = False
    except Exception as exc:  # noqa: BLE001 - what matters is that it raised and left nothing
        out["bad_raised"] = type(exc).__name__
    out["ids_kept"] = ids == {k: len(getattr(bpy.data, k)) for k in ids}
    return out


def expect_shot_scene(d: dict[str, Any]) -> None:
    assert d["frames"] == [1, 2] and d["shot_scene"] == "Vanelia s", d
    assert d["user_before"] == d["user_after"] == ["Camera", "Cube", "Light"], d
    assert "Cube" not in d["shot_objects"] and "Vanelia Product" in d["shot_objects"], d
    assert d["bad_raised"] == "InputError" and d["ids_kept"], d


# ---------------------------------------------------------------------------
# script entry (4.2)
# ---------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    work = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="vanelia-checks-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(work / "user"))
    result: dict[str, Any] = {}
    try:
        import bpy  # noqa: F401  (after BLENDER_USER_RESOURCES)

        result["extension"] = extension_lifecycle(work / "ext")
        sys.path.insert(0, str(ROOT / "scripts"))
        from blender_env import load_extension

        ext = load_extension()
        seq = sys.modules[f"{ext.__name__}.addon.sequencer"] if f"{ext.__name__}.addon.sequencer" in sys.modules else None
        if seq is None:
            import importlib

            seq = importlib.import_module(f"{ext.__name__}.addon.sequencer")
        result["sequencer"] = sequencer_checks(seq, work / "seq")
        ext.register()
        try:
            result["operators"] = operator_checks(work / "opsdir")
        finally:
            ext.unregister()
        result["after_source_unregister"] = snapshot()
        result["shot_scene"] = shot_scene_checks(ext, work / "shot")
    except Exception:
        result["error"] = traceback.format_exc()
    print("VANELIA_CHECKS " + json.dumps(result, default=str), flush=True)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
