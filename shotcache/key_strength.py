"""The key light's strength from the plate's lit/shadow ratio: one formula for both sides.

lit = ambient + key sin(elevation), shadow = ambient, per channel: the plate's ground lit by
the key and its cast shadow differ by the key's irradiance on that ground. So a key at a
given direction that makes the plate's ratio has irradiance (lit/shadow - 1) x ambient /
sin(elevation), its colour kept to a light's (``light_colour``). The estimate (ml/light/shot.py)
places its key with it; the panel's Key From Shadow (addon/shot.py) places a key the plate
measured but could not direct with it, at the picked direction.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .colour import REC709_LUMA as LUMA
from .schema import Light

MIN_SIN_ELEVATION = 0.2
"""A key grazing the ground (under ~12 deg) is read as if at this: its sin would blow the
strength up on the plate's noise."""


def light_colour(irr_rgb: ArrayLike) -> np.ndarray:
    """The key's per-channel irradiance brought onto what a light's colour can be, at the same
    luminance: a light's green lies between its red and its blue (a blackbody - the sun, the
    sky, a tungsten bulb, a white LED - runs from red-heavy to blue-heavy through neutral; no
    light is greener or more magenta than both). The plate's ratio times the estimated ambient
    leaves the range where the ground is no single material or its ambient's colour is wrong:
    sunlit grass against soil made a magenta key over the dog-lawn clip, and trees above the
    horizon a green one over park-market-sun, which tinted the product."""
    irr = np.maximum(np.asarray(irr_rgb, np.float64), 0.0)
    r, g, b = irr
    out = np.array([r, float(np.clip(g, min(r, b), max(r, b))), b])
    lum, new = float(irr @ LUMA), float(out @ LUMA)
    return out * (lum / new) if new > 1e-12 else irr


def sun_for_ratio(ratio_rgb: ArrayLike, ambient_rgb: ArrayLike, direction: ArrayLike, sin_elevation: float,
                  angle_deg: float, shadow: bool = True) -> Light:
    """A sun shining from ``direction`` (towards the light; ``sin_elevation`` its sine over the
    ground) that gives the ground under the ``ambient`` irradiance the plate's lit/shadow
    ``ratio_rgb``; its colour is the per-channel irradiance over the largest."""
    sin_e = max(float(sin_elevation), MIN_SIN_ELEVATION)
    irr = light_colour(np.clip(np.asarray(ratio_rgb, np.float64) - 1.0, 0.0, 50.0) * np.asarray(ambient_rgb, np.float64) / sin_e)
    strength = float(irr.max())
    return Light(type="sun", direction=[float(v) for v in np.asarray(direction, np.float64).ravel()],
                 color=(irr / max(strength, 1e-9)).tolist(), intensity=strength, angle_deg=float(angle_deg), shadow=shadow)


def shadow_ratio(ratio_rgb: ArrayLike) -> list[float]:
    """shot.json's ``lighting.shadow_ratio`` for a key making the plate's lit/shadow ratio: the
    density the product's own shadow is given (shadow / lit, per channel, 0.02-1)."""
    return np.clip(1.0 / np.maximum(np.asarray(ratio_rgb, np.float64), 1e-4), 0.02, 1.0).tolist()
