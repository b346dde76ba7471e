"""The data script renders a real (tiny) Cycles sample with the right passes; it loads as patches."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.io.exr import read_passes
from ml.relight import data as rdata

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def one_sample(tmp_path_factory) -> Path:
    pytest.importorskip("bpy")
    out = tmp_path_factory.mktemp("relight-data")
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path_factory.mktemp("blender-user"))}
    cmd = [sys.executable, str(ROOT / "scripts" / "make_relight_data.py"), "--out", str(out), "--count", "1",
           "--size", "48", "--samples", "4", "--seed", "5"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_sample_has_passes_lights_and_a_consistent_key_layer(one_sample):
    exr, meta_path = one_sample / "000000.exr", one_sample / "000000.json"
    passes = read_passes(exr, want=("rgba", "albedo", "normal", "position", "depth"))
    assert passes["rgba"].shape == (48, 48, 4)
    alpha = passes["rgba"][..., 3]
    assert 0.02 < (alpha > 0.5).mean() < 1.0  # something rendered, background transparent
    n = np.linalg.norm(passes["normal"][alpha > 0.99], axis=-1)
    assert np.median(n) == pytest.approx(1.0, abs=0.05)  # world normals are unit vectors
    meta = json.loads(meta_path.read_text())
    light = meta["lighting"]["lights"][0]
    assert light["type"] in ("sun", "point") and light["intensity"] > 0
    sample = rdata.load_sample(exr)
    key = sample.target * sample.irradiance.transpose(2, 0, 1)
    # the key light alone never exceeds the total (plus path-tracing noise)
    assert np.mean(key.transpose(1, 2, 0)[alpha > 0.99] <= passes["rgba"][alpha > 0.99, :3] + 0.05) > 0.95


def test_patch_dataset_sizes_from_the_image(one_sample):
    assert rdata.choose_patch_size(128, 128, 4) == 64
    assert rdata.choose_patch_size(1080, 1920, 16) == 360
    assert rdata.choose_patch_size(48, 48, 4) == 32  # never below 32 px
    sample = rdata.load_sample(one_sample / "000000.exr")
    ds = rdata.PatchRelightDataset([sample], patches_per_image=4, random=True)
    x, y, w = ds[0]
    assert x.shape == (8, 32, 32) and y.shape == (3, 32, 32) and w.shape == (1, 32, 32)
    with pytest.raises(rdata.DataError, match="no relighting samples"):
        rdata.list_samples(one_sample.parent)
