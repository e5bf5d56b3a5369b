"""Checkpoints, sample grids and snapshots written by one thread while training goes on.

On a GPU an epoch can take half a second, and writing them in the loop cost a fifth of it at 64 px
(benchmarks/step_breakdown.py). The loop copies tensors to the CPU without waiting and hands the write
over; writes land in the order they were handed over, each once the copies before it have landed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from dcgan.runs.checkpoint import ready_event

MAX_PENDING_WRITES = 2  # bounds the CPU memory held by copies waiting to be written


class BackgroundWrites:
    def __init__(self, device: torch.device):
        self.device = device
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="checkpoint")
        self.pending: list[Future] = []

    def submit(self, write: Callable[[], object]) -> None:
        """Run `write` on the writer thread (in order) once the copies enqueued so far have landed."""
        while len(self.pending) >= MAX_PENDING_WRITES:
            self.pending.pop(0).result()
        event = ready_event(self.device)
        self.pending.append(self.thread.submit(lambda: (event and event.synchronize(), write())))

    def wait(self) -> None:
        """Until every write has landed; re-raises a failed write (disk full...) here, in the loop."""
        while self.pending:
            self.pending.pop(0).result()

    def shutdown(self) -> None:
        self.thread.shutdown(wait=True)
