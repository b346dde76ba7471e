"""CLIPSeg masks, background removal and text-guided placement on a tiny random CLIPSeg."""
from __future__ import annotations

import numpy as np
import pytest

from ml.camera.text_placement import AREAS, best_location, text_guided_placement
from shotcache.areas import parse_area
from ml.diffuse.segment import Segmenter, remove_background, segment
from ml.stages.base import EngineError, EngineUnavailable


@pytest.fixture(scope="module")
def seg(tiny_models):
    return Segmenter(tiny_models["clipseg"], "cpu")


@pytest.fixture
def photo():
    return (np.random.RandomState(2).rand(40, 60, 3) * 255).astype(np.uint8)


def test_segment_shapes_and_binary(seg, photo):
    m = segment(photo, "dog", segmenter=seg, threshold=0.5)
    assert m.shape == (40, 60) and m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0}
    heat = seg.heatmaps(photo, ["dog", "grass"])
    assert heat.shape == (2, 40, 60) and 0 <= heat.min() and heat.max() <= 1
    assert not np.allclose(heat[0], heat[1]), "the text prompt must change the activation"
    assert np.array_equal(seg.segment(photo, "dog", 0.5), m)  # deterministic
    lin = (photo / 255.0).astype(np.float32) ** 2.2  # linear float input is accepted too
    assert seg.segment(lin, "dog").shape == (40, 60)
    with pytest.raises(EngineError, match="non-empty text prompt"):
        seg.segment(photo, " ")


def test_remove_background(seg, photo):
    heat = seg.heatmap(photo, "dog")
    rgba, (x0, y0, x1, y1) = remove_background(photo, "dog", seg, threshold=float(np.median(heat)))
    assert rgba.shape == (y1 - y0, x1 - x0, 4) and rgba.dtype == np.uint8
    assert np.array_equal(rgba[..., :3], photo[y0:y1, x0:x1])
    assert rgba[..., 3].max() == 255
    with pytest.raises(EngineError, match="found nothing matching 'dog'"):
        remove_background(photo, "dog", seg, threshold=1.01)


def test_best_location_prefers_activation_inside_area():
    heat = np.zeros((40, 60), np.float32)
    heat[5, 5] = 1.0  # global maximum, outside the target area
    heat[30, 50] = 0.5  # best inside bottom_right
    x, y, s = best_location(heat, parse_area("bottom_right").box(60, 40))
    assert (x, y, s) == (50, 30, 0.5)
    # with a footprint the centre is pulled inside so the whole product fits the area
    blob = np.zeros((40, 60), np.float32)
    blob[36:40, 56:60] = 1.0
    x, y, _ = best_location(blob, (30, 20, 60, 40), object_size=(10, 8))
    assert 30 + 5 <= x <= 60 - 5 and 20 + 4 <= y <= 40 - 4


@pytest.mark.parametrize("area", list(AREAS) + ["10,5,25,18"])
def test_text_guided_placement_honours_area(seg, photo, area):
    p = text_guided_placement(seg, photo, "grass", area, object_size=(6, 4))
    x0, y0, x1, y1 = p.box
    assert x0 <= p.x < x1 and y0 <= p.y < y1
    heat = seg.heatmap(photo, "grass")
    assert 0.0 <= p.score <= heat.max() + 1e-6


def test_missing_clipseg_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("VANELIA_CLIPSEG_DIR", raising=False)
    monkeypatch.delenv("VANELIA_MODEL_DIR", raising=False)
    with pytest.raises(EngineUnavailable, match="local CLIPSeg model folder"):
        Segmenter(None)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EngineUnavailable, match="missing preprocessor_config.json"):
        Segmenter(tmp_path)


@pytest.mark.parametrize("model", ["sd", "sd3"])
def test_semantic_insertion_end_to_end(tiny_models, seg, photo, model):
    from ml.diffuse.insert import insert_by_text, insert_object
    from ml.diffuse.models import load_models
    from ml.diffuse.sdedit import Options

    models = load_models(tiny_models[model], "cpu")
    plate = (photo / 255.0).astype(np.float32) ** 2.2
    obj = (np.random.RandomState(4).rand(20, 16, 3) * 255).astype(np.uint8)
    opts = Options(prompt="a dog on the grass", steps=2, strength=0.6, dilate_px=2, feather_px=1)
    heat = seg.heatmap(obj, "dog")
    res, place = insert_by_text(models, seg, plate, obj, "dog", "grass", "bottom_right", height_px=12, opts=opts, threshold=float(np.median(heat)))
    x0, y0, x1, y1 = place.box
    assert x0 <= place.x < x1 and y0 <= place.y < y1
    assert res.image.shape == plate.shape
    changed = np.abs(res.image - plate).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.any() and ys.min() >= 20 - 2 - 8 and xs.min() >= 30 - 2 - 8  # only around the bottom-right placement
    assert np.array_equal(res.image[res.soft == 0], plate[res.soft == 0])
    # M2: a larger latent scale grows the changed region
    rgba = np.concatenate([obj, np.full((20, 16, 1), 255, np.uint8)], axis=2)
    small = insert_object(models, plate, rgba, (30, 20), 10, opts)
    big = insert_object(models, plate, rgba, (30, 20), 10, opts, latent_scale=1.5)
    assert (big.soft > 0).sum() > (small.soft > 0).sum()
