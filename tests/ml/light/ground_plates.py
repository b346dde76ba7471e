"""Rays of a synthetic plate's pixels, and where they meet the ground z = 0: what the light
tests draw their plates with (the cameras are shotcache FrameCameras, OpenCV axes)."""
from __future__ import annotations

import numpy as np


def camera_rays(cam, w: int, h: int) -> np.ndarray:
    """World directions (h x w x 3, unnormalised) through the pixels' centres."""
    c2w = np.asarray(cam.c2w)
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    return np.stack([(xs - cam.cx) / cam.fx, (ys - cam.cy) / cam.fy, np.ones_like(xs)], -1) @ c2w[:3, :3].T


def ground_hits(cam, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """(where each pixel's ray meets the ground z = 0, h x w x 3; which rays look down at it)."""
    c2w = np.asarray(cam.c2w)
    rays = camera_rays(cam, w, h)
    down = rays[..., 2] < -1e-3
    t = -c2w[2, 3] / np.where(down, rays[..., 2], -1)
    return c2w[:3, 3] + rays * t[..., None], down
