"""`torchrun --nproc_per_node=N -m dcgan train | resume | worker ...`: one run trained by N processes.

Every process parses the same command line. Rank 0 alone makes or prepares the run folder (create_run, or the
resume's lock and changes) and tells the others which folder it is, or the error that stopped it, so every process
ends the same way; then all train together (distributed.py), rank 0 with the progress bar, the others silently.
`worker` is what the app's launch runs (runs/launch_command.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import torch.distributed as dist

from dcgan.errors import CheckpointError, ConfigError, DatasetUnavailable, ResumeRefused, RunDamaged, RunLocked
from dcgan.runs.directory import RunDirectory
from dcgan.train.distributed import FollowerRun, Group
from dcgan.train.torchrun_env import Place

USAGE_ERROR = 2
FAILED = 1
EXPECTED_ERRORS = (
    ConfigError,
    DatasetUnavailable,
    CheckpointError,
    RunLocked,
    ResumeRefused,
    RunDamaged,
    FileNotFoundError,
    ValueError,
)


def _say(place: Place, message: str) -> None:
    who = "dcgan" if place.rank == 0 else f"dcgan (process {place.rank})"
    print(f"{who}: {message}", file=sys.stderr)


def _asked_device(args) -> str:
    """The device the run trains on, known to every process before they meet: from the flags (train) or the run's
    config.json (resume, worker)."""
    if args.command == "train":
        return _train_config(args).train.device
    from dcgan.cli import resolve_run

    run = RunDirectory(args.run) if args.command == "worker" else resolve_run(args.run, args.runs_dir)
    return run.read_run_config().train.device


def _train_config(args):
    from dcgan.cli import config_from_args

    return config_from_args(args)


def _prepare_on_rank_0(args, world_size: int) -> RunDirectory:
    """What the command does before training, done by rank 0 alone: a refused step changes nothing."""
    from dcgan.cli import check_runs_dir, resolve_run
    from dcgan.data.sharded import share_of_batch
    from dcgan.runs.manage import create_run, prepare_resume

    if args.command == "train":
        config = _train_config(args)
        share_of_batch(config.train.batch_size, world_size)  # before a run folder is made
        check_runs_dir(args.runs_dir)
        return create_run(config, args.runs_dir)
    if args.command == "worker":
        return RunDirectory(args.run)
    run = resolve_run(args.run, args.runs_dir)
    share_of_batch(run.read_run_config().train.batch_size, world_size)
    run.acquire_lock()
    try:
        prepare_resume(run, args.lr, args.restart)
    except BaseException:
        run.release_lock()
        raise
    return run


def run_under_torchrun(args, place: Place) -> int:
    """The command, trained by this process and its torchrun peers; the exit status."""
    from dcgan.runs.lock import LOCK_FD_ENV

    if getattr(args, "background", False):
        _say(place, "error: --background starts its own trainer; under torchrun the processes are the run: drop it")
        return USAGE_ERROR
    lock_fd = os.environ.pop(LOCK_FD_ENV, None)
    terminated = _terminate_flag()
    try:
        team = Group.join(place, _asked_device(args))
    except EXPECTED_ERRORS as err:
        _say(place, f"error: {err}")
        return USAGE_ERROR
    code = FAILED
    try:
        code = _train_together(args, team, lock_fd, terminated)
        return code
    finally:
        # After a run every process ended, all wait for the last (rank 0 still exports and samples) before the
        # group is torn down: a process that destroyed its gloo group while a peer still held the connection
        # sometimes aborted at exit ("terminate called without an active exception", exit -6) although its run
        # had finished. After a failure a peer may be gone, so nothing waits for it then.
        team.leave(wait_for_peers=code == 0)


def _train_together(args, team: Group, lock_fd: str | None, terminated: threading.Event) -> int:
    from dcgan.train.terminal import train_in_terminal
    from dcgan.train.trainer import train_run

    prepared: list = [None, None]  # [run folder, error] from rank 0
    run = None  # rank 0's, holding the lock a resume took
    if team.writes:
        try:
            run = _prepare_on_rank_0(args, team.world_size)
            prepared[0] = str(run.path)
        except EXPECTED_ERRORS as err:
            prepared[1] = str(err)
    dist.broadcast_object_list(prepared, src=0)
    path, error = prepared
    if error is not None:
        if team.writes:
            _say(team.place, f"error: {error}")
        return USAGE_ERROR
    lock = int(lock_fd) if lock_fd else None
    try:
        if run is not None:
            return train_in_terminal(run, team=team, abort_fn=terminated.is_set, lock_fd=lock)
        final = train_run(FollowerRun(path), abort_fn=terminated.is_set, team=team)
        return 0 if final["state"] in ("finished", "stopped") else FAILED
    except EXPECTED_ERRORS as err:
        _say(team.place, f"error: {err}")
        return USAGE_ERROR
    except Exception as err:  # a peer that died, most often: rank 0 wrote why in status.json
        status = RunDirectory(path).read_status() or {} if team.writes else {}
        reason = status.get("message") or team.explain_failure(err, 0) or f"{type(err).__name__}: {err}"
        _say(team.place, f"error: {reason.splitlines()[0]}")
        return FAILED


def _terminate_flag() -> threading.Event:
    """SIGTERM and SIGINT (torchrun forwards them to its processes) become a stop agreed at the next logging step,
    with a checkpoint; the trainer's own handler does the same while it trains. A process that meets a dead
    peer's error must not be killed by the same signal before rank 0 has written what happened."""
    flag = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: flag.set())
    return flag
