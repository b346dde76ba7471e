"""Up, ground and scale from camera poses alone, on camera rigs whose truth is known."""
import numpy as np
import pytest

from shotcache.camera_ground import ground_from_cameras, world_ground_plausible


def look_at(eye, target, up=(0, 0, 1)):
    eye, target, up = (np.asarray(v, float) for v in (eye, target, up))
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    M = np.eye(4)
    M[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    M[:3, 3] = eye
    return M


def orbit(n=12, height=1.5, radius=3.0):
    return np.stack([look_at((radius * np.cos(a), radius * np.sin(a), height), (0, 0, 0))
                     for a in np.linspace(0, 1.5, n)])


def rotated(c2ws, scale, angle_deg=70.0, shift=(4.0, -2.0, 7.0)):
    """The same rig in another tool's world: rotated, scaled (units), moved."""
    t = np.radians(angle_deg)
    R = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    out = c2ws.copy()
    out[:, :3, :3] = R @ c2ws[:, :3, :3]
    out[:, :3, 3] = scale * (c2ws[:, :3, 3] @ R.T) + shift
    return out, R


def test_orbit_in_a_foreign_world_gets_its_ground_and_scale_back():
    rig = orbit()
    assert world_ground_plausible(rig)
    foreign, R = rotated(rig, scale=0.25)
    assert not world_ground_plausible(foreign)
    g = ground_from_cameras(foreign)
    assert np.degrees(np.arccos(np.dot(g["normal"], R @ [0, 0, 1]))) < 1.0
    # the ground passes through the point looked at: the true ground, 1.5 m under the rig
    assert "look at" in g["how"]
    np.testing.assert_allclose(g["point"], [4.0, -2.0, 7.0], atol=1e-6)
    assert g["metres_per_unit"] == pytest.approx(1.5 / (0.25 * 1.5), rel=1e-6)
    assert "typical camera height" in g["source"]
    given = ground_from_cameras(foreign, camera_height_m=1.2)
    assert given["metres_per_unit"] == pytest.approx(1.2 / 0.375, rel=1e-6) and given["source"] == "--camera-height 1.2 m"


def test_rig_looking_at_eye_level_gets_a_ground_below_every_camera():
    """Cameras at several heights round a wall mount (the fox): the point they look at is
    between them, so the ground goes below the lowest one."""
    rig = np.stack([look_at((3 * np.cos(a), 3 * np.sin(a), z), (0, 0, 0.2)) for a, z in
                    zip(np.linspace(0, 1.2, 10), np.linspace(-1.0, 1.4, 10))])
    g = ground_from_cameras(rig)
    heights = (rig[:, :3, 3] - g["point"]) @ np.asarray(g["normal"])
    assert heights.min() > 0 and "below the lowest camera" in g["how"]
    assert np.dot(g["normal"], [0, 0, 1]) > 0.99
