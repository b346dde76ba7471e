"""The light record in the scene: an estimated environment map becomes the world image, its
sun keeps its angular size; camera motion blur keeps the camera exact on every frame."""
from __future__ import annotations

import math

import numpy as np
from test_shot import make_inputs


def test_environment_world_sun_angle_and_motion_blur(ext, tmp_path):
    import bpy

    from ml.io.exr import write_rgb
    from vanelia_addon.addon import compat, lighting, shot
    from vanelia_addon.shotcache.layout import ShotPaths
    from vanelia_addon.shotcache.schema import Light

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    inputs = make_inputs(tmp_path / "in")
    shot_dir = tmp_path / "shot"
    shot.setup_shot(shot_dir, inputs["plate"], inputs["model"], inputs["camera"], frames="1:2", samples=4, product_size_m=0.5, motion_blur=0.5)
    paths = ShotPaths(shot_dir)
    s = paths.load_shot()
    env = np.zeros((8, 16, 3), np.float32)
    env[:4] = (0.2, 0.3, 0.9)  # sky above, ground below
    env[4:] = (0.3, 0.2, 0.1)
    write_rgb(shot_dir / "light" / "env.exr", env)
    s.lighting.environment, s.lighting.method = "light/env.exr", "plate"
    s.lighting.lights = [Light(type="sun", direction=[0.0, 0.0, 1.0], intensity=2.0, angle_deg=7.0)]
    paths.save_shot(s)
    scene = bpy.context.scene
    shot.build_scene(scene, s, str(shot_dir))
    tree = scene.world.node_tree
    tex = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeTexEnvironment")
    bg = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBackground")
    assert bg.inputs["Color"].links[0].from_node == tex and tex.image.size[:] == (16, 8)
    assert abs(tex.image.pixels[0] - 0.3) < 1e-3  # Blender's row 0 is the image's bottom row: ground
    sun = next(o for o in scene.objects if o.name.startswith(lighting.SUN_NAME))  # this scene's (setup_shot built its own)
    assert abs(sun.data.angle - math.radians(7.0)) < 1e-6
    assert scene.render.use_motion_blur and abs(scene.render.motion_blur_shutter - 0.5) < 1e-6
    cam = scene.camera
    assert {kp.interpolation for fc in compat.action_fcurves(cam) for kp in fc.keyframe_points} == {"LINEAR"}
    scene.frame_set(2)
    c2w = np.asarray(s.camera.frames[2].c2w)
    assert np.allclose(np.asarray(cam.matrix_world)[:3, 3], c2w[:3, 3], atol=1e-5)  # exact on the frame
    done = shot.render_shot(shot_dir, frames=[1])
    assert done == [1] and paths.render_frame(1).is_file()


def test_shadow_catcher_takes_the_estimated_ground_albedo(ext, empty_scene):
    """With the light estimate's ground albedo the catcher is a matte ground of that colour (what
    a metal or glass product reflects); without one it keeps the default grey."""
    import bpy
    import pytest

    from vanelia_addon.addon import compat, product
    from vanelia_addon.shotcache.schema import Ground

    def bsdf():
        mat = bpy.data.objects[product.GROUND_NAME].material_slots[0].material
        return next(n for n in compat.material_nodes(mat).nodes if n.bl_idname == "ShaderNodeBsdfPrincipled").inputs

    product.make_shadow_catcher(empty_scene, Ground(), [0.1, 0.2, 0.3])
    inp = bsdf()
    assert tuple(inp["Base Color"].default_value)[:3] == pytest.approx((0.1, 0.2, 0.3))
    assert inp["Roughness"].default_value == pytest.approx(1.0)
    assert bpy.data.objects[product.GROUND_NAME].is_shadow_catcher
    product.make_shadow_catcher(empty_scene, Ground(), [])
    assert tuple(bsdf()["Base Color"].default_value)[:3] == pytest.approx((0.8, 0.8, 0.8))
