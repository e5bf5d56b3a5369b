"""Train the scoring classifier of a labelled dataset (dcgan/quality.py) and report its test accuracy.

street-digits' is shipped in dcgan/assets/; others are written to the data folder's cache, where the
trainer's per-epoch score finds them.  python scripts/train_classifier.py --dataset street-digits
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dcgan.config import DataConfig  # noqa: E402
from dcgan.datasets import data_dir, load_images  # noqa: E402
from dcgan.progress import ProgressBar  # noqa: E402
from dcgan.quality import INPUT_SIZE, accuracy, classifier_path, save_classifier, train_classifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="street-digits")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    cfg = DataConfig(dataset=args.dataset)
    train, test = load_images(cfg, INPUT_SIZE, 3, "train"), load_images(cfg, INPUT_SIZE, 3, "test")
    bar = ProgressBar(args.epochs, label="classifier")
    start = time.time()
    model = train_classifier(train.images, train.labels, args.epochs,
                             progress=lambda e, s, n, loss: bar.update(e + s / n, f"loss {loss:.3f}"))
    bar.close()
    seconds = time.time() - start
    test_accuracy = accuracy(model, test.images, test.labels)
    path = classifier_path(args.dataset, data_dir(cfg) / "cache")
    save_classifier(path, model, dataset=args.dataset, test_accuracy=test_accuracy, epochs=args.epochs,
                    train_images=len(train), seconds=round(seconds, 1))
    print(f"{args.dataset}: test accuracy {test_accuracy:.4f} after {args.epochs} epochs ({seconds:.0f} s) -> {path}")


if __name__ == "__main__":
    main()
