"""ONNX export of the photorealistic compositor (contextual attention included): parity with torch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ml.composite.export import export_onnx, main as export_main, ort_session, parity
from ml.composite.photorealistic import CompositorConfig, PhotorealisticNet, save_checkpoint
from ml.composite.photorealistic_engine import composite_photorealistic, torch_coef_fn

torch.set_num_threads(1)


def _net(cnum: int) -> PhotorealisticNet:
    torch.manual_seed(0)
    net = PhotorealisticNet(CompositorConfig(cnum=cnum, net_size=64))
    for head in (net.coarse.head, net.fine.head):  # non-identity output, so parity means something
        torch.nn.init.normal_(head.weight, std=0.05)
    return net.eval()


def test_onnx_matches_torch_fp32_cnum32(tmp_path: Path) -> None:
    net = _net(32)
    path = export_onnx(net, tmp_path / "c32.onnx", size=64)
    diff = parity(net, path, 64)
    assert diff["coef"] <= 1e-3 and diff["image"] <= 1e-3, diff
    # the engine's whole frame path gives the same composite with either backend
    sess = ort_session(path)
    rng = np.random.default_rng(0)
    plate = rng.random((90, 120, 3), dtype=np.float32)
    rgba = np.zeros((90, 120, 4), np.float32)
    rgba[30:80, 40:100] = [0.7, 0.5, 0.2, 1.0]
    a = composite_photorealistic(torch_coef_fn(net), plate, rgba, net_size=64)
    b = composite_photorealistic(lambda x: sess.run(["coef"], {"input": x})[0], plate, rgba, net_size=64)
    assert np.abs(a - b).max() <= 1e-3


def test_export_cli_with_check(tmp_path: Path) -> None:
    ckpt = tmp_path / "c8.safetensors"
    save_checkpoint(ckpt, _net(8))
    rc = export_main(["--onnx", str(tmp_path / "c8.onnx"), "--checkpoint", str(ckpt), "--size", "32", "--check"])
    assert rc == 0 and (tmp_path / "c8.onnx").stat().st_size > 10_000
