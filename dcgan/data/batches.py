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
from dcgan.data.loading import ImageSet, data_dir, load_images

if TYPE_CHECKING:
    from dcgan.data.folder import FolderImages
    from dcgan.data.street_digits import BackgroundDrawing

MEMORY_BUDGET_BYTES = 6 * 2**30  # datasets above this (uint8) are streamed instead of held


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of image indices for one epoch; the same on every machine and every resume."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def blocked_order(n: int, seed: int, epoch: int, block: int) -> torch.Tensor:
    """Like epoch_order, but each run of `block` images is shuffled within itself, blocks in order: a set drawn
    block by block (street-digits) can be trained on while later blocks are still being drawn. Its images are
    independent draws, so a block is as good a sample as the whole set; one block is epoch_order itself."""
    if n <= block:
        return epoch_order(n, seed, epoch)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    starts = range(0, n, block)
    return torch.cat([start + torch.randperm(min(block, n - start), generator=generator) for start in starts])


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
    """`first_epoch_block`: the first epoch's order is blocked_order with this block (a set drawn in blocks);
    `drawing`: the set is still being drawn into data.images (BackgroundDrawing), and each batch waits for
    the images it takes."""

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        device: torch.device,
        seed: int,
        first_epoch_block: int | None = None,
        drawing: BackgroundDrawing | None = None,
    ):
        if len(data) < batch_size:
            raise ValueError(
                f"{data.name} has {len(data)} images, fewer than one batch of {batch_size}: use a smaller batch size"
            )
        self.name, self.count, self.skipped = data.name, len(data), data.skipped
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.steps_per_epoch = self.count // batch_size  # the last partial batch is dropped (fixed shapes)
        self.first_epoch_block, self.drawing = first_epoch_block, drawing
        if drawing is None:
            self.images = data.images.to(device, non_blocking=True)
        else:  # filled as the drawing goes: in place on the CPU, copied over block by block to another device
            self.images = data.images if device.type == "cpu" else torch.empty_like(data.images, device=device)
            self._source, self._copied = data.images, 0

    def order(self, epoch: int) -> torch.Tensor:
        if epoch == 0 and self.first_epoch_block:
            return blocked_order(self.count, self.seed, epoch, self.first_epoch_block)
        return epoch_order(self.count, self.seed, epoch)

    def wait_until_drawn(self, n: int) -> None:
        """Wait until images [0, n) are drawn and on the device; once all are, the set is an ordinary one."""
        if self.drawing is None:
            return
        self.drawing.wait_for(n)
        ready = self.drawing.ready
        if self.images is not self._source and ready > self._copied:
            self.images[self._copied : ready] = self._source[self._copied : ready].to(self.device)
            self._copied = ready
        if ready >= self.count:
            self.drawing = None

    def epoch(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        """Float batches (B, C, H, W) of `epoch`, from batch index `start` (for a resumed run)."""
        order = self.order(epoch)
        b = self.batch_size
        needed: list[int] = []  # images [0, needed[i]) must be drawn before batch i
        if self.drawing is not None:
            largest = order[: self.steps_per_epoch * b].view(self.steps_per_epoch, b).amax(1) + 1
            needed = largest.cummax(0).values.tolist()
        order = order.to(self.device)
        for i in range(start, self.steps_per_epoch):
            if self.drawing is not None:
                self.wait_until_drawn(needed[i])
            yield to_float(self.images[order[i * b : (i + 1) * b]])

    def first(self, n: int) -> torch.Tensor:
        """The set's first n uint8 images (the run's grid of real images)."""
        self.wait_until_drawn(n)
        return self.images[:n]

    def spread_sample(self, n: int) -> torch.Tensor:
        """Up to n uint8 images spread evenly over the set (the quality score's reference)."""
        self.wait_until_drawn(self.count)
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
    """The batch source for a run: held on the device when it fits, streamed from disk when not. street-digits
    not drawn before is drawn while the run starts training on its first block."""
    if data_cfg.dataset == "folder":
        from dcgan.data.folder import FolderImages, image_files

        folder = Path(data_cfg.folder)
        files = image_files(folder)[: data_cfg.limit or None]
        size = len(files) * model_cfg.channels * model_cfg.image_size**2
        if size > MEMORY_BUDGET_BYTES:
            stream = FolderImages(folder, model_cfg.image_size, model_cfg.channels, data_cfg.limit)
            return StreamingBatches(stream, f"folder {data_cfg.folder} (streamed)", batch_size, device, seed)
    if data_cfg.dataset == "street-digits":
        return _street_digits(data_cfg, model_cfg, batch_size, device, seed)
    data = load_images(data_cfg, model_cfg.image_size, model_cfg.channels, progress=progress)
    return DeviceBatches(data, batch_size, device, seed)


def _street_digits(data_cfg: DataConfig, model_cfg: ModelConfig, batch_size: int, device: torch.device, seed: int):
    from dcgan.data.registry import dataset_info
    from dcgan.data.street_digits import CHUNK, BackgroundDrawing, draw_in_background

    data_cfg.validate()
    name = f"{dataset_info(data_cfg.dataset).title} (train)"
    found = draw_in_background(
        "train", data_dir(data_cfg) / "cache", model_cfg.image_size, model_cfg.channels, count=data_cfg.limit or None
    )
    if isinstance(found, BackgroundDrawing):
        data = ImageSet(found.images, found.labels, name)
        return DeviceBatches(data, batch_size, device, seed, first_epoch_block=CHUNK, drawing=found)
    images, labels = found
    return DeviceBatches(ImageSet(images, labels, name), batch_size, device, seed, first_epoch_block=CHUNK)
