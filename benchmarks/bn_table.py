"""The batch-norm lesson's whole table: every network trained at once (batched) against pair by pair.

Both train the same 15 rows x 2 networks on the same data with the same seeds, in this process:
  reference: each row's pair trained on its own, one after another (what a loop over the table does);
  batched:   all networks stacked into one computation (dcgan.bnlab.table.run_table; rows that are identical at
             the chosen count, e.g. three pairs at 2,000 iterations each, are trained once).
Prints both times, the ratio, and our test accuracies beside the published ones.
With --seeds k every row trains k seeds at once (3 x the networks); the reference is then the same table with
one seed, batched, in this process, and the ratio says what the seeds cost.
Targets: 15 rows at 2,000 iterations in under 20 s on a 2-core CPU and >= 3x pair by pair; with 3 seeds under
60 s; at the published counts in under a minute on a GPU (--published --device cuda).
  python -m benchmarks.bn_table [--iterations 2000 | --published] [--skip-reference] [--repeat 5] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from dcgan.bnlab.cli_report import table_lines
from dcgan.bnlab.experiment import load_lab_data, train_pair
from dcgan.bnlab.table import lesson_table, run_table, table_configs
from dcgan.devices import device_label, resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--published", action="store_true", help="each row at its published iteration count")
    parser.add_argument("--skip-reference", action="store_true", help="time the batched run only")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per row, trained at once")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (the app's choice)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time the batched table N times (a shared VM's speed moves by +-15%% within minutes); the median counts",
    )
    args = parser.parse_args()
    iterations = None if args.published else args.iterations
    data = load_lab_data()
    rows = lesson_table()
    times = []
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        results = run_table(rows, data, iterations, device=args.device, seeds=args.seeds)
        times.append(time.perf_counter() - start)
    batched = statistics.median(times)
    print(
        f"data: {data.name}; {len(rows)} rows x 2 networks on {device_label(resolve_device(args.device))}; "
        f"{'published iteration counts' if args.published else f'{iterations:,} iterations each'}"
        + (f", {args.seeds} seeds per row" if args.seeds > 1 else "")
    )
    print("\n".join(table_lines(rows, results, args.seeds)))
    runs = f" (median of {len(times)}: {', '.join(f'{t:.1f}' for t in times)})" if len(times) > 1 else ""
    print(f"batched, all rows at once: {batched:6.1f} s{runs}")
    if not args.skip_reference and args.seeds > 1:
        start = time.perf_counter()
        run_table(rows, data, iterations, device=args.device)
        one = time.perf_counter() - start
        print(f"reference, one seed per row: {one:6.1f} s  -> {args.seeds} seeds cost {batched / one:.1f}x its time")
    elif not args.skip_reference:
        start = time.perf_counter()
        for config in table_configs(rows, iterations):
            train_pair(config, data, device=args.device)
        reference = time.perf_counter() - start
        print(f"reference, pair by pair:   {reference:6.1f} s  -> batched is {reference / batched:.1f}x faster")


if __name__ == "__main__":
    main()
