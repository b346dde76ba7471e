"""Fast streaming paths: precision and execution mode, checked against eager fp32."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.inpaint.dstt import DSTT
from ml.inpaint.stream_step import StreamStep

from conftest import LOWRES


def _stream(step: StreamStep, n: int = 3, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mem = step.init_memory(1)
    outs = []
    for _ in range(n):
        f = torch.rand(1, 1, 3, 96, 160, generator=g) * 2 - 1
        m = (torch.rand(1, 1, 1, 96, 160, generator=g) > 0.7).float()
        out, mem = step(f * (1 - m), m, mem)
        outs.append(out.float().cpu().clone())
        mem = mem.clone()
    return outs


@pytest.fixture(scope="module")
def model() -> DSTT:
    torch.manual_seed(0)
    return DSTT(LOWRES).eval()


def test_eager_fp32_is_the_model(model) -> None:
    step = StreamStep(model, "cpu")
    g = torch.Generator().manual_seed(1)
    f, m = torch.rand(1, 1, 3, 96, 160, generator=g), torch.zeros(1, 1, 1, 96, 160)
    with torch.no_grad():
        ref, ref_mem = model(f, m, model.init_memory(1))
    out, mem = step(f, m, step.init_memory(1))
    assert torch.equal(out, ref) and torch.equal(mem, ref_mem)


def test_bf16_stays_close_to_fp32_over_a_stream(model) -> None:
    ref = _stream(StreamStep(model, "cpu"))
    half = _stream(StreamStep(model, "cpu", dtype="bf16"))
    for a, b in zip(ref, half):
        mse = float(((a - b) / 2).pow(2).mean())
        assert 10 * np.log10(1 / max(mse, 1e-12)) > 35, "bf16 must stay within 35 dB PSNR of fp32"
        assert not torch.equal(a, b), "the bf16 path must really run in bf16"


def test_graph_and_compile_are_guarded_off_on_cpu(model) -> None:
    ref = _stream(StreamStep(model, "cpu"))
    for mode in ("cuda-graph", "compile"):
        step = StreamStep(model, "cpu", dtype="fp16", mode=mode)
        assert step.mode == "eager" and step.dtype == torch.float32
        assert "needs CUDA" in step.note and "fp16 on a CPU" in step.note
        assert all(torch.equal(a, b) for a, b in zip(ref, _stream(step)))
    with pytest.raises(ValueError, match="mode"):
        StreamStep(model, "cpu", mode="tensorrt")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("mode", ["cuda-graph", "compile"])
def test_fast_cuda_paths_match_eager(model, mode) -> None:
    eager = _stream(StreamStep(model, "cuda", dtype="fp16"))
    fast_step = StreamStep(model, "cuda", dtype="fp16", mode=mode)
    fast = _stream(fast_step)
    assert fast_step.mode == mode, fast_step.note
    for a, b in zip(eager, fast):
        assert (a - b).abs().max() < 2e-2
