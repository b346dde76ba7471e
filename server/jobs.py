"""The durable job queue: SQLite on disk, one worker thread per device.

Why it looks like this:

* **Durable.** Every state change and every finished frame is committed to SQLite before the
  client hears of it. A sidecar killed with ``kill -9`` and started again finds its running
  jobs in the database, puts them back at the head of the queue with the output version they
  already had, and the pipeline runner skips the frames already in ``vNNN/frames`` (written
  temp + rename, so a frame on disk is a whole frame). Nothing finished is recomputed or lost.
* **One heavy thing per GPU.** Each device has exactly one worker thread, and a worker runs
  one job at a time, so two stages never compete for one GPU's memory. Jobs are claimed in
  submission order (``seq``), so two clients submitting at once are served first come, first
  served.
* **Cheap per frame.** The per-frame callback is one small SQLite transaction (WAL,
  synchronous=NORMAL: no fsync per frame) and a counter bump for event listeners; the time
  spent there is measured and reported per job (``overhead_s``) -- see server/bench.py.
"""
from __future__ import annotations

import importlib
import json
import logging
import sqlite3
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable

from shotcache.errors import Cancelled, Conflict, NotFound, SchemaError, job_error_kind
from shotcache.layout import ShotPaths
from shotcache.schema import JobSpec

log = logging.getLogger("vanelia.server.jobs")

TERMINAL = ("done", "failed", "cancelled")

_ADDED_COLUMNS = (("kind", "TEXT NOT NULL DEFAULT 'stages'"), ("result", "TEXT"))
"""kind: stages | track | run (shotcache.schema.JOB_KINDS); result: a track/run job's JSON result."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    shot_dir TEXT NOT NULL,
    frames TEXT NOT NULL,
    version TEXT,
    device TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    error_kind TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    frames_done INTEGER NOT NULL DEFAULT 0,
    skipped TEXT NOT NULL DEFAULT '{}',
    engines TEXT NOT NULL DEFAULT '{}',
    overhead_s REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS frames (
    job_id TEXT NOT NULL,
    frame INTEGER NOT NULL,
    status TEXT NOT NULL,
    t REAL NOT NULL,
    PRIMARY KEY (job_id, frame)
);
"""


class JobNotFound(NotFound, KeyError):
    """No job with this id (``args[0]``) on this sidecar."""

    def __str__(self) -> str:
        return f"no job {self.args[0]!r} on this sidecar; list jobs with GET /jobs"


class JobFinished(Conflict):
    """Cancel asked for a job that already ended."""


class JobCancelled(Exception):
    """Raised inside the worker when a job is cancelled between frames."""


def _error_kind(exc: BaseException) -> str:
    """Classify a failure so clients can print the right advice (OOM, bad input, bug)."""
    return job_error_kind(exc)


class JobStore:
    """All SQLite access, serialised by one lock (the database is tiny; contention is nil)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since the first release, added to older databases in place."""
        have = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)").fetchall()}
        for name, decl in _ADDED_COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    # ---- writes ----------------------------------------------------------
    def insert(self, spec: dict[str, Any], shot_dir: Path, frames: list[int], kind: str = "stages") -> str:
        job_id = uuid.uuid4().hex
        self._tx(
            "INSERT INTO jobs (id, state, spec, shot_dir, frames, created, kind) VALUES (?, 'queued', ?, ?, ?, ?, ?)",
            (job_id, json.dumps(spec), str(shot_dir), json.dumps(frames), time.time(), kind),
        )
        return job_id

    def claim(self, device: str) -> sqlite3.Row | None:
        """Oldest queued job -> running on ``device``, atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT * FROM jobs WHERE state='queued' ORDER BY seq LIMIT 1").fetchone()
                if row is None:
                    self._db.execute("COMMIT")
                    return None
                self._db.execute(
                    "UPDATE jobs SET state='running', device=?, started=COALESCE(started, ?), attempts=attempts+1 WHERE id=?",
                    (device, time.time(), row["id"]),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return self._db.execute("SELECT * FROM jobs WHERE id=?", (row["id"],)).fetchone()

    def set_version(self, job_id: str, version: str) -> None:
        self._tx("UPDATE jobs SET version=? WHERE id=?", (version, job_id))

    def frames_done_batch(self, job_id: str, frames: dict[int, str], done: int) -> None:
        """One transaction for every frame finished since the last flush."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO frames (job_id, frame, status, t) VALUES (?, ?, ?, ?)",
                                 [(job_id, f, st, now) for f, st in frames.items()])
            self._db.execute("UPDATE jobs SET frames_done=MAX(frames_done, ?) WHERE id=?", (done, job_id))
            self._db.execute("COMMIT")

    def finish(self, job_id: str, state: str, *, error: str | None = None, error_kind: str | None = None,
               skipped: dict | None = None, engines: Any = None, overhead_s: float = 0.0, result: Any = None) -> None:
        self._tx(
            "UPDATE jobs SET state=?, finished=?, error=?, error_kind=?, skipped=?, engines=?, overhead_s=overhead_s+?, "
            "result=? WHERE id=?",
            (state, time.time(), error, error_kind, json.dumps(skipped or {}, default=str),
             json.dumps(engines or {}, default=str), overhead_s, None if result is None else json.dumps(result, default=str),
             job_id),
        )

    def requeue(self, job_id: str, overhead_s: float = 0.0) -> None:
        self._tx("UPDATE jobs SET state='queued', overhead_s=overhead_s+? WHERE id=?", (overhead_s, job_id))

    def request_cancel(self, job_id: str) -> str:
        """Returns the state after the request: queued jobs end at once, running ones at the next frame."""
        with self._lock:
            row = self.get_row(job_id)
            if row is None:
                raise JobNotFound(job_id)
            if row["state"] in TERMINAL:
                raise JobFinished(f"job {job_id} already ended ({row['state']}); nothing to cancel")
            self._db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
            if row["state"] == "queued":
                self._db.execute("UPDATE jobs SET state='cancelled', finished=? WHERE id=?", (time.time(), job_id))
                return "cancelled"
            return "running"

    def recover(self, max_attempts: int = 3) -> list[str]:
        """After a crash: running jobs go back to the queue (keeping version and seq order),
        unless they were already started ``max_attempts`` times: a job that keeps taking the
        sidecar down (out of memory, a crashing library) must not do so forever."""
        resumed = []
        with self._lock:
            rows = self._db.execute("SELECT id, cancel_requested, attempts FROM jobs WHERE state='running'").fetchall()
            for r in rows:
                if r["cancel_requested"]:
                    self._db.execute("UPDATE jobs SET state='cancelled', finished=? WHERE id=?", (time.time(), r["id"]))
                elif r["attempts"] >= max_attempts:
                    self._db.execute(
                        "UPDATE jobs SET state='failed', finished=?, error=?, error_kind='internal' WHERE id=?",
                        (time.time(), f"the sidecar stopped {r['attempts']} times while running this job; it is not "
                                      "resumed again. Look at the sidecar's log (memory, GPU), then submit it again", r["id"]))
                else:
                    self._db.execute("UPDATE jobs SET state='queued' WHERE id=?", (r["id"],))
                    resumed.append(r["id"])
            return resumed

    def active_shot_dirs(self) -> set[str]:
        """Shot folders of queued and running jobs (uploads they use must stay)."""
        return {r[0] for r in self._tx("SELECT shot_dir FROM jobs WHERE state IN ('queued', 'running')").fetchall()}

    # ---- reads -------------------------------------------------------------
    def get_row(self, job_id: str) -> sqlite3.Row | None:
        return self._tx("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()

    def is_cancel_requested(self, job_id: str) -> bool:
        row = self._tx("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,)).fetchone()
        return bool(row and row[0])

    def frames_of(self, job_id: str) -> dict[int, str]:
        return {int(r[0]): r[1] for r in self._tx("SELECT frame, status FROM frames WHERE job_id=?", (job_id,)).fetchall()}

    def rows(self, state: str | None = None, limit: int = 100) -> list[sqlite3.Row]:
        if state:
            return self._tx("SELECT * FROM jobs WHERE state=? ORDER BY seq DESC LIMIT ?", (state, limit)).fetchall()
        return self._tx("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()

    def queue_position(self, seq: int) -> int:
        return int(self._tx("SELECT COUNT(*) FROM jobs WHERE state='queued' AND seq < ?", (seq,)).fetchone()[0])


def job_view(store: JobStore, row: sqlite3.Row, with_frames: bool = True) -> dict[str, Any]:
    """What clients see of a job (GET /jobs/{id})."""
    spec = json.loads(row["spec"])
    frames = json.loads(row["frames"])
    view: dict[str, Any] = {
        "id": row["id"],
        "kind": row["kind"],
        "seq": row["seq"],
        "state": row["state"],
        "shot": spec.get("shot"),
        "stages": spec.get("stages"),
        "engines_requested": spec.get("engines", {}),
        "version": row["version"],
        "device": row["device"],
        "created": row["created"],
        "started": row["started"],
        "finished": row["finished"],
        "frames_total": len(frames),
        "frames_done": row["frames_done"],
        "error": row["error"],
        "error_kind": row["error_kind"],
        "cancel_requested": bool(row["cancel_requested"]),
        "attempts": row["attempts"],
        "skipped": json.loads(row["skipped"]),
        "engines": json.loads(row["engines"]),
        "overhead_s": row["overhead_s"],
        "queue_position": store.queue_position(row["seq"]) if row["state"] == "queued" else None,
        "result": json.loads(row["result"]) if row["result"] else None,
    }
    if with_frames:
        done = store.frames_of(row["id"])
        view["progress"] = {str(f): done.get(f, "pending") for f in frames}
        nodes = frame_nodes(Path(row["shot_dir"]), row["version"])
        if nodes:
            view["nodes"] = nodes
    return view


def frame_nodes(shot_dir: Path, version: str | None) -> dict[str, str]:
    """Which node made each frame, from the version's record (jobs run on a farm write it)."""
    if not version:
        return {}
    from shotcache import params as version_params

    try:
        rec = version_params.read(ShotPaths(shot_dir).version_dir(version))
    except SchemaError:  # not a version name
        return {}
    return {f: m["node"] for f, m in rec.frames.items() if isinstance(m, dict) and m.get("node")}


def load_runner_class(ref: str) -> type:
    """``module:Class`` -> the class; a clear message when the pipeline is not installed."""
    module, _, name = ref.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise RuntimeError(f"the pipeline runner {ref} is not installed here ({exc}); this sidecar cannot run jobs") from exc
    try:
        return getattr(mod, name or "PipelineRunner")
    except AttributeError as exc:
        raise RuntimeError(f"{module} has no {name}; check the runner setting ({ref})") from exc


class LiveProgress:
    """Frames finished since the last SQLite flush, kept in memory between flushes.

    Why: a commit per frame costs little alone, but every sqlite3 call releases the GIL, and
    getting it back while the server and the frame prefetcher run can cost milliseconds. So
    the worker flushes at most every ``FLUSH_S``; views merge the unflushed frames in. A kill
    loses at most those progress rows, never a frame: on resume the frames on disk are counted.
    """

    FLUSH_S = 0.25

    def __init__(self) -> None:
        self.pending: dict[int, str] = {}
        self.done = 0
        self.flushed = time.monotonic()
        self.lock = threading.Lock()


def preload_engines() -> None:
    """Import every engine module once, before any thread may ask for the registry.

    Done synchronously at start-up so that /health answers only when jobs and
    /capabilities are ready, and so that no request sees a half-filled registry while
    another thread is still importing the engine modules.
    """
    try:
        from ml.stages.base import engines

        engines()
    except Exception as exc:  # a broken engine module: jobs that need it fail with the reason
        log.warning("engine modules could not all be imported: %s", exc)


class Worker(threading.Thread):
    """Runs jobs one after another on one device."""

    def __init__(self, queue: "JobQueue", device: str):
        super().__init__(name=f"vanelia-worker-{device}", daemon=True)
        self.queue = queue
        self.device = device
        self.current: str | None = None
        self._runner: Any = None

    def runner(self) -> Any:
        if self._runner is None:
            cls = load_runner_class(self.queue.runner_ref)
            self._runner = cls(device=self.device, checkpoints=dict(self.queue.checkpoints) or None)
        return self._runner

    def run(self) -> None:
        while not self.queue.stopping.is_set():
            row = self.queue.store.claim(self.device)
            if row is None:
                self.queue.wait_for_work(0.5)
                continue
            self.current = row["id"]
            try:
                self._run_job(row)
            finally:
                self.queue.flush(row["id"], drop=True)
                self.current = None
                self.queue.bump(row["id"])

    def _run_job(self, row: sqlite3.Row) -> None:
        if row["kind"] != "stages":
            self._run_app_job(row)
            return
        queue, store, job_id = self.queue, self.queue.store, row["id"]
        overhead = [0.0]
        live = queue.live_progress(job_id)
        queue.bump(job_id)
        try:
            spec = JobSpec.from_dict(json.loads(row["spec"]))
            shot_dir = Path(row["shot_dir"])
            if queue.guard is not None:
                queue.guard(shot_dir)  # links planted since submit are refused before any read or write
            runner = self.runner()
            version = row["version"]
            if not version:
                version = runner.prepare(spec, shot_dir)
                store.set_version(job_id, version)
            else:
                self._mark_frames_on_disk(job_id, shot_dir, version, json.loads(row["frames"]))
            queue.bump(job_id)

            def on_frame(frame: int, done: int, total: int) -> None:
                t0 = time.perf_counter()
                with live.lock:
                    live.pending[int(frame)] = "done"
                    live.done = max(live.done, int(done))
                queue.bump(job_id)
                if time.monotonic() - live.flushed > LiveProgress.FLUSH_S:
                    queue.flush(job_id)
                overhead[0] += time.perf_counter() - t0
                if queue.frame_delay_s:
                    time.sleep(queue.frame_delay_s)

            def should_cancel() -> bool:
                return queue.stopping.is_set() or job_id in queue.cancelled

            result = runner.run(spec, shot_dir, version=version, on_frame=on_frame, should_cancel=should_cancel)
            queue.flush(job_id)
            if job_id in queue.cancelled:
                raise JobCancelled()
            if queue.stopping.is_set():
                store.requeue(job_id, overhead[0])
                return
            skipped = {str(k): v for k, v in (getattr(result, "skipped", None) or {}).items()}
            if skipped:
                store.frames_done_batch(job_id, {int(k): f"skipped: {v}" for k, v in skipped.items()}, live.done)
            store.finish(job_id, "done", skipped=skipped, engines=getattr(result, "engines", {}), overhead_s=overhead[0])
        except JobCancelled:
            store.finish(job_id, "cancelled", error="cancelled by a client", overhead_s=overhead[0])
        except Exception as exc:  # a job failing must never take the worker down
            queue.flush(job_id)
            if job_id in queue.cancelled:
                store.finish(job_id, "cancelled", error="cancelled by a client", overhead_s=overhead[0])
            elif queue.stopping.is_set() and type(exc).__name__ in ("Cancelled", "JobCancelled", "CancelledError"):
                store.requeue(job_id, overhead[0])
            else:
                kind = _error_kind(exc)
                if kind == "internal":
                    log.error("job %s failed:\n%s", job_id, traceback.format_exc())
                store.finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}", error_kind=kind, overhead_s=overhead[0])

    def _run_app_job(self, row: sqlite3.Row) -> None:
        """A track or whole-run job: the app function runs start to end (a re-run after a
        crash starts it again; the run's shot cache makes that cheap when it keeps one)."""
        from . import app_jobs

        queue, store, job_id = self.queue, self.queue.store, row["id"]
        live = queue.live_progress(job_id)

        def on_progress(step: str, done: int, total: int) -> None:
            with live.lock:
                live.done = max(live.done, int(done))
            queue.bump(job_id)

        def log_line(line: str) -> None:
            log.info("job %s: %s", job_id, line)

        def should_stop() -> bool:
            return queue.stopping.is_set() or job_id in queue.cancelled

        try:
            result = app_jobs.execute(row["kind"], json.loads(row["spec"]), self.device, log_line, on_progress, should_stop)
            if job_id in queue.cancelled:
                store.finish(job_id, "cancelled", error="cancelled by a client")
            else:
                store.finish(job_id, "done", result=result, skipped=result.get("skipped"), engines=result.get("engines"))
        except Cancelled:
            if job_id in queue.cancelled:
                store.finish(job_id, "cancelled", error="cancelled by a client")
            else:  # the sidecar is stopping: the run starts again when it comes back (its shot cache, if kept, helps)
                store.requeue(job_id)
        except Exception as exc:  # a job failing must never take the worker down
            kind = _error_kind(exc)
            if kind == "internal":
                log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            store.finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}", error_kind=kind)

    def _mark_frames_on_disk(self, job_id: str, shot_dir: Path, version: str, frames: list[int]) -> None:
        """On resume, frames already in vNNN/frames count as done (the disk is the truth)."""
        paths = ShotPaths(shot_dir)
        known = self.queue.store.frames_of(job_id)
        found = {f: "done" for f in frames if f not in known and paths.version_frame(version, f).is_file()}
        if found:
            self.queue.store.frames_done_batch(job_id, found, 0)


class JobQueue:
    """Front door for the HTTP layer: submit, look up, cancel; owns the workers."""

    def __init__(self, db_path: Path, devices: list[str], *, runner: str, checkpoints: dict[str, str] | None = None,
                 frame_delay_s: float = 0.0, guard: Callable[[Path], None] | None = None, max_attempts: int = 3):
        self.store = JobStore(db_path)
        self.guard = guard
        """Called with a job's shot folder before it runs; raises to refuse it (server.policy)."""
        self.max_attempts = max_attempts
        self.devices = devices
        self.runner_ref = runner
        self.checkpoints = checkpoints or {}
        self.frame_delay_s = frame_delay_s
        self.stopping = threading.Event()
        self.cancelled: set[str] = set()
        self._work = threading.Condition()
        self._ticks: dict[str, int] = {}
        self._live: dict[str, LiveProgress] = {}
        self.workers: list[Worker] = []

    # ---- life cycle --------------------------------------------------------
    def start(self) -> None:
        preload_engines()
        resumed = self.store.recover(self.max_attempts)
        if resumed:
            log.info("resuming %d interrupted job(s): %s", len(resumed), ", ".join(resumed))
        self.workers = [Worker(self, d) for d in self.devices]
        for w in self.workers:
            w.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.wake()
        for w in self.workers:
            w.join(timeout)
        self.store.close()

    # ---- progress and events -------------------------------------------------------
    def live_progress(self, job_id: str) -> LiveProgress:
        return self._live.setdefault(job_id, LiveProgress())

    def flush(self, job_id: str, drop: bool = False) -> None:
        live = self._live.get(job_id)
        if live is None:
            return
        with live.lock:
            pending, live.pending = live.pending, {}
            live.flushed = time.monotonic()
            done = live.done
        if pending:
            self.store.frames_done_batch(job_id, pending, done)
        if drop:
            self._live.pop(job_id, None)

    def wake(self) -> None:
        with self._work:
            self._work.notify_all()

    def wait_for_work(self, timeout: float) -> None:
        with self._work:
            self._work.wait(timeout)

    def bump(self, job_id: str) -> None:
        """Tell event-stream listeners that this job changed (a counter: no lock, no I/O)."""
        self._ticks[job_id] = self._ticks.get(job_id, 0) + 1

    def tick(self, job_id: str) -> int:
        return self._ticks.get(job_id, 0)

    # ---- API ---------------------------------------------------------------------
    def submit(self, spec: JobSpec, shot_dir: Path, frames: list[int]) -> str:
        return self.submit_body(spec.to_dict(), shot_dir, frames)

    def submit_body(self, body: dict[str, Any], shot_dir: Path, frames: list[int], kind: str = "stages") -> str:
        """Queue a job of any kind (its body already checked by the API layer)."""
        job_id = self.store.insert(body, shot_dir, frames, kind)
        self.bump(job_id)
        self.wake()
        return job_id

    def get(self, job_id: str, with_frames: bool = True) -> dict[str, Any]:
        row = self.store.get_row(job_id)
        if row is None:
            raise JobNotFound(job_id)
        view = job_view(self.store, row, with_frames)
        live = self._live.get(job_id)
        if live is not None:
            with live.lock:
                pending, done = dict(live.pending), live.done
            view["frames_done"] = max(view["frames_done"], done)
            if with_frames:
                view["progress"].update({str(f): st for f, st in pending.items() if str(f) in view["progress"]})
        return view

    def shot_dir(self, job_id: str) -> Path:
        row = self.store.get_row(job_id)
        if row is None:
            raise JobNotFound(job_id)
        return Path(row["shot_dir"])

    def list(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return [job_view(self.store, r, with_frames=False) for r in self.store.rows(state, limit)]

    def cancel(self, job_id: str) -> dict[str, Any]:
        self.store.request_cancel(job_id)
        self.cancelled.add(job_id)
        self.bump(job_id)
        return self.get(job_id, with_frames=False)

    def busy_devices(self) -> dict[str, str | None]:
        return {w.device: w.current for w in self.workers}
