"""The DCGAN generator and discriminator, built in one loop over resolutions from a ModelConfig.

Radford et al. 2015: strided (transposed) convolutions instead of pooling, batch norm on hidden
layers, ReLU in G and leaky ReLU in D, tanh output. Widths follow the lesson's conv_dim rule:
G halves its channels at each doubling of resolution and ends at `g_width`; D mirrors it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dcgan.config import ModelConfig

BASE_SIZE = 4  # G starts from, and D ends at, a 4x4 feature map
KERNEL = 4  # 4x4 kernels with stride 2 double or halve the size exactly


def conv_block(conv: nn.Module, out_channels: int, batchnorm: bool, activation: nn.Module | None) -> nn.Sequential:
    """The one building block of both networks: a convolution, optional batch norm, an activation."""
    layers = [conv]
    if batchnorm:
        layers.append(nn.BatchNorm2d(out_channels))
    if activation is not None:
        layers.append(activation)
    return nn.Sequential(*layers)


def upsample_conv(in_ch: int, out_ch: int, mode: str, bias: bool) -> nn.Module:
    """Double the spatial size: a transposed conv (paper) or nearest resize + 3x3 conv (no checkerboard)."""
    if mode == "transpose":
        return nn.ConvTranspose2d(in_ch, out_ch, KERNEL, stride=2, padding=1, bias=bias)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=bias))


def num_doublings(cfg: ModelConfig) -> int:
    return int(math.log2(cfg.image_size // BASE_SIZE))


def seeded_z(seed: int, count: int, z_dim: int) -> torch.Tensor:
    """(count, z_dim) standard normal generator inputs, the same for the same seed on every machine (a CPU
    generator of its own: the global RNG is neither read nor moved). Every seeded z of the engine is drawn
    here: the quality score's, the explorer's and projection's, `dcgan sample`'s, the generator file check's."""
    return torch.randn(count, z_dim, generator=torch.Generator().manual_seed(seed))


class Generator(nn.Module):
    """z (B, z_dim) -> image (B, channels, size, size) in [-1, 1]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg = cfg.resolved()
        cfg.validate()
        self.cfg = cfg
        n = num_doublings(cfg)
        widths = [cfg.g_width * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 32 px: [128, 64, 32]
        bn = cfg.g_batchnorm
        # 1. Project z to a 4x4 map (the lesson's fully connected layer, reshaped).
        self.project = nn.Linear(cfg.z_dim, widths[0] * BASE_SIZE * BASE_SIZE, bias=not bn)
        self.project_norm = nn.BatchNorm2d(widths[0]) if bn else nn.Identity()
        # 2. Each block doubles the size; the last one makes the image, without batch norm.
        blocks = []
        for i in range(n):
            last = i == n - 1
            out_ch = cfg.channels if last else widths[i + 1]
            conv = upsample_conv(widths[i], out_ch, cfg.upsample, bias=last or not bn)
            blocks.append(conv_block(conv, out_ch, bn and not last, nn.Tanh() if last else nn.ReLU(inplace=True)))
        self.blocks = nn.Sequential(*blocks)

    def first_layer(self, z: torch.Tensor) -> torch.Tensor:
        """The first layer's activations for z (B, z_dim): the projected map (B, C0, 4, 4), normalised and
        through its ReLU, as the blocks receive it (the latent explorer's principal directions read it)."""
        x = self.project(z.flatten(1)).view(z.shape[0], -1, BASE_SIZE, BASE_SIZE)
        return torch.relu(self.project_norm(x))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.first_layer(z))  # (B, channels, size, size)


class Discriminator(nn.Module):
    """image (B, channels, size, size) -> one logit per image (B, 1); the loss applies the sigmoid."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg = cfg.resolved()
        cfg.validate()
        self.cfg = cfg
        n = num_doublings(cfg)
        widths = [cfg.d_width * 2**i for i in range(n)]  # e.g. 32 px: [32, 64, 128]
        blocks, in_ch = [], cfg.channels
        for i, out_ch in enumerate(widths):
            bn = cfg.d_batchnorm and i > 0  # the paper leaves D's first layer without batch norm
            conv = nn.Conv2d(in_ch, out_ch, KERNEL, stride=2, padding=1, bias=not bn)
            blocks.append(conv_block(conv, out_ch, bn, nn.LeakyReLU(cfg.leaky_slope, inplace=True)))
            in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.classify = nn.Linear(in_ch * BASE_SIZE * BASE_SIZE, 1)

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """What the last layer reads: the convolutions' (B, C, 4, 4) map, flattened to (B, C * 16). Projection
        compares pictures by these, which reward matching shapes over matching exact pixels."""
        return self.blocks(image).flatten(1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(image))  # (B, 1)


def init_weights(module: nn.Module) -> None:
    """DCGAN init: weights N(0, 0.02), batch-norm scale N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_models(cfg: ModelConfig) -> tuple[Generator, Discriminator]:
    """Both networks, initialised, with their shapes checked on a tiny batch so a bad config fails here."""
    G, D = Generator(cfg), Discriminator(cfg)
    init_weights(G)
    init_weights(D)
    with torch.no_grad():
        G.eval(), D.eval()
        image = G(torch.zeros(1, cfg.z_dim))
        expected = (1, cfg.channels, cfg.image_size, cfg.image_size)
        if tuple(image.shape) != expected:
            raise RuntimeError(f"generator makes {tuple(image.shape)}, expected {expected}")
        if tuple(D(image).shape) != (1, 1):
            raise RuntimeError(f"discriminator gives {tuple(D(image).shape)} per image, expected (1, 1)")
        G.train(), D.train()
    return G, D


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
