"""Which sidecar addresses are this machine, and when a shot has to be uploaded to one.

Both rules are security- and data-relevant and both sides need them (the server decides
whether a bind address needs a token, the add-on whether Blender's online access is needed,
the CLI and the add-on whether a sidecar can read a shot folder by path), so they live once
here. Stdlib only.
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
"""Host names that resolve to loopback on every system we support (/etc/hosts defaults)."""


def is_loopback(host: str) -> bool:
    """True only for addresses that cannot be reached from another machine.

    Any other host name may resolve to anything, so it counts as remote."""
    name = (host or "").strip().lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def url_is_loopback(url: str) -> bool:
    """``is_loopback`` of a URL's host (an unparsable URL counts as remote)."""
    try:
        return is_loopback(urlsplit(url).hostname or "")
    except ValueError:
        return False


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def needs_upload(url: str, shot_dir: str | os.PathLike[str], shot_roots: Iterable[str] | None = None) -> bool:
    """The one upload rule: a sidecar reads a shot by path only when it runs on this machine
    (loopback URL) and the shot lies inside one of its shot roots (``shot_roots`` from its
    /capabilities); otherwise the shot is uploaded and the results downloaded."""
    if not url_is_loopback(url):
        return True
    if shot_roots is None:
        return False
    shot = Path(os.path.realpath(shot_dir))
    return not any(_inside(shot, Path(os.path.realpath(r))) for r in shot_roots)
