"""`vanelia run`'s codec match step (app/codec_match.py) on a real shot folder and a real H.264 plate."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from app.codec_match import match_version, parse_codec_match  # noqa: E402
from app.preflight import probe_plate  # noqa: E402
from ml.io.images import read_rgb8, write_rgb8  # noqa: E402
from ml.io.video import iter_frames, write_mp4  # noqa: E402
from shotcache.errors import UsageError  # noqa: E402
from shotcache.layout import ShotPaths  # noqa: E402

W, H = 160, 96


def _shot(tmp_path: Path, crf: int = 32) -> tuple[ShotPaths, list[int], Path]:
    """A shot folder whose plate is a filmed clip (decoded) and whose version v001 has a crisp
    square pasted on every frame."""
    rng = np.random.default_rng(1)
    tex = rng.uniform(50, 200, (H, W + 40, 3)).astype(np.uint8)
    video = write_mp4(tmp_path / "plate.mp4", (tex[:, i : i + W] for i in range(12)), 24, crf=crf)
    paths = ShotPaths(tmp_path / "shot")
    frames = list(range(1, 13))
    for f, img in zip(frames, iter_frames(video)):
        write_rgb8(paths.plate_frame(f), img)
        comp = img.copy()
        comp[30:60, 60:100] = np.where((np.indices((30, 40)).sum(0) % 2)[..., None] > 0, 230, 20)
        write_rgb8(paths.version_frame("v001", f), comp)
    return paths, frames, video


def test_auto_matches_a_video_plate_and_delivers_the_matched_frames(tmp_path: Path):
    paths, frames, video = _shot(tmp_path)
    logs: list[str] = []
    crf = match_version(paths, "v001", frames, "auto", probe_plate(video), 24, log=logs.append)
    assert crf is not None and 24 <= crf <= 33 and "codec match" in logs[-1]
    for f in frames:
        delivered = paths.delivered_frame("v001", f)
        assert delivered.parent == paths.codec_dir("v001")
        own, out = read_rgb8(paths.version_frame("v001", f)), read_rgb8(delivered)
        assert not np.array_equal(own[30:60, 60:100], out[30:60, 60:100])  # the square went through the codec
        assert np.array_equal(own[:, :40], out[:, :40])  # the plate far from it did not
    # off: the stages' own frames are delivered again
    assert match_version(paths, "v001", frames, "off", probe_plate(video), 24, log=logs.append) is None
    assert not paths.codec_dir("v001").exists() and paths.delivered_frame("v001", 1) == paths.version_frame("v001", 1)


def test_an_image_sequence_plate_matches_only_a_given_crf(tmp_path: Path):
    paths, frames, _video = _shot(tmp_path)
    plate = probe_plate(paths.plate_dir)
    logs: list[str] = []
    assert match_version(paths, "v001", frames, "auto", plate, 24, log=logs.append) is None
    assert "image sequence" in logs[-1]
    assert match_version(paths, "v001", frames, 28.0, plate, 24, log=logs.append) == 28.0
    assert paths.codec_dir("v001").is_dir()


@pytest.mark.parametrize("text", ["sometimes", "-3", "60"])
def test_a_bad_codec_match_value_is_refused_with_what_to_give(text: str):
    with pytest.raises(UsageError, match="--codec-match"):
        parse_codec_match(text)


def test_codec_match_values():
    assert parse_codec_match("AUTO") == "auto" and parse_codec_match("off") == "off" and parse_codec_match("23") == 23.0
