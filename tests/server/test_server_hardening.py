"""Issue 11, the sidecar as an attacker sees it: a job reaches nothing outside the server's
roots and backends, crafted input gets a 4xx (never a 500), sizes are bounded before work,
browsers cannot write, and the OpenAPI document says what the server really answers.

Every test talks to a real sidecar on loopback (uvicorn on a thread) over real HTTP.
"""
from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import struct
import tarfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from server.bench import make_shot
from server.config import ServerConfig
from server.jobs import JobStore
from server.local import BackgroundServer
from shotcache.client import SidecarClient

JSON = {"Content-Type": "application/json"}
OCTET = {"Content-Type": "application/octet-stream"}


class Listener:
    """A loopback HTTP server that records every request made to it (404 to all)."""

    def __init__(self) -> None:
        seen = self.seen = []

        class H(BaseHTTPRequestHandler):
            def _any(self) -> None:
                seen.append((self.command, self.path))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _any

            def log_message(self, *a) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def listener():
    lst = Listener()
    yield lst
    lst.close()


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("hard")
    shots, ckpts, outside = base / "shots", base / "ckpts", base / "outside"
    for p in (shots, ckpts, outside):
        p.mkdir()
    for name in ("a", "c"):
        make_shot(shots / name, frames=3, width=32, height=24)
    (ckpts / "relight.safetensors").write_bytes(b"not really weights")
    (outside / "planted.txt").write_text("must survive")
    return {"shots": shots, "ckpts": ckpts, "outside": outside, "base": base}


@pytest.fixture(scope="module")
def hard(roots, listener, tmp_path_factory):
    """No token (loopback mode), a ComfyUI backend configured, a checkpoint root."""
    cfg = ServerConfig(host="127.0.0.1", port=0, shot_roots=[roots["shots"]], data_dir=tmp_path_factory.mktemp("hard-data"),
                       upload_limit=400_000, checkpoint_roots=[roots["ckpts"]], remotes={"comfyui": listener.url})
    srv = BackgroundServer(cfg)
    srv.start()
    yield srv
    srv.stop()


def post_job(srv, body, headers=JSON, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body)
    return requests.post(srv.url + "/jobs", data=data, headers=headers, timeout=20)


def tar_of(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p.name not in (extra or {}):
                tf.add(p, arcname=str(p.relative_to(folder)))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ---- SSRF -----------------------------------------------------------------------------------
def test_jobs_cannot_name_urls(hard, listener):
    before = len(listener.seen)
    for body in (
        {"shot": "a", "stages": ["composite", "diffuse"], "engines": {"diffuse": "comfyui"}, "params": {"url": listener.url + "/exfil"}},
        {"shot": "a", "stages": ["composite", "diffuse"], "engines": {"diffuse": "comfyui"},
         "params": {"diffuse": {"url": listener.url + "/exfil"}}},
        {"shot": "a", "stages": ["composite", "diffuse"], "engines": {"diffuse": "a1111"},
         "checkpoints": {"diffuse": listener.url + "/x"}},
        {"shot": "a", "stages": ["composite", "diffuse"], "engines": {"diffuse": "a1111"}},  # no a1111 configured
        {"shot": "a", "stages": ["composite", "diffuse"], "engines": {"diffuse": "comfyui"}, "checkpoints": {"diffuse.comfyui": "x"}},
        {"shot": "a", "stages": ["composite"], "params": {"composite": {"note": "ftp://10.0.0.1/x"}}},
    ):
        r = post_job(hard, body)
        assert r.status_code == 403, (body, r.status_code, r.text)
        assert "URL" in r.json()["detail"] or "--remote" in r.json()["detail"]
    time.sleep(0.3)
    assert len(listener.seen) == before, "a refused job made the sidecar connect somewhere"


def test_configured_backend_is_the_one_used(hard, listener):
    client = SidecarClient(hard.url, timeout=20)
    job = client.wait(client.submit({"shot": "a", "stages": ["composite", "diffuse"], "engines": {"diffuse": "comfyui"},
                                     "frames": [1], "seed": 1}), poll=0.05)
    assert job["state"] in ("done", "failed")
    assert any(path.startswith("/system_stats") for _m, path in listener.seen), listener.seen


# ---- paths ------------------------------------------------------------------------------------
def test_paths_outside_roots_refused_alike(hard, roots):
    real, missing = "/etc/hostname", "/etc/no-such-file-vanelia"
    answers = []
    for path in (real, missing):
        r = post_job(hard, {"shot": "a", "checkpoints": {"relight": path}})
        answers.append((r.status_code, r.json()["detail"].replace(path, "P")))
    assert answers[0] == answers[1] and answers[0][0] == 403, answers  # no existence oracle
    for params in ({"diffuse": {"workflow": "/etc/hostname"}}, {"diffuse": {"model_dir": str(roots["outside"])}},
                   {"loras": ["/etc/hostname"]}, {"mask_dir": "../outside"}):
        r = post_job(hard, {"shot": "a", "params": params})
        assert r.status_code == 403, (params, r.text)
    r = post_job(hard, {"shot": "a", "checkpoints": {"relight": str(roots["ckpts"] / "relight.safetensors")}, "frames": [1]})
    assert r.status_code == 201, r.text  # inside a configured checkpoint root: fine


# ---- links inside a shot ---------------------------------------------------------------------------
@pytest.mark.parametrize("link", ["cache", "v001", "plate", "render", "render/000001.exr"])
def test_shot_links_leaving_the_roots_refused(hard, roots, link):
    shot = roots["shots"] / f"link-{link.replace('/', '-')}"
    make_shot(shot, frames=2, width=32, height=24)
    target = roots["outside"] / f"t-{link.replace('/', '-')}"
    src = shot / link
    if src.exists():
        os.replace(src, target)  # the real data now lives outside; the shot only links to it
    else:
        target.mkdir()
    src.symlink_to(target)
    if link == "v001":
        (target / "params.json").write_text("{}")
    r = post_job(hard, {"shot": shot.name, "stages": ["composite"]})
    assert r.status_code == 403 and "link" in r.json()["detail"], r.text
    assert (roots["outside"] / "planted.txt").read_text() == "must survive"


def test_link_planted_after_submit_fails_the_job(hard, roots):
    client = SidecarClient(hard.url, timeout=20)
    hard.queue.frame_delay_s = 0.25
    try:
        blocker = client.submit({"shot": "a", "stages": ["composite"], "seed": 2})
        victim = client.submit({"shot": "c", "stages": ["composite"], "seed": 3})
        elsewhere = roots["outside"] / "late-cache"
        elsewhere.mkdir()
        (elsewhere / "planted.exr").write_text("keep me")
        (roots["shots"] / "c" / "cache").symlink_to(elsewhere)
        for j in (victim, blocker):
            while client.status(j)["state"] not in ("done", "failed", "cancelled"):
                time.sleep(0.05)
        job = client.status(victim)
    finally:
        hard.queue.frame_delay_s = 0.0
        (roots["shots"] / "c" / "cache").unlink(missing_ok=True)
    assert job["state"] == "failed" and "link" in job["error"], job
    assert [p.name for p in elsewhere.iterdir()] == ["planted.exr"]


# ---- crafted input: 4xx, never 500 -------------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    b'{"shot": "a", "seed": NaN}',
    b'{"shot": "a", "frames": [1, Infinity]}',
    b'{"shot": "\\ud800"}',
    ('{"shot": "%s"}' % ("x" * 5000)).encode(),
    b'{"shot": "a", "params": {"g": NaN}}',
    b"[" * 5000,
])
def test_crafted_bodies_are_4xx(hard, raw):
    r = post_job(hard, None, raw=raw)
    assert 400 <= r.status_code < 500, (raw[:60], r.status_code, r.text[:300])
    assert isinstance(r.json()["detail"], str)


BAD_SHOTS = {
    "fps-x": lambda d: d.update(fps="x"),
    "frames-5": lambda d: d.update(frames=5),
    "frames-a": lambda d: d.update(frames=[1, "a"]),
    "camera-empty": lambda d: d["camera"].update(frames={"1": {}}),
}


@pytest.mark.parametrize("name", [*BAD_SHOTS, "not-utf8"])
def test_bad_shot_json_is_4xx_locally_and_uploaded(hard, roots, name):
    shot = roots["shots"] / f"bad-{name}"
    make_shot(shot, frames=1, width=16, height=12)
    if name == "not-utf8":
        (shot / "shot.json").write_bytes(b'{"name": "\xff\xfe"}')
    else:
        doc = json.loads((shot / "shot.json").read_text())
        BAD_SHOTS[name](doc)
        (shot / "shot.json").write_text(json.dumps(doc))
    r = post_job(hard, {"shot": shot.name})
    assert r.status_code == 422 and "shot.json" in r.json()["detail"], (r.status_code, r.text[:300])
    r = requests.post(hard.url + "/uploads", data=tar_of(shot), headers=OCTET, timeout=30)
    assert r.status_code == 400 and "shot" in r.json()["detail"], (r.status_code, r.text[:300])


# ---- limits -------------------------------------------------------------------------------------------
def test_body_limit_answers_before_auth_and_before_the_body(roots, tmp_path):
    cfg = ServerConfig(host="127.0.0.1", port=0, token="long-enough-token", shot_roots=[roots["shots"]], data_dir=tmp_path)
    with BackgroundServer(cfg) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 50000000\r\n\r\n")  # no token, and not one byte of the body
            head = s.recv(4096).decode("latin-1")
        assert head.startswith("HTTP/1.1 413"), head

        def chunks():  # no Content-Length: stopped once past the limit
            for _ in range(40):
                yield b" " * 65536
        r = requests.post(url + "/jobs", data=chunks(), headers={**JSON, "Authorization": "Bearer long-enough-token"}, timeout=20)
        assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_list_and_string_limits(hard):
    r = post_job(hard, {"shot": "a", "frames": list(range(1, 100_002))})
    assert r.status_code == 422 and "limit" in r.json()["detail"], r.text[:300]
    r = post_job(hard, {"shot": "a", "params": {"prompt": "x" * 20_000}})
    assert r.status_code == 422 and "limit" in r.json()["detail"], r.text[:300]
    r = post_job(hard, {"shot": "a", "params": {f"k{i}": "y" * 1000 for i in range(80)}})
    assert r.status_code == 422 and "limit" in r.json()["detail"], r.text[:300]


def huge_png(width: int, height: int) -> bytes:
    """A valid grey PNG of width x height, compressed row by row (a few KB for any size)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * width
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_upload_with_a_huge_image_refused(hard, roots):
    shot = roots["base"] / "bomb"
    make_shot(shot, frames=1, width=16, height=12)
    archive = tar_of(shot, {"plate/000001.png": huge_png(12000, 12000)})
    assert len(archive) < 400_000
    r = requests.post(hard.url + "/uploads", data=archive, headers=OCTET, timeout=60)
    assert r.status_code == 400 and "pixels" in r.json()["detail"], (r.status_code, r.text[:300])


def test_resume_gives_up_after_max_attempts(roots, tmp_path):
    db = tmp_path / "jobs.sqlite"
    store = JobStore(db)
    job_id = store.insert({"shot": "a", "stages": ["composite"]}, roots["shots"] / "a", [1])
    store.close()
    with sqlite3.connect(db) as con:  # as if the sidecar died while running it, three times
        con.execute("UPDATE jobs SET state='running', attempts=3 WHERE id=?", (job_id,))
    cfg = ServerConfig(host="127.0.0.1", port=0, shot_roots=[roots["shots"]], data_dir=tmp_path, db_path=db)
    with BackgroundServer(cfg) as url:
        time.sleep(0.5)
        job = SidecarClient(url).status(job_id)
    assert job["state"] == "failed" and "3 times" in job["error"], job


def test_stale_uploads_and_partial_files_removed(roots, tmp_path):
    up = tmp_path / "uploads"
    up.mkdir()
    (up / ".incoming-abc123").write_bytes(b"half an archive")
    (up / ".0123456789abcdef0123456789abcdef-x1").mkdir()
    old, fresh = up / ("a" * 32), up / ("b" * 32)
    for d in (old, fresh):
        make_shot(d, frames=1, width=16, height=12)
    two_days = time.time() - 2 * 86400
    os.utime(old, (two_days, two_days))
    cfg = ServerConfig(host="127.0.0.1", port=0, shot_roots=[roots["shots"]], data_dir=tmp_path)
    with BackgroundServer(cfg):
        left = sorted(p.name for p in up.iterdir())
    assert left == [fresh.name], left


# ---- browsers ------------------------------------------------------------------------------------------
def test_cross_site_writes_refused_without_token(hard, roots):
    evil = {"Origin": "http://evil.example"}
    r = requests.post(hard.url + "/uploads", data=tar_of(roots["shots"] / "a"), headers=evil, timeout=30)
    assert r.status_code == 415, (r.status_code, r.text[:200])  # no Content-Type: what a no-CORS fetch sends
    client = SidecarClient(hard.url, timeout=20)
    hard.queue.frame_delay_s = 0.2
    try:
        running = client.submit({"shot": "a", "stages": ["composite"], "seed": 11})
        queued = client.submit({"shot": "a", "stages": ["composite"], "seed": 12})
        r = requests.post(f"{hard.url}/jobs/{queued}/cancel", data={"x": "1"}, headers=evil, timeout=10)  # an HTML form
        assert r.status_code == 415, (r.status_code, r.text[:200])
        assert client.status(queued)["state"] != "cancelled"
        r = requests.post(hard.url + "/jobs", data=json.dumps({"shot": "a"}), headers={"Content-Type": "text/plain", **evil}, timeout=10)
        assert r.status_code == 415
    finally:
        hard.queue.frame_delay_s = 0.0
    for j in (running, queued):
        assert client.wait(j, poll=0.05)["state"] == "done"


# ---- schema honesty ------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [{"shot": "a", "seed": "7"}, {"shot": "a", "allow_fallback": "yes"},
                                  {"shot": "a", "frames": [True]}, {"shot": "a", "seed": 7.0}])
def test_strict_types(hard, body):
    r = post_job(hard, body)
    assert r.status_code == 422, (body, r.text[:200])


def test_openapi_documents_every_refusal(hard):
    doc = requests.get(hard.url + "/openapi.json", timeout=10).json()
    schemas = doc["components"]["schemas"]
    assert "JobSpec" in schemas and "shot" in schemas["JobSpec"]["properties"]
    ops = {(path, m): op for path, item in doc["paths"].items() for m, op in item.items()}
    need = {("/jobs", "post"): {"401", "403", "404", "413", "415", "422"},
            ("/jobs/{job_id}/cancel", "post"): {"401", "404", "409", "413", "415", "422"},
            ("/uploads", "post"): {"400", "401", "413", "415"},
            ("/jobs/{job_id}", "get"): {"401", "404", "422"}}
    for key, codes in need.items():
        assert codes <= set(ops[key]["responses"]), (key, set(ops[key]["responses"]))

    def detail_type(path, method, code):
        ref = ops[(path, method)]["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]["properties"]["detail"]["type"]

    assert detail_type("/jobs", "post", "422") == "string"
    for body in ({"shot": "a", "stages": ["sharpen"]}, {"shot": "a", "seed": "x"}):  # custom and pydantic 422s alike
        r = post_job(hard, body)
        assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    r = requests.get(hard.url + "/jobs?state=bogus", timeout=10)
    assert r.status_code == 422 and detail_type("/jobs", "get", "422") == "string" and isinstance(r.json()["detail"], str)


def test_oversized_frame_in_a_root_shot_is_skipped_not_decoded(hard, roots):
    shot = roots["shots"] / "huge-frame"
    make_shot(shot, frames=2, width=32, height=24)
    (shot / "plate" / "000002.png").write_bytes(huge_png(12000, 12000))
    client = SidecarClient(hard.url, timeout=20)
    job = client.status(client.submit({"shot": shot.name, "stages": ["composite"], "seed": 5}))
    while job["state"] not in ("done", "failed", "cancelled"):
        time.sleep(0.05)
        job = client.status(job["id"])
    assert job["state"] == "done" and "pixels" in job["skipped"]["2"], job
    assert job["progress"]["1"] == "done"


def test_serve_config_file_is_the_allowlist(tmp_path, roots):
    import argparse

    from server.cli import add_arguments, config_from_args

    conf = tmp_path / "sidecar.json"
    conf.write_text(json.dumps({"remotes": {"a1111": "http://127.0.0.1:7860"}, "model_roots": [str(roots["ckpts"])],
                                "shot_roots": [str(roots["shots"])]}))
    p = argparse.ArgumentParser()
    add_arguments(p)
    cfg = config_from_args(p.parse_args(["--config", str(conf), "--remote", "comfyui=http://127.0.0.1:8188",
                                         "--data-dir", str(tmp_path / "d")])).check()
    assert cfg.remotes == {"a1111": "http://127.0.0.1:7860", "comfyui": "http://127.0.0.1:8188"}
    assert cfg.model_roots == [roots["ckpts"].resolve()] and cfg.shot_roots == [roots["shots"].resolve()]
    assert cfg.runner_checkpoints()["diffuse.a1111"] == "http://127.0.0.1:7860"


def test_run_and_track_requests_hold_to_the_same_rules(hard, listener):
    base = {"input": "a/plate", "model": "a/p.glb", "output": "a/out.mp4"}
    for body, status in (({**base, "params": {"url": listener.url}}, 403),
                         ({**base, "engines": {"diffuse": "a1111"}}, 403),
                         ({**base, "params": {"diffuse": {"workflow": "/etc/hostname"}}}, 403),
                         ({**base, "seed": "7"}, 422), ({**base, "force": "yes"}, 422),
                         ({**base, "output": "a/" + "x" * 5000 + ".mp4"}, 422)):
        r = requests.post(hard.url + "/run", data=json.dumps(body), headers=JSON, timeout=20)
        assert r.status_code == status, (body, r.status_code, r.text[:300])
    r = requests.post(hard.url + "/track", data=b'{"input": "a/plate", "output": "a/t.json", "focal_mm": NaN}', headers=JSON, timeout=20)
    assert r.status_code == 422, r.text[:300]
    r = requests.post(hard.url + "/run", data=json.dumps(base), headers={"Content-Type": "text/plain"}, timeout=20)
    assert r.status_code == 415
