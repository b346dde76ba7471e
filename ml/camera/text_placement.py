"""Text-guided placement: the best pixel for the product inside a target area.

The location prompt ("grass", "table top") gives a CLIPSeg activation map; the answer is the
pixel of highest activation - averaged over the product's footprint when its size is given -
among the positions whose footprint lies inside the target area. The Blender side casts that
pixel to the ground (ml.camera.placement.ray_to_ground) to stand the product there.

Areas are read by ``shotcache.areas.parse_area`` (the same notation as ``--place``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from shotcache.areas import PLACEMENT_AREAS, parse_area

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
    box = parse_area(area, "target area").box(w, h)
    x, y, s = best_location(heat, box, object_size)
    return Placement(x, y, s, box, location_prompt)
