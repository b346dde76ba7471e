"""The key's strength from the plate's lit/shadow ratio, as both sides place a key."""
from __future__ import annotations

import math

import pytest

from shotcache.key_strength import MIN_SIN_ELEVATION, sun_for_ratio


def test_a_sun_that_makes_the_plates_ratio_at_its_elevation():
    """lit = ambient + key sin(elevation): a 3x ratio under an ambient of 1 needs 2 / sin(e) of
    sun; its colour is each channel's share of the strongest; a grazing key is read at
    MIN_SIN_ELEVATION, not blown up."""
    e = math.radians(30)
    sun = sun_for_ratio([3.0, 2.5, 2.0], [1.0, 1.0, 1.2], [math.cos(e), 0.0, math.sin(e)], math.sin(e), 2.0)
    assert sun.type == "sun" and sun.shadow and sun.angle_deg == 2.0
    assert sun.intensity == pytest.approx(2.0 / math.sin(e))
    assert sun.color == pytest.approx([1.0, 0.75, 0.6])
    low = sun_for_ratio([3.0, 3.0, 3.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.01], 0.01, 1.0, shadow=False)
    assert low.intensity == pytest.approx(2.0 / MIN_SIN_ELEVATION) and not low.shadow
    assert sun_for_ratio([0.8, 0.9, 1.0], [1.0, 1.0, 1.0], [0, 0, 1], 1.0, 1.0).intensity == 0.0  # no brighter lit side: no sun
