"""The add-on's process manager running commands (addon/process_manager.py ``run_command``):
real child processes, as the Track operator runs `vanelia track`.

Lines arrive as they are printed (progress), a failure gives the command's own error line,
Cancel ends the whole process group quickly, and Blender's own environment stays out of
the child (a distro Blender's BLENDER_SYSTEM_* would make a sidecar's bpy load its scripts).
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
import time

import pytest

CHILD = """
import os, sys, time, subprocess
print("frame 1", flush=True)
if sys.argv[1] == "fail":
    print("vanelia: error: /x/plate.mp4: cannot decode this video; give an MP4", file=sys.stderr, flush=True)
    sys.exit(2)
if sys.argv[1] == "env":
    print("ENV", os.environ.get("BLENDER_SYSTEM_RESOURCES", "-"), os.environ.get("PYTHONUNBUFFERED", "-"), flush=True)
    sys.exit(0)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("GRANDCHILD", grandchild.pid, flush=True)
time.sleep(60)
"""


@pytest.fixture
def pm(ext):
    return importlib.import_module(f"{ext.__name__}.addon.process_manager")


def test_lines_failure_and_environment(pm, monkeypatch) -> None:
    monkeypatch.setenv("BLENDER_SYSTEM_RESOURCES", "/usr/share/blender")
    seen: list[str] = []
    lines = pm.run_command([sys.executable, "-c", CHILD, "env"], seen.append, lambda: False)
    assert seen == lines and lines[0] == "frame 1" and lines[1] == "ENV - 1"
    with pytest.raises(RuntimeError) as exc:
        pm.run_command([sys.executable, "-c", CHILD, "fail"], lambda _l: None, lambda: False)
    assert str(exc.value) == "/x/plate.mp4: cannot decode this video; give an MP4"
    with pytest.raises(RuntimeError, match="Sidecar Python"):
        pm.run_command(["/nonexistent/python", "-m", "cli.main", "track"], lambda _l: None, lambda: False)


def test_cancel_ends_the_process_group(pm) -> None:
    cancel = threading.Event()
    pids: list[int] = []

    def line(text: str) -> None:
        if text.startswith("GRANDCHILD"):
            pids.append(int(text.split()[1]))
            cancel.set()

    t0 = time.monotonic()
    with pytest.raises(InterruptedError, match="cancelled"):
        pm.run_command([sys.executable, "-c", CHILD, "sleep"], line, cancel.is_set)
    assert time.monotonic() - t0 < 20
    assert pids
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pids[0], 0)
        except ProcessLookupError:
            break
        try:  # reaped by init only eventually: a zombie counts as gone
            with open(f"/proc/{pids[0]}/stat") as fh:
                if fh.read().split()[2] == "Z":
                    break
        except OSError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the grandchild {pids[0]} survived the cancel")
