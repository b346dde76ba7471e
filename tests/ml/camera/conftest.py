"""Synthetic camera paths with exact ground truth for the camera tests."""
import numpy as np
import pytest

from ml.camera.solve import Solve
from shotcache.schema import FrameCamera


def look_at(eye, target, up=(0, 0, 1)):
    """OpenCV c2w looking from eye to target in a z-up world."""
    eye, target, up = map(lambda v: np.asarray(v, float), (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    M = np.eye(4)
    M[:3, :3] = np.stack([x, y, z], axis=1)
    M[:3, 3] = eye
    return M


def dolly_solve(n=12, W=640, H=360, f=500.0, height=1.5):
    cams = {}
    for i in range(n):
        eye = (-1.0 + 2.0 * i / (n - 1), -4.0, height)
        cams[i + 1] = FrameCamera(f, f, W / 2, H / 2, look_at(eye, (0, 0, 0.3)).tolist())
    rng = np.random.default_rng(1)
    ground = np.c_[rng.uniform(-3, 3, 300), rng.uniform(-1, 4, 300), np.zeros(300)]
    clutter = np.c_[rng.uniform(-3, 3, 60), rng.uniform(2, 4, 60), rng.uniform(0.2, 2.0, 60)]
    s = Solve(width=W, height=H, cameras=cams, points=np.vstack([ground, clutter]),
              frame_error={k: 0.4 for k in cams}, frame_tracks={k: 80 for k in cams}, tracker="synthetic")
    return s


@pytest.fixture
def dolly():
    """Factory of a dolly shot over a floor with clutter: dolly(n=12, W=640, H=360, ...)."""
    return dolly_solve
