"""The batch-normalization lesson's table: its published rows (assets/bn_lesson_table.csv), a LabConfig per row,
and every row's pair trained in one batched run (experiment.train_networks), identical rows once."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from dcgan.bnlab.experiment import LabConfig, NetworkResult, seed_configs, train_networks
from dcgan.bnlab.networks import NetworkShape
from dcgan.paths import ASSETS

TABLE_PATH = ASSETS / "bn_lesson_table.csv"


@dataclass
class TableRow:
    weights: str
    lr: float
    activation: str
    iterations: int
    without_bn: float  # the lesson's published test accuracies
    with_bn: float
    note: str = ""


def lesson_table(path: Path = TABLE_PATH) -> list[TableRow]:
    with open(path, newline="") as f:
        return [
            TableRow(
                r["weights"],
                float(r["lr"]),
                r["activation"],
                int(r["iterations"]),
                float(r["without_bn"]),
                float(r["with_bn"]),
                r["note"],
            )
            for r in csv.DictReader(f)
        ]


def table_configs(
    rows: list[TableRow], iterations: int | None = None, seed: int = 0, eval_every: int | None = None, seeds: int = 1
) -> list[LabConfig]:
    """A LabConfig per published row, at its published iteration count or at `iterations` for all. The table
    shows test accuracies only, so by default each row is validated once, at its end (a validation of all
    networks costs as much as ~40 training steps). Bad settings are a ConfigError here, before any work."""
    configs = []
    for r in rows:
        its = r.iterations if iterations is None else iterations  # 0 is an error, not "the published count"
        configs.append(
            LabConfig(
                activation=r.activation,
                lr=r.lr,
                weights=r.weights,
                iterations=its,
                eval_every=its if eval_every is None else eval_every,
                seed=seed,
                seeds=seeds,
            ).validate()
        )
    return configs


def run_table(
    rows: list[TableRow],
    data,
    iterations: int | None = None,
    seed: int = 0,
    shape: NetworkShape | None = None,
    progress=None,
    should_stop=None,
    device: str = "auto",
    seeds: int = 1,
) -> list[tuple[NetworkResult, NetworkResult]]:
    """Every row's pair in one batched run: `seeds` pairs per row (seed, seed + 1, ...; row i's seed j at
    i * seeds + j). Rows that become identical (at 2,000 iterations for all, three pairs of rows differ only in
    their published count) are trained once and their results shared."""
    shape = shape or NetworkShape()
    configs = [c for row in table_configs(rows, iterations, seed, seeds=seeds) for c in seed_configs(row)]
    unique = distinct_configs(configs)
    results, _ = train_networks(unique, data, shape, progress, should_stop, device, retire=True, batch_seed=seed)
    return [results[[repr(u) for u in unique].index(repr(c))] for c in configs]


def distinct_configs(configs: list[LabConfig]) -> list[LabConfig]:
    """The configs that differ, each once: a table trains two networks (without, with batch norm) for each, so
    2 x len(this) networks in all (24 of the lesson's 30 when every row runs 2,000 iterations). Sorted by
    activation, each activation is one contiguous run of networks: one activation call per run."""
    return sorted({repr(c): c for c in configs}.values(), key=lambda c: c.activation)
