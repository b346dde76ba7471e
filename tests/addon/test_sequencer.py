"""Sequencer on Blender 5.0 (in-process): plate + version strips, swap in place, params.

The same checks run on 4.2 in test_blender42.py. Frames are real PNGs; what the strip
shows is checked by rendering the sequencer and reading the pixel back.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import bpy
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import blender42_checks as checks  # noqa: E402


@pytest.fixture
def seq(ext):
    return importlib.import_module(f"{ext.__name__}.addon.sequencer")


def test_load_and_swap_versions_50(seq, tmp_path: Path) -> None:
    d = checks.sequencer_checks(seq, tmp_path)
    checks.expect_sequencer(d)


def test_plate_missing_is_a_clear_error(seq, tmp_path: Path, empty_scene) -> None:
    with pytest.raises(seq.SequencerError, match=r"no plate frames.*Set Up"):
        seq.load_plate(empty_scene, tmp_path)
    with pytest.raises(seq.SequencerError, match="no frames"):
        seq.load_version(empty_scene, tmp_path, "v001")
    assert seq.list_versions(tmp_path / "nowhere") == []


def test_bad_params_json_names_the_file(seq, tmp_path: Path, empty_scene) -> None:
    shot = checks.make_shot(tmp_path)
    (shot / "v002" / "params.json").write_text("{not json")
    with pytest.raises(seq.SequencerError, match=r"v002.params\.json"):
        seq.load_version(empty_scene, shot, "v002")
    assert seq.find_strips(empty_scene, shot) == []  # nothing half-made


def test_params_become_custom_properties(seq, tmp_path: Path, empty_scene) -> None:
    shot = checks.make_shot(tmp_path)
    params = {
        "engines": {"composite": "classical", "relight": "lambert"},
        "frames": {"1": {"engine": "classical", "fallback": True}},
        "ints": [1, 2, 3],
        "floats": [0.5, 1],
        "names": ["a", "b"],
        "big": 2**40,
        "none": None,
    }
    (shot / "v001" / "params.json").write_text(json.dumps(params))
    strip = seq.load_version(empty_scene, shot, "v001")
    group = strip["vanelia_params"].to_dict()
    assert group["engines"] == {"composite": "classical", "relight": "lambert"}
    assert group["frames"]["1"] == {"engine": "classical", "fallback": 1}
    assert list(group["ints"]) == [1, 2, 3] and list(group["floats"]) == [0.5, 1.0]
    assert json.loads(group["names"]) == ["a", "b"] and group["big"] == str(2**40) and group["none"] == "null"
    assert seq.strip_params(strip) == params  # the exact JSON is kept too
    assert strip["vanelia_role"] == "version" and strip["vanelia_version"] == "v001"
    # a second channel gets its own strip; the same channel is swapped in place
    other = seq.load_version(empty_scene, shot, "v002", channel=3)
    assert other != strip and other.channel == 3
    assert seq.load_version(empty_scene, shot, "v002", channel=2) == strip and strip["vanelia_version"] == "v002"
    assert len(seq.find_strips(empty_scene, shot, "version")) == 2
