"""What the per-epoch sample-quality score costs, as a share of training time, per dataset.

For each dataset a run trains with its preset (the app's and CLI's defaults) in a temporary folder, the
score on at its default settings, and the run's own files say: training images/s alone (status.json's
elapsed_s leaves the scoring out), the scoring's seconds (status.json's scoring_s: every score plus the
timing probe), their ratio (target: at most 5%, dcgan.quality.tracker.SCORE_BUDGET), how many scores of how
many samples the plan made, and, apart, the once-per-dataset preparation (training its classifier).
Sets this machine cannot download are written in their real file formats (dcgan/data/stand_in_sets.py):
  mnist-1500, svhn-1500   about 1,500 labelled images in MNIST's idx / SVHN's .mat format
  folder-300              300 PNG files (the face lesson's 64 px model; scored in street-digits' features)
  street-digits           the built-in set (--street-limit images; 0 = all 50,000)
  python -m benchmarks.quality_cost [--datasets mnist-1500 svhn-1500 folder-300 street-digits] [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from dcgan.config import DataConfig
from dcgan.data.presets import preset_config
from dcgan.data.stand_in_sets import write_mnist_format, write_svhn_format
from dcgan.quality.scoring_classifier import ensure_classifier
from dcgan.quality.tracker import SCORE_BUDGET
from dcgan.runs.manage import create_run
from dcgan.train.trainer import train_run

SETS = ("mnist-1500", "svhn-1500", "folder-300", "street-digits")


def write_folder(root: Path, count: int) -> Path:
    from PIL import Image

    from dcgan.data.street_digits import render_street_digits

    folder = root / "folder-300"
    folder.mkdir(parents=True)
    for i, image in enumerate(render_street_digits(count, 3, 64, 3)[0]):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")
    return folder


def settings_for(name: str, data_dir: Path, args) -> dict:
    """The dataset's preset settings (dataset, data folder, limit) for the run."""
    if name == "mnist-1500":
        write_mnist_format(data_dir, 1500, seed=11)
        return {"dataset": "mnist"}
    if name == "svhn-1500":
        write_svhn_format(data_dir, 1500, seed=12)
        return {"dataset": "svhn"}
    if name == "folder-300":
        return {"dataset": "folder", "folder": str(write_folder(data_dir, 300))}
    return {"dataset": "street-digits", "limit": args.street_limit}


def measure(name: str, data_dir: Path, args) -> str:
    settings = settings_for(name, data_dir, args)
    start = time.perf_counter()
    if settings["dataset"] in ("mnist", "svhn"):  # once per dataset, before any run: not the run's cost
        ensure_classifier(DataConfig(dataset=settings["dataset"], data_dir=str(data_dir)))
    prepared = time.perf_counter() - start
    overrides = {"epochs": args.epochs} if args.epochs else {}
    dataset = settings.pop("dataset")
    config = preset_config(dataset, **settings, **overrides, data_dir=str(data_dir), device=args.device, name=name)
    run = create_run(config)
    start = time.perf_counter()
    final = train_run(run)
    wall = time.perf_counter() - start
    scores = run.read_quality()
    trained, scoring = final["elapsed_s"], final.get("scoring_s") or 0.0
    images = final["step"] * config.train.batch_size
    samples = scores[0]["samples"] if scores else final.get("score_plan", {}).get("samples", 0)
    return (
        f"{name:14} {final['images']:>7,} {final['epoch']:>6g} {images / trained:>11.0f} "
        f"{images / (trained + scoring):>12.0f} "
        f"{trained:>8.1f} {len(scores):>6} {samples:>7,} {scoring:>9.2f} {scoring / trained:>6.1%} "
        f"{wall - trained - scoring:>10.1f} {prepared:>9.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--epochs", type=int, default=0, help="0 = each dataset's preset")
    parser.add_argument("--street-limit", type=int, default=0, help="street-digits images (0 = all 50,000)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    print(
        f"target: scoring at most {SCORE_BUDGET:.0%} of training time. 'other s': loading the data, the real images'\n"
        "reference features (cached after a dataset's first run), the final checkpoint; 'prepare s': training the\n"
        "dataset's classifier, once per dataset\n"
        f"{'dataset':14} {'images':>7} {'epochs':>6} {'train img/s':>11} {'+ scoring':>12} {'train s':>8} "
        f"{'scores':>6} {'samples':>7} {'scoring s':>9} {'share':>6} {'other s':>10} {'prepare s':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DCGAN_RUNS_DIR"] = str(Path(tmp) / "runs")
        for name in args.datasets:
            print(measure(name, Path(tmp) / f"data-{name}", args), flush=True)


if __name__ == "__main__":
    main()
