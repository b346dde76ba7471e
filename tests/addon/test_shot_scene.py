"""One scene per shot (addon/shot_scene.py): built aside, swapped in, rolled back on failure.

The artist's scene keeps its own objects (the factory Cube, Camera, Light) and none of
them reaches the shot; a failing set-up leaves no scene and no data-block behind; setting
a shot up again replaces its scene; a second shot has its own product and camera.
"""
from __future__ import annotations

import sys
from pathlib import Path

import bpy
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_shot import make_inputs  # noqa: E402


@pytest.fixture(scope="module")
def inputs(ext, tmp_path_factory):
    return make_inputs(tmp_path_factory.mktemp("scene-inputs"))


@pytest.fixture
def factory_scene(ext):
    """Blender's default startup scene, Cube included: what an artist has open."""
    bpy.ops.wm.read_homefile(use_factory_startup=True)
    scene = bpy.context.scene
    assert "Cube" in scene.objects
    return scene


def _ids() -> dict[str, set[str]]:
    return {k: {i.name for i in getattr(bpy.data, k)} for k in ("scenes", "objects", "meshes", "materials", "cameras", "lights", "images", "worlds")}


def test_shot_scene_leaves_user_scene_alone(factory_scene, inputs, tmp_path):
    from vanelia_addon.addon import product, shot, shot_scene

    user_objects = sorted(o.name for o in factory_scene.objects)
    s = shot.setup_shot(tmp_path / "a", inputs["plate"], inputs["model"], inputs["camera"], frames="1:2", samples=4)
    sc = shot_scene.scene_of(tmp_path / "a")
    assert sc is not None and sc != factory_scene and sc.name == "Vanelia a"
    assert sorted(o.name for o in factory_scene.objects) == user_objects  # nothing added, nothing moved
    assert "Cube" not in sc.objects and sc.camera is not None and sc.camera.name.startswith("Vanelia Camera")
    meshes = {o.name for o in sc.objects if o.type == "MESH"}
    assert meshes and all(n.startswith(("Bottle", "Cap", "Vanelia Ground")) for n in meshes), meshes
    assert s.frames == [1, 2]

    # a second shot: its own scene, product and camera; the first shot keeps its own
    shot.setup_shot(tmp_path / "b", inputs["plate"], inputs["model"], inputs["camera"], frames="1:1", samples=4)
    sb = shot_scene.scene_of(tmp_path / "b")
    assert sb is not None and sb != sc
    assert shot_scene.find(sc, product.PRODUCT_ROOT) is not None and shot_scene.find(sb, product.PRODUCT_ROOT) is not None
    assert shot_scene.find(sc, product.PRODUCT_ROOT) != shot_scene.find(sb, product.PRODUCT_ROOT)
    assert sc.camera != sb.camera and sc.world != sb.world

    # setting shot a up again replaces its scene (one scene per shot, same name)
    n_scenes = len(bpy.data.scenes)
    shot.setup_shot(tmp_path / "a", inputs["plate"], inputs["model"], inputs["camera"], frames="1:2", samples=8)
    assert len(bpy.data.scenes) == n_scenes
    again = shot_scene.scene_of(tmp_path / "a")
    assert again is not None and again.name == "Vanelia a" and again.cycles.samples == 8
    assert len([o for o in bpy.data.objects if o.name.startswith("Vanelia Camera")]) == 2  # a's and b's


def test_failed_setup_leaves_nothing(factory_scene, inputs, tmp_path):
    """A model Blender can't import fails after the fresh scene exists: it is all rolled back."""
    from vanelia_addon.addon import shot
    from vanelia_addon.shotcache.errors import InputError

    shot.setup_shot(tmp_path / "a", inputs["plate"], inputs["model"], inputs["camera"], frames="1:1", samples=4)
    before = _ids()
    bad = tmp_path / "broken.glb"
    bad.write_bytes(b"glTF" + b"\x02\x00\x00\x00" + b"\x00" * 64)
    with pytest.raises(InputError, match="broken.glb"):
        shot.setup_shot(tmp_path / "a", inputs["plate"], bad, inputs["camera"], frames="1:1", samples=4)
    assert _ids() == before
    assert bpy.context.scene == factory_scene


def test_shot_scene_checks_50(ext, tmp_path):
    """The checks the 4.2 test runs (tests/addon/blender42_checks.py), here on 5.0."""
    import blender42_checks as checks

    checks.expect_shot_scene(checks.shot_scene_checks(ext, tmp_path))
