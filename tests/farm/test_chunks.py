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


def test_chunks_carry_the_holdout_mattes_and_the_plates_shadow_map(tmp_path: Path):
    """A chunk's scratch shot holds every input the stages read, not only plate, render and
    mask: each frame's holdout matte and the shot's shadow map (lighting.key_shadow). Without
    them a farm run composites the product unoccluded and unshaded while a run on one machine
    does not (found with `vanelia run --ray local` on the demo, whose key shades the product)."""
    import cv2
    import numpy as np

    from farm.worker import build_scratch, frame_files, pack

    shot = masked_shot(tmp_path / "shot", frames=4)
    paths = ShotPaths(shot)
    doc = paths.load_shot()
    w, h = doc.resolution
    for f in doc.frames:
        paths.holdout_frame(f).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(paths.holdout_frame(f)), np.full((h, w), 255, np.uint8))
    (shot / "light").mkdir()
    cv2.imwrite(str(shot / "light" / "key_shadow.png"), np.full((8, 8), 65535, np.uint16))
    doc.lighting.key_shadow = {"path": "light/key_shadow.png", "centre": [0, 0, 0], "e1": [1, 0, 0], "e2": [0, 1, 0], "normal": [0, 0, 1],
                               "half_m": 2.5}
    paths.save_shot(doc)
    files = {p.relative_to(shot).as_posix() for p in frame_files(paths, (doc.frames[1],))}
    assert "light/key_shadow.png" in files and paths.holdout_frame(doc.frames[1]).relative_to(shot).as_posix() in files
    for packed in (None, pack(shot, (doc.frames[1],))):
        (where := tmp_path / ("scratch_packed" if packed else "scratch_linked")).mkdir()
        scratch = build_scratch(where, shot, (doc.frames[1],), packed)
        assert (scratch.root / "light" / "key_shadow.png").is_file() and scratch.holdout_frame(doc.frames[1]).is_file()
    # a matte over the whole frame hides the product: the chunked frames are the plate's, as the whole run's
    linked = tmp_path / "copy"
    shutil.copytree(shot, linked, ignore=shutil.ignore_patterns("v0*", "cache"))
    assert _chunked(linked, None, packed=False) == _whole(shot)
