"""The shutter read off a plate's motion blur (ml/camera/shutter.py), on generated pans whose
shutter is known: streaked by averaging the frame over the open shutter, as a camera does."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.camera.shutter import MAX_LAG, estimate_shot, estimate_shutter, predicted, sample_triplets
from ml.io.colour import srgb_to_linear
from ml.io.images import write_rgb8
from ml.pipeline.fastio import linear_to_srgb8
from ml.pipeline.synthetic import make_shot
from shotcache.layout import ShotPaths

W, H = 480, 270


def _world(seed: int, stripes: bool = False) -> np.ndarray:
    """A wide strip of world to pan over: random patches of paint (or, ``stripes``, long
    horizontal planks, a texture far longer along the pan than across it)."""
    r = np.random.default_rng(seed)
    big = np.full((H, W * 4), 0.5, np.float32)
    if stripes:  # planks: rows of boards of random length, a faint grain along each
        y = 0
        while y < H:
            h, x = min(int(r.integers(6, 16)), H - y), 0
            while x < W * 4:
                n = min(int(r.integers(30, 120)), W * 4 - x)
                grain = r.normal(0, 0.03, (h, 1)) + r.normal(0, 0.01, (h, n))
                big[y:y + h, x:x + n] = r.uniform(0.25, 0.75) + cv2.GaussianBlur(grain.astype(np.float32), (0, 0), 3.0)[:, :n]
                x += n
            y += h
        return np.clip(big, 0, 1)
    for _ in range(700):
        x, y = int(r.integers(0, W * 4 - 40)), int(r.integers(0, H - 40))
        big[y:y + int(r.integers(5, 45)), x:x + int(r.integers(5, 45))] = r.uniform(0.05, 0.95)
    return big


def _frame(world: np.ndarray, t: float, speed: float, shutter: float, subject: np.ndarray | None = None,
           noise: np.random.Generator | None = None) -> np.ndarray:
    """Frame ``t`` of a pan at ``speed`` px/frame, averaged over the open shutter (centred on
    the frame), a little lens blur and noise; ``subject``: a sharp patch the camera follows."""
    n = max(1, int(abs(speed) * shutter * 4) + 1)
    acc = np.zeros((H, W), np.float32)
    for k in range(n):
        tt = t + ((k / (n - 1) - 0.5) * shutter if n > 1 else 0.0)
        acc += cv2.warpAffine(world, np.float32([[1, 0, -speed * tt - 50], [0, 1, 0]]), (W, H), flags=cv2.INTER_LINEAR)
    img = acc / n
    if subject is not None:
        img[80:200, 200:290] = subject
    img = cv2.GaussianBlur(img, (0, 0), 0.7)
    if noise is not None:
        img = img + noise.normal(0, 0.004, img.shape).astype(np.float32)
    return np.repeat(srgb_to_linear(np.clip(img, 0, 1))[..., None], 3, axis=2).astype(np.float32)


def _pan(speed: float, shutter: float, subject: bool = False, stripes: bool = False) -> list:
    world = _world(1, stripes)
    rng = np.random.default_rng(3)
    sub = None
    if subject:
        sub = np.full((120, 90), 0.3, np.float32)
        for _ in range(30):
            x, y = int(rng.integers(0, 80)), int(rng.integers(0, 110))
            sub[y:y + int(rng.integers(3, 20)), x:x + int(rng.integers(3, 20))] = rng.uniform(0, 1)
    return [(tuple(_frame(world, tt, speed, shutter, sub, rng) for tt in (t - 1, t, t + 1)), (1, 1)) for t in (5, 15)]


def test_a_streak_of_no_length_predicts_the_static_curve():
    across = np.exp(-np.arange(MAX_LAG + 1) / 2.0)[None]
    out = predicted(across, np.zeros(1))
    assert np.allclose(out, across / np.linalg.norm(across), atol=1e-9)
    assert predicted(across, np.array([6.0]))[0, 4] > out[0, 4]  # a streak widens the curve


@pytest.mark.parametrize("shutter", [0.25, 0.5, 1.0])
def test_the_shutter_of_a_pan_is_read_within_a_tenth(shutter):
    est = estimate_shutter(_pan(12.0, shutter))
    assert est.measured and abs(est.shutter - shutter) <= 0.1, est.why


def test_a_sharp_pan_reads_no_motion_blur():
    est = estimate_shutter(_pan(12.0, 0.0))
    assert est.shutter == 0.0 and "off" in est.why, est.why


def test_a_followed_sharp_subject_does_not_hide_the_streaked_background():
    """bmx-trees: the camera pans with a rider who stays sharp while the background streaks.
    Per patch, the rider has no flow, so he says nothing against the shutter."""
    est = estimate_shutter(_pan(12.0, 0.5, subject=True))
    assert abs(est.shutter - 0.5) <= 0.1, est.why


def test_planks_along_the_pan_are_not_motion_blur():
    """Boards along the pan: a texture much longer along the motion than across it. Sharp,
    it reads off; streaked, the shutter is still read (the first-derivative measure read 0.30
    for 0.5 here; on the sharp wood of the truth interiors it read up to 0.93: docs/NUMBERS.md)."""
    sharp = estimate_shutter(_pan(12.0, 0.0, stripes=True))
    assert sharp.measured and sharp.shutter == 0.0, sharp.why
    streaked = estimate_shutter(_pan(12.0, 0.5, stripes=True))
    assert abs(streaked.shutter - 0.5) <= 0.15, streaked.why


def test_a_still_camera_has_no_shutter_to_read():
    est = estimate_shutter(_pan(0.3, 0.5))
    assert est.shutter == 0.0 and not est.measured
    assert "px per frame" in est.why or "patches" in est.why


def test_triplets_spread_over_the_shot_with_both_neighbours():
    assert sample_triplets([1, 2]) == []
    trip = sample_triplets(list(range(1, 101)), n=4)
    assert trip[0] == (1, 2, 3) and trip[-1] == (98, 99, 100) and len(trip) == 4


def test_estimate_shot_records_the_shutter_in_shot_json(tmp_path):
    """A shot folder's plate (written as 8-bit sRGB, as the set-up step does) -> shot.json
    render.motion_blur and the reason, which the Blender render step reads."""
    paths = make_shot(tmp_path / "shot", frames=5, size=(W, H))
    world, rng = _world(1), np.random.default_rng(0)
    for f in range(1, 6):
        img = _frame(world, f, 12.0, 0.5, noise=rng)
        write_rgb8(paths.plate_frame(f), linear_to_srgb8(img))
    info = estimate_shot(paths.root)
    shot = ShotPaths(paths.root).load_shot()
    assert info["frames_used"] == 3
    assert abs(shot.render.motion_blur - 0.5) <= 0.15, info["why"]
    assert shot.render.motion_blur_note.startswith("measured: shutter")
