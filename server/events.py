"""Server-sent events: a job's progress pushed to the client as it happens.

The worker bumps a per-job counter on every change (cheap, no locks on the frame path); each
listener polls that counter every ``interval`` seconds and reads the job from SQLite only
when it moved. So a slow or vanished listener costs the worker nothing. The stream ends with
an ``end`` event once the job reaches a terminal state.

Wire format (text/event-stream)::

    event: progress
    data: {"id": ..., "state": "running", "frames_done": 3, ...}

    event: end
    data: {... final job ...}
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import AsyncIterator

from .jobs import TERMINAL, JobNotFound, JobQueue

HEARTBEAT_S = 15.0


def format_event(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode("utf-8")


async def job_events(queue: JobQueue, job_id: str, interval: float = 0.05, heartbeat: float = HEARTBEAT_S) -> AsyncIterator[bytes]:
    last_tick = -1
    last_sent = time.monotonic()
    while True:
        tick = queue.tick(job_id)
        if tick != last_tick:
            last_tick = tick
            try:
                view = queue.get(job_id, with_frames=False)
            except JobNotFound:
                yield format_event("error", {"error": f"job {job_id} no longer exists"})
                return
            if view["state"] in TERMINAL:
                yield format_event("end", view)
                return
            yield format_event("progress", view)
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent > heartbeat:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(interval)
