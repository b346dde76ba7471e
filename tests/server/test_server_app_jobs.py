"""Track and whole-run jobs through a real loopback sidecar: the same app functions as the CLI."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from child_processes import children

from server.config import ServerConfig
from server.local import BackgroundServer
from shotcache.client import SidecarClient, SidecarError


def _plate(folder: Path, n: int = 5) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    img = cv2.resize((rng.random((45, 80, 3)) * 255).astype(np.uint8), (320, 180), interpolation=cv2.INTER_NEAREST)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i + 6:04d}.png"), img)
    return folder


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    root = tmp_path_factory.mktemp("roots")
    _plate(root / "static")
    cfg = ServerConfig(host="127.0.0.1", port=0, shot_roots=[root], data_dir=tmp_path_factory.mktemp("data"))
    with BackgroundServer(cfg) as url:
        yield url, root


def test_track_job_writes_the_same_transforms_as_the_cli(sidecar):
    url, root = sidecar
    client = SidecarClient(url, timeout=20)
    job_id = client.track({"input": "static", "output": "static_track/transforms.json", "focal_mm": 50})
    job = client.wait(job_id, poll=0.1)
    assert job["state"] == "done" and job["kind"] == "track"
    out = root / "static_track" / "transforms.json"
    doc = json.loads(out.read_text())
    assert doc["tracker"] == "static" and doc["fl_x"] == pytest.approx(50 / 36 * 320)
    # file_path names the input images, relative to the written file
    assert [fr["file_path"] for fr in doc["frames"]] == [f"../static/{i:04d}.png" for i in range(6, 11)]
    assert job["result"]["qc"]["usable"] is True and job["result"]["output"] == str(out)


def test_app_jobs_refuse_bad_requests_before_queueing(sidecar, tmp_path):
    url, root = sidecar
    r = requests.post(url + "/track", json={"input": str(tmp_path), "output": "x/transforms.json"}, timeout=10)
    assert r.status_code == 403 and "outside the shot roots" in r.json()["detail"]
    r = requests.post(url + "/track", json={"input": "nope", "output": "x/transforms.json"}, timeout=10)
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    r = requests.post(url + "/run", json={"input": "static", "model": "missing.glb", "output": "o.mp4"}, timeout=10)
    assert r.status_code == 422 and "missing.glb" in r.json()["detail"]
    r = requests.post(url + "/run", json={"input": "static", "model": "static/0006.png", "output": "o.mp4",
                                          "stages": ["blur"]}, timeout=10)
    assert r.status_code == 422 and "unknown stage" in r.json()["detail"]
    assert not (root / "o.mp4").exists()


def test_a_failing_track_job_reports_the_users_error(sidecar):
    url, root = sidecar
    blank = root / "blank"
    blank.mkdir(exist_ok=True)
    for i in range(4):
        cv2.imwrite(str(blank / f"{i:04d}.png"), np.full((90, 160, 3), 128, np.uint8))
    client = SidecarClient(url, timeout=20)
    job_id = client.track({"input": "blank", "output": "blank/transforms.json"})
    with pytest.raises(SidecarError, match="trackable features"):
        client.wait(job_id, poll=0.1)
    job = client.status(job_id)
    assert job["state"] == "failed" and job["error_kind"] == "bad_input"
    assert not (blank / "transforms.json").exists()


def test_track_job_scales_from_a_known_size_and_refuses_bad_ones(sidecar):
    url, root = sidecar
    client = SidecarClient(url, timeout=20)
    job_id = client.track({"input": "static", "output": "sized/transforms.json", "focal_mm": 50,
                           "known_size": "80,150,240,150=4.0@7"})
    job = client.wait(job_id, poll=0.1)
    scale = job["result"]["qc"]["scale"]
    assert scale["source"].startswith("--known-size 4 m between two ground points of frame 7") and scale["frame"] == 7
    assert scale["camera_height_m"] == pytest.approx(1.5 * 4.0 / 1.761, rel=0.02)  # 1.761 m apart with the camera 1.5 m up
    bad = [({"known_size": "80,150,240,150=4", "camera_height": 1.6}, 422, "both set the scale"),
           ({"known_size": "80,150,400,150=4"}, 400, "outside the 320x180 plate frame"),
           ({"known_size": "80,150,240,150=4@2"}, 400, "frame 2 is not among the tracked frames 6..10")]
    for extra, status, message in bad:
        r = requests.post(url + "/track", json={"input": "static", "output": "x/transforms.json", **extra}, timeout=10)
        assert r.status_code == status and message in r.json()["detail"], r.text
    (root / "notes.txt").write_text("not a clip")
    r = requests.post(url + "/track", json={"input": "notes.txt", "output": "x/transforms.json"}, timeout=10)
    assert r.status_code == 422 and "not footage: this is a text file" in r.json()["detail"]
    assert not (root / "x").exists()


@pytest.mark.slow
def test_run_job_renders_the_whole_pipeline(sidecar, default_composite):
    """The whole run on the sidecar: demo plate + GLB + track -> MP4 and contact sheet."""
    from app.blender import run_batch
    from ml.io.video import probe

    url, root = sidecar
    data = root / "demo"
    run_batch("demo-data", ["--output", str(data), "--frames", "4", "--resolution", "128x72", "--samples", "2"],
              on_line=lambda s: None)
    client = SidecarClient(url, timeout=20)
    job_id = client.run({"input": "demo/plate.mp4", "model": "demo/product.glb", "camera": "demo/transforms.json",
                         "output": "demo_out/final.mp4", "samples": 2, "keep": "demo_shot"})
    job = client.wait(job_id, poll=0.2, timeout=600)
    assert job["state"] == "done" and job["kind"] == "run"
    info = probe(root / "demo_out" / "final.mp4")
    assert (info["width"], info["height"], info["frames"]) == (128, 72, 4)
    assert (root / "demo_out" / "final_contact.png").is_file()
    assert job["result"]["engines"]["composite"] == default_composite and job["result"]["frames_written"] == 4


def _under_way(client: SidecarClient, job_id: str, step: str, poll: float) -> list[int]:
    """The in-process sidecar's Blender ``step`` processes once the job has started them
    (the job still queued or running while we wait)."""
    deadline, steps = time.monotonic() + 300, []
    while not steps and time.monotonic() < deadline and client.status(job_id)["state"] in ("queued", "running"):
        steps = children(os.getpid(), step)
        time.sleep(poll)
    return steps


def _cancel(client: SidecarClient, job_id: str) -> tuple[dict, float]:
    """Cancel the job and wait for it to end: (its last status, seconds from the cancel)."""
    t0 = time.monotonic()
    client.cancel(job_id)
    while client.status(job_id)["state"] not in ("cancelled", "done", "failed") and time.monotonic() - t0 < 60:
        time.sleep(0.2)
    return client.status(job_id), time.monotonic() - t0


@pytest.mark.slow
def test_cancelling_a_run_job_stops_its_render_at_once(sidecar):
    """A cancel reaches the Blender render under way: the job ends cancelled in seconds, its
    Blender step is gone, and no output is written (it used to render to the end first)."""
    from app.blender import run_batch

    url, root = sidecar
    run_batch("demo-data", ["--output", str(root / "demo_cancel"), "--frames", "4", "--resolution", "160x90", "--samples", "2"],
              on_line=lambda s: None)
    client = SidecarClient(url, timeout=20)
    job_id = client.run({"input": "demo_cancel/plate.mp4", "model": "demo_cancel/product.glb",
                         "camera": "demo_cancel/transforms.json", "output": "cancel_out/final.mp4", "samples": 4096})
    assert _under_way(client, job_id, "render-shot", 0.2), f"the run never started its render: {client.status(job_id)}"
    # the Blender step has started; its 4 small frames take about 2 s once it renders (adaptive
    # sampling stops 4096 samples early, the render region keeps to the product): a cancel 2 s
    # in came after the render under CI's load, and the job's output was written
    time.sleep(0.3)
    job, seconds = _cancel(client, job_id)
    assert job["state"] == "cancelled", job
    assert seconds < 10, seconds
    assert not children(os.getpid(), "render-shot")
    assert not (root / "cancel_out" / "final.mp4").exists()


@pytest.mark.slow
def test_cancelling_a_track_job_stops_blenders_tracker(sidecar):
    """A cancel reaches Blender's tracker under way: the track job ends cancelled, the step is
    gone and no transforms.json is written."""
    from app.blender import run_batch

    url, root = sidecar
    run_batch("demo-data", ["--output", str(root / "demo_track"), "--frames", "16", "--resolution", "320x180", "--samples", "2"],
              on_line=lambda s: None)
    client = SidecarClient(url, timeout=20)
    job_id = client.track({"input": "demo_track/plate.mp4", "output": "track_out/transforms.json", "tracker": "blender"})
    assert _under_way(client, job_id, "track", 0.1), f"Blender's tracker never ran: {client.status(job_id)}"
    job, seconds = _cancel(client, job_id)
    assert job["state"] == "cancelled", job
    assert seconds < 10, seconds
    assert not children(os.getpid(), "track")
    assert not (root / "track_out" / "transforms.json").exists()
