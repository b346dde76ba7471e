"""Where things live inside a shot folder, and how they are written safely.

A shot folder::

    shot.json            the Shot document (schema.py)
    plate/000001.png     decoded plate frames, sRGB 8-bit, named by frame number
    render/000001.exr    one multilayer EXR per frame, canonical pass names
    masks/000001.png     optional removal masks (white = remove)
    cache/<stage>/...    per-stage intermediate frames (ml/pipeline/cache.py), safe to delete
    v001/                an output version: frames/000001.png + params.json
    v002/ ...

Every write goes through ``atomic_write_*``: data lands in a temp file in the same folder
and is renamed over the target, so a crash or a kill never leaves a half-written frame
and never destroys the previous good file. Stdlib only (both sides import it).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

from .frames import frame_name  # noqa: F401  (re-exported: the shot's file-name rule)
from .imagesize import PNG_MAGIC
from .schema import SchemaError, Shot

SHOT_FILE = "shot.json"
PARAMS_FILE = "params.json"
_VERSION_RE = re.compile(r"^v(\d{3,})$")


class ShotPaths:
    """Paths of one shot folder; creates nothing until asked."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    @property
    def shot_json(self) -> Path:
        return self.root / SHOT_FILE

    @property
    def plate_dir(self) -> Path:
        return self.root / "plate"

    @property
    def render_dir(self) -> Path:
        return self.root / "render"

    @property
    def masks_dir(self) -> Path:
        return self.root / "masks"

    @property
    def cache_dir(self) -> Path:
        """Per-stage intermediate frames; deleting it only costs recomputation."""
        return self.root / "cache"

    def params_file(self, version: str) -> Path:
        """The version's ``params.json`` (read and written through shotcache.params)."""
        return self.version_dir(version) / PARAMS_FILE

    def plate_frame(self, frame: int) -> Path:
        return self.plate_dir / frame_name(frame, "png")

    def render_frame(self, frame: int) -> Path:
        return self.render_dir / frame_name(frame, "exr")

    def mask_frame(self, frame: int) -> Path:
        return self.masks_dir / frame_name(frame, "png")

    @property
    def holdout_dir(self) -> Path:
        """Holdout mattes: white = something in front of the product (it hides the product)."""
        return self.root / "holdout"

    def holdout_frame(self, frame: int) -> Path:
        return self.holdout_dir / frame_name(frame, "png")

    # ---- output versions -----------------------------------------------
    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        names = [p.name for p in self.root.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)]
        return sorted(names, key=lambda n: int(n[1:]))

    def version_dir(self, name: str) -> Path:
        if not _VERSION_RE.match(name):
            raise SchemaError(f"bad version name {name!r}; versions are named v001, v002, ...")
        return self.root / name

    def new_version(self) -> str:
        """Allocate the next vNNN; mkdir without exist_ok makes two writers never share one."""
        existing = self.versions()
        n = int(existing[-1][1:]) + 1 if existing else 1
        while True:
            name = f"v{n:03d}"
            try:
                (self.root / name).mkdir(parents=True)
                return name
            except FileExistsError:
                n += 1

    def version_frame(self, version: str, frame: int, ext: str = "png") -> Path:
        return self.version_dir(version) / "frames" / frame_name(frame, ext)

    def codec_dir(self, version: str) -> Path:
        """The version's frames as delivered: through the plate's codec where the composite
        changed the plate (app/codec_match.py); absent when nothing was matched."""
        return self.version_dir(version) / "codec"

    def delivered_frame(self, version: str, frame: int) -> Path:
        """The frame a run delivers (MP4, image sequence, contact sheet): the codec-matched one
        when the version has it, else the stages' own."""
        coded = self.codec_dir(version) / frame_name(frame, "png")
        return coded if coded.is_file() else self.version_frame(version, frame)

    # ---- shot.json ---------------------------------------------------------
    def load_shot(self) -> Shot:
        if not self.shot_json.is_file():
            raise SchemaError(f"{self.shot_json}: no shot.json here; build the shot first (vanelia render ... --shot {self.root})")
        try:
            data = json.loads(self.shot_json.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise SchemaError(f"{self.shot_json}: not UTF-8 text ({exc.reason} at byte {exc.start}); restore it or re-render the shot") from exc
        except (json.JSONDecodeError, RecursionError) as exc:
            raise SchemaError(f"{self.shot_json}: not valid JSON ({exc}); restore it or re-render the shot") from exc
        return Shot.from_dict(data, where=str(self.shot_json))

    def save_shot(self, shot: Shot) -> None:
        shot.validate(str(self.shot_json))
        atomic_write_json(self.shot_json, shot.to_dict())


# ---------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------


def check_writable(folder: str | os.PathLike[str]) -> None:
    """Fail early, with the folder named, instead of half-way through a render.

    Creates (and removes) a probe file in the folder, or in its nearest existing parent when
    it is still to be made: permission bits alone miss read-only mounts and full disks' quotas."""
    folder = Path(folder)
    probe_dir = folder
    while not probe_dir.exists() and probe_dir.parent != probe_dir:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise NotADirectoryError(f"{folder}: {probe_dir} is a file, not a folder; choose another output folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".vanelia-write-probe-", dir=probe_dir)
    except OSError as exc:
        raise PermissionError(f"{folder}: folder is not writable ({exc.strerror}); choose another output folder "
                              "or fix its permissions") from None
    os.close(fd)
    os.unlink(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], None], suffix: str | None = None) -> Path:
    """Call ``writer(tmp_path)`` then rename tmp over ``path``.

    The temp file keeps the target's extension (writers such as OpenCV or Blender pick the
    format from it) and lives in the same folder (rename is atomic only within a filesystem).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = suffix if suffix is not None else path.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{ext}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise OSError(f"{path}: writer produced no data")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are shared on farms
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    def _w(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    return atomic_write(path, _w)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))


# ---------------------------------------------------------------------------
# hashing (cache keys)
# ---------------------------------------------------------------------------


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


PNG_IMAGE_CHUNKS = (b"IHDR", b"PLTE", b"IDAT")
"""The chunks of a PNG that hold its image; the rest is metadata."""


def image_sha256(path: str | os.PathLike[str]) -> str:
    """Hash of an image's content: a PNG's image chunks only, any other file whole. Blender
    stamps the PNGs it writes with the date (a tEXt chunk), so two decodes of the same footage
    differ in their bytes and not in their pixels; the render's frame hashes must not."""
    data = Path(path).read_bytes()
    if not data.startswith(PNG_MAGIC):
        return hashlib.sha256(data).hexdigest()
    h, i = hashlib.sha256(), len(PNG_MAGIC)
    while i + 8 <= len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        if kind in PNG_IMAGE_CHUNKS:
            h.update(kind + data[i + 8 : i + 8 + n])
        i += 12 + n
    return h.hexdigest()


def stable_hash(obj: Any) -> str:
    """Hash of a JSON-able value, independent of dict order: the cache key of params."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")).hexdigest()[:16]
