"""Insert pairs (classical composite, mask, path-traced truth) and the compositor that learns on them.

The pairs' files, crops and sampler; training on them with a validation set; and the engine
that corrects the classical composite: outside the product it is the classical composite
exactly, and an untrained network leaves it unchanged everywhere.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.composite.insert_data import InsertPair, InsertPairSampler, crop_pair, load_pairs, save_pairs
from ml.composite.photorealistic import CompositorConfig, PhotorealisticNet, save_checkpoint
from ml.stages.base import FrameState, create
from shotcache.errors import UserError

torch.set_num_threads(1)


def _pair(i: int, h: int = 70, w: int = 90) -> InsertPair:
    rng = np.random.default_rng(i)
    real = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[20 + i:45, 30:60] = 1
    comp = real.copy()
    comp[mask > 0] = (comp[mask > 0] * 0.6).astype(np.uint8)  # a product too dark
    return InsertPair(f"set-s{i}/plate/{i + 1}", comp, mask, real)


def test_pairs_survive_their_file_exactly(tmp_path: Path):
    pairs = [_pair(i) for i in range(3)]
    path = save_pairs(tmp_path / "p.npz", pairs)
    back = load_pairs([path])
    assert [p.name for p in back] == [p.name for p in pairs]
    for a, b in zip(pairs, back):
        assert np.array_equal(a.comp, b.comp) and np.array_equal(a.mask, b.mask) and np.array_equal(a.real, b.real)
    assert not list(tmp_path.glob(".*tmp*"))  # written through a temp file and renamed


def test_a_file_that_is_not_pairs_is_refused_by_name(tmp_path: Path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="bad.npz"):
        load_pairs(bad)
    with pytest.raises(UserError, match="no pairs"):
        save_pairs(tmp_path / "empty.npz", [])


def test_crops_hold_the_product_at_the_asked_scale():
    p = _pair(0)
    comp, mask, real = crop_pair(p, 1.1, 64)
    assert comp.shape == (64, 64, 3) and mask.shape == (64, 64) and real.shape == (64, 64, 3)
    # the product's longer side (30 px) is 1/1.1 of the crop
    cols = np.nonzero(mask.any(axis=0))[0]
    assert abs((cols.max() - cols.min() + 1) / 64 - 1 / 1.1) < 0.05
    wide = crop_pair(p, 2.0, 64)[1]
    assert 0 < wide.sum() < 0.5 * mask.sum()
    flipped = crop_pair(p, 1.1, 64, flip=True)
    assert np.allclose(flipped[0], comp[:, ::-1])
    s = InsertPairSampler([_pair(i) for i in range(4)], size=48)
    c, m, r = s.batch(5, np.random.default_rng(0))
    assert c.shape == (5, 48, 48, 3) and m.shape == (5, 48, 48) and (m.reshape(5, -1).sum(1) > 0).all()
    assert len(s.fixed()[0]) == 4


def _frame(seed: int = 0) -> FrameState:
    rng = np.random.default_rng(seed)
    plate = (rng.random((60, 80, 3)) * 0.6 + 0.1).astype(np.float32)
    rgba = np.zeros((60, 80, 4), np.float32)
    rgba[20:44, 30:52] = [0.5, 0.35, 0.1, 1.0]
    rgba[19, 30:52, 3] = 0.3
    return FrameState(index=1, plate=plate, rgba=rgba)


def _checkpoint(path: Path, bias: float = 0.0) -> Path:
    torch.manual_seed(0)
    net = PhotorealisticNet(CompositorConfig(cnum=8, net_size=32, base="classical"))
    if bias:
        torch.nn.init.constant_(net.fine.head.bias[9:12], bias)  # brighten the object
    return save_checkpoint(path, net)


def test_a_network_trained_on_classical_composites_runs_after_classical(tmp_path: Path):
    classical = create("composite", "classical").process(_frame(), {})
    eng = create("composite", "photorealistic")
    eng.setup("cpu", str(_checkpoint(tmp_path / "zero.safetensors")))
    assert eng.describe()["base"] == "classical"
    assert np.allclose(eng.process(_frame(), {}), classical, atol=1e-5)  # untrained: the classical composite
    artist = {"harmonize": 0.0, "light_wrap": 0.0, "strength": 1.0}  # classical's own parameters reach it
    plain = create("composite", "classical").process(_frame(), artist)
    assert not np.allclose(plain, classical, atol=1e-3) and np.allclose(eng.process(_frame(), artist), plain, atol=1e-5)
    eng = create("composite", "photorealistic")
    eng.setup("cpu", str(_checkpoint(tmp_path / "bright.safetensors", bias=0.1)))
    frame = _frame()
    out = eng.process(frame, {})
    assert np.array_equal(frame.plate, _frame().plate) and np.array_equal(frame.rgba, _frame().rgba)  # composited in place on its own copy
    product = _frame().rgba[..., 3] > 0.5
    assert (out[product].mean(0) > classical[product].mean(0) + 0.02).all()  # the product is corrected
    assert np.array_equal(out[~product], classical[~product])  # the rest is classical's, shadow and edges included


def test_training_on_pairs_keeps_the_best_validated_step(tmp_path: Path):
    from ml.composite.train import main

    save_pairs(tmp_path / "train.npz", [_pair(i) for i in range(4)])
    save_pairs(tmp_path / "val.npz", [_pair(i) for i in range(4, 6)])
    rc = main(["--insert-pairs", str(tmp_path / "train.npz"), "--val-pairs", str(tmp_path / "val.npz"), "--val-every", "4",
               "--cnum", "8", "--size", "32", "--batch", "4", "--coarse-steps", "12", "--fine-steps", "0", "--lr", "3e-3",
               "--out", str(tmp_path / "run")])
    assert rc == 0
    import json

    from ml.composite.photorealistic import load_checkpoint, read_checkpoint_metadata

    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    val = [h for h in hist if "val_psnr" in h]
    assert len(val) == 3
    meta = read_checkpoint_metadata(tmp_path / "run" / "best.safetensors")
    best = max(val, key=lambda h: h["val_psnr"])
    assert meta["step"] == str(best["step"] + 1) and float(meta["val_psnr"]) == pytest.approx(best["val_psnr"], abs=1e-3)
    assert best["val_psnr"] > best["val_psnr_input"]  # it learnt to brighten the too-dark product on pairs it never saw
    cfg = load_checkpoint(tmp_path / "run" / "best.safetensors").config
    assert cfg.base == "classical" and cfg.net_size == 32


def test_fine_tuning_starts_from_the_given_weights_and_never_keeps_worse(tmp_path: Path):
    """--init: the starting checkpoint is scored before the first step, so a fine-tune on new
    pairs keeps it unless a step beats it; a fresh network would score the input's PSNR there."""
    import json

    from ml.composite.photorealistic import read_checkpoint_metadata
    from ml.composite.train import main

    save_pairs(tmp_path / "train.npz", [_pair(i) for i in range(4)])
    save_pairs(tmp_path / "val.npz", [_pair(i) for i in range(4, 6)])
    common = ["--insert-pairs", str(tmp_path / "train.npz"), "--val-pairs", str(tmp_path / "val.npz"),
              "--cnum", "8", "--size", "32", "--batch", "4", "--fine-steps", "0"]
    assert main(common + ["--coarse-steps", "12", "--val-every", "12", "--lr", "3e-3", "--out", str(tmp_path / "first")]) == 0
    first = read_checkpoint_metadata(tmp_path / "first" / "best.safetensors")
    assert float(first["val_psnr"]) > float(first["val_psnr_input"]) + 0.5
    # a fine-tune whose steps are useless (a learning rate that wrecks the weights) keeps the start
    assert main(common + ["--coarse-steps", "4", "--val-every", "2", "--lr", "0.3", "--init", str(tmp_path / "first" / "best.safetensors"),
                          "--out", str(tmp_path / "tuned")]) == 0
    tuned = read_checkpoint_metadata(tmp_path / "tuned" / "best.safetensors")
    assert tuned["fine_tuned_from"] == f"best.safetensors (step {first['step']})" and "fine_tuned_from" not in first
    assert tuned["step"] == "0" and float(tuned["val_psnr"]) == pytest.approx(float(first["val_psnr"]), abs=1e-3)
    hist = json.loads((tmp_path / "tuned" / "history.json").read_text())
    assert all(h["val_psnr"] < float(tuned["val_psnr"]) for h in hist if "val_psnr" in h)  # its steps were worse, and were not kept
    with pytest.raises(SystemExit, match="--cnum"):
        main(common + ["--coarse-steps", "1", "--cnum", "16", "--init", str(tmp_path / "first" / "best.safetensors"), "--out", str(tmp_path / "x")])


def test_training_needs_one_source_of_pairs(tmp_path: Path):
    from ml.composite.train import main

    with pytest.raises(SystemExit, match="either --data"):
        main(["--out", str(tmp_path / "run")])


def test_recolouring_changes_composite_and_truth_alike():
    from ml.composite.insert_data import recolour
    from ml.io.colour import linear_to_srgb, srgb_to_linear

    p = _pair(1)
    comp, real = p.comp.astype(np.float32) / 255, p.real.astype(np.float32) / 255
    c2, r2 = recolour(comp, real, np.array([2, 0, 1]), 0.7)
    assert np.allclose(c2, linear_to_srgb(srgb_to_linear(comp[..., [2, 0, 1]]) * 0.7), atol=1e-5)
    # the correction a pair asks for (truth / composite, in linear light) moves with the channels
    gain = srgb_to_linear(real).sum((0, 1)) / srgb_to_linear(comp).sum((0, 1))
    gain2 = srgb_to_linear(r2).sum((0, 1)) / srgb_to_linear(c2).sum((0, 1))
    assert np.allclose(gain2, gain[[2, 0, 1]], rtol=1e-3)
    s = InsertPairSampler([p], size=32, augment=True)
    a, b = s.sample(np.random.default_rng(3)), s.sample(np.random.default_rng(4))
    assert not np.allclose(a[0].mean((0, 1)), b[0].mean((0, 1)), atol=0.01)


def test_classical_parameters_on_a_network_without_a_base_are_refused(tmp_path: Path):
    from ml.stages.base import EngineError

    path = save_checkpoint(tmp_path / "plain.safetensors", PhotorealisticNet(CompositorConfig(cnum=8, net_size=32)))
    eng = create("composite", "photorealistic")
    eng.setup("cpu", str(path))
    with pytest.raises(EngineError, match="grain.*classical"):
        eng.process(_frame(), {"grain": 0.0})
    assert eng.process(_frame(), {"strength": 0.5}).shape == (60, 80, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_shipped_checkpoint_gives_the_same_composite_on_cuda():
    """Classical on the CPU, then the network and the work around it on the GPU (the device
    path): within an 8-bit level of the all-CPU engine, on the product and everywhere else."""
    from ml.composite.photorealistic_engine import DEFAULT_CHECKPOINT

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"no shipped checkpoint at {DEFAULT_CHECKPOINT}")
    out = {}
    for device in ("cpu", "cuda"):
        eng = create("composite", "photorealistic")
        eng.setup(device, None)
        out[device] = eng.process(_frame(), {})
    from ml.io.colour import linear_to_srgb

    diff = np.abs(linear_to_srgb(out["cpu"]) - linear_to_srgb(out["cuda"])) * 255
    assert diff.max() < 1.5 and diff.mean() < 0.2
