"""Text-guided placement: the best pixel for the product inside a target area.

The location prompt ("grass", "table top") gives a CLIPSeg activation map; the answer is the
pixel of highest activation - averaged over the product's footprint when its size is given -
among the positions whose footprint lies inside the target area. The Blender side casts that
pixel to the ground (ml.camera.placement.ray_to_ground) to stand the product there.

Areas are image quadrants (``top_left``, ``top_right``, ``bottom_left``, ``bottom_right``),
the central half (``center``) or a pixel box ``(x0, y0, x1, y1)`` (exclusive ends).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from ml.stages.base import EngineError
from shotcache.schema import PLACEMENT_AREAS

AREAS = PLACEMENT_AREAS


@dataclass
class Placement:
    x: int
    y: int
    score: float
    box: tuple[int, int, int, int]
    prompt: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def area_box(area: str | tuple | list, width: int, height: int) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) of a named area, a 'x0,y0,x1,y1' string or a 4-sequence."""
    if isinstance(area, str) and area in AREAS:
        fx0, fy0, fx1, fy1 = AREAS[area]
        return int(round(fx0 * width)), int(round(fy0 * height)), int(round(fx1 * width)), int(round(fy1 * height))
    try:
        vals = [int(round(float(v))) for v in (area.split(",") if isinstance(area, str) else area)]
    except (TypeError, ValueError):
        vals = []
    if len(vals) != 4:
        raise EngineError(f"target area {area!r}: use one of {', '.join(AREAS)} or a pixel box x0,y0,x1,y1")
    x0, y0, x1, y1 = max(0, vals[0]), max(0, vals[1]), min(width, vals[2]), min(height, vals[3])
    if x1 <= x0 or y1 <= y0:
        raise EngineError(f"target area {area!r} is empty inside the {width}x{height} image")
    return x0, y0, x1, y1


def best_location(heat: np.ndarray, box: tuple[int, int, int, int], object_size: tuple[int, int] | None = None) -> tuple[int, int, float]:
    """(x, y, score): argmax of ``heat`` (footprint-averaged) over centres whose footprint fits in ``box``."""
    h, w = heat.shape
    x0, y0, x1, y1 = box
    score = heat.astype(np.float32)
    cx0, cy0, cx1, cy1 = x0, y0, x1, y1  # allowed centres (exclusive ends)
    if object_size:
        ow, oh = max(1, int(object_size[0])), max(1, int(object_size[1]))
        score = np.asarray(cv2.boxFilter(score, -1, (ow, oh), normalize=True, borderType=cv2.BORDER_REPLICATE), np.float32)
        # a centre c has footprint [c - ow//2, c - ow//2 + ow): keep it inside the box when it fits
        if ow <= x1 - x0:
            cx0, cx1 = x0 + ow // 2, x1 - (ow - ow // 2) + 1
        else:
            cx0 = cx1 = (x0 + x1) // 2
            cx1 += 1
        if oh <= y1 - y0:
            cy0, cy1 = y0 + oh // 2, y1 - (oh - oh // 2) + 1
        else:
            cy0 = (y0 + y1) // 2
            cy1 = cy0 + 1
    sub = score[cy0:cy1, cx0:cx1]
    iy, ix = np.unravel_index(int(np.argmax(sub)), sub.shape)
    return int(cx0 + ix), int(cy0 + iy), float(sub[iy, ix])


def text_guided_placement(
    segmenter: Any,
    image: np.ndarray,
    location_prompt: str,
    area: str | tuple = "center",
    object_size: tuple[int, int] | None = None,
) -> Placement:
    """Best (x, y) for the product inside ``area`` where ``location_prompt`` is most present."""
    heat = segmenter.heatmap(image, location_prompt)
    h, w = heat.shape
    box = area_box(area, w, h)
    x, y, s = best_location(heat, box, object_size)
    return Placement(x, y, s, box, location_prompt)
