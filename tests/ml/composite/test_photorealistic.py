"""Photorealistic compositor: network shapes, attention, engine crop/paste, bad input, training."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.composite.contextual_attention import ContextualAttention
from ml.composite.photorealistic import (
    CheckpointError,
    CompositorConfig,
    PhotorealisticNet,
    apply_coefficients,
    compose_coefficients,
    count_parameters,
    make_input,
    save_checkpoint,
)
from ml.composite.photorealistic_engine import PhotorealisticCompositor, object_box
from ml.stages.base import EngineUnavailable

torch.set_num_threads(1)


def _tiny_net(cnum: int = 8, seed: int = 0) -> PhotorealisticNet:
    """A small net whose heads are non-zero, so its output differs from its input."""
    torch.manual_seed(seed)
    net = PhotorealisticNet(CompositorConfig(cnum=cnum, net_size=32))
    for head in (net.coarse.head, net.fine.head):
        torch.nn.init.normal_(head.weight, std=0.05)
        torch.nn.init.normal_(head.bias, std=0.05)
    return net.eval()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "c8.safetensors"
    save_checkpoint(path, _tiny_net())
    return path


def _scene(h: int = 60, w: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    plate = rng.random((h, w, 3), dtype=np.float32) * 0.8
    rgba = np.zeros((h, w, 4), np.float32)
    rgba[20:40, 30:55, :3] = [0.6, 0.3, 0.1]
    rgba[20:40, 30:55, 3] = 1.0
    rgba[19, 30:55, 3] = 0.3  # a soft edge row
    return plate, rgba


def test_shapes_at_cnum32() -> None:
    net = PhotorealisticNet(CompositorConfig(cnum=32)).eval()
    x = make_input(torch.rand(2, 3, 32, 48), (torch.rand(2, 1, 32, 48) > 0.5).float(), torch.rand(2, 3, 32, 48))
    assert x.shape == (2, 8, 32, 48)
    with torch.no_grad():
        coef, fine, coarse = net(x)
    assert coef.shape == (2, 12, 32, 48) and fine.shape == (2, 3, 32, 48) and coarse.shape == (2, 3, 32, 48)
    with pytest.raises(ValueError, match="multiple of 8"):
        net(torch.rand(1, 8, 30, 32))


def test_parameter_count_near_10m_at_cnum48() -> None:
    n48 = count_parameters(PhotorealisticNet(CompositorConfig(cnum=48)))
    n32 = count_parameters(PhotorealisticNet(CompositorConfig(cnum=32)))
    assert 7e6 < n48 < 12e6
    assert n32 < n48
    assert len([m for m in PhotorealisticNet(CompositorConfig(cnum=32)).coarse.modules() if isinstance(m, torch.nn.Conv2d)]) == 17


def test_untrained_network_is_identity() -> None:
    """Zero-initialised heads: a fresh network returns the composite unchanged."""
    net = PhotorealisticNet(CompositorConfig(cnum=8)).eval()
    plate, obj = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    with torch.no_grad():
        _, fine, _ = net(make_input(plate, mask, obj))
    expected = plate * (1 - mask) + obj * mask
    assert torch.allclose(fine, expected, atol=1e-6)


def test_coefficient_composition_matches_sequential_application() -> None:
    g = torch.Generator().manual_seed(0)
    outer, inner = torch.randn(2, 12, 4, 5, generator=g) * 0.3, torch.randn(2, 12, 4, 5, generator=g) * 0.3
    rgb = torch.rand(2, 3, 4, 5, generator=g)
    both = apply_coefficients(compose_coefficients(outer, inner), rgb)
    assert torch.allclose(both, apply_coefficients(outer, apply_coefficients(inner, rgb)), atol=1e-5)


def test_contextual_attention_copies_only_background() -> None:
    """Hole features are huge; the attention output inside the hole must come from the background."""
    feats = torch.rand(1, 4, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    feats = feats * (1 - mask) + 1000.0 * mask
    out = ContextualAttention(rate=2)(feats, mask)
    assert out.shape == feats.shape
    assert float(out[..., 4:12, 4:12].max()) <= 1.0 + 1e-5
    # an all-hole input yields zeros, not NaN
    out_all = ContextualAttention(rate=2)(feats, torch.ones(1, 1, 16, 16))
    assert torch.isfinite(out_all).all() and float(out_all.abs().max()) == 0.0


def test_object_box_holds_object_and_stays_in_frame() -> None:
    alpha = np.zeros((50, 80), np.float32)
    alpha[0:10, 70:80] = 1  # in a corner
    y0, y1, x0, x1 = object_box(alpha, 1.1)
    assert 0 <= y0 and y1 <= 50 and 0 <= x0 and x1 <= 80
    assert y0 <= 0 and y1 >= 10 and x0 <= 70 and x1 >= 80


def test_paste_back_changes_only_the_object(ckpt: Path) -> None:
    comp = PhotorealisticCompositor(checkpoint_path=ckpt)
    plate, rgba = _scene()
    kept = plate.copy()
    out = comp.process_frame(plate, rgba)
    assert np.array_equal(plate, kept)  # the object goes over a copy, never the caller's plate
    outside = rgba[..., 3] == 0
    assert np.array_equal(out[outside], plate[outside])
    plain = plate * (1 - rgba[..., 3:]) + rgba[..., :3] * rgba[..., 3:]
    assert np.abs(out[25:35, 35:50] - plain[25:35, 35:50]).max() > 1e-3  # the network did something
    assert out.dtype == np.float32 and np.isfinite(out).all()


def test_deterministic_across_calls_and_instances(ckpt: Path, tmp_path: Path) -> None:
    plate, rgba = _scene(seed=3)
    a = PhotorealisticCompositor(checkpoint_path=ckpt)
    b = PhotorealisticCompositor(checkpoint_path=ckpt)
    assert np.array_equal(a.process_frame(plate, rgba), a.process_frame(plate, rgba))
    assert np.array_equal(a.process_frame(plate, rgba), b.process_frame(plate, rgba))
    # uint8 in -> uint8 out, same numbers via the sequence API
    import cv2

    (tmp_path / "r").mkdir()
    (tmp_path / "b").mkdir()
    rgba8 = (np.clip(rgba, 0, 1) * 255).astype(np.uint8)
    plate8 = (plate * 255).astype(np.uint8)
    for i in range(2):
        cv2.imwrite(str(tmp_path / "r" / f"{i:06d}.png"), cv2.cvtColor(rgba8, cv2.COLOR_RGBA2BGRA))
        cv2.imwrite(str(tmp_path / "b" / f"{i:06d}.png"), cv2.cvtColor(plate8, cv2.COLOR_RGB2BGR))
    w1 = a.process_video_sequence(tmp_path / "r", tmp_path / "b", tmp_path / "o1", seed=7)
    w2 = b.process_video_sequence(tmp_path / "r", tmp_path / "b", tmp_path / "o2", seed=7)
    assert len(w1) == 2 and all(p1.read_bytes() == p2.read_bytes() for p1, p2 in zip(w1, w2))
    assert a.process_frame(plate8, rgba8).dtype == np.uint8


def test_pass_through_cases(ckpt: Path) -> None:
    comp = PhotorealisticCompositor(checkpoint_path=ckpt)
    plate, rgba = _scene()
    empty = np.zeros_like(rgba)  # object entirely outside the frame
    assert np.array_equal(comp.process_frame(plate, empty), plate)
    faint = rgba.copy()
    faint[..., 3] *= 0.4  # no opaque pixel: plain over, no network
    expected = plate * (1 - faint[..., 3:]) + faint[..., :3] * faint[..., 3:]
    assert np.allclose(comp.process_frame(plate, faint), expected, atol=1e-6)
    shadow = np.full(plate.shape, 0.5, np.float32)
    assert np.allclose(comp.process_frame(plate, empty, shadow=shadow), plate * 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="background_frame"):
        comp.process_frame(plate[:10], rgba)


def test_object_partly_outside_frame_and_large_frame(ckpt: Path) -> None:
    comp = PhotorealisticCompositor(checkpoint_path=ckpt)
    plate = np.full((300, 500, 3), 0.2, np.float32)
    rgba = np.zeros((300, 500, 4), np.float32)
    rgba[250:300, 460:500] = [0.9, 0.9, 0.2, 1.0]  # cut by the bottom-right corner
    out = comp.process_frame(plate, rgba)
    assert out.shape == plate.shape and np.isfinite(out).all()
    assert np.array_equal(out[:200, :400], plate[:200, :400])


def test_wrong_cnum_checkpoint_is_a_clear_error(ckpt: Path) -> None:
    before = ckpt.read_bytes()
    with pytest.raises(CheckpointError, match=r"cnum=8.*cnum=48"):
        PhotorealisticCompositor(checkpoint_path=ckpt, cnum=48)
    assert ckpt.read_bytes() == before


def test_missing_or_invalid_checkpoint(tmp_path: Path) -> None:
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(EngineUnavailable, match="nope.safetensors"):
        PhotorealisticCompositor(checkpoint_path=missing)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(EngineUnavailable, match="bad.safetensors"):
        PhotorealisticCompositor(checkpoint_path=bad)
    from ml.composite.api import Compositor

    fallback = Compositor(engine="photorealistic", checkpoint_path=missing)
    assert fallback.engine_name == "classical" and "nope.safetensors" in (fallback.fallback_reason or "")


def test_training_steps_lower_the_loss(tmp_path: Path) -> None:
    """Overfitting one fixed batch: the loss must fall (coarse phase, then fine)."""
    from ml.composite.data import Frame, PairSampler
    from ml.composite.train import Trainer, build_parser

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float32) / 48
    frames = [Frame(Path(f"f{i}.png"), np.stack([yy, xx, 0.5 + 0 * xx], -1) * rng.uniform(0.5, 1.0)) for i in range(3)]
    sampler = PairSampler(frames, size=32)
    fixed = sampler.batch(4, np.random.default_rng(1))
    sampler.batch = lambda n, r: fixed  # type: ignore[method-assign]  # a fixed training set of one batch
    args = build_parser().parse_args(["--data", str(tmp_path), "--cnum", "8", "--size", "32", "--batch", "4",
                                      "--coarse-steps", "25", "--fine-steps", "5", "--lr", "2e-3", "--out", str(tmp_path / "run")])
    trainer = Trainer(args, sampler)
    losses = [float(trainer.step()["loss"]) for _ in range(30)]
    assert np.mean(losses[20:25]) < 0.8 * np.mean(losses[:3])
    assert trainer.phase == "fine" and np.isfinite(losses[-5:]).all()
    trainer.save(tmp_path / "run")
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    resumed = Trainer(args, sampler)
    resumed.resume(tmp_path / "run")
    assert resumed.step_no == 30
    # the training checkpoint is what the engine loads
    plate, rgba = _scene(64, 64)
    out = PhotorealisticCompositor(checkpoint_path=tmp_path / "run" / "last.safetensors").process_frame(plate, rgba)
    assert out.shape == plate.shape


def test_repository_checkpoint_loads_when_present() -> None:
    """The checkpoint shipped in checkpoints/composite/ is what the engine uses by default."""
    from ml.composite.photorealistic import read_checkpoint_metadata
    from ml.composite.photorealistic_engine import DEFAULT_CHECKPOINT
    from ml.stages.base import create

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"no shipped checkpoint at {DEFAULT_CHECKPOINT}")
    meta = read_checkpoint_metadata(DEFAULT_CHECKPOINT)
    eng = create("composite", "photorealistic")
    eng.setup("cpu", None)
    assert eng.checkpoint == str(DEFAULT_CHECKPOINT) and eng.describe()["cnum"] == int(meta["cnum"])
