"""`python -m dcgan rollback RUN --epoch K [--lr X] [--background]`: roll a run back to its snapshot of epoch K
(runs/snapshots.py says what is restored and what starts afresh), then train on from there."""

from __future__ import annotations

import argparse
import math
import sys

from dcgan.errors import ConfigError


def add_parser(sub) -> None:
    rollback = sub.add_parser(
        "rollback",
        help="roll a run back to an epoch's snapshot and train on from there (after a collapse)",
        description="Roll a run back to the snapshot of G and D written at the end of epoch K "
        "(snapshots/epochNNNN.pt), "
        "discard what it trained after that (metrics, scores, grids, later snapshots), and train on from there. "
        "D comes back from the same epoch; both Adam states start afresh (their moments led to the collapse).",
    )
    rollback.add_argument("run", help="run folder, or a run's name under the runs directory")
    rollback.add_argument("--epoch", type=int, required=True, help="the epoch whose snapshot to continue from")
    rollback.add_argument("--lr", type=float, help="train on with this learning rate (lower, after a collapse)")
    rollback.add_argument("--runs-dir")
    rollback.add_argument("--background", action="store_true", help="train on detached and return at once")


def run(args: argparse.Namespace) -> int:
    from dcgan.cli import resolve_run
    from dcgan.runs.manage import launch, prepare_resume
    from dcgan.runs.snapshots import roll_back
    from dcgan.train.terminal import train_in_terminal

    if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
        raise ConfigError(f"--lr must be a positive number, not {args.lr}")
    target = resolve_run(args.run, args.runs_dir)
    target.acquire_lock()  # RunLocked while another process trains it: nothing is changed then
    try:
        where = roll_back(target, args.epoch, args.lr)
        print(f"rolled {target.name} back to epoch {where['epoch']} (step {where['step']:,})", file=sys.stderr)
        if args.background:
            print(f"training on in the background (pid {launch(target)})")
            return 0
        prepare_resume(target, None, False)
    except BaseException:
        target.release_lock()
        raise
    return train_in_terminal(target)
