"""How much one request may ask of the sidecar: body size, list lengths, string sizes, pixels.

Why here and why early: a request is refused before it costs anything. The body limit is an
ASGI middleware, so it answers 413 from the ``Content-Length`` header alone -- before the
token is checked and before one byte of the body is read -- and stops a body sent without a
length as soon as it passes the limit. A job that parses is then checked against the sizes
below (a 12-million-element frame list or a 50 MB ``params`` would otherwise be stored and
re-read on every ``GET /jobs``). Each refusal names the field and the limit.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from shotcache.errors import UserError
from shotcache.schema import STAGES, JobSpec, SchemaError

JSON_BODY_LIMIT = 1 << 20
"""Largest JSON request body (bytes); a job with 100,000 frame numbers fits in ~0.7 MB."""
MAX_FRAMES = 100_000
MAX_FRAME_NUMBER = 10**9
MAX_PATH_CHARS = 4096
MAX_NAME_BYTES = 255
"""One path component, as most file systems allow."""
MAX_CHECKPOINTS = 32
MAX_PARAMS_BYTES = 64 * 1024
MAX_PARAMS_DEPTH = 8
MAX_STRING_CHARS = 16 * 1024
"""Longest string inside ``params`` (a prompt)."""


class BodyTooLarge(UserError, ValueError):
    """The request body is over the limit of its route (413)."""

    http_status = 413


def body_limit_for(path: str, upload_limit: int) -> int:
    return upload_limit if path.rstrip("/") == "/uploads" else JSON_BODY_LIMIT


def _too_large(limit: int) -> str:
    return (f"request body is larger than this sidecar's limit of {limit} bytes for this route; "
            "send less (fewer frames, smaller params) or, for uploads, start the sidecar with a larger --upload-limit")


class BodyLimit:
    """ASGI middleware: 413 on a declared Content-Length over the limit (nothing read, no auth
    consulted), and ``BodyTooLarge`` from ``receive`` once an undeclared body passes it."""

    def __init__(self, app: Any, upload_limit: int):
        self.app = app
        self.upload_limit = upload_limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        limit = body_limit_for(scope.get("path", ""), self.upload_limit)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _reply(send, 400, f"bad Content-Length header {declared.decode('latin-1')[:40]!r}")
            if int(declared) > limit:
                return await _reply(send, 413, _too_large(limit))
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(_too_large(limit))
            return message

        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message.get("type") == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except Exception as exc:  # raised from receive, possibly through a task group
            if not _is_too_large(exc) or started:
                raise
            await _reply(send, 413, _too_large(limit))


def _is_too_large(exc: BaseException) -> bool:
    if isinstance(exc, BodyTooLarge):
        return True
    inner = getattr(exc, "exceptions", None) or ([exc.__cause__] if exc.__cause__ else [])
    return any(_is_too_large(e) for e in inner)


async def _reply(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def check_text(value: str, what: str, max_chars: int = MAX_PATH_CHARS) -> None:
    """A string that can become a file name or be stored: UTF-8 encodable, bounded."""
    if len(value) > max_chars:
        raise SchemaError(f"{what} is {len(value)} characters long; the limit is {max_chars}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SchemaError(f"{what} contains a lone surrogate (not valid Unicode text); send UTF-8 text") from None


def check_path_text(value: str, what: str) -> None:
    check_text(value, what)
    long = [p for p in value.replace("\\", "/").split("/") if len(p.encode("utf-8")) > MAX_NAME_BYTES]
    if long:
        raise SchemaError(f"{what}: a path component is {len(long[0].encode('utf-8'))} bytes long; "
                          f"file systems allow {MAX_NAME_BYTES}")


def check_json_value(value: Any, what: str, depth: int = 0) -> None:
    """Finite numbers, valid bounded strings, bounded nesting: what can be stored and echoed."""
    if depth > MAX_PARAMS_DEPTH:
        raise SchemaError(f"{what} is nested more than {MAX_PARAMS_DEPTH} levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(f"{what} is {value}; numbers must be finite")
    if isinstance(value, str):
        check_text(value, what, MAX_STRING_CHARS)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(str(k), f"{what} key", 256)
            check_json_value(v, f"{what}.{k}", depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_json_value(v, f"{what}[{i}]", depth + 1)


def check_job_sizes(spec: JobSpec) -> None:
    """Every field of a parsed job within bounds; SchemaError (422) naming the first that is not."""
    check_path_text(spec.shot, "job.shot")
    if len(spec.stages) > len(STAGES):
        raise SchemaError(f"job.stages has {len(spec.stages)} entries; there are {len(STAGES)} stages")
    if spec.frames is not None:
        if len(spec.frames) > MAX_FRAMES:
            raise SchemaError(f"job.frames lists {len(spec.frames)} frames; the limit is {MAX_FRAMES} per job, split the job")
        bad = [f for f in spec.frames if not -MAX_FRAME_NUMBER <= f <= MAX_FRAME_NUMBER]
        if bad:
            raise SchemaError(f"job.frames: frame number {bad[0]} is out of range (|frame| <= {MAX_FRAME_NUMBER})")
    if not -(2**63) <= spec.seed < 2**63:
        raise SchemaError(f"job.seed {spec.seed} does not fit in 64 bits")
    if len(spec.checkpoints) > MAX_CHECKPOINTS:
        raise SchemaError(f"job.checkpoints has {len(spec.checkpoints)} entries; the limit is {MAX_CHECKPOINTS}")
    for key, val in spec.checkpoints.items():
        check_text(key, "job.checkpoints key", 128)
        check_path_text(val, f"job.checkpoints[{key!r}]")
    for stage, engine in spec.engines.items():
        check_text(stage, "job.engines key", 64)
        check_text(engine, f"job.engines[{stage!r}]", 64)
    check_json_value(spec.params, "job.params")
    size = len(json.dumps(spec.params, ensure_ascii=False).encode("utf-8"))
    if size > MAX_PARAMS_BYTES:
        raise SchemaError(f"job.params is {size} bytes of JSON; the limit is {MAX_PARAMS_BYTES}")


def check_request_sizes(body: Any, what: str) -> None:
    """A /track or /run request: every string a usable, bounded text, ``params`` bounded."""
    for f in dataclasses.fields(body):
        value = getattr(body, f.name)
        if isinstance(value, str):
            check_path_text(value, f"{what}.{f.name}")
        elif isinstance(value, list):
            if len(value) > len(STAGES):
                raise SchemaError(f"{what}.{f.name} has {len(value)} entries; the limit is {len(STAGES)}")
            check_json_value(value, f"{what}.{f.name}")
        elif isinstance(value, dict):
            check_json_value(value, f"{what}.{f.name}")
    params = getattr(body, "params", None) or {}
    size = len(json.dumps(params, ensure_ascii=False).encode("utf-8"))
    if size > MAX_PARAMS_BYTES:
        raise SchemaError(f"{what}.params is {size} bytes of JSON; the limit is {MAX_PARAMS_BYTES}")
