"""The batch-norm lab's data: 28x28 grayscale digits as (N, 784) floats in [0, 1], split into training,
validation and test, MNIST when its files are there, else the built-in street-digits as MNIST-like ink."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dcgan.bnlab.networks import NetworkShape


@dataclass
class LabData:
    train_x: torch.Tensor  # (N, 784) float in [0, 1]
    train_y: torch.Tensor  # (N,) int64
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    name: str
    note: str = ""  # when the built-in digits stood in for MNIST: where MNIST's files go


def ink(images: torch.Tensor) -> torch.Tensor:
    """Street-digits as MNIST-like 'ink' (N, 784) in [0, 1]: |pixel - the image's median| over its largest.

    MNIST digits are strokes on a zero background; street-digits have mid-grey backgrounds of every shade,
    on which the lesson's plain MLP barely learns with or without batch norm (test accuracy 0.13 after
    2,000 batches, ReLU, lr 0.01). As ink, the pattern of the lesson shows (0.60 without, 0.89 with)."""
    x = images.flatten(1).float()
    d = (x - x.median(1, keepdim=True).values).abs()
    return d / d.amax(1, keepdim=True).clamp_min(1.0)


def load_lab_data(data_dir: str = "", limit: int = 0, shape: NetworkShape | None = None) -> LabData:
    """28x28 grayscale digits: MNIST when its training files are where training reads them (the registry's
    folder), else the built-in street-digits (offline), saying so in `note`. The last `validation_size`
    training images are held out for validation, as in the lesson; the test split is MNIST's own when its
    t10k files are there, else held out from the training set too.
    `limit` caps each split (tests and quick tries; street-digits then draws only that many)."""
    shape = shape or NetworkShape()
    from dcgan.config import DataConfig
    from dcgan.data.loading import data_dir as resolve_data_dir
    from dcgan.data.loading import load_images
    from dcgan.data.registry import dataset_info
    from dcgan.data.torchvision_sets import has_split

    root = resolve_data_dir(DataConfig(dataset="mnist", data_dir=data_dir))
    dataset = "mnist" if has_split("mnist", root, "train") else "street-digits"
    cfg = DataConfig(dataset=dataset, data_dir=data_dir, limit=limit)
    train = load_images(cfg, 28, 1, "train")
    flat = lambda images: images.flatten(1).float() / 255 if dataset == "mnist" else ink(images)
    x, y = flat(train.images), train.required_labels().long()
    if dataset == "street-digits" or has_split("mnist", root, "test"):
        test = load_images(cfg, 28, 1, "test")
        test_x, test_y = flat(test.images), test.required_labels().long()
    else:  # MNIST's test files are optional: hold the test images out of the training set
        n_test = len(x) // 6  # MNIST's own proportion: 10,000 test images to 60,000 training ones
        x, y, test_x, test_y = x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:]
    n_val = min(shape.validation_size, len(x) // 10)
    if dataset == "mnist":
        return LabData(x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:], test_x, test_y, "MNIST")
    note = f"MNIST is not on this machine: to use it, {dataset_info('mnist').where(root)}"
    return LabData(
        x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:], test_x, test_y, "street-digits (grayscale 28 px, as ink)", note
    )
