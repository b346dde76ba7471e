"""GRIC tells a camera that turns (and zooms) from one that travels, on exact synthetic
tracks with half a pixel of noise: over a 3D scene and over a single plane, where a
homography alone would fit and only the rotation model's constraint separates the two."""
import numpy as np
import pytest

from shotcache.motion_model import select_motion

W, H, F = 640, 360, 500.0


def _yaw(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def synthetic_tracks(kind, n=10, seed=0):
    rng = np.random.default_rng(seed)
    P = np.c_[rng.uniform(-4, 4, 250), rng.uniform(-2, 2, 250), rng.uniform(4, 12, 250)]
    if kind == "plane":  # a floor 1.5 m below the camera, walked over
        P = np.c_[rng.uniform(-4, 4, 250), np.full(250, 1.5), rng.uniform(3, 12, 250)]
    tracks = {}
    for i in range(n):
        f = F * (1 + 0.02 * i) if kind == "zoom_pan" else F
        R, t = (_yaw(0.02 * i), np.zeros(3)) if kind == "zoom_pan" else (_yaw(0.005 * i), np.array([0.0, 0.0, -0.15 * i]))
        X = P @ R.T + t
        x = X[:, :2] / X[:, 2:] * f + [W / 2, H / 2] + rng.normal(0, 0.5, (len(P), 2))
        for k in np.flatnonzero((X[:, 2] > 0.5) & (x[:, 0] >= 0) & (x[:, 0] < W) & (x[:, 1] >= 0) & (x[:, 1] < H)):
            tracks.setdefault(int(k), {})[i] = (float(x[k, 0]), float(x[k, 1]))
    return tracks


@pytest.mark.parametrize("kind,expected", [("zoom_pan", "rotation"), ("plane", "plane"), ("scene", "general")])
def test_gric_picks_the_motion_model(kind, expected):
    res = select_motion(synthetic_tracks(kind), (W, H), n_pairs=3)
    assert res["model"] == expected, res["gric"]
    if expected == "rotation":  # the zoom is measured: focal grows 2 % per frame
        f0, f1 = res["pairs"][0]["focal_px"]
        (a, b) = res["pairs"][0]["frames"]
        assert f1 / f0 == pytest.approx((1 + 0.02 * b) / (1 + 0.02 * a), rel=0.03)


def test_no_motion_cannot_tell():
    still = {k: {0: (float(k), 5.0), 1: (float(k), 5.0)} for k in range(40)}
    assert select_motion(still, (W, H))["model"] == "unknown"
