"""A cancelled command (SIGTERM: a render farm cancelling its task) stops its Blender step too."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from child_processes import alive, children

ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_stops_the_blender_step_and_exits_143(tmp_path: Path):
    cmd = [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())",
           "demo", "--output", str(tmp_path / "out"), "--frames", "4", "--resolution", "160x90", "--samples", "4"]
    cli = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, steps = time.monotonic() + 120, []
        while not steps and time.monotonic() < deadline and cli.poll() is None:
            steps = children(cli.pid, "demo-data")  # the Blender step itself, not a helper an import spawns (torch under load)
            time.sleep(0.2)
        assert steps, "the demo never started its Blender step"
        time.sleep(1.0)  # the step is under way (importing bpy, rendering)
        cli.send_signal(signal.SIGTERM)
        _, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    orphans = [pid for pid in steps if alive(pid)]
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    assert not orphans, f"the Blender step(s) {orphans} outlived the cancelled command"
    assert cli.returncode == 143, err[-2000:]
    assert "vanelia: terminated" in err
