"""PipelineRunner on real shot folders (PNG plates, EXR passes, shot.json) built without Blender."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from ml.io.exr import write_passes
from ml.io.images import read_rgb8, write_rgb8
from ml.pipeline.runner import PipelineRunner
from ml.pipeline.synthetic import make_shot, synth_plate, synth_render
from ml.stages import base
from shotcache.schema import JobSpec, SchemaError


@pytest.fixture
def shot(tmp_path: Path):
    return make_shot(tmp_path / "shot", frames=4, size=(64, 48))


class _Counting(base.Engine):
    """A composite engine that counts its calls (to prove what was / wasn't recomputed)."""

    stage = "composite"
    name = "test-counting"
    needs = ("plate", "rgba")
    calls: ClassVar[list[int]] = []

    def process(self, frame, params):
        type(self).calls.append(frame.index)
        a = frame.rgba[..., 3:4]
        return frame.plate * (1 - a) + frame.rgba[..., :3] * a


class _Broken(base.Engine):
    stage = "composite"
    name = "test-broken"
    learned = True
    fallback = "classical"

    def setup(self, device="cpu", checkpoint=None):
        raise base.EngineUnavailable("checkpoint /nowhere/composite.safetensors not found; put it there")


class _BadShapes(base.Engine):
    """A checkpoint that loads but does not fit the model: setup raises a plain RuntimeError."""

    stage = "composite"
    name = "test-badshapes"
    learned = True

    def setup(self, device="cpu", checkpoint=None):
        raise RuntimeError("size mismatch for conv1.weight: copying a param with shape [8, 3] into [16, 3]")


class _FlakyGPU(base.Engine):
    """Runs out of memory on frame 2 only: that frame falls back, the others don't."""

    stage = "composite"
    name = "test-flaky"
    learned = True
    fallback = "classical"

    def process(self, frame, params):
        if frame.index == 2:
            raise base.EngineUnavailable("CUDA out of memory")
        return frame.plate


class _CountInpaint(base.Engine):
    stage = "inpaint"
    name = "test-inpaint"
    calls: ClassVar[list[int]] = []

    def process(self, frame, params):
        type(self).calls.append(frame.index)
        return frame.plate * float(params.get("gain", 1.0))


@pytest.fixture(autouse=True)
def _test_engines():
    """Register the test engines for this module only (others list the real registry)."""
    base.engines()
    for cls in (_Counting, _Broken, _CountInpaint, _BadShapes, _FlakyGPU):
        base._REGISTRY[(cls.stage, cls.name)] = cls
    yield
    for cls in (_Counting, _Broken, _CountInpaint, _BadShapes, _FlakyGPU):
        base._REGISTRY.pop((cls.stage, cls.name), None)


def _spec(shot, **kw: Any) -> JobSpec:
    spec = JobSpec(shot=str(shot.root), **kw)
    return spec


def _run(runner, spec, shot, **kw):
    v = runner.prepare(spec, shot.root)
    return runner.run(spec, shot.root, version=v, **kw)


def test_runs_composite_writes_frames_and_params(shot):
    progress = []
    res = _run(PipelineRunner(), _spec(shot), shot, on_frame=lambda f, d, t: progress.append((f, d, t)))
    assert res.frames_done == [1, 2, 3, 4] and not res.skipped
    assert progress[-1] == (4, 4, 4)
    img = read_rgb8(shot.version_frame(res.version, 2))
    assert img.shape == (48, 64, 3)
    assert not np.array_equal(img, read_rgb8(shot.plate_frame(2)))  # the product is in it
    rec = json.loads((shot.version_dir(res.version) / "params.json").read_text())
    expected = PipelineRunner().default_engine(_spec(shot), "composite")  # the learned one when its checkpoint ships
    assert rec["frames"]["3"]["composite"]["engine"] == expected
    assert rec["engines"]["composite"]["name"] == expected and rec["shot_hash"]
    assert rec["state"] == "done"


def test_fallback_recorded_per_frame(shot, monkeypatch):
    spec = _spec(shot)
    spec.engines = {"composite": "test-broken"}  # set after construction: not a schema name
    monkeypatch.setattr(JobSpec, "validate", lambda self: None)
    res = _run(PipelineRunner(), spec, shot)
    assert res.engines == {"composite": "classical"}
    rec = json.loads((shot.version_dir(res.version) / "params.json").read_text())
    frame = rec["frames"]["1"]["composite"]
    assert (frame["engine"], frame["requested"]) == ("classical", "test-broken")
    assert "blur" in frame  # what the engine measured is recorded with it
    assert "composite.safetensors" in rec["engines"]["composite"]["fallback_reason"]


def test_no_fallback_is_a_clear_error(shot, monkeypatch):
    spec = _spec(shot, allow_fallback=False)
    spec.engines = {"composite": "test-broken"}
    monkeypatch.setattr(JobSpec, "validate", lambda self: None)
    with pytest.raises(base.EngineUnavailable, match="composite.safetensors"):
        _run(PipelineRunner(), spec, shot)


def test_resume_skips_finished_frames(shot, monkeypatch):
    monkeypatch.setattr(JobSpec, "validate", lambda self: None)
    spec = _spec(shot)
    spec.engines = {"composite": "test-counting"}
    runner = PipelineRunner()
    v = runner.prepare(spec, shot.root)
    _Counting.calls.clear()
    res = runner.run(spec, shot.root, version=v, should_cancel=lambda: len(_Counting.calls) >= 2)
    assert res.cancelled and res.frames_done == [1, 2]
    first = shot.version_frame(v, 1).stat().st_mtime_ns
    _Counting.calls.clear()
    res = runner.run(spec, shot.root, version=v)
    assert _Counting.calls == [3, 4]  # 1 and 2 were not recomputed
    assert res.frames_done == [1, 2, 3, 4] and res.computed == [3, 4]
    assert shot.version_frame(v, 1).stat().st_mtime_ns == first


def test_same_job_reuses_version_changed_param_new_version_and_cache(shot, monkeypatch):
    monkeypatch.setattr(JobSpec, "validate", lambda self: None)
    runner = PipelineRunner()

    def spec(grain):
        s = _spec(shot, stages=["inpaint", "composite"], params={"inpaint": {"gain": 0.9}, "composite": {"grain": grain}})
        s.engines = {"inpaint": "test-inpaint"}
        return s

    _CountInpaint.calls.clear()
    r1 = _run(runner, spec(1.0), shot)
    assert _CountInpaint.calls == [1, 2, 3, 4]
    # same parameters: same version, nothing recomputed
    _CountInpaint.calls.clear()
    r2 = _run(runner, spec(1.0), shot)
    assert r2.version == r1.version and r2.computed == [] and _CountInpaint.calls == []
    # the compositor's grain changes: new version, the inpaint results come from the cache
    r3 = _run(runner, spec(0.0), shot)
    assert r3.version != r1.version and r3.computed == [1, 2, 3, 4]
    assert _CountInpaint.calls == []
    rec = json.loads((shot.version_dir(r3.version) / "params.json").read_text())
    assert rec["frames"]["2"]["inpaint"]["cached"] is True
    # cached result is bit-identical to a fresh one
    fresh = PipelineRunner()
    s = spec(0.0)
    s.params["cache"] = False
    v = fresh.prepare(s, shot.root)
    fresh.run(s, shot.root, version=v)
    assert np.array_equal(read_rgb8(shot.version_frame(v, 3)), read_rgb8(shot.version_frame(r3.version, 3)))
    # changing the inpaint param recomputes inpaint
    s = spec(0.0)
    s.params["inpaint"]["gain"] = 0.8
    _CountInpaint.calls.clear()
    _run(runner, s, shot)
    assert _CountInpaint.calls == [1, 2, 3, 4]


def test_bad_frames_are_logged_skips(shot):
    # frame 2: NaN in a pass; frame 3: render of another size; frame 4: product off-screen
    bad = synth_render(64, 48, 2)
    bad["normal"][5, 5, 0] = np.nan
    write_passes(shot.render_frame(2), bad)
    write_passes(shot.render_frame(3), synth_render(32, 24, 3))
    write_passes(shot.render_frame(4), synth_render(64, 48, 4, visible=False))
    res = _run(PipelineRunner(), _spec(shot), shot)
    assert res.frames_done == [1, 4]
    assert "NaN" in res.skipped[2] and "normal" in res.skipped[2]
    assert "32x24" in res.skipped[3] and "re-render" in res.skipped[3]
    rec = json.loads((shot.version_dir(res.version) / "params.json").read_text())
    assert set(rec["skipped"]) == {"2", "3"}
    assert "not visible" in rec["frames"]["4"]["notes"][0]
    # off-screen product: plate x shadow (no shadow either here) = the plate, up to rounding
    diff = np.abs(read_rgb8(shot.version_frame(res.version, 4)).astype(int) - read_rgb8(shot.plate_frame(4)).astype(int))
    assert diff.max() <= 1
    # a plate of another size is skipped too, and fixing it later fills the gap only
    write_rgb8(shot.plate_frame(1), synth_plate(32, 24, 1))
    write_passes(shot.render_frame(2), synth_render(64, 48, 2))
    before = shot.version_frame(res.version, 4).read_bytes()
    res2 = PipelineRunner().run(_spec(shot), shot.root, version=res.version)
    assert res2.computed == [2] and set(res2.skipped) == {3}
    assert shot.version_frame(res.version, 4).read_bytes() == before


def test_unknown_frames_and_missing_shot(shot, tmp_path):
    with pytest.raises(SchemaError, match="not in shot"):
        _run(PipelineRunner(), _spec(shot, frames=[1, 99]), shot)
    with pytest.raises(SchemaError, match="shot.json"):
        PipelineRunner().prepare(JobSpec(shot=str(tmp_path / "nope")), tmp_path / "nope")


def test_checkpoint_with_wrong_shapes_falls_back(shot, monkeypatch):
    monkeypatch.setattr(JobSpec, "validate", lambda self: None)
    spec = _spec(shot)
    spec.engines = {"composite": "test-badshapes"}
    res = _run(PipelineRunner(), spec, shot)
    assert res.engines == {"composite": "classical"} and res.frames_done == [1, 2, 3, 4]
    rec = json.loads((shot.version_dir(res.version) / "params.json").read_text())
    assert "size mismatch" in rec["engines"]["composite"]["fallback_reason"]


def test_per_frame_failure_uses_fallback_for_that_frame(shot, monkeypatch):
    monkeypatch.setattr(JobSpec, "validate", lambda self: None)
    spec = _spec(shot)
    spec.engines = {"composite": "test-flaky"}
    res = _run(PipelineRunner(), spec, shot)
    assert res.frames_done == [1, 2, 3, 4]
    rec = json.loads((shot.version_dir(res.version) / "params.json").read_text())
    assert rec["frames"]["1"]["composite"]["engine"] == "test-flaky"
    assert rec["frames"]["2"]["composite"]["engine"] == "classical" and "out of memory" in rec["frames"]["2"]["notes"][0]


def test_holdout_matte_hides_the_product_with_the_classical_compositor(shot):
    """A holdout matte (white = an occluder in front of the product) over the left half of
    frame 2: there the composite is the plate; elsewhere the product is still composited."""
    import cv2

    from ml.io.exr import read_passes

    alpha = read_passes(shot.render_frame(2), ["rgba"])["rgba"][..., 3]
    assert (alpha[:, :32] > 0.5).any() and (alpha[:, 32:] > 0.5).any()  # the product spans both halves
    matte = np.zeros((48, 64), np.uint8)
    matte[:, :32] = 255
    shot.holdout_dir.mkdir()
    cv2.imwrite(str(shot.holdout_frame(2)), matte)
    res = _run(PipelineRunner(), _spec(shot), shot)
    comp = read_rgb8(shot.version_frame(res.version, 2)).astype(int)
    plate = read_rgb8(shot.plate_frame(2)).astype(int)
    hidden = alpha[:, :30] > 0.5
    shown = alpha[:, 34:] > 0.5
    assert np.abs(comp[:, :30] - plate[:, :30])[hidden].mean() < 2.0  # occluded: the plate shows
    assert np.abs(comp[:, 34:] - plate[:, 34:])[shown].mean() > 10.0  # the rest of the product is there
    other = read_rgb8(shot.version_frame(res.version, 3)).astype(int)  # no matte on frame 3
    a3 = read_passes(shot.render_frame(3), ["rgba"])["rgba"][..., 3] > 0.5
    assert np.abs(other - read_rgb8(shot.plate_frame(3)).astype(int))[a3].mean() > 10.0
