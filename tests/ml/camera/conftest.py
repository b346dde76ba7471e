"""Synthetic camera paths with exact ground truth for the camera tests."""
import cv2
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


TEX_SCALE = 200.0  # texture pixels per metre
TEX_ORIGIN = (-4.0, -2.0)


def floor_texture(seed=0):
    rng = np.random.default_rng(seed)
    small = (rng.random((200, 160)) * 255).astype(np.uint8)
    tex = cv2.resize(small, (1600, 2000), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(tex, (0, 0), 1.5)


def render_floor(solve, tex, frame):
    """Image of the z = 0 floor: pixel ~ K [r1 r2 t] [X Y 1]^T, X = u / s + x0."""
    w2c = np.linalg.inv(solve.c2w(frame))
    H_world = solve.K(frame) @ np.c_[w2c[:3, 0], w2c[:3, 1], w2c[:3, 3]]
    world_from_tex = np.array([[1 / TEX_SCALE, 0, TEX_ORIGIN[0]], [0, 1 / TEX_SCALE, TEX_ORIGIN[1]], [0, 0, 1]])
    # OpenCV pixel centres are integers; ours are half-integers: shift by -0.5
    shift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    H = shift @ H_world @ world_from_tex @ np.linalg.inv(shift)
    return cv2.warpPerspective(tex, H, (solve.width, solve.height), flags=cv2.INTER_CUBIC)


@pytest.fixture
def floor_frames():
    """Factory: floor_frames(solve, folder) -> {frame: png} of the textured z = 0 floor seen
    by each camera of the solve (exact homographies, so the true camera is known)."""

    def make(solve, folder, seed=0):
        tex = floor_texture(seed)
        frames = {}
        for f in solve.cameras:
            path = folder / f"{f:04d}.png"
            cv2.imwrite(str(path), render_floor(solve, tex, f))
            frames[f] = path
        return frames

    return make


def pan_solve(n=30, W=480, H=270, f=420.0, height=1.5, yaw_deg=30.0, pitch_deg=40.0):
    """A tripod pan over the floor: the camera turns (yaw sweep) but does not travel."""
    cams = {}
    for i in range(n):
        yaw = np.radians(-yaw_deg / 2 + yaw_deg * i / (n - 1))
        pitch = np.radians(pitch_deg)
        d = np.array([np.sin(yaw) * np.cos(pitch), np.cos(yaw) * np.cos(pitch), -np.sin(pitch)])
        eye = np.array([0.0, 0.0, height])
        cams[i + 1] = FrameCamera(f, f, W / 2, H / 2, look_at(eye, eye + d).tolist())
    return Solve(width=W, height=H, cameras=cams, tracker="synthetic")


@pytest.fixture
def pan():
    """Factory of a tripod pan over a textured floor: pan(n=30, W=480, H=270, f=420, ...)."""
    return pan_solve
