"""Guided-filter edges of the automatic holdout (ml.camera.occlusion.refine_matte), measured
on real footage with true object masks: ../shared/data/video/{judo,bmx-trees}.

Each true mask is made blocky (down-sampled by 2, 4, 8 and scaled back with nearest: what a
coarse segmentation at a lower resolution gives), refined with the plate frame as the guide,
and compared with the true mask: mean absolute error inside the edge band (both masks'
bands, 2r px) and the IoU of the refined matte thresholded at 0.5; time per frame.

    PYTHONPATH=. python scripts/occlusion_edges.py
"""
from __future__ import annotations

import glob
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "video"

from ml.camera.occlusion import default_radius, edge_band, refine_matte  # noqa: E402


def evaluate(clip: str, step: int, down: int) -> str:
    rows = []
    w = h = r = 0
    for mp in sorted(glob.glob(str(DATA / clip / "masks" / "*.png")))[::step]:
        name = os.path.splitext(os.path.basename(mp))[0]
        gt = cv2.imread(mp, cv2.IMREAD_GRAYSCALE) > 0
        h, w = gt.shape
        img = cv2.imread(str(DATA / clip / "frames" / f"{name}.jpg"))
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) if img.shape[:2] != (h, w) else img
        coarse = cv2.resize(cv2.resize(gt.astype(np.uint8), (w // down, h // down), interpolation=cv2.INTER_AREA),
                            (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        r = default_radius((w, h))
        t = time.perf_counter()
        m = refine_matte(coarse, img, radius=r)
        dt = time.perf_counter() - t
        band = edge_band(gt, 2 * r) | edge_band(coarse, 2 * r)
        mb = m > 0.5
        rows.append((np.abs(coarse.astype(np.float32) - gt)[band].mean(), np.abs(m - gt)[band].mean(),
                     (coarse & gt).sum() / (coarse | gt).sum(), (mb & gt).sum() / (mb | gt).sum(), dt))
    a = np.array(rows)
    return (f"| {clip} | {len(rows)} | {w}x{h} | {r} | x{down} | {a[:, 0].mean():.4f} -> {a[:, 1].mean():.4f} | "
            f"{a[:, 2].mean():.4f} -> {a[:, 3].mean():.4f} | {1000 * a[:, 4].mean():.1f} |")


if __name__ == "__main__":
    print("| clip | masks | size | r | blocky | band MAE coarse -> refined | IoU coarse -> refined | ms/frame |")
    print("|---|---|---|---|---|---|---|---|")
    for clip, step in (("judo", 1), ("bmx-trees", 4)):
        for down in (2, 4, 8):
            print(evaluate(clip, step, down))
