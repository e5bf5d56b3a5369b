"""The sweep: the lesson's question over a grid, activation x learning rate x starting weights, every cell a
pair (without, with batch norm) and all of them trained at once in one stack; its answer is each cell's gain,
test accuracy with batch norm minus without (the mean over its seeds).

The default grid is 4 activations x 4 learning rates x 2 starting weights = 32 pairs, 64 networks (the lab's
table is 24) at 500 iterations: 1,000 took 169 s on this 2-core CPU with other work running
(`python -m dcgan bn-lab sweep --iterations 1000`), and 500 already separate the cells (README).
"""

from __future__ import annotations

from dataclasses import dataclass

from dcgan.bnlab.experiment import ACTIVATIONS, WEIGHT_STDS, LabConfig, NetworkResult, seed_configs, train_networks
from dcgan.bnlab.seeds import Spread, by_row, test_spread
from dcgan.errors import ConfigError

MAX_CELLS = 64  # pairs: 128 networks, about 4x the table's work per iteration


@dataclass
class SweepConfig:
    activations: tuple[str, ...] = tuple(ACTIVATIONS)  # the grid's rows
    lrs: tuple[float, ...] = (0.01, 0.1, 1.0, 2.0)  # its columns: plain SGD learning rates
    weights: tuple[str, ...] = ("reasonable", "bad")  # one heatmap each: starting weights std 0.05 and 5
    iterations: int = 500  # batches of 60 for every cell
    seeds: int = 1  # starting weights drawn from seed, seed + 1, ... per cell
    seed: int = 0  # the first seed; also the batch order

    def cells(self) -> list[LabConfig]:
        """One LabConfig per cell, weights-major, then activation, then learning rate (validated)."""
        if not (self.activations and self.lrs and self.weights):
            raise ConfigError("the sweep needs at least one activation, one learning rate and one starting weights")
        unknown = [w for w in self.weights if w not in WEIGHT_STDS]
        if unknown:
            raise ConfigError(f"the sweep's starting weights are reasonable or bad, not {', '.join(unknown)}")
        count = len(self.activations) * len(self.lrs) * len(self.weights)
        if count * self.seeds > MAX_CELLS:
            raise ConfigError(
                f"the sweep has {count} cells x {self.seeds} seed(s) = {count * self.seeds} pairs; at most "
                f"{MAX_CELLS} train at once: choose fewer learning rates, activations or seeds"
            )
        its = self.iterations
        return [
            LabConfig(a, lr, w, iterations=its, eval_every=its, seed=self.seed, seeds=self.seeds).validate()
            for w in self.weights
            for a in self.activations
            for lr in self.lrs
        ]


def run_sweep(
    sweep: SweepConfig, data, progress=None, should_stop=None, device: str = "auto"
) -> list[tuple[NetworkResult, NetworkResult]]:
    """Every cell's pairs, cell i's seed j at i * seeds + j (cells in SweepConfig.cells order)."""
    configs = [c for cell in sweep.cells() for c in seed_configs(cell)]
    order = sorted(range(len(configs)), key=lambda i: configs[i].activation)  # one activation call per run
    results, _ = train_networks(
        [configs[i] for i in order], data, None, progress, should_stop, device, retire=True, batch_seed=sweep.seed
    )
    position = {i: at for at, i in enumerate(order)}
    return [results[position[i]] for i in range(len(configs))]


def gains(sweep: SweepConfig, results: list[tuple[NetworkResult, NetworkResult]]) -> list[dict]:
    """Per cell: its settings, the mean test accuracies without and with batch norm, and the gain (with -
    without; None where a network has no accuracy). The gain's spread is over the seeds' own gains."""
    out = []
    for cell, pairs in zip(sweep.cells(), by_row(results, sweep.seeds)):
        without, with_bn = test_spread([a for a, _ in pairs]), test_spread([b for _, b in pairs])
        per_seed = [
            b.test_accuracy - a.test_accuracy
            for a, b in pairs
            if a.test_accuracy is not None and b.test_accuracy is not None
        ]
        gain: Spread | None = None
        if per_seed:
            gain = Spread(sum(per_seed) / len(per_seed), min(per_seed), max(per_seed), len(per_seed))
        out.append(
            {
                "activation": cell.activation,
                "lr": cell.lr,
                "weights": cell.weights,
                "without": without.mean if without else None,
                "with": with_bn.mean if with_bn else None,
                "gain": gain,
                "diverged": sum(r.diverged_at is not None for pair in pairs for r in pair),
            }
        )
    return out
