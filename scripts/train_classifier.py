"""Train the quality score's classifier of a labelled dataset (dcgan/quality/scoring_classifier.py); report its
accuracy.

It trains until good (early stopping on a validation split of the training files, within a step budget)
and is tested on another held-out split. Other datasets' go to the data folder's cache; street-digits'
ships in dcgan/assets/ (--retrain replaces it: most of an hour on a 2-core CPU, a minute on a GPU).
A run trains its dataset's by itself, visibly, the first time it is scored.
  python -m scripts.train_classifier --dataset mnist [--retrain] [--device auto]
"""

from __future__ import annotations

import argparse

from dcgan.config import DataConfig
from dcgan.data.registry import LABELLED
from dcgan.devices import resolve_device
from dcgan.progress import ProgressBar
from dcgan.quality.digit_classifier import load_classifier
from dcgan.quality.score import RELIABLE_ACCURACY
from dcgan.quality.scoring_classifier import ensure_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="street-digits", choices=LABELLED)
    parser.add_argument("--data-dir", default="", help="default: $DCGAN_DATA_DIR or ./data")
    parser.add_argument(
        "--retrain", action="store_true", help="train again even if a current one is cached (or shipped)"
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    bar = ProgressBar(1000, label=f"{args.dataset} classifier")
    path = ensure_classifier(
        DataConfig(dataset=args.dataset, data_dir=args.data_dir),
        lambda p: bar.update(round(p.epoch / p.max_epochs * 1000), p.describe(), p.eta_s),
        resolve_device(args.device),
        retrain=args.retrain,
    )
    bar.close()
    meta = load_classifier(path)[1]
    verdict = (
        "reliable" if meta["test_accuracy"] >= RELIABLE_ACCURACY else f"UNRELIABLE (below {RELIABLE_ACCURACY:.0%})"
    )
    trained = (
        (
            f"{meta['epochs']} epochs on {meta['train_images']:,} images, {meta.get('stopped', '')}, "
            f"{meta.get('seconds', 0):.0f} s"
        )
        if "recipe" in meta
        else f"shipped, {meta.get('epochs')} epochs"
    )
    tested = f"{meta['test_images']:,} held-out images" if "test_images" in meta else "its test split"
    print(f"{args.dataset}: test accuracy {meta['test_accuracy']:.2%} on {tested}, {verdict} ({trained}) -> {path}")


if __name__ == "__main__":
    main()
