"""Chunks with overlap give the frames a single run over the whole shot gives, bit for bit."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from farm.chunks import Overlap, chunk_size, plan_chunks
from farm.worker import ChunkWorker, job_overlap, write_returned_frame
from ml.pipeline.runner import PipelineRunner
from shotcache.layout import ShotPaths
from shotcache.schema import JobSpec

from farm_shots import masked_shot, read_version

SPEC = dict(stages=["inpaint", "composite"], engines={"inpaint": "propagate", "composite": "classical"},
            params={"inpaint": {"window": 2}}, seed=7)


def test_plan_keeps_every_frame_once_and_aligns_to_the_block():
    frames = list(range(101, 125))
    ov = Overlap(before=3, after=3, align=3)
    chunks = plan_chunks(frames, frames, chunk_size(len(frames), 2, ov), ov)
    kept = [f for c in chunks for f in c.keep]
    assert kept == frames
    for c in chunks:
        start = frames.index(c.keep[0])
        assert start % 3 == 0
        assert c.feed[0] == frames[max(0, start - 3)] and c.feed[-1] == frames[min(len(frames) - 1, frames.index(c.keep[-1]) + 3)]
    # frames left after a lost worker: same blocks, the finished ones only as context
    left = [107, 108, 112]
    again = plan_chunks(frames, left, 6, ov)
    assert [f for c in again for f in c.keep] == left
    assert len(again) == 1 and again[0].feed[0] == 104 and again[0].done_elsewhere == (109, 110, 111)
    with pytest.raises(ValueError):
        plan_chunks(frames, [999], 6, ov)


def _whole(shot: Path) -> dict[int, bytes]:
    runner = PipelineRunner()
    spec = JobSpec(shot=str(shot), **SPEC)
    v = runner.prepare(spec, shot)
    runner.run(spec, shot, version=v)
    return read_version(shot, v)


def _chunked(shot: Path, overlap: Overlap | None, packed: bool) -> dict[int, bytes]:
    from farm.worker import pack

    runner = PipelineRunner()
    spec = JobSpec(shot=str(shot), **SPEC)
    shot_doc = ShotPaths(shot).load_shot()
    ov = overlap or job_overlap(runner, spec, shot_doc)
    v = runner.prepare(spec, shot, reuse=False)
    worker = ChunkWorker(node="test")
    frames = shot_doc.frames
    for c in plan_chunks(frames, frames, chunk_size(len(frames), 2, ov, minimum=2), ov):
        items = worker.run_chunk(spec.to_dict(), c.keep, c.feed, shot_dir=str(shot), version=v,
                                 packed=pack(shot, c.feed) if packed else None)
        for item in items:
            assert item["node"] == "test" and "skipped" not in item
            write_returned_frame(shot, v, item)
    return read_version(shot, v)


def test_overlap_gives_the_single_run_result(tmp_path: Path):
    shot12 = masked_shot(tmp_path / "shot")
    whole = _whole(shot12)
    assert len(whole) == 12
    runner = PipelineRunner()
    ov = job_overlap(runner, JobSpec(shot=str(shot12), **SPEC), ShotPaths(shot12).load_shot())
    assert (ov.before, ov.after, ov.align, ov.exact) == (2, 2, 2, True)  # propagate's window, both sides
    other = tmp_path / "copy"
    shutil.copytree(shot12, other, ignore=shutil.ignore_patterns("v0*", "cache"))
    assert _chunked(other, None, packed=False) == whole  # links to the shared folder
    third = tmp_path / "packed"
    shutil.copytree(shot12, third, ignore=shutil.ignore_patterns("v0*", "cache"))
    assert _chunked(third, None, packed=True) == whole  # inputs and outputs as bytes
    # and the overlap is what makes it so: cold chunk edges differ
    cold = tmp_path / "cold"
    shutil.copytree(shot12, cold, ignore=shutil.ignore_patterns("v0*", "cache"))
    assert _chunked(cold, Overlap(align=2), packed=False) != whole
