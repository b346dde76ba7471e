"""Key light from cast shadows on the rectified ground: hard vs soft, strength, direction."""
from __future__ import annotations

import math

import numpy as np

from shotcache.schema import FrameCamera

from ml.light.key import GroundGrid, estimate_key
from ml.light.shot import estimate_light

W, H = 200, 120


def look_at(eye: np.ndarray, target: np.ndarray, w: int = 160, h: int = 90, f: float = 120.0) -> FrameCamera:
    fwd = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, fwd, eye
    return FrameCamera(f, f, w / 2, h / 2, c2w.tolist())


def plate(cam, shadow_fn, lit=(0.5, 0.45, 0.35), ratio=3.0, texture=0.0, seed=0):
    """A ground plane image; ``shadow_fn(x, y)`` True where the key is blocked."""
    c2w = np.asarray(cam.c2w)
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    rays = np.stack([(xs - cam.cx) / cam.fx, (ys - cam.cy) / cam.fy, np.ones_like(xs)], -1) @ c2w[:3, :3].T
    down = rays[..., 2] < -1e-3
    t = -c2w[2, 3] / np.where(down, rays[..., 2], -1)
    hit = c2w[:3, 3] + rays * t[..., None]
    base = np.asarray(lit, np.float32) * (1 + texture * np.sin(hit[..., 0] * 40)[..., None] * np.cos(hit[..., 1] * 37)[..., None])
    shade = np.where(shadow_fn(hit[..., 0], hit[..., 1])[..., None], np.array([1 / ratio, 1 / ratio, 1.2 / ratio]), 1.0)
    img = (base * shade).astype(np.float32)
    img[~down] = (0.6, 0.7, 0.9)
    return img


def cameras(n=5):
    return [look_at(np.array([-2.2 * math.cos(a), -2.2 * math.sin(a), 1.2]), np.array([0.0, 0.0, 0.0]), W, H, 150.0) for a in np.linspace(-0.25, 0.25, n)]


def band(x, y):
    """A shadow band along +x (the light is towards -x or +x), next to the product."""
    return (np.abs(y - 0.6) < 0.25) & (x > -1.5) & (x < 1.5)


def test_hard_shadow_gives_a_key_soft_ground_does_not():
    g = GroundGrid(centre=np.zeros(3), normal=np.array([0.0, 0.0, 1.0]))
    for cam in cameras():
        g.add(plate(cam, band), cam)
    est = estimate_key(g)
    assert est.hard, est.why
    assert 2.3 < est.ratio < 3.8
    horiz = np.asarray(est.direction)[:2]
    assert abs(horiz[1]) / np.linalg.norm(horiz) < 0.35  # along the band's long axis (x)

    g2 = GroundGrid(centre=np.zeros(3), normal=np.array([0.0, 0.0, 1.0]))
    for cam in cameras():
        g2.add(plate(cam, lambda x, y: np.zeros_like(x, bool), texture=0.15), cam)
    soft = estimate_key(g2)
    assert not soft.hard and soft.direction is None


def test_estimate_light_record():
    imgs = [(plate(cam, band), cam) for cam in cameras()]
    env, key, lighting = estimate_light(imgs, np.zeros(3), np.zeros(3), np.array([0.0, 0.0, 1.0]))
    assert env.shape == (64, 128, 3) and np.isfinite(env).all()
    assert lighting.method == "plate" and lighting.estimated
    assert len(lighting.lights) == 1 and lighting.lights[0].type == "sun"
    sun = lighting.lights[0]
    assert sun.intensity > 0 and abs(np.linalg.norm(sun.direction) - 1) < 1e-6 and sun.direction[2] > 0.2
    assert len(lighting.shadow_ratio) == 3 and all(0.2 < r < 0.6 for r in lighting.shadow_ratio)
