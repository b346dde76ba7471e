"""Inpaint engines: propagation quality, paste-back, pass-through and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.inpaint.dstt import DSTT
from ml.inpaint.engines import PropagateEngine, TeleaEngine
from ml.inpaint.masks import sequence_masks, shift_mask
from ml.inpaint.propagate import propagate, spatial_fill
from ml.inpaint.streaming import StreamingInpainter, StreamOptions, TorchRunner, dilate_mask
from ml.io.colour import srgb_to_linear
from ml.stages.base import EngineError, EngineUnavailable, FrameState, create

from conftest import LOWRES, hole_psnr, panning_clip


def test_propagate_beats_telea_on_moving_camera(clip, static_hole) -> None:
    holes = [static_hole] * len(clip)
    inputs = [np.where(m[..., None], 0.0, f) for f, m in zip(clip, holes)]
    res = propagate(inputs, holes)
    tel = [spatial_fill(i, m) for i, m in zip(inputs, holes)]
    p_prop, p_tel = hole_psnr(res.frames, clip, holes), hole_psnr(tel, clip, holes)
    assert p_prop >= p_tel + 3.0, (p_prop, p_tel)
    assert p_prop > 30.0
    for i, o, m in zip(inputs, res.frames, holes):  # only hole pixels changed
        assert np.array_equal(o[~m], i[~m])


def test_propagate_moving_mask_and_unseen_fallback() -> None:
    clip = panning_clip()
    rng = np.random.default_rng(3)
    holes = sequence_masks(len(clip), 64, 96, rng, p_same=0.0, kind="rect", area=(0.08, 0.12))
    assert not np.array_equal(holes[0], holes[1])
    inputs = [np.where(m[..., None], 0.0, f) for f, m in zip(clip, holes)]
    res = propagate(inputs, holes)
    tel = [spatial_fill(i, m) for i, m in zip(inputs, holes)]
    assert hole_psnr(res.frames, clip, holes) >= hole_psnr(tel, clip, holes) + 3.0
    # a hole at the same place in every frame of a still clip can never be seen: spatial fill
    still = [clip[0]] * 4
    hole = np.zeros((64, 96), bool)
    hole[10:20, 10:20] = True
    res = propagate([np.where(hole[..., None], 0.0, f) for f in still], [hole] * 4)
    assert all(u[hole].all() for u in res.unseen)
    assert all(np.isfinite(f).all() and f[hole].mean() > 0.05 for f in res.frames)


def _states(clip, holes):
    return [FrameState(i, srgb_to_linear(f), mask=m.astype(np.float32)) for i, (f, m) in enumerate(zip(clip, holes))]


def test_engines_registered_and_sequence_path_matches_order(clip, static_hole) -> None:
    for name in ("telea", "propagate", "dstt", "propagate+dstt"):
        assert create("inpaint", name).stage == "inpaint"
    holes = [static_hole] * 5 + [np.zeros_like(static_hole)] * 3
    states = _states(clip, holes)
    eng = PropagateEngine()
    outs = list(eng.process_sequence(iter(states), {"window": 3}))
    assert len(outs) == len(states)
    for st, out, m in zip(states, outs, holes):
        assert np.array_equal(out[~m], st.plate[~m])  # only masked pixels change
    assert outs[6] is states[6].plate  # empty mask: untouched
    # causal per-frame path works too and is worse or equal only inside the hole
    eng.reset()
    causal = [eng.process(s, {"window": 4}) for s in states]
    assert all(np.array_equal(c[~m], s.plate[~m]) for c, s, m in zip(causal, states, holes))


@pytest.mark.parametrize("engine", [TeleaEngine, PropagateEngine])
def test_bad_masks_give_clear_errors(engine, clip) -> None:
    eng = engine()
    plate = srgb_to_linear(clip[0])
    empty = FrameState(0, plate, mask=np.zeros((64, 96), np.float32))
    assert eng.process(empty, {}) is plate
    with pytest.raises(EngineError, match="whole frame"):
        eng.process(FrameState(1, plate, mask=np.ones((64, 96), np.float32)), {})
    with pytest.raises(EngineError, match="mask is 48x32 but the plate is 96x64"):
        eng.process(FrameState(2, plate, mask=np.zeros((32, 48), np.float32)), {})
    with pytest.raises(EngineError, match="no mask"):
        eng.process(FrameState(3, plate), {})


def test_dstt_without_checkpoint_names_the_file(tmp_path) -> None:
    eng = create("inpaint", "dstt")
    missing = tmp_path / "nowhere" / "dstt.safetensors"
    with pytest.raises(EngineUnavailable, match=str(missing)):
        eng.setup("cpu", str(missing))
    assert type(eng).fallback == "propagate"
    from ml.inpaint.checkpoint import default_checkpoint

    assert default_checkpoint().as_posix().endswith("checkpoints/inpaint/dstt.safetensors")


def test_streaming_pastes_back_only_masked_pixels() -> None:
    torch.manual_seed(0)
    runner = TorchRunner(DSTT(LOWRES), LOWRES)
    opts = StreamOptions(dilate=3, feather=2)
    s = StreamingInpainter(runner, opts)
    rng = np.random.default_rng(0)
    plate = rng.random((150, 230, 3)).astype(np.float32)  # not the network's size or aspect
    hole = np.zeros((150, 230), bool)
    hole[60:80, 100:130] = True
    out = s.fill(plate, hole)
    grown = dilate_mask(hole, opts.dilate)
    assert np.array_equal(out[~grown], plate[~grown])
    assert np.abs(out[hole] - plate[hole]).mean() > 1e-3
    mem_after_one = s.memory.copy()
    out2 = s.fill(plate, shift_mask(hole, 2, 0))  # stays inside the sticky box: memory kept
    assert s.stats["memory_resets"] == 0 and not np.array_equal(s.memory, mem_after_one)
    assert np.array_equal(out2[~dilate_mask(shift_mask(hole, 2, 0), 3)], plate[~dilate_mask(shift_mask(hole, 2, 0), 3)])
    empty = np.zeros_like(hole)
    assert s.fill(plate, empty) is plate
    with pytest.raises(ValueError, match="mask is"):
        s.fill(plate, hole[:100])
    # look-ahead: outputs come later but in order
    la = StreamingInpainter(runner, StreamOptions(lookahead=2))
    assert la.push(plate, hole) is None and la.push(plate, hole) is None
    assert la.push(plate, hole) is not None
    assert len(la.flush()) == 2


def test_dstt_engines_with_a_checkpoint(tmp_path) -> None:
    """dstt at its 360x640 size on an arbitrary plate; propagate+dstt uses it only for unseen pixels."""
    from ml.inpaint.checkpoint import save_checkpoint
    from ml.inpaint.dstt import TINY

    torch.manual_seed(0)
    low = save_checkpoint(tmp_path / "low.safetensors", DSTT(LOWRES))
    with pytest.raises(EngineError, match="96x160 frames, this engine runs at 360x640"):
        create("inpaint", "dstt").setup("cpu", str(low))
    ck = save_checkpoint(tmp_path / "tiny.safetensors", DSTT(TINY))
    clip = panning_clip(n=3)
    hole = np.zeros((64, 96), bool)
    hole[20:40, 30:60] = True
    eng = create("inpaint", "dstt")
    eng.setup("cpu", str(ck))
    st = FrameState(0, srgb_to_linear(clip[0]), mask=hole.astype(np.float32))
    out = eng.process(st, {})
    grown = dilate_mask(hole, 4)
    assert np.array_equal(out[~grown], st.plate[~grown]) and not np.array_equal(out[hole], st.plate[hole])
    # a still clip: nothing is ever revealed, so the network fills the hole in every frame
    both = create("inpaint", "propagate+dstt")
    both.setup("cpu", str(ck))
    states = [FrameState(i, srgb_to_linear(clip[0]), mask=hole.astype(np.float32)) for i in range(2)]
    outs = list(both.process_sequence(iter(states), {}))
    assert both._streamer.stats["network_calls"] == 2
    assert all(np.array_equal(o[~hole], s.plate[~hole]) for o, s in zip(outs, states))
