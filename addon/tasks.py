"""Long work without freezing Blender: step tasks on timers, waits on worker threads.

Two kinds of long work exist on the Blender side:

* **Steps on the main thread** (rendering a shot frame by frame): the work is a generator
  that does one short unit of ``bpy`` work per ``next()`` and yields a ``Progress``. In the
  UI a ``bpy.app.timers`` callback advances it one step per tick, so Blender redraws and
  handles input (and the Cancel button) between frames.
* **Waiting in a worker thread** (a sidecar job): the work is a function of a ``Reporter``;
  it runs in a thread that never touches ``bpy`` (only HTTP and files) and reports into a
  queue; a timer on the main thread copies progress into ``scene.vanelia`` and calls
  ``on_done`` on the main thread, where ``bpy`` may be used again (e.g. load the result
  into the sequencer).

In background mode (``bpy.app.background``: timers never fire) both run blocking in the
caller with progress lines on stdout, so headless scripts get the same work and result.
One task per scene at a time; ``shutdown()`` (called by unregister) cancels everything and
leaves no timer behind.
"""
from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Generator

import bpy

TICK_S = 0.05
"""Timer interval between steps: short, the step itself is what takes time."""
POLL_S = 0.2
"""Timer interval while a worker thread runs."""


@dataclass
class Progress:
    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, self.done / self.total)) if self.total > 0 else 0.0


class Cancelled(Exception):
    """Raised inside worker code when the user cancelled (``Reporter.check()``)."""


class Reporter:
    """What worker-thread code gets: report progress, ask whether to stop. No bpy here."""

    def __init__(self, task: "Task"):
        self._task = task

    @property
    def cancelled(self) -> bool:
        return self._task.cancel_event.is_set()

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled(f"{self._task.kind} cancelled")

    def report(self, done: int, total: int, message: str = "") -> None:
        self._task.post(Progress(done, total, message))


@dataclass
class Task:
    kind: str
    scene_name: str
    on_done: Callable[["Task"], None] | None = None
    state: str = "running"  # running | done | failed | cancelled
    error: str = ""
    result: Any = None
    progress: Progress = field(default_factory=lambda: Progress(0, 0))
    cancel_event: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    _queue: "queue.SimpleQueue[Progress]" = field(default_factory=queue.SimpleQueue)
    _thread: threading.Thread | None = None
    _steps: Generator[Progress, None, Any] | None = None
    _timer: Callable[[], float | None] | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    def post(self, p: Progress) -> None:
        """Thread-safe: queue a progress update for the main thread."""
        self._queue.put(p)

    def cancel(self) -> None:
        self.cancel_event.set()


_TASKS: dict[str, Task] = {}
"""Running or last-finished task per scene name."""


# ---------------------------------------------------------------------------
# main-thread side: scene state, redraw
# ---------------------------------------------------------------------------


def _scene(task: Task) -> bpy.types.Scene | None:
    return bpy.data.scenes.get(task.scene_name)


def _redraw() -> None:
    wm = bpy.context.window_manager
    if wm is None:
        return
    for window in wm.windows:
        screen = window.screen
        if screen is None:
            continue
        for area in screen.areas:
            if area.type in ("VIEW_3D", "SEQUENCE_EDITOR", "PREFERENCES"):
                area.tag_redraw()


def _publish(task: Task) -> None:
    """Copy a task's state into ``scene.vanelia`` (main thread only)."""
    scene = _scene(task)
    if scene is None or not hasattr(scene, "vanelia"):
        return
    s = scene.vanelia
    s.task_kind = task.kind
    s.task_state = task.state
    s.progress = task.progress.fraction if task.running else (1.0 if task.state == "done" else s.progress)
    text = task.progress.message
    if task.state == "failed":
        text = task.error
    elif task.state == "cancelled":
        text = "cancelled"
    s.progress_text = text[:1000]


def _log(task: Task) -> None:
    p = task.progress
    head = f"[vanelia {task.kind}]"
    if task.state == "running":
        print(f"{head} {p.done}/{p.total} {p.message}".rstrip(), flush=True)
    elif task.state == "failed":
        print(f"{head} failed: {task.error}", file=sys.stderr, flush=True)
    else:
        print(f"{head} {task.state} in {time.monotonic() - task.started:.1f} s", flush=True)


def _finish(task: Task, state: str, error: str = "") -> None:
    task.state = state
    task.error = error
    if task.on_done is not None:
        try:
            task.on_done(task)
        except Exception as exc:  # the callback's failure is the task's failure
            traceback.print_exc()
            task.state, task.error = "failed", f"{type(exc).__name__}: {exc}"
    _publish(task)
    if bpy.app.background:
        _log(task)
    elif task.state == "failed":
        status_bar(f"Vanelia {task.kind} failed: {task.error}"[:300])
    _redraw()


def status_bar(message: str | None) -> None:
    """Show ``message`` in every window's status bar until the next task starts (None clears).

    A background task has no operator left to report through when it fails (and reports of
    operators that scripts or timers call never reach the status bar), so its failure is
    written there with the workspace's status text, which stays until cleared."""
    wm = bpy.context.window_manager
    for window in (wm.windows if wm is not None else []):
        workspace: Any = window.workspace
        if workspace is not None:
            workspace.status_text_set(message)


def _error_text(exc: BaseException) -> str:
    """The message for the panel; a traceback on the console only for unexpected errors
    (ValueError/RuntimeError/OSError carry messages written for the user)."""
    if not isinstance(exc, (ValueError, RuntimeError, OSError)):
        traceback.print_exception(exc)
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


def get(scene: bpy.types.Scene) -> Task | None:
    return _TASKS.get(scene.name)


def is_running(scene: bpy.types.Scene) -> bool:
    task = _TASKS.get(scene.name)
    return task is not None and task.running


def cancel(scene: bpy.types.Scene) -> bool:
    """Ask the scene's running task to stop; True if there was one."""
    task = _TASKS.get(scene.name)
    if task is None or not task.running:
        return False
    task.cancel()
    return True


def _claim(kind: str, scene: bpy.types.Scene, on_done: Callable[[Task], None] | None) -> Task:
    if is_running(scene):
        raise RuntimeError(f"scene '{scene.name}' is busy with a {_TASKS[scene.name].kind} task; cancel it or wait")
    task = Task(kind=kind, scene_name=scene.name, on_done=on_done)
    _TASKS[scene.name] = task
    if not bpy.app.background:
        status_bar(None)  # a previous failure's message goes
    _publish(task)
    return task


def run_steps(
    kind: str,
    scene: bpy.types.Scene,
    steps: Generator[Progress, None, Any],
    on_done: Callable[[Task], None] | None = None,
    blocking: bool | None = None,
) -> Task:
    """Advance ``steps`` on the main thread: one step per timer tick, or all now headless.

    The generator may ``return`` a value (kept as ``task.result``). Cancel closes it
    (``GeneratorExit`` inside), so its ``finally`` blocks clean up. ``blocking`` defaults
    to ``bpy.app.background`` (timers never fire there).
    """
    task = _claim(kind, scene, on_done)
    task._steps = steps
    if bpy.app.background if blocking is None else blocking:
        _drive_blocking(task)
        return task

    def tick() -> float | None:
        return _step(task)

    task._timer = tick
    bpy.app.timers.register(tick, first_interval=TICK_S)
    return task


def _step(task: Task) -> float | None:
    """One timer tick of a step task; returns the next interval or None to stop."""
    assert task._steps is not None
    if task.cancel_event.is_set():
        task._steps.close()
        _finish(task, "cancelled")
        return None
    try:
        task.progress = next(task._steps)
    except StopIteration as stop:
        task.result = stop.value
        _finish(task, "done")
        return None
    except Exception as exc:
        _finish(task, "failed", _error_text(exc))
        return None
    _publish(task)
    _redraw()
    return TICK_S


def _drive_blocking(task: Task) -> None:
    while _step(task) is not None:
        _log(task)


def run_worker(
    kind: str,
    scene: bpy.types.Scene,
    work: Callable[[Reporter], Any],
    on_done: Callable[[Task], None] | None = None,
    blocking: bool | None = None,
) -> Task:
    """Run ``work(reporter)`` off the main thread (blocking in background mode).

    ``work`` must not touch ``bpy``: give it plain values (paths, URLs, a settings
    snapshot). Its return value becomes ``task.result``; ``on_done`` runs on the main thread.
    """
    task = _claim(kind, scene, on_done)
    reporter = Reporter(task)
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            outcome["result"] = work(reporter)
        except Cancelled:
            outcome["cancelled"] = True
        except Exception as exc:
            outcome["error"] = _error_text(exc)

    def drain() -> None:
        while True:
            try:
                task.progress = task._queue.get_nowait()
            except queue.Empty:
                return
            if bpy.app.background:
                _log(task)

    def settle() -> None:
        drain()
        task.result = outcome.get("result")
        if "error" in outcome:
            _finish(task, "failed", outcome["error"])
        elif outcome.get("cancelled") or (task.cancel_event.is_set() and "result" not in outcome):
            _finish(task, "cancelled")
        else:
            _finish(task, "done")

    if bpy.app.background if blocking is None else blocking:
        body()
        settle()
        return task

    thread = threading.Thread(target=body, name=f"vanelia-{kind}", daemon=True)
    task._thread = thread
    thread.start()

    def poll() -> float | None:
        drain()
        if thread.is_alive():
            _publish(task)
            _redraw()
            return POLL_S
        settle()
        return None

    task._timer = poll
    bpy.app.timers.register(poll, first_interval=POLL_S)
    return task


def shutdown(timeout: float = 2.0) -> None:
    """Cancel every task, remove every timer, wait briefly for threads (unregister)."""
    for task in list(_TASKS.values()):
        task.cancel()
        if task._timer is not None and bpy.app.timers.is_registered(task._timer):
            bpy.app.timers.unregister(task._timer)
        if task._steps is not None and task.running:
            task._steps.close()
        if task._thread is not None:
            task._thread.join(timeout)
        if task.running:
            task.state = "cancelled"
    _TASKS.clear()
