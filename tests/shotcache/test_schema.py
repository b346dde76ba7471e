import json

import pytest

from shotcache.layout import ShotPaths, atomic_write_json
from shotcache.schema import FrameCamera, JobSpec, SchemaError, Shot


def _shot():
    eye = [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]
    s = Shot(resolution=[64, 36], fps=25, frames=[1, 2])
    s.camera.frames = {f: FrameCamera(50.0, 50.0, 32.0, 18.0, eye) for f in (1, 2)}
    return s


def test_round_trip(tmp_path):
    paths = ShotPaths(tmp_path)
    paths.save_shot(_shot())
    back = paths.load_shot()
    assert back.camera.frames[2].cx == 32.0 and back.frames == [1, 2]
    assert back.to_dict() == _shot().to_dict()


def test_track_shorter_than_plate_is_refused():
    s = _shot()
    s.frames = [1, 2, 3]
    with pytest.raises(SchemaError, match=r"no pose for frame\(s\) \[3\]"):
        Shot.from_dict(s.to_dict())


def test_other_schema_version_is_refused(tmp_path):
    d = _shot().to_dict()
    d["version"] = 99
    with pytest.raises(SchemaError, match="version 99"):
        Shot.from_dict(d)


def test_nan_pose_and_unknown_pass_are_refused():
    d = _shot().to_dict()
    d["camera"]["frames"]["1"]["c2w"][0][0] = float("nan")
    with pytest.raises(SchemaError, match="NaN"):
        Shot.from_dict(json.loads(json.dumps(d)))
    d = _shot().to_dict()
    d["render"]["passes"] = ["rgba", "emission"]
    with pytest.raises(SchemaError, match="emission"):
        Shot.from_dict(d)


def test_job_spec_validation():
    spec = JobSpec.from_dict({"shot": "/x", "stages": ["composite", "inpaint"], "engines": {"inpaint": "telea"}})
    assert spec.stages == ["inpaint", "composite"]
    assert spec.engine_for("composite") == "classical"
    with pytest.raises(SchemaError, match="unknown stage"):
        JobSpec.from_dict({"shot": "/x", "stages": ["paint"]})
    with pytest.raises(SchemaError, match="unknown relight engine"):
        JobSpec.from_dict({"shot": "/x", "engines": {"relight": "magic"}})


def test_versions_and_atomic_write(tmp_path):
    paths = ShotPaths(tmp_path)
    assert paths.new_version() == "v001" and paths.new_version() == "v002"
    assert paths.versions() == ["v001", "v002"]
    target = tmp_path / "a.json"
    atomic_write_json(target, {"a": 1})

    def boom(tmp):
        raise RuntimeError("disk on fire")

    from shotcache.layout import atomic_write

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_atomic_write_gives_normal_file_permissions(tmp_path):
    import os
    import stat

    from shotcache.layout import atomic_write_bytes

    mask = os.umask(0o022)
    try:
        p = atomic_write_bytes(tmp_path / "frame.bin", b"x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644


def test_a_ground_cover_is_checked_wherever_it_comes_in():
    """The cover's height (0-1 m) is refused, naming where it came from, in shot.json, in a
    sidecar's run request and from the command line (check_cover_m, the one rule)."""
    from shotcache.schema import MAX_COVER_M, RunRequest, SchemaError, Shot, check_cover_m, cover_floor_m

    assert check_cover_m(0.05, "x") == 0.05 and check_cover_m(0, "x") == 0.0
    assert cover_floor_m(0.1) == pytest.approx(0.04)
    RunRequest(input="a", model="b", output="c.mp4", ground_cover=0.3).validate()
    with pytest.raises(SchemaError, match="run.ground_cover"):
        RunRequest(input="a", model="b", output="c.mp4", ground_cover=MAX_COVER_M + 0.5).validate()
    doc = Shot().to_dict()
    assert doc["ground"]["cover_m"] == 0.0
    doc["ground"]["cover_m"] = -0.1
    with pytest.raises(SchemaError, match="ground.cover_m"):
        Shot.from_dict(doc)
    del doc["ground"]["cover_m"]  # a shot.json of before the cover: bare ground
    assert Shot.from_dict(doc).ground.cover_m == 0.0
