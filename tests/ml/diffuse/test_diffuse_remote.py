"""A1111 and ComfyUI clients/engines against real loopback HTTP servers."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from diffuse_fake_servers import A1111Handler, ComfyHandler, Server, free_port

from ml.diffuse.remote_a1111 import A1111Client, A1111Settings
from ml.diffuse.remote_comfyui import DEFAULT_INPAINT_WORKFLOW, ComfyUIClient, fill_workflow
from ml.stages import base
from ml.stages.base import EngineError, EngineUnavailable


@pytest.fixture
def picture():
    rs = np.random.RandomState(1)
    img = (rs.rand(24, 40, 3) * 255).astype(np.uint8)
    mask = np.zeros((24, 40), np.float32)
    mask[8:16, 10:30] = 1
    return img, mask


def test_a1111_inpaint_roundtrip(picture):
    img, mask = picture
    with Server(A1111Handler) as srv:
        client = A1111Client(srv.url)
        s = A1111Settings(prompt="a bag on the table", negative_prompt="blurry", steps=12, sampler="DPM++ 2M", seed=42, denoising_strength=0.6, loras=[("more_details", 0.7), ("sdxl_render", 1.0)])
        images, info = client.img2img(img, s, mask=mask)
        req = srv.state["requests"][-1]
    assert req["prompt"] == "a bag on the table <lora:more_details:0.7> <lora:sdxl_render:1>"
    assert (req["negative_prompt"], req["steps"], req["sampler_name"], req["seed"]) == ("blurry", 12, "DPM++ 2M", 42)
    assert req["denoising_strength"] == 0.6 and (req["width"], req["height"]) == (40, 24)
    assert info["seed"] == 42 and info["sampler_name"] == "DPM++ 2M"
    out = images[0]
    inside = mask > 0.5
    assert np.array_equal(out[inside], 255 - img[inside]) and np.array_equal(out[~inside], img[~inside])


def test_a1111_errors(picture):
    img, mask = picture
    with Server(A1111Handler) as srv:
        client = A1111Client(srv.url)
        with pytest.raises(EngineError, match="HTTP 500.*device-side assert"):
            client.img2img(img, A1111Settings(prompt="fail please"), mask=mask)
        with pytest.raises(EngineError, match="HTTP 422.*not a valid integer"):
            client.img2img(img, A1111Settings(prompt="x", extra={"steps": "many"}))
        with pytest.raises(EngineError, match="mask is 5x5"):
            client.img2img(img, A1111Settings(), mask=np.zeros((5, 5)))
        assert client.samplers()[0] == "Euler a"
    with pytest.raises(EngineUnavailable, match="no Automatic1111 web API answers.*--api"):
        A1111Client(f"http://127.0.0.1:{free_port()}").ping()


def test_a1111_progress_and_cancel(picture):
    img, _ = picture
    with Server(A1111Handler) as srv:
        client = A1111Client(srv.url, poll_s=0.02)
        seen: list[float] = []
        images, _ = client.img2img(img, A1111Settings(prompt="slow", steps=10), progress=seen.append)
        assert seen[-1] == 1.0 and any(0 < s < 1 for s in seen)
        stop = threading.Event()
        threading.Timer(0.1, stop.set).start()
        with pytest.raises(EngineError, match="cancelled"):
            client.img2img(img, A1111Settings(prompt="slow", steps=200), cancel=stop)
        assert srv.state["interrupted"]


def test_a1111_engine(scene):
    with Server(A1111Handler) as srv:
        eng = base.create("diffuse", "a1111")
        eng.setup("cpu", srv.url)
        out = eng.process(scene, {"prompt": "a bag", "steps": 5, "seed": 1, "dilate_px": 2, "feather_px": 1, "loras": "more_details:0.5"})
        assert "<lora:more_details:0.5>" in srv.state["requests"][-1]["prompt"]
    from ml.diffuse import masks

    region = masks.object_shadow_mask(scene.rgba, scene.passes["shadow_catcher"])
    outside = masks.dilate(region, 2) == 0
    assert out.shape == scene.composite.shape
    assert np.array_equal(out[outside], scene.composite[outside])
    assert np.abs(out[region > 0] - scene.composite[region > 0]).max() > 0.1
    with pytest.raises(EngineUnavailable, match="no Automatic1111"):
        base.create("diffuse", "a1111").setup("cpu", f"http://127.0.0.1:{free_port()}")


def test_fill_workflow():
    wf = fill_workflow(DEFAULT_INPAINT_WORKFLOW, {"checkpoint": "sd.safetensors", "image": "a.png", "mask": "m.png", "prompt": "bag", "negative_prompt": "", "seed": 5, "steps": 7, "cfg": 6.5, "denoise": 0.4, "sampler": "euler"})
    assert wf["9"]["inputs"]["seed"] == 5 and wf["9"]["inputs"]["denoise"] == 0.4 and wf["7"]["inputs"]["text"] == "bag"
    assert DEFAULT_INPAINT_WORKFLOW["9"]["inputs"]["seed"] == "{{seed}}"  # the template is untouched
    with pytest.raises(EngineError, match=r"\{\{checkpoint\}\}"):
        fill_workflow(DEFAULT_INPAINT_WORKFLOW, {"image": "a"})


def test_comfyui_roundtrip_and_errors(picture):
    img, mask = picture
    mask8 = np.repeat(((mask > 0.5) * 255).astype(np.uint8)[..., None], 3, axis=2)
    values = {"checkpoint": "sd15.safetensors", "prompt": "a bag", "negative_prompt": "", "seed": 1, "steps": 3, "cfg": 7.0, "denoise": 0.5, "sampler": "euler"}
    with Server(ComfyHandler, step_s=0.02) as srv:
        client = ComfyUIClient(srv.url, poll_s=0.02)
        seen: list[float] = []
        out = client.run(DEFAULT_INPAINT_WORKFLOW, values, images={"image": img, "mask": mask8}, progress=seen.append)[0]
        inside = mask > 0.5
        assert np.array_equal(out[inside], 255 - img[inside]) and np.array_equal(out[~inside], img[~inside])
        assert seen[-1] == 1.0
        sent = list(srv.state["prompts"].values())[-1]
        assert sent["9"]["inputs"]["steps"] == 3 and sent["1"]["inputs"]["ckpt_name"] == "sd15.safetensors"
        # validation error (an image that was never uploaded) -> HTTP 400 with node errors
        bad = fill_workflow(DEFAULT_INPAINT_WORKFLOW, dict(values, image="nope.png", mask="nope.png"))
        with pytest.raises(EngineError, match="HTTP 400.*Prompt outputs failed validation.*Invalid image file"):
            client.queue(bad)
        # execution error reported in the history
        with pytest.raises(EngineError, match="CheckpointLoaderSimple.*Could not find checkpoint"):
            client.run(DEFAULT_INPAINT_WORKFLOW, dict(values, checkpoint="missing.safetensors"), images={"image": img, "mask": mask8})
        # cancel while running
        stop = threading.Event()
        threading.Timer(0.1, stop.set).start()
        with pytest.raises(EngineError, match="cancelled"):
            client.run(DEFAULT_INPAINT_WORKFLOW, dict(values, steps=500), images={"image": img, "mask": mask8}, cancel=stop)
        assert srv.state["interrupted"]
    with pytest.raises(EngineUnavailable, match="no ComfyUI server answers"):
        ComfyUIClient(f"http://127.0.0.1:{free_port()}").ping()


def test_comfyui_engine(scene):
    with Server(ComfyHandler) as srv:
        eng = base.create("diffuse", "comfyui")
        eng.setup("cpu", srv.url)
        with pytest.raises(EngineError, match="no value was given"):
            eng.process(scene, {"prompt": "a bag"})  # the built-in workflow needs a checkpoint name
        out = eng.process(scene, {"prompt": "a bag", "comfy_checkpoint": "sd15.safetensors", "steps": 2, "dilate_px": 2, "feather_px": 0})
    from ml.diffuse import masks

    region = masks.object_shadow_mask(scene.rgba, scene.passes["shadow_catcher"])
    outside = masks.dilate(region, 2) == 0
    assert np.array_equal(out[outside], scene.composite[outside])
    assert np.abs(out[region > 0] - scene.composite[region > 0]).max() > 0.1
