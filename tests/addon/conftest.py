"""Real Blender (the `bpy` module) for the Blender-side tests.

BLENDER_USER_RESOURCES points at a temp folder *before* bpy is imported, so tests never
touch a real user's config; every test starts from an empty factory scene.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if "BLENDER_USER_RESOURCES" not in os.environ:
    _user = tempfile.mkdtemp(prefix="vanelia-blender-user-")
    os.environ["BLENDER_USER_RESOURCES"] = _user
    atexit.register(shutil.rmtree, _user, ignore_errors=True)
sys.path.insert(0, str(ROOT / "scripts"))

bpy = pytest.importorskip("bpy")

from blender_env import load_extension  # noqa: E402


@pytest.fixture(scope="session")
def ext():
    """The extension package loaded from this source tree (as ``vanelia_addon``)."""
    return load_extension()


@pytest.fixture
def empty_scene():
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    return bpy.context.scene
