"""The Ray driver side of the cluster tests, run as its own process.

A Ray driver is a process with Ray's C++ core worker and its threads in it. Inside a pytest
worker that also holds Blender, torch and an in-process sidecar, a fault in any of them takes
the whole pytest worker down (and pytest-xdist's file scheduler then waits forever for the
file that was running). So each scenario connects, runs and prints one JSON line here;
the test reads it and checks the files on disk.

    python tests/farm/ray_driver.py SCENARIO '{"address": ..., ...}'
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SPEC = dict(stages=["inpaint", "composite"], engines={"inpaint": "propagate", "composite": "classical"},
            params={"inpaint": {"window": 2}}, seed=3)


def nodes(a: dict[str, Any]) -> dict[str, Any]:
    """Wait for the head to answer and ``want`` nodes to be alive; which id is the head."""
    import ray

    from farm.ray.cluster import ClusterError, connect

    t0 = time.monotonic()
    while True:
        try:
            connect(a["address"])
            break
        except ClusterError:
            if time.monotonic() - t0 > 90:
                raise
            time.sleep(1)
    while True:
        alive = {n["NodeID"][:8]: n for n in ray.nodes() if n.get("Alive")}
        if len(alive) >= a.get("want", 1):
            break
        if time.monotonic() - t0 > a.get("wait_s", 150):
            raise TimeoutError(f"the Ray cluster at {a['address']} has {len(alive)} nodes, not {a['want']}")
        time.sleep(0.5)
    head = next(k for k, n in alive.items() if "node:__internal_head__" in n.get("Resources", {}))
    return {"head_id": head, "worker_ids": sorted(k for k in alive if k != head)}


def render(a: dict[str, Any]) -> dict[str, Any]:
    from farm.ray.runner import render_shot

    made = render_shot(a["address"], Path(a["shot"]), chunk_frames=a.get("chunk_frames"), shared=a.get("shared"))
    return {"rendered": made["rendered"], "lost": made["lost"], "shared_storage": made["shared_storage"],
            "nodes": {str(k): v for k, v in made["nodes"].items()}}


def render_cancelled(a: dict[str, Any]) -> dict[str, Any]:
    """Stop after the first frame comes back: what Cancelled says and which frames came back."""
    from farm.ray.runner import render_shot
    from shotcache.errors import Cancelled

    back: list[int] = []
    try:
        render_shot(a["address"], Path(a["shot"]), chunk_frames=1, on_frame=lambda f, node: back.append(f),
                    should_stop=lambda: len(back) >= 1)
    except Cancelled as exc:
        return {"cancelled": str(exc), "back": back}
    return {"cancelled": None, "back": back}


def stages(a: dict[str, Any]) -> dict[str, Any]:
    """The stage pipeline on the cluster; with ``kill_pgid`` the worker node's whole process
    group is killed the first time a frame comes back from ``kill_node`` (mid-chunk)."""
    from farm.ray.runner import RayPipelineRunner
    from shotcache.schema import JobSpec

    made: dict[int, list[str]] = {}
    killed: list[int] = []

    def on_made(frame: int, node: str) -> None:
        made.setdefault(frame, []).append(node)
        if a.get("kill_pgid") and node.split("/")[1] == a.get("kill_node") and not killed:
            os.killpg(int(a["kill_pgid"]), signal.SIGKILL)
            killed.append(frame)

    kw: dict[str, Any] = {"chunk_frames": a["chunk_frames"]}
    if "shared" in a:
        kw["shared"] = a["shared"]
    runner = RayPipelineRunner(address=a["address"], on_made=on_made, **kw)
    spec = JobSpec(shot=a["shot"], **SPEC)
    version = runner.prepare(spec, Path(a["shot"]))
    res = runner.run(spec, Path(a["shot"]), version=version)
    return {"version": version, "frames_done": res.frames_done, "skipped": res.skipped, "killed": killed,
            "made": {str(k): v for k, v in made.items()}, "lost": runner.last.get("lost", [])}


SCENARIOS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "nodes": nodes, "render": render, "render_cancelled": render_cancelled, "stages": stages}


def main() -> int:
    import faulthandler

    faulthandler.enable()
    name, args = sys.argv[1], json.loads(sys.argv[2])
    out = SCENARIOS[name](args)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
