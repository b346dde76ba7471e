"""Trainers run on folders of PNG/JPEG without PyAV or OpenEXR installed (a bare GPU machine).

Each check runs in a fresh interpreter whose import system refuses ``av`` and ``OpenEXR``
(a meta-path finder raising ImportError), so a module-level import anywhere on the path
fails the test; reading a video then gives a clear error instead of a traceback.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from ml.io.images import write_rgb8

ROOT = Path(__file__).resolve().parents[3]

BLOCKER = '''
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("av", "OpenEXR"):
            raise ImportError(f"blocked for this test: {name}")
        return None
sys.meta_path.insert(0, _Block())
'''


def _run(code: str, tmp: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", BLOCKER + code], cwd=tmp, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _frames(folder: Path, n: int, h: int, w: int) -> None:
    rng = np.random.default_rng(0)
    world = (rng.random((h, w + 2 * n, 3)) * 255).astype(np.uint8)
    for i in range(n):
        write_rgb8(folder / f"{i:04d}.png", world[:, 2 * i : 2 * i + w])


def test_trainers_without_pyav_and_openexr(tmp_path: Path) -> None:
    _frames(tmp_path / "clip", 16, 48, 80)
    code = f'''
import json, sys, torch
torch.set_num_threads(1)
import ml.composite.train, ml.relight.train, ml.inpaint.evaluate, ml.io.exr, ml.io.video
from ml.inpaint.dstt import DSTTConfig
from ml.inpaint.train import TrainConfig, train
assert "av" not in sys.modules and "OpenEXR" not in sys.modules
cfg = TrainConfig(data=["clip"], out="ck", model=DSTTConfig(height=48, width=80, channels=32, hidden=32,
                  heads=2, num_blocks=2, zone=(2, 7)), batch=1, steps=1, val_sequences=1, log_every=0,
                  val_fraction=0.3)
hist = train(cfg)
rc = ml.composite.train.main(["--data", "clip", "--out", "comp", "--cnum", "4", "--size", "32", "--batch", "1",
                              "--coarse-steps", "1", "--fine-steps", "1", "--save-every", "2", "--max-side", "80"])
try:
    list(ml.io.video.iter_frames("clip.mp4"))
    video = "no error"
except ValueError as exc:
    video = str(exc)
try:
    ml.io.exr.read_passes("clip/0000.png")
    exr = "no error"
except ml.io.exr.PassError as exc:
    exr = str(exc)
print(json.dumps({{"epochs": len(hist["val"]), "rc": rc, "video": video, "exr": exr,
                  "loaded": sorted(m for m in ("av", "OpenEXR") if m in sys.modules)}}))
'''
    out = _run(code, tmp_path)
    assert out["epochs"] == 1 and out["rc"] == 0
    assert (tmp_path / "ck" / "dstt.safetensors").is_file() and (tmp_path / "comp" / "last.safetensors").is_file()
    assert "PyAV" in out["video"] and "clip.mp4" in out["video"]
    assert "OpenEXR" in out["exr"] and "0000.png" in out["exr"]
    assert out["loaded"] == []
