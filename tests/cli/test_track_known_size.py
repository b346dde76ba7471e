"""`vanelia track --known-size` / `vanelia run --known-size` on small generated plates, and a
plate that is no footage refused before any work (issue "Locked to real footage")."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.run import RunOptions, _scale_source, camera_height
from cli.main import main as vanelia

W, H, FOCAL_MM = 320, 180, 50.0


def static_plate(folder: Path, n: int = 5) -> Path:
    """A textured frame repeated: `vanelia track` gives it a fixed camera 10 deg down (fast)."""
    rng = np.random.default_rng(0)
    img = cv2.resize((rng.random((H // 4, W // 4, 3)) * 255).astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST)
    folder.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i + 1:04d}.png"), img)
    return folder


def ground_distance(u1: float, u2: float, v: float, height: float) -> float:
    """Distance on the ground between pixels (u1, v) and (u2, v) of a camera ``height`` up,
    10 deg down, focal FOCAL_MM on a 36 mm sensor (app.track.static_solve), worked out here
    independently of ml/camera/scale.py."""
    f = FOCAL_MM / 36.0 * W
    t = math.radians(10.0)
    b = (v - H / 2) / f
    along = height / (b * math.cos(t) + math.sin(t))  # ray parameter where z reaches 0
    return abs(u1 - u2) / f * along


def test_track_known_size_scales_the_solve_and_says_so(tmp_path: Path, capsys):
    plate = static_plate(tmp_path / "static")
    out = tmp_path / "t.json"
    metres = ground_distance(80, 240, 150, 3.0)  # what those points measure with the camera 3 m up
    spec = f"80,150,240,150={metres:.6f}@2"
    assert vanelia(["track", "--input", str(plate), "--output", str(out), "--focal-mm", str(FOCAL_MM), "--known-size", spec]) == 0
    log = capsys.readouterr().out
    assert "static camera" in log and "scale from --known-size" in log
    qc = json.loads(out.read_text())["qc"]
    assert qc["scale"]["source"].startswith(f"--known-size {metres:g} m between two ground points of frame 2")
    assert qc["scale"]["camera_height_m"] == pytest.approx(3.0, rel=0.02)
    assert qc["ground"]["camera_height"] == pytest.approx(3.0, rel=0.02)
    heights = [fr["transform_matrix"][2][3] for fr in json.loads(out.read_text())["frames"]]
    assert np.allclose(heights, 3.0, rtol=0.02)
    # fractions of the frame measure the same
    out2 = tmp_path / "t2.json"
    frac = f"{80 / W},{150 / H},{240 / W},{150 / H}={metres:.6f}"
    assert vanelia(["track", "--input", str(plate), "--output", str(out2), "--focal-mm", str(FOCAL_MM), "--known-size", frac]) == 0
    assert json.loads(out2.read_text())["qc"]["scale"]["camera_height_m"] == pytest.approx(3.0, rel=0.02)
    # without a scale option: the typical height, said as such
    out3 = tmp_path / "t3.json"
    assert vanelia(["track", "--input", str(plate), "--output", str(out3), "--focal-mm", str(FOCAL_MM)]) == 0
    assert json.loads(out3.read_text())["qc"]["scale"] == {
        "source": "typical camera height 1.5 m (give --camera-height or --known-size)", "camera_height_m": 1.5}
    assert "scale from typical camera height 1.5 m" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--known-size", "80,150,240=1.0"], "--known-size '80,150,240=1.0': expected X1,Y1,X2,Y2=METRES"),
    (["--known-size", "80,150,80,150=1.0"], "both points are the same"),
    (["--known-size", "80,150,240,150=0"], "distance 0 m must be positive"),
    (["--known-size", "80,150,400,150=1.0"], "point 2 (400, 150) is outside the 320x180 plate frame"),
    (["--known-size", "80,150,240,150=1.0@9"], "frame 9 is not among the tracked frames 1..5"),
    (["--known-size", "80,150,240,150=1.0", "--camera-height", "1.6"], "and --camera-height 1.6 both set"),
    (["--known-size", "80,5,240,150=1.0"], "point 1 (80, 5) of frame 1 is at or above the horizon"),
])
def test_track_refuses_bad_known_sizes(tmp_path: Path, capsys, extra, message):
    plate = static_plate(tmp_path / "static")
    out = tmp_path / "t.json"
    assert vanelia(["track", "--input", str(plate), "--output", str(out), "--focal-mm", str(FOCAL_MM), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("name, content, kind", [
    ("notes.txt", b"a text, not a clip\n", "a text file"),
    ("product.glb", b"glTF\x02\x00\x00\x00" + bytes(64), "a 3D model (the product: it goes to `vanelia run --model`)"),
    ("clip.xyz", b"\x00\x01 no video here" * 20, "a .xyz file"),
])
def test_track_refuses_a_file_that_is_no_footage(tmp_path: Path, capsys, name, content, kind):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "t.json"
    assert vanelia(["track", "--input", str(path), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--input {path}: not footage: this is {kind}" in err and "video file (.mp4" in err and "folder of its frames" in err
    assert "Traceback" not in err and not out.exists()


def test_run_checks_the_scale_options_before_anything_else(tmp_path: Path, capsys):
    plate = static_plate(tmp_path / "static")
    model = tmp_path / "p.glb"
    model.write_bytes(b"not checked yet")
    base = ["run", "--input", str(plate), "--model", str(model), "--output", str(tmp_path / "final.mp4")]
    assert vanelia([*base, "--known-size", "1,2,3,4=1", "--camera-height", "1.6"]) == 2
    assert "both set the scene's scale" in capsys.readouterr().err
    assert vanelia([*base, "--known-size", "1,2,3,4=1", "--camera", str(tmp_path / "t.json")]) == 2
    assert vanelia([*base, "--known-size", "1,2,3=1"]) == 2
    assert "--known-size '1,2,3=1'" in capsys.readouterr().err
    assert not (tmp_path / "final.mp4").exists()


def test_run_reports_the_scale_source(tmp_path: Path):
    opts = RunOptions(input=tmp_path, model=tmp_path / "p.glb", output=tmp_path / "f.mp4", known_size="10,20,30,40=1.5@3")
    assert camera_height(opts) == (1.5, "--known-size 1.5 m between two ground points of frame 3 (10,20,30,40=1.5@3)")
    assert camera_height(RunOptions(input=tmp_path, model=tmp_path, output=tmp_path, camera_height=1.7))[1] == "--camera-height 1.7 m"
    track = tmp_path / "transforms.json"
    track.write_text(json.dumps({"qc": {"scale": {"source": camera_height(opts)[1], "camera_height_m": 2.345,
                                                  "known_size": opts.known_size}}}))
    assert _scale_source(opts, track) == camera_height(opts)[1] + ", camera height 2.35 m"  # what shot.json's qc records
    track.write_text(json.dumps({"qc": {}}))
    assert _scale_source(opts, track) == camera_height(opts)[1]
    typical = RunOptions(input=tmp_path, model=tmp_path, output=tmp_path)
    track.write_text(json.dumps({"qc": {"scale": {"source": camera_height(typical)[1], "camera_height_m": 1.5}}}))
    assert _scale_source(typical, track) == "typical camera height 1.5 m (give --camera-height or --known-size)"
    assert _scale_source(RunOptions(input=tmp_path, model=tmp_path, output=tmp_path, camera=track), track) == ""
