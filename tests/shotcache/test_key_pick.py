"""The key's direction from one cast shadow picked in a frame (shotcache/key_pick.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from shotcache.errors import InputError
from shotcache.key_pick import ShadowPick, check_in_frame, direction_from_pick, parse_pick
from shotcache.schema import FrameCamera

W, H = 1280, 720


def look_at(eye, target, f=900.0) -> FrameCamera:
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    fwd = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, fwd, eye
    return FrameCamera(f, f, W / 2, H / 2, c2w.tolist())


def pixel(cam: FrameCamera, p) -> tuple[float, float]:
    c2w = np.asarray(cam.c2w)
    q = (np.asarray(p, float) - c2w[:3, 3]) @ c2w[:3, :3]
    return (float(cam.fx * q[0] / q[2] + cam.cx), float(cam.fy * q[1] / q[2] + cam.cy))


def sun(elev_deg: float, az_deg: float) -> np.ndarray:
    e, a = math.radians(elev_deg), math.radians(az_deg)
    return np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])


def pole_pick(cam, light, foot=(0.6, 0.4, 0.0), height=1.2, frame=3, noise=0.0, seed=0) -> ShadowPick:
    foot = np.asarray(foot, float)
    top = foot + [0.0, 0.0, height]
    tip = top - light * (height / light[2])  # where the top's shadow meets z = 0
    rng = np.random.default_rng(seed)
    px = [tuple(np.asarray(pixel(cam, p)) + rng.normal(0, noise, 2)) for p in (foot, top, tip)]
    return ShadowPick(frame, *px)


CAM = look_at([-3.0, -2.5, 1.6], [0.5, 0.5, 0.3])


@pytest.mark.parametrize("elev,az", [(24.0, 40.0), (62.0, -120.0), (35.0, 170.0)])
def test_the_direction_of_a_poles_shadow_is_the_suns(elev, az):
    light = sun(elev, az)
    pick = pole_pick(CAM, light)
    key = direction_from_pick(CAM, [0, 0, 0], [0, 0, 1], pick)
    assert np.degrees(np.arccos(np.clip(np.dot(key.direction, light), -1, 1))) < 0.2
    assert key.elevation_deg == pytest.approx(elev, abs=0.2) and key.height_m == pytest.approx(1.2, abs=0.01)


def test_a_pick_a_pixel_or_two_off_still_gives_the_elevation_within_a_few_degrees():
    light = sun(24.0, 40.0)
    for seed in range(5):
        key = direction_from_pick(CAM, [0, 0, 0], [0, 0, 1], pole_pick(CAM, light, noise=1.5, seed=seed))
        assert abs(key.elevation_deg - 24.0) < 2.5 and np.dot(key.direction, light) > math.cos(math.radians(3))


def test_pixels_of_the_plate_are_scaled_to_the_cameras_resolution():
    light = sun(30.0, 10.0)
    half = FrameCamera(CAM.fx / 2, CAM.fy / 2, CAM.cx / 2, CAM.cy / 2, CAM.c2w)  # the shot renders at half size
    key = direction_from_pick(half, [0, 0, 0], [0, 0, 1], pole_pick(CAM, light), scale=0.5)
    assert key.elevation_deg == pytest.approx(30.0, abs=0.2)


def test_a_tilted_ground_gives_the_elevation_above_that_ground():
    tilt = np.radians(10.0)
    n = np.array([0.0, math.sin(tilt), math.cos(tilt)])
    rot = np.array([[1, 0, 0], [0, math.cos(tilt), math.sin(tilt)], [0, -math.sin(tilt), math.cos(tilt)]])  # z -> n
    light = rot @ sun(30.0, 60.0)
    foot = np.array([0.6, 0.4, 0.0]) @ rot.T
    top = foot + 1.0 * n
    tip = top - light * (1.0 / (light @ n))
    pick = ShadowPick(1, pixel(CAM, foot), pixel(CAM, top), pixel(CAM, tip))
    key = direction_from_pick(CAM, [0, 0, 0], n, pick)
    assert key.elevation_deg == pytest.approx(30.0, abs=0.3) and np.dot(key.direction, light) > 0.9999


def test_the_text_is_read_and_refused_with_what_to_write():
    assert parse_pick("12:640,610:652.5,300:410,660") == ShadowPick(12, (640.0, 610.0), (652.5, 300.0), (410.0, 660.0))
    for bad in ("12:640,610:652,300", "x:1,2:3,4:5,6", "3:1,2:3:5,6", "3:1,2:3,4:5,nan", "3:-1,2:3,4:5,6"):
        with pytest.raises(InputError, match="FRAME:FOOTX,FOOTY"):
            parse_pick(bad)


def test_picks_that_cannot_be_an_edge_and_its_shadow_are_refused():
    light = sun(30.0, 40.0)
    good = pole_pick(CAM, light)
    cases = {
        "not above the foot": ShadowPick(3, good.foot, (good.foot[0], good.foot[1] + 40), good.tip),
        "not on the ground": ShadowPick(3, good.foot, good.top, (640.0, 5.0)),  # the tip up in the sky
        "beside the vertical": ShadowPick(3, good.foot, (good.top[0] + 400, good.top[1]), good.tip),
        "pick the tip": ShadowPick(3, good.foot, good.top, good.foot),  # no shadow length: the sun overhead
    }
    for why, pick in cases.items():
        with pytest.raises(InputError, match=why):
            direction_from_pick(CAM, [0, 0, 0], [0, 0, 1], pick)
    with pytest.raises(InputError, match="frame 3 is not one of the shot's frames"):
        check_in_frame(good, W, H, [10, 11, 12])
    with pytest.raises(InputError, match="outside the 640x360 frame"):
        check_in_frame(good, 640, 360, [3])
    check_in_frame(good, W, H, [1, 2, 3])


def test_the_plates_lens_is_taken_out_of_the_picked_pixels():
    """Pixels picked on a distorted plate name the undistorted rays: the same elevation."""
    from shotcache.lens import project
    from shotcache.schema import Distortion

    lens = Distortion(k1=-0.3, k2=0.05)
    light = sun(28.0, 30.0)
    straight = pole_pick(CAM, light, foot=(1.6, -0.2, 0.0))  # off the centre, where the lens bends most
    c2w = np.asarray(CAM.c2w)
    pts = []
    for p in (straight.foot, straight.top, straight.tip):  # the same world points, imaged through the lens
        ray = np.array([(p[0] - CAM.cx) / CAM.fx, (p[1] - CAM.cy) / CAM.fy, 1.0])
        pts.append(tuple(project(CAM, lens, ray[None])[0]))
    bent = ShadowPick(3, *pts)
    assert np.hypot(*np.subtract(bent.top, straight.top)) > 5  # the lens moved the pixels
    key = direction_from_pick(CAM, [0, 0, 0], [0, 0, 1], bent, lens=lens)
    assert key.elevation_deg == pytest.approx(28.0, abs=0.2) and key.height_m == pytest.approx(1.2, abs=0.005)
    assert abs(direction_from_pick(CAM, [0, 0, 0], [0, 0, 1], bent).height_m - 1.2) > 0.02  # ignoring it measures wrong
