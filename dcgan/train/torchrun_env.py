"""Whether torchrun started this process, and where it stands among the processes (read without importing torch:
the command line checks it before anything else)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dcgan.errors import ConfigError

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # what torchrun sets in each process it starts


@dataclass(frozen=True)
class Place:
    """Where this process stands among those torchrun started."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


def torchrun_place(environ=os.environ) -> Place | None:
    """This process's place when torchrun started it with more than one process; None for one process (which trains
    as a plain `python -m dcgan` does, through the single-process path) or without torchrun."""
    if not all(name in environ for name in TORCHRUN_VARS):
        return None
    try:
        rank, world, local = (int(environ[name]) for name in TORCHRUN_VARS)
        local_world = int(environ.get("LOCAL_WORLD_SIZE", world))
    except ValueError:
        raise ConfigError(f"torchrun's variables {', '.join(TORCHRUN_VARS)} must be whole numbers") from None
    return Place(rank, world, local, local_world) if world > 1 else None
