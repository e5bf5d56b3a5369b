"""The command that trains a run in the background: one process, or one per GPU through torchrun.

Several GPUs train one run through torchrun (DistributedDataParallel, train/distributed.py). torchrun's own process
(its agent) is the launched child: it inherits the run's lock from the launcher and holds it until its workers end,
since it does not pass open files on to them (train/distributed.py, Group.take_lock).
"""

from __future__ import annotations

import sys
from pathlib import Path

from dcgan.errors import ConfigError


def gpu_count() -> int:
    """CUDA GPUs this machine's torch can use (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_options(gpus: int) -> tuple[int, ...]:
    """Process counts the app offers: one GPU, or all of them; nothing to choose with one GPU or none."""
    return (1, gpus) if gpus > 1 else ()


def trainer_command(run_path: str | Path, processes: int = 1) -> list[str]:
    """argv of the background trainer of the run at `run_path`; with processes > 1, through torchrun, one process per
    GPU (--standalone: torchrun picks a free local port, so several runs can train side by side)."""
    worker = ["-m", "dcgan", "worker", str(run_path)]
    if processes <= 1:
        return [sys.executable, *worker]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *worker]


def check_processes(processes: int, device: str, batch_size: int, gpus: int) -> None:
    """ConfigError saying why `processes` GPUs cannot train this run (before a run folder is made)."""
    from dcgan.data.sharded import share_of_batch

    if processes <= 1:
        return
    if device not in ("auto", "cuda"):
        raise ConfigError(f"{processes} GPUs train on CUDA: choose device cuda (or auto), not {device}")
    if gpus < processes:
        raise ConfigError(f"{processes} GPUs asked for, but this machine has {gpus}: choose {gpus or 1} or fewer")
    share_of_batch(batch_size, processes)


def processes_to_resume_with(raw_config: dict, gpus: int) -> int:
    """A run trained by several GPUs resumes on as many as it used, when they are still there, else on one GPU (a
    checkpoint resumes with any number of processes)."""
    record = raw_config.get("distributed")
    used = record.get("processes") if isinstance(record, dict) else None
    if not isinstance(used, int) or isinstance(used, bool) or used <= 1:
        return 1
    return used if gpus >= used else 1
