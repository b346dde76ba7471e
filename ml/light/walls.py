"""What the frames show beyond the floor: a room's walls where the cameras look down on it.

The light estimate tells a window's room from one lit by its ceiling, and either from a street
by night or an open sky, by what the frames show above the horizon against the floor
(window.walls_above, shot.ceiling_lit). A camera that looks down on the product sees the
room's walls only below its own horizon: every ray of the frame falls towards the ground, and
the environment map, which looks from the product outwards, has nothing above its horizon
either. Those walls still stand in the frames, at their top: the rays there meet the ground's
plane far beyond the floor the plate shows, behind the walls.

So the pixels whose rays meet the ground's plane more than FAR_M from the product's foot are
the frames' far view: walls in a room (interior seeds 113, 152 and 154 read 1.25-1.65x the
floor; the ceiling-lit rooms 0.53-0.80, as their walls above the horizon read), open ground or
a meadow's far grass outdoors. It stands in for the view above the horizon where the frames
show none (``FarView.luminance``, ``FarView.rgb``): for the window a room's floor points to
(shot.walls_seen), for a room lit from its ceiling (shot.ceiling_walls_below) and for a night
(shot.night_below).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ml.io.colour import REC709_LUMA as LUMA
from shotcache.schema import FrameCamera

FAR_M = 5.0
"""Distance on the ground from the product's foot beyond which a ray's meeting with the ground's
plane is the far view: past the 2.5 m grid the floor is read on and past a room's walls (the
eval's rooms stand 2.5-4 m from the product). At 3 m the rooms' floors still filled part of it
(1.11-1.49x against 1.25-1.65x at 5 m); at 8 m too few rays of a steep camera remain."""
STRIDE = 2
"""Every STRIDE-th pixel each way: the median needs thousands, not every one."""
MIN_PIXELS = 500
"""Fewer far pixels than this over the shot read nothing (a camera looking straight down)."""


@dataclass
class FarView:
    """Running collection of the far view's luminance over the sampled frames."""

    foot: np.ndarray
    normal: np.ndarray
    far_m: float = FAR_M
    _rgb: list[np.ndarray] = field(default_factory=list)

    def add(self, image: np.ndarray, cam: FrameCamera, scale: float = 1.0) -> None:
        """The far pixels of one linear HxWx3 frame; ``scale`` = its size over the camera's."""
        n = np.asarray(self.normal, np.float64) / np.linalg.norm(self.normal)
        c2w = np.asarray(cam.c2w, np.float64)
        origin = c2w[:3, 3]
        img = image[::STRIDE, ::STRIDE]
        v, u = np.mgrid[0 : image.shape[0] : STRIDE, 0 : image.shape[1] : STRIDE].astype(np.float64)
        ray = np.stack([((u + 0.5) / scale - cam.cx) / cam.fx, ((v + 0.5) / scale - cam.cy) / cam.fy, np.ones_like(u)], axis=-1) @ c2w[:3, :3].T
        down = ray @ n
        falls = down < -1e-6  # rays at or above the horizon never meet the ground: the horizon reading's
        t = np.where(falls, ((np.asarray(self.foot, np.float64) - origin) @ n) / np.where(falls, down, -1.0), 0.0)
        rel = origin + ray * t[..., None] - np.asarray(self.foot, np.float64)
        dist = np.linalg.norm(rel - (rel @ n)[..., None] * n, axis=-1)
        far = falls & (t > 0) & (dist > self.far_m)
        self._rgb.append(img[far].astype(np.float64))

    def _pixels(self) -> np.ndarray | None:
        if len(self._rgb) != 1:  # joined once, on the first reading (the estimate reads it several times)
            self._rgb = [np.concatenate(self._rgb) if self._rgb else np.zeros((0, 3))]
        rgb = self._rgb[0]
        return rgb if len(rgb) >= MIN_PIXELS else None

    def luminance(self) -> float | None:
        """Median luminance of the far view over the shot (None: under MIN_PIXELS of it)."""
        rgb = self._pixels()
        return None if rgb is None else float(np.median(rgb @ LUMA))

    def rgb(self) -> np.ndarray | None:
        """Median colour of the far view over the shot (None: under MIN_PIXELS of it)."""
        rgb = self._pixels()
        return None if rgb is None else np.median(rgb, axis=0)
