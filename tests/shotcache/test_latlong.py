"""The lat-long layout's irradiance: what the environment gives a surface, as a path tracer sums it."""
from __future__ import annotations

import numpy as np

from shotcache import latlong


def test_a_uniform_sky_gives_pi_times_its_radiance_and_nothing_from_below():
    env = np.zeros((64, 128, 3))
    env[:32] = (0.2, 0.3, 0.5)  # sky above the horizon, black ground below
    up = latlong.irradiance(env, np.array([0.0, 0.0, 1.0]))
    assert np.allclose(up, np.pi * np.array([0.2, 0.3, 0.5]), rtol=0.01)
    down = latlong.irradiance(env, np.array([0.0, 0.0, -1.0]))
    assert np.allclose(down, 0.0, atol=1e-9)
    side = latlong.irradiance(env, np.array([1.0, 0.0, 0.0]))  # a wall sees half the sky
    assert np.allclose(side, 0.5 * np.pi * np.array([0.2, 0.3, 0.5]), rtol=0.02)


def test_a_bright_patch_counts_by_its_cosine():
    env = np.zeros((90, 180, 3))
    col, row = latlong.direction_to_pixel(np.array([1.0, 0.0, 1.0]), 180, 90)  # 45 degrees up, along +x
    env[int(row), int(col)] = 1000.0
    omega = float(latlong.solid_angles(180, 90)[int(row), 0])
    e = latlong.irradiance(env, np.array([0.0, 0.0, 1.0]))
    d = latlong.directions(180, 90)[int(row), int(col)]
    assert np.allclose(e, 1000.0 * omega * d[2], rtol=1e-6) and abs(d[2] - np.sqrt(0.5)) < 0.03
