"""Job lifecycle, events, cancel, ordering and bad requests against a live sidecar."""
from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
import requests

from shotcache.client import SidecarClient, SidecarError
from shotcache.layout import ShotPaths
from shotcache.schema import PROTOCOL_VERSION


def test_health_and_capabilities(client, default_composite):
    info = client.health()
    assert info["status"] == "ok" and info["protocol"] == PROTOCOL_VERSION
    caps = client.capabilities()
    assert caps["stages"] == ["inpaint", "relight", "composite", "diffuse"]
    names = {e["name"] for e in caps["engines"]["composite"]}
    assert "classical" in names
    assert caps["device"] == "cpu" and list(caps["devices"]) == ["cpu"]
    assert caps["gpu_memory"] == {} or all("free" in v for v in caps["gpu_memory"].values())
    client.wait(client.submit({"shot": "b", "stages": ["composite"], "frames": [1], "seed": 100}), poll=0.05)
    loaded = client.capabilities()["engines_loaded"]["cpu"]
    assert {"stage": "composite", "name": default_composite}.items() <= next(e for e in loaded if e["name"] == default_composite).items()


def test_openapi_served(client):
    doc = requests.get(client.url + "/openapi.json", timeout=10).json()
    assert {"/health", "/capabilities", "/jobs", "/jobs/{job_id}", "/jobs/{job_id}/events", "/jobs/{job_id}/cancel",
            "/uploads", "/jobs/{job_id}/results", "/jobs/{job_id}/results/{frame}"} <= set(doc["paths"])
    body = doc["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "shot" in str(doc["components"]["schemas"]) and body


def test_job_lifecycle(client, shot_root, tmp_path):
    seen = []
    job_id = client.submit({"shot": "a", "stages": ["relight", "composite"], "seed": 101})
    job = client.wait(job_id, progress=lambda j: seen.append((j["state"], j["frames_done"])), poll=0.05)
    assert job["state"] == "done", job
    assert job["frames_total"] == 8 and job["frames_done"] == 8
    full = client.status(job_id)
    assert set(full["progress"].values()) == {"done"} and len(full["progress"]) == 8
    # unnamed stages run the learned engine when its weights ship (relight unet), else classical
    from ml.pipeline.runner import PipelineRunner
    from shotcache.schema import JobSpec

    spec = JobSpec(shot="a", stages=["relight", "composite"])
    expected = {s: PipelineRunner().default_engine(spec, s) for s in ("relight", "composite")}
    assert full["frame_engines"]["1"] == expected
    assert full["engines"] == expected
    version = job["version"]
    assert version and version.startswith("v")
    paths = ShotPaths(shot_root / "a")
    for f in range(1, 9):
        assert paths.version_frame(version, f).is_file()
    assert seen[-1] == ("done", 8) and len(seen) >= 2
    # results over HTTP match the files on disk
    listing = client.results(job_id)
    assert [f["frame"] for f in listing["frames"]] == list(range(1, 9))
    got = client.download_results(job_id, tmp_path / "dl")
    assert len(got) == 8
    assert got[0].read_bytes() == paths.version_frame(version, 1).read_bytes()
    img = cv2.imread(str(got[0]))
    assert img.shape == (48, 64, 3) and img.std() > 1.0
    assert (tmp_path / "dl" / "params.json").is_file()
    assert any(j["id"] == job_id for j in client.jobs())


def test_event_stream(client):
    client.__class__  # noqa: B018 - the fixture resets the frame delay
    job_id = client.submit({"shot": "b", "stages": ["composite"], "seed": 102})
    events = list(client.events(job_id))
    assert events[-1]["event"] == "end" and events[-1]["job"]["state"] == "done"
    assert all(e["event"] in ("progress", "end") for e in events)
    dones = [e["job"]["frames_done"] for e in events]
    assert dones == sorted(dones) and dones[-1] == 4


def test_cancel_running_and_queued(client, server):
    server.queue.frame_delay_s = 0.2
    running = client.submit({"shot": "a", "stages": ["composite"], "seed": 103})
    queued = client.submit({"shot": "b", "stages": ["composite"], "seed": 104})
    deadline = time.monotonic() + 20
    while client.status(running)["frames_done"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.cancel(queued)["state"] == "cancelled"
    client.cancel(running)
    job = client.wait(running, poll=0.05)
    assert job["state"] == "cancelled"
    assert 1 <= job["frames_done"] < 8
    assert client.status(queued)["started"] is None  # never ran
    with pytest.raises(SidecarError) as exc:
        client.cancel(running)
    assert exc.value.status == 409 and "already ended" in str(exc.value)


def test_wait_should_cancel(client, server):
    server.queue.frame_delay_s = 0.1
    job_id = client.submit({"shot": "a", "stages": ["composite"], "seed": 105})
    job = client.wait(job_id, should_cancel=lambda: client.status(job_id)["frames_done"] >= 2, poll=0.05)
    assert job["state"] == "cancelled"


def test_two_clients_served_in_order(server):
    """Two clients submit at the same moment: both finish, one after the other, in seq order."""
    barrier = threading.Barrier(2)
    ids: dict[int, str] = {}

    def submit(i: int) -> None:
        c = SidecarClient(server.url)
        barrier.wait()
        ids[i] = c.submit({"shot": "b", "stages": ["composite"], "seed": 200 + i})

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c = SidecarClient(server.url)
    jobs = sorted((c.wait(ids[i], poll=0.05) for i in range(2)), key=lambda j: j["seq"])
    assert [j["state"] for j in jobs] == ["done", "done"]
    first, second = jobs
    assert first["started"] <= first["finished"] <= second["started"] <= second["finished"]
    assert first["version"] != second["version"]


@pytest.mark.parametrize("body, status, words", [
    ({"shot": "a", "stages": ["sharpen"]}, 422, "unknown stage"),
    ({"shot": "a", "engines": {"composite": "magic"}}, 422, "unknown composite engine"),
    ({"stages": ["composite"]}, 422, "shot"),
    ({"shot": "a", "frames": [1, 999]}, 422, "999"),
    ({"shot": "a", "frames": "all"}, 422, "frames"),
    ({"shot": "a", "seed": "x"}, 422, "seed"),
    ({"shot": "nope"}, 404, "no such folder"),
    ({"shot": "upload:0123"}, 422, "upload id"),
    ({"shot": "upload:" + "0" * 32}, 404, "no such upload"),
])
def test_bad_job_requests(client, body, status, words):
    r = requests.post(client.url + "/jobs", json=body, timeout=10)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


@pytest.mark.parametrize("data", ["{bad json", "[1, 2]", "null", ""])
def test_malformed_json(client, data):
    r = requests.post(client.url + "/jobs", data=data, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("invalid request")


def test_unknown_job_and_frame(client):
    for method, path in [("GET", "/jobs/nope"), ("POST", "/jobs/nope/cancel"), ("GET", "/jobs/nope/events"),
                         ("GET", "/jobs/nope/results"), ("GET", "/jobs/nope/results/1")]:
        # a program marks its POSTs (X-Vanelia-Client); a bare POST is what a cross-site form sends
        r = requests.request(method, client.url + path, headers={"X-Vanelia-Client": "test"}, timeout=10)
        assert r.status_code == 404 and "no job" in r.json()["detail"]
    job_id = client.submit({"shot": "b", "stages": ["composite"], "frames": [1], "seed": 106})
    client.wait(job_id, poll=0.05)
    assert requests.get(f"{client.url}/jobs/{job_id}/results/3", timeout=10).status_code == 404
    assert requests.get(f"{client.url}/jobs/{job_id}/results/-5", timeout=10).status_code == 404
    r = requests.get(f"{client.url}/jobs/{job_id}/results/1", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
    assert requests.get(client.url + "/jobs?state=bogus", timeout=10).status_code == 422


def test_unreachable_message():
    c = SidecarClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(SidecarError) as exc:
        c.health()
    assert exc.value.kind == "unreachable"
    assert "http://127.0.0.1:9" in str(exc.value) and "vanelia serve" in str(exc.value)


def test_other_protocol_version_refused():
    """A server that answers /health with another protocol (a real HTTP server on loopback)."""
    import http.server
    import json as _json

    class Old(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            body = _json.dumps({"status": "ok", "protocol": PROTOCOL_VERSION + 1, "version": "9.9"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Old)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        with pytest.raises(SidecarError) as exc:
            SidecarClient(f"http://127.0.0.1:{httpd.server_address[1]}").health()
    finally:
        httpd.shutdown()
    assert exc.value.kind == "protocol"
    assert f"protocol {PROTOCOL_VERSION + 1}" in str(exc.value) and f"speaks protocol {PROTOCOL_VERSION}" in str(exc.value)


def test_out_of_gpu_memory_message():
    torch = pytest.importorskip("torch")
    from server.jobs import _error_kind
    from shotcache.client import job_error

    exc = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    kind = _error_kind(exc)
    assert kind == "out_of_memory"
    err = job_error({"id": "j1", "state": "failed", "error": f"OutOfMemoryError: {exc}", "error_kind": kind})
    assert err.kind == "out_of_memory" and "ran out of GPU memory" in str(err) and "classical engines" in str(err)


def test_failed_job_reports_bad_input(client, server, shot_root):
    """shot.json broken while the job waits in the queue: the job fails with the reason
    (kind bad_input), the client raises it, and the server keeps serving."""
    import shutil

    shutil.copytree(shot_root / "b", shot_root / "broken", dirs_exist_ok=True)
    server.queue.frame_delay_s = 0.2
    blocker = client.submit({"shot": "b", "stages": ["composite"], "seed": 107})
    victim = client.submit({"shot": "broken", "stages": ["composite"], "seed": 108})
    assert client.status(victim)["state"] == "queued"
    (shot_root / "broken" / "shot.json").write_text("{not json")
    client.cancel(blocker)
    with pytest.raises(SidecarError) as exc:
        client.wait(victim, poll=0.05)
    assert exc.value.kind == "bad_request" and "not valid JSON" in str(exc.value)
    job = client.status(victim)
    assert job["state"] == "failed" and job["error_kind"] == "bad_input"
    r = requests.post(client.url + "/jobs", json={"shot": "broken"}, timeout=10)
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    assert client.health()["status"] == "ok"
