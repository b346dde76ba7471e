"""The add-on's process manager: the child processes Blender starts for Vanelia.

* ``ensure_running(context)`` / ``start_sidecar(settings)``: start the sidecar as a child
  process from the add-on preferences (launch command, port from the URL, shot root), wait
  until ``/health`` answers with our protocol version, and make sure it is stopped when
  Blender exits (``atexit``) or the add-on is disabled (``stop_sidecar``, called by
  ``unregister``). A sidecar already answering at the URL is used as is, never restarted;
  one Blender started is restarted when its preferences change (``restart_if_started``).
* ``run_command``: a sidecar-side command (``vanelia track``) run to its end from a worker
  thread, its output lines as progress, Cancel ending its process group.

Following a job is not done here: every long task (render, sidecar job, track) goes through
addon/tasks.py, the one mechanism (worker thread without bpy + a timer on the main thread).

Only stdlib, bpy and the repo's shotcache (relative imports), as Blender-side code must.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..shotcache.client import TERMINAL, SidecarClient, SidecarError

EXTENSION_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90.0


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def source_tree() -> Path | None:
    """The checkout this add-on runs from when it has the sidecar's code beside it."""
    return EXTENSION_ROOT if (EXTENSION_ROOT / "cli" / "main.py").is_file() else None


def child_env(cwd: Path | None) -> dict[str, str]:
    """Environment of a sidecar-side child process: from a source tree, cli/, server/ and
    ml/ are made importable.

    Blender's own variables are dropped: a distro Blender's launcher sets
    ``BLENDER_SYSTEM_RESOURCES``/``BLENDER_SYSTEM_PYTHON`` for itself, and a sidecar that
    runs another Blender (the ``bpy`` module, for tracking) would load this Blender's
    scripts with them and fail (``No module named '_bpy_types'``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDER_") and k != "PYTHONHOME"}
    env["PYTHONUNBUFFERED"] = "1"  # progress lines arrive as they are printed, not in 8 KB blocks
    if cwd is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(cwd), *filter(None, [env.get("PYTHONPATH")])])
    return env


class SidecarProcess:
    """One sidecar child process started by this Blender, with its log file."""

    def __init__(self, argv: Sequence[str], url: str, token: str | None = None, log_path: str | os.PathLike[str] | None = None,
                 cwd: str | os.PathLike[str] | None = None):
        self.argv = list(argv)
        self.url = url.rstrip("/")
        self.token = token or None
        self.log_path = Path(log_path) if log_path else Path(os.path.expanduser("~")) / ".vanelia-sidecar.log"
        self.cwd = Path(cwd) if cwd else source_tree()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """Launch and wait until healthy; the sidecar's own last log lines explain a failure."""
        if not self.argv:
            raise SidecarError("no launch command for the sidecar; set Preferences > Add-ons > Vanelia > Launch Command", kind="unreachable")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = child_env(self.cwd)
        with open(self.log_path, "ab") as log:
            try:
                self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                raise SidecarError(
                    f"cannot start the sidecar with {' '.join(self.argv)!r} ({exc}); set Preferences > Add-ons > Vanelia > "
                    "Sidecar Python to the python of the sidecar environment, or fix the Launch Command", kind="unreachable") from exc
        return self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        client = SidecarClient(self.url, self.token, timeout=5.0)
        deadline = time.monotonic() + timeout
        while True:
            try:
                return client.health()
            except SidecarError as exc:
                if exc.kind != "unreachable":
                    self.stop()
                    raise
            if self.proc is not None and self.proc.poll() is not None:
                raise SidecarError(f"the sidecar exited with code {self.proc.returncode} while starting "
                                   f"({' '.join(self.argv)}); its log ({self.log_path}) ends with:\n{_log_tail(self.log_path)}",
                                   kind="unreachable")
            if time.monotonic() > deadline:
                self.stop()
                raise SidecarError(f"the sidecar did not answer at {self.url} within {timeout:.0f} s; see {self.log_path}",
                                   kind="unreachable")
            time.sleep(0.2)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the sidecar finishes its current frame and keeps the job for next time), then kill."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


_process: SidecarProcess | None = None
_lock = threading.Lock()
_atexit_registered = False


def launch_argv(settings: Any) -> list[str]:
    """The preferences' launch command plus the shot root and device the preferences name."""
    argv = list(settings.launch_argv)
    if getattr(settings, "shot_root", "") and "--shot-root" not in argv:
        argv += ["--shot-root", str(settings.shot_root)]
    device = str(getattr(settings, "device", "AUTO")).upper()
    if device in ("CUDA", "CPU") and "--device" not in argv:
        argv += ["--device", device.lower()]
    if getattr(settings, "token", "") and "--token" not in argv:
        argv += ["--token", str(settings.token)]
    return argv


def start_sidecar(settings: Any, log_path: str | os.PathLike[str] | None = None, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
    """Use the sidecar at ``settings.url`` if it answers, otherwise start it; return /health."""
    global _process, _atexit_registered
    with _lock:
        client = SidecarClient(settings.url, getattr(settings, "token", "") or None, timeout=5.0)
        try:
            return client.health()
        except SidecarError as exc:
            if exc.kind != "unreachable":
                raise
        if _process is not None and _process.running:
            return _process.wait_healthy(timeout)
        _process = SidecarProcess(launch_argv(settings), settings.url, getattr(settings, "token", "") or None, log_path=log_path)
        if not _atexit_registered:
            atexit.register(stop_sidecar)
            _atexit_registered = True
        return _process.start(timeout)


def ensure_running(context: Any = None) -> dict[str, Any]:
    """From the add-on preferences (main thread): connect, or start the local sidecar."""
    from . import preferences

    settings = preferences.sidecar_settings(context)
    if settings.mode != "LOCAL":
        return SidecarClient(settings.url, settings.token or None).health()
    log = Path(preferences.user_data_dir("logs")) / "sidecar.log"
    return start_sidecar(settings, log_path=log)


def stop_sidecar() -> None:
    """Stop the sidecar this Blender started (none started: nothing to do)."""
    global _process
    with _lock:
        if _process is not None:
            _process.stop()
            _process = None


stop = stop_sidecar


def restart_if_started(settings: Any, log_path: str | os.PathLike[str] | None = None) -> threading.Thread | None:
    """Preferences changed: stop the sidecar this Blender started and start it again with
    ``settings`` in a thread (never blocks the UI); None when Blender started none."""
    with _lock:
        running = _process is not None and _process.running
        log = _process.log_path if _process is not None else log_path
    if not running:
        return None
    stop_sidecar()
    if getattr(settings, "mode", "LOCAL") != "LOCAL":
        return None

    def start() -> None:
        try:
            start_sidecar(settings, log_path=log)
        except SidecarError as exc:  # reported again, with its reason, by the next job that needs it
            print(f"vanelia: restarting the sidecar failed: {exc}", file=sys.stderr, flush=True)

    thread = threading.Thread(target=start, name="vanelia-sidecar-restart", daemon=True)
    thread.start()
    return thread


def last_error(lines: list[str]) -> str:
    """The message of a command's last ``error:`` line (``vanelia: error: ...`` or a
    traceback's ``ValueError: ...``), without the prefix: what the panel should say."""
    import re

    for line in reversed(lines):
        m = re.search(r"(?:^|\s|\w)(?:[Ee]rror):\s*(.+)$", line)
        if m and m.group(1).strip():
            return m.group(1).strip()
    return ""


def run_command(argv: Sequence[str], on_line: Callable[[str], None], should_cancel: Callable[[], bool],
                cwd: Path | None = None, timeout: float | None = None) -> list[str]:
    """Run a sidecar-side command (e.g. ``vanelia track``) to the end; worker-thread safe (no bpy).

    Every output line goes to ``on_line``; ``should_cancel()`` is checked several times a
    second and, when true, the command's whole process group is terminated and
    ``InterruptedError`` raised. A non-zero exit raises ``RuntimeError`` with the command's
    last lines (its own message says what was wrong). Returns all output lines.
    """
    import queue
    import signal

    cwd = cwd if cwd is not None else source_tree()
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=child_env(cwd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1, start_new_session=True)
    except OSError as exc:
        raise RuntimeError(f"cannot run {' '.join(argv)!r} ({exc}); set Preferences > Add-ons > Vanelia > Sidecar Python "
                           "to the python of the sidecar environment") from exc
    lines: list[str] = []
    q: "queue.SimpleQueue[str | None]" = queue.SimpleQueue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            q.put(line.rstrip("\n"))
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = None if timeout is None else time.monotonic() + timeout
    ended = False
    while not ended:
        try:
            item = q.get(timeout=0.2)
        except Exception:  # queue.Empty
            item = ""
        if item is None:
            ended = True
        elif item:
            lines.append(item)
            on_line(item)
        if should_cancel() or (deadline is not None and time.monotonic() > deadline):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            raise InterruptedError(f"{argv[-1] if argv else 'command'}: cancelled" if should_cancel() else "timed out")
    code = proc.wait()
    if code != 0:
        print(f"vanelia: `{' '.join(argv)}` exited with {code}; its output ends with:", *lines[-15:], sep="\n", file=sys.stderr)
        raise RuntimeError(last_error(lines) or f"{argv[-1] if argv else 'command'} failed (exit {code}): {' | '.join(lines[-3:])}")
    return lines


def started_process() -> SidecarProcess | None:
    return _process


__all__ = ["SidecarProcess", "start_sidecar", "ensure_running", "stop_sidecar", "stop", "launch_argv", "TERMINAL",
           "restart_if_started", "run_command"]
