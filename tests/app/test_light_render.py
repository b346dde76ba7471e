"""The render step's motion-blur choices (app/light_render.py): what --motion-blur accepts, and
that an artist's edit in the panel survives a re-run of the shot folder."""
from __future__ import annotations

import pytest

from app.light_render import edited_motion_blur, parse_motion_blur
from ml.pipeline.synthetic import make_shot
from shotcache.errors import UsageError
from shotcache.schema import MOTION_BLUR_EDITED


@pytest.mark.parametrize("text, value", [("auto", None), (None, None), ("AUTO", None), ("off", 0.0), ("0", 0.0), ("0.5", 0.5), (1.0, 1.0)])
def test_motion_blur_values(text, value):
    assert parse_motion_blur(text) == value


@pytest.mark.parametrize("text", ["fast", "-0.1", "3", "nan", ""])
def test_a_motion_blur_that_is_no_shutter_is_refused_with_the_choices(text):
    with pytest.raises(UsageError, match="--motion-blur"):
        parse_motion_blur(text)


def test_only_an_artists_edit_is_kept_on_a_rerun(tmp_path):
    paths = make_shot(tmp_path / "shot", frames=2)
    assert edited_motion_blur(tmp_path / "nothing") is None
    assert edited_motion_blur(paths.root) is None  # set up without a note
    for note, kept in ((f"{MOTION_BLUR_EDITED}: shutter 0.3", True), ("measured: shutter 0.30 of a frame", False),
                       ("given: --motion-blur 0.3", False)):
        shot = paths.load_shot()
        shot.render.motion_blur, shot.render.motion_blur_note = 0.3, note
        paths.save_shot(shot)
        assert (edited_motion_blur(paths.root) == (0.3, note)) is kept, note


def test_a_canopy_without_a_ground_cover_gets_a_hint():
    """The light estimate read the ground as a canopy of blades: without --ground-cover the run
    says to give one (the product stands on the blades' tips); with one, or on other ground,
    nothing is said."""
    from app.light_render import ground_cover_hint

    assert "--ground-cover" in ground_cover_hint(True, 0.0)
    assert ground_cover_hint(True, 0.05) == "" and ground_cover_hint(False, 0.0) == ""
    lawn = ground_cover_hint(False, 0.0, vegetation=True)  # a lawn that is no canopy: the milder hint
    assert "--ground-cover" in lawn and "green vegetation" in lawn and ground_cover_hint(False, 0.03, vegetation=True) == ""
