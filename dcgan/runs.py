"""Runs as the app sees them: create, start in the background, list, stop, resume, delete.

A background run is a detached process (its own session) running `python -m dcgan worker RUN`,
so it outlives the Streamlit script that started it, a browser refresh or a closed tab. The lock
in the run folder (with a token handed to the child) keeps two tabs from training one run twice.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .config import ConfigError, RunConfig
from .datasets import REPO_ROOT, ensure_available
from .devices import resolve_device
from .fileio import read_json
from .rundir import ACTIVE_STATES, RunDirectory, RunLocked

LOCK_TOKEN_ENV = "DCGAN_LOCK_TOKEN"


def runs_root(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get("DCGAN_RUNS_DIR") or REPO_ROOT / "runs")


def create_run(config: RunConfig, root: str | Path | None = None) -> RunDirectory:
    """A new run folder holding config.json; every setting is checked first, so nothing half-made is left."""
    config.validate()
    resolve_device(config.train.device)
    ensure_available(config.data)  # a missing dataset is an error now, not in the background
    if not config.name:
        config.name = f"{config.data.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    run = RunDirectory(runs_root(root) / config.name)
    if run.path.exists():
        raise ConfigError(f"a run named {config.name!r} already exists: resume it, delete it, or choose another name")
    run.path.mkdir(parents=True)
    run.write_config({**config.to_dict(), "created": time.time()})
    run.write_status(state="starting", message="waiting for the trainer to start", step=0)
    return run


def launch(run: RunDirectory) -> int:
    """Start the trainer for `run` as a detached process; returns its pid at once."""
    token = secrets.token_hex(8)
    run.acquire_lock(token=token)  # RunLocked if a live process trains it already
    run.clear_stop()
    env = {**os.environ, LOCK_TOKEN_ENV: token, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with open(run.log_path, "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "dcgan", "worker", str(run.path)], stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env,
                                 start_new_session=True)
    run.transfer_lock(child.pid, token)
    run.write_status(state="starting", pid=child.pid, message="waiting for the trainer to start", error=None)
    return child.pid


def start_run(config: RunConfig, root: str | Path | None = None) -> RunDirectory:
    run = create_run(config, root)
    launch(run)
    return run


def resume(run: RunDirectory | str | Path) -> RunDirectory:
    """Continue a stopped, interrupted, diverged or failed run in the background, from its checkpoint."""
    run = run if isinstance(run, RunDirectory) else RunDirectory(run)
    if not run.exists():
        raise FileNotFoundError(f"no run folder at {run.path}")
    launch(run)
    return run


def set_learning_rate(run: RunDirectory, lr: float) -> None:
    """Change a run's learning rate before resuming it (the watchdog's advice after a divergence)."""
    if not lr > 0:
        raise ConfigError(f"learning rate must be positive, not {lr}")
    raw = run.read_config()
    raw["train"]["lr"] = lr
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
    """One summary per run folder, newest first: what the runs table and `python -m dcgan runs` show."""
    base = runs_root(root)
    summaries = []
    for path in base.iterdir() if base.is_dir() else []:
        run = RunDirectory(path)
        config = read_json(run.config_path)
        if not isinstance(config, dict):
            continue
        status = run.read_status() or {}
        last = status.get("last") or {}
        summaries.append({
            "name": run.name, "path": str(run.path), "dataset": config.get("data", {}).get("dataset"),
            "state": effective_state(run, status), "epoch": status.get("epoch", 0.0),
            "epochs": config.get("train", {}).get("epochs"), "step": status.get("step", 0),
            "total_steps": status.get("total_steps"), "d_loss": last.get("d_loss"), "g_loss": last.get("g_loss"),
            "images_per_s": status.get("images_per_s"), "created": config.get("created"),
            "message": status.get("message"),
        })
    return sorted(summaries, key=lambda s: s.get("created") or 0, reverse=True)


def delete_run(run: RunDirectory) -> None:
    if run.lock_owner() is not None:
        raise RunLocked(f"run {run.name} is training: stop it before deleting it")
    shutil.rmtree(run.path)
