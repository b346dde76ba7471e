"""`vanelia eval insert` on one tiny generated set: truth rendered with Cycles, Vanelia's insert scored."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def vanelia(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_bad_set_name_is_refused_before_rendering(tmp_path: Path):
    r = vanelia("eval", "insert", "--sets", "moon_base", "--cache", str(tmp_path / "c"))
    assert r.returncode == 2 and "moon_base" in r.stderr and "sun_high_tiles_diffuse" in r.stderr
    assert not (tmp_path / "c").exists()


def _report(seed: int, product_db: float) -> dict:
    scores = {"psnr_insert": 20.0, "psnr_product": product_db, "psnr_shadow": 25.0}
    return {"seed": seed, "frames": 6, "resolution": "320x180", "truth_samples": 24, "render_samples": 16,
            "sets": {f"interior_wood_diffuse-s{seed}": {"scores": {"paste": dict(scores, psnr_product=18.0), "classical|plate-light": scores}}}}


def test_a_baseline_of_another_protocol_is_refused_before_rendering(tmp_path: Path):
    base = tmp_path / "old.json"
    base.write_text(json.dumps(_report(seed=3, product_db=17.0)))
    r = vanelia("eval", "insert", "--seed", "5", "--baseline", str(base), "--cache", str(tmp_path / "c"))
    assert r.returncode == 2 and "seed 3" in r.stderr and "here 5" in r.stderr
    assert not (tmp_path / "c").exists()
    base.write_text("{not json")
    r = vanelia("eval", "insert", "--seed", "3", "--baseline", str(base), "--cache", str(tmp_path / "c"))
    assert r.returncode == 2 and "not a readable" in r.stderr and not (tmp_path / "c").exists()


def test_each_set_is_compared_with_the_baseline():
    from cli.eval_insert import compare, compare_table

    new, old = _report(seed=3, product_db=19.5), _report(seed=3, product_db=17.0)
    new["sets"]["night_asphalt_metal-s3"] = new["sets"]["interior_wood_diffuse-s3"]  # not in the baseline: left out
    delta = compare(new, old)
    assert list(delta) == ["interior_wood_diffuse-s3"]
    assert delta["interior_wood_diffuse-s3"]["classical|plate-light"] == {"insert": 0.0, "product": 2.5, "shadow": 0.0}
    assert delta["interior_wood_diffuse-s3"]["paste"]["product"] == 0.0
    assert "+2.50" in compare_table(delta)


@pytest.mark.slow
def test_eval_insert_on_one_tiny_set(shared_data: Path, tmp_path: Path):
    from ml.io.images import read_rgb8

    cache, out = tmp_path / "sets", tmp_path / "eval.json"
    args = ["eval", "insert", "--sets", "sun_high_tiles_diffuse", "--frames", "2", "--resolution", "96x54", "--samples", "4",
            "--render-samples", "4", "--cache", str(cache), "--json", str(out), "--model", str(shared_data / "models" / "Duck.glb"),
            "--variants", "paste,classical,classical|plate-light"]
    r = vanelia(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert set(rep["mean"]) == {"paste", "classical", "classical|plate-light"}
    for v in rep["mean"].values():
        assert np.isfinite(v["psnr_insert"]) and np.isfinite(v["psnr_product"]) and 0 < v["ssim_insert"] <= 1
    assert rep["mean"]["paste"]["gain_insert_db"] == 0.0
    s = cache / "sun_high_tiles_diffuse-s1"
    plate, truth = read_rgb8(s / "plate" / "000001.png"), read_rgb8(s / "truth" / "000001.png")
    assert plate.shape == (54, 96, 3) and np.abs(plate.astype(int) - truth.astype(int)).max() > 40  # the product is in the truth only
    meta = json.loads((s / "set.json").read_text())
    assert meta["light"]["hard_key"] and len(meta["product_matrix"]) == 4
    est = rep["sets"]["sun_high_tiles_diffuse-s1"]["estimated_light"]
    assert est["method"] == "plate" and est["environment"]
    blur = rep["sets"]["sun_high_tiles_diffuse-s1"]["motion_blur"]  # auto: 2 frames have no neighbours on both sides
    assert blur["true"] == 0.0 and blur["used"] == 0.0 and blur["note"].startswith("auto, not measurable: fewer than 3 frames")
    assert (tmp_path / "eval_sun_high_tiles_diffuse-s1.png").is_file()
    from ml.composite.insert_data import iter_insert_samples

    samples = list(iter_insert_samples(cache))  # the same sets as training data
    assert [x.frame for x in samples] == [1, 2] and samples[0].alpha.max() > 0.9 and samples[0].truth.shape == (54, 96, 3)
    out2 = tmp_path / "again.json"
    again = [out2 if x == str(out) else x for x in args]
    r = vanelia(*map(str, again), "--baseline", str(out))  # the sets are cached: nothing rendered again
    assert r.returncode == 0 and "cached" in r.stdout and "against --baseline" in r.stdout
    delta = json.loads(out2.read_text())["against_baseline"]["psnr_db"]["sun_high_tiles_diffuse-s1"]
    assert set(delta) == {"paste", "classical", "classical|plate-light"}
    assert all(abs(d) < 0.5 for row in delta.values() for d in row.values())  # the same protocol twice: the same pictures
