"""Runs as the app sees them: create, start in the background, list, stop, resume, delete.

A background run is a detached process (its own session) running `python -m dcgan worker RUN`,
so it outlives the Streamlit script that started it, a browser refresh or a closed tab. The run's
lock, taken here and handed to the child (lock.py), keeps two tabs from training one run twice.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from dcgan.config import RunConfig
from dcgan.data.loading import count_train_images, ensure_available
from dcgan.data.registry import dataset_info
from dcgan.devices import resolve_device
from dcgan.errors import ConfigError, RunDamaged, RunLocked
from dcgan.paths import runs_root
from dcgan.runs.directory import ACTIVE_STATES, RunDirectory
from dcgan.runs.launch_command import check_processes, gpu_count, processes_to_resume_with, trainer_command
from dcgan.runs.lock import LOCK_FD_ENV
from dcgan.runs.records import NUMBER, Metric, is_kind
from dcgan.train.resuming import checkpoint_to_resume


def create_run(config: RunConfig, root: str | Path | None = None) -> RunDirectory:
    """A new run folder holding config.json; every setting is checked first, and the folder is filled under
    a hidden name and renamed into place, so a failure (a full disk) leaves nothing half-made behind."""
    config.validate()
    resolve_device(config.train.device)
    ensure_available(config.data)  # a missing dataset is an error now, not in the background
    images = count_train_images(config.data, config.model.image_size, config.model.channels)
    if images < config.train.batch_size:
        raise ConfigError(
            f"{dataset_info(config.data.dataset).title} has {images:,} training images"
            f"{' (with the limit)' if config.data.limit else ''}, fewer than one batch of "
            f"{config.train.batch_size}: use a smaller batch size"
        )
    if not config.name:  # a copy named: the caller's config may be started again (the form, the lab's loop)
        config = dataclasses.replace(config, name=f"{config.data.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    base = runs_root(root)
    if base.exists() and not base.is_dir():
        raise ConfigError(f"the runs folder {base} is a file, not a folder: choose another runs folder")
    base.mkdir(parents=True, exist_ok=True)
    final = base / config.name
    if final.exists():
        raise ConfigError(f"a run named {config.name!r} already exists: resume it, delete it, or choose another name")
    staging = Path(tempfile.mkdtemp(prefix=f".{config.name}.creating-", dir=base))
    try:
        draft = RunDirectory(staging)
        draft.write_config({**config.resolved().to_dict(), "created": time.time()})
        draft.write_status(state="starting", message="waiting for the trainer to start", step=0)
        os.rename(staging, final)  # atomic; refused if another process made a run of this name meanwhile
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if final.exists():
            raise ConfigError(f"a run named {config.name!r} already exists: choose another name") from None
        raise
    return RunDirectory(final)


def launch(run: RunDirectory, lr: float | None = None, restart: bool = False, processes: int = 1) -> int:
    """Start the trainer for `run` as a detached process holding the run's lock; returns its pid at once. With
    `processes` > 1 the process is torchrun, training the run with one process per GPU (launch_command.py).

    `lr` changes the learning rate first and `restart` discards what the run trained (to start again from
    step 0), but only once the lock is ours: a refused launch changes nothing."""
    run.acquire_lock()  # RunLocked if a live process trains it already
    try:
        prepare_resume(run, lr, restart)
        run.write_status(state="starting", message="waiting for the trainer to start", error=None)
        lock_fd = run.lock.held_fd()
        env = {**os.environ, LOCK_FD_ENV: str(lock_fd), "PYTHONUNBUFFERED": "1"}
        with open(run.log_path, "ab") as log:
            child = subprocess.Popen(
                trainer_command(run.path, processes),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                pass_fds=(lock_fd,),
            )
    except BaseException:
        run.release_lock()
        raise
    run.lock.hand_over(child.pid)
    # Wait for the child in a thread, so a finished trainer does not stay a <defunct> child of the app's server.
    threading.Thread(target=child.wait, name=f"reap-{child.pid}", daemon=True).start()
    return child.pid


def start_run(config: RunConfig, root: str | Path | None = None, processes: int = 1) -> RunDirectory:
    """A new run, trained in the background; on `processes` GPUs through torchrun when more than one."""
    check_processes(processes, config.train.device, config.train.batch_size, gpu_count() if processes > 1 else 0)
    run = create_run(config, root)
    launch(run, processes=processes)
    return run


def resume(run: RunDirectory | str | Path, lr: float | None = None, restart: bool = False) -> RunDirectory:
    """Continue a stopped, interrupted, diverged or failed run in the background, from its checkpoint
    (or, with `restart`, from step 0)."""
    run = run if isinstance(run, RunDirectory) else RunDirectory(run)
    if run.path.is_dir() and not run.exists():
        raise RunDamaged(f"run {run.name} has no config.json, so it cannot be resumed: delete it")
    if not run.exists():
        raise FileNotFoundError(f"no run folder at {run.path}")
    processes = processes_to_resume_with(run.read_config(), gpu_count())
    launch(run, lr, restart, processes)
    return run


def prepare_resume(run: RunDirectory, lr: float | None, restart: bool) -> None:
    """The changes a resume asks for, made by the holder of the run's lock just before it trains."""
    if not run.lock.held:
        raise RunLocked(f"run {run.name} can be changed only by the process that resumes it")
    config = run.read_run_config()  # a damaged config.json is reported now, before anything changes
    if not restart:
        checkpoint_to_resume(run, config)  # refusals (a lost checkpoint, an edited config) too: the trainer would
    if lr is not None:
        set_learning_rate(run, lr)
    if restart:
        run.discard_training()
    run.clear_stop()


def set_learning_rate(run: RunDirectory, lr: float) -> None:
    """Change a run's learning rate before resuming it (the watchdog's advice after a divergence).
    Only the holder of the run's lock may: a run being trained keeps the settings it runs with."""
    if not run.lock.held:
        raise RunLocked(f"run {run.name}'s settings can be changed only by the process that resumes it")
    if not (lr > 0 and math.isfinite(lr)):
        raise ConfigError(f"learning rate must be a positive number, not {lr}")
    raw = run.read_config()
    before = run.read_run_config().train.lr
    raw["train"]["lr"] = lr
    for own in ("lr_g", "lr_d"):  # TTUR's own rates change by the same factor, so their ratio is kept
        if raw["train"].get(own):
            raw["train"][own] *= lr / before
    run.write_config(raw)


def request_stop(run: RunDirectory) -> None:
    run.request_stop()


def effective_state(run: RunDirectory, status: dict | None = None) -> str:
    """The status's state, or 'interrupted' when it says running but no process holds the run any more."""
    status = status if status is not None else (run.read_status() or {})
    state = status.get("state", "unknown")
    if state in ACTIVE_STATES and run.lock_owner() is None:
        return "interrupted"
    return state


def list_runs(root: str | Path | None = None) -> list[dict]:
    """One summary per run folder, newest first: what the runs table and `python -m dcgan runs` show.
    Stray files are left out; a folder whose files are damaged is listed as 'damaged', with the reason."""
    base = runs_root(root)
    if base.exists() and not base.is_dir():
        raise ConfigError(f"the runs folder {base} is a file, not a folder: choose another runs folder")
    if not base.is_dir():
        return []
    folders = [p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")]  # hidden: being created
    summaries = [run_summary(RunDirectory(p)) for p in folders]
    return sorted(summaries, key=lambda s: s["created"], reverse=True)


def run_summary(run: RunDirectory) -> dict:
    """What the tables show of one run; `problem` says what is damaged (None when nothing is)."""
    problems = []
    try:
        raw = run.read_config()
        config = RunConfig.from_dict(raw).validate().resolved()
    except FileNotFoundError:
        raw, config = {}, None
        problems.append("config.json is missing")
    except (RunDamaged, ConfigError) as err:
        raw, config = {}, None
        problems.append(f"config.json: {err}" if isinstance(err, ConfigError) else str(err))
    status, status_problem = run.read_status_checked()
    status = status or {}
    if status_problem:
        problems.append(status_problem)
    file_problems = run.file_problems()
    problems += file_problems
    state = effective_state(run, status)
    if problems and state not in ACTIVE_STATES:
        state = "damaged"
    last = status.get("last") or {}
    created = raw.get("created")
    return {
        "name": run.name,
        "path": str(run.path),
        "dataset": config.data.dataset if config else None,
        "state": state,
        "epoch": status.get("epoch") or 0.0,
        "epochs": config.train.epochs if config else None,
        "step": status.get("step") or 0,
        "total_steps": status.get("total_steps"),
        # the newest metrics line's losses and the training speed, under their metrics.jsonl names
        Metric.D_LOSS: last.get(Metric.D_LOSS),
        Metric.G_LOSS: last.get(Metric.G_LOSS),
        Metric.IMAGES_PER_S: status.get("images_per_s"),
        "created": created if is_kind(created, NUMBER) else _folder_time(run),
        "message": "; ".join(problems) if problems else status.get("message"),
        "problem": "; ".join(problems) or None,
        "resumable": config is not None and not file_problems,
        # for a page showing this run, so it reads each file once a refresh
        "status": status,
        "settings": {**config.to_dict(), "device_used": raw.get("device_used")} if config else {},
    }


def _folder_time(run: RunDirectory) -> float:
    try:
        return run.path.stat().st_mtime
    except OSError:
        return 0.0


def delete_run(run: RunDirectory) -> None:
    """Remove the run folder; held locked meanwhile, so a trainer cannot start in a half-deleted folder."""
    try:
        run.acquire_lock()
    except RunLocked:
        raise RunLocked(f"run {run.name} is training: stop it before deleting it") from None
    try:
        shutil.rmtree(run.path)
    finally:
        run.release_lock()
