"""The batch-normalization lesson: identical fully connected networks with and without batch norm.

Every network of an experiment is trained at once (the stacked networks are in networks.py): their
weights are stacked into (P, in, out) tensors and one batched matmul per layer serves them all, each with
its own activation, learning rate and starting weights. A pair (one row of the lesson's table) is P = 2;
the whole table is P = 30 (24 at 2,000 iterations for all, where three pairs of rows coincide). The two
networks of a row start from identical weights and see identical batches; only batch norm differs.
This module holds the experiment's settings and the training loop; table.py the lesson's table, data.py its data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch

from dcgan.bnlab.data import LabData, ink, load_lab_data  # noqa: F401 - imported from here by the CLI, page, tests
from dcgan.bnlab.inside import InsideTrace, Probe
from dcgan.bnlab.networks import ACTIVATIONS, NetworkShape, StackedNetworks
from dcgan.devices import resolve_device
from dcgan.errors import ConfigError

WEIGHT_STDS = {"reasonable": 0.05, "bad": 5.0}  # the lesson's two starting points
# Twice the lesson's longest runs (50,000). A run holds the CPU until it finishes or is stopped: at ~9 ms
# an iteration (the whole table on a 2-core CPU) this is about 15 minutes, where an unbounded count (10^9
# iterations) kept a closed tab's job at 200% CPU for as long as the server lived.
MAX_ITERATIONS = 100_000
# A validation of every network costs as much as ~40 training batches (5,000 examples against 60): at
# most this many keeps a run's validations under its training (the default, every 50, stays within it).
MAX_VALIDATIONS = 2_000
# Torch seeds its generators with a 64-bit number; the starting weights use seed x networks.WEIGHT_SEED_STRIDE
# (7919) + layer, which stays within it for seeds up to this.
MAX_SEED = 2**32 - 1
# Seeds per network: each is one more network in the stack (a pair with 10 seeds is 20 networks, ~2 ms a step).
MAX_SEEDS = 10
# The inside view's records per network: each holds two histograms and five quantiles per layer, ~2 kB of the
# saved file, which is rewritten while the experiment trains.
MAX_INSIDE_RECORDS = 500


@dataclass
class LabConfig:
    activation: str = "relu"  # one of ACTIVATIONS, on every hidden layer
    lr: float = 0.01  # plain SGD (the lesson: 0.01, 1 and 2)
    weights: str = "reasonable"  # "reasonable" (std 0.05), "bad" (std 5.0) or "custom" (weight_std)
    weight_std: float = 0.05  # normal std of the starting weights when weights == "custom"
    iterations: int = 2000  # batches of training (the lesson: 2,000 and 50,000)
    eval_every: int = 50  # batches between validation accuracies
    seed: int = 0  # starting weights and batch order
    seeds: int = 1  # starting weights drawn from seed, seed + 1, ...: so many of each network, trained at once
    inside_every: int = 0  # iterations between the inside view's records of each layer (0: off)

    @property
    def std(self) -> float:
        return self.weight_std if self.weights == "custom" else WEIGHT_STDS[self.weights]

    def validate(self) -> LabConfig:
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {self.activation!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(
                f"learning rate must be positive and finite, not {self.lr} (the lesson uses 0.01, 1 and 2)"
            )
        if self.weights not in (*WEIGHT_STDS, "custom"):
            raise ConfigError(f"weights must be reasonable, bad or custom, not {self.weights!r}")
        if not (self.std > 0 and math.isfinite(self.std)):
            raise ConfigError(
                f"the starting weights' std must be positive and finite, not {self.std} (the lesson uses 0.05 and 5)"
            )
        self._validate_lengths()
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"the seed must be a whole number from 0 to {MAX_SEED:,}, not {self.seed:,}")
        if not 1 <= self.seeds <= MAX_SEEDS:
            raise ConfigError(f"seeds per network must be from 1 to {MAX_SEEDS}, not {self.seeds}")
        if self.seed + self.seeds - 1 > MAX_SEED:
            raise ConfigError(f"the seed plus the seeds per network must stay within {MAX_SEED:,}")
        fewest = math.ceil(self.iterations / MAX_INSIDE_RECORDS)
        if self.inside_every < 0 or 0 < self.inside_every < fewest:
            raise ConfigError(
                f"the inside view records every N iterations with N of at least {fewest:,} for "
                f"{self.iterations:,} iterations (at most {MAX_INSIDE_RECORDS} records), or 0 for off; "
                f"not {self.inside_every:,}"
            )
        return self

    def _validate_lengths(self) -> None:
        """The settings that decide how long a run holds the CPU."""
        if self.iterations < 1:
            raise ConfigError(f"iterations must be at least 1, not {self.iterations}")
        if self.iterations > MAX_ITERATIONS:
            raise ConfigError(
                f"iterations must be at most {MAX_ITERATIONS:,}, not {self.iterations:,}: twice the "
                f"lesson's longest runs (50,000), which already take the whole table about 15 minutes "
                f"on a 2-core CPU"
            )
        if self.eval_every < 1:
            raise ConfigError(f"validation every N batches needs N of at least 1, not {self.eval_every}")
        fewest = math.ceil(self.iterations / MAX_VALIDATIONS)
        if self.eval_every < fewest:
            raise ConfigError(
                f"validation every N batches needs N of at least {fewest:,} for {self.iterations:,} "
                f"iterations, not {self.eval_every:,}: at most {MAX_VALIDATIONS:,} validations a run, "
                f"as each costs about as much as 40 training batches"
            )


@dataclass
class NetworkResult:
    batchnorm: bool
    validation: list[tuple[int, float]] = field(default_factory=list)  # (iteration, accuracy)
    loss: list[tuple[int, float]] = field(default_factory=list)  # (iteration, training loss)
    diverged_at: int | None = None  # the iteration whose loss became NaN/inf
    test_accuracy: float | None = None
    trained: int = 0  # its config's count of iterations, or fewer when stopped early
    inside: InsideTrace | None = None  # per layer, every config.inside_every iterations (dcgan/bnlab/inside.py)

    @property
    def label(self) -> str:
        """'with batch norm' or 'without batch norm': what a chart's legend, a metric and the CLI call it."""
        return "with batch norm" if self.batchnorm else "without batch norm"


def train_networks(
    configs: list[LabConfig],
    data,
    shape: NetworkShape | None = None,
    progress=None,
    should_stop=None,
    device: str = "auto",
    report_every: int = 50,
    retire: bool = False,
    batch_seed: int | None = None,
) -> tuple[list[tuple[NetworkResult, NetworkResult]], StackedNetworks]:
    """Train each config's pair (without, with batch norm) all at once; returns one (without, with) per config,
    and the trained networks (for the inference-mode demo).

    `data` is a LabData; `device` is auto (CUDA, then MPS, then CPU), cpu, cuda or mps;
    `progress(iteration, total, results)` is called after each validation and every
    `report_every` iterations; `should_stop()` ends training early (the results so far are returned).
    `retire` takes networks out of the stack once they are done or diverged (looked at every `report_every`
    iterations), with their test accuracy taken then: the matmuls stop paying for them. The returned stack
    then holds only the networks that were left. The batches are drawn from `batch_seed` (default: the first
    config's seed), one stream for every network; each config's `inside_every` records its inside view."""
    shape = shape or NetworkShape()
    for c in configs:
        c.validate()
    torch_device = resolve_device(device)  # "auto" or a name, as the torch device the tensors go to
    nets = StackedNetworks(configs, shape, torch_device)
    on = lambda t: t.to(torch_device)
    train_x, train_y, val_x, val_y = on(data.train_x), on(data.train_y), on(data.val_x), on(data.val_y)
    test_x, test_y = on(data.test_x), on(data.test_y)
    P, rows = 2 * len(configs), len(configs)
    inside_every = [c.inside_every for c in configs] * 2
    recording = any(inside_every)
    results = [NetworkResult(batchnorm=i >= rows, inside=InsideTrace() if inside_every[i] else None) for i in range(P)]
    limits = [c.iterations for c in configs] * 2
    eval_every = [c.eval_every for c in configs] * 2
    total = max(limits)
    stack = _LiveStack(nets, list(range(P)), limits, torch_device)
    order = torch.Generator().manual_seed(configs[0].seed if batch_seed is None else batch_seed)  # one stream for all
    perm, cursor = on(torch.randperm(len(data.train_x), generator=order)), 0
    for it in range(1, total + 1):
        if cursor + shape.batch_size > len(perm):
            perm, cursor = on(torch.randperm(len(data.train_x), generator=order)), 0
        idx = perm[cursor : cursor + shape.batch_size]
        cursor += shape.batch_size
        traces = None
        if recording:  # the table and the sweep never record: not even this loop for them
            traces = [results[i].inside if _inside_due(it, inside_every[i], limits[i]) else None for i in stack.alive]
        stack.train_step(train_x[idx], train_y[idx], it, traces if traces and any(traces) else None)
        due = [i for i in range(P) if it % eval_every[i] == 0 and it <= limits[i]]
        if due:
            stack.validate(results, due, it, val_x, val_y)
        if retire and it % report_every == 0:
            stack.retire_done(results, it, test_x, test_y)
        if progress and (due or it % report_every == 0):
            progress(it, total, results)
        if not stack.alive or (should_stop and should_stop()):
            break
    stack.retire(results, list(range(len(stack.alive))), test_x, test_y)
    for result, limit in zip(results, limits):
        result.trained = min(it, limit)  # where Stop ended it, if it did
    if progress:
        progress(it, total, results)
    return [(results[i], results[i + rows]) for i in range(rows)], stack.nets


def _inside_due(it: int, every: int, limit: int) -> bool:
    """Whether a network recording its inside view every `every` iterations records at `it` (also at the first)."""
    return bool(every) and it <= limit and (it % every == 0 or it == 1)


class _LiveStack:
    """The networks still being trained and their bookkeeping, which stays on the device: reading a loss
    back each step would make a GPU wait every step. `alive[j]` is network j's index into the results."""

    def __init__(self, nets: StackedNetworks, alive: list[int], limits: list[int], device):
        self.nets, self.alive = nets, alive
        self.limits = torch.tensor(limits, device=device)
        self.active = torch.ones(len(alive), dtype=torch.bool, device=device)  # not diverged
        self.diverged_at = torch.zeros(len(alive), dtype=torch.long, device=device)
        self.losses = torch.zeros(len(alive), device=device)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, it: int, traces: list[InsideTrace | None] | None) -> None:
        """One step of every network; with `traces` (one per network of the stack, None for those that do
        not record now), the inside view's numbers of this step are appended to them."""
        step = self.nets.lr * (self.active & (it <= self.limits)).view(-1, 1, 1)  # 0 once done or diverged
        probe = Probe(self.nets.activations) if traces else None
        self.losses = self.nets.train_step(x, y, step, probe)
        if probe is not None and traces is not None:
            probe.record(traces, it, step.flatten(), self.losses)
        finite = torch.isfinite(self.losses)
        self.diverged_at.masked_fill_(self.active & ~finite, it)
        self.active &= finite

    def validate(self, results: list[NetworkResult], due: list[int], it: int, x: torch.Tensor, y: torch.Tensor):
        accuracy, active, losses = self.nets.accuracy(x, y).cpu(), self.active.cpu(), self.losses.cpu()
        self._note_divergence(results)
        for i in due:  # a retired network that is still due diverged: NaN, as while it was in the stack
            j = self.alive.index(i) if i in self.alive else None
            results[i].validation.append((it, accuracy[j].item() if j is not None and active[j] else float("nan")))
            results[i].loss.append((it, losses[j].item() if j is not None else float("nan")))

    def retire_done(self, results: list[NetworkResult], it: int, test_x: torch.Tensor, test_y: torch.Tensor):
        done = (~self.active | (self.limits <= it)).nonzero().flatten().tolist()
        if done:
            self.retire(results, done, test_x, test_y)

    def retire(self, results: list[NetworkResult], done: list[int], test_x: torch.Tensor, test_y: torch.Tensor):
        """Take the test accuracy of networks `done` (positions in the stack) and drop them from it."""
        self._note_divergence(results)
        finished = self.nets if len(done) == len(self.alive) else self.nets.subset(done)
        accuracy: list[float] = finished.accuracy(test_x, test_y).cpu().tolist() if done else []
        for j, a in zip(done, accuracy):
            results[self.alive[j]].test_accuracy = a
        keep = [j for j in range(len(self.alive)) if j not in set(done)]
        if keep and done:
            picked = torch.tensor(keep, device=self.limits.device)
            self.nets = self.nets.subset(keep)
            self.limits, self.active, self.diverged_at = (
                self.limits[picked],
                self.active[picked],
                self.diverged_at[picked],
            )
        self.alive = [self.alive[j] for j in keep]

    def _note_divergence(self, results: list[NetworkResult]) -> None:
        for i, at in zip(self.alive, self.diverged_at.tolist()):
            results[i].diverged_at = at or None


def train_pair(
    config: LabConfig, data, shape: NetworkShape | None = None, progress=None, should_stop=None, device: str = "auto"
):
    """One row: ((without batch norm, with batch norm), the trained networks); with config.seeds > 1, the
    first seed's pair (train_seeds gives them all)."""
    pairs, nets = train_seeds(config, data, shape, progress, should_stop, device)
    return pairs[0], nets


def train_seeds(
    config: LabConfig, data, shape: NetworkShape | None = None, progress=None, should_stop=None, device: str = "auto"
):
    """A pair per seed (config.seed, config.seed + 1, ...), all trained at once on the same batches (drawn from
    config.seed): ([(without, with batch norm)] per seed, the trained networks)."""
    shape = shape or NetworkShape()
    return train_networks(seed_configs(config), data, shape, progress, should_stop, device, batch_seed=config.seed)


def seed_configs(config: LabConfig) -> list[LabConfig]:
    """config once per seed: only the starting weights differ (the batches are the first seed's for all)."""
    return [replace(config, seed=config.seed + j) for j in range(config.seeds)]
