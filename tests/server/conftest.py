"""A real sidecar on a free loopback port (uvicorn on a thread, real HTTP) and tiny shots."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from server.bench import make_shot
from server.config import ServerConfig
from server.local import BackgroundServer
from shotcache.client import SidecarClient

UPLOAD_LIMIT = 400_000


@pytest.fixture
def free_port() -> int:
    """A loopback port free right now (for sidecars started as child processes)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def shot_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shots")
    make_shot(root / "a", frames=8, width=64, height=48)
    make_shot(root / "b", frames=4, width=64, height=48)
    return root


@pytest.fixture(scope="session")
def server(shot_root, tmp_path_factory):
    cfg = ServerConfig(host="127.0.0.1", port=0, shot_roots=[shot_root], data_dir=tmp_path_factory.mktemp("sidecar"),
                       upload_limit=UPLOAD_LIMIT)
    srv = BackgroundServer(cfg)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server) -> SidecarClient:
    server.queue.frame_delay_s = 0.0
    return SidecarClient(server.url, timeout=20)
