"""Scale from a known size (--known-size): two ground points of one frame and their distance
rescale a levelled solve to metres (ml/camera/scale.py, shotcache.camera_ground.parse_known_size)."""
from __future__ import annotations

import numpy as np
import pytest

from app.track import level_and_qc
from ml.camera.ground import fit_ground, level_world
from ml.camera.scale import ground_hit, scale_to_known_size
from shotcache.camera_ground import check_scale_options, parse_known_size, scale_source
from shotcache.errors import InputError, UsageError

TRUE_HEIGHT = 1.8
A, B = np.array([-0.6, 0.5, 0.0]), np.array([0.9, 1.1, 0.0])  # two points on the true floor


def scrambled(dolly):
    """A dolly at TRUE_HEIGHT over a floor, in an arbitrary solver frame (rotated, shifted,
    scaled by 0.37), as a solver returns it."""
    s = dolly(height=TRUE_HEIGHT)
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    M = np.eye(4)
    M[:3, :3], M[:3, 3] = q, rng.normal(size=3) * 5
    return s.transform(M, 0.37)


def spec(dolly, frame=1, plate_scale=1.0, fractions=False, metres=None):
    """--known-size of A and B as seen by the true camera of ``frame`` (pixels of a plate
    ``plate_scale`` times the solve's size, or fractions)."""
    truth = dolly(height=TRUE_HEIGHT)
    px, z = truth.project(frame, np.stack([A, B]))
    assert (z > 0).all()
    if fractions:
        px = px / [truth.width, truth.height]
    else:
        px = px * plate_scale
    d = float(np.linalg.norm(B - A)) if metres is None else metres
    return ",".join(f"{v:.6f}" for v in px.ravel()) + f"={d:.6f}@{frame}"


def mean_height(s):
    return float(np.mean([s.c2w(f)[2, 3] for f in s.cameras]))


def test_known_size_recovers_the_camera_height(dolly):
    s = scrambled(dolly)
    p, n, _ = fit_ground(s)
    level_world(s, p, n, camera_height=1.5)  # the typical height: wrong by 20 %
    assert mean_height(s) == pytest.approx(1.5)
    done = scale_to_known_size(s, parse_known_size(spec(dolly, frame=4)), (s.width, s.height))
    assert done["camera_height_m"] == pytest.approx(TRUE_HEIGHT, rel=0.02)
    assert mean_height(s) == pytest.approx(TRUE_HEIGHT, rel=0.02)
    assert done["frame"] == 4 and done["factor"] == pytest.approx(TRUE_HEIGHT / 1.5, rel=0.02)
    # the ground stays z = 0, and the two points are the given distance apart on it
    assert np.allclose(s.points[:300, 2], 0, atol=1e-6)
    pa, pb = np.asarray(done["points"])
    assert np.linalg.norm(pb - pa) == pytest.approx(np.linalg.norm(B - A), rel=1e-6)


@pytest.mark.parametrize("how", ["downscaled", "fractions"])
def test_points_are_in_plate_pixels_or_fractions(dolly, how):
    """The solve ran on frames half the plate's size (a run's working resolution): pixel
    points are the plate's own, fractions do not depend on either."""
    s = scrambled(dolly)
    text = spec(dolly, frame=1, plate_scale=2.0) if how == "downscaled" else spec(dolly, frame=1, fractions=True)
    known = parse_known_size(text)
    assert known.fractions == (how == "fractions")
    qc = level_and_qc(s, sorted(s.cameras), 1.5, known=known, plate_size=(2 * s.width, 2 * s.height))
    sc = qc["scale"]
    assert sc["camera_height_m"] == pytest.approx(TRUE_HEIGHT, rel=0.02)
    assert sc["source"].startswith("--known-size") and sc["frame"] == 1 and sc["metres"] == pytest.approx(1.616, abs=1e-3)
    assert qc["ground"]["camera_height"] == pytest.approx(sc["camera_height_m"])
    assert mean_height(s) == pytest.approx(TRUE_HEIGHT, rel=0.02)


def test_without_a_known_size_the_qc_says_the_height_source(dolly):
    s = scrambled(dolly)
    qc = level_and_qc(s, sorted(s.cameras), 1.5)
    assert qc["scale"] == {"source": "typical camera height 1.5 m (give --camera-height or --known-size)",
                           "camera_height_m": pytest.approx(1.5)}
    s = scrambled(dolly)
    qc = level_and_qc(s, sorted(s.cameras), 1.6, given_height=1.6)
    assert qc["scale"]["source"] == "--camera-height 1.6 m" and qc["scale"]["camera_height_m"] == pytest.approx(1.6)


def test_a_point_above_the_horizon_is_an_input_error_naming_it(dolly):
    s = dolly(height=0.3)  # cameras 0.3 m up looking level at (0, 0, 0.3): the horizon is the middle row
    p, n, _ = fit_ground(s)
    level_world(s, p, n, camera_height=1.5)
    assert ground_hit(s.c2w(1), s.K(1), (320, 300)) is not None and ground_hit(s.c2w(1), s.K(1), (320, 100)) is None
    with pytest.raises(InputError, match=r"point 2 \(320, 100\) of frame 1 .*horizon.*on the ground"):
        scale_to_known_size(s, parse_known_size("100,300,320,100=1.0"), (s.width, s.height))
    with pytest.raises(InputError, match="frame 99 has no solved camera"):
        scale_to_known_size(s, parse_known_size("100,300,320,340=1.0@99"), (s.width, s.height))
    del s.cameras[1]  # the first tracked frame did not solve: a spec without @FRAME meant it, not frame 2
    with pytest.raises(InputError, match=r"frame 1 has no solved camera; .* \(e.g. @2\)"):
        scale_to_known_size(s, parse_known_size("100,300,320,340=1.0"), (s.width, s.height), first_frame=1)


@pytest.mark.parametrize("text, message", [
    ("100,200,300=1.5", "expected X1,Y1,X2,Y2=METRES"),
    ("100,200,300,400", "expected X1,Y1,X2,Y2=METRES"),
    ("a,b,c,d=1", "expected X1,Y1,X2,Y2=METRES"),
    ("100,200,300,400=0", "distance 0 m must be positive"),
    ("100,200,300,400=-2", "distance -2 m must be positive"),
    ("100,200,100,200=1.2", "both points are the same"),
    ("0.5,0.5,0.5,0.5=1", "both points are the same"),
    ("-5,200,300,400=1", "negative"),
    ("100,200,300,400=1@x", "expected X1"),
])
def test_bad_specs_are_refused_naming_the_value(text, message):
    with pytest.raises(UsageError, match=message) as err:
        parse_known_size(text)
    assert text.strip() in str(err.value) and "--known-size" in str(err.value)


def test_spec_forms_and_frame_checks():
    k = parse_known_size(" 10, 20 ,300,40 = 1.25m @ 7 ")
    assert k.points == ((10, 20), (300, 40)) and k.metres == 1.25 and k.frame == 7 and not k.fractions
    assert parse_known_size("0.1,0.9,0.6,0.95=2").fractions and parse_known_size(None) is None
    assert parse_known_size("0.1,0.9,0.6,0.95=2").pixels(200, 100) == ((20.0, 90.0), (120.0, 95.0))
    k.check_frame(320, 180, [5, 6, 7])
    with pytest.raises(UsageError, match=r"point 2 \(300, 40\) is outside the 160x90 plate frame"):
        k.check_frame(160, 90)
    with pytest.raises(UsageError, match="frame 7 is not among the tracked frames 1..5"):
        k.check_frame(320, 180, [1, 2, 3, 4, 5])
    with pytest.raises(UsageError, match="--known-size .* and --camera-height 1.6 both set"):
        check_scale_options(1.6, "1,2,3,4=1")
    with pytest.raises(UsageError, match="--camera-height -1"):
        check_scale_options(-1.0, None)
    assert scale_source(None, k).startswith("--known-size 1.25 m between two ground points of frame 7")
