"""Headless entry point for every Blender-side step of Vanelia.

Runs unchanged in both ways Blender can run Python::

    blender -b [shot.blend] --python-exit-code 1 --python scripts/vanelia_batch.py -- STEP ARGS
    python scripts/vanelia_batch.py [--open shot.blend] STEP ARGS   # with the `bpy` module

Steps live in ``STEPS`` (name -> function(argv) -> exit code), so other parts of the project
add theirs (``STEPS["track"] = ...``) without touching the dispatcher. Progress goes to
stdout as ``[vanelia] ...`` lines; a failure prints one ``[vanelia] error: ...`` line to
stderr naming the file and what to do, and exits non-zero. The work itself is done by the
same plain functions the add-on's operators call (addon/shot.py, addon/demo_scene.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bpy  # noqa: E402

from blender_env import load_extension  # noqa: E402

EXIT_USER_ERROR = 2
EXIT_CRASH = 1

Step = Callable[[list[str]], int]
STEPS: dict[str, Step] = {}


def log(msg: str) -> None:
    print(f"[vanelia] {msg}", flush=True)


def step(name: str) -> Callable[[Step], Step]:
    def deco(fn: Step) -> Step:
        STEPS[name] = fn
        return fn

    return deco


def script_args(argv: list[str] | None = None) -> list[str]:
    """The step's arguments: after ``--`` inside Blender, after the script name with ``bpy``."""
    argv = list(sys.argv if argv is None else argv)
    if bpy.app.binary_path:  # real Blender: its own options come before "--"
        return argv[argv.index("--") + 1 :] if "--" in argv else []
    rest = argv[1:]
    return rest[1:] if rest[:1] == ["--"] else rest


def _parser(name: str, doc: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"vanelia_batch.py {name}", description=doc)


def _floats(text: str, n: int, what: str) -> list[float]:
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise argparse.ArgumentTypeError(f"{what}: expected {n} comma-separated numbers, got {text!r}")
    return vals


# ---------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------


def addon(name: str):  # noqa: ANN201 - a module of the extension loaded from this tree
    """``addon.<name>`` (or ``shotcache.<name>``) of the extension loaded from this source tree."""
    from importlib import import_module

    ext = load_extension()
    return import_module(f"{ext.__name__}.{name}")


@step("demo-data")
def demo_data(argv: list[str]) -> int:
    """Generate the demo plate (plate.mp4 + frames/), its exact track and product.glb."""
    demo, shot = addon("addon.demo_scene"), addon("addon.shot")
    p = _parser("demo-data", demo_data.__doc__ or "")
    p.add_argument("--output", required=True, help="folder for plate.mp4, transforms.json, product.glb")
    p.add_argument("--frames", type=int, default=demo.DEMO_FRAMES)
    p.add_argument("--resolution", default="x".join(map(str, demo.DEMO_RESOLUTION)))
    p.add_argument("--samples", type=int, default=demo.DEMO_SAMPLES)
    a = p.parse_args(argv)
    if a.frames < 1:
        raise shot.InputError(f"--frames {a.frames}: need at least 1 frame")
    res = shot.parse_resolution(a.resolution)
    shot.check_shot_writable(Path(a.output))
    made = demo.make_demo(Path(a.output), a.frames, res, a.samples, progress=log)
    for key, path in made.items():
        log(f"{key}: {path}")
    return 0


@step("render")
def render(argv: list[str]) -> int:
    """Build the shot cache: plate + camera track + product -> shot.json, plate/, render/*.exr."""
    shot = addon("addon.shot")
    p = _parser("render", render.__doc__ or "")
    p.add_argument("--plate", required=True, help="video file or folder of images")
    p.add_argument("--model", required=True, help="product .glb")
    p.add_argument("--camera", default=None, help="transforms.json, COLMAP text model folder, or blend[:Camera] (default: the .blend's scene camera)")
    p.add_argument("--shot", required=True, help="shot folder to create or update")
    p.add_argument("--frames", default=None, help="A:B, inclusive")
    p.add_argument("--resolution", default=None, help="WxH (same aspect as the plate)")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--passes", default=None, help="comma-separated canonical passes (default: all)")
    p.add_argument("--device", default="AUTO", choices=("AUTO", "CPU", "GPU"))
    p.add_argument("--ground", default=None, help="ground plane 'px,py,pz,nx,ny,nz' (default: fitted from the track's points, else z=0)")
    p.add_argument("--product-size", type=float, default=None, help="largest product dimension in metres (default: the GLB's own size)")
    p.add_argument("--product-scale", type=float, default=1.0)
    p.add_argument("--camera-height", type=float, default=None,
                   help="metres: the scale of a track without points or ground (default: a typical 1.5 m)")
    p.add_argument("--product-matrix", default=None,
                   help="product matrix_world: 16 comma-separated numbers (row-major 4x4) or a .json file holding a 4x4 list")
    p.add_argument("--place", default=None, help="stand the product on the ground in this part of the first frame: "
                   + addon("shotcache.areas").HELP)
    p.add_argument("--light-dir", default=None, help="key light direction 'x,y,z' towards the light (default: estimated)")
    p.add_argument("--key-from-shadow", default=None, help=addon("shotcache.key_pick").HELP)
    p.add_argument("--undistort", action="store_true", help="undistort the plate with the track's lens coefficients")
    p.add_argument("--force", action="store_true", help="re-render frames whose inputs did not change")
    p.add_argument("--blend", default=None, help="save the set-up scene as this .blend")
    p.add_argument("--motion-blur", type=float, default=0.0, help="camera motion blur: shutter in frames (0.5 = 180 degrees; default 0 = off)")
    p.add_argument("--ground-cover", type=float, default=0.0, help=addon("shotcache.schema").GROUND_COVER_HELP)
    p.add_argument("--setup-only", action="store_true", help="write the shot (shot.json, plate/) without rendering: "
                   "the light is estimated from it next, or a farm renders the frames; then `render-shot` renders")
    a = p.parse_args(argv)
    kw: dict = {}
    if a.ground:
        try:
            point, normal = addon("shotcache.ground").parse_ground_option(a.ground)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        kw["ground"] = {"point": point, "normal": normal}
    if a.light_dir:
        kw["light_direction"] = _floats(a.light_dir, 3, "--light-dir")
    if a.key_from_shadow:
        kw["key_pick"] = addon("shotcache.key_pick").parse_pick(a.key_from_shadow)
    camera = a.camera
    if camera is None and bpy.context.scene.camera is None:
        raise shot.InputError("no --camera given and the scene has no camera; give a transforms.json or a COLMAP model")
    if a.product_matrix is not None:
        kw["product_matrix"] = parse_product_matrix(a.product_matrix)
    log(f"setting up shot {a.shot}")
    s = shot.setup_shot(
        a.shot, a.plate, a.model, camera, frames=a.frames, resolution=a.resolution, samples=a.samples,
        passes=a.passes.split(",") if a.passes else None, device=a.device, undistort=a.undistort,
        product_size_m=a.product_size, product_scale=a.product_scale, place_area=a.place, motion_blur=a.motion_blur,
        ground_cover_m=a.ground_cover,
        camera_height_m=a.camera_height, progress=log, **kw,
    )
    if a.blend:
        save_blend(a.blend)
        log(f"saved {a.blend}")
    if a.setup_only:
        return 0
    done = shot.render_shot(a.shot, progress=log, force=a.force)
    log(f"rendered {len(done)} of {len(s.frames)} frames into {Path(a.shot) / 'render'}")
    return 0


def parse_product_matrix(text: str) -> list[list[float]]:
    """--product-matrix: 16 numbers (row-major) or a .json file with a 4x4 list (or 16 numbers).

    Refused unless finite with a non-degenerate rotation part: a zero-scale or NaN matrix
    would render an invisible product without any other sign of the mistake."""
    shot = addon("addon.shot")
    where = f"--product-matrix {text!r}"
    if text.strip().lower().endswith(".json"):
        import json

        path = Path(text)
        try:
            vals = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise shot.InputError(f"{where}: cannot read this .json ({exc}); give a file holding a 4x4 list") from exc
        if isinstance(vals, dict) and "matrix_world" in vals:
            vals = vals["matrix_world"]
        flat = _flatten(vals)
    else:
        try:
            flat = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
        except ValueError:
            flat = None
    if flat is None or len(flat) != 16:
        got = "" if flat is None else f", got {len(flat)}"
        raise shot.InputError(f"{where}: expected 16 comma-separated numbers (row-major 4x4) or a .json file with a 4x4 list{got}")
    import numpy as np

    m = np.asarray(flat, dtype=np.float64).reshape(4, 4)
    if not np.isfinite(m).all():
        raise shot.InputError(f"{where}: contains NaN or Inf")
    if abs(float(np.linalg.det(m[:3, :3]))) < 1e-12:
        raise shot.InputError(f"{where}: its 3x3 rotation/scale part is singular (zero scale?); the product would be invisible")
    return m.tolist()


def _flatten(vals: object) -> list[float] | None:
    """A 4x4 nested list or 16 numbers -> 16 floats; None if it is neither."""
    try:
        if isinstance(vals, list) and len(vals) == 4 and all(isinstance(r, list) and len(r) == 4 for r in vals):
            return [float(v) for r in vals for v in r]
        if isinstance(vals, list) and all(not isinstance(v, (list, dict)) for v in vals):
            return [float(v) for v in vals]
    except (TypeError, ValueError):
        pass
    return None


@step("render-shot")
def render_existing(argv: list[str]) -> int:
    """Render (again) the frames of an existing shot folder whose inputs changed."""
    shot = addon("addon.shot")
    p = _parser("render-shot", render_existing.__doc__ or "")
    p.add_argument("--shot", required=True)
    p.add_argument("--force", action="store_true")
    p.add_argument("--frames", default=None, type=frame_list, help="only these frames: 'A:B' and/or numbers, comma-separated")
    a = p.parse_args(argv)
    done = shot.render_shot(a.shot, progress=log, force=a.force, frames=a.frames)
    log(f"rendered {len(done)} frames into {Path(a.shot) / 'render'}")
    return 0


def frame_list(text: str) -> list[int]:
    """'1:4,7,9:10' -> [1, 2, 3, 4, 7, 9, 10] (a farm chunk need not be one range)."""
    out: list[int] = []
    try:
        for part in filter(None, text.replace(" ", "").split(",")):
            a, _, b = part.partition(":")
            lo, hi = int(a), int(b or a)
            if hi < lo:
                raise ValueError(part)
            out += range(lo, hi + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frames {text!r}: expected A:B ranges or frame numbers, comma-separated") from None
    if not out:
        raise argparse.ArgumentTypeError("--frames: no frames given")
    return out


@step("sequencer")
def sequencer(argv: list[str]) -> int:
    """Load a result version (vNNN) as a strip next to the plate and save the .blend."""
    p = _parser("sequencer", sequencer.__doc__ or "")
    p.add_argument("--shot", required=True)
    p.add_argument("--version", required=True, help="vNNN")
    p.add_argument("--blend", default=None, help=".blend to open first (default: the one Blender was started with, or an empty scene)")
    p.add_argument("--save", "--output", dest="save", required=True, help=".blend to write")
    a = p.parse_args(argv)
    try:
        seq = addon("addon.sequencer")
    except ImportError as exc:
        raise RuntimeError(f"the sequencer module is not available in this install ({exc})") from exc
    if a.blend:
        if not Path(a.blend).is_file():
            raise FileNotFoundError(f"{a.blend}: .blend not found; give an existing file with --blend")
        bpy.ops.wm.open_mainfile(filepath=str(Path(a.blend).resolve()))
    scene = bpy.context.scene
    if hasattr(seq, "find_strips") and hasattr(seq, "load_plate") and not seq.find_strips(scene, a.shot, "plate"):
        seq.load_plate(scene, a.shot)
    strip = seq.load_version(scene, a.shot, a.version)
    log(f"loaded {a.version} as strip {strip.name!r}")
    save_blend(a.save)
    log(f"saved {a.save}")
    return 0


def save_blend(path: str) -> None:
    """Save a copy of the session as ``path`` via temp + rename (an old file survives a failure)."""
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp.blend")
    res = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, check_existing=False)
    if "FINISHED" not in res or not tmp.is_file():
        raise OSError(f"{target}: Blender could not save the .blend; check the folder is writable")
    os.replace(tmp, target)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def _user_errors() -> tuple[type[BaseException], ...]:
    schema, render_mod = addon("shotcache.schema"), addon("addon.render")
    return (schema.UserError, render_mod.RenderError, FileNotFoundError, PermissionError, argparse.ArgumentTypeError)


STEP_MODULES = ("addon.tracking", "addon.sequencer", "addon.truth_scenes")
"""Add-on modules that may contribute steps: a module-level ``BATCH_STEPS`` dict
(name -> function(argv) -> exit code) is merged into STEPS (existing names win)."""


def discover_steps() -> None:
    for name in STEP_MODULES:
        try:
            mod = addon(name)
        except ImportError:
            continue
        for key, fn in (getattr(mod, "BATCH_STEPS", None) or {}).items():
            STEPS.setdefault(key, fn)


def main(argv: list[str] | None = None) -> int:
    args = script_args(argv)
    discover_steps()
    if args[:1] == ["--open"]:  # python + bpy: the equivalent of `blender -b FILE.blend`
        if len(args) < 2 or not Path(args[1]).is_file():
            print(f"[vanelia] error: --open needs an existing .blend file, got {args[1:2]}", file=sys.stderr, flush=True)
            return EXIT_USER_ERROR
        bpy.ops.wm.open_mainfile(filepath=str(Path(args[1]).resolve()))
        args = args[2:]
    if not args or args[0] in ("-h", "--help"):
        print(f"usage: vanelia_batch.py STEP [ARGS]; steps: {', '.join(sorted(STEPS))}")
        return 0 if args else EXIT_USER_ERROR
    name, rest = args[0], args[1:]
    if not bpy.data.filepath:
        # No .blend given: start from an empty scene, never from the user's (or Blender's)
        # startup file, whose default cube, light and camera would end up in the render.
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    if name not in STEPS:
        print(f"[vanelia] error: unknown step {name!r}; steps: {', '.join(sorted(STEPS))}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    try:
        return int(STEPS[name](rest) or 0)
    except SystemExit as exc:  # argparse: usage errors already printed
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USER_ERROR
    except Exception as exc:  # noqa: BLE001 - every failure must become a message + exit code
        if isinstance(exc, _user_errors()):
            print(f"[vanelia] error: {exc}", file=sys.stderr, flush=True)
            return EXIT_USER_ERROR
        traceback.print_exc()
        print(f"[vanelia] error: step {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return EXIT_CRASH


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if code:
        sys.exit(code)
