"""The shot QC judges the lock at the clip's own resolution (up to 720p), whatever the
working resolution of the run."""
import pytest

from ml.camera.shotqc import judge_scale
from shotcache.schema import Plate, Shot


@pytest.mark.parametrize("native, working, expected", [
    ([1280, 720], [640, 360], 2.0),   # a 720p clip run at half size: judged at 720p
    ([1920, 1080], [640, 360], 2.0),  # a 1080p clip: judged at 720p, not 1080p
    ([1920, 1080], [1920, 1080], 720 / 1080),
    ([432, 240], [432, 240], 1.0),    # a small clip at its own size
    ([], [96, 54], 1.0),              # an old shot.json without the native size
])
def test_judge_scale_is_the_clip_height_up_to_720_over_the_working_height(native, working, expected):
    shot = Shot(name="s", resolution=working, fps=24.0, frames=[1], plate=Plate(native_size=native))
    assert judge_scale(shot) == pytest.approx(expected)
