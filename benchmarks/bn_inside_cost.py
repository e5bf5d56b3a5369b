"""What the batch-norm lab's inside view costs: a pair trained with it on against the same pair with it off.

Both in this process, alternately, on the full lab data. A shared VM's speed moves a lot (on this 2-core VM with
other work running, the same 2,000-iteration pair took 3.5 s and 98 s within minutes): the least-disturbed run of
each, the minimum, is the figure that compares (as timeit does); the medians are printed beside.
  reference: the pair without the inside view (LabConfig.inside_every = 0)
  inside:    the same pair recording every layer every N iterations (default: the app's, DEFAULT_EVERY)
Prints each run's wall and CPU time and the ratio inside / reference of the minima (target: at most 1.10).
  python -m benchmarks.bn_inside_cost [--every 25] [--iterations 2000] [--repeat 5] [--seeds 1] [--threads 0]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dcgan.bnlab.experiment import LabConfig, load_lab_data, train_seeds
from dcgan.bnlab.inside import DEFAULT_EVERY
from dcgan.devices import device_label, resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=DEFAULT_EVERY, help="iterations between the inside records")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the fastest counts")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_lab_data()
    # The lesson's saturating pair: sigmoid, learning rate 1, bad starting weights (std 5).
    config = LabConfig("sigmoid", 1.0, "bad", iterations=args.iterations, seeds=args.seeds)
    times: dict[int, list[tuple[float, float]]] = {0: [], args.every: []}
    train_seeds(config, data, device=args.device)  # warm-up: first-call allocations, page faults
    for _ in range(args.repeat):
        for every in times:
            config.inside_every = every
            wall, cpu = time.perf_counter(), time.process_time()
            train_seeds(config, data, device=args.device)
            times[every].append((time.perf_counter() - wall, time.process_time() - cpu))
    print(
        f"data: {data.name}; sigmoid, lr 1, bad weights, {args.iterations:,} iterations, validation every "
        f"{config.eval_every}, {args.seeds} seed(s), on {device_label(resolve_device(args.device))}"
    )
    best = {}
    for every, runs in times.items():
        name = "reference, inside off" if every == 0 else f"inside every {every:>3d} its"
        best[every] = (min(w for w, _ in runs), min(c for _, c in runs))
        median = statistics.median(w for w, _ in runs)
        listed = ", ".join(f"{w:.2f}" for w, _ in runs)
        print(
            f"{name}: fastest wall {best[every][0]:6.2f} s, CPU {best[every][1]:6.2f} s "
            f"(median wall {median:.2f}; runs {listed})"
        )
    (ref_wall, ref_cpu), (on_wall, on_cpu) = best[0], best[args.every]
    print(
        f"inside / reference (fastest runs): wall {on_wall / ref_wall:.3f}x, CPU {on_cpu / ref_cpu:.3f}x "
        "(target <= 1.10)"
    )


if __name__ == "__main__":
    main()
