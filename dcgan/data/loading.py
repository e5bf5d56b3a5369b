"""Training images as one uint8 tensor (N, C, H, W): street-digits, torchvision datasets, or a folder.

Every loader returns an ImageSet; `preview()` shows a user what the GAN will learn before training.
SVHN, MNIST, Fashion-MNIST and CIFAR-10 are read from their published files by torchvision_sets.py;
what each dataset is and where its files go is in the registry (registry.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from dcgan.config import DataConfig
from dcgan.data.registry import TORCHVISION, dataset_info
from dcgan.data.street_digits import CHUNK, RENDER_VERSION, load_street_digits
from dcgan.errors import DatasetUnavailable
from dcgan.images import image_grid
from dcgan.paths import data_root

DRAWING_KEY = "street_digits_drawing"  # in generator files: the street-digits drawing (RENDER_VERSION) trained on


@dataclass
class ImageSet:
    images: torch.Tensor  # (N, C, H, W) uint8, at the requested size and channel count
    labels: torch.Tensor | None  # (N,) int64, or None for unlabelled folders
    name: str  # what a person calls it: "SVHN (train)", "folder /data/celeba"
    skipped: list | None = None  # a folder's files left out, with why (folder.SkippedFile); None for other sets

    def __len__(self) -> int:
        return self.images.shape[0]

    def required_labels(self) -> torch.Tensor:
        """The labels, for what cannot work without them (the scoring classifier, the batch-norm lab);
        DatasetUnavailable for an unlabelled set, which those never choose."""
        if self.labels is None:
            raise DatasetUnavailable(f"{self.name} has no labels: only a labelled dataset can be used here")
        return self.labels


def data_dir(cfg: DataConfig) -> Path:
    return data_root(cfg.data_dir)


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


def ensure_available(cfg: DataConfig) -> None:
    """Check (and for torchvision's datasets, download if absent) the files a run will train on, so a failure
    is reported before a run folder is made or a background trainer started (DatasetUnavailable says what to do)."""
    if cfg.dataset in TORCHVISION:
        from dcgan.data.torchvision_sets import ensure_train_files

        ensure_train_files(cfg.dataset, data_dir(cfg))
    elif cfg.dataset == "folder":
        from dcgan.data.folder import image_files

        image_files(Path(cfg.folder))  # a missing or empty folder is an error now


def count_train_images(cfg: DataConfig, size: int, channels: int) -> int:
    """The number of images a run of `cfg` trains on (its limit applied), without loading them where possible:
    from the files' headers, or for a folder its image files (a small folder is loaded, and cached for the run,
    as the preview does, so its unusable files are not counted)."""
    if cfg.dataset in TORCHVISION:
        from dcgan.data.torchvision_sets import count_train_images as count_files

        total = count_files(cfg.dataset, data_dir(cfg))
    elif cfg.dataset == "folder":
        from dcgan.data.folder import PREVIEW_CHECKS_ALL_UP_TO, image_files, load_folder

        files = image_files(Path(cfg.folder))[: cfg.limit or None]
        small = len(files) <= PREVIEW_CHECKS_ALL_UP_TO
        total = (
            len(load_folder(Path(cfg.folder), size, channels, data_dir(cfg) / "cache", cfg.limit).images)
            if small
            else len(files)
        )
    else:
        from dcgan.data.street_digits import TRAIN_SIZE

        total = TRAIN_SIZE
    return min(total, cfg.limit) if cfg.limit else total


def load_images(cfg: DataConfig, size: int, channels: int, split: str = "train", progress=None) -> ImageSet:
    """The dataset `cfg` names, resized to `size` and converted to `channels`, as one uint8 tensor."""
    cfg.validate()
    root = data_dir(cfg)
    if cfg.dataset == "folder":
        from dcgan.data.folder import load_folder

        images, skipped = load_folder(
            Path(cfg.folder), size, channels, root / "cache", limit=cfg.limit, progress=progress
        )
        return ImageSet(images, None, f"folder {cfg.folder}", skipped)
    if cfg.dataset == "street-digits":
        # With a limit, draw only that many (a smaller set, cached on its own): quick tries start at once.
        images, labels = load_street_digits(split, root / "cache", size, channels, count=cfg.limit or None)
    else:
        from dcgan.data.torchvision_sets import read_split

        images, labels = read_split(cfg.dataset, root, split)
    if cfg.limit:
        images, labels = images[: cfg.limit], labels[: cfg.limit]
    return ImageSet(_fit(images, size, channels), labels, f"{dataset_info(cfg.dataset).title} ({split})")


def load_first_images(cfg: DataConfig, count: int, size: int, channels: int, split: str = "train") -> ImageSet:
    """Exactly the first `count` images of the set `cfg` loads (all of it when `count` is 0 or more than it has):
    what a generator trained on `cfg` saw, when only some are wanted (the memorisation check, the map).

    Not simply `limit=count`: street-digits draws a set of n images in blocks of CHUNK and the last, partial
    block is drawn for n, so a smaller limit can give other images than the set's own first ones."""
    if count:
        if cfg.dataset == "street-digits":
            whole_blocks = -(-count // CHUNK) * CHUNK
            if not cfg.limit or whole_blocks <= cfg.limit:  # else the set itself is small: load it all
                cfg = replace(cfg, limit=whole_blocks)
        elif not cfg.limit or count < cfg.limit:
            cfg = replace(cfg, limit=count)
    data = load_images(cfg, size, channels, split)
    if count and len(data) > count:
        labels = data.labels[:count] if data.labels is not None else None
        data = ImageSet(data.images[:count], labels, data.name, data.skipped)
    return data


def drawing_version(dataset: str) -> dict:
    """What a generator file records about the images it was trained on, beyond the dataset's name: for the
    built-in set, which drawing of it (an older drawing's images are not the ones this version draws)."""
    return {DRAWING_KEY: RENDER_VERSION} if dataset == "street-digits" else {}


def preview(cfg: DataConfig, size: int = 32, channels: int = 3, count: int = 64, progress=None) -> tuple[int, object]:
    """(number of training images, a PIL grid of `count` of them), before any training."""
    if cfg.dataset == "folder":
        return _preview_folder(cfg, size, channels, count)
    if cfg.dataset == "street-digits":
        # Draw only the first chunk (chunks are seeded one by one, so these are exactly the set's first
        # images), not all 50,000: the preview takes a second instead of twenty.
        from dcgan.data.street_digits import CHUNK, TRAIN_SEED, TRAIN_SIZE, render_street_digits

        total = min(cfg.limit or TRAIN_SIZE, TRAIN_SIZE)
        return total, image_grid(render_street_digits(min(CHUNK, total), TRAIN_SEED, size, channels)[0][:count])
    data = load_images(cfg, size, channels, progress=progress)
    if len(data) == 0:
        raise DatasetUnavailable(f"{data.name} holds no images")
    pick = torch.linspace(0, len(data) - 1, min(count, len(data))).long()  # spread over the set, not the first few
    return len(data), image_grid(data.images[pick])


def _preview_folder(cfg: DataConfig, size: int, channels: int, count: int):
    """A folder.FolderPreview: unpacks as (count, grid), and says what was skipped. A small folder is loaded as
    the run will load it, so the two agree; a CelebA-sized one is counted and only `count` files are decoded."""
    from dcgan.data.folder import preview_folder

    return preview_folder(Path(cfg.folder), size, channels, data_dir(cfg) / "cache", cfg.limit, count)
