"""Hands chunks to workers and takes back their frames; plans lost frames again.

One thread per slot (a stage actor, or a render-task lane) pulls the next chunk from a
shared queue, starts it as a Ray streaming generator and passes each frame it yields to
``sink`` (the only writer of the job's record). When the worker or its node dies, the
frames of the chunk that did not come back are planned again (``replan``, same block
alignment) at the head of the queue, and the other slots pick them up: nothing finished is
computed again and nothing is lost. An error *in* the work (bad input, an engine that
refuses) is not a lost worker: it stops the job with its own message.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import ray
from ray.exceptions import RayError, RayTaskError

from farm.chunks import Chunk

log = logging.getLogger("vanelia.farm")

MAX_ATTEMPTS = 4
"""A chunk whose frames were lost on this many workers fails the job (something kills every
worker that takes it: out of memory, a crashing driver)."""


@dataclass
class Slot:
    name: str
    launch: Callable[[Chunk], Any]
    """Start a chunk; returns a Ray ObjectRefGenerator of frame items."""
    restart: Callable[[], "Slot | None"] | None = None
    """A fresh worker to replace this dead one (actors), or None (tasks: Ray places them)."""
    dies_with_work: bool = True
    """Actors die with their process; a render lane is only a lane, it survives a lost task."""


class Dispatch:
    def __init__(self, chunks: list[Chunk], replan: Callable[[list[int], int], list[Chunk]],
                 sink: Callable[[dict[str, Any]], None], should_cancel: Callable[[], bool] | None = None):
        self.queue: deque[Chunk] = deque(chunks)
        self.replan = replan
        self.sink = sink
        self.should_cancel = should_cancel or (lambda: False)
        self.cond = threading.Condition()
        self.inflight = 0
        self.alive = 0
        self.error: BaseException | None = None
        self.cancelled = False
        self.lost: list[dict[str, Any]] = []
        """One entry per chunk lost with its worker: what came back, what was planned again."""

    def run(self, slots: list[Slot]) -> None:
        """Until every frame is in (or the job failed / was cancelled); raises the job's error."""
        self.alive = len(slots)
        threads = [threading.Thread(target=self._slot_loop, args=(s,), name=f"vanelia-farm-{s.name}", daemon=True) for s in slots]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.error is not None:
            raise self.error
        if self.queue and not self.cancelled:
            raise RuntimeError(f"every farm worker was lost; {sum(len(c.keep) for c in self.queue)} frames were not made")

    def _next(self) -> Chunk | None:
        with self.cond:
            while True:
                if self.error is not None:
                    return None
                if self.should_cancel():
                    self.cancelled = True
                    return None
                if self.queue:
                    self.inflight += 1
                    return self.queue.popleft()
                if self.inflight == 0:
                    return None
                self.cond.wait(0.2)

    def _slot_loop(self, slot: Slot | None) -> None:
        while slot is not None:
            chunk = self._next()
            if chunk is None:
                return
            got: set[int] = set()
            try:
                for ref in slot.launch(chunk):
                    item = ray.get(ref)
                    with self.cond:
                        self.sink(item)
                    got.add(int(item["frame"]))
            except RayTaskError as exc:  # the work itself failed: the job fails with its message
                cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                self._fail(cause)
            except RayError as exc:  # the worker or its node is gone: plan its frames again
                slot = self._lost(slot, chunk, got, exc)
            except BaseException as exc:  # noqa: BLE001 - a sink error (disk full ...) ends the job
                self._fail(exc)
            finally:
                with self.cond:
                    self.inflight -= 1
                    self.cond.notify_all()

    def _lost(self, slot: Slot, chunk: Chunk, got: set[int], exc: BaseException) -> Slot | None:
        left = [f for f in chunk.keep if f not in got]
        entry = {"slot": slot.name, "chunk": chunk.index, "returned": sorted(got), "replanned": left, "error": type(exc).__name__}
        log.warning("farm: %s lost chunk %d (%s); %d frames came back, %d planned again",
                    slot.name, chunk.index, type(exc).__name__, len(got), len(left))
        with self.cond:
            self.lost.append(entry)
            if left:
                if chunk.attempt + 1 >= MAX_ATTEMPTS:
                    self.error = RuntimeError(f"frames {left[:10]} were lost on {MAX_ATTEMPTS} workers in a row; giving up")
                else:
                    self.queue.extendleft(reversed(self.replan(left, chunk.attempt + 1)))
            self.cond.notify_all()
            if not slot.dies_with_work:
                return slot
            self.alive -= 1
            last = self.alive == 0
        if last and slot.restart is not None:  # no worker left: ask Ray for a new one anywhere
            fresh = slot.restart()
            if fresh is not None:
                with self.cond:
                    self.alive += 1
            return fresh
        return None

    def _fail(self, exc: BaseException) -> None:
        with self.cond:
            if self.error is None:
                self.error = exc
            self.cond.notify_all()
