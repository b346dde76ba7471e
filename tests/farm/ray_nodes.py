"""A Ray cluster on loopback for tests: a head and workers started with `ray start --block`,
each with its own ports and temp folder, each in its own process group, stopped by PID."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")

FAST_FAILURE_DETECTION = {
    # A killed node refuses the check at once and is noticed in about a second instead of tens
    # of seconds. A live one on a loaded machine gets 1.5 s to answer each of three checks in a
    # row (it had 0.3 s, and a busy CI machine may have declared a worker that had joined dead).
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "300",
    "RAY_health_check_timeout_ms": "1500",
    "RAY_health_check_failure_threshold": "3",
}


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Node:
    def __init__(self, proc: subprocess.Popen, name: str, log: Path):
        self.proc, self.name, self.log = proc, name, log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """The node's whole process group (raylet, its workers): a machine that dies."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.kill(signal.SIGKILL)
        self.proc.wait(10)


def start_node(tmp: Path, name: str, *, head_address: str | None = None, port: int | None = None, cpus: int = 1,
               resources: dict | None = None, store_mb: int = 80) -> Node:
    (tmp / name).mkdir(parents=True, exist_ok=True)
    p = free_ports(9)
    cmd = [str(RAY), "start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}",
           f"--object-store-memory={store_mb * 2**20}", f"--node-manager-port={p[0]}", f"--object-manager-port={p[1]}",
           f"--min-worker-port={p[2]}", f"--max-worker-port={p[2] + 40}", f"--dashboard-agent-grpc-port={p[3]}",
           f"--dashboard-agent-listen-port={p[4]}", f"--metrics-export-port={p[5]}", f"--runtime-env-agent-port={p[6]}",
           "--disable-usage-stats", "--include-log-monitor=false"]
    if resources:
        cmd.append(f"--resources={json.dumps(resources)}")
    if head_address is None:
        cmd += ["--head", f"--port={port}", "--include-dashboard=false",
                f"--temp-dir={tmp / name}"]
    else:
        cmd += [f"--address={head_address}"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", RAY_AUTH_MODE="disabled", **FAST_FAILURE_DETECTION)
    log = tmp / name / "start.log"
    proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=str(ROOT))
    return Node(proc, name, log)


def start_cluster(tmp: Path, *, resources: dict | None = None, attempts: int = 3,
                  head_attempts: int = 2) -> tuple[str, Node, Node, dict]:
    """A head, then one worker that has joined it: (address, head, worker, the ``nodes`` answer).

    The worker dials the head only once the head answers, and a worker that has not joined in
    two minutes is stopped and started again: on a loaded 2-core machine (CI runs Blender and
    torch in the other pytest worker) a worker started beside a head still coming up can give
    up on it and leave a one-node cluster behind. A head that no driver can join in about three
    minutes is stopped and a fresh one started on fresh ports: once in CI the first driver's
    ``ray.init`` against a new head never returned, and the whole module waited out its timeout."""
    failures = []
    for h in range(head_attempts):
        port = free_ports(1)[0]
        address = f"127.0.0.1:{port}"
        head = start_node(tmp, f"head{h}", port=port, resources=resources)
        try:
            drive("nodes", timeout=200, address=address, want=1)
        except AssertionError as exc:
            head.stop()
            failures.append(f"head attempt {h + 1} at {address}: {str(exc)[-1500:]}\nhead log: {_tail(head.log)}")
            continue
        try:
            return (address, head, *_join_worker(tmp, address, resources, attempts))
        except BaseException:
            head.stop()
            raise
    raise AssertionError("no Ray head answered:\n" + "\n".join(failures))


def _join_worker(tmp: Path, address: str, resources: dict | None, attempts: int) -> tuple[Node, dict]:
    """One worker node joined to the head at ``address``, retried ``attempts`` times."""
    failures = []
    for attempt in range(attempts):
        worker = start_node(tmp, f"worker{attempt}", head_address=address, resources=resources)
        try:
            return worker, drive("nodes", timeout=300, address=address, want=2, wait_s=120)
        except AssertionError as exc:
            worker.stop()
            failures.append(f"attempt {attempt + 1}: {str(exc)[-1500:]}\nworker log: {_tail(worker.log)}")
    raise AssertionError(f"no worker joined the head at {address}:\n" + "\n".join(failures))


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-1500:] if log.exists() else "(no log)"


def drive(scenario: str, timeout: float = 600, **args: object) -> dict:
    """Run one scenario of ray_driver.py in its own process (the Ray driver never lives in the
    pytest worker); its JSON answer, or a failure that carries the driver's own output. A driver
    still running after ``timeout`` seconds is killed and counts as a failure, not a hang."""
    cmd = [sys.executable, str(Path(__file__).with_name("ray_driver.py")), scenario, json.dumps(args)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", RAY_AUTH_MODE="disabled")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise AssertionError(f"ray_driver {scenario} still running after {timeout:.0f} s:\n{out[-2000:]}\n{err[-4000:]}") from None
    lines = [x for x in r.stdout.splitlines() if x.startswith("{")]
    if r.returncode != 0 or not lines:
        raise AssertionError(f"ray_driver {scenario} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return json.loads(lines[-1])
