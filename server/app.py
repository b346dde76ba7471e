"""The sidecar's HTTP API (FastAPI): the one front door to the job queue.

Every request is checked before anything happens, cheapest first: the body size (limits.
BodyLimit, from Content-Length, before the token and before the body is read); a cross-site
guard (a state-changing request needs a JSON/octet-stream body, the X-Vanelia-Client header or
the token: no web page can send those to us); the token; the body parsed strictly by pydantic
from the dataclasses of shotcache.schema (one definition for the OpenAPI schema and the
Blender client); list and string sizes (limits); what the job may reach (policy: no URLs,
no paths outside the configured folders, no links out of the shot). Each failure is a 4xx
whose ``detail`` is a sentence for a human (the ``Problem`` schema, documented per route);
shotcache.errors decides the status, so a bad request is never a 500.

Routes::

    GET  /health                       {status, protocol, version}
    GET  /capabilities                 stages, engines, device(s), checkpoints, GPU memory
    POST /jobs                         JobSpec -> {id, ...}   (the stages of a rendered shot)
    POST /track, POST /run             TrackRequest / RunRequest -> {id, ...} (app.track, app.run)
    GET  /jobs, GET /jobs/{id}         state, per-frame progress, version, engines, error
    GET  /jobs/{id}/events             server-sent events until the job ends
    POST /jobs/{id}/cancel             stage jobs stop at the next frame; a run stops at once, its Blender step too
    POST /uploads                      tar/zip body -> {shot: "upload:<id>"}
    GET  /jobs/{id}/results            finished frames of the job's version
    GET  /jobs/{id}/results/{frame}    one PNG
"""
from __future__ import annotations

import logging
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, TypeAdapter, ValidationError

from shotcache.errors import OS_USER_ERRORS, UserError, http_status
from shotcache.layout import ShotPaths
from shotcache.schema import JOB_STATES, PROTOCOL_VERSION, STAGES, JobSpec, RunRequest, SchemaError, TrackRequest

from . import uploads
from shotcache.net import is_loopback

from .config import ServerConfig
from .events import job_events
from .jobs import JobQueue
from .limits import BodyLimit, check_job_sizes, check_request_sizes
from .policy import check_job, check_shot_tree
from .security import confine, resolve_shot, token_ok

log = logging.getLogger("vanelia.server")

try:
    from importlib.metadata import version as _pkg_version

    VERSION = _pkg_version("vanelia")
except Exception:  # running from a source tree that is not installed
    VERSION = "0.1.0"

_bearer = HTTPBearer(auto_error=False, description="Needed when the sidecar was started with --token")
_BODIES: dict[type, TypeAdapter] = {cls: TypeAdapter(cls) for cls in (JobSpec, TrackRequest, RunRequest)}
"""Request bodies the server parses itself, strictly (their schemas go into OpenAPI by hand)."""
CLIENT_HEADER = "x-vanelia-client"
"""A header only a program sets: with it (or a JSON body, or the token) a state-changing
request cannot have come from a cross-site form or a no-CORS fetch."""
_NON_SIMPLE_TYPES = ("application/json", "application/octet-stream")
"""Content types a web page cannot send to another site without a CORS preflight (which this
server never grants)."""


class Problem(BaseModel):
    """Every refusal: ``detail`` is one sentence for a human (what is wrong, what to do);
    request validation failures (422) add the per-field ``errors``."""

    detail: str
    errors: list[dict[str, Any]] | None = None


def _doc(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the refusals a route can answer."""
    words = {400: "malformed request", 401: "missing or wrong token", 403: "outside what this sidecar allows",
             404: "no such job, frame or shot", 409: "the job already ended", 413: "request body or upload too large",
             415: "wrong content type (state-changing requests need JSON, octet-stream or the X-Vanelia-Client header)",
             421: "Host header names another host", 422: "the request does not validate"}
    return {c: {"model": Problem, "description": words[c]} for c in codes}


_AUTH = (401, 421)
_CHANGE = (*_AUTH, 413, 415)


def parse_body(cls: type, body: bytes) -> Any:
    """The request body as ``cls`` (JobSpec, TrackRequest, RunRequest), strictly: JSON types
    must match (seed "7", frames [true] and allow_fallback "yes" are refused, as are NaN,
    Infinity and lone surrogates, which a lax parse let through to a 500)."""
    try:
        return _BODIES[cls].validate_json(body, strict=True)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None


def _body_doc(cls: type) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{cls.__name__}"}}}}}


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for e in errors[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


def create_app(config: ServerConfig, queue: JobQueue | None = None) -> FastAPI:
    """Build the app; the job queue starts with the app and stops with it."""
    config.check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        q = queue or JobQueue(config.database, config.devices(), runner=config.runner,
                              checkpoints=config.runner_checkpoints(), frame_delay_s=config.frame_delay_s,
                              guard=lambda d: check_shot_tree(d, allowed_roots(config)), max_attempts=config.max_attempts)
        app.state.queue = q
        removed = uploads.sweep(config.upload_dir, q.store.active_shot_dirs(), config.upload_ttl_s, startup=True)
        if removed:
            log.info("removed %d stale upload(s) and partial upload file(s)", len(removed))
        q.start()
        try:
            yield
        finally:
            q.stop()

    app = FastAPI(title="Vanelia sidecar", version=VERSION, lifespan=lifespan,
                  description=f"Job server for the Vanelia pipeline (protocol {PROTOCOL_VERSION}).")
    app.state.config = config

    async def require_token(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        header = request.headers.get("authorization")
        if not token_ok(config.token, header):
            raise HTTPException(401, "missing or wrong token: send 'Authorization: Bearer <token>' with the token the sidecar was started with",
                                headers={"WWW-Authenticate": "Bearer"})

    def q(request: Request) -> JobQueue:
        return request.app.state.queue

    _install_error_handlers(app)
    auth = [Depends(require_token)]

    @app.middleware("http")
    async def loopback_host_only(request: Request, call_next: Any) -> Any:
        """Without a token the API is open to this machine only; a Host header naming another
        host means a browser was tricked into calling us (DNS rebinding), so refuse it."""
        if not config.token and not host_header_ok(request.headers.get("host", "")):
            return JSONResponse({"detail": "this sidecar accepts requests for 127.0.0.1/localhost only; "
                                           "start it with --token to serve other host names"}, status_code=421)
        return await call_next(request)

    @app.middleware("http")
    async def no_cross_site_writes(request: Request, call_next: Any) -> Any:
        """A browser page may POST a form or a no-CORS fetch to any address, loopback too; such
        a request carries neither a JSON/octet-stream body type, nor our header, nor a token."""
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if not (ctype in _NON_SIMPLE_TYPES or request.headers.get(CLIENT_HEADER) or request.headers.get("authorization")):
                return JSONResponse({"detail": f"state-changing requests need Content-Type: application/json "
                                               f"(application/octet-stream for uploads) or an X-Vanelia-Client header, "
                                               f"got {ctype or 'no content type'}; web pages cannot send these across sites"},
                                    status_code=415)
        return await call_next(request)

    app.add_middleware(BodyLimit, upload_limit=config.upload_limit)  # outermost: before auth, before the body is read

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "protocol": PROTOCOL_VERSION, "version": VERSION}

    @app.get("/capabilities", tags=["meta"], dependencies=auth, responses=_doc(*_AUTH))
    def capabilities(request: Request) -> dict[str, Any]:
        return _capabilities(config, q(request))

    @app.post("/jobs", tags=["jobs"], dependencies=auth, status_code=201, responses=_doc(*_CHANGE, 400, 403, 404, 422),
              openapi_extra=_body_doc(JobSpec))
    async def submit(request: Request) -> dict[str, Any]:
        spec = parse_body(JobSpec, await request.body())
        return await run_in_threadpool(_submit, spec, request)

    def _submit(spec: JobSpec, request: Request) -> dict[str, Any]:
        check_job_sizes(spec)
        spec.validate()
        check_job(spec, remotes=config.remotes, checkpoint_roots=config.job_checkpoint_roots(),
                  model_roots=config.model_roots, shot_roots=config.shot_roots)
        shot_dir = resolve_shot(spec.shot, config.shot_roots, config.upload_dir)
        check_shot_tree(shot_dir, allowed_roots(config))
        shot = ShotPaths(shot_dir).load_shot()
        frames = list(shot.frames) if spec.frames is None else [int(f) for f in spec.frames]
        if not frames:
            raise SchemaError(f"shot {spec.shot!r} has no frames to process; give frames or render the shot first")
        missing = sorted(set(frames) - set(shot.frames))
        if missing:
            raise SchemaError(f"frames {missing[:10]} are not in shot {spec.shot!r} (it has {shot.frames[0]}..{shot.frames[-1]} "
                              f"if non-empty); ask for frames the shot has") if shot.frames else SchemaError(
                f"shot {spec.shot!r} lists no frames; render it first")
        if len(set(frames)) != len(frames):
            raise SchemaError("job.frames has duplicates")
        job_id = q(request).submit(spec, shot_dir, frames)
        return q(request).get(job_id, with_frames=False)

    def submit_app_job(kind: str, request: Request, body: Any) -> dict[str, Any]:
        from . import app_jobs

        check_app_request(kind, body, config)
        queued, out_dir = app_jobs.prepare(kind, body, config.shot_roots)
        job_id = q(request).submit_body(queued, out_dir, [], kind=kind)
        return q(request).get(job_id, with_frames=False)

    @app.post("/track", tags=["jobs"], dependencies=auth, status_code=201, responses=_doc(*_CHANGE, 403, 404, 422),
              openapi_extra=_body_doc(TrackRequest))
    async def submit_track(request: Request) -> dict[str, Any]:
        """Solve the camera of a plate inside the shot roots (app.track, as `vanelia track`)."""
        body = parse_body(TrackRequest, await request.body())
        return await run_in_threadpool(submit_app_job, "track", request, body)

    @app.post("/run", tags=["jobs"], dependencies=auth, status_code=201, responses=_doc(*_CHANGE, 403, 404, 422),
              openapi_extra=_body_doc(RunRequest))
    async def submit_run(request: Request) -> dict[str, Any]:
        """The whole pipeline on files inside the shot roots (app.run, as `vanelia run`)."""
        body = parse_body(RunRequest, await request.body())
        return await run_in_threadpool(submit_app_job, "run", request, body)

    @app.get("/jobs", tags=["jobs"], dependencies=auth, responses=_doc(*_AUTH, 422))
    def list_jobs(request: Request, state: str | None = Query(None, description=f"one of {', '.join(JOB_STATES)}"),
                  limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        if state is not None and state not in JOB_STATES:
            raise HTTPException(422, f"unknown job state {state!r}; states are {', '.join(JOB_STATES)}")
        return q(request).list(state, limit)

    @app.get("/jobs/{job_id}", tags=["jobs"], dependencies=auth, responses=_doc(*_AUTH, 404, 422))
    def job_status(job_id: str, request: Request) -> dict[str, Any]:
        job = q(request).get(job_id)
        record = uploads.params_of(q(request).shot_dir(job_id), job["version"])
        job["frame_engines"] = {f: {s: m.get("engine") for s, m in meta.items() if isinstance(m, dict) and "engine" in m}
                                for f, meta in (record.get("frames") or {}).items() if isinstance(meta, dict)}
        return job

    @app.get("/jobs/{job_id}/events", tags=["jobs"], dependencies=auth,
             responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}, **_doc(*_AUTH, 404, 422)})
    def events(job_id: str, request: Request,
               heartbeat: float = Query(15.0, ge=0.05, le=300.0, description="seconds between keep-alives while idle")) -> StreamingResponse:
        q(request).get(job_id, with_frames=False)  # 404 before the stream starts
        return StreamingResponse(job_events(q(request), job_id, heartbeat=heartbeat), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/jobs/{job_id}/cancel", tags=["jobs"], dependencies=auth, responses=_doc(*_CHANGE, 404, 409, 422))
    def cancel(job_id: str, request: Request) -> dict[str, Any]:
        return q(request).cancel(job_id)

    @app.post("/uploads", tags=["uploads"], dependencies=auth, status_code=201, responses=_doc(*_CHANGE, 400), openapi_extra={
        "requestBody": {"required": True, "description": "tar, tar.gz or zip archive of a shot folder",
                        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    async def upload(request: Request) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            # the content types a web page may send cross-site without asking: never an archive
            raise HTTPException(415, f"send the archive as application/octet-stream, not {ctype}")
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise HTTPException(400, f"bad Content-Length header {declared!r}")
            if int(declared) > config.upload_limit:
                raise HTTPException(413, f"upload of {declared} bytes is over this sidecar's limit of {config.upload_limit} bytes; "
                                         "send fewer frames or start it with a larger --upload-limit")
        archive = await uploads.save_stream(request.stream(), config.upload_dir, config.upload_limit)
        shot = await run_in_threadpool(uploads.unpack, archive, config.upload_dir, config.upload_limit)
        await run_in_threadpool(uploads.sweep, config.upload_dir, q(request).store.active_shot_dirs(), config.upload_ttl_s)
        return {"shot": shot}

    @app.get("/jobs/{job_id}/results", tags=["results"], dependencies=auth, responses=_doc(*_AUTH, 404, 422))
    def results(job_id: str, request: Request) -> dict[str, Any]:
        job = q(request).get(job_id, with_frames=False)
        shot_dir = q(request).shot_dir(job_id)
        frames = uploads.result_frames(shot_dir, job["version"])
        for f in frames:
            f["url"] = f"/jobs/{job_id}/results/{f['frame']}"
        return {"job": job_id, "state": job["state"], "version": job["version"], "frames": frames,
                "params": uploads.params_of(shot_dir, job["version"])}

    @app.get("/jobs/{job_id}/results/{frame}", tags=["results"], dependencies=auth,
             responses={200: {"content": {"image/png": {}}, "description": "the composited frame"}, **_doc(*_AUTH, 404, 422)})
    def result_frame(job_id: str, frame: int, request: Request) -> FileResponse:
        job = q(request).get(job_id, with_frames=False)
        if not job["version"]:
            raise HTTPException(404, f"job {job_id} has no output yet (state {job['state']})")
        shot_dir = q(request).shot_dir(job_id)
        path = ShotPaths(shot_dir).version_frame(job["version"], frame)
        if not (0 <= frame <= 10**9) or not path.is_file() or not uploads.within(shot_dir, path):
            raise HTTPException(404, f"frame {frame} of job {job_id} is not finished (or not part of the job)")
        return FileResponse(path, media_type="image/png")

    _document_job_schema(app)
    return app


def allowed_roots(config: ServerConfig) -> list[Path]:
    """Where a shot's contents (links followed) may lie: the shot roots and the upload folder."""
    return [*config.shot_roots, Path(config.upload_dir).resolve()]


def check_app_request(kind: str, body: Any, config: ServerConfig) -> None:
    """A /track or /run request within the sizes, naming no URL, no outside path, no remote
    backend the server lacks, and keeping no shot whose links leave the roots (as /jobs)."""
    check_request_sizes(body, kind)
    params, engines = getattr(body, "params", {}) or {}, getattr(body, "engines", {}) or {}
    check_job(JobSpec(shot="-", params=params, engines=engines), remotes=config.remotes,
              checkpoint_roots=config.job_checkpoint_roots(), model_roots=config.model_roots, shot_roots=config.shot_roots)
    keep = getattr(body, "keep", None)
    if keep:
        folder = confine(keep, config.shot_roots, what=f"{kind}.keep")
        if folder.is_dir():
            check_shot_tree(folder, allowed_roots(config))


def _document_job_schema(app: FastAPI) -> None:
    """The job routes read their bodies themselves (strict parsing); put their schemas into
    the OpenAPI document by hand."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = plain()
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for cls, adapter in _BODIES.items():
                schemas[cls.__name__] = adapter.json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def host_header_ok(host: str) -> bool:
    """Host header (with optional port) names the loopback interface."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1:host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return is_loopback(name)


def _install_error_handlers(app: FastAPI) -> None:
    """Known error types -> their 4xx, with the human message as ``detail``."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the offending input is not echoed: it may be NaN (not JSON), huge, or not text
        plain = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in exc.errors()]
        errors = jsonable_encoder(plain, custom_encoder={Exception: str, bytes: lambda b: b.decode("utf-8", "replace")})
        return JSONResponse({"detail": _validation_message(errors), "errors": errors}, status_code=422)

    async def _user_error(request: Request, exc: Exception) -> JSONResponse:
        # shotcache.errors decides the status; a bug is not caught here and stays a 500
        return JSONResponse({"detail": str(exc).strip("'\"")}, status_code=http_status(exc))

    handled: tuple[type[Exception], ...] = (UserError, *OS_USER_ERRORS)
    for cls in handled:
        app.add_exception_handler(cls, _user_error)


def _capabilities(config: ServerConfig, queue: JobQueue) -> dict[str, Any]:
    from ml.stages.base import engines

    per_stage: dict[str, list[dict[str, Any]]] = {s: [] for s in STAGES}
    for (stage, name), cls in sorted(engines().items()):
        per_stage.setdefault(stage, []).append({"name": name, "learned": bool(cls.learned), "needs": list(cls.needs),
                                                "fallback": cls.fallback})
    loaded: dict[str, Any] = {}
    for w in queue.workers:
        loaded[w.device] = _loaded_checkpoints(w._runner)
    return {
        "protocol": PROTOCOL_VERSION,
        "version": VERSION,
        "stages": list(STAGES),
        "engines": per_stage,
        "device": config.device,
        "devices": queue.busy_devices(),
        "checkpoints_configured": dict(config.checkpoints),
        "engines_loaded": loaded,
        "gpu_memory": _gpu_memory(),
        "upload_limit": config.upload_limit,
        "shot_roots": [str(r) for r in config.shot_roots],
        "time": time.time(),
    }


def _loaded_checkpoints(runner: Any) -> list[dict[str, Any]]:
    """Engines a worker's runner has set up (and those that failed to load, with why)."""
    if runner is None:
        return []
    for name in ("loaded_engines", "loaded_checkpoints"):
        public = getattr(runner, name, None)
        if callable(public):
            return list(public())
    return []


def _gpu_memory() -> dict[str, Any]:
    """Free/total bytes per visible GPU, where torch sees CUDA; {} elsewhere."""
    try:
        import torch
    except ImportError:
        return {}
    if not torch.cuda.is_available():
        return {}
    out = {}
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        out[f"cuda:{i}"] = {"free": int(free), "total": int(total), "name": torch.cuda.get_device_name(i)}
    return out


def serve(config: ServerConfig, log_level: str = "info") -> None:
    """Run the server in this process until interrupted (what `vanelia serve` does)."""
    import uvicorn

    app = create_app(config)
    print(f"vanelia sidecar: http://{config.host}:{config.port} (protocol {PROTOCOL_VERSION}); "
          f"shot roots: {', '.join(map(str, config.shot_roots)) or 'none (uploads only)'}; jobs db: {config.database}",
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level, timeout_graceful_shutdown=5)
