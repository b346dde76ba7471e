"""ONNX export of the relighting network: onnxruntime matches torch (<= 1e-3)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.relight.export import INPUT_NAMES, example_inputs, export_onnx, main, onnx_session, parity
from ml.relight.unet import RelightUNet, UNetConfig, save_checkpoint

torch.set_num_threads(1)


def _trained_like(width: float = 0.0625) -> RelightUNet:
    """Random non-zero output conv and BN statistics, so parity covers every layer."""
    torch.manual_seed(0)
    model = RelightUNet(UNetConfig(width=width))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        model.final_conv.weight.normal_(0, 0.1)
    return model.eval()


def test_onnx_matches_torch_at_another_size(tmp_path):
    model = _trained_like()
    path = export_onnx(model, tmp_path / "relight.onnx")
    assert parity(model, path, 40, 56) <= 1e-3
    sess = onnx_session(path, threads=1)
    assert [i.name for i in sess.get_inputs()] == list(INPUT_NAMES)
    ins = example_inputs(model.config, 24, 32, seed=3)
    got = sess.run(None, {n: t.numpy() for n, t in zip(INPUT_NAMES, ins)})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(*ins).numpy(), atol=1e-3)


def test_export_command_from_checkpoint(tmp_path, capsys):
    ckpt = save_checkpoint(tmp_path / "u.safetensors", _trained_like())
    assert main(["--checkpoint", str(ckpt), "--onnx", str(tmp_path / "out.onnx")]) == 0
    assert '"ok": true' in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        main(["--checkpoint", str(tmp_path / "missing.safetensors"), "--onnx", str(tmp_path / "x.onnx")])
