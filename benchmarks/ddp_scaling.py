"""Images/s of one run trained by 1, 2, ... N processes (torchrun + DistributedDataParallel), against 1 process.

Each count trains the same run through the command line a person types, in a fresh runs folder: 1 process is the
plain `python -m dcgan train` (the single-process path: on CUDA its whole step is one CUDA graph), N > 1 is
`torchrun --standalone --nproc_per_node=N -m dcgan train` (one GPU per process, eager steps, NCCL; or gloo on CPUs).
The rate is read from the run's metrics.jsonl, leaving out the first lines (start-up, data drawing, warm-up).
Strong scaling by default (the global batch stays --batch-size, split over the processes); --weak keeps each
process's batch at --batch-size instead.

  python -m benchmarks.ddp_scaling --device cpu                   # this CPU: 1 and 2 processes, a 16 px model
  python -m benchmarks.ddp_scaling --device cuda --image-size 64  # every GPU of the machine, the paper's model
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_LINES = 3  # metrics lines left out of the rate: the start-up's, and two for warm-up


def train(processes: int, flags: list[str], runs_dir: Path, data_dir: str) -> tuple[float, float]:
    """(images/s of training, wall seconds of the whole command) for one run on `processes` processes."""
    name = f"scale-{processes}"
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else []
    argv = [sys.executable, *launcher, "-m", "dcgan", "train", *flags, "--name", name]
    env = {**os.environ, "DCGAN_RUNS_DIR": str(runs_dir), "DCGAN_DATA_DIR": data_dir}
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{processes} process(es) failed:\n{done.stderr[-2000:]}")
    from dcgan.runs.directory import RunDirectory

    records = RunDirectory(runs_dir / name).read_metrics().records
    if len(records) <= SKIPPED_LINES + 1:
        sys.exit("the run logged too few lines to time: give more --epochs or a smaller --log-every")
    first, last = records[SKIPPED_LINES], records[-1]
    return (last["images_seen"] - first["images_seen"]) / (last["time"] - first["time"]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--max-processes", type=int, default=0, help="0 = the GPUs (cuda) or the cores (cpu)")
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=0, help="g and d width; 0 = the size's default")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch (per process with --weak)")
    parser.add_argument("--weak", action="store_true", help="keep each process's batch, not the global one")
    parser.add_argument("--limit", type=int, default=4096, help="street-digits images (0 = all 50k)")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    import torch

    most = args.max_processes or (torch.cuda.device_count() if args.device == "cuda" else os.cpu_count() or 1)
    counts = [n for n in (1, 2, 4, 8, 16) if n <= most] or [1]
    print(
        f"{args.device}: {args.image_size} px, width {args.width or 'default'}, "
        f"{'batch ' + str(args.batch_size) + ' per process' if args.weak else 'global batch ' + str(args.batch_size)}"
        f", {args.limit or 50_000} street-digits images, {args.epochs} epochs; processes: {counts}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = os.environ.get("DCGAN_DATA_DIR") or str(Path(tmp) / "data")
        base = None
        for n in counts:
            batch = args.batch_size * n if args.weak else args.batch_size
            flags = [
                *("--device", args.device, "--image-size", str(args.image_size), "--batch-size", str(batch)),
                *("--limit", str(args.limit), "--epochs", str(args.epochs), "--log-every", "10"),
                *("--score-samples", "0", "--seed", "0"),
                *(("--g-width", str(args.width), "--d-width", str(args.width)) if args.width else ()),
            ]
            rate, wall = train(n, flags, Path(tmp) / f"runs-{n}", data_dir)
            base = base or rate
            print(
                f"{n:>2} process(es): {rate:>10,.0f} images/s of training  {rate / base:5.2f}x of 1 process  "
                f"(per process {rate / n:,.0f}; whole command {wall:.1f} s)"
            )


if __name__ == "__main__":
    main()
