"""Batches for the training loop, in an order fixed by (seed, epoch) so a resumed run sees the same data.

DeviceBatches holds the whole dataset on the training device as one uint8 tensor and slices each
batch there: no DataLoader and no per-image Python in the hot path (SVHN's 73k images are 225 MB).
StreamingBatches reads a folder too large to hold through a DataLoader, in the same order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from dcgan.config import DataConfig, ModelConfig
from dcgan.data.loading import ImageSet, load_images

if TYPE_CHECKING:
    from dcgan.data.folder import FolderImages

MEMORY_BUDGET_BYTES = 6 * 2**30  # datasets above this (uint8) are streamed instead of held


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of image indices for one epoch; the same on every machine and every resume."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def spread_indices(count: int, n: int) -> torch.Tensor:
    return torch.linspace(0, count - 1, min(n, count)).long()


def skipped_files(skipped: list | None) -> dict | None:
    """status.json's `skipped_files` for a batch source: a folder's skipped files, None for other datasets."""
    from dcgan.data.folder import skipped_report

    return None if skipped is None else skipped_report(skipped)


def to_float(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range of the generator's tanh."""
    return batch.float().div_(127.5).sub_(1.0)


class DeviceBatches:
    def __init__(self, data: ImageSet, batch_size: int, device: torch.device, seed: int):
        if len(data) < batch_size:
            raise ValueError(
                f"{data.name} has {len(data)} images, fewer than one batch of {batch_size}: use a smaller batch size"
            )
        self.name, self.count, self.skipped = data.name, len(data), data.skipped
        self.images = data.images.to(device, non_blocking=True)
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.steps_per_epoch = self.count // batch_size  # the last partial batch is dropped (fixed shapes)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        """Float batches (B, C, H, W) of `epoch`, from batch index `start` (for a resumed run)."""
        order = epoch_order(self.count, self.seed, epoch).to(self.device)
        b = self.batch_size
        for i in range(start, self.steps_per_epoch):
            yield to_float(self.images[order[i * b : (i + 1) * b]])

    def spread_sample(self, n: int) -> torch.Tensor:
        """Up to n uint8 images spread evenly over the set (the quality score's reference)."""
        return self.images[spread_indices(self.count, n).to(self.images.device)]


class StreamingBatches:
    def __init__(self, dataset: FolderImages, name: str, batch_size: int, device: torch.device, seed: int):
        self.dataset, self.name, self.count = dataset, name, len(dataset)
        self.skipped = dataset.skipped  # the files whose header was unusable
        if self.count < batch_size:
            raise ValueError(
                f"{name} has {self.count} images, fewer than one batch of {batch_size}: use a smaller batch size"
            )
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.steps_per_epoch = self.count // batch_size

    def epoch(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        b = self.batch_size
        order = epoch_order(self.count, self.seed, epoch)[start * b : self.steps_per_epoch * b].tolist()
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=b,
            sampler=order,
            drop_last=True,
            num_workers=min(8, os.cpu_count() or 1),
            pin_memory=self.device.type == "cuda",
        )
        for batch in loader:
            yield to_float(batch.to(self.device, non_blocking=True))

    def spread_sample(self, n: int) -> torch.Tensor:
        """Up to n uint8 images spread evenly over the folder, decoded from disk (once per run)."""
        picked = torch.utils.data.Subset(self.dataset, spread_indices(self.count, n).tolist())
        loader = torch.utils.data.DataLoader(picked, batch_size=256, num_workers=min(8, os.cpu_count() or 1))
        return torch.cat(list(loader)).to(self.device)


def make_batches(
    data_cfg: DataConfig, model_cfg: ModelConfig, batch_size: int, device: torch.device, seed: int, progress=None
):
    """The batch source for a run: held on the device when it fits, streamed from disk when not."""
    if data_cfg.dataset == "folder":
        from dcgan.data.folder import FolderImages, image_files

        folder = Path(data_cfg.folder)
        files = image_files(folder)[: data_cfg.limit or None]
        size = len(files) * model_cfg.channels * model_cfg.image_size**2
        if size > MEMORY_BUDGET_BYTES:
            stream = FolderImages(folder, model_cfg.image_size, model_cfg.channels, data_cfg.limit)
            return StreamingBatches(stream, f"folder {data_cfg.folder} (streamed)", batch_size, device, seed)
    data = load_images(data_cfg, model_cfg.image_size, model_cfg.channels, progress=progress)
    return DeviceBatches(data, batch_size, device, seed)
