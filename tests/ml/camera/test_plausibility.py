"""Physical plausibility checks on cameras whose truth is known: the true world passes, a
flipped ground, an upside-down world, a tilted 'up', an upside-down or far product, and an
empty render each fail with a reason."""
import copy

import cv2
import numpy as np

from ml.camera import plausibility as pl

UP = np.array([0.0, 0.0, 1.0])
ORIGIN = np.zeros(3)


def _rolled(solve):
    """The same cameras rolled 180 deg about their optical axis (an upside-down world)."""
    out = copy.deepcopy(solve)
    for cam in out.cameras.values():
        c2w = np.asarray(cam.c2w)
        c2w[:3, :2] *= -1
        cam.c2w = c2w.tolist()
    return out


def test_cameras_above_ground_and_ground_below_horizon(dolly):
    s = dolly(n=6)
    assert pl.cameras_above_ground(s, ORIGIN, UP)["ok"]
    flipped = pl.cameras_above_ground(s, ORIGIN, -UP)
    assert flipped["ok"] is False and "below the ground plane in 6/6" in flipped["detail"]
    assert pl.ground_below_horizon(s, UP)["ok"]
    bad = pl.ground_below_horizon(_rolled(s), UP)
    assert bad["ok"] is False and "upside down" in bad["detail"]


def test_the_near_view_must_not_lie_under_the_ground(dolly):
    """A ground the camera sees through (its nearest points under the plane) fails; the true
    floor, and a solve without points, pass or cannot tell."""
    s = dolly(n=6)
    good = pl.view_above_ground(s, ORIGIN, UP)
    assert good["ok"] is True and good["below_share"] == 0.0, good
    t = np.radians(10)  # a plane rising away from the cameras: the floor in front of them lies under it
    tilted = pl.view_above_ground(s, np.array([0.0, 2.0, 0.0]), np.array([0.0, np.sin(t), np.cos(t)]))
    assert tilted["ok"] is False and tilted["below_share"] > 0.9 and "see through it" in tilted["detail"], tilted
    bare = copy.deepcopy(s)
    bare.points = np.zeros((0, 3))
    assert pl.view_above_ground(bare, ORIGIN, UP)["ok"] is None
    clutter_only = copy.deepcopy(s)
    clutter_only.points = s.points[s.points[:, 2] > 0.1][:10]
    assert pl.view_above_ground(clutter_only, ORIGIN, UP)["ok"] is None


def _poles_plate(solve, frame, rng):
    """A plate of vertical poles standing on the ground, drawn through the true camera."""
    img = np.full((solve.height, solve.width), 90, np.uint8)
    for _ in range(40):
        base = np.array([rng.uniform(-2.5, 2.5), rng.uniform(0.5, 4.0), 0.0])
        (a, b), z = solve.project(frame, np.stack([base, base + [0, 0, rng.uniform(0.8, 2.5)]]))
        if (z > 0).all():
            cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in b), 230, 3, cv2.LINE_AA)
    return img


def test_up_against_the_plates_vertical_lines(dolly):
    s = dolly(n=5)
    rng = np.random.default_rng(2)
    plates = {f: _poles_plate(s, f, rng) for f in s.cameras}
    good = pl.up_agrees_with_verticals(s, UP, plates)
    assert good["ok"] is True and good["angle_deg"] < 2.0, good
    t = np.radians(20)
    tilted = pl.up_agrees_with_verticals(s, np.array([0.0, np.sin(t), np.cos(t)]), plates)
    assert tilted["ok"] is False and tilted["angle_deg"] > 12, tilted
    blank = pl.up_agrees_with_verticals(s, UP, {f: np.full((s.height, s.width), 90, np.uint8) for f in s.cameras})
    assert blank["ok"] is None  # nothing to tell by: not a failure


def _tilted_poles(solve, frame, rng, tilt_deg=25.0):
    """Poles leaning ``tilt_deg`` (a wing's lines, a person's limbs) and the mask that covers them."""
    img = np.full((solve.height, solve.width), 90, np.uint8)
    mask = np.zeros_like(img)
    t = np.radians(tilt_deg)
    for _ in range(40):
        base = np.array([rng.uniform(-2.5, 2.5), rng.uniform(0.5, 4.0), 0.0])
        (a, b), z = solve.project(frame, np.stack([base, base + rng.uniform(0.8, 2.5) * np.array([np.sin(t), 0.0, np.cos(t)])]))
        if (z > 0).all():
            pa, pb = tuple(int(v) for v in a), tuple(int(v) for v in b)
            cv2.line(img, pa, pb, 230, 3, cv2.LINE_AA)
            cv2.line(mask, pa, pb, 255, 9)
    return img, mask


def test_one_frames_lines_or_a_moving_objects_are_no_evidence(dolly):
    """The plate's "up" needs two frames that agree (plate_up, as the track's ground fit); lines
    on moving objects are left out. A paraglider's lines in one frame refused a level hill."""
    s = dolly(n=5)
    rng = np.random.default_rng(3)
    first = min(s.cameras)
    one = {f: (_poles_plate(s, f, rng) if f == first else np.full((s.height, s.width), 90, np.uint8)) for f in s.cameras}
    t = np.radians(20)
    assert pl.up_agrees_with_verticals(s, np.array([0.0, np.sin(t), np.cos(t)]), one)["ok"] is None
    drawn = {f: _tilted_poles(s, f, rng) for f in s.cameras}
    plates = {f: img for f, (img, _m) in drawn.items()}
    unmasked = pl.up_agrees_with_verticals(s, UP, plates)
    assert unmasked["ok"] is False and unmasked["angle_deg"] > 12, unmasked  # the leaning lines, taken for the world's
    masked = pl.up_agrees_with_verticals(s, UP, plates, masks={f: m for f, (_i, m) in drawn.items()})
    assert masked["ok"] is None, masked


def test_product_upright_and_distance(dolly):
    s = dolly(n=6)
    M = np.eye(4)
    assert pl.product_upright(s, M, UP, 0.3)["ok"]
    upside = np.diag([1.0, -1.0, -1.0, 1.0])
    bad = pl.product_upright(s, upside, UP, 0.3)
    assert bad["ok"] is False and "upside down" in bad["detail"]
    # an upright product in an upside-down world points down in the image
    rolled = pl.product_upright(_rolled(s), M, UP, 0.3)
    assert rolled["ok"] is False and "points down" in rolled["detail"]
    assert pl.plausible_distance(s, ORIGIN, ORIGIN, UP)["ok"]
    far = pl.plausible_distance(s, np.array([0.0, 80.0, 0.0]), ORIGIN, UP)
    assert far["ok"] is False and "camera heights away" in far["detail"]


def test_rendered_alpha_must_hold_the_product(dolly):
    s = dolly(n=4)
    empty = {f: np.zeros((s.height, s.width), np.float32) for f in s.cameras}
    r = pl.alpha_in_frame(s, ORIGIN, empty)
    assert r["ok"] is False and r["frames_with_product"] == 0 and "empty alpha" in r["detail"]
    full = {}
    for f in s.cameras:
        a = np.zeros((s.height, s.width), np.float32)
        (u, v), = s.project(f, ORIGIN[None])[0]
        a[int(v) - 40:int(v), int(u) - 15:int(u) + 15] = 1.0
        full[f] = a
    ok = pl.alpha_in_frame(s, ORIGIN, full)
    assert ok["ok"] and ok["frames_with_product"] == 4
    tiny = {f: (a[:, :] * 0).astype(np.float32) for f, a in full.items()}
    for f, a in tiny.items():
        (u, v), = s.project(f, ORIGIN[None])[0]
        a[int(v) - 4:int(v), int(u) - 4:int(u) + 4] = 1.0  # 4 px of a 360 px frame: too far to be seen
    far = pl.alpha_in_frame(s, ORIGIN, tiny)
    assert far["ok"] is False and "too far" in far["detail"]


FOOT = np.array([1.5, 1.0, 0.0])  # off the dolly's aim point: it moves in the image


def _drawn_at(s, anchor_frame=None):
    """A 40 px tall product drawn standing on the projected contact point of each frame
    (or, with ``anchor_frame``, frozen where that frame's camera put it)."""
    out = {}
    for f in s.cameras:
        a = np.zeros((s.height, s.width), np.float32)
        (u, v), = s.project(anchor_frame if anchor_frame is not None else f, FOOT[None])[0]
        a[int(v) - 40:int(v) + 1, int(u) - 15:int(u) + 15] = 1.0
        out[f] = a
    return out


def test_rendered_product_must_stand_on_the_projected_contact_point(dolly):
    s = dolly(n=6)
    ok = pl.product_on_contact(s, FOOT, _drawn_at(s))
    assert ok["ok"] is True and ok["offset_px"] < 1.0
    # a render whose camera never followed the solve: the product stays where frame 0 put it
    frozen = pl.product_on_contact(s, FOOT, _drawn_at(s, anchor_frame=min(s.cameras)))
    moved = [f for f in s.cameras if np.linalg.norm(s.project(f, FOOT[None])[0] - s.project(min(s.cameras), FOOT[None])[0]) > 30]
    assert moved, "the fixture's camera must move the contact point by more than the tolerance"
    assert frozen["ok"] is False and "does not follow" in frozen["detail"] and frozen["offset_px"] > 10
    empty = {f: np.zeros((s.height, s.width), np.float32) for f in s.cameras}
    assert pl.product_on_contact(s, FOOT, empty)["ok"] is None
