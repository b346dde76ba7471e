"""Each bad input: one clear message naming the file, non-zero exit, existing shot files untouched.

The batch script's ``main`` runs in-process here (same code path as the subprocess runs in
test_batch.py, which check the exit codes of real processes).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_shot import make_inputs, plate_image

import vanelia_batch


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def good(ext, tmp_path_factory):
    """A finished 2-frame shot the bad runs below must not disturb."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    inputs = make_inputs(tmp_path_factory.mktemp("bad-inputs"), n=2)
    shot_dir = tmp_path_factory.mktemp("bad") / "shot"
    rc = vanelia_batch.main(["x", "render", "--plate", str(inputs["plate"]), "--model", str(inputs["model"]),
                             "--camera", str(inputs["camera"]), "--shot", str(shot_dir), "--samples", "4"])
    assert rc == 0
    return {"inputs": inputs, "shot": shot_dir, "snap": snapshot(shot_dir)}


def run_bad(good, capsys, **override) -> str:
    args = {"plate": good["inputs"]["plate"], "model": good["inputs"]["model"], "camera": good["inputs"]["camera"], "shot": good["shot"], "samples": 4}
    args.update(override)
    argv = ["x", "render"]
    for k, v in args.items():
        argv += [f"--{k}", str(v)]
    capsys.readouterr()
    rc = vanelia_batch.main(argv)
    err = capsys.readouterr().err
    assert rc != 0, "a bad input must exit non-zero"
    assert "[vanelia] error:" in err
    assert snapshot(good["shot"]) == good["snap"], "existing shot files changed"
    return err


def test_missing_glb(good, capsys, tmp_path):
    err = run_bad(good, capsys, model=tmp_path / "nope.glb")
    assert "nope.glb" in err and "not found" in err


def test_corrupt_glb(good, capsys, tmp_path):
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"\x00garbage" * 100)
    err = run_bad(good, capsys, model=bad)
    assert "bad.glb" in err and "not a GLB" in err
    data = good["inputs"]["model"].read_bytes()
    cut = tmp_path / "cut.glb"
    cut.write_bytes(data[: len(data) // 2])
    err = run_bad(good, capsys, model=cut)
    assert "cut.glb" in err and "truncated" in err
    # a GLB whose header is fine but whose JSON chunk is garbage: Blender's importer refuses it
    body = b"{" + b"x" * 11
    chunk = len(body).to_bytes(4, "little") + b"JSON" + body
    broken = tmp_path / "broken.glb"
    broken.write_bytes(b"glTF" + (2).to_bytes(4, "little") + (12 + len(chunk)).to_bytes(4, "little") + chunk)
    err = run_bad(good, capsys, model=broken)
    assert "broken.glb" in err and "could not import" in err


def test_undecodable_plate(good, capsys, tmp_path):
    bad = tmp_path / "plate.mp4"
    bad.write_bytes(os.urandom(4096))
    err = run_bad(good, capsys, plate=bad)
    assert "plate.mp4" in err and "cannot decode" in err
    folder = tmp_path / "frames"
    shutil.copytree(good["inputs"]["plate"], folder)
    (folder / "000002.png").write_bytes(b"not a png at all")
    err = run_bad(good, capsys, plate=folder)
    assert "000002.png" in err


def test_track_with_fewer_frames_than_plate(good, capsys, tmp_path):
    doc = json.loads(good["inputs"]["camera"].read_text())
    doc["frames"] = doc["frames"][:1]
    short = good["inputs"]["camera"].parent / "short_transforms.json"
    short.write_text(json.dumps(doc))
    err = run_bad(good, capsys, camera=short)
    assert "short_transforms.json" in err and "1 of the plate's 2 frames" in err and "--frames" in err


def test_mismatched_resolutions(good, capsys, tmp_path):
    err = run_bad(good, capsys, resolution="64x64")
    assert "different aspect" in err
    doc = json.loads(good["inputs"]["camera"].read_text())
    doc["w"], doc["h"] = 640, 480
    other = good["inputs"]["camera"].parent / "other_size.json"
    other.write_text(json.dumps(doc))
    err = run_bad(good, capsys, camera=other)
    assert "other_size.json" in err and "640x480" in err
    folder = tmp_path / "mixed"
    shutil.copytree(good["inputs"]["plate"], folder)
    cv2.imwrite(str(folder / "000002.png"), plate_image(2, (48, 27)))
    err = run_bad(good, capsys, plate=folder)
    assert "000002.png" in err and "one size" in err


def test_unknown_pass_name(good, capsys):
    err = run_bad(good, capsys, passes="rgba,specular")
    assert "specular" in err and "known passes" in err


def test_read_only_shot_folder(good, capsys):
    root = good["shot"]
    mode = root.stat().st_mode
    os.chmod(root, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        err = run_bad(good, capsys)
        assert str(root) in err and "read-only" in err
    finally:
        os.chmod(root, mode)
    assert np.all([p.is_file() for p in (root / "render").iterdir()])
