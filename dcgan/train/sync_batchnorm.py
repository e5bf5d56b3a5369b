"""Batch norm over the global batch when several processes train one run (torchrun).

With DistributedDataParallel each process sees only its share of the batch (64 of 128 on two GPUs). Plain
BatchNorm2d then normalises by that share's statistics: what DataParallel silently did, and what pix2pix users
found hurts GANs (D's real and fake batches are normalised separately, and smaller shares make noisier
statistics). Synchronised batch norm computes the mean and variance over every process's share, so a 2 × 64 run
normalises exactly as a 1 × 128 run does.

On CUDA that is torch.nn.SyncBatchNorm. It refuses CPU tensors ("SyncBatchNorm expected input tensor to be on GPU",
torch 2.14), so on a CPU (gloo) AllReduceBatchNorm2d does the same with an autograd-aware
all_reduce of each channel's sum, sum of squares and count: its backward all-reduces the gradients of those sums,
which is what SyncBatchNorm's backward does too. Both keep BatchNorm2d's parameter and buffer names, so a
checkpoint loads into a run with any number of processes, and generator.pt stays a plain generator.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class _SumOverProcesses(torch.autograd.Function):
    """y = the sum of x over all processes; dL/dx = the sum of dL/dy over all processes (each process's loss
    depends on every process's x through y). torch.distributed.nn's all_reduce does this but is deprecated."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        summed = grad.clone()
        dist.all_reduce(summed)
        return summed


class AllReduceBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics are those of the batch summed over all processes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        local_count = torch.full((1,), x.numel() / channels, dtype=torch.float32, device=x.device)
        xf = x.float()
        sums = torch.cat([xf.sum((0, 2, 3)), (xf * xf).sum((0, 2, 3)), local_count])
        total = _SumOverProcesses.apply(sums)
        count = total[-1]
        mean = total[:channels] / count
        var = (total[channels : 2 * channels] / count - mean * mean).clamp_min(0.0)  # biased, as batch norm uses
        tracked = self.num_batches_tracked
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                momentum = self.momentum
                if tracked is not None:
                    tracked.add_(1)
                    momentum = 1.0 / float(tracked) if momentum is None else momentum
                unbiased = var * count / (count - 1).clamp_min(1.0)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), momentum or 0.0)
                self.running_var.lerp_(unbiased.detach().to(self.running_var.dtype), momentum or 0.0)
        shape = (1, channels, 1, 1)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def _convert_to_all_reduce(module: nn.Module) -> nn.Module:
    """Every BatchNorm2d in `module` replaced by an AllReduceBatchNorm2d sharing its parameters and buffers."""
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, AllReduceBatchNorm2d):
        synced = AllReduceBatchNorm2d(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        if module.affine:
            synced.weight, synced.bias = module.weight, module.bias
        synced.running_mean, synced.running_var = module.running_mean, module.running_var
        synced.num_batches_tracked = module.num_batches_tracked
        synced.train(module.training)
        return synced
    for name, child in module.named_children():
        module.add_module(name, _convert_to_all_reduce(child))
    return module


def synchronise_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """`module` with its batch norms computed over all processes' shares: SyncBatchNorm on CUDA, AllReduceBatchNorm2d
    elsewhere (SyncBatchNorm accepts only GPU tensors)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_to_all_reduce(module)
