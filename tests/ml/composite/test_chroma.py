"""The plate's 4:2:0 chroma read off its pixels and given to the product (ml/composite/chroma.py),
on plates filmed through the same H.264 encoder and decoder `vanelia run` uses."""
from __future__ import annotations

import numpy as np
import pytest

from ml.composite import chroma
from ml.composite.classical import composite_classical
from ml.io.colour import linear_to_srgb, srgb_to_linear
from ml.io.video import iter_frames, write_mp4


def textured(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """8-bit sRGB: coloured texture at every scale, nothing clipped (a full-chroma plate)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([0.5 + 0.2 * np.sin(xx / 7.0 + c) * np.cos(yy / 5.0 - c) for c in range(3)], -1)
    return np.clip(np.round((base + rng.normal(0, 0.05, base.shape)) * 255), 20, 235).astype(np.uint8)


def filmed(rgb8: np.ndarray, tmp_path, crf: int = 20) -> np.ndarray:
    """Through H.264 4:2:0 and back, as a camera's clip reaches Vanelia."""
    path = write_mp4(tmp_path / "clip.mp4", [rgb8, rgb8], 24, crf=crf)
    return next(iter_frames(path))


def linear(rgb8: np.ndarray) -> np.ndarray:
    return srgb_to_linear(rgb8.astype(np.float32) / 255)


def block_chroma_spread(lin: np.ndarray, sel: np.ndarray) -> float:
    """Largest chroma spread (8-bit levels) inside the aligned 2 x 2 blocks marked in ``sel``."""
    srgb = linear_to_srgb(lin) * 255
    y = 0.2126 * srgb[..., 0] + 0.7152 * srgb[..., 1] + 0.0722 * srgb[..., 2]
    worst = 0.0
    for c in (srgb[..., 2] - y, srgb[..., 0] - y):
        b = c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2)
        spread = b.max(axis=(1, 3)) - b.min(axis=(1, 3))
        worst = max(worst, float(spread[sel].max(initial=0.0)))
    return worst


def test_a_filmed_plate_reads_subsampled_a_rendered_one_does_not(tmp_path):
    plate = textured()
    assert chroma.block_spread_ratio(linear(plate)) > 10 * chroma.SUBSAMPLED_BELOW
    assert not chroma.is_subsampled(linear(plate))
    assert chroma.is_subsampled(linear(filmed(plate, tmp_path)))


def test_the_product_gets_the_plates_blocks_and_the_plate_is_left_alone(tmp_path):
    """A saturated product with a sharp edge over a filmed plate: in every block the composite
    changed, the colour is one (as the codec's); its brightness stays per pixel; blocks it did
    not touch are the plate's, bit for bit."""
    plate = linear(filmed(textured(), tmp_path))
    h, w = plate.shape[:2]
    rgba = np.zeros((h, w, 4), np.float32)
    rgba[31:61, 41:77] = (0.9, 0.6, 0.02, 1.0)  # odd edges: they cut through the blocks
    rgba[40:50, 50:60, :3] = (0.05, 0.05, 0.6)  # a second colour inside the product
    params = {"grain": 0.0, "light_wrap": 0.0, "harmonize": 0.0, "defocus": 0}
    info: dict = {}
    on = composite_classical(plate, rgba, params=params, info=info)
    off = composite_classical(plate, rgba, params={**params, "chroma": "off"})
    assert "4:2:0" in info["chroma"]
    touched = np.abs(off - plate).max(axis=-1) > 1e-6
    blocks = touched.reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3))
    assert block_chroma_spread(off, blocks) > 40  # the render's crisp colour edge
    assert block_chroma_spread(on, blocks) < 1.5  # one colour per block (8-bit rounding)
    far = ~np.repeat(np.repeat(blocks, 2, 0), 2, 1)
    assert np.array_equal(on[far], plate[far])
    luma = lambda x: (linear_to_srgb(x) * np.array([0.2126, 0.7152, 0.0722])).sum(-1)
    assert np.abs(luma(on) - luma(off)).max() < 0.02  # brightness per pixel is kept


def test_a_full_chroma_plate_is_composited_as_before():
    plate = linear(textured(seed=3))
    rgba = np.zeros((*plate.shape[:2], 4), np.float32)
    rgba[31:61, 41:77] = (0.9, 0.6, 0.02, 1.0)
    params = {"grain": 0.0, "defocus": 0}
    info: dict = {}
    on = composite_classical(plate, rgba, params=params, info=info)
    assert info["chroma"] == "full resolution"
    assert np.array_equal(on, composite_classical(plate, rgba, params={**params, "chroma": "off"}))


def test_a_shadow_alone_on_a_filmed_plate_is_coded_too(tmp_path):
    plate = linear(filmed(textured(), tmp_path))
    shadow = np.ones((*plate.shape[:2], 3), np.float32)
    shadow[20:45, 33:70] = (0.5, 0.55, 0.7)  # a bluish shadow: it changes the colour
    out = composite_classical(plate, None, shadow=shadow, params={"grain": 0.0})
    off = composite_classical(plate, None, shadow=shadow, params={"grain": 0.0, "chroma": "off"})
    h, w = plate.shape[:2]
    changed = (np.abs(plate * shadow - plate).max(-1) > 1e-6).reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3))
    assert block_chroma_spread(off, changed) > 5  # the shadow's odd edges cut through blocks
    assert block_chroma_spread(out, changed) < 1.5


def test_a_bad_chroma_param_is_refused():
    plate = linear(textured())
    rgba = np.zeros((*plate.shape[:2], 4), np.float32)
    rgba[10:20, 10:20] = 0.5
    from ml.stages.base import EngineError

    with pytest.raises(EngineError, match="chroma='yes'"):
        composite_classical(plate, rgba, params={"chroma": "yes"})
