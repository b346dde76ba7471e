"""The sky round a sun the frames show, extended to the sky they do not show (CIE clear sky).

With the sun in view (sun_disc.py) the frames see the brightest part of the sky: the horizon
under the sun and its aureole. The environment map's row fill (envmap.py) spreads each seen row
over every azimuth and the top seen row up to the zenith, so the sky behind the camera and
overhead came out as bright as the glow round a setting sun. On beach-sunset the unseen sky
read 0.60 in luminance, and the ground under it an albedo of 0.03-0.06 (pebbles and sand are
0.1-0.3): the duck's camera side, which faces that sky, came out bright and saturated where
the plate's backlit stones are dark.

A clear sky's luminance falls away from the sun and towards the zenith. The CIE standard clear
sky (ISO 15469 / CIE S 011, type 12) gives it relative to the sun's position:

    L(Z, chi) ~ (1 + a exp(b / cos Z)) (1 + c (exp(d chi) - exp(d pi/2)) + e cos^2 chi)

Z the zenith angle, chi the angle to the sun. Its one free scale is fitted to the sky the frames
do show (outside the sun's glare, unclipped), and the unseen sky is filled from it in the seen
sky's colour. The sun's disc and glare (GLARE_DEG) are left out of the map: the key light
carries the sun, and a clipped disc on the map would light the product a second time.

Only where the frames show the sun itself: elsewhere the sun's azimuth is read from shadows and
what the frames see above the horizon is mostly away from the sun, where the row fill's spread
is no worse than the model's guess (and the eval's truth skies have no aureole to fit).
"""
from __future__ import annotations

import math

import numpy as np

from ml.io.colour import REC709_LUMA as LUMA

from .sun_disc import CLIP  # a map pixel this high in every channel is clipped: it says nothing of the sky's level

GRADATION = (-1.0, -0.32)
"""(a, b): the CIE clear sky's darkening towards the zenith."""
INDICATRIX = (10.0, -3.0, 0.45)
"""(c, d, e): its brightening towards the sun (aureole) and the back-scatter term."""
GLARE_DEG = 6.0
"""The sun's disc, bloom and glare on the map (1.4-degree pixels): the key light is this."""
MIN_SKY_PX = 20
"""Seen, unclipped sky pixels outside the glare needed to fit the model's scale."""


def relative_luminance(dirs: np.ndarray, up: np.ndarray, sun: np.ndarray, min_chi_deg: float = 0.0) -> np.ndarray:
    """The CIE clear sky's luminance (relative) along ``dirs`` (... x 3, unit) for a sun along
    ``sun``; 0 below the horizon. Within ``min_chi_deg`` of the sun it stays at that angle's
    level (the aureole inside the glare is the key light's)."""
    a, b = GRADATION
    c, d, e = INDICATRIX
    cos_z = dirs @ (np.asarray(up, np.float64) / np.linalg.norm(up))
    s = np.asarray(sun, np.float64) / np.linalg.norm(sun)
    chi = np.maximum(np.arccos(np.clip(dirs @ s, -1.0, 1.0)), math.radians(min_chi_deg))
    with np.errstate(over="ignore", divide="ignore"):
        grad = 1.0 + a * np.exp(b / np.maximum(cos_z, 1e-3))
    indic = 1.0 + c * (np.exp(d * chi) - math.exp(d * math.pi / 2)) + e * np.cos(chi) ** 2
    return np.where(cos_z > 0, grad * indic, 0.0)


def fill_round_sun(mean: np.ndarray, seen: np.ndarray, below: np.ndarray, dirs: np.ndarray, up: np.ndarray,
                   sun: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(the sky filled from the model, HxWx3, below the horizon zero; ``seen`` without the sun's
    glare) for a map whose seen pixels average to ``mean``; None when too little unclipped sky
    outside the glare was seen to fit it (the row fill stands)."""
    model = relative_luminance(dirs, up, sun, min_chi_deg=GLARE_DEG)
    s = np.asarray(sun, np.float64) / np.linalg.norm(sun)
    glare = (dirs @ s) >= math.cos(math.radians(GLARE_DEG))
    sky = ~below
    usable = seen & sky & ~glare & (mean.min(axis=-1) < CLIP) & (model > 0)
    if usable.sum() < MIN_SKY_PX:
        return None
    lum = mean[usable] @ LUMA
    scale = float(np.median(lum / model[usable]))
    tint = np.median(mean[usable], axis=0)
    tint = tint / max(float(tint @ LUMA), 1e-9)
    fill = np.where(sky[..., None], scale * model[..., None] * tint, 0.0)
    return fill, seen & ~(glare & sky)
