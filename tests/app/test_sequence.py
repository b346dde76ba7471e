"""`vanelia run --output DIR/` image sequences: naming, format choice, atomic PNG/EXR frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.sequence import frame_path, is_sequence, sequence_format, write_sequence
from shotcache.errors import UsageError


def test_targets_and_formats(tmp_path: Path):
    assert is_sequence(tmp_path / "seq", str(tmp_path / "seq") + "/")
    assert is_sequence(tmp_path / "comp.####.exr")
    assert not is_sequence(tmp_path / "final.mp4") or (tmp_path / "final.mp4").suffix == ".mp4"
    assert sequence_format(tmp_path / "comp.####.exr", None) == "exr"
    assert sequence_format(tmp_path / "seq", None) == "png"
    assert sequence_format(tmp_path / "seq", "exr") == "exr"
    with pytest.raises(UsageError, match="extension says png"):
        sequence_format(tmp_path / "c.###.png", "exr")
    with pytest.raises(UsageError, match="png or exr"):
        sequence_format(tmp_path / "c.###.tif", None)
    assert frame_path(tmp_path / "c.####.exr", 7, "exr").name == "c.0007.exr"
    assert frame_path(tmp_path / "seq", 7, "png").name == "000007.png"


def test_write_sequence_png_and_exr(tmp_path: Path):
    import OpenEXR

    from ml.io.images import read_rgb8, write_rgb8
    from ml.pipeline.synthetic import make_shot

    paths = make_shot(tmp_path / "shot", frames=3, size=(48, 32))
    frames = paths.load_shot().frames
    vdir = paths.version_dir("v001")
    (vdir / "frames").mkdir(parents=True, exist_ok=True)
    img = np.zeros((32, 48, 3), np.uint8)
    img[..., 0] = 200
    write_rgb8(paths.version_frame("v001", frames[0]), img)  # the others are missing: the plate shows
    n, missing = write_sequence(paths.root, "v001", frames, tmp_path / "png", "png")
    assert n == 1 and missing == frames[1:]
    assert np.array_equal(read_rgb8(tmp_path / "png" / f"{frames[0]:06d}.png"), img)
    assert np.array_equal(read_rgb8(tmp_path / "png" / f"{frames[1]:06d}.png"), read_rgb8(paths.plate_frame(frames[1])))
    write_sequence(paths.root, "v001", frames, tmp_path / "exr" / "c.####.exr", "exr")
    px = np.asarray(OpenEXR.File(str(tmp_path / "exr" / f"c.{frames[0]:04d}.exr")).channels()["RGB"].pixels)
    assert px.dtype == np.float16 and abs(float(px[0, 0, 0]) - ((200 / 255 + 0.055) / 1.055) ** 2.4) < 2e-3
    assert not list((tmp_path / "exr").glob(".*"))  # no temp files left
