"""Every batch step in a real Blender binary (Debian's 4.3: Python 3.13, numpy 2, no
OpenImageDenoise, no `requests`), as `blender -b --python-exit-code 1 --python
scripts/vanelia_batch.py -- STEP ...`, with good and bad inputs.

Good inputs must exit 0 with the files written; bad inputs must exit 2 with one
``[vanelia] error:`` line that names the file or value, and no traceback.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from blender_run import batch, run_blender

pytestmark = pytest.mark.slow


def expect_user_error(res, *words: str) -> None:
    out = res.stdout + res.stderr
    assert res.returncode == 2, f"exit {res.returncode}, expected 2:\n{out[-2000:]}"
    errors = [line for line in res.stderr.splitlines() if line.startswith("[vanelia] error:") or line.startswith("usage:")]
    assert errors, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    for w in words:
        assert w in out, f"{w!r} not in:\n{out[-2000:]}"


def test_binary_is_the_awkward_build(blender_bin, blender_env) -> None:
    """The facts the fixes are for: Python 3.13, numpy 2, no OIDN, no requests."""
    probe = ("import sys, numpy, _cycles\n"
             "try:\n    import requests; r = True\nexcept ImportError:\n    r = False\n"
             "print('PROBE', sys.version_info[:2] >= (3, 13), numpy.__version__.split('.')[0], _cycles.with_openimagedenoise, r)")
    res = run_blender(blender_bin, blender_env, "--python-expr", probe)
    line = next(l for l in res.stdout.splitlines() if l.startswith("PROBE"))
    assert line == "PROBE True 2 False False", line


def test_render_render_shot_sequencer(blender_bin, blender_env, demo, tmp_path) -> None:
    shot = tmp_path / "shot"
    blend = tmp_path / "shot.blend"
    res = batch(blender_bin, blender_env, "render", "--plate", str(demo / "plate.mp4"), "--model", str(demo / "product.glb"),
                "--camera", str(demo / "transforms.json"), "--shot", str(shot), "--frames", "1:3", "--samples", "16",
                "--blend", str(blend))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert sorted(p.name for p in (shot / "render").glob("*.exr")) == ["000001.exr", "000002.exr", "000003.exr"]
    doc = json.loads((shot / "shot.json").read_text())
    assert doc["frames"] == [1, 2, 3] and doc["render"]["blender_version"].startswith("4.3")
    assert blend.is_file()

    # the saved .blend: the shot lives in its own scene "Vanelia shot"
    check = ("import bpy; sc = bpy.data.scenes.get('Vanelia shot'); "
             "print('SCENE', sc is not None and sc.camera is not None, sorted(o.type for o in sc.objects if o.type != 'MESH'))")
    res = run_blender(blender_bin, blender_env, "--python-expr", check, blend=str(blend))
    assert "SCENE True ['CAMERA', 'EMPTY', 'LIGHT']" in res.stdout, res.stdout[-2000:]

    # render-shot: nothing changed, nothing rendered
    res = batch(blender_bin, blender_env, "render-shot", "--shot", str(shot))
    assert res.returncode == 0 and "rendered 0 frames" in res.stdout, (res.stdout + res.stderr)[-2000:]

    # sequencer: a result version next to the plate, saved in a .blend
    frames = shot / "v001" / "frames"
    frames.mkdir(parents=True)
    for f in (1, 2, 3):
        shutil.copy(shot / "plate" / f"{f:06d}.png", frames / f"{f:06d}.png")
    (shot / "v001" / "params.json").write_text(json.dumps({"engines": {"composite": "classical"}}))
    seq_blend = tmp_path / "seq.blend"
    res = batch(blender_bin, blender_env, "sequencer", "--shot", str(shot), "--version", "v001", "--save", str(seq_blend))
    assert res.returncode == 0 and seq_blend.is_file(), (res.stdout + res.stderr)[-2000:]
    assert "loaded v001" in res.stdout

    # bad inputs of these steps
    expect_user_error(batch(blender_bin, blender_env, "sequencer", "--shot", str(shot), "--version", "v009", "--save", str(tmp_path / "x.blend")),
                      "v009")
    expect_user_error(batch(blender_bin, blender_env, "render-shot", "--shot", str(tmp_path / "nothing")), "nothing")


def test_track_step(blender_bin, blender_env, demo, tmp_path) -> None:
    out = tmp_path / "solve.json"
    res = batch(blender_bin, blender_env, "track", "--input", str(demo / "plate.mp4"), "--output", str(out))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    doc = json.loads(out.read_text())
    assert len(doc["cameras"]) == 24 and doc["width"] == 320
    errs = list(doc["frame_error"].values())
    assert max(errs) < 1.5, errs  # a rendered plate with an exact camera: sub-pixel


@pytest.mark.parametrize(
    "args, words",
    [
        (["nosuchstep"], ["unknown step", "nosuchstep"]),
        (["render", "--plate", "/nonexistent/plate.mp4", "--model", "{demo}/product.glb", "--camera", "{demo}/transforms.json",
          "--shot", "{tmp}/s"], ["/nonexistent/plate.mp4"]),
        (["render", "--plate", "{demo}/plate.mp4", "--model", "{demo}/transforms.json", "--camera", "{demo}/transforms.json",
          "--shot", "{tmp}/s"], ["transforms.json"]),
        (["render", "--plate", "{demo}/plate.mp4", "--model", "{demo}/product.glb", "--camera", "{demo}/transforms.json",
          "--shot", "{tmp}/s", "--frames", "5:2"], ["5:2"]),
        (["render", "--plate", "{demo}/plate.mp4", "--model", "{demo}/product.glb", "--camera", "{demo}/transforms.json",
          "--shot", "{tmp}/s", "--product-matrix", "1,2,3"], ["--product-matrix"]),
        (["render", "--plate", "{demo}/plate.mp4", "--model", "{demo}/product.glb", "--shot", "{tmp}/s"], ["--camera"]),
        (["demo-data", "--output", "{tmp}/d", "--frames", "0"], ["--frames 0"]),
        (["demo-data", "--output", "{tmp}/d", "--resolution", "big"], ["big"]),
        (["track", "--input", "/nonexistent/clip.mp4", "--output", "{tmp}/t.json"], ["/nonexistent/clip.mp4"]),
        (["track", "--input", "{demo}/plate.mp4", "--output", "{tmp}/t.json", "--focal-mm", "0.1"], ["--focal-mm"]),
        (["render"], ["--plate"]),
    ],
    ids=["unknown-step", "missing-plate", "model-not-glb", "frames-reversed", "bad-matrix", "no-camera", "zero-frames",
         "bad-resolution", "track-missing", "track-bad-focal", "render-no-args"],
)
def test_bad_inputs(blender_bin, blender_env, demo, tmp_path, args, words) -> None:
    args = [a.format(demo=demo, tmp=tmp_path) for a in args]
    res = batch(blender_bin, blender_env, *args)
    expect_user_error(res, *[w.format(demo=demo, tmp=tmp_path) for w in words])
    assert not (tmp_path / "s" / "shot.json").exists()  # nothing half-written
