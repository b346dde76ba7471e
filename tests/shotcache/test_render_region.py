"""The rule of which rectangle of a frame a product render needs (shotcache/render_region.py)."""
from __future__ import annotations

import math

import numpy as np

from shotcache import render_region as rr
from shotcache.latlong import direction_to_pixel

CUBE = rr.box_corners([-0.1, -0.1, 0.0], [0.1, 0.1, 0.2])
GROUND = ([0.0, 0.0, 0.0], [0.0, 0.0, 1.0])


def _sun(elevation_deg: float, azimuth_deg: float = 0.0) -> np.ndarray:
    e, a = math.radians(elevation_deg), math.radians(azimuth_deg)
    return np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])


def test_a_suns_shadow_ends_where_the_top_corners_land_away_from_it():
    pts = rr.shadow_points(CUBE, *GROUND, suns=[_sun(45.0)], lamps=[])
    assert pts is not None and np.allclose(pts[8:, 2], 0.0)  # on the ground
    tops = pts[8:][CUBE[:, 2] > 0.1]
    assert np.allclose(tops[:, 0], CUBE[CUBE[:, 2] > 0.1][:, 0] - 0.2)  # 0.2 m tall at 45 deg: 0.2 m away from the sun (+x)
    low = rr.shadow_points(CUBE, *GROUND, suns=[_sun(20.0)], lamps=[])
    assert low is not None and low[:, 0].min() < pts[:, 0].min() - 0.3  # a low sun: a longer shadow
    assert rr.shadow_points(CUBE, *GROUND, suns=[_sun(3.0)], lamps=[]) is None  # grazing: no end


def test_a_lamps_shadow_points_away_from_it_and_a_low_lamp_has_no_end():
    pts = rr.shadow_points(CUBE, *GROUND, suns=[], lamps=[[1.0, 0.0, 1.0]])
    assert pts is not None and np.allclose(pts[8:, 2], 0.0, atol=1e-9)
    assert pts[8:, 0].min() < -0.1  # thrown away from the lamp at +x
    assert rr.shadow_points(CUBE, *GROUND, suns=[], lamps=[[1.0, 0.0, 0.2]]) is None  # at the product's height


def test_the_soft_reach_surrounds_the_foot_at_its_distance():
    import cv2

    pts = rr.soft_points(CUBE, *GROUND)
    assert np.allclose(pts[:, 2], 0.0)
    hull = cv2.convexHull(pts[:, :2].astype(np.float32))
    a = np.linspace(0, 2 * math.pi, 90, endpoint=False)
    circle = rr.SOFT_REACH * 0.2 * np.stack([np.cos(a), np.sin(a)], 1)  # product size 0.2 m, round its foot
    assert all(cv2.pointPolygonTest(hull, (float(x), float(y)), True) >= -1e-4 for x, y in circle)
    assert all(cv2.pointPolygonTest(hull, (float(x), float(y)), True) < 0 for x, y in 1.5 * circle)  # and not much more


def test_only_bright_patches_of_the_environment_cast_shadows_of_their_own():
    env = np.full((64, 128, 3), 0.5)
    assert rr.env_casters(env) == []  # a uniform sky: a soft shadow only
    d = _sun(30.0, 60.0)
    c, r = direction_to_pixel(d, 128, 64)
    env[int(r) - 2 : int(r) + 2, int(c) - 2 : int(c) + 2] = 400.0  # a window: a few pixels, most of the light
    casters = rr.env_casters(env)
    assert casters and min(float(np.degrees(np.arccos(np.clip(k @ d, -1, 1)))) for k in casters) < 8.0


def test_the_box_is_the_points_plus_a_margin_or_the_whole_frame():
    uvz = np.array([[0.4, 0.3, 2.0], [0.5, 0.45, 2.0]])
    box = rr.screen_box(uvz)
    assert box == (0.4 - rr.MARGIN, 0.5 + rr.MARGIN, 0.3 - rr.MARGIN, 0.45 + rr.MARGIN)
    assert rr.screen_box(np.array([[0.4, 0.3, 2.0], [0.5, 0.45, -1.0]])) is None  # behind the camera
    assert rr.screen_box(np.array([[0.0, 0.0, 1.0], [1.0, 0.9, 1.0]])) is None  # most of the frame
    assert rr.union([box, (0.1, 0.2, 0.1, 0.2)]) == (0.1, box[1], 0.1, box[3])
    assert rr.union([box, None]) is None
