"""The relighting U-Net, its checkpoints and the `unet` engine (small width, CPU)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.relight import data as rdata
from ml.relight.train import RelightLoss
from ml.relight.unet import CheckpointError, RelightUNet, UNetConfig, count_parameters, load_checkpoint, save_checkpoint
from ml.stages.base import EngineUnavailable, FrameState, MissingInput, create
from shotcache.schema import Light, Lighting

torch.set_num_threads(1)
SMALL = UNetConfig(width=0.0625)


def test_shapes_and_widths():
    model = RelightUNet(SMALL).eval()
    x = [torch.rand(2, 1, 32, 40), torch.rand(2, 1, 32, 40), torch.rand(2, 3, 32, 40), torch.rand(2, 3, 32, 40)]
    assert model(*x).shape == (2, 3, 32, 40)
    assert SMALL.encoder_channels == (8, 16, 32, 64)
    assert UNetConfig().encoder_channels == (128, 256, 512, 1024) and UNetConfig().input_channels == (64, 64, 32, 32)
    assert count_parameters(model) < 200_000
    five = RelightUNet(UNetConfig(albedo_channels=5, width=0.0625, lambert_skip=False)).eval()
    assert five(x[0], x[1], torch.rand(2, 5, 32, 40), x[3]).shape == (2, 3, 32, 40)


def test_untrained_output_is_lambert():
    """The output conv starts at zero, so the network starts at albedo x max(cos, 0)."""
    model = RelightUNet(SMALL).eval()
    cos = torch.rand(1, 1, 16, 16) * 2 - 1
    alb = torch.rand(1, 3, 16, 16)
    out = model(torch.rand(1, 1, 16, 16), cos, alb, torch.rand(1, 3, 16, 16))
    torch.testing.assert_close(out, alb * cos.clamp_min(0))


def test_checkpoint_roundtrip_and_bad_files(tmp_path):
    model = RelightUNet(SMALL)
    path = save_checkpoint(tmp_path / "u.safetensors", model, {"epoch": "3"})
    loaded, meta = load_checkpoint(path)
    assert loaded.config == SMALL and meta["epoch"] == "3"
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    with pytest.raises(CheckpointError, match="width=0.0625"):
        load_checkpoint(path, expect=UNetConfig(width=0.125))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_checkpoint(junk)


def _frame(h: int = 20, w: int = 28, drop: str | None = None) -> FrameState:
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(h, w, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    alpha = np.zeros((h, w, 1), np.float32)
    alpha[4:15, 5:20] = 1.0
    alpha[4, 5] = 0.5
    passes = {"albedo": rng.uniform(0, 1, (h, w, 3)).astype(np.float32), "normal": normal,
              "position": rng.uniform(-1, 1, (h, w, 3)).astype(np.float32)}
    passes.pop(drop, None)
    lighting = Lighting(world_strength=0.1, lights=[Light(type="sun", direction=[0, 0, 1]), Light(type="point", position=[1, 1, 3], intensity=200)])
    return FrameState(index=7, plate=np.zeros((h, w, 3), np.float32), rgba=np.concatenate([passes["albedo"] if "albedo" in passes else np.zeros((h, w, 3), np.float32), alpha], -1), passes=passes, lighting=lighting)


def test_engine_relights_keeps_alpha_and_names_missing_things(tmp_path):
    ckpt = save_checkpoint(tmp_path / "u.safetensors", RelightUNet(SMALL))
    eng = create("relight", "unet")
    assert eng.learned and eng.fallback == "lambert"
    eng.setup("cpu", str(ckpt))
    frame = _frame()
    out = eng.process(frame, {})
    assert out.shape == frame.rgba.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 3], frame.rgba[..., 3])
    inside = frame.rgba[..., 3] > 0
    assert np.all(out[~inside, :3] == 0) and out[inside, :3].mean() > 0.01
    one = eng.process(frame, {"lights": "strongest"})
    assert not np.allclose(one, out)
    with pytest.raises(MissingInput, match="'position'"):
        eng.process(_frame(drop="position"), {})
    empty = _frame()
    empty.rgba[..., 3] = 0
    assert np.all(eng.process(empty, {}) == 0)  # no product visible: nothing to shade


def test_engine_setup_errors_name_the_checkpoint(tmp_path):
    eng = create("relight", "unet")
    missing = tmp_path / "nope" / "unet.safetensors"
    with pytest.raises(EngineUnavailable, match=str(missing)):
        eng.setup("cpu", str(missing))
    other = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(other), metadata={"kind": "vanelia.composite"})
    with pytest.raises(EngineUnavailable, match="not a relight U-Net checkpoint"):
        eng.setup("cpu", str(other))


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    model = RelightUNet(UNetConfig(width=0.0625))
    x = torch.rand(4, 8, 16, 16)
    # a target Lambert cannot explain: a cast shadow over the right half
    target = x[:, 2:5] * x[:, 1:2].clamp_min(0)
    target[..., 8:] *= 0.3
    weight = torch.ones(4, 1, 16, 16)
    loss_fn = RelightLoss()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss, _ = loss_fn(model(*rdata.split_inputs(x)), target, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_relight_command_on_a_shot(tmp_path, capsys):
    """`vanelia relight` writes relit EXR + PNG per frame; a missing checkpoint falls back to lambert."""
    from cli.main import main
    from ml.io.exr import read_passes
    from ml.pipeline.synthetic import make_shot

    shot = make_shot(tmp_path / "shot", frames=2, size=(40, 32))
    ckpt = save_checkpoint(tmp_path / "u.safetensors", RelightUNet(SMALL))
    out = tmp_path / "out"
    assert main(["relight", "--shot", str(shot.root), "--output", str(out), "--engine", "unet", "--checkpoint", str(ckpt)]) == 0
    relit = read_passes(out / "000001.exr")["rgba"]
    src = read_passes(shot.render_frame(1))["rgba"]
    np.testing.assert_array_equal(relit[..., 3], src[..., 3])
    assert (out / "000002.png").is_file()
    assert main(["relight", "--shot", str(shot.root), "--output", str(out / "fb"), "--checkpoint", str(tmp_path / "none.safetensors")]) == 0
    assert "falling back to 'lambert'" in capsys.readouterr().err
    assert main(["relight", "--shot", str(shot.root), "--output", str(shot.render_dir)]) == 2  # never writes into the shot


def test_shipped_checkpoint_is_the_engine_default():
    from ml.relight.unet_engine import DEFAULT_CHECKPOINT

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"no trained checkpoint at {DEFAULT_CHECKPOINT}")
    eng = create("relight", "unet")
    eng.setup("cpu", None)
    assert eng.checkpoint == str(DEFAULT_CHECKPOINT) and eng.model is not None
    assert DEFAULT_CHECKPOINT.stat().st_size < 50e6
    out = eng.process(_frame(), {})
    assert np.isfinite(out).all()
