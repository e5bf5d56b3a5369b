"""SVHN, MNIST, Fashion-MNIST and CIFAR-10 from their published files, as uint8 (N, C, H, W) and labels.

Torchvision's classes download the files (checking their md5) and read SVHN's .mat and MNIST's idx files.
Files a person copies in are taken as they are: only the split being read must be there (training needs
no test files), MNIST's idx files may be gzipped, and a damaged file fails with a clear message.
CIFAR-10's batches are pickles, so they are read here without running any code they might carry
(safe_pickle.py). Where each dataset's files go is in the registry (registry.py).
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dcgan.data.registry import dataset_info
from dcgan.data.safe_pickle import RefusedPickle, load_arrays
from dcgan.errors import DatasetUnavailable

OFFLINE_ALTERNATIVE = "or train on the built-in street-digits dataset (offline)"


CIFAR_FOLDER = "cifar-10-batches-py"  # what CIFAR-10's archive unpacks to
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCHES = ("test_batch",)
CIFAR_META = "batches.meta"
CIFAR_CLASSES = 10
CIFAR_SIDE = 32
CIFAR_ROW = 3 * CIFAR_SIDE * CIFAR_SIDE  # one image per row: the red plane, then green, then blue


@dataclass
class CifarArrays:
    """The two attributes _torchvision reads off a torchvision dataset."""

    data: np.ndarray  # (N, 3, 32, 32) uint8
    targets: list  # N class numbers, 0-9


def _cifar10(root: Path, train: bool, download: bool) -> CifarArrays:
    """CIFAR-10's python batches under `root`. Torchvision downloads the archive (and checks its md5), but the
    batches are pickles, so they are read here with ArrayUnpickler: a file that would run code is refused."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    folder = root / CIFAR_FOLDER
    needed = (CIFAR_TRAIN_BATCHES if train else CIFAR_TEST_BATCHES) + (CIFAR_META,)
    if not all((folder / name).exists() for name in needed):
        if not download:
            raise RuntimeError(f"CIFAR-10 not found in {folder}")  # what torchvision raises: _torchvision downloads
        download_and_extract_archive(CIFAR10.url, str(root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)
    _check_cifar_meta(folder / CIFAR_META)
    batches = [_read_cifar_batch(folder / name) for name in (CIFAR_TRAIN_BATCHES if train else CIFAR_TEST_BATCHES)]
    data = np.concatenate([images for images, _ in batches]).reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE)
    return CifarArrays(data, [label for _, labels in batches for label in labels])


def _read_cifar_pickle(path: Path) -> dict:
    """The dict one CIFAR-10 file holds; DatasetUnavailable, with nothing run, if the pickle names any code."""
    try:
        content = load_arrays(path)
    except RefusedPickle as err:
        raise DatasetUnavailable(
            f"refused to read {path}: {err}. The published CIFAR-10 files hold only arrays and lists, so this one "
            f"was altered: delete {path.parent} and download CIFAR-10 again (or copy in the files of the official "
            "cifar-10-python.tar.gz), or train on the built-in street-digits dataset"
        ) from None
    if not isinstance(content, dict):
        raise ValueError(f"{path.name} holds a {type(content).__name__}, not the dict of a CIFAR-10 file")
    return content


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, list]:
    """(images uint8 (N, 3072), N labels) of one batch file, checked to be what CIFAR-10's batches hold."""
    batch = _read_cifar_pickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == CIFAR_ROW):
        raise ValueError(f"{path.name} has no 'data' array of uint8 rows of {CIFAR_ROW} values")
    if not (
        isinstance(labels, list)
        and len(labels) == len(data)
        and all(isinstance(label, int) and 0 <= label < CIFAR_CLASSES for label in labels)
    ):
        raise ValueError(f"{path.name} has no 'labels' list of {len(data)} class numbers 0-{CIFAR_CLASSES - 1}")
    return data, labels


def _check_cifar_meta(path: Path) -> None:
    """batches.meta names CIFAR-10's ten classes: a folder of some other dataset's batches is caught here."""
    names = _read_cifar_pickle(path).get("label_names")
    if not (isinstance(names, list) and len(names) == CIFAR_CLASSES):
        raise ValueError(f"{path.name} does not name CIFAR-10's {CIFAR_CLASSES} classes")


def split_files(name: str, split: str) -> tuple[tuple[str, ...], ...]:
    """The files one split needs (each as its accepted names), relative to the dataset's folder."""
    info = dataset_info(name)
    return info.train_files if split == "train" else info.test_files


def has_split(name: str, root: Path, split: str) -> bool:
    folder = Path(root) / dataset_info(name).folder
    return all(any((folder / n).is_file() for n in names) for names in split_files(name, split))


def _gunzip_idx(name: str, root: Path, split: str) -> None:
    """MNIST's files are published gzipped; torchvision reads them unpacked. Unpack any .gz whose raw
    file is missing, next to it (atomically: a killed unpack leaves no half file)."""
    folder = Path(root) / dataset_info(name).folder
    for names in split_files(name, split):
        raw, packed = folder / names[0], folder / (names[0] + ".gz")
        if not raw.exists() and packed.is_file():
            partial = raw.with_name(f".{raw.name}.unpacking")
            try:
                with gzip.open(packed, "rb") as source, open(partial, "wb") as target:
                    shutil.copyfileobj(source, target)
            except (OSError, EOFError) as err:
                partial.unlink(missing_ok=True)
                raise DatasetUnavailable(
                    f"{packed} could not be unpacked ({err}): replace it with the published file, {OFFLINE_ALTERNATIVE}"
                ) from None
            os.replace(partial, raw)


def _maker(name: str, root: Path, train: bool):
    """A function download -> torchvision dataset object (or CifarArrays) for one split."""
    import torchvision.datasets as tvd

    class TrustedSVHN(tvd.SVHN):
        # torchvision checks the md5 after it downloads; files a user copies in (or a test writes)
        # are taken as they are, and a damaged one fails to parse with a clear error.
        def _check_integrity(self):
            return os.path.exists(os.path.join(self.root, self.filename))

    def split_only(klass):
        """torchvision wants all four idx files; a split needs only its own two. (Same class name: torchvision
        finds the files in root/<class name>/raw.)"""

        def _check_exists(self):
            prefix = "train" if self.train else "t10k"
            return all(
                os.path.isfile(os.path.join(self.raw_folder, f"{prefix}-{kind}"))
                for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
            )

        return type(klass.__name__, (klass,), {"_check_exists": _check_exists})

    return {
        "svhn": lambda download: TrustedSVHN(root / "svhn", split="train" if train else "test", download=download),
        "mnist": lambda download: split_only(tvd.MNIST)(root, train=train, download=download),
        "fashion-mnist": lambda download: split_only(tvd.FashionMNIST)(root, train=train, download=download),
        "cifar10": lambda download: _cifar10(root / "cifar10", train=train, download=download),
    }[name]


def ensure_train_files(name: str, root: Path) -> None:
    """Download the dataset now if its training files are absent (DatasetUnavailable says where they go)."""
    if not has_split(name, root, "train"):
        _open_split(name, Path(root), "train")


def _open_split(name: str, root: Path, split: str):
    info = dataset_info(name)
    if name in ("mnist", "fashion-mnist"):
        _gunzip_idx(name, root, split)
    make = _maker(name, root, split == "train")
    try:
        return make(False)  # files already there: no network needed
    except DatasetUnavailable:  # already says what is wrong and what to do
        raise
    except RuntimeError:  # torchvision's "Dataset not found": try the download
        if split != "train":
            raise DatasetUnavailable(f"{info.title}'s test files are not in {root / info.folder}") from None
        try:
            return make(True)
        except Exception as err:  # URLError, HTTPError, checksum failures, socket errors...
            raise DatasetUnavailable(
                f"{info.title} is not on this machine and could not be downloaded "
                f"({type(err).__name__}): {info.where(root)}, {OFFLINE_ALTERNATIVE}"
            ) from None
    except Exception as err:  # the files are there but do not parse
        raise DatasetUnavailable(
            f"{info.title} files in {root / info.folder} could not be read "
            f"({type(err).__name__}: {err}): replace them with the published files, "
            f"{OFFLINE_ALTERNATIVE}"
        ) from None


def read_split(name: str, root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (N, C, H, W), labels int64 (N,)) of one split of a torchvision dataset."""
    ds = _open_split(name, Path(root), split)
    data = ds.data if isinstance(ds.data, np.ndarray) else ds.data.numpy()
    labels = np.asarray(getattr(ds, "labels", None) if name == "svhn" else ds.targets)
    if data.ndim == 3:
        data = data[:, None]  # MNIST (N, 28, 28) -> (N, 1, 28, 28)
    elif data.shape[-1] == 3:
        data = data.transpose(0, 3, 1, 2)  # CIFAR (N, 32, 32, 3) -> (N, 3, 32, 32); SVHN is already (N, 3, 32, 32)
    return torch.from_numpy(np.ascontiguousarray(data)), torch.from_numpy(labels.astype(np.int64))


def count_train_images(name: str, root: Path) -> int:
    """How many training images the files hold, read from their headers where the format allows (MNIST's
    idx header, the .mat file's table of contents), so a run can be checked at Start without loading them."""
    info = dataset_info(name)
    folder = Path(root) / info.folder
    if name in ("mnist", "fashion-mnist"):
        _gunzip_idx(name, root, "train")
        header = (folder / info.train_files[1][0]).read_bytes()[:8]  # labels file: magic, then the count
        return int.from_bytes(header[4:8], "big")
    if name == "svhn":
        from scipy.io import whosmat

        try:
            shapes = dict((n, shape) for n, shape, _ in whosmat(folder / info.train_files[0][0]))
        except Exception as err:  # scipy raises several kinds on a damaged file
            raise DatasetUnavailable(
                f"{folder / info.train_files[0][0]} could not be read ({type(err).__name__}): "
                f"replace it with the published file, {OFFLINE_ALTERNATIVE}"
            ) from None
        return shapes.get("X", (0, 0, 0, 0))[-1]
    return len(read_split(name, root, "train")[1])
