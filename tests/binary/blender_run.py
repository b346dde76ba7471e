"""Running the real Blender binary from tests (a module of its own name: every test folder
has a ``conftest``, so importing helpers from one is ambiguous under pytest-xdist)."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BATCH = str(ROOT / "scripts" / "vanelia_batch.py")


def run_blender(blender: str, env: dict[str, str], *args: str, blend: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``blender -b [blend] --factory-startup --python-exit-code 1 ARGS``; stdout+stderr as text."""
    cmd = [blender, "-b", *([blend] if blend else []), "--factory-startup", "--python-exit-code", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=str(ROOT))


def batch(blender: str, env: dict[str, str], *args: str, blend: str | None = None) -> subprocess.CompletedProcess:
    return run_blender(blender, env, "--python", BATCH, "--", *args, blend=blend)
