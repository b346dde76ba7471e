"""``vNNN/params.json``: the typed record of one output version.

What produced a version (the job, its key, the engines that actually ran per stage and per
frame, why a fallback happened, which frames were skipped) is read by the runner (to reuse a
version or resume it), the sidecar (to list results), the add-on (to stamp a strip) and the
CLI. ``VersionRecord`` is that document; ``read``/``write`` are its only readers and writers
(``write`` is atomic). Unknown keys are kept in ``extra`` so newer writers stay readable.
Stdlib only.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .layout import PARAMS_FILE, atomic_write_json

STATES = ("prepared", "running", "done", "done_with_skips", "failed", "cancelled")


@dataclass
class VersionRecord:
    job_key: str = ""
    """Identity of the job's output (same key = same pixels); a re-run with it reuses the version."""
    job: dict[str, Any] = field(default_factory=dict)
    """The JobSpec as submitted (JobSpec.to_dict())."""
    state: str = "prepared"
    protocol: int = 0
    version: str = ""
    shot_hash: str = ""
    shot_name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    """Effective parameters per stage."""
    engines: dict[str, Any] = field(default_factory=dict)
    """Per stage: the engine that ran (describe()), the one requested, the fallback reason, cache key."""
    device: str = ""
    frames: dict[str, Any] = field(default_factory=dict)
    """Per frame (str key): {stage: {"engine": name, ...}, "notes": [...]} or {"resumed": true}."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Per frame (str key): why it has no output."""
    started: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> "VersionRecord":
        if not isinstance(data, dict):
            return cls()
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        extra = d.pop("extra")
        return {**extra, **d}

    def engines_used(self) -> dict[str, str]:
        """{stage: engine name that ran} from the per-stage record."""
        out = {}
        for stage, info in self.engines.items():
            name = info.get("name") if isinstance(info, dict) else info
            if name:
                out[stage] = str(name)
        return out


def params_path(version_dir: str | os.PathLike[str]) -> Path:
    return Path(version_dir) / PARAMS_FILE


def read(version_dir: str | os.PathLike[str]) -> VersionRecord:
    """The version's record; an empty one when the file is missing or unreadable (a version
    being allocated by another writer, or one from before records existed)."""
    return VersionRecord.from_dict(read_raw(version_dir))


def read_raw(version_dir: str | os.PathLike[str], strict: bool = False) -> dict[str, Any]:
    """The record as a plain dict ({} when missing); with ``strict`` an unreadable file is an
    InputError naming it (the add-on stamps strips with it), else {} (listings carry on)."""
    path = params_path(version_dir)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        if strict:
            raise InputError(f"{path}: unreadable ({exc}); fix or delete the file") from exc
        return {}
    if not isinstance(data, dict):
        if strict:
            raise InputError(f"{path}: expected a JSON object, got {type(data).__name__}")
        return {}
    return data


def write(version_dir: str | os.PathLike[str], record: VersionRecord) -> Path:
    if record.state not in STATES:
        raise ValueError(f"params.json state {record.state!r}: expected one of {', '.join(STATES)}")
    return atomic_write_json(params_path(version_dir), record.to_dict())
