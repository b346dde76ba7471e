"""Whether a clipped patch of sky is the sun: small, and inside its own glare (ml/light/sun_disc.py)."""
from __future__ import annotations

import math

import numpy as np

from ml.light.sun_disc import not_the_sun

from ground_plates import camera_rays, look_at

W, H, F = 320, 180, 220.0
SUN = np.array([math.cos(math.radians(12.0)), 0.0, math.sin(math.radians(12.0))])


def views(draw):
    """Three frames of a slow pan looking along +x (the sun 12 degrees up ahead), drawn by
    ``draw(unit ray directions) -> linear RGB``."""
    out = []
    for yaw in (-0.06, 0.0, 0.06):
        cam = look_at(np.array([0.0, 0.0, 1.5]), np.array([10.0 * math.cos(yaw), 10.0 * math.sin(yaw), 2.2]), W, H, F)
        rays = camera_rays(cam, W, H)
        rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
        out.append((draw(rays).astype(np.float32), cam, 1.0))
    return out


def sky(rays):
    """A daylight sky over a dark ground."""
    up = rays[..., 2:3]
    return np.where(up > 0, np.array([0.45, 0.55, 0.75]) * (1.0 - 0.3 * up), np.array([0.08, 0.07, 0.06]))


def angle_to(rays, d):
    return np.degrees(np.arccos(np.clip(rays @ d, -1.0, 1.0)))[..., None]


def test_a_sun_in_its_glare_is_the_sun():
    """A clipped disc of half a degree whose aureole stays near clipping a few radii out."""
    def draw(rays):
        a = angle_to(rays, SUN)
        glare = np.exp(-np.maximum(a - 0.6, 0.0) / 4.0)  # falls from clipping over several degrees
        return np.maximum(sky(rays), np.where(a < 0.6, 1.2, glare))
    assert not_the_sun(views(draw), SUN) == ""


def test_a_wide_clipped_roof_is_not_the_sun():
    """A white roof clipped over several degrees: too wide for the sun, glare or not."""
    def draw(rays):
        return np.where(angle_to(rays, SUN) < 6.0, 1.2, sky(rays))
    assert "too wide" in not_the_sun(views(draw), SUN)


def test_a_small_clipped_patch_without_glare_is_not_the_sun():
    """A small clipped highlight (a window's reflection, a lamp) over a dim wall: no glare round it."""
    def draw(rays):
        wall = np.full(rays.shape, 0.3)
        return np.where(angle_to(rays, SUN) < 1.0, 1.2, wall)
    assert "glare" in not_the_sun(views(draw), SUN)


def test_a_direction_no_frame_shows_clipped_says_nothing():
    """Nothing clipped where the direction falls in the frames: the environment map's evidence stands."""
    assert not_the_sun(views(sky), SUN) == ""
