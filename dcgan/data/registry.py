"""Every dataset the studio trains on, in one table: what it is, its preset, and where its files go.

The CLI, the app's form, the data loaders, the quality score, the batch-norm lab and the error messages
all read this table; a fact about a dataset (its channels, whether it has labels, its files) lives here
only. Importing it is free (no torch), so the app's first page can read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The DCGAN paper and both lessons: Adam lr 0.0002, beta1 0.5, batch 128, z of 100.
PAPER_SETTINGS = {"lr": 2e-4, "beta1": 0.5, "batch_size": 128, "z_dim": 100, "label_smoothing": 0.0}


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # the value of the `dataset` setting ("mnist")
    title: str  # what a person calls it ("MNIST")
    choice: str  # how the app's dataset list shows it
    channels: int  # of its own images: 1 grayscale, 3 RGB
    native_size: int  # side of its own images in pixels; 0 = any (folders)
    classes: int  # labelled classes (the quality score's classifier needs them); 0 = unlabelled
    preset: dict = field(default_factory=dict)  # starting settings (flat RunConfig names) for the CLI and the form
    folder: str = ""  # where its files go, relative to the data folder ("" = built in, or a folder setting)
    train_files: tuple[tuple[str, ...], ...] = ()  # files training needs in `folder`; each as its accepted names
    test_files: tuple[tuple[str, ...], ...] = ()  # the published test split (optional: held out from train if absent)
    files_hint: str = ""  # the files in a person's words, for messages

    @property
    def labelled(self) -> bool:
        return self.classes > 0

    @property
    def builtin(self) -> bool:
        return self.name == "street-digits"

    def where(self, data_dir: Path) -> str:
        """One sentence: where its files go and which."""
        return f"put {self.files_hint} in {Path(data_dir) / self.folder}/"


def _idx(prefix: str) -> tuple[tuple[str, ...], ...]:
    """MNIST-format idx files, as torchvision names them, raw or gzipped."""
    return tuple((f"{prefix}-{kind}", f"{prefix}-{kind}.gz") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))


_MNIST_LIKE = {**PAPER_SETTINGS, "image_size": 32, "channels": 1, "g_width": 32, "d_width": 32, "epochs": 10}
_IDX_HINT = "train-images-idx3-ubyte and train-labels-idx1-ubyte (raw or .gz; t10k-* test files are optional)"

REGISTRY: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        # Our offline stand-in for SVHN (street_digits.py). An epoch takes about a minute on a 2-core CPU, so
        # 5 epochs show digits forming in a few minutes. The SVHN lesson's model: 32 px RGB, conv_dim 32.
        DatasetInfo(
            "street-digits",
            "street-digits",
            "Street digits (built in, offline)",
            3,
            32,
            10,
            {**PAPER_SETTINGS, "image_size": 32, "channels": 3, "g_width": 32, "d_width": 32, "epochs": 5},
        ),
        DatasetInfo(
            "svhn",
            "SVHN",
            "SVHN (house numbers)",
            3,
            32,
            10,
            {**PAPER_SETTINGS, "image_size": 32, "channels": 3, "g_width": 32, "d_width": 32, "epochs": 25},
            "svhn",
            (("train_32x32.mat",),),
            (("test_32x32.mat",),),
            "train_32x32.mat (test_32x32.mat is optional)",
        ),
        # MNIST-like sets are 28 px grayscale; DCGAN's strided convs need a power of two, so they are drawn at 32.
        DatasetInfo(
            "mnist",
            "MNIST",
            "MNIST (handwritten digits)",
            1,
            28,
            10,
            _MNIST_LIKE,
            "MNIST/raw",
            _idx("train"),
            _idx("t10k"),
            _IDX_HINT,
        ),
        DatasetInfo(
            "fashion-mnist",
            "Fashion-MNIST",
            "Fashion-MNIST",
            1,
            28,
            10,
            _MNIST_LIKE,
            "FashionMNIST/raw",
            _idx("train"),
            _idx("t10k"),
            _IDX_HINT,
        ),
        DatasetInfo(
            "cifar10",
            "CIFAR-10",
            "CIFAR-10 (small photos)",
            3,
            32,
            10,
            {**PAPER_SETTINGS, "image_size": 32, "channels": 3, "g_width": 64, "d_width": 64, "epochs": 25},
            "cifar10/cifar-10-batches-py",
            tuple((f"data_batch_{i}",) for i in range(1, 6)) + (("batches.meta",),),
            (("test_batch",), ("batches.meta",)),
            "data_batch_1 ... data_batch_5 and batches.meta of the Python version (test_batch is optional)",
        ),
        # The face-generation lesson (CelebA): the paper's 64 px model.
        DatasetInfo(
            "folder",
            "a folder of images",
            "A folder of images (e.g. CelebA faces)",
            3,
            0,
            0,
            {**PAPER_SETTINGS, "image_size": 64, "channels": 3, "g_width": 64, "d_width": 64, "epochs": 10},
        ),
    )
}

DATASETS = tuple(REGISTRY)  # the `dataset` setting's choices, in the app's order
LABELLED = tuple(n for n, d in REGISTRY.items() if d.labelled)
TORCHVISION = ("svhn", "mnist", "fashion-mnist", "cifar10")  # read by torchvision's dataset classes


def dataset_info(name: str) -> DatasetInfo:
    return REGISTRY[name]
