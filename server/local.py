"""Run the sidecar inside this process, on a background thread (real HTTP on loopback).

For benchmarks, tests and one-shot tools that want a real server without managing a child
process: ``with BackgroundServer(cfg) as url: ...``. Port 0 picks a free port; the URL
returned is the one actually bound.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from .app import create_app
from .config import ServerConfig


class BackgroundServer:
    def __init__(self, config: ServerConfig, log_level: str = "warning"):
        import uvicorn

        self.config = config
        self.app = create_app(config)
        self._server = uvicorn.Server(uvicorn.Config(self.app, host=config.host, port=config.port, log_level=log_level,
                                                     lifespan="on", timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._server.run, name="vanelia-sidecar", daemon=True)
        self.url = ""

    def start(self, timeout: float = 30.0) -> str:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process sidecar did not start (see the log above)")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.config.host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)

    @property
    def queue(self) -> Any:
        return self.app.state.queue

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
