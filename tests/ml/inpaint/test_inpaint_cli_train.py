"""`vanelia inpaint` on real files, bad input before any write, and a CPU training smoke test."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cli.main import main as vanelia
from ml.inpaint.checkpoint import load_checkpoint
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


def _tiny_run(tmp_path, out: str, **kw) -> TrainConfig:
    data = tmp_path / "clip"
    if not data.exists():
        for i, f in enumerate(panning_clip(n=16, h=48, w=80)):
            write_rgb8(data / f"{i:04d}.png", (f * 255).astype(np.uint8))
        rng = np.random.default_rng(2)
        write_rgb8(tmp_path / "stills" / "p.png", (rng.random((90, 150, 3)) * 255).astype(np.uint8))
    base = dict(data=[str(data)], stills=[str(tmp_path / "stills")], out=str(tmp_path / out), model=MICRO, batch=2,
                steps=4, warmup=2, lr=1e-3, val_sequences=1, val_every=100, save_every=100, log_every=0,
                val_fraction=0.3, synthetic_per_still=2)
    base.update(kw)
    return TrainConfig(**base)


def test_resume_reproduces_the_unbroken_run(tmp_path) -> None:
    """4 steps straight vs 2 steps, stop, resume for 2: same losses, same weights, same schedule."""
    whole = train(_tiny_run(tmp_path, "whole"))
    first = train(_tiny_run(tmp_path, "split", stop_at=2))
    assert [s["step"] for s in first["steps"]] == [1, 2]
    state = tmp_path / "split" / "state.pt"
    assert state.is_file() and (tmp_path / "split" / "dstt.safetensors").is_file()
    resumed = train(_tiny_run(tmp_path, "split", resume=True))
    assert [s["step"] for s in resumed["steps"]] == [1, 2, 3, 4]
    assert [s["loss"] for s in resumed["steps"]] == [s["loss"] for s in whole["steps"]]
    assert [s["lr"] for s in resumed["steps"]] == [s["lr"] for s in whole["steps"]]
    assert len(set(s["loss"] for s in whole["steps"])) == 4, "the losses must differ step to step (a real test)"
    a, _ = load_checkpoint(tmp_path / "whole" / "dstt.safetensors")
    b, _ = load_checkpoint(tmp_path / "split" / "dstt.safetensors")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name
    hist = json.loads((tmp_path / "split" / "history.json").read_text())
    assert hist["val"][-1]["step"] == 4 and np.isfinite(hist["val"][-1]["psnr_hole"])
    assert (tmp_path / "split" / "loss.png").stat().st_size > 1000


def test_train_refusals(tmp_path, capsys) -> None:
    cfg = _tiny_run(tmp_path, "run", steps=1)
    train(cfg)
    stamp = (tmp_path / "run" / "state.pt").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg)
    assert (tmp_path / "run" / "state.pt").stat().st_mtime_ns == stamp
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(_tiny_run(tmp_path, "none", resume=True))
    other = DSTTConfig(height=48, width=80, channels=64, hidden=32, heads=2, num_blocks=2, zone=(2, 7))
    with pytest.raises(ValueError, match="do not fit this model"):
        train(_tiny_run(tmp_path, "run", model=other, resume=True))
    assert vanelia(["train", "inpaint", "--data", str(tmp_path / "clip"), "--out", str(tmp_path / "run"),
                    "--size", "tiny", "--device", "cpu"]) == 2
    assert "a run exists here" in capsys.readouterr().err
