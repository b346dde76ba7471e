"""Who may talk to the sidecar and which files a job may touch.

Two rules, both enforced before any work starts:

* the token (when configured) is compared in constant time (``hmac.compare_digest``), so
  response timing leaks nothing about it;
* every path a job names must resolve -- symlinks followed -- to a folder inside one of the
  configured shot roots (or the server's own upload folder). ``..`` components are refused
  outright, even when they would land back inside a root, so a request never probes the
  file system outside.
"""
from __future__ import annotations

import hmac
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from shotcache.errors import UserError

UPLOAD_PREFIX = "upload:"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class AccessDenied(UserError, PermissionError):
    """A path outside the shot roots or a bad token; the message says which."""

    http_status = 403


class BadPath(UserError, ValueError):
    """A path that is malformed (NUL byte, not a folder, no shot.json)."""

    http_status = 422


def token_ok(expected: str | None, header_value: str | None) -> bool:
    """``Authorization: Bearer <token>`` check; no token configured means loopback-only, open."""
    if not expected:
        return True
    if not header_value:
        return False
    scheme, _, given = header_value.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))


def _has_parent_ref(raw: str) -> bool:
    parts = set(PurePosixPath(raw).parts) | set(PureWindowsPath(raw).parts)
    return ".." in parts


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def confine(raw: str, roots: list[Path], what: str = "path") -> Path:
    """Resolve ``raw`` and return it if it lies inside one of ``roots``; raise otherwise.

    Relative paths are taken relative to each root in turn (the first that exists wins).
    """
    if not isinstance(raw, str) or not raw.strip():
        raise BadPath(f"{what} is empty; give a folder inside the shot roots")
    if "\x00" in raw:
        raise BadPath(f"{what} contains a NUL byte")
    if _has_parent_ref(raw):
        raise AccessDenied(f"{what} {raw!r}: '..' is not allowed; give a path inside the shot roots")
    if not roots:
        raise AccessDenied(f"{what} {raw!r}: this sidecar has no shot roots configured (start it with --shot-root DIR) ; upload the shot instead")
    resolved_roots = [Path(r).resolve() for r in roots]
    p = Path(raw)
    candidates = [p] if p.is_absolute() else [r / p for r in resolved_roots]
    escaped: Path | None = None
    for cand in candidates:
        try:
            real = cand.resolve()
        except (OSError, RuntimeError) as exc:  # symlink loops, names too long
            raise BadPath(f"{what} {raw!r}: cannot be resolved ({exc})") from exc
        if not any(_inside(real, r) for r in resolved_roots):
            escaped = real  # absolute path elsewhere, or a symlink pointing out
            continue
        if real.exists() or p.is_absolute():
            return real
    if escaped is not None:
        raise AccessDenied(
            f"{what} {raw!r} resolves to {escaped}, outside the shot roots "
            f"({', '.join(str(r) for r in resolved_roots)}); move the shot there or upload it"
        )
    return candidates[0].resolve()


def upload_dir_for(spec_shot: str, upload_root: Path) -> Path:
    """``upload:<id>`` -> the folder the upload was unpacked into."""
    uid = spec_shot[len(UPLOAD_PREFIX):]
    if not _UPLOAD_ID.match(uid):
        raise BadPath(f"shot {spec_shot!r}: not an upload id (expected upload:<32 hex digits> from POST /uploads)")
    return Path(upload_root).resolve() / uid


def resolve_shot(spec_shot: str, roots: list[Path], upload_root: Path) -> Path:
    """The shot folder a job names, confined, existing and holding a shot.json."""
    if spec_shot.startswith(UPLOAD_PREFIX):
        folder = upload_dir_for(spec_shot, upload_root)
        if not folder.is_dir():
            raise FileNotFoundError(f"shot {spec_shot!r}: no such upload on this sidecar (it was removed or never finished); upload again")
    else:
        folder = confine(spec_shot, roots, what="shot")
        if not folder.is_dir():
            raise FileNotFoundError(f"shot {spec_shot!r}: no such folder under the shot roots")
    if not (folder / "shot.json").is_file():
        raise BadPath(f"shot {spec_shot!r}: {folder} has no shot.json; build the shot first (vanelia render ... --shot DIR)")
    return folder
