"""DSTT network: sizes from the convolution arithmetic, memory semantics, ONNX parity, checkpoints."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ml.inpaint.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ml.inpaint.dstt import DSTT, TINY, DSTTConfig
from ml.inpaint.export import example_inputs, export_onnx, export_torchscript
from ml.inpaint.onnx_runner import OnnxRunner
from ml.inpaint.streaming import TorchRunner

from conftest import LOWRES


def test_default_sizes_come_from_conv_arithmetic() -> None:
    cfg = DSTTConfig()
    assert cfg.feat_size == (90, 160)
    assert cfg.token_grid == (30, 54)  # 160 // 3 would give 53
    assert cfg.seq_len == 1620
    assert cfg.memory_shape(1) == (1, 8, 2, 1620, 512)


def test_forward_at_360x640_shapes() -> None:
    torch.manual_seed(0)
    model = DSTT(TINY).eval()
    frames, masks, memory = example_inputs(TINY)
    assert memory.shape == (1, 8, 2, 1620, 64)
    with torch.no_grad():
        out, new_mem = model(frames, masks, memory)
    assert out.shape == (1, 1, 3, 360, 640)
    assert new_mem.shape == memory.shape
    assert float(out.abs().max()) <= 1.0  # tanh
    # drop oldest, append newest: the old newest slot becomes the oldest
    assert torch.equal(new_mem[:, :, 0], memory[:, :, 1])
    assert not torch.equal(new_mem[:, :, 1], memory[:, :, 1])


def test_memory_carries_over_between_calls() -> None:
    torch.manual_seed(0)
    model = DSTT(LOWRES).eval()
    frames, masks, zero = example_inputs(LOWRES)
    zero = torch.zeros_like(zero)
    other = frames.flip(-1)
    with torch.no_grad():
        _, mem1 = model(other, masks, zero)
        out_carried, _ = model(frames, masks, mem1)
        out_fresh, _ = model(frames, masks, zero)
    assert (out_carried - out_fresh).abs().max() > 1e-4  # the past frame changes the present
    # the memory now holds the first frame's tokens in the newest slot
    assert mem1[:, :, 1].abs().sum() > 0 and torch.equal(mem1[:, :, 0], zero[:, :, 1])


def test_onnx_and_torchscript_match_torch_over_streamed_frames(tmp_path) -> None:
    torch.manual_seed(0)
    model = DSTT(LOWRES).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    ort = OnnxRunner(path, LOWRES, threads=1)
    eager = TorchRunner(model, LOWRES)
    ts = torch.jit.load(str(export_torchscript(model, tmp_path / "m.pt")))
    rng = np.random.default_rng(0)
    mem_a = mem_b = ort.init_memory()
    mem_c = torch.zeros(LOWRES.memory_shape(1))
    for _ in range(3):
        f = (rng.random((1, 1, 3, 96, 160), dtype=np.float32) * 2 - 1)
        m = (rng.random((1, 1, 1, 96, 160)) > 0.7).astype(np.float32)
        out_a, mem_a = eager(f, m, mem_a)
        out_b, mem_b = ort(f, m, mem_b)
        with torch.no_grad():
            out_c, mem_c = ts(torch.from_numpy(f), torch.from_numpy(m), mem_c)
        assert np.abs(out_a - out_b).max() <= 1e-3
        assert np.abs(mem_a - mem_b).max() <= 1e-3
        assert np.abs(out_a - out_c.numpy()).max() <= 1e-3
    # dynamic batch and time axes
    f2 = np.concatenate([f, f[:, :, ::-1]], axis=1)
    m2 = np.concatenate([m, m], axis=1)
    out_a, _ = eager(np.repeat(f2, 2, 0), np.repeat(m2, 2, 0), np.repeat(mem_a, 2, 0))
    out_b, _ = ort(np.repeat(f2, 2, 0), np.repeat(m2, 2, 0), np.repeat(mem_b, 2, 0))
    assert out_b.shape == (2, 2, 3, 96, 160)
    assert np.abs(out_a - out_b).max() <= 1e-3


def test_checkpoint_round_trip_and_clear_errors(tmp_path) -> None:
    torch.manual_seed(0)
    model = DSTT(LOWRES)
    path = save_checkpoint(tmp_path / "a.safetensors", model, {"note": "x"})
    loaded, extra = load_checkpoint(path)
    assert extra == {"note": "x"}
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with pytest.raises(CheckpointError, match="96x160.*360x640"):
        load_checkpoint(path, resolution=(360, 640))
    with pytest.raises(CheckpointError, match="architecture differs"):
        load_checkpoint(path, expect=DSTTConfig(height=96, width=160, channels=32, hidden=64, heads=2, num_blocks=2, zone=(2, 2)))
    # another network's weights
    foreign = tmp_path / "foreign.safetensors"
    save_file({"conv.weight": torch.zeros(3, 3)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a Vanelia DSTT"):
        load_checkpoint(foreign)
    # our metadata, but weights of another architecture
    wrong = tmp_path / "wrong.safetensors"
    save_file({"conv.weight": torch.zeros(3, 3)}, str(wrong), metadata={"arch": "dstt-memory-v1", "config": LOWRES.to_json()})
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(wrong)
    bad_json = json.loads(LOWRES.to_json())
    bad_json["arch"] = "something-else"
    assert DSTTConfig.from_json(LOWRES.to_json()) == LOWRES
    with pytest.raises(ValueError):
        DSTTConfig.from_json(json.dumps(bad_json))
