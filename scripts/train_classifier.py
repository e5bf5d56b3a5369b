"""Train the scoring classifier of a labelled dataset (dcgan/quality.py) and report its test accuracy.

street-digits' is shipped in dcgan/assets/ (--retrain rebuilds it); others go to the data folder's cache.
The trainer does the same by itself the first time a labelled dataset is scored.
  python scripts/train_classifier.py --dataset mnist
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dcgan.config import DataConfig  # noqa: E402
from dcgan.datasets import data_dir  # noqa: E402
from dcgan.progress import ProgressBar  # noqa: E402
from dcgan.quality import classifier_path, ensure_classifier, load_classifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="street-digits")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--retrain", action="store_true", help="train again even if one is cached (or shipped)")
    args = parser.parse_args()
    cfg = DataConfig(dataset=args.dataset)
    path = classifier_path(args.dataset, data_dir(cfg) / "cache")
    if args.retrain:
        path.unlink(missing_ok=True)
    start = time.time()
    bar = ProgressBar(args.epochs * 1000, label="classifier")
    ensure_classifier(cfg, args.epochs, progress=lambda e, s, n, loss: bar.update(
        int((e + s / n) * 1000), f"loss {loss:.3f}", eta_s=(time.time() - start) / (e + s / n) * (args.epochs - e - s / n)))
    bar.close()
    meta = load_classifier(path)[1]
    print(f"{args.dataset}: test accuracy {meta['test_accuracy']:.4f} after {args.epochs} epochs "
          f"({time.time() - start:.0f} s) -> {path}")


if __name__ == "__main__":
    main()
