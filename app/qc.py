"""Track QC at the door of a run: a track its QC calls unusable is refused unless forced.

A composite can't hide a camera that slides, so `vanelia run` (and the sidecar's run job)
refuses a transforms.json whose ``qc.usable`` is false, naming the reason and the unreliable
frames, unless the user forces it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from shotcache.errors import InputError, UsageError


def transforms_file(camera: Path) -> Path | None:
    """The transforms.json a --camera names (the file, or one inside the folder), else None."""
    path = camera / "transforms.json" if camera.is_dir() else camera
    return path if path.suffix.lower() == ".json" and path.is_file() else None


def read_qc(camera: Path) -> dict[str, Any]:
    """The `qc` of a transforms.json camera ({} for other tracks or a track without one)."""
    path = transforms_file(camera)
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"--camera {path}: not a readable transforms.json ({exc})") from None
    qc = doc.get("qc") if isinstance(doc, dict) else None
    return qc if isinstance(qc, dict) else {}


def check_qc(camera: Path, qc: dict[str, Any], force: bool, log: Callable[[str], None]) -> None:
    """Refuse a track its QC calls unusable (a composite can't hide that), unless ``force``."""
    if not qc or qc.get("usable", True) is not False:
        return
    bad = list(qc.get("unreliable_frames") or [])
    frames = ", ".join(map(str, bad[:10])) + (f" ... ({len(bad)} in all)" if len(bad) > 10 else "")
    what = (f"the camera track {camera} is not usable: {qc.get('reason') or 'its QC says so'}; "
            f"unreliable frames: {frames or 'none listed'}")
    if not force:
        raise UsageError(f"{what}. Re-shoot or re-track (another --tracker, a known --focal-mm, a shorter --frames range), "
                         "or give --force to use it anyway")
    log(f"[vanelia] run: WARNING: {what}; going on because of --force")
