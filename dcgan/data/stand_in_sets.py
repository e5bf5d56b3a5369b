"""Small labelled sets written in MNIST's and SVHN's own file formats, drawn from street-digits.

This machine cannot download the real sets; the tests and benchmarks/quality_cost.py write these where the
loaders look for the real files, so everything downstream (torchvision's readers, the scoring classifier,
the trainer) runs on its real path. MNIST's: 28 px grayscale idx files; SVHN's: a 32 px RGB train_32x32.mat
whose label 10 means the digit 0, as SVHN stores it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dcgan.data.street_digits import render_street_digits

IDX_IMAGES, IDX_LABELS = 0x00000803, 0x00000801  # the idx format's magic numbers: uint8 3-D and 1-D arrays


def write_mnist_format(data_dir: Path, count: int, seed: int, folder: str = "MNIST/raw") -> Path:
    """`count` 28 px grayscale digits as train-images-idx3-ubyte and train-labels-idx1-ubyte in data_dir/folder."""
    images, labels = render_street_digits(count, seed, 28, 1)
    raw = Path(data_dir) / folder
    raw.mkdir(parents=True, exist_ok=True)
    header = np.array([IDX_IMAGES, count, 28, 28], ">i4").tobytes()
    (raw / "train-images-idx3-ubyte").write_bytes(header + images[:, 0].numpy().tobytes())
    (raw / "train-labels-idx1-ubyte").write_bytes(
        np.array([IDX_LABELS, count], ">i4").tobytes() + labels.numpy().astype(np.uint8).tobytes()
    )
    return raw


def write_svhn_format(data_dir: Path, count: int, seed: int) -> Path:
    """`count` 32 px RGB digits as data_dir/svhn/train_32x32.mat (X: 32x32x3xN, y: Nx1, 10 for the digit 0)."""
    from scipy.io import savemat

    images, labels = render_street_digits(count, seed, 32, 3)
    folder = Path(data_dir) / "svhn"
    folder.mkdir(parents=True, exist_ok=True)
    y = labels.numpy().reshape(-1, 1).astype(np.uint8)
    y[y == 0] = 10
    savemat(folder / "train_32x32.mat", {"X": images.permute(2, 3, 1, 0).numpy(), "y": y})
    return folder / "train_32x32.mat"
