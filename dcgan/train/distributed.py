"""One run trained by one process (Solo) or by several under torchrun (Group, DistributedDataParallel).

The trainer asks its team for the device, the batches, the networks to step and when to checkpoint or stop. Solo
answers as the trainer always did (no process group, no DDP: the single-process CUDA-graph path is untouched).
A Group is the processes torchrun started (it sets RANK, WORLD_SIZE, LOCAL_RANK):

- NCCL on GPUs (one per process, cuda:LOCAL_RANK), gloo on CPUs;
- config.json's batch_size is the global batch, split evenly over the processes (data/sharded.py), and its
  learning rate is used as it is (no scaling: the global batch is the batch the rate was chosen for);
- gradients averaged by DistributedDataParallel; batch norm over the global batch (sync_batchnorm, the default)
  or over each process's share;
- rank 0 alone writes the run folder and holds the run's lock; the others get a FollowerRun that writes nothing;
- decisions that depend on time or on the outside (a time-based checkpoint, STOP, a signal) are agreed at
  logging steps with one all-reduce, so every process takes each collective step at the same step.
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from torch import nn

from dcgan.data.batches import make_batches
from dcgan.devices import resolve_device
from dcgan.errors import ConfigError, RunLocked
from dcgan.runs.directory import RunDirectory
from dcgan.runs.lock import owner_of
from dcgan.train.sync_batchnorm import synchronise_batchnorm
from dcgan.train.torchrun_env import Place

# How a collective's error reads when the process at the other end is gone (gloo's and NCCL's words).
PEER_GONE_WORDS = ("connection closed", "connection reset", "broken pipe", "timed out", "timeout", "nccl error")
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=10)  # a process stuck this long in a collective gives up with an error


class Solo:
    """One process: everything as it was before several processes could train a run."""

    rank, world_size, writes = 0, 1, True

    def resolve_device(self, name: str) -> torch.device:
        return resolve_device(name)

    def prepare_models(self, G: nn.Module, D: nn.Module, sync_batchnorm: bool) -> tuple[nn.Module, nn.Module]:
        return G, D

    def wrap(self, G: nn.Module, D: nn.Module) -> tuple[nn.Module, nn.Module]:
        return G, D

    def wrap_step(self, step):
        return step

    def seed_noise(self, seed: int, step: int) -> None:
        pass  # one process restores the checkpoint's random state exactly

    def agree(self, sync_step: bool, checkpoint_due: bool, stop: bool) -> tuple[bool, bool]:
        return checkpoint_due, stop

    def barrier(self) -> None:
        pass

    def take_lock(self, run: RunDirectory, lock_fd: int | None) -> None:
        if not run.lock.held:
            run.acquire_lock(lock_fd)

    def record(self, raw_config: dict, batch_size: int, sync_batchnorm: bool) -> dict:
        """config.json as one process trains it: without a `distributed` record of an earlier multi-process run."""
        return {k: v for k, v in raw_config.items() if k != "distributed"}

    def explain_failure(self, err: BaseException, step: int) -> str | None:
        return None


class Group(Solo):
    """Several processes under torchrun; create with Group.join(place, device_name)."""

    def __init__(self, place: Place, device: torch.device, backend: str):
        self.place, self.device, self.backend = place, device, backend
        self.rank, self.world_size = place.rank, place.world_size
        self.writes = place.rank == 0
        self.parent_pid = os.getppid()
        self.lock_held_by_launcher = False  # the app's torchrun holds the run's lock for rank 0 (take_lock)

    @classmethod
    def join(cls, place: Place, device_name: str) -> Group:
        """Join torchrun's process group: NCCL with one GPU per process, or gloo on the CPU."""
        if device_name == "mps":
            raise ConfigError("several processes train on CUDA GPUs or on CPUs, not on mps: choose device cuda or cpu")
        cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
        if cuda:
            count = torch.cuda.device_count()
            if place.local_rank >= count:
                raise ConfigError(
                    f"torchrun started {place.local_world_size} processes on this machine but it has {count} "
                    f"GPU(s): use --nproc_per_node={count} or fewer"
                )
            device = torch.device("cuda", place.local_rank)
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", timeout=COLLECTIVE_TIMEOUT, device_id=device)
            return cls(place, device, "nccl")
        dist.init_process_group("gloo", timeout=COLLECTIVE_TIMEOUT)
        return cls(place, torch.device("cpu"), "gloo")

    def leave(self, wait_for_peers: bool = False) -> None:
        if dist.is_initialized():
            if wait_for_peers:
                dist.barrier()
            dist.destroy_process_group()

    def resolve_device(self, name: str) -> torch.device:
        return self.device

    def batches(self, data_cfg, model_cfg, batch_size: int, device: torch.device, seed: int):
        from dcgan.data.sharded import shard

        host = make_batches(data_cfg, model_cfg, batch_size, torch.device("cpu"), seed)
        return shard(host, device, self.rank, self.world_size, self.place.local_world_size)

    def prepare_models(self, G: nn.Module, D: nn.Module, sync_batchnorm: bool) -> tuple[nn.Module, nn.Module]:
        if not sync_batchnorm:
            return G, D
        return synchronise_batchnorm(G, self.device), synchronise_batchnorm(D, self.device)

    def wrap(self, G: nn.Module, D: nn.Module) -> tuple[nn.Module, nn.Module]:
        return _ddp(G, self.device), FrozenSkipsDdp(_ddp(D, self.device))

    def wrap_step(self, step):
        return AveragedStats(step, self.world_size, self.device if self.backend == "nccl" else torch.device("cpu"))

    def seed_noise(self, seed: int, step: int) -> None:
        # Each process draws its own noise (the same seed would give every share the same z); a function of the
        # seed, the step it starts from and its rank, so a resume is reproducible for the same number of processes.
        torch.manual_seed(((seed * 1_000_003 + step) * 1_009 + self.rank + 1) % 2**63)

    def agree(self, sync_step: bool, checkpoint_due: bool, stop: bool) -> tuple[bool, bool]:
        """At logging steps only: a checkpoint when rank 0's clock says so, a stop when any process was asked."""
        if not sync_step:
            return False, False
        stop = stop or (self.lock_held_by_launcher and os.getppid() != self.parent_pid)  # torchrun died: no lock
        flags = torch.tensor([checkpoint_due and self.writes, stop], dtype=torch.int32, device=self._flag_device())
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        agreed_checkpoint, agreed_stop = (bool(v) for v in flags.tolist())
        return agreed_checkpoint, agreed_stop

    def _flag_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def barrier(self) -> None:
        dist.barrier()

    def take_lock(self, run: RunDirectory, lock_fd: int | None) -> None:
        """Rank 0 holds the run's lock; when the app launched torchrun, torchrun's agent (this process's parent)
        holds it for rank 0 from before the launch (torchrun does not pass open files on to its workers)."""
        if not self.writes or run.lock.held:
            return
        if lock_fd is not None and owner_of(run.lock_path) == self.parent_pid:
            self.lock_held_by_launcher = True
            return
        if lock_fd is not None:
            raise RunLocked(f"run {run.name}'s lock is not held by the torchrun that started this process; start again")
        run.acquire_lock()

    def record(self, raw_config: dict, batch_size: int, sync_batchnorm: bool) -> dict:
        return {
            **raw_config,
            "distributed": {
                "processes": self.world_size,
                "batch_per_process": batch_size // self.world_size,
                "global_batch": batch_size,
                "backend": self.backend,
                "batchnorm": "synchronised over all processes" if sync_batchnorm else "per process (its share)",
            },
        }

    def explain_failure(self, err: BaseException, step: int) -> str | None:
        """A collective that failed because another process died (killed, out of memory) said in words."""
        if not isinstance(err, (dist.DistError, RuntimeError)):
            return None
        text = str(err).lower()
        seen = next((words for words in PEER_GONE_WORDS if words in text), None)
        if seen is None and not isinstance(err, dist.DistError):
            return None
        return (
            f"another of this run's {self.world_size} processes stopped (killed or failed) near step {step}, so "
            "training ended; the last checkpoint is kept: resume to continue, with any number of processes "
            f"({type(err).__name__}: {seen or 'a collective operation failed'})"
        )


def _ddp(module: nn.Module, device: torch.device) -> nn.parallel.DistributedDataParallel:
    # forward_sync_buffers=False: synchronised batch norm keeps the running statistics equal on every process, and
    # per-process batch norm's are rank 0's in checkpoints and samples (rank 0 alone writes); init_sync (the default)
    # still copies rank 0's weights and buffers to every process at the start.
    return nn.parallel.DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None, forward_sync_buffers=False
    )


class FrozenSkipsDdp(nn.Module):
    """D for the GAN step: through DDP while its weights train (the D step), straight to the module while they are
    frozen (the G step only needs gradients through D, for G). A DDP forward whose backward reduces no gradient
    would leave its reducer waiting, and the next D step would fail."""

    def __init__(self, ddp: nn.parallel.DistributedDataParallel):
        super().__init__()
        self.ddp = ddp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        trains = any(p.requires_grad for p in self.ddp.module.parameters())
        return self.ddp(x) if trains and torch.is_grad_enabled() else self.ddp.module(x)


class AveragedStats:
    """The GAN step, with its logged statistics averaged over the processes when read (an all-reduce at the
    logging steps, which every process reaches together)."""

    def __init__(self, step, world_size: int, device: torch.device):
        self.step, self.world_size, self.device = step, world_size, device

    def __call__(self, real: torch.Tensor) -> None:
        self.step(real)

    def read_stats(self) -> dict[str, float] | None:
        local = self.step.read_stats()
        if local is None:  # no steps since the last read: the same on every process, so none all-reduces
            return None
        values = torch.tensor(list(local.values()), dtype=torch.float64, device=self.device)
        dist.all_reduce(values)
        return dict(zip(local, (values / self.world_size).tolist()))

    def __getattr__(self, name):
        return getattr(self.step, name)


class FollowerRun(RunDirectory):
    """The run folder as a process other than rank 0 sees it: read like any other, never written."""

    def write_config(self, config: dict) -> None:
        pass

    def append_metrics(self, record: dict) -> None:
        pass

    def append_quality(self, record: dict) -> None:
        pass

    def discard_after(self, last_step: int) -> None:
        pass

    def discard_training(self) -> None:
        pass

    def remove_leftover_temp_files(self) -> int:
        return 0  # rank 0's writes may be under way: their temporary files are not leftovers

    def write_status(self, **fields) -> dict:
        return dict(fields)

    def write_status_even_if_full(self, **fields) -> dict:
        return dict(fields)

    def save_sample(self, step: int, image):
        return self.samples_dir / f"step{step:07d}.png"

    def request_stop(self) -> None:
        pass

    def clear_stop(self) -> None:
        pass

    def acquire_lock(self, inherited_fd: int | None = None) -> None:
        pass  # rank 0 holds it
