"""Runs a farm job's tasks here, in dependency order, as a farm worker would (each task's
commands as subprocesses): the Flamenco stand-in's output and the OpenJD run share it."""
from __future__ import annotations

import subprocess
from typing import Any


def run_in_order(tasks: list[dict[str, Any]], timeout: float = 600) -> list[str]:
    """Execute every ``exec`` command; returns the task names in the order run."""
    done: list[str] = []
    left = list(tasks)
    while left:
        ready = [t for t in left if all(d in done for d in t["dependencies"])]
        assert ready, f"dependency cycle or unknown dependency among {[t['name'] for t in left]}"
        for t in ready:
            for cmd in t["commands"]:
                assert cmd["name"] == "exec", cmd
                p = cmd["parameters"]
                r = subprocess.run([p["exe"], *p["args"]], capture_output=True, text=True, timeout=timeout)
                assert r.returncode == 0, f"task {t['name']} failed ({r.returncode}):\n{r.stdout[-1500:]}\n{r.stderr[-3000:]}"
            done.append(t["name"])
            left.remove(t)
    return done
