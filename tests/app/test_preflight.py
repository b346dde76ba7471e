"""app.preflight on real files: each bad input is refused with its name, nothing decoded or run."""
from __future__ import annotations

import json
import os
import struct
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.preflight import PreflightError, check_model, check_output, check_run, match_masks, probe_plate
from shotcache.errors import UserError


def glb(path: Path, doc: dict | None = None, lie_length: int = 0) -> Path:
    raw = json.dumps(doc if doc is not None else {"asset": {"version": "2.0"}}).encode()
    raw += b" " * (-len(raw) % 4)
    body = struct.pack("<II", len(raw), 0x4E4F534A) + raw
    path.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + len(body) + lie_length) + body)
    return path


def frames_dir(folder: Path, numbers: list[int], size=(32, 24)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        cv2.imwrite(str(folder / f"f_{n:04d}.png"), np.full((size[1], size[0], 3), n, np.uint8))
    return folder


def test_model_checks(tmp_path):
    check_model(glb(tmp_path / "ok.glb"))
    assert issubclass(PreflightError, UserError)  # the CLI prints it and exits 2
    bad = {
        "text.glb": lambda p: p.write_text("hello, not a model"),
        "short.glb": lambda p: glb(p, lie_length=100),  # header promises more than the file holds
        "nojson.glb": lambda p: glb(p, doc={"nodes": []}),
    }
    for name, make in bad.items():
        make(tmp_path / name)
        with pytest.raises(PreflightError, match="not a valid GLB") as exc:
            check_model(tmp_path / name)
        assert name in str(exc.value)
    with pytest.raises(PreflightError, match="no such file"):
        check_model(tmp_path / "missing.glb")


def test_plate_folder_numbers_and_masks_by_number(tmp_path):
    plate = probe_plate(frames_dir(tmp_path / "plate", [10, 11, 12, 13]))
    assert plate.kind == "images" and plate.frames == [10, 11, 12, 13] and plate.size == (32, 24)
    m = frames_dir(tmp_path / "m", [13, 12, 11, 10])
    assert {f: p.name for f, p in match_masks(m, plate.frames, plate.frames, plate.size).items()} == \
        {10: "f_0010.png", 11: "f_0011.png", 12: "f_0012.png", 13: "f_0013.png"}
    with pytest.raises(PreflightError, match=r"no mask for frame\(s\) 13"):
        match_masks(frames_dir(tmp_path / "m3", [10, 11, 12]), plate.frames, plate.frames)
    with pytest.raises(PreflightError, match="is 64x48 but the plate is 32x24"):
        match_masks(frames_dir(tmp_path / "big", [10, 11, 12, 13], size=(64, 48)), plate.frames, plate.frames, plate.size)
    unnamed = tmp_path / "unnamed"
    unnamed.mkdir()
    cv2.imwrite(str(unnamed / "mask.png"), np.zeros((24, 32), np.uint8))
    with pytest.raises(PreflightError, match="no frame number in its name"):
        match_masks(unnamed, plate.frames, plate.frames)
    # --frames 11:12: masks for the plate's other frames are fine, the range's must be there
    assert sorted(match_masks(m, [11, 12], plate.frames)) == [11, 12]


def test_video_rate_is_exact_and_truncation_found(tmp_path):
    import av

    path = tmp_path / "v.mp4"
    with av.open(str(path), "w", format="mp4") as box:
        st = box.add_stream("libx264", rate=Fraction(30000, 1001))
        st.width, st.height, st.pix_fmt = 32, 24, "yuv420p"
        for i in range(12):
            for p in st.encode(av.VideoFrame.from_ndarray(np.full((24, 32, 3), i * 9, np.uint8), format="rgb24")):
                box.mux(p)
        for p in st.encode():
            box.mux(p)
    facts = probe_plate(path)
    assert facts.frames == list(range(1, 13)) and facts.rate == Fraction(30000, 1001) and facts.size == (32, 24)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(PreflightError, match="empty.mp4"):
        probe_plate(tmp_path / "empty.mp4")


def test_outputs_must_be_writable_before_anything_runs(tmp_path):
    check_output(tmp_path / "new" / "deeper" / "out.mp4")  # folders still to be made: fine
    assert not (tmp_path / "new").exists()  # the check made nothing
    (tmp_path / "afile").write_text("x")
    with pytest.raises(PreflightError, match="is a file, not a folder"):
        check_output(tmp_path / "afile" / "out.mp4")
    with pytest.raises(PreflightError, match="not writable"):
        check_output(Path("/proc/self/fdinfo/out.mp4"))  # read-only for every user, root included


def test_check_run_order_and_every_input(tmp_path):
    model, plate = glb(tmp_path / "p.glb"), frames_dir(tmp_path / "plate", [1, 2, 3])
    out = tmp_path / "o.mp4"
    got = check_run(plate=plate, model=model, output=out, masks=frames_dir(tmp_path / "m", [1, 2, 3]), frame_range=(2, 3))
    assert got.frames == [2, 3] and sorted(got.masks) == [2, 3]
    (tmp_path / "bad.glb").write_text("{}")
    with pytest.raises(PreflightError, match="bad.glb"):  # the model first: it is the cheapest thing to fix
        check_run(plate=tmp_path / "nope", model=tmp_path / "bad.glb", output=out)
    with pytest.raises(PreflightError, match="none in that range"):
        check_run(plate=plate, model=model, output=out, frame_range=(7, 9))
    with pytest.raises(PreflightError, match="--camera"):
        check_run(plate=plate, model=model, output=out, camera=tmp_path / "no-track.json")
    (tmp_path / "track.json").write_text('{"frames": []}')
    with pytest.raises(PreflightError, match="frames"):
        check_run(plate=plate, model=model, output=out, camera=tmp_path / "track.json")
    (tmp_path / "keepfile").write_text("x")
    with pytest.raises(PreflightError, match="--keep"):
        check_run(plate=plate, model=model, output=out, keep=tmp_path / "keepfile" / "shot")
    assert not out.exists() and not list(tmp_path.glob(".vanelia-write-probe-*"))
