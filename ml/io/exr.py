"""Multilayer EXR render passes <-> dict of float32 arrays under canonical pass names.

Reads files written by Vanelia (canonical names ``rgba.R`` ...) and raw Blender output of
4.2 (single part, ``ViewLayer.Combined.R``, ``ViewLayer.DiffCol.R``) and 5.0 (multi-part,
``Diffuse Color``): the alias table lives in shotcache.schema so both sides agree.

OpenEXR is imported when an EXR is read or written (``openexr``), not with this module, so
code that only needs ``PassError`` or reads PNG/JPEG runs where OpenEXR is not installed.
"""
from __future__ import annotations

import os
from pathlib import Path

from typing import Any

import numpy as np

from shotcache.layout import atomic_write
from shotcache.errors import UserError
from shotcache.schema import BLENDER_PASS_ALIASES, PASSES


class PassError(UserError, ValueError):
    """A render EXR that cannot be used (missing/unknown pass, NaN, wrong size)."""


def openexr(path: str | os.PathLike[str]) -> Any:
    """The OpenEXR module, or a clear error naming the file (for every EXR reader here)."""
    try:
        import OpenEXR
    except ImportError as exc:
        raise PassError(f"{path}: reading or writing EXR needs the OpenEXR package (pip install OpenEXR)") from exc
    return OpenEXR


def _canonical(layer: str) -> str | None:
    if layer in PASSES:
        return layer
    return BLENDER_PASS_ALIASES.get(layer)


def read_passes(
    path: str | os.PathLike[str],
    want: tuple[str, ...] | list[str] | None = None,
    check_finite: bool = True,
) -> dict[str, np.ndarray]:
    """Return {pass: HxWxC float32} for the canonical passes found (or those in ``want``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: render EXR missing; re-render the shot (vanelia render)")
    unknown = [w for w in (want or ()) if w not in PASSES]
    if unknown:
        raise PassError(f"unknown pass name(s) {unknown}; known passes: {', '.join(PASSES)}")
    OpenEXR = openexr(path)
    try:
        exr = OpenEXR.File(str(path), separate_channels=True)
    except Exception as exc:  # OpenEXR raises plain RuntimeError/OSError on corrupt files
        raise PassError(f"{path}: not a readable EXR ({exc}); re-render this frame") from exc
    found: dict[str, dict[str, np.ndarray]] = {}
    for part in exr.parts:
        part_name = getattr(part, "name", None)
        part_name = part_name() if callable(part_name) else part_name
        for full, chan in part.channels.items():
            bits = full.split(".")
            if len(bits) == 1 and part_name:  # 5.0 multi-part: part carries the pass name
                bits = str(part_name).split(".") + bits
            if len(bits) < 2:
                layer, letter = "rgba", bits[0]  # plain R,G,B,A file
            else:
                layer, letter = bits[-2], bits[-1]
            name = _canonical(layer)
            if name is None:
                continue
            found.setdefault(name, {})[letter] = np.asarray(chan.pixels, dtype=np.float32)
    unrendered = _outside_region(found)
    out: dict[str, np.ndarray] = {}
    for name in want or found.keys():
        if name not in found:
            raise PassError(f"{path}: pass '{name}' is not in this EXR (has: {', '.join(sorted(found)) or 'none'}); enable it and re-render")
        chans = found[name]
        order = PASSES[name]
        if all(c in chans for c in order):
            planes = [chans[c] for c in order]
        elif len(order) == 1 and len(chans) >= 1:
            planes = [next(iter(chans.values()))]
        elif name == "shadow_catcher" and len(chans) == 1:
            planes = [next(iter(chans.values()))] * 3
        else:
            raise PassError(f"{path}: pass '{name}' has channels {sorted(chans)}, expected {list(order)}")
        arr = np.stack(planes, axis=-1)
        if unrendered is not None and name in NOT_RENDERED:
            arr[unrendered] = NOT_RENDERED[name]
        if check_finite and not np.isfinite(arr if name != "depth" else np.where(arr > 1e9, 0, arr)).all():
            raise PassError(f"{path}: pass '{name}' contains NaN or Inf; re-render this frame")
        out[name] = arr
    shapes = {a.shape[:2] for a in out.values()}
    if len(shapes) > 1:
        raise PassError(f"{path}: passes have different sizes {sorted(shapes)}")
    return out


NOT_RENDERED = {"shadow_catcher": 1.0}
"""What a pixel outside a border render reads as: no shadow. The other passes need nothing: Cycles
writes them 0 there (no product) and depth past the background's 1e9."""


BORDER_EDGE_PX = 2
"""Rows and columns along a border render's edge that Cycles renders with part of its pixel
filter (1.5 px wide) missing: their shadow catcher is off by 1-2 % either way (dog-lawn at 720p:
0.977 along a whole row), which drew a faint line across the plate. The region keeps its shadows
well inside (render_region.MARGIN), so these read as unshadowed."""


def _outside_region(found: dict[str, dict[str, np.ndarray]]) -> np.ndarray | None:
    """Pixels a border render left out (addon/render_region.py), or None when all were rendered.
    The shadow catcher pass is the tell: Cycles writes it 0 in every channel outside the border,
    and inside it is about 1 wherever nothing is shadowed (the sky, the ground) - the rendered
    pixels' bounding rectangle is the border, less its edge (BORDER_EDGE_PX)."""
    sc = found.get("shadow_catcher")
    if not sc:
        return None
    zero = np.logical_and.reduce([c == 0.0 for k, c in sc.items() if k in "RGB"])
    if not zero.any():
        return None
    rendered = ~zero
    rows, cols = np.flatnonzero(rendered.any(axis=1)), np.flatnonzero(rendered.any(axis=0))
    if len(rows) == 0:
        return None
    h, w = zero.shape
    # the border's own edge rows and columns (not the frame's) read as not rendered too
    top, left = rows[0] + (BORDER_EDGE_PX if rows[0] > 0 else 0), cols[0] + (BORDER_EDGE_PX if cols[0] > 0 else 0)
    bottom = rows[-1] + 1 - (BORDER_EDGE_PX if rows[-1] < h - 1 else 0)
    right = cols[-1] + 1 - (BORDER_EDGE_PX if cols[-1] < w - 1 else 0)
    inside = np.zeros_like(zero)
    inside[top:bottom, left:right] = True
    if inside.all():
        return None
    return ~inside


def write_passes(path: str | os.PathLike[str], passes: dict[str, np.ndarray]) -> Path:
    """Write canonical passes as one single-part multilayer EXR (ZIP, float32), atomically."""
    OpenEXR = openexr(path)
    channels: dict[str, np.ndarray] = {}
    for name, arr in passes.items():
        if name not in PASSES:
            raise PassError(f"unknown pass name {name!r}; known passes: {', '.join(PASSES)}")
        arr = np.asarray(arr, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[..., None]
        letters = PASSES[name]
        if arr.shape[-1] != len(letters):
            raise PassError(f"pass {name!r} needs {len(letters)} channels, got {arr.shape[-1]}")
        for i, letter in enumerate(letters):
            channels[f"{name}.{letter}"] = np.ascontiguousarray(arr[..., i])
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}

    def _w(tmp: Path) -> None:
        OpenEXR.File(header, channels).write(str(tmp))

    return atomic_write(path, _w)


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Linear HxWx3 float32 of a plain R, G, B EXR (what ``write_rgb`` writes: an environment
    map, a composite)."""
    path = Path(path)
    if not path.is_file():
        raise PassError(f"{path}: EXR missing")
    OpenEXR = openexr(path)
    try:
        channels = OpenEXR.File(str(path), separate_channels=True).channels()
    except Exception as exc:  # OpenEXR raises plain RuntimeError/OSError on corrupt files
        raise PassError(f"{path}: not a readable EXR ({exc})") from exc
    if not all(c in channels for c in "RGB"):
        raise PassError(f"{path}: expected channels R, G, B, found {', '.join(sorted(channels)) or 'none'}")
    return np.stack([np.asarray(channels[c].pixels, np.float32) for c in "RGB"], axis=-1)


def write_rgb(path: str | os.PathLike[str], rgb: np.ndarray, half: bool = False) -> Path:
    """Write linear RGB as a plain EXR (channels R, G, B; ZIP; float32 or half), atomically.

    For images outside the pass layout: environment maps, composites as an EXR sequence."""
    arr = np.asarray(rgb, dtype=np.float16 if half else np.float32)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise PassError(f"{path}: expected HxWx3 RGB, got shape {arr.shape}")
    channels = {c: np.ascontiguousarray(arr[..., i]) for i, c in enumerate("RGB")}
    OpenEXR = openexr(path)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}

    def _w(tmp: Path) -> None:
        OpenEXR.File(header, channels).write(str(tmp))

    return atomic_write(path, _w, suffix=".exr")
