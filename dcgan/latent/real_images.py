"""Which real images a generator was trained on, and which it never saw: what the map overlays and the
memorisation check compares against.

  a run's generator (runs/<run>/generator.pt): its config.json says the dataset and the image limit, so its
      training images are exactly the first `limit` of the training split (all of it when 0);
  any other generator (shipped, uploaded): its file names the dataset only, so its training images are taken
      to be the whole training split (the shipped cards say so; an upload may have used fewer);
  held out, for both: the dataset's test split, which no run trains on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dcgan.config import DataConfig
from dcgan.data.loading import load_images
from dcgan.data.registry import LABELLED
from dcgan.runs.directory import RunDirectory


@dataclass
class RealImages:
    train: torch.Tensor  # (N, C, H, W) uint8: the images the generator was trained on
    train_labels: torch.Tensor | None
    held_out: torch.Tensor  # (M, C, H, W) uint8: the test split, never trained on
    held_out_labels: torch.Tensor | None
    source: str  # how the training images were found, for the page to say


def data_config_of(meta: dict, generator_path: Path | None) -> tuple[DataConfig, str]:
    """(The data settings the generator was trained with, how that is known)."""
    if generator_path is not None:
        run = RunDirectory(Path(generator_path).parent)
        if run.exists():
            data = run.read_run_config().data
            count = f"the first {data.limit:,}" if data.limit else "all"
            return data, f"run {run.name}'s config.json: {count} {data.dataset} training images"
    dataset = meta.get("dataset")
    if not isinstance(dataset, str):
        raise ValueError("this generator's file does not say which dataset it was trained on")
    return DataConfig(dataset=dataset), (
        f"the file names {dataset} and no image limit: taken to be all of its training images"
    )


def has_labels(meta: dict) -> bool:
    return meta.get("dataset") in LABELLED


def real_images_of(
    meta: dict, generator_path: Path | None, size: int, channels: int, train_limit: int = 0, test_limit: int = 0
) -> RealImages:
    """The generator's training images (only the first `train_limit` of them when given: all are training images,
    and fewer load faster) and the held-out test split (the first `test_limit`), at its size and channels
    (DatasetUnavailable or ValueError when its dataset is not on this machine or not known)."""
    data, source = data_config_of(meta, generator_path)
    if data.dataset == "folder":
        raise ValueError("a generator of a folder of images has no held-out images to compare with")
    if train_limit:
        data = DataConfig(
            dataset=data.dataset, data_dir=data.data_dir, limit=min(data.limit or train_limit, train_limit)
        )
    train = load_images(data, size, channels, "train")
    held_out_cfg = DataConfig(dataset=data.dataset, data_dir=data.data_dir, limit=test_limit)
    held_out = load_images(held_out_cfg, size, channels, "test")
    return RealImages(train.images, train.labels, held_out.images, held_out.labels, source)
