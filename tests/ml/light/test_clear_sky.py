"""The sky round a sun in view, filled as a CIE clear sky fitted to the sky the frames show."""
from __future__ import annotations

import math

import numpy as np

from ml.io.colour import REC709_LUMA as LUMA
from ml.light.clear_sky import GLARE_DEG, fill_round_sun, relative_luminance
from ml.light.envmap import EnvAccumulator, direction_to_pixel, directions, upper_irradiance

from ground_plates import camera_rays, look_at

UP = np.array([0.0, 0.0, 1.0])
W, H = 256, 128


def sun_at(elev_deg: float, az_deg: float = 0.0) -> np.ndarray:
    e, a = math.radians(elev_deg), math.radians(az_deg)
    return np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])


def lum_at(env: np.ndarray, d) -> float:
    c, r = direction_to_pixel(np.asarray(d, np.float64) / np.linalg.norm(d), env.shape[1], env.shape[0])
    return float(env[int(r), int(c)] @ LUMA)


def test_a_clear_sky_is_brightest_round_the_sun_and_darkest_overhead_and_away_from_it():
    d = directions(W, H)
    sun = sun_at(8.0)
    sky = relative_luminance(d, UP, sun)
    at = lambda v: lum_at(sky[..., None] * np.ones(3), v)  # noqa: E731
    assert at(sun_at(8.0, 15.0)) > 3 * at(sun_at(8.0, 180.0))  # round the sun against the sky behind the camera
    assert at(sun_at(8.0, 90.0)) > 2 * at(sun_at(89.0))  # the horizon against the zenith
    assert at([1.0, 0.0, -0.5]) == 0.0  # nothing below the horizon


def test_the_unseen_sky_follows_the_model_fitted_to_the_sky_seen_and_the_glare_is_dropped():
    """Seen: a wedge of sky round a low sun (a clear sky at a fifth of the model, orange) with its
    clipped disc. The fill elsewhere is that sky (its scale and colour), and the glare's pixels
    are no longer 'seen' (the key light carries the sun)."""
    d = directions(W, H)
    sun = sun_at(6.0)
    tint = np.array([1.3, 0.95, 0.6])
    truth = 0.2 * relative_luminance(d, UP, sun)[..., None] * tint / float(tint @ LUMA)
    below = d @ UP < -1e-3
    az = np.degrees(np.arctan2(d[..., 1], d[..., 0]))
    seen = (np.abs(az) < 40) & (d @ UP < math.sin(math.radians(30)))
    mean = np.where(seen[..., None], truth, 0.0)
    disc = d @ sun > math.cos(math.radians(2.0))
    mean[disc] = 1.0  # the clipped sun
    fill, seen_left = fill_round_sun(mean, seen, below, d, UP, sun)
    for v in (sun_at(10.0, 180.0), sun_at(60.0, 90.0), sun_at(85.0)):
        assert abs(lum_at(fill, v) / lum_at(truth, v) - 1.0) < 0.02
    c, r = direction_to_pixel(sun_at(30.0, 170.0), W, H)
    got = fill[int(r), int(c)]
    assert np.allclose(got / got.sum(), tint / tint.sum(), atol=0.01)
    assert not (seen_left & (d @ sun > math.cos(math.radians(GLARE_DEG - 1.0)))).any()
    assert (seen_left == (seen & ~(d @ sun >= math.cos(math.radians(GLARE_DEG))))).all()


def test_too_little_sky_seen_leaves_the_row_fill():
    d = directions(W, H)
    below = d @ UP < -1e-3
    seen = np.zeros((H, W), bool)
    seen[H // 2 - 1, W // 2] = True  # one pixel at the horizon
    assert fill_round_sun(np.full((H, W, 3), 0.5), seen, below, d, UP, sun_at(6.0)) is None


def _backlit_frames(sun: np.ndarray) -> list:
    """Frames looking towards a low sun across a dark ground: the sky round the sun, the sun's
    clipped disc in its glare."""
    w, h = 320, 180
    out = []
    for a in np.linspace(-0.2, 0.2, 4):
        cam = look_at(np.array([-3.0 * math.cos(a), -3.0 * math.sin(a), 1.2]), np.array([0.0, 0.0, 0.9]), w, h, 220.0)
        rays = camera_rays(cam, w, h)
        rays = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
        sky = 0.4 * relative_luminance(rays, UP, sun)[..., None] * np.array([1.2, 0.95, 0.7])
        ang = np.degrees(np.arccos(np.clip(rays @ sun, -1, 1)))[..., None]
        sky = np.maximum(sky, np.where(ang < 0.8, 1.2, np.exp(-np.maximum(ang - 0.8, 0.0) / 4.0)))
        img = np.where((rays @ UP < 0)[..., None], np.array([0.05, 0.04, 0.03]), sky).astype(np.float32)
        out.append((img, cam))
    return out


def test_with_the_sun_in_view_the_sky_behind_the_camera_is_darker_than_round_the_sun():
    """The row fill spreads the glow round a setting sun over every azimuth and up to the zenith
    (beach-sunset's unseen sky: 0.60, its pebbles an albedo of 0.03); round a sun in view the
    map falls away from it as a clear sky does, and lights an upward surface less."""
    sun = sun_at(6.0)
    env_maps = []
    for given in (sun, None):
        acc = EnvAccumulator(centre=np.array([0.0, 0.0, 0.15]), ground_point=np.zeros(3), ground_normal=UP)
        for img, cam in _backlit_frames(sun):
            acc.add(img, cam)
        env_maps.append(acc.result(sun=given))
    round_sun, rows = env_maps
    assert lum_at(round_sun, sun_at(20.0, 25.0)) > 2.5 * lum_at(round_sun, sun_at(20.0, 180.0))
    assert lum_at(round_sun, sun_at(80.0, 90.0)) < 0.5 * lum_at(rows, sun_at(80.0, 90.0))
    assert lum_at(rows, sun_at(20.0, 180.0)) > 0.8 * lum_at(rows, sun_at(20.0, 25.0))  # the row fill: as bright all round
    assert upper_irradiance(round_sun) @ LUMA < 0.6 * (upper_irradiance(rows) @ LUMA)
    assert lum_at(round_sun, sun) < 1.2 * lum_at(round_sun, sun_at(6.0, GLARE_DEG + 1.0))  # no disc nor aureole: the key light is the sun
