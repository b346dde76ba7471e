"""The sampling loops' maths with oracle denoisers that know the clean latent: a perfect
model must bring the partially noised latent back exactly (flow Euler, DDIM), and the known
region is re-imposed exactly."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ml.diffuse.models import Conditioning, DiffusionModels
from ml.diffuse.sampling import Request, flow_sigmas, make_noise, make_scheduler, sample

X0 = torch.randn(1, 4, 6, 8, generator=torch.Generator().manual_seed(0))
COND = Conditioning(torch.zeros(1, 3, 8), torch.zeros(1, 8))


class FlowOracle:
    config = SimpleNamespace(patch_size=2, joint_attention_dim=8)

    def __init__(self, noise):
        self.noise = noise

    def __call__(self, hidden_states, timestep, encoder_hidden_states, pooled_projections, return_dict=False):
        return (self.noise - X0,)  # the exact velocity of the straight path


class EpsOracle:
    config = SimpleNamespace(block_out_channels=(8, 16), in_channels=4)

    def __init__(self, alphas_cumprod):
        self.ac = alphas_cumprod

    def __call__(self, x, t, encoder_hidden_states, return_dict=False, **kw):
        a = self.ac[int(t)]
        return ((x - a.sqrt() * X0) / (1 - a).sqrt(),)  # the exact noise in x


def _models(kind, denoiser, sched_cfg):
    vae = SimpleNamespace(config=SimpleNamespace(block_out_channels=(8, 16), latent_channels=4))
    return DiffusionModels(None, kind, denoiser, vae, [], [], sched_cfg, "cpu", torch.float32)


def test_flow_sigmas_start_exactly_at_strength():
    for shift in (1.0, 3.0):
        s = flow_sigmas(0.6, 5, shift)
        assert s[0] == pytest.approx(0.6) and s[-1] == 0.0 and np.all(np.diff(s) < 0) and len(s) == 6


@pytest.mark.parametrize("strength", [0.3, 0.8, 1.0])
def test_flow_euler_recovers_clean_latent(strength):
    noise = make_noise(tuple(X0.shape), 7)
    m = _models("flow", FlowOracle(noise), {"shift": 3.0})
    out = sample(m, Request(init_latents=X0, cond=COND, uncond=None, strength=strength, steps=4, noise=noise))
    assert torch.allclose(out, X0, atol=1e-5)


def test_ddim_recovers_clean_latent_and_keeps_known_region():
    cfg = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    probe = _models("unet", None, cfg)
    ac = make_scheduler(probe, "ddim").alphas_cumprod
    m = _models("unet", EpsOracle(ac), cfg)
    out = sample(m, Request(init_latents=X0, cond=COND, uncond=None, strength=0.7, steps=10, seed=1))
    # SD's DDIM (set_alpha_to_one=False) ends at alphas_cumprod[0], not 1: a trace of the noise stays
    n = make_noise(tuple(X0.shape), 1)
    expected = ac[0].sqrt() * X0 + (1 - ac[0]).sqrt() * n
    assert torch.allclose(out, expected, atol=1e-4)
    assert (out - X0).abs().max() < 0.15
    # an oracle that is wrong everywhere, but the mask says "keep": the init comes back bit for bit
    wrong = _models("unet", lambda x, t, **kw: (torch.ones_like(x),), cfg)
    wrong.denoiser.config = EpsOracle.config  # type: ignore[attr-defined]
    keep = torch.zeros(1, 1, 6, 8)
    out = sample(wrong, Request(init_latents=X0, cond=COND, uncond=None, strength=0.7, steps=3, generate_mask=keep))
    assert torch.equal(out, X0)
