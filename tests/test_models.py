import pytest
import torch
from torch import nn

from dcgan.config import ModelConfig
from dcgan.errors import ConfigError
from dcgan.models import build_models, count_parameters


@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_shapes_for_every_supported_size(size, channels, upsample):
    cfg = ModelConfig(image_size=size, channels=channels, g_width=8, d_width=8, upsample=upsample)
    G, D = build_models(cfg)
    images = G(torch.randn(4, cfg.z_dim))
    assert images.shape == (4, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1  # tanh output
    assert D(images).shape == (4, 1)


def test_lesson_model_layout():
    """The SVHN lesson's nets at conv_dim 32: G 128 -> 64 -> 32 -> 3 channels, D 32 -> 64 -> 128, one logit."""
    G, D = build_models(ModelConfig(image_size=32))
    g_convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in g_convs] == [(128, 64), (64, 32), (32, 3)]
    d_convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in d_convs] == [(3, 32), (32, 64), (64, 128)]
    assert D.classify.in_features == 128 * 4 * 4 and D.classify.out_features == 1
    # No bias in layers followed by batch norm; the output layer of G and the first of D keep theirs.
    assert g_convs[0].bias is None and g_convs[-1].bias is not None
    assert d_convs[0].bias is not None and d_convs[1].bias is None


def test_batchnorm_switches_are_separate():
    G, D = build_models(ModelConfig(image_size=32, g_batchnorm=False, d_batchnorm=True))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in G.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 2  # all but D's first layer
    G, D = build_models(ModelConfig(image_size=32, g_batchnorm=True, d_batchnorm=False))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.modules()) == 3  # projection + 2 hidden, not the output
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())


def test_dcgan_initialisation():
    torch.manual_seed(0)
    G, D = build_models(ModelConfig(image_size=64))
    weights = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.001
    scales = torch.cat([m.weight for m in D.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(scales.mean().item() - 1) < 0.01 and scales.std().item() < 0.03


def test_paper_model_widths_default_to_64_at_64px():
    G, _ = build_models(ModelConfig(image_size=64))
    assert G.project.out_features == 512 * 16  # 4x4x512, as pytorch/examples' ngf=64
    assert count_parameters(G) > 3_000_000


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"image_size": 48}, "power of two"),
        ({"image_size": 256}, "power of two"),
        ({"channels": 2}, "channels"),
        ({"upsample": "bicubic"}, "upsample"),
        ({"z_dim": 0}, "z dim"),
    ],
)
def test_bad_model_config_fails_at_build_with_a_clear_message(bad, message):
    with pytest.raises(ConfigError, match=message):
        build_models(ModelConfig(**bad))
