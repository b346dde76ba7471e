"""The key's strength from the plate's lit/shadow ratio, as both sides place a key."""
from __future__ import annotations

import math

import pytest

from shotcache.colour import REC709_LUMA as LUMA
from shotcache.key_strength import MIN_SIN_ELEVATION, light_colour, sun_for_ratio


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


@pytest.mark.parametrize("ratio, ambient", [
    ([2.0, 1.6, 2.0], [1.0, 1.0, 1.0]),  # sunlit soil against shaded grass: a magenta "key"
    ([1.5, 1.8, 1.4], [0.8, 1.2, 0.9]),  # trees' green in the ambient: a green "key"
])
def test_a_key_greener_or_more_magenta_than_any_light_comes_back_to_a_lights_colour(ratio, ambient):
    """No light is greener or more magenta than both its red and its blue (a blackbody runs from
    red-heavy to blue-heavy through neutral): the plate's ratio times the ambient left that range
    on real lawns and parks. The key is brought back inside it, at the luminance it was measured at."""
    raw = [(r - 1.0) * a for r, a in zip(ratio, ambient)]
    sun = sun_for_ratio(ratio, ambient, [0.0, 0.0, 1.0], 1.0, 1.0)
    r, g, b = sun.color
    assert min(r, b) - 1e-9 <= g <= max(r, b) + 1e-9, sun.color
    assert raw[1] < min(raw[0], raw[2]) or raw[1] > max(raw[0], raw[2])  # the case was off the range
    assert sun.intensity * sum(c * w for c, w in zip(sun.color, LUMA)) == pytest.approx(sum(c * w for c, w in zip(raw, LUMA)))


def test_a_lights_colour_is_kept_as_measured():
    """A warm sun and a cool sky-lit key are lights' colours already: unchanged."""
    for irr in ([1.0, 0.6, 0.28], [0.7, 0.85, 1.0], [1.0, 1.0, 1.0]):
        assert light_colour(irr) == pytest.approx(irr)
