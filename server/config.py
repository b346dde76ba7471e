"""What one sidecar process is allowed to do: where it listens, which folders it may touch.

Everything security-relevant is decided here, once, before the server starts: a bind
address other than loopback needs a token, the shot roots exist, the upload limit is
positive. ``ServerConfig.check()`` raises ``ConfigError`` with a message that says what to
change, so ``vanelia serve`` refuses to start instead of starting unsafely.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from shotcache.net import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_UPLOAD_LIMIT = 2 * 1024**3  # 2 GiB: a few hundred 1080p frames with their EXR passes
DEFAULT_RUNNER = "ml.pipeline.runner:PipelineRunner"


class ConfigError(ValueError):
    """The server cannot start with this configuration; the message says what to change."""


def default_data_dir() -> Path:
    """Per-user state folder (job database, uploads) when none is given."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "vanelia" / "sidecar"


@dataclass
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    shot_roots: list[Path] = field(default_factory=list)
    token: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    db_path: Path | None = None
    upload_limit: int = DEFAULT_UPLOAD_LIMIT
    device: str = "cpu"
    checkpoints: dict[str, str] = field(default_factory=dict)
    runner: str = DEFAULT_RUNNER
    """``module:Class`` of the pipeline runner the workers use (the agreed PipelineRunner API)."""
    frame_delay_s: float = 0.0
    """Pause after each frame; only for tests and demos that must catch a job mid-run."""

    @property
    def database(self) -> Path:
        return Path(self.db_path) if self.db_path else Path(self.data_dir) / "jobs.sqlite"

    @property
    def upload_dir(self) -> Path:
        return Path(self.data_dir) / "uploads"

    def check(self) -> "ServerConfig":
        """Validate and normalise; raise ConfigError naming the option to change."""
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"refusing to listen on {self.host!r} without a token: anyone on the network could run jobs. "
                "Give --token SECRET (clients send 'Authorization: Bearer SECRET') or bind --host 127.0.0.1"
            )
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("--token is too short; use at least 8 characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
        if not (0 <= int(self.port) <= 65535):
            raise ConfigError(f"--port {self.port} is not a TCP port (0-65535)")
        if int(self.upload_limit) <= 0:
            raise ConfigError(f"upload limit must be positive, got {self.upload_limit}")
        roots = []
        for root in self.shot_roots:
            p = Path(root).expanduser()
            if not p.is_dir():
                raise ConfigError(f"--shot-root {root}: no such folder; create it or give another one")
            roots.append(p.resolve())
        self.shot_roots = roots
        self.data_dir = Path(self.data_dir).expanduser()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ConfigError(f"--device {self.device!r}: use cpu, cuda or cuda:N")
        return self

    def devices(self) -> list[str]:
        """One worker per device: ``cuda`` means every visible GPU, ``cuda:N`` just that one."""
        if self.device != "cuda":
            return [self.device]
        try:
            import torch

            n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        except ImportError:
            n = 0
        if n == 0:
            raise ConfigError("--device cuda: no CUDA GPU is visible to this process; use --device cpu")
        return [f"cuda:{i}" for i in range(n)]
