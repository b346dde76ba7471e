"""The light record in the scene: an estimated environment map becomes the world image, its
sun keeps its angular size; camera motion blur keeps the camera exact on every frame."""
from __future__ import annotations

import math

import cv2
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
    from vanelia_addon.addon import product

    assert product.plate_reflected(shot_scene_catcher(scene))  # a glossy product mirrors the plate, not a grey floor
    assert scene.render.use_motion_blur and abs(scene.render.motion_blur_shutter - 0.5) < 1e-6
    cam = scene.camera
    assert {kp.interpolation for fc in compat.action_fcurves(cam) for kp in fc.keyframe_points} == {"LINEAR"}
    scene.frame_set(2)
    c2w = np.asarray(s.camera.frames[2].c2w)
    assert np.allclose(np.asarray(cam.matrix_world)[:3, 3], c2w[:3, 3], atol=1e-5)  # exact on the frame
    done = shot.render_shot(shot_dir, frames=[1])
    assert done == [1] and paths.render_frame(1).is_file()


def test_an_artists_light_edit_is_kept_in_shot_json_and_renders_again(ext, tmp_path):
    """The panel's Light box edits the key light in place; Render Shot (sync_lighting) writes
    it into shot.json as method 'user', the frame hash changes, and the record builds the
    same light again (capture is the inverse of apply). Unchanged light writes nothing."""
    import bpy
    from mathutils import Quaternion

    from vanelia_addon.addon import lighting, render, shot
    from vanelia_addon.shotcache.layout import ShotPaths

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    inputs = make_inputs(tmp_path / "in")
    shot_dir = tmp_path / "shot"
    s = shot.setup_shot(shot_dir, inputs["plate"], inputs["model"], inputs["camera"], frames="1:2", samples=4, product_size_m=0.5)
    paths = ShotPaths(shot_dir)
    scene = next(sc for sc in bpy.data.scenes if shot.shot_scene.shot_dir_of(sc))
    assert not shot.sync_lighting(scene, shot_dir)  # nothing edited: nothing written
    before = paths.load_shot()
    key = next(o for o in scene.objects if o.name == lighting.SUN_NAME)
    key.data.energy = 7.5
    key.data.angle = math.radians(12.0)
    key.rotation_mode = "QUATERNION"
    key.rotation_quaternion = Quaternion((1.0, 0.0, 0.0), math.radians(40.0))  # tilt the sun 40 deg about x
    bg = next(n for n in scene.world.node_tree.nodes if n.bl_idname == "ShaderNodeBackground")
    bg.inputs["Strength"].default_value = 0.6
    assert shot.sync_lighting(scene, shot_dir)
    after = paths.load_shot()
    lit = after.lighting
    assert lit.method == "user" and "edited in Blender" in lit.notes and not lit.estimated
    assert abs(lit.lights[0].intensity - 7.5) < 1e-6 and abs(lit.lights[0].angle_deg - 12.0) < 1e-4
    assert np.allclose(lit.lights[0].direction, [0.0, -math.sin(math.radians(40)), math.cos(math.radians(40))], atol=1e-5)
    assert abs(lit.world_strength - 0.6) < 1e-6
    assert render.frame_hash(after, 1, after.product.sha256) != render.frame_hash(before, 1, before.product.sha256)
    # the record rebuilds the same light in a fresh scene
    fresh = bpy.data.scenes.new("rebuilt")
    shot.build_scene(fresh, after, str(shot_dir))
    again = lighting.capture(fresh, after.lighting)
    assert not lighting.edited(after.lighting, again)
    assert not shot.sync_lighting(scene, shot_dir)  # already recorded


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


def test_an_artists_motion_blur_edit_is_kept_and_sets_the_camera_up_for_it(ext, tmp_path):
    """The panel's Render box shows the shot's camera motion blur; turning it on (or changing
    the shutter) is written into shot.json by Render Shot (sync_motion_blur), noted as edited,
    and the shot set up again from it interpolates the camera for the blur."""
    import bpy

    from vanelia_addon.addon import compat, render, shot
    from vanelia_addon.shotcache.layout import ShotPaths

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    inputs = make_inputs(tmp_path / "in")
    shot_dir = tmp_path / "shot"
    shot.setup_shot(shot_dir, inputs["plate"], inputs["model"], inputs["camera"], frames="1:2", samples=4, product_size_m=0.5)
    paths = ShotPaths(shot_dir)
    scene = next(sc for sc in bpy.data.scenes if shot.shot_scene.shot_dir_of(sc))
    assert not scene.render.use_motion_blur and not shot.sync_motion_blur(scene, shot_dir)
    before = paths.load_shot()
    scene.render.use_motion_blur = True
    scene.render.motion_blur_shutter = 0.3
    assert shot.sync_motion_blur(scene, shot_dir)
    after = paths.load_shot()
    assert abs(after.render.motion_blur - 0.3) < 1e-6 and after.render.motion_blur_note == "edited in Blender: shutter 0.3"
    assert render.frame_hash(after, 1, after.product.sha256) != render.frame_hash(before, 1, before.product.sha256)
    fresh = bpy.data.scenes.new("rebuilt")
    shot.build_scene(fresh, after, str(shot_dir))
    assert fresh.render.use_motion_blur and abs(fresh.render.motion_blur_shutter - 0.3) < 1e-6
    assert {kp.interpolation for fc in compat.action_fcurves(fresh.camera) for kp in fc.keyframe_points} == {"LINEAR"}
    scene.render.use_motion_blur = False
    assert shot.sync_motion_blur(scene, shot_dir) and paths.load_shot().render.motion_blur == 0.0
    assert paths.load_shot().render.motion_blur_note == "edited in Blender: off"


def shot_scene_catcher(scene):
    from vanelia_addon.addon import product

    return next(o for o in scene.objects if o.name.startswith(product.GROUND_NAME))


def test_a_mirror_product_reflects_each_frames_plate_and_the_matte_off_it(ext, empty_scene, tmp_path):
    """What a metal or glass product reflects of the ground is the plate frame of the frame it
    is rendered on (projected through the camera); ground the camera does not frame keeps the
    matte, and without the projection the reflection is the matte's one colour. The catcher
    stays transparent to the camera. Lit by the render's light against the ground's
    irradiance, the reflected plate keeps its own level in the open and darkens in the
    product's shadow."""
    import bpy

    from vanelia_addon.addon import compat, plate, product
    from vanelia_addon.shotcache.layout import ShotPaths
    from vanelia_addon.shotcache.schema import Ground

    scene = empty_scene
    w, h = 64, 48
    paths = ShotPaths(tmp_path)
    paths.plate_dir.mkdir(parents=True)
    colours = {1: (0.9, 0.1, 0.1), 2: (0.1, 0.1, 0.9)}
    for f, rgb in colours.items():  # one colour a frame, so a reflection says which frame it saw
        img = np.zeros((h, w, 3), np.uint8)
        img[:] = np.round(255 * np.asarray(rgb)).astype(np.uint8)[::-1]
        cv2.imwrite(str(paths.plate_frame(f)), img)
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 8
    scene.render.resolution_x, scene.render.resolution_y = w, h
    scene.render.film_transparent = True
    world = bpy.data.worlds.new("grey")
    scene.world = world
    compat.world_background(world, (0.3, 0.3, 0.3), 1.0)
    catcher = product.make_shadow_catcher(scene, Ground(size_m=20.0), [0.5, 0.5, 0.5])
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(0.0, 0.0, 0.6))
    sphere = bpy.context.active_object
    mirror = bpy.data.materials.new("mirror")
    bsdf = next(n for n in compat.material_nodes(mirror).nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    bsdf.inputs["Metallic"].default_value, bsdf.inputs["Roughness"].default_value = 1.0, 0.0
    bsdf.inputs["Base Color"].default_value = (1.0, 1.0, 1.0, 1.0)  # a perfect mirror: it shows what it sees
    sphere.data.materials.append(mirror)
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.location, cam.rotation_euler = (0.0, -4.0, 1.2), (math.radians(85), 0.0, 0.0)

    def render(frame: int) -> np.ndarray:
        scene.frame_set(frame)
        scene.render.filepath = str(tmp_path / f"r{frame}.png")
        scene.render.image_settings.file_format = "PNG"
        bpy.ops.render.render(write_still=True)
        return cv2.imread(scene.render.filepath, cv2.IMREAD_UNCHANGED)[..., [2, 1, 0, 3]].astype(np.float64) / 255

    def rim(img: np.ndarray) -> np.ndarray:  # the sphere's underside mirrors the ground round its foot: in frame
        return img[37:40, w // 2 - 4 : w // 2 + 4, :3].reshape(-1, 3).mean(axis=0)

    matte = render(1)
    assert abs(rim(matte)[0] - rim(matte)[2]) < 0.05  # the matte's grey
    product.reflect_plate(catcher, plate.plate_sequence(tmp_path, [1, 2]), [1, 2], [math.pi * 0.3] * 3)  # the grey world's irradiance
    first, second = render(1), render(2)
    assert rim(first)[0] > rim(first)[2] + 0.2 and rim(second)[2] > rim(second)[0] + 0.2, (rim(first), rim(second))
    assert abs(rim(first)[0] - 0.9) < 0.05, rim(first)  # the plate's own level (sRGB 0.9) where the world lights it in the open
    behind = first[33:35, w // 2 - 2 : w // 2 + 2, :3].reshape(-1, 3).mean(axis=0)
    assert abs(behind[0] - behind[2]) < 0.05, behind  # below its middle it mirrors the ground behind the camera: the matte
    assert first[2:6, 2:6, 3].max() < 0.05  # the catcher itself is still transparent to the camera
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = 3.0
    scene.collection.objects.link(sun)  # straight down: the sphere's shadow round its foot
    product.reflect_plate(catcher, plate.plate_sequence(tmp_path, [1, 2]), [1, 2], [math.pi * 0.3 + 3.0] * 3)  # world + sun
    lit = render(1)
    mid = slice(w // 2 - 4, w // 2 + 4)
    # the plate keeps its own level on open ground and darkens in the sphere's shadow
    assert abs(lit[36, mid, 0].mean() - first[36, mid, 0].mean()) < 0.08, (lit[36, mid, 0], first[36, mid, 0])
    assert lit[39:41, mid, 0].mean() < 0.6 * first[39:41, mid, 0].mean(), (lit[39:41, mid, 0], first[39:41, mid, 0])


def test_ground_irradiance_sums_the_environment_and_the_suns_and_none_under_a_lamp(ext, empty_scene, tmp_path):
    """The irradiance the reflected plate is lit against: the environment map's over the ground's
    hemisphere (times the world strength) plus each sun's by its cosine; a lamp's or a window's
    changes along the ground, so it is the product's foot's (none without one), in Cycles' units
    (a point light of P watts: P / (4 pi d^2), an area light P / (pi d^2), by the cosines)."""
    from ml.io.exr import write_rgb
    from vanelia_addon.addon import lighting
    from vanelia_addon.shotcache.schema import Light, Lighting

    env = np.zeros((32, 64, 3), np.float32)
    env[:16] = (0.4, 0.5, 0.6)  # sky; black ground below
    write_rgb(tmp_path / "light" / "env.exr", env)
    sun = Light(type="sun", direction=[0.0, -math.sqrt(0.75), 0.5], intensity=2.0, color=[1.0, 0.9, 0.8])  # 30 degrees up
    rec = Lighting(environment="light/env.exr", world_strength=1.5, lights=[sun])
    e = lighting.ground_irradiance(rec, str(tmp_path), [0.0, 0.0, 1.0])
    want = 1.5 * math.pi * np.array([0.4, 0.5, 0.6]) + 2.0 * 0.5 * np.array([1.0, 0.9, 0.8])
    assert np.allclose(e, want, rtol=0.02), (e, want)
    uniform = lighting.ground_irradiance(Lighting(world_color=[0.2, 0.2, 0.2], lights=[]), None, [0.0, 0.0, 1.0])
    assert np.allclose(uniform, math.pi * 0.2)
    lamp = Light(type="point", position=[1.0, 0.0, 2.0], intensity=90.0, color=[1.0, 0.5, 0.25])
    lit = Lighting(environment="light/env.exr", lights=[sun, lamp])
    assert lighting.ground_irradiance(lit, str(tmp_path), [0.0, 0.0, 1.0]) is None  # a lamp's light is some point's
    at_foot = lighting.ground_irradiance(lit, str(tmp_path), [0.0, 0.0, 1.0], at=[0.0, 0.0, 0.0])
    lamp_share = 90.0 / (4 * math.pi * 5.0) * (2.0 / math.sqrt(5.0)) * np.array([1.0, 0.5, 0.25])  # P / (4 pi d^2) by the cosine
    assert np.allclose(at_foot - lighting.ground_irradiance(Lighting(environment="light/env.exr", lights=[sun]), str(tmp_path), [0.0, 0.0, 1.0]),
                       lamp_share, rtol=1e-6)
    window = Light(type="area", position=[0.0, 2.0, 2.0], direction=[0.0, 1.0, 1.0], intensity=200.0, angle_deg=1.0)  # shining at the foot
    e = lighting.ground_irradiance(Lighting(world_color=[0.0, 0.0, 0.0], lights=[window]), None, [0.0, 0.0, 1.0], at=[0.0, 0.0, 0.0])
    assert np.allclose(e, 200.0 / (math.pi * 8.0) * math.sqrt(0.5))
