"""Rays of a synthetic plate's pixels, and where they meet the ground z = 0: what the light
tests draw their plates with (the cameras are shotcache FrameCameras, OpenCV axes)."""
from __future__ import annotations

import numpy as np

from shotcache.schema import FrameCamera


def look_at(eye: np.ndarray, target: np.ndarray, w: int = 160, h: int = 90, f: float = 120.0) -> FrameCamera:
    fwd = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, fwd, eye
    return FrameCamera(f, f, w / 2, h / 2, c2w.tolist())


def room_cameras(n: int = 5, w: int = 200, h: int = 120) -> list[FrameCamera]:
    """Level cameras 2.2 m off, looking at the product's foot: a sliver of what stands above the
    horizon (a room's walls, a sky) is in view."""
    return [look_at(np.array([-2.2 * np.cos(a), -2.2 * np.sin(a), 1.2]), np.array([0.0, 0.0, 0.05]), w, h, 90.0) for a in np.linspace(-0.25, 0.25, n)]



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


def plate_with_boxes(cam, light, boxes, ground=(0.5, 0.45, 0.35), box_rgb=(0.15, 0.2, 0.45), ratio=3.0, w: int = 200, h: int = 120,
                     above=(0.6, 0.7, 0.9), shade=None):
    """Ground plus upright boxes (centre x, y, half size, height), ray-cast; the ground is in
    shadow where its ray towards ``light`` hits a box, darkened there by ``shade`` per channel
    (default 1 / ``ratio``, a little less in blue). ``above``: what is seen over the horizon (a
    clear sky's blue by default)."""
    c2w = np.asarray(cam.c2w)
    rays = camera_rays(cam, w, h)
    o = c2w[:3, 3]

    def box_t(orig, d, box):
        bx, by, half, top = box
        lo, hi = np.array([bx - half, by - half, 0.0]), np.array([bx + half, by + half, top])
        with np.errstate(divide="ignore", invalid="ignore"):
            t1, t2 = (lo - orig) / d, (hi - orig) / d
        tn, tf = np.nanmax(np.minimum(t1, t2), -1), np.nanmin(np.maximum(t1, t2), -1)
        return np.where((tf >= tn) & (tf > 1e-4), np.maximum(tn, 0), np.inf)

    down = rays[..., 2] < -1e-3
    t_ground = np.where(down, -o[2] / np.where(down, rays[..., 2], -1), np.inf)
    t_box = np.min([box_t(o, rays, b) for b in boxes], axis=0)
    hit = o + rays * t_ground[..., None]
    lvec = np.broadcast_to(np.asarray(light, np.float64), hit.shape)
    shaded = np.min([box_t(hit, lvec, b) for b in boxes], axis=0) < np.inf
    shade = np.array([1 / ratio, 1 / ratio, 1.2 / ratio]) if shade is None else np.asarray(shade)
    img = np.where(shaded[..., None], np.array(ground) * shade, np.array(ground))
    img = np.where((t_box < t_ground)[..., None], np.array(box_rgb), img)
    img[~down & ~(t_box < np.inf)] = above
    return img.astype(np.float32)


SKY_LIT = (1 / 2.6, 1.08 / 2.6, 1.4 / 2.6)
"""A cast shadow's shade under a clear sky: the sun's light gone, the sky's bluer light left."""


CLEAR_SKY_ABOVE = (0.9, 1.0, 1.25)


def high_sun_paving(light, boxes, bands: bool = True, w: int = 320, h: int = 180, above=CLEAR_SKY_ABOVE, shade=SKY_LIT) -> list:
    """Frames of boxes on pale paving under a sun along ``light`` and a clear sky (seen above the
    horizon; ``above`` another colour there), their shadows sky-lit (SKY_LIT; ``shade`` another
    per-channel darkening, as bounce light may leave them); with ``bands``,
    crossed by bands of a darker, neutral paving (1.7x darker in every channel) every 0.8 m one
    way and 1 m the other, as a plaza's. Cameras 3 m off, 1.4 m up, on a slow arc looking along +x."""
    out = []
    for a in np.linspace(-0.2, 0.2, 5):
        cam = look_at(np.array([-3.0 * np.cos(a), -3.0 * np.sin(a), 1.4]), np.array([0.0, 0.0, 0.5]), w, h, 220.0)
        img = plate_with_boxes(cam, light, boxes, ground=(0.5, 0.47, 0.45), w=w, h=h, above=above, shade=shade)
        hit, down = ground_hits(cam, w, h)
        x, y = hit[..., 0], hit[..., 1]
        band = (np.abs(((y + 0.1) % 0.8) - 0.1) < 0.1) | (np.abs(((x + 0.1) % 1.0) - 0.1) < 0.1)
        floor = down & (np.abs(img - np.array(above, np.float32)).max(axis=-1) > 1e-6)  # ground and boxes, not the sky
        boxes_seen = np.abs(img - np.array([0.15, 0.2, 0.45], np.float32)).max(axis=-1) < 1e-6
        img = np.where((bands & band & floor & ~boxes_seen)[..., None], img / 1.7, img)
        out.append((img.astype(np.float32), cam))
    return out


def canopy_plates(shade_ratio: np.ndarray, brightness=None, sky=None) -> list:
    """Frames of cameras looking down at grass (no sky in frame) with soft blotches of shade
    whose lit/shade ratio per channel is ``shade_ratio`` at their deepest; ``brightness(hit)``
    (ground points H x W x 3 -> H x W) scales the light over the ground (a pool, a gradient).
    ``sky`` (an RGB): the cameras look out level instead, over the grass to a sky of that colour."""
    grass, out = np.array([0.05, 0.08, 0.023]), []
    for a in np.linspace(-0.25, 0.25, 5):
        target = np.array([0.0, 0.0, 1.4 if sky is not None else 0.0])
        cam = look_at(np.array([-1.6 * np.cos(a), -1.6 * np.sin(a), 1.6]), target, 200, 120, 110.0)
        hit, down = ground_hits(cam, 200, 120)
        x, y = hit[..., 0], hit[..., 1]
        z = np.sin(x * 2.1 + 0.5) + np.sin(y * 1.7 + 1.3 * np.sin(x * 0.9)) + 0.6 * np.sin((x + y) * 3.1)
        shade = 1 / (1 + np.exp(-z / 0.35))
        img = grass * (1.0 / shade_ratio) ** (1.6 * shade[..., None])
        if brightness is not None:
            img = img * brightness(hit)[..., None]
        img[~down] = 0.0 if sky is None else np.asarray(sky, np.float64)
        out.append((np.minimum(img, 0.9).astype(np.float32), cam))
    return out
