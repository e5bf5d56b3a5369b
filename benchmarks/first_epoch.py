"""The first epoch on a fresh machine: drawing street-digits in the background vs drawing it first.

Issue 14 moved the drawing of street-digits into a background thread so that the first loss point comes
within seconds; the first epoch must be no slower than before. Before, a fresh machine drew the whole set,
then trained; so the reference for a fresh run is (time to draw the set) + (a run on the drawn set), both
measured here in the same process. Prints the three wall times (process start to exit of
`python -m dcgan train --dataset street-digits --epochs 1`) and the ratio fresh / (draw + warm run).
  python -m benchmarks.first_epoch [--limit N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images (0: the whole set)")
    args = parser.parse_args()
    train = [sys.executable, "-m", "dcgan", "train", "--dataset", "street-digits", "--epochs", "1"]
    if args.limit:
        train += ["--limit", str(args.limit)]
    draw = [
        sys.executable,
        "-c",
        "import sys; from dcgan.data.street_digits import load_street_digits; "
        "load_street_digits('train', sys.argv[1], 32, 3)",
    ]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        fresh_env = {"DCGAN_DATA_DIR": f"{tmp}/data-fresh", "DCGAN_RUNS_DIR": f"{tmp}/runs-fresh"}
        fresh = timed(train, fresh_env)
        warm_data = Path(tmp) / "data-warm"
        drawing = timed([*draw, str(warm_data / "cache")], {})
        warm = timed(train, {"DCGAN_DATA_DIR": str(warm_data), "DCGAN_RUNS_DIR": f"{tmp}/runs-warm"})
    print(f"fresh run, drawing in the background while training: {fresh:6.1f} s")
    print(f"drawing the set first (the old way):                  {drawing:6.1f} s")
    print(f"then the run on the drawn set:                        {warm:6.1f} s")
    print(f"fresh / (draw + warm run): {fresh / (drawing + warm):.2f}x  (below 1: the first epoch is no slower)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
