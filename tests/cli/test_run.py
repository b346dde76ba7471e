"""`vanelia run` end to end on a short generated shot (real Blender via the bpy module)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def vanelia(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "data"
    r = vanelia("render", "--help")
    if r.returncode != 0:
        pytest.skip("vanelia render is not available in this install")
    from app.blender import run_batch

    run_batch("demo-data", ["--output", str(out), "--frames", "6", "--resolution", "160x90", "--samples", "4"], on_line=lambda s: None)
    return out


def test_bad_input_is_a_clear_error(tmp_path: Path):
    r = vanelia("run", "--input", str(tmp_path / "nope.mp4"), "--model", str(tmp_path / "x.glb"), "--output", str(tmp_path / "o.mp4"))
    assert r.returncode == 2 and "nope.mp4" in r.stderr and "Traceback" not in r.stderr
    plate = tmp_path / "plate"
    plate.mkdir()
    glb = tmp_path / "x.glb"
    glb.write_bytes(b"glTF")
    r = vanelia("run", "--input", str(plate), "--model", str(glb), "--output", str(tmp_path / "o.mp4"), "--stages", "inpaint,composite")
    assert r.returncode == 2 and "--mask" in r.stderr
    r = vanelia("run", "--input", str(plate), "--model", str(glb), "--output", str(tmp_path / "o.mp4"), "--stages", "blur")
    assert r.returncode == 2 and "unknown stage" in r.stderr
    r = vanelia("run", "--input", str(plate), "--model", str(glb), "--output", str(tmp_path / "o.mp4"), "--ground-cover=3")
    assert r.returncode == 2 and "--ground-cover 3" in r.stderr and "0 to 1 m" in r.stderr


@pytest.mark.slow
def test_run_end_to_end_and_rerun_with_changed_param(demo_data: Path, tmp_path: Path, default_composite: str):
    from ml.io.images import read_rgb8
    from ml.io.video import iter_frames, probe

    out = tmp_path / "final.mp4"
    shot = tmp_path / "shot"
    common = ["--input", str(demo_data / "plate.mp4"), "--model", str(demo_data / "product.glb"),
              "--camera", str(demo_data / "transforms.json"), "--samples", "4", "--keep", str(shot)]
    r = vanelia("run", *common, "--output", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "[vanelia] codec match: " in r.stdout  # the plate is H.264: its quality is measured and said
    info = probe(out)
    assert (info["width"], info["height"], info["frames"]) == (160, 90, 6) and abs(info["fps"] - 24) < 0.01
    sheet = read_rgb8(tmp_path / "final_contact.png")
    assert sheet.shape[1] > 3 * 160 * 0.9
    params = json.loads((shot / "v001" / "params.json").read_text())
    assert params["frames"]["3"]["composite"]["engine"] == default_composite and params["state"] == "done"
    # the composite differs from the plate where the product is
    from ml.io.exr import read_passes

    alpha = read_passes(shot / "render" / "000003.exr", ["rgba"])["rgba"][..., 3]
    comp = read_rgb8(shot / "v001" / "frames" / "000003.png").astype(int)
    plate = read_rgb8(shot / "plate" / "000003.png").astype(int)
    if (alpha > 0.5).any():
        assert np.abs(comp - plate)[alpha > 0.5].mean() > 2
    first = [f for f in iter_frames(out)][0]
    assert first.shape == (90, 160, 3)
    # same command again: same version, nothing recomputed; one changed parameter: v002
    frames_before = (shot / "v001" / "frames" / "000001.png").stat().st_mtime_ns
    r = vanelia("run", *common, "--output", str(out))
    assert r.returncode == 0 and "version v001" in r.stdout
    assert (shot / "v001" / "frames" / "000001.png").stat().st_mtime_ns == frames_before
    r = vanelia("run", *common, "--output", str(tmp_path / "b.mp4"), "--param", "composite.grain=0")
    assert r.returncode == 0 and "version v002" in r.stdout, r.stderr[-2000:]
    assert json.loads((shot / "v002" / "params.json").read_text())["params"]["composite"]["grain"] == 0
    # the light came from the plate (environment map + the track's key direction), recorded in shot.json
    lighting = json.loads((shot / "shot.json").read_text())["lighting"]
    assert lighting["method"] == "plate" and (shot / lighting["environment"]).is_file()
    # the same result as an EXR sequence (half, linear) into a folder: nothing re-rendered
    seq = tmp_path / "seq"
    r = vanelia("run", *common, "--output", f"{seq}/", "--format", "exr", "--param", "composite.grain=0")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "EXR sequence is delivered clean" in r.stdout and not (shot / "v002" / "codec").exists()
    import OpenEXR

    exrs = sorted(seq.glob("*.exr"))
    assert [p.name for p in exrs] == [f"{i:06d}.exr" for i in range(1, 7)]
    px = OpenEXR.File(str(exrs[2])).channels()
    rgb = np.asarray(px["RGB"].pixels)
    assert rgb.dtype == np.float16 and rgb.shape == (90, 160, 3)
    png = read_rgb8(shot / "v002" / "frames" / "000003.png").astype(np.float32) / 255
    from ml.io.colour import linear_to_srgb

    assert np.abs(linear_to_srgb(rgb.astype(np.float32)) - png).max() < 0.01


def test_stages_through_a_real_sidecar(tmp_path: Path, default_composite: str):
    """--server: by path inside the sidecar's shot roots, else upload + download."""
    pytest.importorskip("server.local")
    from ml.pipeline.synthetic import make_shot
    from server.config import ServerConfig
    from server.local import BackgroundServer

    from app.stages import run_stages_server
    from shotcache.schema import JobSpec

    root = tmp_path / "roots"
    inside = make_shot(root / "shot", frames=2, size=(48, 32))
    outside = make_shot(tmp_path / "elsewhere", frames=2, size=(48, 32))
    cfg = ServerConfig(host="127.0.0.1", port=0, shot_roots=[root], data_dir=tmp_path / "data")
    with BackgroundServer(cfg) as url:
        for shot in (inside, outside):
            version, job = run_stages_server(JobSpec(shot=str(shot.root), frames=[1, 2]), shot.root, url, None)
            assert job["state"] == "done"
            assert sorted(p.name for p in (shot.root / version / "frames").iterdir()) == ["000001.png", "000002.png"]
            assert json.loads((shot.root / version / "params.json").read_text())["frames"]["2"]["composite"]["engine"] == default_composite


@pytest.mark.slow
def test_run_hides_the_product_behind_user_and_automatic_holdouts(demo_data: Path, tmp_path: Path, monkeypatch):
    """The real run (Blender render, QC, stages): a user matte (--holdout, frame 2) and
    moving things from the motion step: frame 4 one over the whole product, cut off by the
    frame's bottom edge (so in front), frame 5 one standing on the ground behind the product
    (its foot above the product's in the image). The user's and frame 4's mattes put the
    plate back over the product in the final frames; frame 5 keeps the product, as does
    frame 3 (nothing). The moving-object detector is replaced by these known masks (it is
    tested on its own), so this checks the wiring and the depth order on a real render."""
    import cv2

    import ml.camera.motion as motion
    from app.run import RunOptions, run_pipeline
    from ml.io.exr import read_passes
    from ml.io.images import read_rgb8

    shot = tmp_path / "shot"

    def alpha(f: int) -> np.ndarray:
        return read_passes(shot / "render" / f"{f:06d}.exr", ["rgba"])["rgba"][..., 3]

    def fake_moving(frames, log=None, max_side=640):
        out = {}
        for f, path in frames.items():
            h, w = cv2.imread(str(path)).shape[:2]
            m = np.zeros((h, w), bool)
            if f in (4, 5):
                ys, xs = np.nonzero(alpha(f) > 0.5)
                x0, x1 = max(0, int(xs.min()) - 8), int(xs.max()) + 9
                if f == 4:
                    m[max(0, int(ys.min()) - 8):, x0:x1] = True
                else:
                    m[max(0, int(ys.min()) - 15):int(ys.min() + ys.max()) // 2, x0:x1] = True
            out[f] = m
        return out

    user = tmp_path / "holdout"
    user.mkdir()
    cv2.imwrite(str(user / "000002.png"), np.full((90, 160), 255, np.uint8))  # frame 2: everything is in front

    def run(log) -> dict:
        return run_pipeline(RunOptions(input=demo_data / "plate.mp4", model=demo_data / "product.glb", output=tmp_path / "o.mp4",
                                       camera=demo_data / "transforms.json", samples=4, keep=shot, holdout=user, force=True,
                                       progress=False), log=log)

    run(lambda s: None)  # rendered first: the moving masks are made before the render, and the fake ones read its alpha
    monkeypatch.setattr(motion, "moving_masks", fake_moving)
    lines: list[str] = []
    res = run(lines.append)
    assert res["holdout"]["occluded_frames"] == [4], res["holdout"]
    assert any("automatic holdout: an occluder covers the product in 1/6 frames" in s for s in lines), lines
    assert sorted(p.name for p in (shot / "holdout").glob("*.png")) == ["000002.png", "000004.png", "000005.png"]
    v = res["version"]

    def diff(f: int) -> np.ndarray:
        return np.abs(read_rgb8(shot / v / "frames" / f"{f:06d}.png").astype(int)
                      - read_rgb8(shot / "plate" / f"{f:06d}.png").astype(int)).mean(-1)

    a = {f: alpha(f) > 0.5 for f in (2, 3, 4, 5)}
    assert all(m.sum() > 20 for m in a.values())
    assert diff(3)[a[3]].mean() > 8  # no matte: the product is there
    assert diff(2)[a[2]].mean() < 3 and diff(4)[a[4]].mean() < 3  # hidden by the user's matte / the near thing
    m5 = cv2.imread(str(shot / "holdout" / "000005.png"), cv2.IMREAD_GRAYSCALE)
    assert m5.max() == 255 and m5[a[5]].max() == 0 and diff(5)[a[5]].mean() > 8  # the far thing is behind it


def test_auto_holdout_is_on_unless_turned_off():
    import argparse

    from cli.run import add_arguments, options_from_args
    from shotcache.schema import RunRequest

    p = argparse.ArgumentParser()
    add_arguments(p)
    base = ["--input", "plate.mp4", "--model", "product.glb", "--output", "final.mp4"]
    assert options_from_args(p.parse_args(base)).auto_holdout is True
    assert options_from_args(p.parse_args([*base, "--no-auto-holdout"])).auto_holdout is False
    assert options_from_args(p.parse_args(base)).auto_masks is True
    assert options_from_args(p.parse_args([*base, "--no-auto-masks"])).auto_masks is False
    assert RunRequest(input="a", model="b", output="c.mp4").auto_holdout is True  # the sidecar's POST /run: same default
