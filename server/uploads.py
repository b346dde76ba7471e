"""Shots sent over HTTP by clients without a shared disk, and results sent back.

An upload is a tar (optionally gzip) or zip archive of a shot folder (shot.json, plate/,
render/, masks/). It is streamed to a temp file while its size is counted, so an oversized
upload is refused (413) without ever being held in memory, then unpacked with every member
checked: no absolute names, no ``..``, no links or devices, and an unpacked-size limit
against archive bombs. The shot lands in ``<data>/uploads/<id>/`` and a job names it as
``upload:<id>``. Nothing is visible under that id until it is complete (unpack into a temp
folder, then rename).
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import AsyncIterator

from shotcache.errors import UserError
from shotcache import params as version_params
from shotcache.layout import ShotPaths
from shotcache.schema import SchemaError

from .security import UPLOAD_PREFIX

UNPACK_FACTOR = 4
"""Unpacked data may be at most this many times the upload limit (PNG/EXR barely compress)."""


class UploadError(UserError, ValueError):
    """The archive cannot be used; the message says why."""


class UploadTooLarge(UploadError):
    http_status = 413


async def save_stream(chunks: AsyncIterator[bytes], dest_dir: Path, limit: int) -> Path:
    """Write the request body to a temp file, stopping as soon as it exceeds ``limit``."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".incoming-", dir=dest_dir)
    size = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"upload is larger than this sidecar's limit of {limit} bytes; "
                                         "send fewer frames or start the sidecar with a larger --upload-limit")
                fh.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    if size == 0:
        os.unlink(name)
        raise UploadError("empty upload; send a tar or zip archive of the shot folder as the request body")
    return Path(name)


def _safe_member(name: str) -> PurePosixPath:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise UploadError(f"archive member {name!r} points outside the shot folder; refused")
    return p


def _unpack_tar(archive: Path, out: Path, max_bytes: int) -> None:
    total = 0
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        for m in members:
            _safe_member(m.name)
            if not (m.isfile() or m.isdir()):
                raise UploadError(f"archive member {m.name!r} is a link or special file; only plain files are accepted")
            total += m.size
            if total > max_bytes:
                raise UploadTooLarge(f"archive unpacks to more than {max_bytes} bytes; refused")
        tf.extractall(out, members=members, filter="data")


def _unpack_zip(archive: Path, out: Path, max_bytes: int) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        total = 0
        for info in infos:
            _safe_member(info.filename)
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise UploadError(f"archive member {info.filename!r} is a symlink; only plain files are accepted")
            total += info.file_size
            if total > max_bytes:
                raise UploadTooLarge(f"archive unpacks to more than {max_bytes} bytes; refused")
        for info in infos:
            target = out / _safe_member(info.filename)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _find_shot_root(folder: Path) -> Path:
    """The archive may hold the shot at its top level or inside one folder."""
    if (folder / "shot.json").is_file():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir()]
    if len(subs) == 1 and (subs[0] / "shot.json").is_file():
        return subs[0]
    raise UploadError("the archive holds no shot.json (at its top level or in one folder); archive a shot folder")


def unpack(archive: Path, upload_root: Path, limit: int) -> str:
    """Unpack and check an uploaded archive; return the job shot reference ``upload:<id>``."""
    uid = uuid.uuid4().hex
    staging = Path(tempfile.mkdtemp(prefix=f".{uid}-", dir=upload_root))
    try:
        try:
            if tarfile.is_tarfile(archive):
                _unpack_tar(archive, staging, limit * UNPACK_FACTOR)
            elif zipfile.is_zipfile(archive):
                _unpack_zip(archive, staging, limit * UNPACK_FACTOR)
            else:
                raise UploadError("the upload is neither a tar nor a zip archive; send e.g. `tar -czf shot.tgz -C SHOT .`")
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise UploadError(f"the archive is damaged or truncated ({exc}); upload it again") from exc
        root = _find_shot_root(staging)
        try:
            ShotPaths(root).load_shot()
        except SchemaError as exc:
            raise UploadError(f"uploaded shot.json is not usable: {exc}") from exc
        os.replace(root, upload_root / uid)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)
    return UPLOAD_PREFIX + uid


def result_frames(shot_dir: Path, version: str | None) -> list[dict]:
    """Finished frames of a job's version, for GET /jobs/{id}/results."""
    if not version:
        return []
    folder = ShotPaths(shot_dir).version_dir(version) / "frames"
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() == ".png" and p.stem.isdigit() and not p.name.startswith("."):
            out.append({"frame": int(p.stem), "bytes": p.stat().st_size, "name": p.name})
    return out


def params_of(shot_dir: Path, version: str | None) -> dict:
    if not version:
        return {}
    return version_params.read_raw(ShotPaths(shot_dir).version_dir(version))
