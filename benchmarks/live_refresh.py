"""Cost of one live refresh of the Train page's run view on a long run, against re-reading everything.

A run of --lines metrics lines (default 100,000: a long GPU run) gets one new line per refresh.
  reference: read the whole metrics.jsonl each refresh (what a naive page does);
  ours:      dcgan.runs.live.MetricsFollower.update(), which reads only the bytes appended since the last look.
Also prints the time to build the chart (thinned to charts.MAX_POINTS points) that each refresh draws.
  python -m benchmarks.live_refresh [--lines 100000] [--refreshes 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from dcgan.runs.directory import RunDirectory
from dcgan.runs.live import MetricsFollower
from ui.charts import training_figure


def record(step: int) -> dict:
    return {
        "epoch": step / 390,
        "step": step,
        "images_seen": step * 128,
        "d_loss": 1.2,
        "g_loss": 2.1,
        "d_real": 0.6,
        "d_fake": 0.4,
        "images_per_s": 800.0,
        "time": step / 6,
        "timestamp": 1.7e9 + step,
    }


def median_ms(fn, run: RunDirectory, first_step: int, refreshes: int) -> float:
    times = []
    for i in range(refreshes):
        run.append_metrics(record(first_step + i))
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--refreshes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDirectory(tmp)
        run.metrics_path.write_text("".join(__import__("json").dumps(record(s)) + "\n" for s in range(args.lines)))
        follower = MetricsFollower(run)
        follower.update()
        reference = median_ms(lambda: run.read_metrics(0), run, args.lines, args.refreshes)
        ours = median_ms(follower.update, run, args.lines + args.refreshes, args.refreshes)
        chart = statistics.median(_timed(lambda: training_figure(follower.records, 390)) for _ in range(10)) * 1000
    print(f"metrics file: {args.lines:,} lines; one new line per refresh, median of {args.refreshes} refreshes")
    print(f"reference (re-read the whole file): {reference:8.2f} ms per refresh")
    print(f"ours (MetricsFollower, new bytes):  {ours:8.3f} ms per refresh  ({reference / ours:,.0f}x faster)")
    print(f"chart built from {len(follower.records):,} records (thinned): {chart:.1f} ms per refresh")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
