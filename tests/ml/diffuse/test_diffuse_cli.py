"""`vanelia diffuse`, `vanelia segment` and `vanelia bench diffuse` through the real CLI dispatcher."""
from __future__ import annotations

import json

import numpy as np
import pytest

from cli.main import main
from ml.io.images import read_mask, read_rgb8, write_mask, write_rgb8


@pytest.fixture
def files(tmp_path):
    rs = np.random.RandomState(3)
    comp = (rs.rand(30, 45, 3) * 255).astype(np.uint8)
    mask = np.zeros((30, 45), np.float32)
    mask[10:20, 15:30] = 1
    write_rgb8(tmp_path / "comp.png", comp)
    write_mask(tmp_path / "mask.png", mask)
    frames = tmp_path / "frames"
    for i in range(3):
        write_rgb8(frames / f"{i:06d}.png", np.roll(comp, i, axis=1))
    return tmp_path, comp, mask


def test_diffuse_single_image(tiny_models, files, capsys):
    tmp, comp, mask = files
    out = tmp / "out.png"
    rc = main(["diffuse", "--composite", str(tmp / "comp.png"), "--mask", str(tmp / "mask.png"), "--prompt", "a bag on the table", "--engine", "sdedit", "--model-dir", str(tiny_models["sd3"]), "--steps", "2", "--seed", "1", "--strength", "0.6", "--dilate", "2", "--feather", "1", "--output", str(out), "--device", "cpu"])
    assert rc == 0
    res = read_rgb8(out)
    assert res.shape == comp.shape
    far = np.ones((30, 45), bool)
    far[10 - 3 : 20 + 3, 15 - 3 : 30 + 3] = False
    assert np.array_equal(res[far], comp[far])
    assert not np.array_equal(res[10:20, 15:30], comp[10:20, 15:30])
    assert "sdedit: 1 frame(s)" in capsys.readouterr().out


def test_diffuse_folder_reports_flicker(tiny_models, files, capsys):
    tmp, comp, _ = files
    report = tmp / "report.json"
    rc = main(["diffuse", "--composite", str(tmp / "frames"), "--mask", str(tmp / "mask.png"), "--prompt", "a bag", "--engine", "inpaint", "--model-dir", str(tiny_models["sd"]), "--steps", "2", "--output", str(tmp / "outdir"), "--temporal", "blend", "--report", str(report), "--device", "cpu"])
    assert rc == 0
    assert sorted(p.name for p in (tmp / "outdir").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    data = json.loads(report.read_text())
    assert data["frames"] == 3 and set(data["flicker"]) >= {"diffused", "composite", "ratio"}
    assert "flicker (warping error" in capsys.readouterr().out


def test_diffuse_bad_input(tiny_models, files, capsys):
    tmp, comp, _ = files
    write_mask(tmp / "small.png", np.ones((8, 8), np.float32))
    base = ["diffuse", "--composite", str(tmp / "comp.png"), "--model-dir", str(tiny_models["sd"]), "--steps", "2", "--device", "cpu"]
    assert main(base + ["--mask", str(tmp / "small.png"), "--output", str(tmp / "o.png")]) == 2
    assert "8x8 but the image is 45x30" in capsys.readouterr().err
    assert main(base + ["--mask", str(tmp / "mask.png"), "--engine", "inpaint", "--output", str(tmp / "o.png")]) == 2
    assert "needs a prompt" in capsys.readouterr().err
    assert main(base + ["--mask", str(tmp / "mask.png"), "--output", str(tmp / "comp.png")]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert np.array_equal(read_rgb8(tmp / "comp.png"), comp)
    assert not (tmp / "o.png").exists()


def test_segment_cli(tiny_models, files, capsys):
    tmp, comp, _ = files
    out = tmp / "dog.png"
    assert main(["segment", "--image", str(tmp / "comp.png"), "--text", "dog", "--output", str(out), "--model-dir", str(tiny_models["clipseg"]), "--threshold", "0.5"]) == 0
    m = read_mask(out)
    assert m.shape == (30, 45)
    assert main(["segment", "--image", str(tmp / "comp.png"), "--text", "grass", "--place", "bottom_left", "--object-size", "6x4", "--output", str(tmp / "heat.png"), "--model-dir", str(tiny_models["clipseg"])]) == 0
    place = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= place["x"] < 23 and 15 <= place["y"] < 30
    assert read_rgb8(tmp / "heat.png").shape == (30, 45, 3)
    assert main(["segment", "--image", str(tmp / "comp.png"), "--text", "dog", "--output", str(out), "--model-dir", str(tmp / "nothing")]) == 2


def test_bench_cli_reduced(tmp_path, capsys):
    js = tmp_path / "bench.json"
    assert main(["bench", "diffuse", "--models", "tiny", "--sizes", "32x48", "--steps", "1", "--device", "cpu", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "reduced configuration" in out and "tiny" in out
    data = json.loads(js.read_text())
    assert data["reduced"] and data["rows"][0]["size"] == "48x32" and data["rows"][0]["seconds"] > 0


def test_diffuse_controlnet_with_render_exr(tiny_models, files):
    from ml.io.exr import write_passes

    tmp, comp, _ = files
    rgba = np.zeros((30, 45, 4), np.float32)
    rgba[10:20, 15:30] = [0.6, 0.3, 0.2, 1.0]
    depth = np.full((30, 45, 1), 1e10, np.float32)
    depth[10:20, 15:30] = 2.5
    normal = np.zeros((30, 45, 3), np.float32)
    normal[10:20, 15:30] = [0, 0, 1]
    write_passes(tmp / "render.exr", {"rgba": rgba, "depth": depth, "normal": normal})
    out = tmp / "cn.png"
    rc = main(["diffuse", "--composite", str(tmp / "comp.png"), "--render", str(tmp / "render.exr"), "--engine", "controlnet", "--control", "depth+normal", "--model-dir", str(tiny_models["sd"]), "--steps", "2", "--dilate", "2", "--feather", "0", "--output", str(out), "--device", "cpu"])
    assert rc == 0
    res = read_rgb8(out)
    far = np.ones((30, 45), bool)
    far[8:22, 13:32] = False
    assert np.array_equal(res[far], comp[far]) and not np.array_equal(res[10:20, 15:30], comp[10:20, 15:30])
