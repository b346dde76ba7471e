"""Light maps from G-buffer passes: cosine = n.l, distances, irradiance, strongest light."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ml.relight import maps
from shotcache.schema import Light, Lighting


def _gbuffer(h: int = 6, w: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=(h, w, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    position = rng.uniform(-1, 1, size=(h, w, 3)).astype(np.float32)
    return normal, position


def test_cosine_is_n_dot_l_for_sun_and_point():
    normal, position = _gbuffer()
    sun = Light(type="sun", direction=[0.0, 0.0, 2.0])
    np.testing.assert_allclose(maps.cosine_map(normal, position, sun), normal[..., 2], atol=1e-6)
    lamp = Light(type="point", position=[3.0, -1.0, 4.0])
    to_l = np.array([3.0, -1.0, 4.0]) - position
    expect = np.sum(normal * to_l, -1) / np.linalg.norm(to_l, axis=-1)
    np.testing.assert_allclose(maps.cosine_map(normal, position, lamp), expect, atol=1e-5)


def test_distances_point_is_euclidean_sun_is_depth_from_the_light():
    normal, position = _gbuffer()
    lamp = {"type": "point", "position": [0.0, 0.0, 5.0]}
    np.testing.assert_allclose(maps.distance_map(position, lamp), np.linalg.norm(position - [0, 0, 5], axis=-1), atol=1e-5)
    sun = {"type": "sun", "direction": [0.0, 0.0, 1.0]}
    d = maps.distance_map(position, sun)
    np.testing.assert_allclose(d, position[..., 2].max() - position[..., 2], atol=1e-6)
    assert d.min() == pytest.approx(0.0)  # the point nearest the sun


def test_irradiance_falls_off_with_square_distance_and_masks_background():
    pos = np.array([[[0, 0, 1], [0, 0, 2]]], np.float32)
    lamp = Light(type="point", position=[0, 0, 0], color=[1, 0.5, 0.25], intensity=100.0)
    e = maps.irradiance_map(pos, lamp)
    assert e[0, 0, 0] / e[0, 1, 0] == pytest.approx(4.0, rel=1e-5)
    assert e[0, 0, 0] == pytest.approx(100 / (4 * math.pi * math.pi), rel=1e-5)
    np.testing.assert_allclose(e[0, 0] / e[0, 0, 0], [1, 0.5, 0.25], rtol=1e-6)
    valid = np.array([[True, False]])
    assert np.all(maps.irradiance_map(pos, lamp, valid)[0, 1] == 0)


def test_gbuffer_one_pair_per_light_or_the_strongest():
    normal, position = _gbuffer()
    alpha = np.ones(normal.shape[:2], np.float32)
    alpha[0, 0] = 0
    weak = Light(type="sun", direction=[1, 0, 0], intensity=0.5)
    strong = Light(type="sun", direction=[0, 1, 0], intensity=5.0)
    lighting = Lighting(world_color=[1, 1, 1], world_strength=0.2, lights=[weak, strong])
    albedo = np.full_like(normal, 0.5)
    gb = maps.gbuffer(albedo, normal, position, lighting, alpha)
    assert len(gb.lights) == 2 and not gb.valid[0, 0]
    assert gb.lights[0].cosine[0, 0] == 0 and gb.lights[0].distance[0, 0] == 0
    np.testing.assert_allclose(gb.ambient[1, 1], 0.5 * 0.2, rtol=1e-6)
    one = maps.gbuffer(albedo, normal, position, lighting, alpha, lights="strongest")
    assert len(one.lights) == 1
    np.testing.assert_allclose(one.lights[0].cosine[1:], normal[1:, :, 1], atol=1e-6)
    assert one.lights[0].distance[gb.valid].min() == pytest.approx(0.0)
