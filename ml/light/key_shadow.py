"""The plate's own cast shadows, as the key light's visibility, given to the product.

The plate shows where the key is blocked on the ground round the product (a wall, a tree, a
pillar), not the occluders themselves. A point P of the product, h above the ground, is lit
when the ray from P towards the light is clear. That ray, followed back away from the light,
meets the ground at G = P - L h / (L . n); the plate's ground at G is in shadow when the ray
from G towards the light is blocked, and that is the same ray, only longer. So P is in shadow
where G is, whenever the occluder stands taller than P: true of what casts the shadows one
notices round a product on the ground. A low occluder (a kerb) shades the ground but not the
product's top, and is read as shading it.

The map is the key's visibility (1 lit, 0 in shadow) on the rectified ground patch of the
light estimate (key.GroundGrid): the ground's luminance between the shadow and lit levels
the edge pairs measured. Ground the plate never shows, or that something stands on, takes
its neighbours' value, and is lit where it has none.

``apply`` runs in the frame loader (ml/pipeline/frames.py), before any stage, as the holdout
does: the key's share of the product (the "key" render pass) goes where the map says shadow,
and the product's own cast shadow fades where the ground is already in the plate's shadow
(the key is blocked there already; only what the product takes of the sky remains).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.io.colour import luminance
from shotcache.layout import atomic_write

from .masked import masked_blur

MAP_FILE = "light/key_shadow.png"
"""16-bit grey, 0 = in the key's shadow, 65535 = lit: exact enough, and readable anywhere."""
EDGE_SIGMA_M = 0.03
"""Smoothing of the ground's luminance before it is read as visibility: the tiles' mortar and
the grain of asphalt are not shadows; a cast shadow's edge is wider than this anyway."""
MIN_SHADOW_TINT = 0.04
"""Shadow and lit ground must differ this much in chromaticity (log units) for colour to say
which dark ground is shadow."""
KEY_SMOOTH_PX = 1.5
"""Smoothing of the key's share of the product (key_fraction)."""
FILL_SIGMA_M = 0.15
"""How far the map's known ground reaches into cells it never saw as ground."""


@dataclass
class KeyShadowMap:
    """Visibility of the key on a square ground patch (row 0 = +e2, column 0 = -e1 side)."""

    visibility: np.ndarray  # S x S float32, 1 = lit
    centre: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    normal: np.ndarray
    half_m: float

    def record(self, path: str = MAP_FILE) -> dict[str, Any]:
        """What shot.json keeps (Lighting.key_shadow): the file and the patch's geometry."""
        return {"path": path, "centre": self.centre.tolist(), "e1": self.e1.tolist(), "e2": self.e2.tolist(),
                "normal": self.normal.tolist(), "half_m": float(self.half_m)}

    @classmethod
    def from_record(cls, rec: dict[str, Any], visibility: np.ndarray) -> "KeyShadowMap":
        v = lambda k: np.asarray(rec[k], np.float64)  # noqa: E731
        return cls(visibility.astype(np.float32), v("centre"), v("e1"), v("e2"), v("normal"), float(rec["half_m"]))

    def at_ground(self, points: np.ndarray) -> np.ndarray:
        """Visibility at the feet of world points (N x 3); 1 off the patch."""
        s = self.visibility.shape[0]
        mpp = 2 * self.half_m / s
        d = np.asarray(points, np.float64) - self.centre
        col = (d @ self.e1 + self.half_m) / mpp - 0.5
        row = (self.half_m - d @ self.e2) / mpp - 0.5
        return _bilinear(self.visibility, col, row, outside=1.0)

    def at_points(self, points: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Visibility of the key (``direction`` towards it) at world points above the ground:
        the map where the ray from each point away from the light meets the ground."""
        p = np.asarray(points, np.float64)
        L = np.asarray(direction, np.float64)
        L = L / np.linalg.norm(L)
        up = float(L @ self.normal)
        if up <= 1e-3:  # a light at or under the horizon: no ground shadow says anything
            return np.ones(len(p), np.float32)
        h = np.maximum((p - self.centre) @ self.normal, 0.0)
        return self.at_ground(p - L[None, :] * (h / up)[:, None])


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray, outside: float) -> np.ndarray:
    """``img`` at fractional (x, y) (any number of points), ``outside`` off the image."""
    h, w = img.shape
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    pad = np.pad(img.astype(np.float32), 1, constant_values=outside)
    xi, yi = np.clip(x0 + 1, 0, w), np.clip(y0 + 1, 0, h)  # into the padded image
    top = pad[yi, xi] * (1 - fx) + pad[yi, np.minimum(xi + 1, w + 1)] * fx
    bottom = pad[np.minimum(yi + 1, h + 1), xi] * (1 - fx) + pad[np.minimum(yi + 1, h + 1), np.minimum(xi + 1, w + 1)] * fx
    out = top * (1 - fy) + bottom * fy
    off = (x < -1) | (y < -1) | (x > w) | (y > h)
    return np.where(off, outside, out).astype(np.float32)


def _chroma(rgb: np.ndarray) -> np.ndarray:
    x = np.log(np.maximum(np.asarray(rgb, np.float32), 1e-4))
    return x - luminance(x)[..., None]


def visibility_from_ground(med: np.ndarray, ground: np.ndarray, shadow_rgb: np.ndarray, lit_rgb: np.ndarray, metres_per_px: float) -> np.ndarray:
    """The key's visibility on the ground patch (``med``: its colour, S x S x 3; ``ground``:
    cells that are flat ground): 0 at the shadow's level, 1 at the lit level, filled off the
    ground. Where the key and the sky differ in colour (a shadow is bluer), a dark cell of the
    lit ground's colour is dark ground (mortar, a stain), not shadow, and stays lit."""
    sh, lit = float(luminance(np.asarray(shadow_rgb))), float(luminance(np.asarray(lit_rgb)))
    sigma = max(EDGE_SIGMA_M / metres_per_px, 0.5)
    level, _ = masked_blur(np.log(np.maximum(luminance(med), 1e-4)), ground, sigma)
    vis = np.clip((level - math.log(max(sh, 1e-4))) / max(math.log(max(lit / max(sh, 1e-4), 1.0001)), 1e-3), 0.0, 1.0)
    cs, cl = _chroma(np.asarray(shadow_rgb)), _chroma(np.asarray(lit_rgb))
    shift = cs - cl
    if float(np.linalg.norm(shift)) > MIN_SHADOW_TINT:
        chroma, _ = masked_blur(_chroma(med), ground, sigma)
        shadowlike = np.clip(((chroma - cl) @ shift) / float(shift @ shift), 0.0, 1.0)
        vis = np.maximum(vis, 1.0 - shadowlike)
    filled, weight = masked_blur(vis, ground, FILL_SIGMA_M / metres_per_px)
    out = np.where(ground, vis, np.where(weight < 0.05, 1.0, filled))
    return out.astype(np.float32)


def save(root: Path, m: KeyShadowMap) -> dict[str, Any]:
    """Write the map (temp + rename) and return its shot.json record."""
    img = np.rint(np.clip(m.visibility, 0.0, 1.0) * 65535).astype(np.uint16)
    atomic_write(Path(root) / MAP_FILE, lambda tmp: _imwrite(tmp, img), suffix=".png")
    return m.record()


def _imwrite(path: Path, img: np.ndarray) -> None:
    if not cv2.imwrite(str(path), img):
        raise OSError(f"{path}: could not write the key's shadow map")


_LOADED: dict[tuple[str, float], KeyShadowMap] = {}


def load(root: Path, rec: dict[str, Any]) -> KeyShadowMap | None:
    """The shot's map (cached per file and modification time); None when it has none."""
    if not rec or not rec.get("path"):
        return None
    path = Path(root) / rec["path"]
    if not path.is_file():
        return None
    key = (str(path), path.stat().st_mtime)
    if key not in _LOADED:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None or img.ndim != 2:
            return None
        _LOADED.clear()
        _LOADED[key] = KeyShadowMap.from_record(rec, img.astype(np.float32) / 65535.0)
    return _LOADED[key]


def key_fraction(rgba: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The key's share of the product's light per pixel and channel (0..1), smoothed over the
    product: the light-group pass is not denoised, the product's colour is; the share varies
    with the shading, slowly, so smoothing it takes the noise and keeps the denoised texture."""
    a = rgba[..., 3]
    num = cv2.GaussianBlur(key[..., :3].astype(np.float32), (0, 0), KEY_SMOOTH_PX)  # premultiplied, as written
    den = cv2.GaussianBlur((rgba[..., :3] * a[..., None]).astype(np.float32), (0, 0), KEY_SMOOTH_PX)
    return np.where(a[..., None] > 1e-4, np.clip(num / np.maximum(den, 1e-5), 0.0, 1.0), 0.0).astype(np.float32)


def apply(rgba: np.ndarray | None, passes: dict[str, np.ndarray], lighting: Any, m: KeyShadowMap) -> np.ndarray | None:
    """Shade the product by the plate's shadows (key pass off where the map says shadow) and
    fade its cast shadow on ground the plate already shows in shadow. ``passes`` (position,
    key, shadow_catcher) are changed in place; returns the new rgba. Needs the position pass
    and a key light; without the key pass only the cast shadow is corrected, and a key that
    casts no shadow (``Light.shadow`` off: the product stands in the plate's shadow) leaves
    the cast shadow as rendered."""
    pos = passes.get("position")
    lights = getattr(lighting, "lights", None) or []
    if pos is None or not lights:
        return rgba
    h, w = pos.shape[:2]
    depth = passes.get("depth")
    seen = (depth[..., 0] < 1e9) if depth is not None else np.abs(pos).sum(-1) > 0
    vis = np.ones((h, w), np.float32)
    vis[seen] = m.at_points(pos[seen], np.asarray(lights[0].direction))
    key = passes.get("key")
    if rgba is not None and key is not None and (vis < 1.0).any():
        rgb = rgba[..., :3] * (1.0 - (1.0 - vis[..., None]) * key_fraction(rgba, key))
        rgba = np.concatenate([rgb, rgba[..., 3:]], axis=-1).astype(np.float32)
    catcher = passes.get("shadow_catcher")
    ratio = getattr(lighting, "shadow_ratio", None)
    if catcher is None or not ratio:
        return rgba
    t = np.clip(np.asarray(ratio, np.float32)[:3], 0.02, 1.0)  # the sky's share of lit ground
    if getattr(lights[0], "shadow", True):
        # in the plate's shadow the key is blocked already: what the product still takes is the
        # sky's share, catcher / (shadow / lit), none beyond it
        v = vis[..., None]
        passes["shadow_catcher"] = (v * catcher + (1.0 - v) * np.clip(catcher / t, 0.0, 1.0)).astype(np.float32)
    else:
        # a key that casts no shadow still lights the catcher, and dilutes the sky the product
        # takes away to (1 - catcher) = t (1 - sky's own): undone, the ground there being the
        # plate's shadow, lit by the sky alone
        passes["shadow_catcher"] = np.clip(1.0 - (1.0 - catcher) / t, 0.0, 1.0).astype(np.float32)
    return rgba
