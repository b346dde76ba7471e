"""Insert-region scoring against truth: regions from the truth, PSNR/SSIM on them."""
from __future__ import annotations

import numpy as np

from ml.composite import insert_score as sc


def scene():
    rng = np.random.default_rng(0)
    plate = np.clip(0.5 + 0.05 * rng.standard_normal((60, 80, 3)), 0, 1).astype(np.float32)
    truth = plate.copy()
    alpha = np.zeros((60, 80), np.float32)
    alpha[20:40, 30:45] = 1.0
    truth[alpha > 0] = (0.9, 0.7, 0.1)
    truth[40:46, 28:60] *= 0.5  # its shadow
    return plate, truth, alpha


def test_regions_come_from_the_truth():
    plate, truth, alpha = scene()
    reg = sc.regions(plate, truth, alpha)
    assert reg.product.sum() == 300
    assert reg.shadow[42, 50] and not reg.shadow[30, 35] and not reg.insert[5, 5]
    assert (reg.product | reg.shadow).sum() <= reg.insert.sum()


def test_scores_rank_a_better_insert_higher():
    plate, truth, alpha = scene()
    reg = sc.regions(plate, truth, alpha)
    perfect = sc.score(truth, truth, reg)
    assert perfect["psnr_insert"] > 90 and abs(perfect["ssim_insert"] - 1) < 1e-6
    paste = plate.copy()
    paste[alpha > 0] = (0.8, 0.6, 0.2)  # product close, no shadow
    nothing = sc.score(plate, truth, reg)
    pasted = sc.score(paste, truth, reg)
    assert pasted["psnr_product"] > nothing["psnr_product"] + 5
    assert abs(pasted["psnr_shadow"] - nothing["psnr_shadow"]) < 1e-6  # the paste has no shadow either
    m = sc.mean_scores([pasted, {**pasted, "psnr_shadow": float("nan")}])
    assert abs(m["psnr_shadow"] - pasted["psnr_shadow"]) < 1e-9
