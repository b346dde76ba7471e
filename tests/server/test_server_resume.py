"""kill -9 of the sidecar mid-job, restart: the job resumes, no finished frame is redone or lost.

The sidecar runs as a real child process (`python -m server.cli`); a per-frame pause
(VANELIA_SIDECAR_FRAME_DELAY) gives the test time to kill it in the middle of the job.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from server.bench import make_shot
from shotcache.client import SidecarClient, SidecarError
from shotcache.layout import ShotPaths

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 16


def _start(port: int, shots: Path, data: Path, delay: float) -> subprocess.Popen:
    env = dict(os.environ, VANELIA_SIDECAR_FRAME_DELAY=str(delay), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    log = open(data.parent / "sidecar.log", "ab")  # a file, not a pipe: a chatty child never blocks
    return subprocess.Popen([sys.executable, "-m", "server.cli", "--port", str(port), "--shot-root", str(shots),
                             "--data-dir", str(data)], cwd=ROOT, env=env, stdout=log, stderr=log)


def _wait_healthy(client: SidecarClient, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.health()
            return
        except SidecarError:
            if proc.poll() is not None:
                raise AssertionError(f"sidecar exited with {proc.returncode}; see sidecar.log")
            assert time.monotonic() < deadline, "sidecar did not come up"
            time.sleep(0.1)


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.glob("*.png")}


def test_kill9_and_resume(tmp_path, free_port):
    shots, data = tmp_path / "shots", tmp_path / "data"
    make_shot(shots / "s", frames=FRAMES, width=64, height=48)
    port = free_port
    client = SidecarClient(f"http://127.0.0.1:{port}", timeout=10)
    proc = _start(port, shots, data, delay=0.25)
    try:
        _wait_healthy(client, proc)
        job_id = client.submit({"shot": "s", "stages": ["composite"], "seed": 7})
        deadline = time.monotonic() + 60
        while client.status(job_id)["frames_done"] < 4:
            assert time.monotonic() < deadline, client.status(job_id)
            time.sleep(0.05)
        version = client.status(job_id)["version"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    frames_dir = ShotPaths(shots / "s").version_dir(version) / "frames"
    before = _snapshot(frames_dir)
    assert 4 <= len(before) < FRAMES, "the kill should land mid-job"

    proc = _start(port, shots, data, delay=0.0)
    try:
        _wait_healthy(client, proc)
        job = client.wait(job_id, poll=0.05, timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    assert job["state"] == "done" and job["version"] == version and job["attempts"] == 2
    assert job["frames_done"] == FRAMES
    after = _snapshot(frames_dir)
    assert len(after) == FRAMES  # nothing lost
    for name, stamp in before.items():  # nothing finished before the kill was recomputed
        assert after[name] == stamp, name
