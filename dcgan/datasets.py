"""Training images as one uint8 tensor (N, C, H, W): street-digits, torchvision datasets, or a folder.

Every loader returns an ImageSet; `preview()` shows a user what the GAN will learn before training.
Torchvision's classes do the downloading and file reading, except CIFAR-10's pickled batches, which are
read here without running any code they might carry (safe_pickle.py); when the files are absent and the
download fails (no network), DatasetUnavailable says in one line where to put them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import DataConfig
from .safe_pickle import RefusedPickle, load_arrays
from .street_digits import load_street_digits

REPO_ROOT = Path(__file__).resolve().parent.parent
LABELLED = {"street-digits", "svhn", "mnist", "fashion-mnist", "cifar10"}


class DatasetUnavailable(RuntimeError):
    """The data cannot be had (missing files, no network, empty folder); the message says what to do."""


@dataclass
class ImageSet:
    images: torch.Tensor          # (N, C, H, W) uint8, at the requested size and channel count
    labels: torch.Tensor | None   # (N,) int64, or None for unlabelled folders
    name: str                     # what a person calls it: "SVHN (train)", "folder /data/celeba"

    def __len__(self) -> int:
        return self.images.shape[0]


def data_dir(cfg: DataConfig) -> Path:
    return Path(cfg.data_dir or os.environ.get("DCGAN_DATA_DIR") or REPO_ROOT / "data")


def _fit(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) of any size and 1 or 3 channels -> (N, channels, size, size), in chunks."""
    out = []
    for chunk in images.split(8192):
        x = chunk.float()
        if x.shape[1] != channels:
            x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, 3, -1, -1)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="area" if x.shape[-1] > size else "bilinear", antialias=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out) if out else images.new_zeros((0, channels, size, size))


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
    data: np.ndarray   # (N, 3, 32, 32) uint8
    targets: list      # N class numbers, 0-9


def _cifar10(root: Path, train: bool, download: bool) -> CifarArrays:
    """CIFAR-10's python batches under `root`. Torchvision downloads the archive (and checks its md5), but the
    batches are pickles, so they are read here with ArrayUnpickler: a file that would run code is refused."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    folder = root / CIFAR_FOLDER
    if not all((folder / name).exists() for name in CIFAR_TRAIN_BATCHES + CIFAR_TEST_BATCHES + (CIFAR_META,)):
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
            "cifar-10-python.tar.gz), or use --dataset street-digits") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path.name} holds a {type(content).__name__}, not the dict of a CIFAR-10 file")
    return content


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, list]:
    """(images uint8 (N, 3072), N labels) of one batch file, checked to be what CIFAR-10's batches hold."""
    batch = _read_cifar_pickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == CIFAR_ROW):
        raise ValueError(f"{path.name} has no 'data' array of uint8 rows of {CIFAR_ROW} values")
    if not (isinstance(labels, list) and len(labels) == len(data)
            and all(isinstance(label, int) and 0 <= label < CIFAR_CLASSES for label in labels)):
        raise ValueError(f"{path.name} has no 'labels' list of {len(data)} class numbers 0-{CIFAR_CLASSES - 1}")
    return data, labels


def _check_cifar_meta(path: Path) -> None:
    """batches.meta names CIFAR-10's ten classes: a folder of some other dataset's batches is caught here."""
    names = _read_cifar_pickle(path).get("label_names")
    if not (isinstance(names, list) and len(names) == CIFAR_CLASSES):
        raise ValueError(f"{path.name} does not name CIFAR-10's {CIFAR_CLASSES} classes")


def _torchvision(name: str, root: Path, split: str):
    """(images uint8 (N, C, H, W), labels) read by torchvision's own dataset class; CIFAR-10 by _cifar10."""
    import torchvision.datasets as tvd

    train = split == "train"

    class TrustedSVHN(tvd.SVHN):
        # torchvision checks the md5 after it downloads; files a user copies in (or a test writes)
        # are taken as they are, and a damaged one fails to parse with a clear error below.
        def _check_integrity(self):
            return os.path.exists(os.path.join(self.root, self.filename))

    makers = {
        "svhn": lambda download: TrustedSVHN(root / "svhn", split="train" if train else "test", download=download),
        "mnist": lambda download: tvd.MNIST(root, train=train, download=download),
        "fashion-mnist": lambda download: tvd.FashionMNIST(root, train=train, download=download),
        "cifar10": lambda download: _cifar10(root / "cifar10", train=train, download=download),
    }
    where = {
        "svhn": f"{root / 'svhn'}/{'train' if train else 'test'}_32x32.mat",
        "mnist": f"{root / 'MNIST' / 'raw'}/ (the four idx files)",
        "fashion-mnist": f"{root / 'FashionMNIST' / 'raw'}/ (the four idx files)",
        "cifar10": f"{root / 'cifar10'}/cifar-10-batches-py/",
    }[name]
    try:
        ds = makers[name](False)  # files already there: no network needed
    except DatasetUnavailable:  # already says what is wrong and what to do
        raise
    except RuntimeError:  # torchvision's "Dataset not found": try the download
        try:
            ds = makers[name](True)
        except Exception as err:  # URLError, HTTPError, checksum failures, socket errors...
            raise DatasetUnavailable(
                f"{name} is not on this machine and could not be downloaded ({type(err).__name__}): "
                f"put its files at {where}, or use --dataset street-digits (built in, offline)") from None
    except Exception as err:  # the files are there but do not parse
        raise DatasetUnavailable(f"{name} files at {where} could not be read ({type(err).__name__}: {err}): "
                                 "delete them and download again, or use --dataset street-digits") from None
    data = ds.data if isinstance(ds.data, np.ndarray) else ds.data.numpy()
    labels = np.asarray(getattr(ds, "labels", None) if name == "svhn" else ds.targets)
    if data.ndim == 3:
        data = data[:, None]                  # MNIST (N, 28, 28) -> (N, 1, 28, 28)
    elif data.shape[-1] == 3:
        data = data.transpose(0, 3, 1, 2)     # CIFAR (N, 32, 32, 3) -> (N, 3, 32, 32); SVHN is already (N, 3, 32, 32)
    return torch.from_numpy(np.ascontiguousarray(data)), torch.from_numpy(labels.astype(np.int64))


TORCHVISION_FILES = {  # a file each dataset's torchvision class needs, relative to the data folder
    "svhn": "svhn/train_32x32.mat", "mnist": "MNIST/raw/train-images-idx3-ubyte",
    "fashion-mnist": "FashionMNIST/raw/train-images-idx3-ubyte", "cifar10": "cifar10/cifar-10-batches-py/data_batch_1",
}


def ensure_available(cfg: DataConfig) -> None:
    """Download a torchvision dataset now if its files are missing, so a failure is reported before a run
    folder is made or a background trainer started (DatasetUnavailable says what to do)."""
    if cfg.dataset in TORCHVISION_FILES and not (data_dir(cfg) / TORCHVISION_FILES[cfg.dataset]).exists():
        _torchvision(cfg.dataset, data_dir(cfg), "train")
    elif cfg.dataset == "folder":
        from .folder import image_files

        image_files(Path(cfg.folder))  # a missing or empty folder is an error now


def load_images(cfg: DataConfig, size: int, channels: int, split: str = "train", progress=None) -> ImageSet:
    """The dataset `cfg` names, resized to `size` and converted to `channels`, as one uint8 tensor."""
    cfg.validate()
    root = data_dir(cfg)
    if cfg.dataset == "folder":
        from .folder import load_folder

        images = load_folder(Path(cfg.folder), size, channels, root / "cache", limit=cfg.limit, progress=progress)
        return ImageSet(images, None, f"folder {cfg.folder}")
    if cfg.dataset == "street-digits":
        # With a limit, draw only that many (a smaller set, cached on its own): quick tries start at once.
        images, labels = load_street_digits(split, root / "cache", size, channels, count=cfg.limit or None)
    else:
        images, labels = _torchvision(cfg.dataset, root, split)
    if cfg.limit:
        images, labels = images[: cfg.limit], labels[: cfg.limit]
    names = {"street-digits": "street-digits", "svhn": "SVHN", "mnist": "MNIST",
             "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
    return ImageSet(_fit(images, size, channels), labels, f"{names[cfg.dataset]} ({split})")


def image_grid(images: torch.Tensor, columns: int | None = None, padding: int = 2):
    """A PIL image of a batch laid out in a grid; accepts uint8 [0, 255] or float [-1, 1] tensors."""
    from PIL import Image

    x = images.detach().float().cpu()
    if images.dtype != torch.uint8:
        x = (x.clamp(-1, 1) + 1) * 127.5
    n, c, h, w = x.shape
    columns = columns or max(1, int(np.ceil(np.sqrt(n))))
    rows = int(np.ceil(n / columns))
    canvas = torch.full((c, rows * (h + padding) + padding, columns * (w + padding) + padding), 255.0)
    for i in range(n):
        top, left = padding + (i // columns) * (h + padding), padding + (i % columns) * (w + padding)
        canvas[:, top : top + h, left : left + w] = x[i]
    array = canvas.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if c == 1 else array)


def preview(cfg: DataConfig, size: int = 32, channels: int = 3, count: int = 64, progress=None) -> tuple[int, object]:
    """(number of training images, a PIL grid of `count` of them), before any training."""
    if cfg.dataset == "folder":
        return _preview_folder(cfg, size, channels, count)
    if cfg.dataset == "street-digits":
        # Draw only the first chunk (chunks are seeded one by one, so these are exactly the set's first
        # images), not all 50,000: the preview takes a second instead of twenty.
        from .street_digits import CHUNK, TRAIN_SEED, TRAIN_SIZE, render_street_digits

        total = min(cfg.limit or TRAIN_SIZE, TRAIN_SIZE)
        return total, image_grid(render_street_digits(min(CHUNK, total), TRAIN_SEED, size, channels)[0][:count])
    data = load_images(cfg, size, channels, progress=progress)
    if len(data) == 0:
        raise DatasetUnavailable(f"{data.name} holds no images")
    pick = torch.linspace(0, len(data) - 1, min(count, len(data))).long()  # spread over the set, not the first few
    return len(data), image_grid(data.images[pick])


def _preview_folder(cfg: DataConfig, size: int, channels: int, count: int) -> tuple[int, object]:
    """Count the image files and decode only the few shown: a CelebA-sized folder previews in a second.
    (A file that turns out unreadable is counted here and skipped when the run loads the folder.)"""
    from .folder import decode, image_files

    files = image_files(Path(cfg.folder))[: cfg.limit or None]
    pick = torch.linspace(0, len(files) - 1, min(count, len(files))).long().tolist()
    decoded = [img for img in (decode(files[i], size, channels) for i in pick) if img is not None]
    if not decoded:
        raise DatasetUnavailable(f"none of the sampled files in {cfg.folder} could be read as an image")
    return len(files), image_grid(torch.from_numpy(np.stack(decoded)))
