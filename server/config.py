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

from shotcache.engines import REMOTE

from shotcache.net import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_UPLOAD_LIMIT = 2 * 1024**3  # 2 GiB: a few hundred 1080p frames with their EXR passes
DEFAULT_RUNNER = "ml.pipeline.runner:PipelineRunner"
DEFAULT_CHECKPOINT_ROOT = Path(__file__).resolve().parents[1] / "checkpoints"
"""The checkpoints shipped with Vanelia: a job may always name those."""
DEFAULT_UPLOAD_TTL_S = 24 * 3600.0
DEFAULT_MAX_ATTEMPTS = 3
REMOTE_ENGINES = REMOTE
"""Engines whose backend URL only the server's configuration may give (the catalogue's remote ones)."""


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
    checkpoint_roots: list[Path] = field(default_factory=list)
    """Folders a job's ``checkpoints`` may point into (plus the shipped checkpoints/ and the
    folders of --checkpoint files)."""
    model_roots: list[Path] = field(default_factory=list)
    """Folders a job's model folders, workflows and LoRAs may point into."""
    remotes: dict[str, str] = field(default_factory=dict)
    """Remote diffusion backends, engine -> URL (``--remote a1111=http://...``): the only
    addresses the sidecar ever connects to for a job."""
    upload_ttl_s: float = DEFAULT_UPLOAD_TTL_S
    """Uploads untouched this long and used by no queued or running job are removed."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """A job whose runs were interrupted this many times (the sidecar died each time) fails
    instead of being resumed once more."""

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
        self.checkpoint_roots = self._folders(self.checkpoint_roots, "--checkpoint-root")
        self.model_roots = self._folders(self.model_roots, "--model-root")
        for engine, url in self.remotes.items():
            if engine not in REMOTE_ENGINES:
                raise ConfigError(f"--remote {engine}=...: remote engines are {', '.join(REMOTE_ENGINES)}")
            if not str(url).startswith(("http://", "https://")):
                raise ConfigError(f"--remote {engine}={url}: give an http:// or https:// URL")
        if int(self.max_attempts) < 1:
            raise ConfigError(f"max attempts must be at least 1, got {self.max_attempts}")
        if float(self.upload_ttl_s) <= 0:
            raise ConfigError(f"--upload-ttl must be positive, got {self.upload_ttl_s}")
        self.data_dir = Path(self.data_dir).expanduser()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ConfigError(f"--device {self.device!r}: use cpu, cuda or cuda:N")
        return self

    @staticmethod
    def _folders(folders: list[Path], option: str) -> list[Path]:
        out = []
        for folder in folders:
            p = Path(folder).expanduser()
            if not p.is_dir():
                raise ConfigError(f"{option} {folder}: no such folder; create it or give another one")
            out.append(p.resolve())
        return out

    def job_checkpoint_roots(self) -> list[Path]:
        """Where a job's checkpoint paths may lead: configured roots, the shipped folder and
        the folders of the server's own --checkpoint files."""
        roots = list(self.checkpoint_roots)
        if DEFAULT_CHECKPOINT_ROOT.is_dir():
            roots.append(DEFAULT_CHECKPOINT_ROOT)
        for path in self.checkpoints.values():
            if not str(path).startswith(("http://", "https://")) and Path(path).expanduser().parent.is_dir():
                roots.append(Path(path).expanduser().resolve().parent)
        return roots

    def runner_checkpoints(self) -> dict[str, str]:
        """The workers' checkpoint table: --checkpoint entries and the --remote backends."""
        table = dict(self.checkpoints)
        for engine, url in self.remotes.items():
            table[f"diffuse.{engine}"] = url
        return table

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
