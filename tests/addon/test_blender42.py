"""The extension on Blender 4.2 LTS: build/install/enable/disable, sequencer, operators.

`bpy` can't be imported twice in one process, so the checks run in a subprocess under
.venv42 (bpy 4.2) with the script tests/addon/blender42_checks.py; the expectations are
the same functions the 5.0 tests use.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PY42 = ROOT / ".venv42" / "bin" / "python"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "scripts"))

import blender42_checks as checks  # noqa: E402

pytestmark = pytest.mark.blender42


@pytest.fixture(scope="module")
def result42(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not PY42.exists():
        pytest.skip(f"{PY42} missing: run scripts/setup.sh to create the Blender 4.2 environment")
    work = tmp_path_factory.mktemp("b42")
    from blender_env import load_extension  # the product GLB, made here with 5.0 (see shot_scene_checks)

    ext = load_extension()
    demo = __import__(f"{ext.__name__}.addon.demo_scene", fromlist=["make_product"])
    (work / "shot").mkdir()
    demo.make_product(work / "shot" / "product.glb")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(work / "user"), PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(PY42), str(HERE / "blender42_checks.py"), str(work)], capture_output=True, text=True, env=env, timeout=300)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("VANELIA_CHECKS ")]
    assert lines, f"no result from the 4.2 checks (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    data = json.loads(lines[-1].split(" ", 1)[1])
    assert "error" not in data, data["error"]
    assert proc.returncode == 0
    return data


def test_runs_on_blender_42(result42: dict) -> None:
    assert result42["extension"]["blender"].startswith("4.2")


def test_extension_lifecycle_42(result42: dict) -> None:
    checks.expect_lifecycle(result42["extension"])


def test_sequencer_load_and_swap_42(result42: dict) -> None:
    checks.expect_sequencer(result42["sequencer"])


def test_version_operators_42(result42: dict) -> None:
    checks.expect_operators(result42["operators"])
    after = result42["after_source_unregister"]
    assert after["types"] == [] and after["scene_prop"] is False


def test_shot_scene_42(result42: dict) -> None:
    """Set Up Shot on 4.2 builds into its own scene from Blender's default scene; a bad GLB
    leaves no data-block behind."""
    checks.expect_shot_scene(result42["shot_scene"])
