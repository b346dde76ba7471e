"""HTTP client of the Vanelia sidecar: the one used by Blender and by the CLI.

Only ``requests`` and the stdlib (both exist in Blender's Python), and only relative
imports inside ``shotcache``, so the same file works as ``vanelia_addon.shotcache.client``
inside Blender and as ``shotcache.client`` in the sidecar environment.

Every failure a user can meet becomes a ``SidecarError`` whose message says what happened
and what to do, with ``kind`` for code that wants to react:

    unreachable    nothing answers at the URL (names it, says how to start the sidecar)
    protocol       the sidecar speaks another protocol version
    auth           missing or wrong token
    bad_request    the sidecar refused the request (its own 4xx message)
    out_of_memory  a job ran out of GPU memory
    failed         a job failed for another reason (the sidecar's message)
    server         the sidecar answered 5xx or garbage
"""
from __future__ import annotations

import json
import os
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import requests

from .errors import UserError
from .layout import atomic_write_bytes, atomic_write_json, frame_name
from .schema import PROTOCOL_VERSION, JobSpec

TERMINAL = ("done", "failed", "cancelled")
START_HINT = ("start it with `vanelia serve --port {port}` (in the sidecar environment), or let Blender start it: "
              "Preferences > Add-ons > Vanelia > Sidecar: Start Locally")


class SidecarError(UserError, RuntimeError):
    """A sidecar request or job failed; ``kind`` says how (see the module docstring)."""

    def __init__(self, message: str, kind: str = "server", status: int | None = None, job: dict | None = None):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.job = job


def _port_of(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return str(urlsplit(url).port or 8765)
    except ValueError:
        return "8765"


def job_error(job: dict[str, Any]) -> SidecarError:
    """A failed job's error as a SidecarError with advice fitting its kind."""
    jid, err, kind = job.get("id"), job.get("error") or "unknown error", job.get("error_kind") or "failed"
    if kind == "out_of_memory":
        return SidecarError(
            f"the sidecar ran out of GPU memory on job {jid} ({err}); lower the resolution or frame size, "
            "choose classical engines, or free the GPU (close other GPU programs) and submit again",
            kind="out_of_memory", job=job)
    return SidecarError(f"job {jid} failed: {err}", kind="bad_request" if kind == "bad_input" else "failed", job=job)


class SidecarClient:
    """Talks to one sidecar. Thread-safe enough for one worker thread per client."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.token = token or None
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # a proxy from the environment must not see loopback traffic
        if self.token:
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    # ---- plumbing ------------------------------------------------------------
    def _request(self, method: str, path: str, *, timeout: float | tuple[float, float] | None = None, **kw: Any) -> requests.Response:
        url = self.url + path
        try:
            resp = self.session.request(method, url, timeout=timeout or self.timeout, **kw)
        except requests.exceptions.ConnectionError as exc:
            raise SidecarError(f"the Vanelia sidecar at {self.url} is not running or unreachable "
                               f"({type(exc).__name__}); " + START_HINT.format(port=_port_of(self.url)), kind="unreachable") from exc
        except requests.exceptions.Timeout as exc:
            wait_s = timeout[-1] if isinstance(timeout, tuple) else (timeout or self.timeout)
            raise SidecarError(f"the Vanelia sidecar at {self.url} did not answer within {wait_s:.0f} s "
                               "(busy or hung); check its console, or restart it", kind="unreachable") from exc
        except requests.exceptions.RequestException as exc:
            raise SidecarError(f"request to the sidecar at {url} failed: {exc}", kind="unreachable") from exc
        if resp.status_code < 400:
            return resp
        detail = _detail(resp)
        if resp.status_code == 401:
            raise SidecarError(f"the sidecar at {self.url} refused the token ({detail}); set the same token in "
                               "Preferences > Add-ons > Vanelia > Token (or --token) as the sidecar's", kind="auth", status=401)
        if resp.status_code == 413:
            raise SidecarError(f"the sidecar refused the upload as too large: {detail}", kind="bad_request", status=413)
        if resp.status_code < 500:
            raise SidecarError(f"the sidecar refused {method} {path}: {detail}", kind="bad_request", status=resp.status_code)
        raise SidecarError(f"the sidecar at {self.url} failed on {method} {path} (HTTP {resp.status_code}): {detail}",
                           kind="server", status=resp.status_code)

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        resp = self._request(method, path, **kw)
        try:
            return resp.json()
        except ValueError as exc:
            raise SidecarError(f"{self.url}{path} did not answer JSON; is this a Vanelia sidecar?", kind="server") from exc

    # ---- API -----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Check that a sidecar of our protocol version answers; raise SidecarError otherwise."""
        info = self._json("GET", "/health", timeout=min(self.timeout, 5.0))
        if not isinstance(info, dict) or "protocol" not in info:
            raise SidecarError(f"{self.url} answered, but not as a Vanelia sidecar (no protocol in /health)", kind="protocol")
        if info["protocol"] != PROTOCOL_VERSION:
            raise SidecarError(
                f"the sidecar at {self.url} speaks protocol {info['protocol']} (Vanelia {info.get('version', '?')}), "
                f"this client speaks protocol {PROTOCOL_VERSION}; install the same Vanelia version on both sides",
                kind="protocol")
        return info

    def capabilities(self) -> dict[str, Any]:
        # the first call after start may wait for the engine modules to import (seconds)
        return self._json("GET", "/capabilities", timeout=max(self.timeout, 60.0))

    def submit(self, spec: dict[str, Any] | JobSpec) -> str:
        body = spec.to_dict() if isinstance(spec, JobSpec) else dict(spec)
        return str(self._json("POST", "/jobs", json=body)["id"])

    def track(self, request: dict[str, Any]) -> str:
        """Queue a camera solve (shotcache.schema.TrackRequest) on the sidecar; returns the job id."""
        return str(self._json("POST", "/track", json=dict(request))["id"])

    def run(self, request: dict[str, Any]) -> str:
        """Queue the whole pipeline (shotcache.schema.RunRequest) on the sidecar; returns the job id."""
        return str(self._json("POST", "/run", json=dict(request))["id"])

    def status(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{job_id}")

    def jobs(self, state: str | None = None) -> list[dict[str, Any]]:
        return self._json("GET", "/jobs", params={"state": state} if state else None)

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._json("POST", f"/jobs/{job_id}/cancel")

    def events(self, job_id: str, read_timeout: float = 60.0, heartbeat: float | None = None) -> Iterator[dict[str, Any]]:
        """Server-sent events of a job: yields {"event": name, "job": {...}} until it ends.

        With ``heartbeat`` the sidecar sends a keep-alive every that many seconds while
        nothing changes, yielded as {"event": "heartbeat", "job": None}: a chance for the
        caller to check for cancellation without polling the server.
        """
        params = {"heartbeat": heartbeat} if heartbeat else None
        resp = self._request("GET", f"/jobs/{job_id}/events", stream=True, timeout=(self.timeout, read_timeout), params=params)
        with resp:
            event, data = "message", []  # type: str, list[str]
            for line in resp.iter_lines(chunk_size=1024):
                raw = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
                if raw == "":
                    if data:
                        payload = json.loads("\n".join(data))
                        yield {"event": event, "job": payload}
                        if event in ("end", "error"):
                            return
                    event, data = "message", []
                elif raw.startswith(":"):
                    yield {"event": "heartbeat", "job": None}
                elif raw.startswith("event:"):
                    event = raw[6:].strip()
                elif raw.startswith("data:"):
                    data.append(raw[5:].lstrip())

    def wait(self, job_id: str, progress: Callable[[dict[str, Any]], None] | None = None,
             should_cancel: Callable[[], bool] | None = None, poll: float = 0.25, timeout: float | None = None,
             stream: bool = True) -> dict[str, Any]:
        """Block until the job ends; return the final job. Failed jobs raise SidecarError.

        ``progress(job)`` is called on every change; ``should_cancel()`` is checked at least
        every ``poll`` seconds and, when true, cancels the job on the sidecar (the cancelled
        job is returned). Follows the event stream (one message per frame, nothing while
        idle); if the stream breaks, falls back to polling the job's status.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        state: dict[str, Any] = {"last": None, "cancel_sent": False}

        def seen(job: dict[str, Any]) -> dict[str, Any] | None:
            key = (job.get("state"), job.get("frames_done"))
            if progress and key != state["last"]:
                progress(job)
            state["last"] = key
            if job.get("state") in TERMINAL:
                if job["state"] == "failed":
                    raise job_error(job)
                return job
            return None

        def tick(job: dict[str, Any] | None) -> None:
            if should_cancel and not state["cancel_sent"] and should_cancel():
                try:
                    self.cancel(job_id)
                except SidecarError as exc:
                    if exc.status != 409:  # 409: ended meanwhile; the next status says how
                        raise
                state["cancel_sent"] = True
            if deadline is not None and time.monotonic() > deadline:
                raise SidecarError(f"job {job_id} did not finish within {timeout} s", kind="failed", job=job)

        if stream:
            try:
                for ev in self.events(job_id, read_timeout=max(30.0, 4 * poll), heartbeat=poll):
                    if ev["job"] is not None and ev["event"] != "error":
                        done = seen(ev["job"])
                        if done is not None:
                            return done
                    tick(ev["job"])
            except (requests.exceptions.RequestException, ValueError):
                pass  # stream broken (proxy, restart): poll instead
        while True:
            job = self.status(job_id)
            done = seen(job)
            if done is not None:
                return done
            tick(job)
            time.sleep(poll)

    # ---- remote mode: shots up, results down ----------------------------------------
    def upload_shot(self, shot_dir: str | os.PathLike[str]) -> str:
        """Send a shot folder (shot.json, plate/, render/, masks/) and return ``upload:<id>``."""
        shot_dir = Path(shot_dir)
        if not (shot_dir / "shot.json").is_file():
            raise SidecarError(f"{shot_dir} has no shot.json; build the shot first", kind="bad_request")
        with tempfile.TemporaryFile() as fh:
            with tarfile.open(fileobj=fh, mode="w:gz", compresslevel=1) as tf:
                tf.add(shot_dir / "shot.json", arcname="shot.json")
                for sub in ("plate", "render", "masks"):
                    folder = shot_dir / sub
                    if folder.is_dir():
                        for p in sorted(folder.iterdir()):
                            if p.is_file() and not p.name.startswith("."):
                                tf.add(p, arcname=f"{sub}/{p.name}")
            size = fh.tell()
            fh.seek(0)
            info = self._json("POST", "/uploads", data=fh, timeout=max(self.timeout, 600.0),
                              headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        return str(info["shot"])

    def results(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{job_id}/results")

    def download_results(self, job_id: str, dest: str | os.PathLike[str]) -> list[Path]:
        """Fetch a job's finished frames into ``dest/frames/`` (+ params.json); skips frames
        already there with the same size, so an interrupted download just continues."""
        dest = Path(dest)
        listing = self.results(job_id)
        out = []
        for item in listing.get("frames", []):
            target = dest / "frames" / frame_name(int(item["frame"]), "png")
            if not (target.is_file() and target.stat().st_size == item.get("bytes")):
                resp = self._request("GET", f"/jobs/{job_id}/results/{int(item['frame'])}", timeout=max(self.timeout, 120.0))
                atomic_write_bytes(target, resp.content)
            out.append(target)
        if listing.get("params"):
            atomic_write_json(dest / "params.json", listing["params"])
        return out


def _detail(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or resp.reason or "").strip()[:300]
    if isinstance(body, dict) and "detail" in body:
        d = body["detail"]
        return d if isinstance(d, str) else json.dumps(d)[:300]
    return json.dumps(body)[:300]


__all__ = ["SidecarClient", "SidecarError", "job_error", "TERMINAL"]
