"""Render launch: run one headless Blender step (scripts/vanelia_batch.py) and stream its progress.

Nothing above Blender imports ``bpy``: this spawns scripts/vanelia_batch.py, either with this
Python (which has the ``bpy`` module) or with a Blender binary (``blender -b
--python-exit-code 1 --python vanelia_batch.py -- STEP ARGS``). Progress lines go to
``on_line`` as they come; a failing step raises ``BatchError`` carrying the script's own
message (which names the file and what to do). Every front end (CLI, sidecar, tracker)
renders and tracks with Blender through ``run_batch``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from shotcache.errors import Cancelled, UsageError, UserError

ROOT = Path(__file__).resolve().parents[1]
BATCH_SCRIPT = ROOT / "scripts" / "vanelia_batch.py"
PREFIX = "[vanelia]"


class BatchError(UserError):
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
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Run a batch step to completion; raise BatchError with the script's message on failure.

    ``on_line`` gets every stdout line (default: print the ``[vanelia]`` progress lines).
    ``should_stop`` (a cancelled sidecar job) is polled while the step runs: when it turns
    true the step is terminated and Cancelled raised, so a cancel does not wait for the
    render to end. Whatever ends this call early (Ctrl-C, SIGTERM, an exception from
    ``on_line``) terminates the step first: it never renders on, orphaned.
    """
    if blender and not (Path(blender).is_file() or _which(blender)):
        raise UsageError(f"{blender}: Blender binary not found; give the path of the blender executable")
    cmd = batch_command(step, args, blender, blend)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    on_line = on_line or _default_on_line
    try:
        # the caller's working folder: relative --shot/--plate/--model paths mean what the user
        # meant, and the path printed afterwards is where the files are
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
    except OSError as exc:
        raise UsageError(f"could not start {cmd[0]}: {exc}") from exc
    err_lines: list[str] = []

    def pump_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line.rstrip("\n"))

    t = threading.Thread(target=pump_stderr, daemon=True)
    t.start()
    stopped = _watch_stop(proc, should_stop)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            on_line(line.rstrip("\n"))
        rc = proc.wait()
    except BaseException:  # Ctrl-C, SIGTERM (shotcache.errors.Terminated), on_line raising: the step stops with us
        stop_child(proc)
        raise
    t.join(timeout=10)
    if stopped.is_set():
        raise Cancelled(f"the Blender step '{step}' was stopped: the job was cancelled")
    if rc != 0:
        raise BatchError(_error_message(step, rc, err_lines), rc)


CHILD_GRACE_S = 10.0
"""How long a stopped Blender step gets to exit before it is killed."""


def stop_child(proc: subprocess.Popen) -> None:
    """Terminate a Blender step and wait for it; kill it when it does not exit in CHILD_GRACE_S."""
    proc.terminate()
    try:
        proc.wait(timeout=CHILD_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


STOP_POLL_S = 0.25
"""How often a running step asks ``should_stop``."""


def _watch_stop(proc: subprocess.Popen, should_stop: Callable[[], bool] | None) -> threading.Event:
    """An event set when ``should_stop`` turned true and the step was stopped for it."""
    stopped = threading.Event()
    if should_stop is None:
        return stopped

    def watch() -> None:
        while proc.poll() is None:
            if should_stop():
                stopped.set()
                stop_child(proc)
                return
            time.sleep(STOP_POLL_S)

    threading.Thread(target=watch, daemon=True, name="vanelia-stop-watch").start()
    return stopped


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
