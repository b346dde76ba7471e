"""A track's sparse points travel with its transforms.json as a PLY (nerfstudio's
``ply_file_path``): written atomically, read back, optional when copied without it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shotcache.errors import InputError
from shotcache.schema import FrameCamera
from shotcache.tracks import TrackData, load_track, read_ply, write_ply, write_transforms


def _track(points: np.ndarray | None) -> TrackData:
    cams = {f: FrameCamera(300.0, 300.0, 160.0, 120.0, np.eye(4).tolist()) for f in (1, 2, 3)}
    return TrackData("transforms", "", cams, 320, 240, points=points)


def test_points_round_trip_beside_the_transforms(tmp_path: Path):
    pts = np.random.default_rng(0).normal(size=(500, 3))
    out = write_transforms(tmp_path / "track.json", _track(pts))
    doc = json.loads(out.read_text())
    assert doc["ply_file_path"] == "track_points.ply" and (tmp_path / "track_points.ply").is_file()
    back = load_track(out, skip_missing=False)
    assert back.points is not None and back.points.shape == (500, 3)
    assert np.allclose(back.points, pts, atol=1e-5)
    # copied without its PLY: the cameras still load, without points
    (tmp_path / "track_points.ply").unlink()
    assert load_track(out, skip_missing=False).points is None
    # no points: no key, no file
    out2 = write_transforms(tmp_path / "bare.json", _track(None))
    assert "ply_file_path" not in json.loads(out2.read_text()) and not (tmp_path / "bare_points.ply").exists()


def test_ply_reader_takes_ascii_and_refuses_garbage(tmp_path: Path):
    p = tmp_path / "a.ply"
    p.write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\n"
                 "property uchar red\nend_header\n1 2 3 255\n4 5 6 0\n")
    assert np.allclose(read_ply(p), [[1, 2, 3], [4, 5, 6]])
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"not a ply at all")
    with pytest.raises(InputError, match="not a PLY"):
        read_ply(bad)
    big = np.zeros((60_000, 3))
    assert len(read_ply(write_ply(tmp_path / "big.ply", big))) == 50_000  # thinned to MAX_PLY_POINTS
