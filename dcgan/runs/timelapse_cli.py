"""`python -m dcgan timelapse RUN --format gif|mp4 -o FILE`: a run's sample grids as an animation, each frame
labelled with its epoch, step and images seen (the engine: dcgan/runs/timelapse.py; the app's Train page offers
the same files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcgan.runs.timelapse import FORMATS, TimelapseConfig, TimelapseUnavailable


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "timelapse",
        help="a run's sample grids as a GIF or MP4, epoch and step on each frame",
        description="Write a run's saved sample grids, in step order, as an animated GIF or an MP4. "
        'MP4 needs PyAV: pip install "dcgan-studio[video]".',
    )
    parser.add_argument("run", help="run folder, or a run's name under the runs directory")
    parser.add_argument("--format", choices=FORMATS, help="gif or mp4 (default: from -o's suffix, else gif)")
    parser.add_argument("-o", "--output", help="file to write (default RUN-timelapse.gif or .mp4 in this folder)")
    parser.add_argument("--runs-dir", help="where run folders live (default: $DCGAN_RUNS_DIR or ./runs)")
    parser.add_argument(
        "--frame-ms", type=int, default=TimelapseConfig.frame_ms, help="milliseconds per grid (default %(default)s)"
    )
    parser.add_argument(
        "--max-frames",
        type=int,
        default=TimelapseConfig.max_frames,
        help="grids at most; a longer run's are spread evenly (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from dcgan.cli import resolve_run
    from dcgan.fileio import atomic_write_bytes
    from dcgan.runs.timelapse import timelapse_bytes

    suffix = Path(args.output).suffix.lower().lstrip(".") if args.output else ""
    fmt = args.format or (suffix if suffix in FORMATS else "gif")
    output = Path(args.output or f"{Path(args.run).name}-timelapse.{fmt}")
    if output.suffix.lower() != f".{fmt}":
        raise TimelapseUnavailable(f"-o {output}: the file name must end in .{fmt} for --format {fmt}")
    if not output.parent.is_dir():
        raise TimelapseUnavailable(f"-o {output}: the folder {output.parent} does not exist")
    if args.frame_ms < 20 or args.max_frames < 2:
        raise TimelapseUnavailable("--frame-ms must be at least 20 and --max-frames at least 2")
    run_dir = resolve_run(args.run, args.runs_dir)
    cfg = TimelapseConfig(frame_ms=args.frame_ms, max_frames=args.max_frames)
    data, timelapse = timelapse_bytes(run_dir, fmt, cfg)
    for note in timelapse.notes:
        print(f"note: {note}", file=sys.stderr)
    atomic_write_bytes(output, data)
    first, last = timelapse.frames[0], timelapse.frames[-1]
    print(
        f"wrote {len(timelapse.frames)} grids of {run_dir.name} ({first.label()} to {last.label()}) "
        f"to {output} ({len(data) / 1e6:.1f} MB)"
    )
    return 0
