"""Starting settings per dataset: the lessons' choices, so the Train form opens on something that works.

Every value is a field of RunConfig (flat name); the form shows them and the user may change any.
"""
from __future__ import annotations

from .config import RunConfig, apply_overrides

# The DCGAN paper and both lessons: Adam lr 0.0002, beta1 0.5, batch 128, z of 100.
_PAPER = {"lr": 2e-4, "beta1": 0.5, "batch_size": 128, "z_dim": 100, "label_smoothing": 0.0}

DATASET_PRESETS: dict[str, dict] = {
    # The SVHN lesson: 32 px RGB, conv_dim 32. Street-digits is our offline stand-in for SVHN; an epoch of
    # it takes about a minute on a 2-core CPU, so 5 epochs show digits forming in a few minutes.
    "street-digits": {**_PAPER, "image_size": 32, "channels": 3, "g_width": 32, "d_width": 32, "epochs": 5},
    "svhn": {**_PAPER, "image_size": 32, "channels": 3, "g_width": 32, "d_width": 32, "epochs": 25},
    # MNIST-like sets are 28 px grayscale; DCGAN's strided convs need a power of two, so they are drawn at 32.
    "mnist": {**_PAPER, "image_size": 32, "channels": 1, "g_width": 32, "d_width": 32, "epochs": 10},
    "fashion-mnist": {**_PAPER, "image_size": 32, "channels": 1, "g_width": 32, "d_width": 32, "epochs": 10},
    "cifar10": {**_PAPER, "image_size": 32, "channels": 3, "g_width": 64, "d_width": 64, "epochs": 25},
    # The face-generation lesson (CelebA): the paper's 64 px model.
    "folder": {**_PAPER, "image_size": 64, "channels": 3, "g_width": 64, "d_width": 64, "epochs": 10},
}


def preset_config(dataset: str, **overrides) -> RunConfig:
    """A RunConfig holding the dataset's preset, then `overrides` (flat field names) on top."""
    return apply_overrides(RunConfig(), {"dataset": dataset, **DATASET_PRESETS[dataset], **overrides})
