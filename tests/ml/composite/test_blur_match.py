"""The plate's blur, measured at edges and given to the product (ml/composite/blur_match.py).

Plate and product are drawn here the way a renderer draws them: supersampled shapes averaged
down (so both carry a pixel filter's softness), then the plate is blurred by a known amount.
"""
import math

import cv2
import numpy as np
import pytest

from ml.composite import blur_match as bm
from ml.composite.classical import composite_classical

H, W, SS = 160, 240, 4


def _draw(seed: int, product: bool = False) -> np.ndarray:
    """Linear RGB, shapes with edges of every orientation, antialiased by supersampling."""
    rng = np.random.default_rng(seed)
    big = np.full((H * SS, W * SS, 3), 0.25, np.float32)
    for _ in range(30 if product else 60):
        colour = rng.uniform(0.03, 0.9, 3).tolist()
        c = (int(rng.integers(0, W * SS)), int(rng.integers(0, H * SS)))
        if rng.random() < 0.5:
            axes = (int(rng.integers(20, 90)) * SS // 4, int(rng.integers(20, 90)) * SS // 4)
            cv2.ellipse(big, c, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            box = cv2.boxPoints((c, (float(rng.integers(30, 160)), float(rng.integers(30, 160))), float(rng.uniform(0, 90))))
            cv2.fillPoly(big, [np.int32(box)], colour)
    return cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA)


def _product() -> tuple[np.ndarray, np.ndarray]:
    """Straight-alpha product: an antialiased disc with shapes of its own inside."""
    big = np.zeros((H * SS, W * SS), np.float32)
    cv2.circle(big, (W * SS // 2, H * SS // 2), 45 * SS, 1.0, -1)
    alpha = cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA)
    return _draw(7, product=True), alpha


def _sigmas(cov: np.ndarray) -> tuple[float, float, float]:
    """(major sigma, minor sigma, major axis angle in degrees 0..180)."""
    w, v = np.linalg.eigh(cov)
    return math.sqrt(max(w[1], 0)), math.sqrt(max(w[0], 0)), math.degrees(math.atan2(v[1, 1], v[0, 1])) % 180


@pytest.fixture(scope="module")
def scene():
    plate = _draw(1)
    prod, alpha = _product()
    outside = alpha == 0
    return plate, prod, alpha, outside


def test_a_plate_as_sharp_as_the_render_adds_no_blur(scene):
    plate, prod, alpha, outside = scene
    cov = bm.extra_blur(plate, outside, prod, alpha)
    assert cov is not None and bm.kernel(cov) is None, bm.describe(cov)


@pytest.mark.parametrize("sigma", [1.5, 2.5])
def test_a_soft_plate_gives_its_blur(scene, sigma):
    plate, prod, alpha, outside = scene
    soft = cv2.GaussianBlur(plate, (0, 0), sigma)
    major, minor, _ = _sigmas(bm.extra_blur(soft, outside, prod, alpha))
    assert 0.7 * sigma < minor <= major < 1.3 * sigma, (major, minor)


def test_motion_blur_is_measured_along_the_motion(scene):
    plate, prod, alpha, outside = scene
    streak = bm.kernel(np.array([[9.0, 0.0], [0.0, 0.04]]))  # 3 px along x: a horizontal pan
    moved = cv2.filter2D(plate, -1, streak)
    major, minor, angle = _sigmas(bm.extra_blur(moved, outside, prod, alpha))
    assert major > 2.0 and major > 2.0 * minor, (major, minor)
    assert min(angle, 180 - angle) < 15, angle


def test_a_plain_plate_says_nothing(scene):
    _, prod, alpha, outside = scene
    flat = np.full((H, W, 3), 0.3, np.float32)
    assert bm.extra_blur(flat, outside, prod, alpha) is None


def test_composite_softens_the_product_only_on_a_soft_plate(scene):
    plate, prod, alpha, _ = scene
    rgba = np.dstack([prod, alpha]).astype(np.float32)
    core = cv2.erode((alpha > 0.99).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    crisp = {"grain": 0.0, "light_wrap": 0.0, "harmonize": 0.0, "defocus": 0.0}
    auto = {**crisp, "defocus": "auto"}

    def edge_energy(img):
        return float(np.abs(cv2.Laplacian(img.mean(axis=-1), cv2.CV_32F))[core].mean())

    assert np.array_equal(composite_classical(plate, rgba, params=auto), composite_classical(plate, rgba, params=crisp))
    soft = cv2.GaussianBlur(plate, (0, 0), 2.0)
    info: dict = {}
    matched = composite_classical(soft, rgba, params=auto, info=info)
    assert edge_energy(matched) < 0.6 * edge_energy(composite_classical(soft, rgba, params=crisp))
    assert "px" in info["blur"]


def test_the_tracker_keeps_the_blur_steady_over_a_sequence():
    t = bm.BlurTracker()
    assert t.update(None) is None
    first = t.update(np.eye(2) * 4.0)
    assert np.allclose(first, np.eye(2) * 4.0)
    after_outlier = t.update(np.eye(2) * 0.0)
    assert np.allclose(after_outlier, np.eye(2) * 4.0 * (1 - bm.EMA_WEIGHT))
    assert np.allclose(t.update(None), after_outlier)  # a frame without edges keeps the estimate
    t.reset()
    assert t.cov is None


def test_the_composite_adds_the_plates_round_softness_not_a_streak(scene):
    """A streak the plate shows along one axis is the camera's motion, which the render carries
    itself (Cycles' motion blur at the shutter measured from the plate); on sharp truth plates
    the estimate's streaks were the estimator's own (eval insert: 14 of 18 plates, up to 3 px).
    The product gets the round part only: a plate streaked 3 px along x leaves it as crisp
    across x as along it; a plate softened 2 px every way softens it both ways."""
    plate, prod, alpha, _ = scene
    rgba = np.dstack([prod, alpha]).astype(np.float32)
    core = cv2.erode((alpha > 0.99).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    crisp = {"grain": 0.0, "light_wrap": 0.0, "harmonize": 0.0, "defocus": 0.0}
    auto = {**crisp, "defocus": "auto"}

    def energy(img, axis):
        g = np.abs(np.diff(img.mean(axis=-1), axis=axis))
        return float(g[core[: g.shape[0], : g.shape[1]]].mean())

    streaked = cv2.filter2D(plate, -1, bm.kernel(np.array([[9.0, 0.0], [0.0, 0.04]])))
    sharp = composite_classical(streaked, rgba, params=crisp)
    matched = composite_classical(streaked, rgba, params=auto)
    assert energy(matched, 1) > 0.97 * energy(sharp, 1), "the product was streaked along x"
    soft = cv2.GaussianBlur(plate, (0, 0), 2.0)
    softened = composite_classical(soft, rgba, params=auto)
    for axis in (0, 1):
        assert energy(softened, axis) < 0.93 * energy(composite_classical(soft, rgba, params=crisp), axis)


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0])
def test_a_whole_plates_own_blur_is_read_beyond_a_renders(sigma):
    """``lens_blur_px``: the plate's blur beyond what a render as sharp as it shows: nothing on
    the drawn plate as it is, the lens's sigma on the plate softened by one."""
    plate = _draw(3)
    blur = bm.lens_blur_px(cv2.GaussianBlur(plate, (0, 0), sigma) if sigma else plate)
    assert blur is not None
    assert abs(blur - sigma) < 0.35 if sigma else blur < 0.5, blur


def test_texture_and_halos_do_not_read_as_a_sharp_plate(scene):
    """A plate softened 1.5 px and then sharpened as a phone does (halos a pixel wide) and
    covered in fine grain: the edges whose width two re-blurs agree on still give most of the
    lens's blur (the low percentile of every edge read it as under 0.6 px)."""
    plate, prod, alpha, outside = scene
    soft = cv2.GaussianBlur(plate, (0, 0), 1.5)
    sharpened = np.clip(soft + 0.8 * (soft - cv2.GaussianBlur(soft, (0, 0), 1.0)), 0, 1)
    grain = sharpened * (1 + 0.04 * np.random.default_rng(2).standard_normal(sharpened.shape[:2]))[..., None]
    _, minor, _ = _sigmas(bm.extra_blur(grain.astype(np.float32), outside, prod, alpha))
    assert minor > 0.9, minor


def test_a_frame_softer_than_the_shots_sharpest_softens_the_product_and_its_shadow(scene):
    """The frame's own blur (FrameState.plate_blur, ml/camera/frame_blur.py) is added to what
    the plate round the product shows, on the product and on the shadow beside it."""
    plate, prod, alpha, _ = scene
    rgba = np.dstack([prod, alpha]).astype(np.float32)
    shadow = np.ones((H, W), np.float32)
    shadow[120:150, 60:180] = 0.4  # a hard-edged shadow on the ground
    core = cv2.erode((alpha > 0.99).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    params = {"grain": 0.0, "light_wrap": 0.0, "harmonize": 0.0, "defocus": "auto", "chroma": "off"}

    def edge_energy(img):
        return float(np.abs(cv2.Laplacian(img.mean(axis=-1), cv2.CV_32F))[core].mean())

    sharp = composite_classical(plate, rgba, shadow=shadow, params=params)
    none = composite_classical(plate, rgba, shadow=shadow, params=params, frame_blur=np.zeros((2, 2), np.float32))
    assert np.array_equal(sharp, none)
    soft = composite_classical(plate, rgba, shadow=shadow, params=params, frame_blur=np.eye(2, dtype=np.float32) * 4.0)
    assert edge_energy(soft) < 0.6 * edge_energy(sharp)
    # the shadow's edge is a ramp now: a row across its top edge, away from the product
    col = 70
    assert np.allclose(sharp[118:123, col], plate[118:123, col] * np.array([1, 1, 0.4, 0.4, 0.4])[:, None], atol=1e-5)
    ramp = soft[116:125, col, 0] / plate[116:125, col, 0]
    assert 0.45 < ramp[4] < 0.95 and ramp[0] > 0.9 and ramp[-1] < 0.5
    explicit = {**params, "defocus": 0.0}  # an artist's explicit blur: the frame's is not added
    assert np.array_equal(composite_classical(plate, rgba, shadow=shadow, params=explicit, frame_blur=np.eye(2, dtype=np.float32) * 4.0),
                          composite_classical(plate, rgba, shadow=shadow, params=explicit))
