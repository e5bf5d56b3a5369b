"""What writing a checkpoint, a snapshot and a grid at every epoch's end costs a run on a small dataset.

Two runs of the same settings in this process, alternately: the reference writes them at every epoch's end
(train.epoch_files_min_images = 0, as before the setting existed), ours at the default (only once 20,000 images
trained since the last). A small --limit makes short epochs, which is where the writes weigh: on a GPU a 64 px
epoch of 1,000 images lasts about 20 ms (../shared/GPU_NOTES.md) and a 64 px checkpoint takes about 0.2 s to write.
Prints each run's training images/s (fastest of --repeat) and the ratio ours / reference.
  python -m benchmarks.epoch_files [--image-size 64] [--limit 512] [--epochs 20] [--repeat 2] [--device auto]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dcgan.config import RunConfig, TrainConfig, apply_overrides
from dcgan.runs.manage import create_run
from dcgan.train.trainer import train_run


def one_run(root: Path, name: str, args, min_images: int) -> float:
    config = apply_overrides(
        RunConfig(),
        {
            "name": name,
            "limit": args.limit,
            "image_size": args.image_size,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "device": args.device,
            "score_samples": 0,  # the score has its own budget; left out of both
            "epoch_files_min_images": min_images,
        },
    )
    run = create_run(config, root)
    start = time.perf_counter()
    final = train_run(run)
    wall = time.perf_counter() - start
    assert final["state"] == "finished", final
    return final["step"] * args.batch_size / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=512, help="street-digits images: a small dataset, short epochs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest counts")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    default = TrainConfig().epoch_files_min_images
    speeds: dict[int, list[float]] = {0: [], default: []}
    with tempfile.TemporaryDirectory() as folder:
        for attempt in range(args.repeat):
            for min_images in speeds:
                speeds[min_images].append(one_run(Path(folder), f"r{attempt}-{min_images}", args, min_images))
    reference, ours = max(speeds[0]), max(speeds[default])
    steps = args.limit // args.batch_size
    listed = {k: ", ".join(f"{v:.1f}" for v in runs) for k, runs in speeds.items()}
    print(f"{args.image_size} px, {args.limit} images ({steps} steps an epoch), batch {args.batch_size}, "
          f"{args.epochs} epochs")  # fmt: skip
    print(f"reference, files at every epoch end: {reference:8.1f} img/s (runs {listed[0]})")
    print(f"ours, files once {default:,} images trained: {ours:8.1f} img/s (runs {listed[default]})")
    print(f"ours / reference: {ours / reference:.2f}x")


if __name__ == "__main__":
    main()
