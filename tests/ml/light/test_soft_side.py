"""A soft light's side from its soft shadows (ml/light/soft_side.py): boxes lit by a large source."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ml.io.colour import REC709_LUMA as LUMA
from ml.light.envmap import upper_irradiance
from ml.light.key import GroundGrid, azimuth_between_deg, elevation_of_deg, estimate_key
from ml.light.shot import estimate_light
from ml.light.soft_side import (BESIDE_BASE_LOG, SECTOR_MIN_DEPTH_LOG, SOFT_KEY_ELEVATION_DEG, darkest_beside_base, darkest_side, soft_side,
                                soft_shadow_cells, trend_residual)
from ml.light.window import WINDOW_ANGLE_DEG

from ground_plates import look_at, plate_with_boxes

UP = np.array([0.0, 0.0, 1.0])
W, H = 200, 120
BOXES = [(0.9, 0.7, 0.15, 0.6), (-0.8, 0.9, 0.15, 0.5), (0.7, -0.9, 0.15, 0.7)]
GREY_ABOVE = (0.75, 0.76, 0.8)  # a hazy day's grey sky over the horizon


def towards(elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    e, a = math.radians(elevation_deg), math.radians(azimuth_deg)
    return np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])


def soft_frames(azimuth_deg: float, spread_deg: float = 26.0, n: int = 5, ratio: float = 1.8, ground=(0.5, 0.45, 0.35),
                aim_z: float = 0.0) -> list:
    """Frames of BOXES lit by a source ``spread_deg`` across from ``azimuth_deg``, 38 degrees up,
    on ``ground``: each frame the mean of ray-cast plates lit from points over the source (soft
    shadows). The cameras look at ``aim_z`` over the ground's centre (0.6: the frames' top
    rows see GREY_ABOVE over the horizon)."""
    offsets = [(de, da) for de in np.linspace(-0.5, 0.5, 3) for da in np.linspace(-0.5, 0.5, 5)]
    frames = []
    for a in np.linspace(-0.3, 0.3, n):
        cam = look_at(np.array([-2.6 * math.cos(a), -2.6 * math.sin(a), 1.3]), np.array([0.0, 0.0, aim_z]), W, H, 150.0)
        img = np.mean([plate_with_boxes(cam, towards(38.0 + de * spread_deg, azimuth_deg + da * spread_deg / math.cos(math.radians(38))),
                                        BOXES, ground=ground, ratio=ratio, above=GREY_ABOVE, w=W, h=H)
                       for de, da in offsets], axis=0)
        frames.append((img.astype(np.float32), cam))
    return frames


def grid_of(frames) -> GroundGrid:
    g = GroundGrid(centre=np.zeros(3), normal=UP)
    for img, cam in frames:
        g.add(img, cam)
    return g


@pytest.mark.parametrize("azimuth", [60.0, -150.0])
def test_soft_shadows_give_the_side_their_edges_do_not(azimuth):
    """Shadow edges as wide as a large source makes read as soft light with no key
    (``wide_edges``); the ground darker than its trend still starts at the boxes, and its shapes
    and bases give the source's azimuth within 30 degrees, from either side."""
    grid = grid_of(soft_frames(azimuth))
    key = estimate_key(grid)
    assert not key.hard and key.wide_edges and key.direction is None, key.why
    assert soft_shadow_cells(grid, key.classes).sum() > 50
    side = soft_side(grid, key)
    assert side is not None and side.bases >= 1, key.why
    assert azimuth_between_deg(side.direction, towards(38.0, azimuth), UP) < 30.0, side.direction
    assert elevation_of_deg(side.direction, UP) == pytest.approx(SOFT_KEY_ELEVATION_DEG)
    assert key.direction is None  # read on a copy: the soft estimate stands as it was


def test_the_ground_beside_a_base_is_darker_on_the_shadows_side_only():
    """A soft shadow starts at its occluder: beside the boxes' bases the ground is darker than
    its trend on the side away from the light, not on the side towards it. A reading whose
    shadows' side has no such darkening is refused (soft_side: BESIDE_BASE_LOG)."""
    grid = grid_of(soft_frames(60.0))
    key = estimate_key(grid)
    resid = trend_residual(grid, key.classes)
    right = darkest_beside_base(grid, key.classes, resid, towards(38.0, 60.0))
    wrong = darkest_beside_base(grid, key.classes, resid, towards(38.0, 240.0))
    assert right is not None and right < -BESIDE_BASE_LOG, right
    assert wrong is None or wrong > -BESIDE_BASE_LOG, wrong


def test_a_lit_ground_with_no_shadows_has_no_side():
    """Boxes far outside the grid leave its ground evenly lit: no soft shadow, no side."""
    frames = []
    for a in np.linspace(-0.3, 0.3, 5):
        cam = look_at(np.array([-2.6 * math.cos(a), -2.6 * math.sin(a), 1.3]), np.zeros(3), W, H, 150.0)
        frames.append((plate_with_boxes(cam, towards(38.0, 60.0), [(9.0, 9.0, 0.1, 0.2)], above=GREY_ABOVE, w=W, h=H), cam))
    grid = grid_of(frames)
    key = estimate_key(grid)
    assert not key.hard and key.classes is not None
    assert soft_side(grid, key) is None


def test_estimate_light_places_a_soft_key_from_the_soft_shadows_side():
    """The whole estimate: no hard key, but a soft key as wide as a window's, from the side the
    soft shadows give, where before only the environment lit the product."""
    _env, key, lighting = estimate_light(soft_frames(60.0), np.zeros(3), np.zeros(3), UP)
    assert not key.hard and key.wide_edges, key.why
    assert "darkest away from it" in lighting.notes, lighting.notes
    [light] = lighting.lights
    assert light.type == "sun" and light.angle_deg >= WINDOW_ANGLE_DEG
    assert azimuth_between_deg(light.direction, towards(38.0, 60.0), UP) < 30.0, light.direction


def test_a_pale_ground_under_a_soft_key_reads_no_brighter_sky_than_the_frames_show():
    """``shot.soft_key_sky``: the same soft light over a ground 1.3x paler. Read off its shade
    over the albedo prior alone, the unseen sky would come out 1.3x brighter, and the soft key
    with it; the grey daylight over the horizon bounds it, so the two grounds read the same
    light within 10 %, as the frames show it above the horizon."""
    sky_lum = float(np.asarray(GREY_ABOVE) @ LUMA)
    lit = {}
    for name, ground in (("mid", (0.5, 0.45, 0.35)), ("pale", (0.66, 0.6, 0.48))):
        env, key, lighting = estimate_light(soft_frames(60.0, ground=ground, aim_z=0.6), np.zeros(3), np.zeros(3), UP)
        [light] = lighting.lights
        assert light.angle_deg >= WINDOW_ANGLE_DEG, lighting.notes
        sky = float(upper_irradiance(env, UP) @ LUMA) / math.pi
        lit[name] = (sky, light.intensity, lighting.notes)
        assert sky <= 1.1 * sky_lum, (name, sky, lighting.notes)
    assert "unseen sky dimmed" in lit["pale"][2] and "shade's" in lit["pale"][2], lit["pale"][2]
    assert abs(lit["pale"][0] / lit["mid"][0] - 1) < 0.1, lit
    assert abs(lit["pale"][1] / lit["mid"][1] - 1) < 0.1, lit


@pytest.mark.parametrize("azimuth", [60.0, -150.0, 170.0])
def test_the_ground_round_the_bases_is_darkest_away_from_the_light(azimuth):
    """``darkest_side``: round each box's base the ground is darkest, under the rest of its ring,
    on the side away from the source: that side gives its azimuth within 20 degrees, whichever
    way it lies (here read by all three bases)."""
    grid = grid_of(soft_frames(azimuth))
    key = estimate_key(grid)
    side = darkest_side(grid, key.classes, trend_residual(grid, key.classes))
    assert side is not None and side[1] == 3, key.why
    assert azimuth_between_deg(side[0], towards(38.0, azimuth), UP) < 20.0, side[0]
    assert abs(float(side[0] @ UP)) < 1e-9  # horizontal: the elevation is placed, not read


def test_boxes_casting_no_shadow_have_no_darkest_side():
    """Boxes under a light that casts no shadow (lit/shadow 1): their rings hold the ground alone,
    no side SECTOR_MIN_DEPTH_LOG under the rest."""
    frames = []
    for a in np.linspace(-0.3, 0.3, 5):
        cam = look_at(np.array([-2.6 * math.cos(a), -2.6 * math.sin(a), 1.3]), np.zeros(3), W, H, 150.0)
        frames.append((plate_with_boxes(cam, towards(89.0, 60.0), BOXES, ratio=1.0, above=GREY_ABOVE, w=W, h=H), cam))
    grid = grid_of(frames)
    key = estimate_key(grid)
    assert key.classes is not None and key.classes.objects.any()
    assert darkest_side(grid, key.classes, trend_residual(grid, key.classes)) is None


def test_soft_light_read_off_low_contrast_shadows_gets_its_soft_key_too():
    """A soft light whose shadows are too faint for a sun's (lit/shadow under key.HARD_RATIO)
    but whose edges are not wide: the soft reading runs on every soft reading of the day, not
    only on wide edges (hazy 450: environment only before, now a soft key 7 degrees off)."""
    _env, key, lighting = estimate_light(soft_frames(60.0, spread_deg=8.0, ratio=1.45), np.zeros(3), np.zeros(3), UP)
    assert not key.hard and not key.wide_edges and "lit/shadow ratio" in key.why, key.why
    [light] = lighting.lights
    assert light.angle_deg >= WINDOW_ANGLE_DEG, lighting.notes
    assert azimuth_between_deg(light.direction, towards(38.0, 60.0), UP) < 20.0, light.direction


def test_the_soft_reading_is_refused_where_the_ground_says_sun_pool_or_bands():
    """``shot.soft_side_readable``: a soft reading of the day with measured edges may read a side;
    not shadows denser than a soft light's (SOFT_MAX_RATIO: a sun's or a pool of light's; sun_low
    444 at 7.5 read one 139 degrees off), nor ground read as banded (sun_high 445: 156 off), nor
    a hard key's, nor by night."""
    from ml.light.key import KeyEstimate
    from ml.light.shot import SOFT_MAX_RATIO, soft_side_readable

    def soft(**kw) -> KeyEstimate:
        k = KeyEstimate(False, 1.6, ground_rgb=[0.4, 0.38, 0.36], lit_rgb=[0.5, 0.48, 0.45], shadow_rgb=[0.31, 0.3, 0.29])
        k.measured = True
        for name, value in kw.items():
            setattr(k, name, value)
        return k

    assert soft_side_readable(soft(), night=False, ceiling=False)
    assert not soft_side_readable(soft(ratio=SOFT_MAX_RATIO + 0.5), night=False, ceiling=False)
    assert not soft_side_readable(soft(unread_bands=True), night=False, ceiling=False)
    assert not soft_side_readable(soft(hard=True), night=False, ceiling=False)
    assert not soft_side_readable(soft(), night=True, ceiling=False)
    assert not soft_side_readable(soft(measured=False), night=False, ceiling=False)
