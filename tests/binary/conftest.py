"""A real Blender binary for the binary and GUI tests: scripts/get_blender.sh obtains it.

The tests run it as a user would (``blender -b --python-exit-code 1 --python ...``) with a
private user folder, so no user's config is read or written. When no binary can be had
(no apt, no network), the tests skip with get_blender.sh's reason.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blender_run import ROOT, batch  # noqa: E402


@pytest.fixture(scope="session")
def blender_bin() -> str:
    res = subprocess.run(["bash", str(ROOT / "scripts" / "get_blender.sh")], capture_output=True, text=True, timeout=900)
    if res.returncode != 0 or not res.stdout.strip():
        reason = (res.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"no Blender binary: scripts/get_blender.sh failed ({reason})")
    return res.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def blender_env(tmp_path_factory) -> dict[str, str]:
    env = dict(os.environ)
    env["BLENDER_USER_RESOURCES"] = str(tmp_path_factory.mktemp("blender-user"))
    env.pop("PYTHONPATH", None)  # Blender's own Python 3.13 must not import the venv's 3.11 packages
    return env


@pytest.fixture(scope="session")
def demo(blender_bin, blender_env, tmp_path_factory) -> Path:
    """demo-data in the binary: plate.mp4, frames/, transforms.json, product.glb (denoising
    is asked for at 16 samples: the build has no OIDN, so it must be switched off, not fail)."""
    out = tmp_path_factory.mktemp("bin") / "demo"
    res = batch(blender_bin, blender_env, "demo-data", "--output", str(out), "--frames", "24", "--resolution", "320x180", "--samples", "16")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    for name in ("plate.mp4", "transforms.json", "product.glb"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert len(list((out / "frames").glob("*.png"))) == 24
    return out
