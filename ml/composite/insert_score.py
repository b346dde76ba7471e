"""Scoring an inserted product against path-traced truth (`vanelia eval insert`).

Regions come from the truth itself, not from anything Vanelia produced:

* product  the product's own alpha (rendered alone) > 0.5;
* insert   everything the product changes: product, plus pixels where the render with the
           product differs visibly from the one without (shadow, bounce, reflections);
* shadow   the insert region outside the (slightly grown) product: mostly its cast shadow.

PSNR and SSIM are computed on sRGB values in [0, 1] (what the viewer sees) over a region;
SSIM uses the standard 7x7 Gaussian window (sigma 1.5) on each channel, averaged over the
region's pixels. No perceptual (learned) metric: its weights are not available here.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DIFF_THRESHOLD = 6.0 / 255.0
"""Truth-vs-plate change that counts as the product's doing; above render noise (same seed)."""


@dataclass
class Regions:
    product: np.ndarray
    shadow: np.ndarray
    insert: np.ndarray


def regions(plate: np.ndarray, truth: np.ndarray, alpha: np.ndarray, threshold: float = DIFF_THRESHOLD) -> Regions:
    """Product / shadow / insert masks (bool HxW) from sRGB plate and truth in [0, 1] and the product's alpha."""
    diff = np.abs(truth.astype(np.float32) - plate.astype(np.float32)).max(axis=-1)
    diff = cv2.GaussianBlur(diff, (3, 3), 0.8)
    changed = diff > threshold
    changed = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)) > 0
    product = alpha > 0.5
    grown = cv2.dilate(product.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    insert = changed | product
    return Regions(product=product, shadow=insert & ~grown, insert=insert)


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """PSNR (dB, peak 1) over the region's pixels; nan for an empty region."""
    if not region.any():
        return float("nan")
    mse = float(np.mean((a[region].astype(np.float64) - b[region].astype(np.float64)) ** 2))
    return float(10 * np.log10(1.0 / max(mse, 1e-10)))


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (HxW), mean over channels; Wang et al.'s constants for range 1."""
    c1, c2 = 0.01**2, 0.03**2
    a = a.astype(np.float32)
    b = b.astype(np.float32)

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (7, 7), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    va = blur(a * a) - mu_a**2
    vb = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))
    return s.mean(axis=-1) if s.ndim == 3 else s


def ssim(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    if not region.any():
        return float("nan")
    return float(ssim_map(a, b)[region].mean())


def score(result: np.ndarray, truth: np.ndarray, reg: Regions) -> dict[str, float]:
    """PSNR/SSIM of a composite (sRGB [0, 1]) in the insert, product and shadow regions."""
    smap = ssim_map(result, truth)
    out: dict[str, float] = {}
    for name in ("insert", "product", "shadow"):
        m = getattr(reg, name)
        out[f"psnr_{name}"] = psnr(result, truth, m)
        out[f"ssim_{name}"] = float(smap[m].mean()) if m.any() else float("nan")
    return out


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over rows, ignoring nan (a frame without a visible shadow)."""
    keys = sorted({k for r in rows for k in r})
    out = {}
    for k in keys:
        vals = np.array([r.get(k, np.nan) for r in rows], dtype=np.float64)
        out[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return out
