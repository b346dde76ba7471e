"""Token, bind address, path confinement and upload limits, against a live sidecar."""
from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests

from cli.main import main as vanelia
from server.config import ConfigError, ServerConfig
from server.local import BackgroundServer
from server.security import AccessDenied, confine
from shotcache.client import SidecarClient, SidecarError



# ---- bind address and token -------------------------------------------------------------
def test_non_loopback_without_token_refuses_to_start(tmp_path, capsys):
    with pytest.raises(ConfigError, match="without a token"):
        ServerConfig(host="0.0.0.0", data_dir=tmp_path).check()
    assert vanelia(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on '0.0.0.0' without a token" in err and "--token" in err
    with pytest.raises(ConfigError, match="too short"):
        ServerConfig(host="0.0.0.0", token="abc", data_dir=tmp_path).check()
    ServerConfig(host="::1", data_dir=tmp_path).check()  # loopback v6 needs none
    ServerConfig(host="0.0.0.0", token="long-enough-secret", data_dir=tmp_path).check()


def test_token_required_when_configured(tmp_path, shot_root):
    cfg = ServerConfig(host="127.0.0.1", port=0, token="s3cret-token-123", shot_roots=[shot_root], data_dir=tmp_path)
    with BackgroundServer(cfg) as url:
        assert requests.get(url + "/health", timeout=10).status_code == 200  # version check stays open
        for headers in ({}, {"Authorization": "Bearer wrong-token-xyz"}, {"Authorization": "Basic s3cret-token-123"},
                        {"Authorization": "Bearer s3cret-token-1234"}):
            r = requests.get(url + "/capabilities", headers=headers, timeout=10)
            assert r.status_code == 401 and "token" in r.json()["detail"]
            assert requests.post(url + "/jobs", json={"shot": "a"}, headers=headers, timeout=10).status_code == 401
        with pytest.raises(SidecarError) as exc:
            SidecarClient(url, token="nope-nope-nope").capabilities()
        assert exc.value.kind == "auth"
        good = SidecarClient(url, token="s3cret-token-123")
        assert good.capabilities()["device"] == "cpu"
        job = good.wait(good.submit({"shot": "b", "stages": ["composite"], "frames": [1], "seed": 300}), poll=0.05)
        assert job["state"] == "done"


# ---- path confinement ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def escapes(shot_root, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    from server.bench import make_shot

    make_shot(outside / "secret", frames=2, width=16, height=12)
    link = shot_root / "escape"
    if not link.exists():
        os.symlink(outside / "secret", link)
    inner = shot_root / "inner-link"
    if not inner.exists():
        os.symlink(shot_root / "b", inner)
    return outside


@pytest.mark.parametrize("shot", [
    "../outside/secret", "a/../../x", "a/../b", "..", "/etc", "/", "escape", "escape/../a", "OUTSIDE",
])
def test_path_confinement(client, escapes, shot):
    shot = shot.replace("OUTSIDE", str(escapes / "secret"))
    r = requests.post(client.url + "/jobs", json={"shot": shot, "stages": ["composite"]}, timeout=10)
    assert r.status_code == 403, r.text
    assert "outside the shot roots" in r.json()["detail"] or "'..' is not allowed" in r.json()["detail"]


def test_path_inside_roots_accepted(client, shot_root, escapes):
    for shot in ("b", str(shot_root / "b"), "inner-link"):  # a symlink that stays inside is fine
        r = requests.post(client.url + "/jobs", json={"shot": shot, "stages": ["composite"], "frames": [1], "seed": 301}, timeout=10)
        assert r.status_code == 201, r.text
        client.wait(r.json()["id"], poll=0.05)


def test_confine_unit(tmp_path):
    root = tmp_path / "root"
    (root / "s").mkdir(parents=True)
    assert confine("s", [root]) == (root / "s").resolve()
    for bad in ("..", "s/../../x", str(tmp_path)):
        with pytest.raises(AccessDenied):
            confine(bad, [root])
    with pytest.raises(ValueError, match="NUL"):
        confine("s\x00x", [root])


# ---- uploads -----------------------------------------------------------------------------------
def _tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


def test_upload_run_download(client, server, shot_root, tmp_path):
    shot = client.upload_shot(shot_root / "b")
    assert shot.startswith("upload:")
    job = client.wait(client.submit({"shot": shot, "stages": ["composite"], "seed": 302}), poll=0.05)
    assert job["state"] == "done" and job["frames_done"] == 4
    got = client.download_results(job["id"], tmp_path / "res")
    assert [p.name for p in got] == ["000001.png", "000002.png", "000003.png", "000004.png"]
    assert all(p.stat().st_size > 100 for p in got)
    unpacked = server.config.upload_dir / shot.split(":", 1)[1]
    assert (unpacked / "shot.json").is_file() and len(list((unpacked / "render").glob("*.exr"))) == 4
    assert (unpacked / job["version"] / "frames" / "000004.png").is_file()  # ran on the uploaded copy


def test_oversized_upload_413(client, server):
    big = os.urandom(server.config.upload_limit + 1)
    r = requests.post(client.url + "/uploads", data=big, headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    r = requests.post(client.url + "/uploads", data=chunks(), headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert r.status_code == 413
    assert not [p for p in server.config.upload_dir.iterdir() if p.name.startswith(".incoming")]  # temp file removed


@pytest.mark.parametrize("payload, words", [
    (b"not an archive at all", "neither a tar nor a zip"),
    (b"", "empty upload"),
    (_tar({"../evil/shot.json": b"{}"}), "outside the shot folder"),
    (_tar({"/abs/shot.json": b"{}"}), "outside the shot folder"),
    (_tar({"shot.json": b"{}"}, links={"plate": "/etc"}), "link"),
    (_tar({"plate/000001.png": b"x"}), "no shot.json"),
    (_tar({"shot.json": b"{not json"}), "not valid JSON"),
    (_tar({"shot.json": b'{"schema": "vanelia.shot", "version": 99}'}), "version 99"),
])
def test_bad_uploads_400(client, payload, words):
    r = requests.post(client.url + "/uploads", data=payload, headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert r.status_code == 400, r.text
    assert words in r.json()["detail"]


def test_zip_upload_with_parent_refused(client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../shot.json", "{}")
    r = requests.post(client.url + "/uploads", data=buf.getvalue(), headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert r.status_code == 400 and "outside the shot folder" in r.json()["detail"]


def test_foreign_host_header_and_form_uploads_refused(client):
    """DNS rebinding / cross-site requests from a browser: refused without a token."""
    r = requests.get(client.url + "/jobs", headers={"Host": "evil.example:8765"}, timeout=10)
    assert r.status_code == 421 and "--token" in r.json()["detail"]
    for host in ("localhost:1", "127.0.0.1", "[::1]:8765"):
        assert requests.get(client.url + "/health", headers={"Host": host}, timeout=10).status_code == 200
    r = requests.post(client.url + "/uploads", data=b"x" * 10, headers={"Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 415
