"""`vanelia inpaint` on real files, bad input before any write, and a CPU training smoke test."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cli.main import main as vanelia
from ml.inpaint.checkpoint import CheckpointError, save_checkpoint
from ml.inpaint.dstt import DSTT, DSTTConfig
from ml.inpaint.train import TrainConfig, sequence_step, train
from ml.io.images import read_rgb8, write_mask, write_rgb8

from conftest import panning_clip


@pytest.fixture()
def shot(tmp_path):
    clip = panning_clip()
    frames = tmp_path / "frames"
    for i, f in enumerate(clip):
        write_rgb8(frames / f"f{i:03d}.png", (f * 255 + 0.5).astype(np.uint8))
    hole = np.zeros((64, 96), bool)
    hole[20:44, 36:64] = True
    masks = tmp_path / "masks"
    write_mask(masks / "all.png", hole.astype(np.float32))
    return tmp_path, frames, masks, hole


def test_cli_fills_only_masked_pixels(shot, capsys) -> None:
    root, frames, masks, hole = shot
    out = root / "out"
    assert vanelia(["inpaint", "--frames", str(frames), "--masks", str(masks), "--output", str(out)]) == 0
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == [f"f{i:03d}.png" for i in range(10)]
    for f in files:
        src, res = read_rgb8(frames / f.name), read_rgb8(f)
        assert np.array_equal(res[~hole], src[~hole])
        assert np.abs(res[hole].astype(int) - src[hole].astype(int)).mean() < 12  # close to the truth (the input was not zeroed, but the engine never reads hole pixels)
    assert "propagate" in capsys.readouterr().out
    # a second run must not overwrite
    before = files[0].read_bytes()
    assert vanelia(["inpaint", "--frames", str(frames), "--masks", str(masks), "--output", str(out), "--engine", "telea"]) == 2
    assert files[0].read_bytes() == before
    assert "already exist" in capsys.readouterr().err


def test_cli_bad_masks_write_nothing(shot, capsys) -> None:
    root, frames, masks, hole = shot
    per_frame = root / "three"
    for i in range(3):
        write_mask(per_frame / f"{i:03d}.png", hole.astype(np.float32))
    out = root / "out"
    assert vanelia(["inpaint", "--frames", str(frames), "--masks", str(per_frame), "--output", str(out)]) == 2
    assert "3 masks for 10 frames" in capsys.readouterr().err
    small = root / "small"
    write_mask(small / "m.png", np.ones((32, 48), np.float32))
    assert vanelia(["inpaint", "--frames", str(frames), "--masks", str(small), "--output", str(out)]) == 2
    assert "48x32 but the frames are 96x64" in capsys.readouterr().err
    full = root / "full"
    write_mask(full / "m.png", np.ones((64, 96), np.float32))
    assert vanelia(["inpaint", "--frames", str(frames), "--masks", str(full), "--output", str(out)]) == 2
    assert "whole frame" in capsys.readouterr().err
    assert vanelia(["inpaint", "--frames", str(frames), "--masks", str(masks), "--output", str(out), "--engine", "dstt",
                    "--checkpoint", str(root / "none.safetensors")]) == 2
    assert "none.safetensors" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


MICRO = DSTTConfig(height=48, width=80, channels=32, hidden=32, heads=2, num_blocks=2, zone=(2, 7))


def test_training_steps_lower_the_loss() -> None:
    """Streamed sequences with detached memory: ten Adam steps on CPU must cut the loss."""
    torch.manual_seed(0)
    model = DSTT(MICRO)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.0, 0.99))
    clip = [0.6 + 0.35 * c for c in panning_clip(n=3, h=48, w=80)]  # bright: far from the untrained output
    frames = torch.from_numpy(np.stack(clip).transpose(0, 3, 1, 2) * 2 - 1).float()[None]
    masks = torch.zeros(1, 3, 1, 48, 80)
    masks[..., 15:30, 25:50] = 1
    cfg = TrainConfig(data=[])
    losses = []
    for _ in range(10):
        opt.zero_grad()
        losses.append(sequence_step(model, frames, masks, cfg))
        opt.step()
    assert np.mean(losses[-3:]) < 0.8 * losses[0], losses


def test_train_cli_checkpoint_resume_and_refusals(tmp_path) -> None:
    data = tmp_path / "clip"
    for i, f in enumerate(panning_clip(n=7, h=48, w=80)):
        write_rgb8(data / f"{i:04d}.png", (f * 255).astype(np.uint8))
    out = tmp_path / "ck" / "d.safetensors"
    cfg = TrainConfig(data=[str(data)], out=str(out), epochs=[1], model=MICRO, batch=1, steps_per_epoch=1,
                      val_sequences=1, log_every=0, val_fraction=0.3)
    hist = train(cfg)
    assert out.is_file() and (tmp_path / "ck" / "d.loss.png").is_file()
    assert len(hist["epochs"]) == 1 and np.isfinite(hist["epochs"][0]["val_psnr"])
    stamp = out.stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg)
    assert out.stat().st_mtime_ns == stamp
    cfg.resume, cfg.epochs = True, [2]
    hist = train(cfg)
    assert [e["epoch"] for e in hist["epochs"]] == [0, 1]
    state = json.loads((tmp_path / "ck" / "d.train.json").read_text())
    assert state["stage"] == 1
    other = DSTTConfig(height=48, width=80, channels=64, hidden=32, heads=2, num_blocks=2, zone=(2, 7))
    save_checkpoint(tmp_path / "other.safetensors", DSTT(other))
    cfg2 = TrainConfig(data=[str(data)], out=str(tmp_path / "other.safetensors"), model=MICRO, resume=True)
    with pytest.raises(CheckpointError, match="architecture differs"):
        train(cfg2)
