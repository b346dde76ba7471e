"""What a job may make the sidecar reach: only the server's own folders and backends.

A job comes from the network, so nothing in it may choose where the server connects or
which file it opens outside the folders it was configured with:

* **No URLs from a job.** Remote diffusion backends (A1111, ComfyUI) are configured when the
  sidecar starts (``vanelia serve --remote a1111=URL``); a job that names a URL anywhere
  (``params.url``, a ``scheme://`` string, a checkpoint) or asks for a remote engine the
  server has no backend for is refused at submit. This closes the server-side request forgery
  that let a job make the sidecar POST composited frames to any address.
* **Paths stay inside configured folders.** Checkpoints, workflows, model folders and masks
  named by a job must resolve (symlinks followed) inside the checkpoint / model / shot roots.
  The refusal is the same 403 and the same sentence whether or not the file exists, so the
  API is no oracle for files elsewhere.
* **A shot's links stay inside the roots.** ``cache/``, ``vNNN/``, ``plate/``, ``render/``,
  ``masks/`` or any file below may be a symlink only to somewhere inside the allowed roots;
  checked at submit and again when the job starts (a link planted in between is caught).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator

from shotcache.schema import JobSpec

from .config import REMOTE_ENGINES
from .security import AccessDenied, confine

PATH_PARAMS = ("workflow", "model_dir", "iclight_offset", "loras", "mask", "masks", "mask_dir", "checkpoint")
"""``params`` keys whose values are file or folder paths (a string or a list of strings)."""
URL_PARAMS = ("url",)
_URL_RE = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*://")


def _params_items(value: Any, where: str = "params") -> Iterator[tuple[str, str, Any]]:
    """(dotted location, key, value) for every key of ``params``, nested dicts included."""
    if isinstance(value, dict):
        for k, v in value.items():
            loc = f"{where}.{k}"
            yield loc, str(k), v
            yield from _params_items(v, loc)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _params_items(v, f"{where}[{i}]")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _refuse_outside(raw: str, what: str, roots: list[Path], kind: str) -> None:
    """Confine ``raw`` to ``roots`` with one message for every failure (exists or not)."""
    names = ", ".join(str(r) for r in roots) or "none configured"
    refusal = AccessDenied(f"{what} {raw[:200]!r} is not inside this sidecar's {kind} folders ({names}); "
                           f"put the file there (vanelia serve --{kind}-root DIR) or leave it out of the job")
    if not roots or _URL_RE.match(raw):
        raise refusal
    try:
        confine(raw, roots, what=what)
    except (AccessDenied, ValueError, OSError):
        raise refusal from None


def check_job(spec: JobSpec, *, remotes: dict[str, str], checkpoint_roots: list[Path], model_roots: list[Path],
              shot_roots: list[Path]) -> None:
    """Refuse (AccessDenied, 403) a job that names a URL or a path outside the server's folders."""
    for loc, key, value in _params_items(spec.params):
        if key.lower() in URL_PARAMS or any(_URL_RE.match(s) for s in _strings(value)):
            raise AccessDenied(f"job {loc} names a URL; a job cannot choose where the sidecar connects. "
                               "Remote backends are set when the sidecar starts (vanelia serve --remote ENGINE=URL)")
        if key.lower() in PATH_PARAMS:
            for s in _strings(value):
                _refuse_outside(s, f"job {loc}", model_roots + shot_roots, "model")
    remote = [e for e in spec.engines.values() if e in REMOTE_ENGINES]
    for engine in remote:
        if not remotes.get(engine):
            raise AccessDenied(f"engine '{engine}' needs a backend this sidecar was not started with; "
                               f"start it with --remote {engine}=URL (a job cannot name the URL)")
    remote_keys = {k for e in remote for k in (f"diffuse.{e}", f"diffuse:{e}", e, "diffuse")}
    for key, raw in spec.checkpoints.items():
        if key in remote_keys or key in REMOTE_ENGINES:
            raise AccessDenied(f"job.checkpoints[{key!r}]: the backend of a remote engine is server configuration "
                               "(vanelia serve --remote ENGINE=URL), not part of a job")
        _refuse_outside(raw, f"job.checkpoints[{key!r}]", checkpoint_roots + model_roots, "checkpoint")


def check_shot_tree(shot_dir: Path, roots: list[Path]) -> None:
    """Refuse a shot folder holding a link (at any depth) that resolves outside ``roots``.

    Walks without following links, so a link is judged by its own target; cheap (one
    directory listing per folder, no file opened)."""
    real_roots = [Path(r).resolve() for r in roots]
    shot_dir = Path(shot_dir)

    def inside(p: Path) -> bool:
        return any(p == r or p.is_relative_to(r) for r in real_roots)

    if not inside(shot_dir.resolve()):
        raise AccessDenied(f"shot {shot_dir} is outside the shot roots")
    for folder, dirs, files in os.walk(shot_dir, followlinks=False):
        for name in dirs + files:
            p = Path(folder) / name
            if p.is_symlink():
                try:
                    target = p.resolve()
                except (OSError, RuntimeError):
                    target = None
                if target is None or not inside(target):
                    rel = p.relative_to(shot_dir)
                    raise AccessDenied(f"shot {shot_dir}: {rel} is a link that leads outside the shot roots; "
                                       "replace it with the files themselves (jobs never read or write outside the roots)")
