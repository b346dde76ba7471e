"""A product rendered in the plate's own light keeps its colour through the composite."""
from __future__ import annotations

import numpy as np

from ml.composite.classical import composite_classical, linear_to_oklab, plate_light_defaults
from shotcache.schema import Lighting


def _scene():
    h, w = 120, 160
    rng = np.random.default_rng(0)
    plate = (np.array([0.08, 0.25, 0.04], np.float32) * (1 + 0.1 * rng.standard_normal((h, w, 1)))).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.hypot(yy - 60, xx - 80) < 25
    rgba = np.zeros((h, w, 4), np.float32)
    rgba[m, :3] = (np.array([0.5, 0.05, 0.04]) * (0.6 + 0.4 * (xx - 55) / 50)[..., None])[m]  # a red, shaded product
    rgba[m, 3] = 1
    return plate, rgba, m


def test_plate_lit_product_is_not_washed_towards_the_grass():
    """Red on green grass, already lit by the plate's light: the plate-lit defaults move it by
    less than a just-noticeable Oklab difference (0.02); the legacy harmonize (0.5) would pull
    it twice that towards the ring's green."""
    plate, rgba, m = _scene()

    def shift(params):
        out = composite_classical(plate, rgba, params={**params, "grain": 0, "light_wrap": 0})
        return float(np.linalg.norm(linear_to_oklab(out[m]) - linear_to_oklab(rgba[m, :3]), axis=1).mean())

    assert shift(plate_light_defaults(Lighting(method="plate"), {})) < 0.02
    assert shift({"harmonize": 0.5}) > 0.03
