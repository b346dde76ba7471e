"""`vanelia eval composite` and `vanelia composite` (old name: harmonize) on tiny real data (downscaled shared frames)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ml.composite.evaluate import main as eval_main
from ml.composite.evaluate import scores
from ml.composite.photorealistic import CompositorConfig, PhotorealisticNet, save_checkpoint

torch.set_num_threads(1)


def test_scores_match_the_definitions() -> None:
    real = np.full((10, 10, 3), 100, np.uint8)
    mask = np.zeros((10, 10), np.float32)
    mask[:5] = 1
    pred = real.copy()
    pred[:5] += 10  # error 10 on every foreground value
    s = scores(pred, real, mask)
    assert s["fmse"] == pytest.approx(100.0)
    assert s["mse"] == pytest.approx(50.0)
    assert s["psnr"] == pytest.approx(10 * np.log10(255**2 / 50.0))
    assert scores(real, real, mask)["psnr"] == 100.0


@pytest.fixture(scope="module")
def tiny_data(shared_data: Path, tmp_path_factory) -> dict[str, Path]:
    """A downscaled copy of the real iHarmony4 triplet and of 6 bmx-trees frames + masks."""
    root = tmp_path_factory.mktemp("harm")
    tri = root / "triplet" / "a0002"
    tri.mkdir(parents=True)
    src = shared_data / "harmonization" / "a0002"
    for name in ("composite.jpg", "real.jpg", "mask.png"):
        img = cv2.imread(str(src / name), cv2.IMREAD_COLOR)
        interp = cv2.INTER_NEAREST if name == "mask.png" else cv2.INTER_AREA
        cv2.imwrite(str(tri / (Path(name).stem + ".png")), cv2.resize(img, (96, 144), interpolation=interp))
    clip = root / "video" / "bmx"
    (clip / "frames").mkdir(parents=True)
    (clip / "masks").mkdir()
    for i in range(6):
        f = cv2.imread(str(shared_data / "video" / "bmx-trees" / "frames" / f"{i * 10:05d}.jpg"))
        m = cv2.imread(str(shared_data / "video" / "bmx-trees" / "masks" / f"{i * 10:05d}.png"), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(clip / "frames" / f"{i:05d}.png"), cv2.resize(f, (108, 60), interpolation=cv2.INTER_AREA))
        cv2.imwrite(str(clip / "masks" / f"{i:05d}.png"), cv2.resize(m, (108, 60), interpolation=cv2.INTER_NEAREST))
    ckpt = root / "identity.safetensors"
    save_checkpoint(ckpt, PhotorealisticNet(CompositorConfig(cnum=8, net_size=64)))  # untrained = identity
    return {"triplets": root / "triplet", "video": root / "video", "ckpt": ckpt, "root": root}


def test_eval_json_has_all_three_methods(tiny_data: dict[str, Path]) -> None:
    out = tiny_data["root"] / "eval.json"
    rc = eval_main(["--checkpoint", str(tiny_data["ckpt"]), "--triplets", str(tiny_data["triplets"]),
                    "--video", str(tiny_data["video"]), "--per-clip", "2", "--sizes", "64,full",
                    "--out", str(out), "--previews", str(tiny_data["root"] / "prev")])
    assert rc == 0
    rep = json.loads(out.read_text())
    assert rep["methods"] == ["unharmonized", "classical", "photorealistic"]
    for dname in ("iharmony_real", "perturbed_holdout"):
        d = rep["datasets"][dname]
        for size in ("64", "full"):
            for m in ("unharmonized", "classical", "photorealistic"):
                v = d[size][m]
                assert np.isfinite([v["mse"], v["fmse"], v["psnr"]]).all()
            # the real triplet is a real mismatch: the input has a clear foreground error
            assert d[size]["unharmonized"]["fmse"] > 10
            # an untrained (identity) network reproduces the unharmonized input (8-bit round trip)
            assert d[size]["photorealistic"]["fmse"] == pytest.approx(d[size]["unharmonized"]["fmse"], rel=0.05, abs=1.0)
    assert rep["datasets"]["perturbed_holdout"]["n"] == 2
    assert any((tiny_data["root"] / "prev").glob("*.png"))


def test_composite_cli_and_its_old_name(tiny_data: dict[str, Path]) -> None:
    from cli.main import main as vanelia

    tri = tiny_data["triplets"] / "a0002"
    for engine, extra in (("classical", []), ("photorealistic", ["--checkpoint", str(tiny_data["ckpt"])])):
        out = tiny_data["root"] / f"h_{engine}.png"
        rc = vanelia(["composite", "--composite", str(tri / "composite.png"), "--mask", str(tri / "mask.png"),
                      "--output", str(out), "--engine", engine, *extra])
        assert rc == 0
        res = cv2.imread(str(out))
        comp = cv2.imread(str(tri / "composite.png"))
        mask = cv2.imread(str(tri / "mask.png"), cv2.IMREAD_GRAYSCALE) > 127
        assert res.shape == comp.shape and np.array_equal(res[~mask], comp[~mask])
    rc = vanelia(["composite", "--composite", str(tri / "composite.png"), "--mask", str(tri / "mask.png"),
                  "--output", str(tiny_data["root"] / "x.png"), "--engine", "photorealistic",
                  "--checkpoint", str(tiny_data["root"] / "missing.safetensors")])
    assert rc == 2 and not (tiny_data["root"] / "x.png").exists()
    old = tiny_data["root"] / "old_name.png"  # `harmonize` is kept as an alias of the command
    assert vanelia(["harmonize", "--composite", str(tri / "composite.png"), "--mask", str(tri / "mask.png"),
                    "--output", str(old), "--engine", "classical"]) == 0 and old.is_file()
