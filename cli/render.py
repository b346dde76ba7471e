"""`vanelia render`: build a shot cache headless, and ``run_batch`` for every Blender step.

The CLI never imports ``bpy``: it spawns scripts/vanelia_batch.py, either with this
Python (which has the ``bpy`` module) or with a Blender binary (``--blender PATH``:
``blender -b --python-exit-code 1 --python vanelia_batch.py -- STEP ARGS``). Progress lines
are streamed as they come; a failing step raises ``BatchError`` carrying the script's own
message (which names the file and what to do).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from cli.main import CLIError

ROOT = Path(__file__).resolve().parents[1]
BATCH_SCRIPT = ROOT / "scripts" / "vanelia_batch.py"
PREFIX = "[vanelia]"


class BatchError(CLIError):
    """A headless Blender step failed; the message is the step's own error message."""

    def __init__(self, message: str, returncode: int):
        super().__init__(message)
        self.returncode = returncode


def batch_command(step: str, args: list[str], blender: str | None = None, blend: str | None = None) -> list[str]:
    """The command line that runs one step (with this Python's bpy, or a Blender binary)."""
    if blender:
        cmd = [blender, "-b"]
        if blend:
            cmd.append(blend)
        return cmd + ["--python-exit-code", "1", "--python", str(BATCH_SCRIPT), "--", step, *args]
    if blend:
        return [sys.executable, str(BATCH_SCRIPT), "--open", blend, step, *args]
    return [sys.executable, str(BATCH_SCRIPT), step, *args]


def _default_on_line(line: str) -> None:
    if line.startswith(PREFIX):
        print(line, flush=True)


def run_batch(
    step: str,
    args: list[str],
    blender: str | None = None,
    on_line: Callable[[str], None] | None = None,
    blend: str | None = None,
) -> None:
    """Run a batch step to completion; raise BatchError with the script's message on failure.

    ``on_line`` gets every stdout line (default: print the ``[vanelia]`` progress lines).
    """
    if blender and not (Path(blender).is_file() or _which(blender)):
        raise CLIError(f"{blender}: Blender binary not found; give the path of the blender executable")
    cmd = batch_command(step, args, blender, blend)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    on_line = on_line or _default_on_line
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=env, cwd=str(ROOT))
    except OSError as exc:
        raise CLIError(f"could not start {cmd[0]}: {exc}") from exc
    err_lines: list[str] = []

    def pump_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line.rstrip("\n"))

    t = threading.Thread(target=pump_stderr, daemon=True)
    t.start()
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            on_line(line.rstrip("\n"))
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        raise
    t.join(timeout=10)
    if rc != 0:
        raise BatchError(_error_message(step, rc, err_lines), rc)


def _which(name: str) -> str | None:
    from shutil import which

    return which(name)


def _error_message(step: str, rc: int, err_lines: list[str]) -> str:
    """The step's own ``[vanelia] error:`` lines, else the tail of its stderr."""
    mine = [ln[len(PREFIX) :].strip().removeprefix("error:").strip() for ln in err_lines if ln.startswith(f"{PREFIX} error:")]
    if mine:
        return "; ".join(mine)
    tail = "\n".join(ln for ln in err_lines[-15:] if ln.strip())
    return f"the Blender step '{step}' failed (exit code {rc})" + (f":\n{tail}" if tail else "")


# ---------------------------------------------------------------------------
# vanelia render
# ---------------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="build a shot cache: plate + camera track + product -> EXR passes",
        description="Decode the plate, bake the camera track, place the product and render its passes "
        "(Cycles) into SHOT/render/NNNNNN.exr. Re-runs render only frames whose inputs changed.",
    )
    p.add_argument("--plate", required=True, help="video file or folder of images")
    p.add_argument("--model", required=True, help="product .glb")
    p.add_argument("--camera", required=True, help="camera track: transforms.json or COLMAP text model folder")
    p.add_argument("--shot", required=True, help="shot folder to create or update")
    p.add_argument("--frames", help="A:B, inclusive plate frame range")
    p.add_argument("--resolution", help="WxH (same aspect as the plate)")
    p.add_argument("--samples", type=int, help="Cycles samples (default 32)")
    p.add_argument("--passes", help="comma-separated passes (default: all of rgba,normal,albedo,depth,position,shadow_catcher)")
    p.add_argument("--ground", help="ground plane 'px,py,pz,nx,ny,nz' (default: from the track's points, else z=0)")
    p.add_argument("--product-size", type=float, help="largest product dimension in metres")
    p.add_argument("--product-matrix", help="product matrix_world: 16 comma-separated numbers (row-major 4x4) or a .json "
                   "file holding a 4x4 list, e.g. qc.placement.matrix_world of `vanelia track --place`; "
                   "with --product-size its scale is replaced to give that size")
    p.add_argument("--light-dir", help="key light direction 'x,y,z' (default: estimated from the plate)")
    p.add_argument("--camera-height", type=float, help="metres: the scale of an imported track without points or ground "
                   "(default: a typical camera height, 1.5 m)")
    p.add_argument("--undistort", action="store_true", help="undistort the plate with the track's lens coefficients")
    p.add_argument("--force", action="store_true", help="re-render every frame")
    p.add_argument("--blend", help="also save the set-up scene as this .blend")
    p.add_argument("--blender", help="Blender binary to run (default: the bpy module of this Python)")
    p.set_defaults(func=_run)


def render_args(a: argparse.Namespace) -> list[str]:
    args = ["--plate", str(a.plate), "--model", str(a.model), "--camera", str(a.camera), "--shot", str(a.shot)]
    for flag, key in (("--frames", "frames"), ("--resolution", "resolution"), ("--samples", "samples"), ("--passes", "passes"),
                      ("--ground", "ground"), ("--product-size", "product_size"), ("--product-matrix", "product_matrix"),
                      ("--light-dir", "light_dir"), ("--blend", "blend"), ("--camera-height", "camera_height")):
        val = getattr(a, key, None)
        if val is not None:
            args.append(f"{flag}={val}")  # '=' form: values such as '-0.2,0.6,0.7' start with '-'
    for flag, key in (("--undistort", "undistort"), ("--force", "force")):
        if getattr(a, key, False):
            args.append(flag)
    return args


def _run(a: argparse.Namespace) -> int:
    run_batch("render", render_args(a), blender=a.blender)
    print(f"{PREFIX} shot cache ready: {Path(a.shot).resolve()}", flush=True)
    return 0
