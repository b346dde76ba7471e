"""`vanelia eval light`: the light estimate scored against a cached truth set's own light.

The sets are made here as `vanelia eval insert` caches them (plate PNGs, transforms.json,
set.json): upright boxes on a ground under a known sun, ray-cast (tests/ml/light/ground_plates).
The same plate is scored against three truths: its own sun, the sun turned round, and an
overcast sky, so each figure the command reports is shown to move when the estimate is wrong.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml" / "light"))  # the ground plates shared with the light tests

from ground_plates import look_at, plate_with_boxes  # noqa: E402

from cli import eval_light  # noqa: E402
from ml.pipeline.fastio import write_png_linear  # noqa: E402
from shotcache.errors import UsageError  # noqa: E402
from shotcache.schema import Distortion  # noqa: E402
from shotcache.tracks import TrackData, write_transforms  # noqa: E402

W, H = 320, 180
BOXES = [(0.9, 0.8, 0.12, 0.45), (0.8, -0.9, 0.12, 0.35), (1.5, 0.1, 0.12, 0.5)]


def sun_at(elev_deg: float, az_deg: float) -> list[float]:
    e, a = math.radians(elev_deg), math.radians(az_deg)
    return [math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)]


def write_set(root: Path, name: str, truth: dict, plate_sun: list[float]) -> Path:
    """One cached truth set: the plate lit by ``plate_sun``, its record saying ``truth``."""
    d = root / name
    cams = {i + 1: look_at(np.array([-3.0 * math.cos(a), -3.0 * math.sin(a), 1.4]), np.array([0.0, 0.0, 0.5]), W, H, 220.0)
            for i, a in enumerate(np.linspace(-0.2, 0.2, 5))}
    for f, cam in cams.items():
        img = plate_with_boxes(cam, np.asarray(plate_sun), BOXES, w=W, h=H)
        sky = np.all(np.abs(img - np.array([0.6, 0.7, 0.9], np.float32)) < 1e-6, axis=-1)
        img[sky] = (0.9, 1.0, 1.25)  # a daylight sky above the horizon
        write_png_linear(d / "plate" / f"{f:06d}.png", img)
    write_transforms(d / "transforms.json", TrackData("transforms", "test", cams, W, H, Distortion()))
    meta = {"ground": {"normal": [0, 0, 1], "point": [0, 0, 0]}, "light": truth, "product_matrix": np.eye(4).tolist(),
            "name": name.rsplit("-s", 1)[0], "seed": int(name.rsplit("-s", 1)[1])}
    (d / "set.json").write_text(json.dumps(meta))
    return d


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("insert_sets")
    sun = sun_at(30.0, -20.0)  # beyond the boxes: their shadows run towards the cameras
    turned = sun_at(30.0, 160.0)
    write_set(root, "sun_low_concrete_metal-s3", {"kind": "sun_low", "hard_key": True, "lights": [{"type": "sun", "direction": sun}]}, sun)
    write_set(root, "sun_low_grass_diffuse_blur-s3", {"kind": "sun_low", "hard_key": True, "lights": [{"type": "sun", "direction": turned}]}, sun)
    write_set(root, "overcast_grass_glossy-s3", {"kind": "overcast", "hard_key": False, "lights": []}, sun)
    write_set(root, "sun_high_tiles_diffuse-s4", {"kind": "sun_high", "hard_key": True, "lights": [{"type": "sun", "direction": sun}]}, sun)
    return root


def test_the_estimate_is_scored_against_each_sets_own_light(cache: Path, tmp_path: Path, capsys):
    out = tmp_path / "light.json"
    assert eval_light.main(["--cache", str(cache), "--seeds", "3", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    sets = report["sets"]
    assert sorted(sets) == ["overcast_grass_glossy-s3", "sun_low_concrete_metal-s3", "sun_low_grass_diffuse_blur-s3"]  # seed 4 not asked for
    right = sets["sun_low_concrete_metal-s3"]
    assert right["call"] == "right" and right["key"] == "placed" and right["azimuth_error_deg"] < 15.0, right
    assert abs(right["elevation_error_deg"]) < 10.0, right  # the boxes' heights over their shadows' lengths
    # the same estimate against a sun turned round: the direction is scored, not just the call
    turned = sets["sun_low_grass_diffuse_blur-s3"]
    assert turned["call"] == "right" and turned["azimuth_error_deg"] > 160.0, turned
    # a hard sun placed where the truth has an overcast sky
    assert sets["overcast_grass_glossy-s3"]["call"] == "spurious"
    s = report["summary"]
    assert s["sun_low"] == {"sets": 2, "right_call": 2, "missed": 0, "spurious": 0, "sun_sets": 2, "sun_key_within_30deg": 1, "sun_key_reversed": 1,
                            "median_azimuth_error_deg": pytest.approx((right["azimuth_error_deg"] + turned["azimuth_error_deg"]) / 2, abs=0.11),
                            "windows_placed": 0, "window_within_30deg": 0, "median_window_azimuth_error_deg": None}
    assert s["all"]["sets"] == 3 and s["all"]["spurious"] == 1 and s["overcast"]["sun_sets"] == 0
    printed = capsys.readouterr().out
    assert "sun_low_concrete_metal-s3" in printed and "spurious" in printed and str(out) in printed
    header = next(l for l in printed.splitlines() if l.startswith("light ")).split()
    row = next(l for l in printed.splitlines() if l.startswith("sun_low ")).split()
    assert row[header.index("rev.")] == "1", printed  # the turned sun's key is counted reversed


def test_a_dropped_key_is_a_missed_sun_with_its_direction_still_scored():
    """A key the estimate read and then dropped (the product judged in a cast shadow) is a missed
    sun; its direction is scored all the same, since it is the call waiting to go wrong."""
    up = np.array([0.0, 0.0, 1.0])
    sun = np.asarray(sun_at(60.0, 0.0))
    r = eval_light.score(np.asarray(sun_at(45.0, 90.0)), False, sun, up)
    assert r["call"] == "missed" and r["dropped_direction"] and r["azimuth_error_deg"] == pytest.approx(90.0, abs=0.1)
    assert r["elevation_error_deg"] == pytest.approx(-15.0, abs=0.1)
    assert eval_light.score(None, False, None, up) == {"truth": "none", "key": "none", "call": "right"}


def test_bad_selections_are_refused_with_what_to_do(cache: Path, tmp_path: Path):
    with pytest.raises(UsageError, match="generate truth sets first with `vanelia eval insert"):
        eval_light.main(["--cache", str(tmp_path / "nowhere"), "--json", str(tmp_path / "x.json")])
    with pytest.raises(UsageError, match=r"no truth sets for seeds \[9\]"):
        eval_light.main(["--cache", str(cache), "--seeds", "9", "--json", str(tmp_path / "x.json")])
    with pytest.raises(UsageError, match="runs backwards; write 3-5"):
        eval_light.main(["--cache", str(cache), "--seeds", "5-3", "--json", str(tmp_path / "x.json")])
    with pytest.raises(UsageError, match="is not a seed or a range"):
        eval_light.main(["--cache", str(cache), "--seeds", "three", "--json", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()
    assert eval_light.parse_seeds("14-16,20") == {14, 15, 16, 20}


def test_a_window_is_the_truths_side_area_light_and_its_error_is_summarised():
    """A room's window (an area light from the side) is its key; a ceiling's panels point straight
    down and have no side; a sun set's key is its sun. The windows the estimate placed are
    counted and their azimuth errors summarised per kind."""
    side, fill = sun_at(31.0, 40.0), sun_at(42.0, 200.0)
    room = {"light": {"lights": [{"type": "area", "direction": side}, {"type": "area", "direction": fill}]}}
    up = np.array([0.0, 0.0, 1.0])
    assert np.allclose(eval_light.truth_window(room, up), side)
    assert eval_light.truth_window({"light": {"lights": [{"type": "area", "direction": [0, 0, 1]}] * 3}}, up) is None
    assert eval_light.truth_window({"light": {"lights": [{"type": "sun", "direction": side}, {"type": "area", "direction": fill}]}}, up) is None
    rows = {f"interior-s{i}": {"kind": "interior", "truth": "none", "key": "none", "call": "right", "window_azimuth_error_deg": e}
            for i, e in enumerate([10.0, 50.0, 80.0])}
    s = eval_light.summarise(rows)["interior"]
    assert s["windows_placed"] == 3 and s["window_within_30deg"] == 1 and s["median_window_azimuth_error_deg"] == 50.0
