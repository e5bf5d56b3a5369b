"""`python -m dcgan bn-lab pair | table | sweep`: the batch-norm lab's experiments from a terminal (or a GPU box
without the app), through the same engine as the Batch-norm lab page. Results go to the lab's store
(<runs>/.bn-lab/, dcgan/bnlab/store.py) as the app's do, so the app shows them and lists them among its kept ones."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict

from dcgan.progress import ProgressBar


def add_parser(sub) -> None:
    lab = sub.add_parser("bn-lab", help="the batch-norm lesson: a pair of networks, its whole table, or a sweep")
    which = lab.add_subparsers(dest="experiment", required=True, parser_class=type(lab))
    pair = which.add_parser("pair", help="one network with and one without batch norm, same weights and batches")
    pair.add_argument("--activation", default="relu", help="relu, sigmoid, tanh or leaky_relu (default relu)")
    pair.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (the lesson: 0.01, 1, 2)")
    pair.add_argument("--weights", default="reasonable", help="reasonable (std 0.05), bad (std 5) or custom")
    pair.add_argument("--weight-std", type=float, default=0.05, help="the std when --weights custom")
    pair.add_argument("--iterations", type=int, default=2000)
    pair.add_argument("--eval-every", type=int, default=50, help="batches between validation accuracies")
    pair.add_argument("--seed", type=int, default=0)
    pair.add_argument(
        "--inside",
        action="store_true",
        help="record each layer inside both networks (saturation, gradients, update ratios) and summarise it",
    )
    pair.add_argument(
        "--inside-every", type=int, default=0, help="iterations between the inside view's records (default 10)"
    )
    table = which.add_parser("table", help="the lesson's 15 rows, every network trained at once")
    table.add_argument("--iterations", type=int, default=2000, help="for every row (default 2000)")
    table.add_argument("--published", action="store_true", help="each row at its published count (50,000 for most)")
    sweep = which.add_parser("sweep", help="activation x learning rate x starting weights: batch norm's gain per cell")
    sweep.add_argument("--iterations", type=int, default=500, help="for every cell (default 500)")
    sweep.add_argument("--lrs", default="0.01,0.1,1,2", help="learning rates, comma-separated (default 0.01,0.1,1,2)")
    for parser in (pair, table, sweep):
        parser.add_argument("--seeds", type=int, default=1, help="starting weights per network (seed, seed+1, ...)")
        parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
        parser.add_argument("--data-dir", default="", help="where MNIST's files are, if you have them")
        parser.add_argument("--limit", type=int, default=0, help="at most N images per split, for a quick try")
        parser.add_argument("--runs-dir", help="the lab keeps its results in <this>/.bn-lab/ (default ./runs)")


def run(args: argparse.Namespace) -> int:
    from dcgan.bnlab import store
    from dcgan.bnlab.experiment import LabConfig, load_lab_data, train_seeds
    from dcgan.bnlab.inside import DEFAULT_EVERY
    from dcgan.bnlab.sweep import SweepConfig, run_sweep
    from dcgan.bnlab.table import distinct_configs, lesson_table, run_table, table_configs
    from dcgan.devices import device_label, resolve_device
    from dcgan.errors import ConfigError

    # Bad settings and an absent device are one clear line before the data loads (the first load takes ~20 s).
    device = resolve_device(args.device)
    if args.experiment == "pair":
        every = args.inside_every or (DEFAULT_EVERY if args.inside else 0)
        config = LabConfig(
            args.activation, args.lr, args.weights, args.weight_std, args.iterations, args.eval_every, args.seed
        )
        config.seeds, config.inside_every = args.seeds, every
        config.validate()
        saved = store.Saved(store.PAIR, asdict(config), total=config.iterations)
    elif args.experiment == "table":
        rows, iterations = lesson_table(), None if args.published else args.iterations
        table_configs(rows, iterations, seeds=args.seeds)  # a ConfigError for settings out of bounds
        networks = 2 * len(distinct_configs(table_configs(rows, iterations))) * args.seeds
        total = iterations or max(r.iterations for r in rows)
        saved = store.Saved(
            store.TABLE, {"iterations": iterations, "networks": networks, "seeds": args.seeds}, total=total
        )
    else:
        sweep = SweepConfig(lrs=_numbers(args.lrs), iterations=args.iterations, seeds=args.seeds)
        sweep.cells()
        saved = store.Saved(store.SWEEP, asdict(sweep), total=sweep.iterations)
    if args.limit < 0:
        raise ConfigError(f"--limit must be 0 (all) or more, not {args.limit}")
    data = load_lab_data(args.data_dir, args.limit)
    print(f"data: {data.name}; on {device_label(device)}", file=sys.stderr)
    saved.data, saved.device = data.name, device_label(device)
    recorder = store.Recorder(saved, args.runs_dir)
    progress = _TerminalProgress()
    start = time.perf_counter()
    try:
        if args.experiment == "pair":
            pairs, _ = train_seeds(config, data, progress=recorder.progress(progress), device=args.device)
            results = pairs
        elif args.experiment == "table":
            results = run_table(
                rows, data, iterations, progress=recorder.progress(progress), device=args.device, seeds=args.seeds
            )
        else:
            results = run_sweep(sweep, data, progress=recorder.progress(progress), device=args.device)
    except KeyboardInterrupt:
        recorder.fail("interrupted from the terminal")
        raise
    progress.close()
    recorder.finish(results, stopped=False)
    from dcgan.bnlab import cli_report

    if args.experiment == "pair":
        print("\n".join(cli_report.pair_lines(pairs)))
    elif args.experiment == "table":
        print("\n".join(cli_report.table_lines(rows, results, args.seeds)))
    else:
        print("\n".join(cli_report.sweep_lines(sweep, results)))
    where = f"; kept in {store.lab_folder(args.runs_dir)}" + (
        f" (not saved: {recorder.write_error})" if recorder.write_error else ""
    )
    print(f"in {time.perf_counter() - start:.1f} s{where}", file=sys.stderr)
    return 0


def _numbers(text: str) -> tuple[float, ...]:
    from dcgan.errors import ConfigError

    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ConfigError(f"--lrs takes numbers separated by commas, like 0.01,0.1,1,2; not {text!r}") from None


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
