"""Each process's share of the batches when several processes train one run (torchrun).

The global batch of step i is the one a single process would train on: images order[i*B : (i+1)*B] of the epoch's
order (batches.epoch_order, fixed by seed and epoch). Process r of W trains on the r-th slice of it, B/W images. So
the data a run sees does not depend on how many processes train it: a 2 × 64 run sees the same images at each step
as a 1 × 128 run, and a checkpoint taken with 4 processes resumes mid-epoch with 2 at the very batch where it
stopped.

The whole set is held once per process in host memory (already there: it was loaded or drawn there). What lives on
the device is the process's shard of the current epoch: at each epoch's start the process gathers its images of
that epoch, in training order, and copies them over in one go (count / W images), so each step slices the device
tensor, as DeviceBatches does for one process. While street-digits is still being drawn, batches are gathered one
by one as their images arrive instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch

from dcgan.data.batches import DeviceBatches, StreamingBatches, epoch_order, to_float
from dcgan.errors import ConfigError


def share_of_batch(batch_size: int, world_size: int) -> int:
    """Images per process in a global batch; ConfigError when the batch does not split evenly."""
    if batch_size % world_size:
        raise ConfigError(
            f"the batch of {batch_size} images does not split evenly over {world_size} processes: use a batch size "
            f"that is a multiple of {world_size} (config.json's batch_size is the global batch)"
        )
    return batch_size // world_size


def rank_slices(order: torch.Tensor, steps: int, batch_size: int, rank: int, world_size: int) -> torch.Tensor:
    """(steps, B/W) image indices: this process's slice of each global batch of `order`."""
    share = share_of_batch(batch_size, world_size)
    return order[: steps * batch_size].view(steps, world_size, share)[:, rank]


class ShardedDeviceBatches:
    """A DeviceBatches held on the CPU (`host`), served to one process of several on `device`."""

    def __init__(self, host: DeviceBatches, device: torch.device, rank: int, world_size: int):
        self.host, self.device, self.rank, self.world_size = host, device, rank, world_size
        self.name, self.count, self.skipped = host.name, host.count, host.skipped
        self.batch_size = host.batch_size  # global
        self.share = share_of_batch(host.batch_size, world_size)
        self.steps_per_epoch = host.steps_per_epoch

    def epoch(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        order = self.host.order(epoch)
        mine = rank_slices(order, self.steps_per_epoch, self.batch_size, self.rank, self.world_size)
        if self.host.drawing is not None:
            # The images of global batch i must be drawn before any process trains on it, as for one process.
            largest = order[: self.steps_per_epoch * self.batch_size].view(self.steps_per_epoch, -1).amax(1) + 1
            needed = largest.cummax(0).values.tolist()
            for i in range(start, self.steps_per_epoch):
                self.host.wait_until_drawn(needed[i])
                yield to_float(self.host.images[mine[i]].to(self.device, non_blocking=True))
            return
        shard = self.host.images[mine[start:].reshape(-1)].to(self.device)  # this epoch's share, on the device
        for i in range(self.steps_per_epoch - start):
            yield to_float(shard[i * self.share : (i + 1) * self.share])

    def first(self, n: int) -> torch.Tensor:
        return self.host.first(n)

    def spread_sample(self, n: int) -> torch.Tensor:
        return self.host.spread_sample(n).to(self.device)


class ShardedStreamingBatches:
    """A folder too large to hold, read from disk by each process for its slices only."""

    def __init__(self, host: StreamingBatches, device: torch.device, rank: int, world_size: int, local_size: int):
        self.host, self.device, self.rank, self.world_size = host, device, rank, world_size
        self.name, self.count, self.skipped = host.name, host.count, host.skipped
        self.batch_size = host.batch_size
        self.share = share_of_batch(host.batch_size, world_size)
        self.steps_per_epoch = host.steps_per_epoch
        self.workers = max(1, min(8, (os.cpu_count() or 1) // max(local_size, 1)))  # the machine's cores, shared

    def epoch(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        order = epoch_order(self.count, self.host.seed, epoch)
        mine = rank_slices(order, self.steps_per_epoch, self.batch_size, self.rank, self.world_size)
        loader = torch.utils.data.DataLoader(
            self.host.dataset,
            batch_size=self.share,
            sampler=mine[start:].reshape(-1).tolist(),
            drop_last=True,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
        )
        for batch in loader:
            yield to_float(batch.to(self.device, non_blocking=True))

    def spread_sample(self, n: int) -> torch.Tensor:
        return self.host.spread_sample(n).to(self.device)


def shard(host, device: torch.device, rank: int, world_size: int, local_size: int):
    """The process's view of `host` (make_batches(..., device=cpu) with the global batch)."""
    if isinstance(host, StreamingBatches):
        return ShardedStreamingBatches(host, device, rank, world_size, local_size)
    return ShardedDeviceBatches(host, device, rank, world_size)
