"""Video-completion evaluation: every engine + the unfilled input in one run; bmx-trees (slow)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from cli.main import main as vanelia
from ml.inpaint.evaluate import evaluate, psnr_hole, ssim_hole
from ml.io.images import write_rgb8

from conftest import panning_clip


def test_metrics_rank_a_perfect_fill_first() -> None:
    gt = panning_clip(n=3)
    holes = [np.zeros((64, 96), bool) for _ in gt]
    for m in holes:
        m[10:30, 10:40] = True
    noisy = [np.clip(g + 0.05 * np.random.default_rng(0).standard_normal(g.shape), 0, 1).astype(np.float32) for g in gt]
    assert psnr_hole(gt, gt, holes)[0] > 100
    assert 20 < psnr_hole(noisy, gt, holes)[0] < 30
    assert ssim_hole(gt, gt, holes) == pytest.approx(1.0)
    assert ssim_hole(noisy, gt, holes) < 0.95


def test_eval_cli_reports_every_engine_and_the_input(tmp_path, capsys) -> None:
    frames = tmp_path / "frames"
    for i, f in enumerate(panning_clip()):
        write_rgb8(frames / f"{i:05d}.png", (f * 255 + 0.5).astype(np.uint8))
    out = tmp_path / "r.json"
    rc = vanelia(["eval", "inpaint", "--frames", str(frames), "--json", str(out), "--sets", "2",
                  "--engines", "telea,propagate,dstt", "--previews", str(tmp_path / "prev")])
    assert rc == 0
    rep = json.loads(out.read_text())
    eng = rep["engines"]
    assert {"input (unfilled)", "ground truth", "telea", "propagate"} <= set(eng)
    assert "dstt" in rep["skipped"] and "checkpoint" in rep["skipped"]["dstt"]
    assert eng["propagate"]["psnr_hole"] > eng["telea"]["psnr_hole"] > eng["input (unfilled)"]["psnr_hole"]
    assert eng["propagate"]["warp_error_x1e3"] < eng["input (unfilled)"]["warp_error_x1e3"]
    assert len(list((tmp_path / "prev").glob("*.png"))) == 2
    assert "propagate" in capsys.readouterr().out


@pytest.mark.slow
def test_propagate_beats_telea_by_3db_on_bmx_trees(shared_data) -> None:
    # 20 frames at half width keep it short; the full clip is in the lead's report
    rep = evaluate(str(shared_data / "video" / "bmx-trees" / "frames"), engines=["telea", "propagate"],
                   sets=2, max_frames=20, width=216)
    e = rep["engines"]
    assert e["propagate"]["psnr_hole"] >= e["telea"]["psnr_hole"] + 3.0, e
