"""Frame chunks for a farm: which frames a worker computes, and which it only reads as context.

Why overlap: stateful engines look at frames other than the one they output. The
inpainter's ``propagate`` engine, run over a sequence (``process_sequence``), fills frame k
from ``window`` frames on *both* sides, in blocks of ``window`` frames counted from the start
of what it was fed; run frame by frame (``process``) it reads the last ``window`` frames.
A chunk that starts cold would give different pixels at its edges. So a chunk feeds its
engine ``before`` frames ahead of its own frames and ``after`` frames behind them, and its
start is aligned to the engine's block size (``align``): the engine then sees, for every
frame the chunk keeps, exactly the frames and block boundaries a single run over the whole
shot sees, and the result is the same (tests/farm/test_chunks.py shows it bit for bit).
Context frames are computed and thrown away; only ``keep`` frames are written.

Engines say what they need through their own class attributes (``window``, ``latency``,
``process_sequence``); nothing here knows engine names. Stdlib only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass(frozen=True)
class Overlap:
    before: int = 0
    """Frames fed ahead of a chunk's first kept frame."""
    after: int = 0
    """Frames fed behind its last kept frame."""
    align: int = 1
    """Chunk starts (positions in the shot) are multiples of this (the engine's block size)."""
    exact: bool = True
    """False when the engine's state reaches back further than any finite overlap (a learned
    memory that feeds on its own outputs): the chunked result is then close, not identical."""

    def merge(self, other: "Overlap") -> "Overlap":
        return Overlap(max(self.before, other.before), max(self.after, other.after),
                       math.lcm(self.align, other.align), self.exact and other.exact)


@dataclass(frozen=True)
class Chunk:
    index: int
    keep: tuple[int, ...]
    """Frames whose outputs this chunk delivers."""
    feed: tuple[int, ...]
    """Frames fed to the engines, in order: context before, the chunk's span, context after."""
    attempt: int = 0
    done_elsewhere: tuple[int, ...] = field(default=())
    """Frames inside the span that are already finished (fed as context only)."""


STREAMING_MEMORY_WARMUP = 8
"""Frames fed ahead of a chunk for an engine with a recurrent memory (DSTT): its memory
holds a few frames' tokens, which themselves carry older frames, fading fast."""


def engine_overlap(engine_cls: type, params: dict[str, Any], sequenced: bool) -> Overlap:
    """What one engine needs around a chunk, from its class attributes.

    ``sequenced``: the runner will call ``process_sequence`` (first stage, cache on)."""
    window = int(params.get("window", getattr(engine_cls, "window", 0)) or 0)
    memory = bool(getattr(engine_cls, "learned", False)) and getattr(engine_cls, "stage", "") == "inpaint"
    if sequenced and hasattr(engine_cls, "process_sequence") and window:
        base = Overlap(before=window, after=window, align=window)
    elif window:
        base = Overlap(before=window)  # causal: the last `window` frames
    else:
        base = Overlap()
    if memory:
        base = base.merge(Overlap(before=STREAMING_MEMORY_WARMUP, exact=False))
    return base


def chunk_size(n_frames: int, workers: int, overlap: Overlap, per_worker: int = 3, minimum: int = 4) -> int:
    """Frames kept per chunk: ~``per_worker`` chunks per worker (a lost chunk costs little,
    the load evens out), never below ``minimum`` frames or the engine's block, a multiple of it."""
    size = max(minimum, math.ceil(n_frames / max(1, workers * per_worker)), overlap.before + overlap.after)
    return max(overlap.align, math.ceil(size / overlap.align) * overlap.align)


def plan_chunks(shot_frames: list[int], todo: Iterable[int], size: int, overlap: Overlap, first_index: int = 0,
                attempt: int = 0) -> list[Chunk]:
    """Chunks that together keep every frame of ``todo`` exactly once.

    Positions are counted in ``shot_frames`` (the whole shot, in order), so a chunk planned
    for the frames left over after a worker died lines up with the same blocks as the first
    plan. Frames in a chunk's span that are not in ``todo`` are fed as context only."""
    if size % overlap.align:
        raise ValueError(f"chunk size {size} is not a multiple of the engine block {overlap.align}")
    pos = {f: i for i, f in enumerate(shot_frames)}
    unknown = [f for f in todo if f not in pos]
    if unknown:
        raise ValueError(f"frames {unknown[:10]} are not in the shot")
    left = sorted(pos[f] for f in set(todo))
    n = len(shot_frames)
    chunks: list[Chunk] = []
    while left:
        start = left[0] // overlap.align * overlap.align
        end = min(n, start + size)
        keep = [p for p in left if p < end]
        left = left[len(keep):]
        lo, hi = max(0, start - overlap.before), min(n, end + overlap.after)
        span_done = [shot_frames[p] for p in range(start, end) if p not in set(keep)]
        chunks.append(Chunk(first_index + len(chunks), tuple(shot_frames[p] for p in keep),
                            tuple(shot_frames[lo:hi]), attempt, tuple(span_done)))
    return chunks
