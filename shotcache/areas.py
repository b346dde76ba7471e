"""Placement areas: where in the frame the product should stand, in one notation for every tool.

An area is a name (``bottom_right``, ``center``, ... see ``PLACEMENT_AREAS``), a pixel
``"x,y"`` or a pixel box ``"x0,y0,x1,y1"`` (a string from the command line or the panel, or
a 2/4-sequence from code). Placement on the solved ground (ml/camera/placement.py) and
text-guided placement with CLIPSeg (ml/camera/text_placement.py) both read it through
``parse_area``; both turn it into pixels with ``Area.box``. Stdlib only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .errors import PlacementError

PLACEMENT_AREAS: dict[str, tuple[float, float, float, float]] = {
    "top_left": (0.0, 0.0, 0.5, 0.5),
    "top_right": (0.5, 0.0, 1.0, 0.5),
    "bottom_left": (0.0, 0.5, 0.5, 1.0),
    "bottom_right": (0.5, 0.5, 1.0, 1.0),
    "center": (0.25, 0.25, 0.75, 0.75),
    "full": (0.0, 0.0, 1.0, 1.0),
}
"""Target areas for product placement, (x0, y0, x1, y1) as fractions of the frame, y down:
image quadrants, the central half and the whole frame. Offered in the Blender panel too."""

HELP = f"{'|'.join(PLACEMENT_AREAS)}, a pixel 'x,y' or a box 'x0,y0,x1,y1'"


@dataclass(frozen=True)
class Area:
    """A parsed area: ``kind`` is ``area`` (fractions), ``pixel`` (x, y) or ``box`` (pixels)."""

    kind: str
    value: tuple[float, ...]
    text: str

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Integer pixel box (x0, y0, x1, y1), exclusive ends, clipped to the frame; a pixel
        is the 1x1 box around it. An empty box is an error that names the area."""
        if self.kind == "area":
            fx0, fy0, fx1, fy1 = self.value
            raw = [fx0 * width, fy0 * height, fx1 * width, fy1 * height]
        elif self.kind == "pixel":
            raw = [self.value[0], self.value[1], self.value[0] + 1, self.value[1] + 1]
        else:
            raw = list(self.value)
        x0, y0, x1, y1 = (int(round(v)) for v in raw)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if x1 <= x0 or y1 <= y0:
            raise PlacementError(f"target area {self.text!r} is empty inside the {width}x{height} image")
        return x0, y0, x1, y1

    def fraction_box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The area as a float pixel box (a pixel gives a zero-size box at it)."""
        if self.kind == "area":
            fx0, fy0, fx1, fy1 = self.value
            return fx0 * width, fy0 * height, fx1 * width, fy1 * height
        if self.kind == "pixel":
            return self.value[0], self.value[1], self.value[0], self.value[1]
        x0, y0, x1, y1 = self.value
        return x0, y0, x1, y1


def parse_area(area: str | Sequence[float] | Area, what: str = "--place") -> Area:
    """'bottom_right' | 'x,y' (pixels) | 'x0,y0,x1,y1' (pixels, a box), or a 2/4-sequence."""
    if isinstance(area, Area):
        return area
    if isinstance(area, str) and area in PLACEMENT_AREAS:
        return Area("area", PLACEMENT_AREAS[area], area)
    try:
        parts = area.split(",") if isinstance(area, str) else list(area)
        vals = tuple(float(v) for v in parts)
    except (TypeError, ValueError):
        vals = ()
    text = area if isinstance(area, str) else ",".join(f"{v:g}" for v in vals)
    if len(vals) == 2:
        return Area("pixel", vals, text)
    if len(vals) == 4:
        return Area("box", vals, text)
    raise PlacementError(f"{what} {area!r}: use one of {HELP}")
