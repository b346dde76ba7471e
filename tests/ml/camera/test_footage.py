"""Plate frames for a tracker and for a look at a few frames (ml.camera.footage)."""
import cv2
import numpy as np

from ml.camera.footage import extract_frames
from ml.io.video import write_mp4


def _numbered_clip(path, n=12):
    """An MP4 whose frame k (from 1) is a flat grey of 20 * k: its number is in its pixels."""
    write_mp4(path, [np.full((64, 96, 3), 20 * k, np.uint8) for k in range(1, n + 1)], 24)
    return path


def test_only_the_frames_asked_for_are_kept_in_order_of_the_plate(tmp_path):
    clip = _numbered_clip(tmp_path / "plate.mp4")
    got = extract_frames(clip, tmp_path / "few", only={2, 5, 9})
    assert sorted(got) == [2, 5, 9] and sorted(p.name for p in (tmp_path / "few").iterdir()) == ["000002.jpg", "000005.jpg", "000009.jpg"]
    for f, path in got.items():  # each file is the frame of its number, not the first ones decoded
        assert abs(float(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).mean()) - 20 * f) < 6, f
    past = extract_frames(clip, tmp_path / "past", only={11, 40})  # a frame past the end: whichever the plate has
    assert sorted(past) == [11]
