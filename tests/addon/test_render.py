"""Rendered passes on real Cycles: canonical EXR layout and what each pass means; re-run cache."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from test_shot import make_inputs

LIGHT = [-1.0, -0.3, 1.0]


@pytest.fixture(scope="module")
def rendered(ext, tmp_path_factory):
    """A 2-frame 96x54 shot with a 0.8 m bottle, lit from the left so its shadow falls right."""
    import bpy
    from vanelia_addon.addon import shot

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    inputs = make_inputs(tmp_path_factory.mktemp("render-inputs"))
    shot_dir = tmp_path_factory.mktemp("render") / "shot"
    s = shot.setup_shot(shot_dir, inputs["plate"], inputs["model"], inputs["camera"], frames="1:2", samples=16,
                        product_size_m=0.8, light_direction=LIGHT)
    done = shot.render_shot(shot_dir)
    assert done == [1, 2]
    return {"dir": shot_dir, "shot": s, "inputs": inputs}


def exr_channel_names(path: Path) -> set[str]:
    names = set()
    for part in OpenEXR.File(str(path), separate_channels=True).parts:
        pname = part.name() if callable(part.name) else part.name
        for full in part.channels:
            names.add(full if "." in full or not pname else f"{pname}.{full}")
    return names


def test_exr_has_canonical_layer_names(rendered):
    from shotcache.schema import PASSES

    names = exr_channel_names(rendered["dir"] / "render" / "000001.exr")
    want = {f"{layer}.{c}" for layer, chans in PASSES.items() for c in chans}
    assert want <= names, f"missing {sorted(want - names)}"
    assert not any(n.endswith(".V") for n in names)
    leftovers = [p.name for p in (rendered["dir"] / "render").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def _load(rendered, frame=1):
    from ml.io.exr import read_passes

    return read_passes(rendered["dir"] / "render" / f"{frame:06d}.exr")


def test_depth_is_planar_camera_axis_distance(rendered):
    p = _load(rendered)
    cam = rendered["shot"].camera.frames[1]
    c2w = np.array(cam.c2w)
    depth = p["depth"][..., 0]
    hit = depth < 1e3
    assert hit.mean() > 0.3
    rel = p["position"][hit] - c2w[:3, 3]
    planar = rel @ c2w[:3, 2]
    radial = np.linalg.norm(rel, axis=1)
    ok = np.abs(planar - depth[hit]) < 1e-3 * depth[hit]
    assert ok.mean() > 0.95
    # it is not the radial distance (they differ off-centre)
    assert (np.abs(radial - depth[hit]) > 1e-2 * depth[hit]).mean() > 0.3
    assert (depth[~hit] > 1e9).all()


def test_normals_and_position_world_space(rendered):
    p = _load(rendered)
    a = p["rgba"][..., 3]
    ground = (p["depth"][..., 0] < 1e3) & (a < 0.01)
    assert ground.sum() > 100
    n = p["normal"][ground]
    assert (n[:, 2] > 0.99).mean() > 0.95, "ground normals must be world +z whatever the camera"
    assert np.abs(p["position"][ground][:, 2]).max() < 0.02, "ground positions lie on z = 0"
    prod = a > 0.99
    assert prod.sum() > 20
    lens = np.linalg.norm(p["normal"][prod], axis=1)
    assert np.median(lens) == pytest.approx(1.0, abs=0.05)
    assert p["position"][prod][:, 2].max() == pytest.approx(rendered["shot"].product.scale_m * 0.345, rel=0.15)


def test_shadow_catcher_multiplier(rendered):
    from vanelia_addon.addon import camera

    p = _load(rendered)
    a = p["rgba"][..., 3]
    sc = p["shadow_catcher"].mean(axis=-1)
    ground = (p["depth"][..., 0] < 1e3) & (a < 0.01)
    assert np.median(sc[ground]) == pytest.approx(1.0, abs=0.08), "unshadowed ground multiplies by ~1"
    # where the shadow must fall: the bottle axis at 1/3 height cast along the light onto z = 0
    s = rendered["shot"]
    m = np.array(s.product.matrix_world)
    base = m[:3, 3]
    h = 0.3 * 0.8
    d = np.array(LIGHT) / np.linalg.norm(LIGHT)
    shadow_pt = base + np.array([-d[0], -d[1], 0]) * h / d[2]
    u, v = camera.project(s.camera.frames[1], shadow_pt[None])[0]
    x, y = int(u), int(v)
    assert 1 <= x < 95 and 1 <= y < 53
    win = sc[y - 1 : y + 2, x - 1 : x + 2]
    assert win.mean() < 0.8, f"shadow at ({x},{y}) multiplier {win.mean():.2f}"


def test_rgba_straight_alpha_and_albedo(rendered):
    p = _load(rendered)
    a = p["rgba"][..., 3]
    assert a.max() == pytest.approx(1.0) and a.min() == 0.0
    prod = a > 0.99
    assert p["rgba"][prod][:, :3].max() > 0.05
    assert np.isfinite(p["rgba"]).all()
    edge = (a > 0.05) & (a < 0.6)
    if edge.any():  # straight alpha: edge colour is not scaled down by coverage
        inner = p["rgba"][prod][:, :3].mean()
        assert p["rgba"][edge][:, :3].mean() > 0.4 * inner
    alb = p["albedo"][prod]
    assert alb.max() > 0.2 and (alb[:, 0] > alb[:, 2]).mean() > 0.5  # red bottle body


def test_rerun_skips_unchanged_frames(ext, rendered):
    from vanelia_addon.addon import shot
    from vanelia_addon.shotcache.layout import ShotPaths

    paths = ShotPaths(rendered["dir"])
    before = {f: paths.render_frame(f).stat().st_mtime_ns for f in (1, 2)}
    assert shot.render_shot(rendered["dir"]) == []
    assert {f: paths.render_frame(f).stat().st_mtime_ns for f in (1, 2)} == before
    # change only frame 2's camera: only frame 2 is rendered again
    doc = json.loads(paths.shot_json.read_text())
    doc["camera"]["frames"]["2"]["c2w"][0][3] += 0.01
    paths.shot_json.write_text(json.dumps(doc))
    assert shot.render_shot(rendered["dir"]) == [2]
    assert paths.render_frame(1).stat().st_mtime_ns == before[1]
    saved = paths.load_shot()
    assert set(saved.render.frame_hashes) == {1, 2}
    # frame 1's plate decoded again with other pixels (a glossy product mirrors it): only frame 1 again
    import cv2

    img = cv2.imread(str(paths.plate_frame(1)))
    cv2.imwrite(str(paths.plate_frame(1)), 255 - img)
    assert shot.render_shot(rendered["dir"]) == [1]


def test_an_environment_map_rewritten_in_place_renders_again_with_its_new_light(ext, rendered):
    """shot.json names the environment map by path only: a light estimated again writes the same
    record over a new map. Every frame renders again, lit by the new map, not the loaded one."""
    from ml.io.exr import write_rgb
    from vanelia_addon.addon import shot
    from vanelia_addon.shotcache.layout import ShotPaths

    paths = ShotPaths(rendered["dir"])
    record = paths.shot_json.read_text()
    s = paths.load_shot()
    s.lighting.environment, s.lighting.lights = "light/env.exr", []
    env = np.full((16, 32, 3), 0.2, np.float32)
    write_rgb(paths.root / "light" / "env.exr", env)
    paths.save_shot(s)
    assert shot.render_shot(rendered["dir"]) == [1, 2]
    assert shot.render_shot(rendered["dir"]) == []
    dim = _load(rendered)["rgba"]
    write_rgb(paths.root / "light" / "env.exr", env * 4.0)  # same path, same shot.json
    assert shot.render_shot(rendered["dir"]) == [1, 2]
    bright = _load(rendered)["rgba"]
    prod = dim[..., 3] > 0.99
    assert prod.sum() > 20
    ratio = np.median(bright[..., 0][prod]) / max(float(np.median(dim[..., 0][prod])), 1e-6)
    assert 3.0 < ratio < 5.0, ratio  # lit by the new map (4x), not by the image Blender had loaded
    paths.shot_json.write_text(record)  # the module's shot as it was, for the tests after this one
    assert shot.render_shot(rendered["dir"], force=True) == [1, 2]


def test_unknown_pass_name(ext, rendered):
    from ml.io.exr import PassError, read_passes
    from vanelia_addon.addon import render
    from vanelia_addon.shotcache.schema import SchemaError

    with pytest.raises(SchemaError, match="unknown render pass"):
        render.check_passes(["rgba", "specular"])
    with pytest.raises(PassError, match="unknown pass name"):
        read_passes(rendered["dir"] / "render" / "000001.exr", want=["specular"])


def test_key_pass_is_the_key_lights_share_of_the_product(rendered):
    p = _load(rendered)
    a = p["rgba"][..., 3]
    prod = a > 0.99
    key, rgb = p["key"], p["rgba"][..., :3]
    assert float(np.abs(key[a < 0.01]).max()) == 0.0  # the shadow-catcher ground is not in it
    assert (key[prod].sum(-1) <= rgb[prod].sum(-1) * 1.05 + 1e-3).mean() > 0.97  # a share: never more than the whole
    d = np.array(LIGHT) / np.linalg.norm(LIGHT)
    facing = p["normal"][prod] @ d
    k = key[prod].mean(-1)
    assert k[facing > 0.5].mean() > 2 * max(k[facing < -0.2].mean(), 1e-3)  # lit where the product faces the key (bounce: not 0 behind)


def test_low_sample_renders_are_denoised_where_the_build_can(ext, empty_scene):
    """From MIN_DENOISE_SAMPLES up, Cycles denoises (OpenImageDenoise, where the build has it:
    the bpy module does; Debian's binary does not and renders noisy instead of failing);
    under it, there is too little to guide the denoiser."""
    from vanelia_addon.addon import compat, render

    scene = empty_scene
    can = bool(compat.set_denoiser(scene, True))
    render.configure(scene, render.MIN_DENOISE_SAMPLES, ["rgba"], device="CPU")
    assert scene.cycles.use_denoising is can
    render.configure(scene, render.MIN_DENOISE_SAMPLES - 1, ["rgba"], device="CPU")
    assert scene.cycles.use_denoising is False
    render.configure(scene, 1, ["rgba"], device="CPU", denoise=True)  # asked for: on where the build can
    assert scene.cycles.use_denoising is can


def _glass_on_ground(bpy, scene):
    """A glass ball on a shadow-catcher ground under a sky with a small patch of glare 40x its
    brightness: what the ball refracts is that ground, lit by the sky, reached through two glass
    interfaces (the noisiest paths a 16-sample render has)."""
    scene.render.resolution_x, scene.render.resolution_y = 160, 120
    world = bpy.data.worlds.new("sky")
    scene.world = world
    world.use_nodes = True
    w, h = 128, 64
    sky = np.zeros((h, w, 4), np.float32)
    sky[..., :3] = np.where(np.arange(h)[:, None, None] < h // 2, 1.0, 0.25)
    sky[4:10, 40:52, :3] = 40.0
    sky[..., 3] = 1.0
    img = bpy.data.images.new("sky", w, h, float_buffer=True)
    img.pixels[:] = np.flipud(sky).ravel()
    tex = world.node_tree.nodes.new("ShaderNodeTexEnvironment")
    tex.image = img
    world.node_tree.links.new(tex.outputs["Color"], world.node_tree.nodes["Background"].inputs["Color"])
    bpy.ops.mesh.primitive_plane_add(size=20)
    ground = bpy.context.object
    ground.is_shadow_catcher = True
    mat = bpy.data.materials.new("sand")
    mat.use_nodes = True
    mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.6, 0.55, 0.4, 1)
    ground.data.materials.append(mat)
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(0, 0, 0.5), segments=64, ring_count=32)
    bpy.ops.object.shade_smooth()
    ball = bpy.context.object
    glass = bpy.data.materials.new("glass")
    glass.use_nodes = True
    bsdf = glass.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Transmission Weight"].default_value = 1.0
    bsdf.inputs["Roughness"].default_value = 0.0
    ball.data.materials.append(glass)
    bpy.ops.object.camera_add(location=(0, -2.6, 1.2), rotation=(1.25, 0, 0))
    scene.camera = bpy.context.object
    return ball


def _render_still(bpy, scene, path):
    scene.render.filepath = str(path)
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.cycles.seed = 3
    bpy.ops.render.render(write_still=True)
    img = bpy.data.images.load(str(path))
    w, h = img.size
    px = np.array(img.pixels[:], np.float32).reshape(h, w, 4)
    bpy.data.images.remove(img)
    return px


def test_a_glass_product_comes_out_of_the_denoiser_without_grain(ext, empty_scene, tmp_path):
    """Through glass, the denoiser's guides are as noisy as the image at the render's samples;
    trusted as clean (the FAST prefilter), their noise stays as grain on the glass: 0.009 of
    local grain here, 0.002 with the guides denoised first (compat.DENOISE_PREFILTER)."""
    import bpy
    import cv2
    from vanelia_addon.addon import compat, product, render

    scene = empty_scene
    if not compat.set_denoiser(scene, True):
        pytest.skip("this Blender build has no OpenImageDenoise: nothing denoises its renders")
    ball = _glass_on_ground(bpy, scene)
    assert product.refracts(ball)
    render.configure(scene, 16, ["rgba"], device="CPU", refraction=product.refracts(ball))
    px = _render_still(bpy, scene, tmp_path / "glass.exr")
    rgb, a = px[..., :3], px[..., 3]
    inside = cv2.erode((a > 0.99).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert inside.sum() > 500
    g = np.clip(rgb[..., 1], 0, 1) ** (1 / 2.2)
    grain = np.abs(g - cv2.medianBlur(g.astype(np.float32), 3))[inside]
    assert float(grain.mean()) < 0.005


def test_only_a_product_with_glass_pays_for_denoised_guides(ext, empty_scene):
    """Opaque products keep the cheaper prefilter: their guides are their first surface's."""
    import bpy
    from vanelia_addon.addon import compat, product, render

    scene = empty_scene
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.object
    paint = bpy.data.materials.new("paint")
    paint.use_nodes = True
    cube.data.materials.append(paint)
    assert not product.refracts(cube)
    paint.node_tree.nodes["Principled BSDF"].inputs["Transmission Weight"].default_value = 0.8  # a glTF transmission
    assert product.refracts(cube)
    paint.node_tree.nodes["Principled BSDF"].inputs["Transmission Weight"].default_value = 0.0
    paint.node_tree.nodes.new("ShaderNodeBsdfGlass")
    assert product.refracts(cube)
    if compat.set_denoiser(scene, True):
        render.configure(scene, 16, ["rgba"], device="CPU", refraction=False)
        assert scene.cycles.denoising_prefilter == "FAST"
        render.configure(scene, 16, ["rgba"], device="CPU", refraction=True)
        assert scene.cycles.denoising_prefilter == "ACCURATE"


def test_a_small_product_is_rendered_in_its_region_and_reads_as_the_whole_frame(ext, tmp_path, monkeypatch):
    """A border render (addon/render_region.py) path-traces the product and its shadows only;
    read back, its passes are the whole-frame render's: the product whole, its shadow whole,
    nothing shadowed outside (the reader's fill, ml/io/exr.py)."""
    import bpy
    import cv2
    from ml.io.exr import read_passes
    from vanelia_addon.addon import shot

    inputs = make_inputs(tmp_path / "in")
    out = {}
    for name in ("whole", "region"):
        if name == "whole":
            monkeypatch.setenv("VANELIA_FULL_FRAME", "1")
        else:
            monkeypatch.delenv("VANELIA_FULL_FRAME")
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        d = tmp_path / name
        shot.setup_shot(d, inputs["plate"], inputs["model"], inputs["camera"], frames="1:1", samples=16, product_size_m=0.25,
                        light_direction=LIGHT)
        job = shot.ShotRenderer(d)
        assert job.render_next() == 1
        out[name] = (read_passes(d / "render" / "000001.exr"), job.timings[-1]["share"])
    (whole, one), (region, share) = out["whole"], out["region"]
    assert one == 1.0 and 0.05 < share < 0.6
    assert np.abs(whole["rgba"][..., 3] - region["rgba"][..., 3]).max() < 0.05  # the product, whole
    s_whole, s_region = whole["shadow_catcher"].mean(-1), region["shadow_catcher"].mean(-1)
    assert s_whole.min() < 0.7  # there is a shadow to lose
    assert np.abs(cv2.GaussianBlur(s_whole - s_region, (0, 0), 2)).max() < 0.03  # and it is all there
    assert (s_region == 1.0).mean() > 0.3  # the frame outside the region reads unshadowed


def test_the_region_sees_every_light_of_the_scene(ext, empty_scene):
    """A light an artist adds in Blender casts a shadow shot.json knows nothing of: the region
    takes the scene's lights (a sun by where its -Z shines from, a lamp by its position)."""
    import bpy
    from mathutils import Euler
    from vanelia_addon.addon import render_region

    scene = bpy.context.scene
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.rotation_euler = Euler((0.0, np.radians(60.0), 0.0))  # tilted towards +x: the light is up and to +x
    lamp = bpy.data.objects.new("lamp", bpy.data.lights.new("lamp", "POINT"))
    lamp.location = (1.0, 2.0, 3.0)
    hidden = bpy.data.objects.new("off", bpy.data.lights.new("off", "POINT"))
    hidden.hide_render = True
    for obj in (sun, lamp, hidden):
        scene.collection.objects.link(obj)
    bpy.context.view_layer.update()
    suns, lamps = render_region.scene_lights(scene)
    assert len(suns) == 1 and np.allclose(suns[0], [np.sin(np.radians(60.0)), 0.0, np.cos(np.radians(60.0))], atol=1e-6)
    assert len(lamps) == 1 and np.allclose(lamps[0], [1.0, 2.0, 3.0])


def test_a_glass_product_is_not_black_where_light_reflects_inside_it(ext, empty_scene, tmp_path):
    """Light inside glass reflects off its faces, a glossy bounce each, before it leaves: with
    the two glossy bounces an opaque product needs, the paths through a glass block that reflect
    inside it end black and its darkest parts are darker than they are; a glass product gets
    GLASS_GLOSSY_BOUNCES (eval insert mixed 301: the glass duck's lower half black where the
    truth shows the sand through it)."""
    import bpy
    from vanelia_addon.addon import render

    scene = empty_scene
    ball = _glass_on_ground(bpy, scene)
    bpy.ops.mesh.primitive_cube_add(size=0.7, location=(0, 0, 0.55), rotation=(0.4, 0.6, 0.3))  # flat faces: light reflects inside
    block = bpy.context.object
    block.data.materials.append(ball.active_material)
    bpy.data.objects.remove(ball)
    scene.render.resolution_x, scene.render.resolution_y = 96, 72

    def darkest(refraction: bool) -> float:  # the glass's darkest twentieth: where paths reflect inside it
        render.configure(scene, 16, ["rgba"], device="CPU", denoise=False, refraction=refraction)
        px = _render_still(bpy, scene, tmp_path / f"glass_{refraction}.exr")
        inside = px[..., 3] > 0.99
        assert inside.sum() > 1000
        return float(np.percentile(px[..., :3].mean(axis=-1)[inside], 5))

    opaque_budget, glass_budget = darkest(False), darkest(True)
    assert scene.cycles.glossy_bounces == render.GLASS_GLOSSY_BOUNCES
    assert glass_budget > 1.15 * opaque_budget, (opaque_budget, glass_budget)  # 0.41 -> 0.53 when written
