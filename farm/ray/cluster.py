"""Joining a Ray cluster: ``local`` starts one in this process, ``host:port`` joins one.

Every node must have Vanelia installed (the same code importable by its workers: the
`vanelia` package or a checkout on PYTHONPATH); render nodes also need the ``bpy`` module or
a Blender binary. Nodes that render declare it with ``ray start --resources '{"blender": N}'``
(N renders at once); a ``local`` cluster declares it itself when ``bpy`` imports here.
"""
from __future__ import annotations

import importlib.util
import os
import re
import socket
from typing import Any

from shotcache.errors import UsageError

RENDER_RESOURCE = "blender"
LOCAL_ENV_CPUS = "VANELIA_RAY_CPUS"
LOCAL_ENV_STORE_MB = "VANELIA_RAY_OBJECT_STORE_MB"
_ADDRESS = re.compile(r"^(local|auto|ray://[\w.\-]+:\d+|[\w.\-]+:\d+)$")


class ClusterError(UsageError):
    """The Ray address is wrong or the cluster cannot be reached; the message says which."""


def check_address(address: str) -> str:
    """Refuse a malformed address before anything is started."""
    address = (address or "").strip()
    if not _ADDRESS.match(address):
        raise ClusterError(f"--ray {address!r}: give 'local' (a cluster in this process) or HOST:PORT of a running "
                           "Ray head (`ray start --head --port PORT`)")
    return address


REACH_TIMEOUT_S = 5.0
"""How long the head's port may take to accept a connection before the address is refused."""


def check_reachable(address: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Refuse a HOST:PORT where nothing accepts a connection, before ``ray.init``: Ray's own
    client retries a dead address for minutes (over five against 127.0.0.1:1 with Ray 2.5x),
    and a driver started while the head was still coming up once waited there for ten
    (CI, tests/farm): a user sees one clear message instead, and a caller can retry."""
    if address in ("local", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(f"--ray {address}: nothing answers at that address ({exc}); is `ray start --head` "
                           "running there and reachable from here?") from exc


def connect(address: str, num_cpus: int | None = None) -> dict[str, Any]:
    """Connect once per process (later calls reuse the connection); returns the cluster's resources."""
    import ray

    address = check_address(address)
    if not ray.is_initialized():
        common: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address == "local":
            # Ray 2.60 turns token auth on by default, and the render tasks' workers of an
            # in-process cluster then fail to authenticate; a cluster this process starts for
            # its own run (as before 2.60) runs without it. Joined clusters keep their own mode.
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            cpus = num_cpus or int(os.environ.get(LOCAL_ENV_CPUS, 0) or 0) or os.cpu_count() or 1
            resources = {RENDER_RESOURCE: float(cpus)} if importlib.util.find_spec("bpy") is not None else {}
            store = int(os.environ.get(LOCAL_ENV_STORE_MB, 0) or 0) or 256
            ray.init(num_cpus=cpus, resources=resources, object_store_memory=store * 2**20,
                     runtime_env={"env_vars": _worker_env()}, **common)
        else:
            check_reachable(address)
            try:
                ray.init(address=address, runtime_env={"env_vars": _worker_env()}, **common)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ClusterError(f"--ray {address}: cannot join the Ray cluster there ({exc}); is `ray start --head` "
                                   "running at that address and reachable from here?") from exc
    return dict(ray.cluster_resources())


def _worker_env() -> dict[str, str]:
    """What workers need to import this checkout when it is not installed as a package."""
    env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    from farm.worker import FRAME_DELAY_ENV

    if os.environ.get(FRAME_DELAY_ENV):
        env[FRAME_DELAY_ENV] = os.environ[FRAME_DELAY_ENV]
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def node_label() -> str:
    """``ip/node-id`` of the node this runs on: what the job record shows per frame."""
    import ray

    ctx = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()}/{ctx.get_node_id()[:8]}"


def stage_slots(resources: dict[str, Any], workers: int | None = None) -> tuple[int, dict[str, Any], str]:
    """How many stage actors, the resources of each and their device: one per GPU when the
    cluster has GPUs, else one per CPU (``workers`` caps it)."""
    gpus = int(resources.get("GPU", 0) or 0)
    if gpus:
        n = min(gpus, workers or gpus)
        return n, {"num_gpus": 1, "num_cpus": 1}, "cuda"
    cpus = max(1, int(resources.get("CPU", 1) or 1))
    return min(cpus, workers or cpus), {"num_cpus": 1}, "cpu"


def render_slots(resources: dict[str, Any], workers: int | None = None) -> int:
    """Concurrent render tasks: the render nodes' declared capacity (``workers`` caps it)."""
    n = int(resources.get(RENDER_RESOURCE, 0) or 0)
    if n < 1:
        raise ClusterError(f"no node of this Ray cluster can render: start render nodes with "
                           f"`ray start ... --resources '{{\"{RENDER_RESOURCE}\": 1}}'` where the bpy module or Blender is installed")
    return min(n, workers or n)
