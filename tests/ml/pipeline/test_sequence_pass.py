"""Windowed (bidirectional) first-stage engines get the whole sequence, not frame by frame."""
import numpy as np
import pytest

from ml.io.images import write_mask
from ml.pipeline.cache import StageCache
from ml.pipeline.frames import load_frame
from ml.pipeline.runner import PipelineRunner
from ml.pipeline.synthetic import make_shot
from ml.stages.base import create
from shotcache.schema import JobSpec

pytest.importorskip("ml.inpaint.engines")


def _shot_with_masks(root, n=6):
    paths = make_shot(root, frames=n, size=(96, 64))
    for f in range(1, n + 1):
        m = np.zeros((64, 96), np.float32)
        m[20:36, 30 + 2 * f : 46 + 2 * f] = 1  # a hole that moves a little each frame
        write_mask(paths.mask_frame(f), m)
    return paths


def test_sequence_engine_results_come_from_the_whole_sequence(tmp_path):
    paths = _shot_with_masks(tmp_path / "shot")
    spec = JobSpec(shot=str(paths.root), stages=["inpaint", "composite"], engines={"inpaint": "propagate"})
    runner = PipelineRunner()
    version = runner.prepare(spec, paths.root)
    res = runner.run(spec, paths.root, version=version)
    assert sorted(res.frames_done) == [1, 2, 3, 4, 5, 6]
    shot = paths.load_shot()
    # what the engine gives when it sees the whole sequence at once
    eng = create("inpaint", "propagate")
    eng.setup()
    states = [load_frame(paths, shot, f, need_render=False) for f in shot.frames]
    expected = list(eng.process_sequence(iter(states), {}))
    plan = runner._plan(spec, shot)[0]
    cache = StageCache(paths.root)
    for f, exp in zip(shot.frames, expected):
        got = cache.get("inpaint", plan.config_key, f, runner._input_key(paths, shot, f))
        assert got is not None, f"frame {f}: no cached clean plate from the sequence pass"
        np.testing.assert_allclose(got, exp, atol=1e-3)
    # pixels outside the holes are the plate's
    m = states[0].mask > 0.5
    got = cache.get("inpaint", plan.config_key, 1, runner._input_key(paths, shot, 1))
    np.testing.assert_allclose(got[~m], states[0].plate[~m], atol=2e-3)


def test_inpaint_as_the_only_stage_still_writes_every_frame(tmp_path):
    paths = _shot_with_masks(tmp_path / "shot", n=4)
    spec = JobSpec(shot=str(paths.root), stages=["inpaint"], engines={"inpaint": "propagate"})
    runner = PipelineRunner()
    version = runner.prepare(spec, paths.root)
    res = runner.run(spec, paths.root, version=version)
    assert sorted(res.frames_done) == [1, 2, 3, 4]
    assert all(paths.version_frame(version, f).is_file() for f in range(1, 5))


def test_unnamed_stage_uses_the_learned_engine_only_when_its_weights_are_here(tmp_path):
    from ml.relight.unet_engine import UNetRelight

    paths = make_shot(tmp_path / "shot", frames=1)
    runner = PipelineRunner()
    spec = JobSpec(shot=str(paths.root), stages=["relight", "composite"])
    shipped = UNetRelight.default_checkpoint
    assert runner.default_engine(spec, "relight") == ("unet" if shipped and shipped.is_file() else "lambert")
    spec.engines = {"relight": "lambert"}
    assert runner.default_engine(spec, "relight") == "lambert"  # a named engine always wins
    # inpaint has no shipped DSTT checkpoint: the classical propagate runs
    assert runner.default_engine(JobSpec(shot=str(paths.root), stages=["inpaint"]), "inpaint") == "propagate"
    # a configured checkpoint makes the learned engine the default
    spec = JobSpec(shot=str(paths.root), stages=["inpaint"], checkpoints={"inpaint": str(tmp_path / "x.safetensors")})
    assert runner.default_engine(spec, "inpaint") == "propagate+dstt"
