"""`python -m dcgan bn-lab pair | table`: the batch-norm lab's experiments from a terminal (or a GPU box
without the app), through the same engine as the Batch-norm lab page."""

from __future__ import annotations

import argparse
import sys
import time

from dcgan.progress import ProgressBar


def add_parser(sub) -> None:
    lab = sub.add_parser("bn-lab", help="the batch-norm lesson: a pair of networks, or its whole table")
    which = lab.add_subparsers(dest="experiment", required=True, parser_class=type(lab))
    pair = which.add_parser("pair", help="one network with and one without batch norm, same weights and batches")
    pair.add_argument("--activation", default="relu", help="relu, sigmoid, tanh or leaky_relu (default relu)")
    pair.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (the lesson: 0.01, 1, 2)")
    pair.add_argument("--weights", default="reasonable", help="reasonable (std 0.05), bad (std 5) or custom")
    pair.add_argument("--weight-std", type=float, default=0.05, help="the std when --weights custom")
    pair.add_argument("--iterations", type=int, default=2000)
    pair.add_argument("--eval-every", type=int, default=50, help="batches between validation accuracies")
    pair.add_argument("--seed", type=int, default=0)
    table = which.add_parser("table", help="the lesson's 15 rows, every network trained at once")
    table.add_argument("--iterations", type=int, default=2000, help="for every row (default 2000)")
    table.add_argument("--published", action="store_true", help="each row at its published count (50,000 for most)")
    for parser in (pair, table):
        parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
        parser.add_argument("--data-dir", default="", help="where MNIST's files are, if you have them")
        parser.add_argument("--limit", type=int, default=0, help="at most N images per split, for a quick try")


def run(args: argparse.Namespace) -> int:
    from dcgan.bnlab.experiment import LabConfig, lesson_table, load_lab_data, run_table, table_configs, train_pair
    from dcgan.devices import device_label, resolve_device
    from dcgan.errors import ConfigError

    # Bad settings and an absent device are one clear line before the data loads (the first load takes ~20 s).
    device = resolve_device(args.device)
    if args.experiment == "pair":
        config = LabConfig(
            args.activation, args.lr, args.weights, args.weight_std, args.iterations, args.eval_every, args.seed
        ).validate()
    else:
        rows, iterations = lesson_table(), None if args.published else args.iterations
        table_configs(rows, iterations)  # a ConfigError for an iteration count out of bounds
    if args.limit < 0:
        raise ConfigError(f"--limit must be 0 (all) or more, not {args.limit}")
    data = load_lab_data(args.data_dir, args.limit)
    print(f"data: {data.name}; on {device_label(device)}", file=sys.stderr)
    progress = _TerminalProgress()
    start = time.perf_counter()
    if args.experiment == "pair":
        (without, with_bn), _ = train_pair(config, data, progress=progress, device=args.device)
        progress.close()
        for result in (without, with_bn):
            note = f" (diverged at iteration {result.diverged_at:,})" if result.diverged_at else ""
            print(f"test accuracy {result.label}: {result.test_accuracy:.4f}{note}")
    else:
        results = run_table(rows, data, iterations, progress=progress, device=args.device)
        progress.close()
        print("\n".join(table_lines(rows, results)))
    print(f"in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


class _TerminalProgress:
    """The engine's progress(iteration, total, results) as a terminal bar with an ETA."""

    def __init__(self):
        self.bar, self.start = None, time.monotonic()

    def __call__(self, done: int, total: int, results) -> None:
        self.bar = self.bar or ProgressBar(total, label="bn-lab")
        elapsed = time.monotonic() - self.start
        self.bar.update(done, "iterations |", elapsed / done * (total - done) if done else None)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def table_lines(rows, results) -> list[str]:
    """The lesson's table with ours beside the published accuracies (* = diverged)."""
    mark = lambda r: f"{r.test_accuracy:.4f}" + ("*" if r.diverged_at else " ")
    lines = [f"{'weights':10s} {'lr':>4s} {'activation':10s} {'published':>27s} | {'ours':>28s}"]
    for row, (without, with_bn) in zip(rows, results):
        lines.append(
            f"{row.weights:10s} {row.lr:4g} {row.activation:10s} {row.iterations:6d} its "
            f"{row.without_bn:.4f} / {row.with_bn:.4f} | {without.trained:6d} its {mark(without)}/ "
            f"{mark(with_bn)}"
        )
    ahead = sum(b.test_accuracy > a.test_accuracy for a, b in results)
    lines.append(f"(* diverged: a loss became NaN or infinite) batch norm ahead in {ahead} of {len(rows)} rows")
    return lines
