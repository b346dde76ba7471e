"""Every local-model engine end to end on tiny random models (CPU): shapes, determinism,
plate untouched outside the dilated region, cancellation, progress, bad input."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from ml.diffuse import masks
from ml.stages import base
from ml.stages.base import EngineError, EngineUnavailable, MissingInput

FAST = {"prompt": "a bag on the table", "steps": 2, "seed": 3, "dilate_px": 3, "feather_px": 1}

CASES = [
    ("diffuse", "sdedit", "sd"),
    ("diffuse", "sdedit", "sdxl"),
    ("diffuse", "sdedit", "sd3"),
    ("diffuse", "inpaint", "sd"),
    ("diffuse", "inpaint", "sd_inpaint"),
    ("diffuse", "inpaint", "sd3"),
    ("diffuse", "controlnet", "sd"),
    ("composite", "controlnet", "sd"),
    ("diffuse", "iclight", "sd"),
    ("composite", "iclight", "sd"),
]


@pytest.fixture(scope="module")
def engines(tiny_models):
    cache = {}

    def get(stage, name, model):
        key = (stage, name, model)
        if key not in cache:
            eng = base.create(stage, name)
            eng.setup("cpu", str(tiny_models[model]))
            cache[key] = eng
        eng = cache[key]
        eng.reset()
        return eng

    return get


def _outside(frame, stage, params):
    """Pixels that must equal the input exactly: outside the dilated object+shadow region."""
    region = masks.object_shadow_mask(frame.rgba, frame.passes.get("shadow_catcher"))
    hard = masks.dilate(region, params["dilate_px"])
    return hard == 0


@pytest.mark.parametrize("stage,name,model", CASES, ids=[f"{s}-{n}-{m}" for s, n, m in CASES])
def test_engine_end_to_end(engines, scene, stage, name, model):
    eng = engines(stage, name, model)
    params = dict(FAST, control="depth+normal")
    ticks: list[float] = []
    out = eng.process(scene, dict(params, progress=ticks.append))
    assert out.shape == scene.composite.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    outside = _outside(scene, stage, params)
    reference = scene.composite if stage == "diffuse" else None
    if stage == "composite":  # the composite engines build plate*shadow + product first
        from ml.diffuse.engines import alpha_over

        reference = alpha_over(scene.plate, scene.rgba, scene.passes["shadow_catcher"])
    assert np.array_equal(out[outside], reference[outside]), "pixels outside the region changed"
    inside = scene.rgba[..., 3] > 0
    assert np.abs(out[inside] - reference[inside]).max() > 1e-3, "the region was not diffused at all"
    assert ticks and ticks[-1] == pytest.approx(1.0) and ticks == sorted(ticks)
    # same seed, same shot start -> identical; another seed -> different
    eng.reset()
    again = eng.process(scene, dict(params))
    assert np.array_equal(out, again)
    eng.reset()
    other = eng.process(scene, dict(params, seed=4))
    assert not np.array_equal(out, other)


def test_iclight_keeps_plate_outside_alpha(engines, scene):
    out = engines("composite", "iclight", "sd").process(scene, dict(FAST))
    a = scene.rgba[..., 3]
    base_plate = scene.plate * scene.passes["shadow_catcher"]
    assert np.array_equal(out[a == 0], base_plate[a == 0])


def test_cancel_between_steps(engines, scene):
    eng = engines("diffuse", "sdedit", "sd")
    stop = threading.Event()
    seen: list[float] = []

    def progress(f):
        seen.append(f)
        stop.set()  # ask to stop after the first step

    with pytest.raises(EngineError, match="cancelled before step 2"):
        eng.process(scene, dict(FAST, steps=4, strength=1.0, progress=progress, cancel=stop))
    assert len(seen) == 1
    with pytest.raises(EngineError, match="cancelled before step 1"):
        engines("diffuse", "sdedit", "sd3").process(scene, dict(FAST, cancel=lambda: True))


def test_empty_prompt(engines, scene):
    with pytest.raises(EngineError, match="needs a prompt"):
        engines("diffuse", "inpaint", "sd").process(scene, dict(FAST, prompt="  "))
    with pytest.raises(EngineError, match="needs a prompt"):
        engines("diffuse", "iclight", "sd").process(scene, dict(FAST, prompt=""))
    # harmonization needs none
    out = engines("diffuse", "sdedit", "sd").process(scene, dict(FAST, prompt=""))
    assert out.shape == scene.composite.shape


def test_mask_of_wrong_size(engines, scene):
    from dataclasses import replace

    frame = replace(scene, rgba=None, mask=np.ones((10, 10), np.float32))
    with pytest.raises(EngineError, match="10x10 but the image is 45x30"):
        engines("diffuse", "sdedit", "sd").process(frame, dict(FAST))


def test_region_from_mask_when_no_render(engines, scene):
    from dataclasses import replace

    mask = np.zeros(scene.composite.shape[:2], np.float32)
    mask[2:8, 2:10] = 1
    frame = replace(scene, rgba=None, passes={}, mask=mask)
    out = engines("diffuse", "sdedit", "sd").process(frame, dict(FAST))
    far = masks.dilate(mask, FAST["dilate_px"]) == 0
    assert np.array_equal(out[far], scene.composite[far])
    with pytest.raises(MissingInput, match="needs the object's region"):
        engines("diffuse", "sdedit", "sd").process(replace(frame, mask=None), dict(FAST))


def test_no_model_dir_is_unavailable(monkeypatch):
    monkeypatch.delenv("VANELIA_MODEL_DIR", raising=False)
    for stage, name in [("diffuse", "sdedit"), ("diffuse", "inpaint"), ("diffuse", "controlnet"), ("diffuse", "iclight"), ("composite", "controlnet"), ("composite", "iclight")]:
        eng = base.create(stage, name)
        with pytest.raises(EngineUnavailable, match="model folder"):
            eng.setup("cpu", None)
        assert eng.fallback in ("none", "classical")


def test_missing_component_named(tiny_models, tmp_path):
    import shutil

    broken = tmp_path / "sd"
    shutil.copytree(tiny_models["sd"], broken)
    shutil.rmtree(broken / "vae")
    with pytest.raises(EngineUnavailable, match=r"missing component 'vae'.*place the diffusers 'vae/' folder"):
        base.create("diffuse", "sdedit").setup("cpu", str(broken))
    shutil.rmtree(broken / "unet")
    with pytest.raises(EngineUnavailable, match="missing component 'unet'"):
        base.create("diffuse", "sdedit").setup("cpu", str(broken))
    shutil.copytree(tiny_models["sd"] / "vae", broken / "vae")
    shutil.copytree(tiny_models["sd"] / "unet", broken / "unet")
    shutil.rmtree(broken / "iclight")
    with pytest.raises(EngineUnavailable, match="no IC-Light offset"):
        base.create("composite", "iclight").setup("cpu", str(broken))
    shutil.rmtree(broken / "controlnet_normal")
    eng = base.create("diffuse", "controlnet")
    eng.setup("cpu", str(broken))  # depth net present: fine
    from ml.stages.base import FrameState

    with pytest.raises(EngineUnavailable, match="missing component 'controlnet_normal'"):
        eng.process(FrameState(0, np.zeros((8, 8, 3), np.float32), np.ones((8, 8, 4), np.float32), {"depth": np.ones((8, 8), np.float32), "normal": np.ones((8, 8, 3), np.float32)}, composite=np.zeros((8, 8, 3), np.float32)), dict(FAST, control="normal"))


def test_bad_strength(engines, scene):
    with pytest.raises(EngineError, match="strength must be in"):
        engines("diffuse", "sdedit", "sd").process(scene, dict(FAST, strength=1.5))


def test_none_engine_passthrough(scene):
    eng = base.create("diffuse", "none")
    eng.setup("cpu", None)
    out = eng.process(scene, {})
    assert np.array_equal(out, scene.composite) and out is not scene.composite


def test_registered_names():
    names = {k for k in base.engines()}
    for n in ("sdedit", "inpaint", "controlnet", "iclight", "a1111", "comfyui", "none"):
        assert ("diffuse", n) in names
    assert ("composite", "controlnet") in names and ("composite", "iclight") in names
