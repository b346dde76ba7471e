"""Temporal use: shot-fixed noise, latent blending, keyframe propagation, flicker metric; resizing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.diffuse import resize
from ml.diffuse.temporal import propagate, warping_error
from ml.stages import base
from ml.stages.base import FrameState


def _shot(n=4, shift=1):
    """A textured plate panning right by ``shift`` px per frame with a product square on it."""
    rs = np.random.RandomState(5)
    import cv2

    tex = cv2.GaussianBlur(rs.rand(32, 64 + n * shift, 3).astype(np.float32), (0, 0), 1.5)
    frames = []
    for t in range(n):
        plate = np.ascontiguousarray(tex[:, t * shift : t * shift + 48]) * 0.6 + 0.1
        rgba = np.zeros((32, 48, 4), np.float32)
        rgba[10:20, 16:28] = [0.7, 0.3, 0.2, 1.0]
        comp = plate.copy()
        comp[10:20, 16:28] = rgba[10:20, 16:28, :3]
        frames.append(FrameState(t, plate, rgba, {}, composite=comp))
    return frames


def test_warping_error_is_zero_for_a_static_shot_and_counts_flicker():
    frames = _shot(3, shift=0)
    refs = [f.composite for f in frames]
    assert warping_error(refs, refs)["diffused"] == pytest.approx(0.0, abs=1e-6)
    noisy = [r + np.random.RandomState(i).rand(*r.shape).astype(np.float32) * 0.2 for i, r in enumerate(refs)]
    e = warping_error(noisy, refs)
    assert e["diffused"] > 0.03 and e["pairs"] == 2 and e["ratio"] > 10


def test_propagate_follows_motion():
    frames = _shot(2, shift=2)
    key_ref, cur_ref = frames[0].composite, frames[1].composite
    key_out = key_ref.copy()
    key_out[12:18, 20:26] += 0.3  # a change on the product
    soft = np.zeros(key_ref.shape[:2], np.float32)
    soft[8:22, 14:30] = 1
    out = propagate(key_out, key_ref, cur_ref, soft)
    assert np.array_equal(out[soft == 0], cur_ref[soft == 0])
    assert (out - cur_ref)[12:18, 20:26].mean() > 0.2  # product stays put in the frame: change stays put


@pytest.mark.parametrize("mode", ["fixed", "blend", "keyframe"])
def test_sequence_modes(tiny_models, mode):
    eng = base.create("diffuse", "sdedit")
    eng.setup("cpu", str(tiny_models["sd"]))
    frames = _shot(3, shift=0)
    params = {"prompt": "a bag", "steps": 2, "seed": 9, "strength": 0.7, "temporal": mode, "keyframe_interval": 2, "dilate_px": 2, "feather_px": 1}
    eng.reset()
    outs = [eng.process(f, dict(params)) for f in frames]
    # a static shot with shot-fixed noise: identical frames in every mode except blend
    # (blend mixes in the previous result, so frame 2 differs from frame 1 but stays close)
    if mode == "blend":
        assert not np.array_equal(outs[0], outs[1])
        assert warping_error(outs, [f.composite for f in frames])["diffused"] < 0.2
    elif mode == "keyframe":  # frame 1 is propagated along (near-zero) flow, frame 2 is a keyframe again
        assert np.allclose(outs[0], outs[1], atol=2e-3) and np.array_equal(outs[0], outs[2])
    else:
        assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[1], outs[2])
    indep = base.create("diffuse", "sdedit")
    indep.setup("cpu", str(tiny_models["sd"]))
    a = indep.process(frames[0], dict(params, temporal="independent"))
    assert np.array_equal(a, outs[0])  # frame 0 of a shot is the plain single-image result


def test_resize_m1_m2():
    img = np.random.RandomState(0).rand(30, 45, 3).astype(np.float32)
    fit = resize.plan(30, 45, 8, max_side=None)
    assert fit.padded == (32, 48)
    padded = resize.apply(img, fit)
    assert padded.shape == (32, 48, 3) and np.array_equal(padded[:30, :45], img)
    assert np.array_equal(resize.undo(padded, fit), img)
    fit2 = resize.plan(300, 450, 64, max_side=100)
    assert fit2.work == (67, 100) and fit2.padded == (128, 128)
    obj, box = resize.resize_and_pad(np.ones((10, 20, 3), np.float32), (16, 16))
    assert obj.shape == (16, 16, 3) and box == (4, 0, 8, 16) and obj[0, 0, 0] == 0 and obj[8, 8, 0] == 1
    lat = torch.randn(1, 4, 8, 8)
    small = resize.scale_latent(lat, 0.5)
    assert small.shape == (1, 4, 4, 4)
    bg = torch.zeros(1, 4, 16, 16)
    fused = resize.paste_latent(bg, small, torch.ones(1, 1, 4, 4), 14, 3)  # clipped at the bottom edge
    assert fused[..., 14:16, 3:7].abs().sum() > 0 and fused[..., :14, :].abs().sum() == 0
    with pytest.raises(ValueError):
        resize.scale_latent(lat, 0)
