"""What the per-epoch sample-quality score costs, as a fraction of an epoch of training.

Trains a street-digits run (the SVHN lesson's model, 32 px) for --epochs in a temporary folder with the
score on, then reads the run's own files: training seconds per epoch (metrics.jsonl) and scoring seconds
per epoch (quality.jsonl). Target: under 5% of the epoch.
  python benchmarks/quality_cost.py [--epochs 1] [--limit 0] [--device auto]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dcgan.presets import preset_config  # noqa: E402
from dcgan.runs import create_run  # noqa: E402
from dcgan.trainer import train_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="training images (0 = all 50,000)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DCGAN_RUNS_DIR"] = tmp
        run = create_run(preset_config("street-digits", epochs=args.epochs, limit=args.limit, device=args.device,
                                       score_samples=args.samples, name="quality-cost"))
        train_run(run)
        metrics = run.read_metrics().records
        quality = run.read_quality()
        previous = 0.0
        for score in quality:
            epoch_time = next(m["time"] for m in metrics if m["step"] == score["step"]) - previous
            previous += epoch_time
            print(f"epoch {score['epoch']:g}: training {epoch_time:6.1f} s, scoring {args.samples} samples "
                  f"{score['seconds']:5.2f} s = {score['seconds'] / epoch_time:.1%} of the epoch "
                  f"(Fréchet distance {score['frechet']:.1f})")


if __name__ == "__main__":
    main()
