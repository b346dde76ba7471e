"""Shared training losses: MS-SSIM and the local-weights VGG perceptual term."""
import pytest
import torch
from safetensors.torch import save_file

from ml.losses import VGGPerceptual, ms_ssim, ms_ssim_loss

torch.set_num_threads(1)


def test_ms_ssim_is_one_for_identical_images_and_drops_with_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g)
    assert torch.allclose(ms_ssim(x, x), torch.ones(2), atol=1e-5)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert float(ms_ssim_loss(noisy, x)) > 0.1 > float(ms_ssim_loss(x, x))


@pytest.mark.parametrize("depth", [3, 4])
def test_vgg_perceptual_loads_local_weights_and_compares_features(tmp_path, depth):
    torch.manual_seed(0)
    layers, cin = [], 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512):
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2))
        else:
            layers += [torch.nn.Conv2d(cin, v, 3, padding=1), torch.nn.ReLU()]
            cin = v
    state = {f"features.{k}": t for k, t in torch.nn.Sequential(*layers).state_dict().items()}
    path = tmp_path / "vgg16.safetensors"
    save_file(state, str(path))
    vgg = VGGPerceptual(path, depth=depth)
    x = torch.rand(1, 3, 32, 32)
    assert float(vgg(x, x)) == 0.0
    assert float(vgg(x, torch.rand(1, 3, 32, 32))) > 0.0
    with pytest.raises(FileNotFoundError, match="VGG16 weights not found"):
        VGGPerceptual(tmp_path / "missing.pth")
