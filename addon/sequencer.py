"""Result versions in Blender's sequencer: the plate strip and a version strip beside it.

A shot's results live in ``vNNN/frames/NNNNNN.png`` (+ ``vNNN/params.json``). Loading a
version makes one image strip whose frames sit on the shot's frame numbers, with the
version's parameters stamped on the strip as custom properties, so an artist sees in the
sequencer which settings made what they look at. Swapping versions edits that strip in
place (directory, elements) instead of adding strips, so edits made around it survive.
Version differences (4.2 ``sequences``, 5.0 ``strips``) live in compat.py.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import bpy

from ..shotcache import params as version_params
from ..shotcache.errors import InputError, UserError
from ..shotcache.layout import ShotPaths
from . import compat

ROLE_KEY = "vanelia_role"
SHOT_KEY = "vanelia_shot"
VERSION_KEY = "vanelia_version"
PARAMS_KEY = "vanelia_params"
PARAMS_JSON_KEY = "vanelia_params_json"

_FRAME_FILE = re.compile(r"^(\d+)\.png$")
_MAX_KEY = 63  # Blender ID property names are at most 63 bytes


class SequencerError(UserError, ValueError):
    """A version or plate that cannot be shown; the message names the folder and the fix."""


# ---------------------------------------------------------------------------
# what is on disk
# ---------------------------------------------------------------------------


def _frame_files(folder: Path) -> list[tuple[int, str]]:
    if not folder.is_dir():
        return []
    found = []
    for name in os.listdir(folder):
        m = _FRAME_FILE.match(name)
        if m:
            found.append((int(m.group(1)), name))
    return sorted(found)


def list_versions(shot_dir: str | os.PathLike[str]) -> list[str]:
    """Versions of a shot that have at least one frame, oldest first (v001, v002, ...)."""
    paths = ShotPaths(shot_dir)
    return [v for v in paths.versions() if _frame_files(paths.version_dir(v) / "frames")]


def version_frames(shot_dir: str | os.PathLike[str], version: str) -> list[tuple[int, str]]:
    """(frame number, file name) of a version's frames; raises naming the folder if none."""
    folder = ShotPaths(shot_dir).version_dir(version) / "frames"
    frames = _frame_files(folder)
    if not frames:
        raise SequencerError(f"{folder}: no frames (NNNNNN.png) here; run the version's job again or pick another version")
    return frames


def read_params(shot_dir: str | os.PathLike[str], version: str) -> dict[str, Any]:
    """A version's params.json ({} when the version has none)."""
    try:
        return version_params.read_raw(ShotPaths(shot_dir).version_dir(version), strict=True)
    except InputError as exc:
        raise SequencerError(str(exc)) from exc


def _elements(frames: list[tuple[int, str]]) -> tuple[int, list[str]]:
    """First frame and one file name per timeline frame; a missing frame holds the previous.

    Image strips play their elements back to back, so a gap in the numbering would shift
    every later frame; holding the last good frame keeps each frame on its number.
    """
    first, last = frames[0][0], frames[-1][0]
    by_frame = dict(frames)
    names: list[str] = []
    current = frames[0][1]
    for f in range(first, last + 1):
        current = by_frame.get(f, current)
        names.append(current)
    return first, names


# ---------------------------------------------------------------------------
# custom properties
# ---------------------------------------------------------------------------


def _idprop(value: Any) -> Any:
    """A JSON value as something Blender's ID properties can hold.

    ID properties hold 32-bit ints, floats, strings, groups and arrays of numbers or
    groups; anything else (null, mixed or string lists, huge ints) is kept as JSON text.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if -(2**31) <= value < 2**31 else str(value)
    if isinstance(value, (float, str)):
        return value
    if isinstance(value, dict):
        return {str(k)[:_MAX_KEY]: _idprop(v) for k, v in value.items()}
    if isinstance(value, list) and value:
        if all(isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31 for v in value):
            return list(value)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return [float(v) for v in value]
        if all(isinstance(v, dict) for v in value):
            return [_idprop(v) for v in value]
    return json.dumps(value, sort_keys=True)


def _stamp(strip: Any, shot_dir: str, version: str, params: dict[str, Any]) -> None:
    strip[ROLE_KEY] = "version"
    strip[SHOT_KEY] = shot_dir
    strip[VERSION_KEY] = version
    strip[PARAMS_KEY] = _idprop(params) if params else {}
    strip[PARAMS_JSON_KEY] = json.dumps(params, sort_keys=True)


def strip_params(strip: Any) -> dict[str, Any]:
    """The params.json stamped on a version strip (exact, from the JSON copy)."""
    text = strip.get(PARAMS_JSON_KEY, "{}")
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------------------
# strips
# ---------------------------------------------------------------------------


def _abs_dir(path: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(bpy.path.abspath(str(path))))


def find_strips(scene: bpy.types.Scene, shot_dir: str | os.PathLike[str], role: str | None = None) -> list[Any]:
    """Strips made by Vanelia for this shot (role 'plate' or 'version', or both)."""
    shot = _abs_dir(shot_dir)
    out = []
    for strip in compat.sequencer_strips_all(scene):
        if strip.get(SHOT_KEY) == shot and (role is None or strip.get(ROLE_KEY) == role):
            out.append(strip)
    return out


def _make_strip(scene: bpy.types.Scene, name: str, folder: Path, frames: list[tuple[int, str]], channel: int) -> Any:
    first, names = _elements(frames)
    strip = compat.sequencer_new_image(scene, name, str(folder / names[0]), channel, first)
    for n in names[1:]:
        strip.elements.append(n)
    return strip


def load_plate(scene: bpy.types.Scene, shot_dir: str | os.PathLike[str], channel: int = 1) -> Any:
    """The shot's decoded plate (plate/NNNNNN.png) as an image strip; reused if already there."""
    shot = _abs_dir(shot_dir)
    existing = find_strips(scene, shot, "plate")
    if existing:
        return existing[0]
    folder = ShotPaths(shot).plate_dir
    frames = _frame_files(folder)
    if not frames:
        raise SequencerError(f"{folder}: no plate frames (NNNNNN.png); set the shot up first (Vanelia > Shot > Set Up)")
    strip = _make_strip(scene, f"{Path(shot).name} plate", folder, frames, channel)
    strip[ROLE_KEY] = "plate"
    strip[SHOT_KEY] = shot
    return strip


def load_version(scene: bpy.types.Scene, shot_dir: str | os.PathLike[str], version: str, channel: int = 2) -> Any:
    """Show ``version`` of the shot in ``channel``, beside the plate strip.

    A version strip of this shot already in that channel is swapped in place rather than
    stacked, so loading the next result keeps the artist's edit around it.
    """
    shot = _abs_dir(shot_dir)
    frames = version_frames(shot, version)
    params = read_params(shot, version)
    for strip in find_strips(scene, shot, "version"):
        if strip.channel == channel:
            swap_version(strip, shot, version)
            return strip
    folder = ShotPaths(shot).version_dir(version) / "frames"
    strip = _make_strip(scene, f"{Path(shot).name} {version}", folder, frames, channel)
    _stamp(strip, shot, version, params)
    return strip


def swap_version(strip: Any, shot_dir: str | os.PathLike[str], version: str) -> None:
    """Point an existing version strip at another version, in place.

    The sequence: set the directory, drop all elements but the first (``pop`` needs an
    index), rename the first, append the rest, then drop cached frames of the old images.
    Nothing is changed when the new version has no frames.
    """
    shot = _abs_dir(shot_dir)
    frames = version_frames(shot, version)
    params = read_params(shot, version)
    first, names = _elements(frames)
    folder = ShotPaths(shot).version_dir(version) / "frames"
    strip.directory = str(folder) + os.sep
    for i in range(len(strip.elements) - 1, 0, -1):
        strip.elements.pop(i)
    strip.elements[0].filename = names[0]
    for n in names[1:]:
        strip.elements.append(n)
    if strip.frame_start != first:
        strip.frame_start = first
    strip.name = f"{Path(shot).name} {version}"
    _stamp(strip, shot, version, params)
    strip.invalidate_cache("RAW")
