"""The run folder: the contract between the trainer, the CLI, the app's pages and the tests.

    runs/<name>/
      config.json     every setting (RunConfig), the package version, the device used
      metrics.jsonl   one JSON object per logging interval, appended and flushed line by line
      samples/        step0000390.png ... grids from the run's fixed latent batch
      reals.png       a grid of the training images, for comparison
      checkpoint.pt   everything needed to resume (nets, optimizers, step, RNG states, fixed z)
      status.json     state, progress, speed, ETA, last error; rewritten atomically
      quality.jsonl   one JSON object per epoch: the samples' scores in a classifier's features (quality.py)
      generator.pt    the generator alone with its config, when finished or stopped
      lock.json       flock-ed by the one process training this run, which writes its pid in it (runlock.py)
      STOP            created to ask the trainer to stop at the next step
      train.log       output of a run started in the background
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from .fileio import atomic_save_image, atomic_write_bytes, atomic_write_json, read_json
from .runlock import RunLock, RunLocked, owner_of  # noqa: F401  (RunLocked is imported from here by callers)

STATES = ("starting", "running", "finished", "stopped", "failed", "diverged")
ACTIVE_STATES = ("starting", "running")
SAMPLE_NAME = re.compile(r"step(\d+)\.png$")


class RunDirectory:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_path = self.path / "config.json"
        self.metrics_path = self.path / "metrics.jsonl"
        self.quality_path = self.path / "quality.jsonl"
        self.samples_dir = self.path / "samples"
        self.reals_path = self.path / "reals.png"
        self.checkpoint_path = self.path / "checkpoint.pt"
        self.status_path = self.path / "status.json"
        self.generator_path = self.path / "generator.pt"
        self.lock_path = self.path / "lock.json"
        self.lock = RunLock(self.lock_path, self.path.name)
        self.stop_path = self.path / "STOP"
        self.log_path = self.path / "train.log"

    @property
    def name(self) -> str:
        return self.path.name

    def exists(self) -> bool:
        return self.config_path.exists()

    # config.json ---------------------------------------------------------------------------------
    def write_config(self, config: dict) -> None:
        atomic_write_json(self.config_path, config)

    def read_config(self) -> dict:
        config = read_json(self.config_path)
        if config is None:
            raise FileNotFoundError(f"{self.path} is not a run folder (no readable config.json)")
        return config

    # metrics.jsonl -------------------------------------------------------------------------------
    def append_metrics(self, record: dict, path: Path | None = None) -> None:
        # One write of a whole line: a crash can at worst leave a partial last line, which readers skip.
        with open(path or self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def append_quality(self, record: dict) -> None:
        self.append_metrics(record, self.quality_path)

    def read_quality(self) -> list[dict]:
        return self.read_metrics(0, self.quality_path)[0]

    def read_metrics(self, offset: int = 0, path: Path | None = None) -> tuple[list[dict], int]:
        """Complete lines after byte `offset`, and the offset to pass next time (only new lines are read)."""
        try:
            with open(path or self.metrics_path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            return [], 0
        end = chunk.rfind(b"\n") + 1  # a line still being written is left for the next read
        records = []
        for line in chunk[:end].splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn line left by a killed process; resume removes it
        return records, offset + end

    def truncate_metrics(self, last_step: int) -> None:
        """Keep only lines up to `last_step` (the checkpoint's), so a resumed run neither repeats nor skips."""
        for path in (self.metrics_path, self.quality_path):
            if path.exists() or path == self.metrics_path:
                records, _ = self.read_metrics(0, path)
                kept = "".join(json.dumps(r) + "\n" for r in records if r.get("step", 0) <= last_step)
                atomic_write_bytes(path, kept.encode())

    # status.json ---------------------------------------------------------------------------------
    def write_status(self, **fields) -> dict:
        status = {**(self.read_status() or {}), **fields, "updated": time.time()}
        atomic_write_json(self.status_path, status)
        return status

    def read_status(self) -> dict | None:
        return read_json(self.status_path)

    # samples/ ------------------------------------------------------------------------------------
    def save_sample(self, step: int, image) -> Path:
        path = self.samples_dir / f"step{step:07d}.png"
        atomic_save_image(path, image)
        return path

    def samples(self) -> list[tuple[int, Path]]:
        """(step, path) of every saved grid, oldest first."""
        if not self.samples_dir.is_dir():
            return []
        found = ((SAMPLE_NAME.search(p.name), p) for p in self.samples_dir.iterdir())
        return sorted((int(m.group(1)), p) for m, p in found if m)

    # stop requests -------------------------------------------------------------------------------
    def request_stop(self) -> None:
        atomic_write_bytes(self.stop_path, b"stop requested\n")

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    def clear_stop(self) -> None:
        self.stop_path.unlink(missing_ok=True)

    # lock.json (runlock.py) --------------------------------------------------------------------
    def lock_owner(self) -> int | None:
        """The pid of the process training this run (runlock.UNKNOWN_OWNER if unreadable), or None."""
        return owner_of(self.lock_path)

    def acquire_lock(self, inherited_fd: int | None = None) -> None:
        """Hold this run's lock (or adopt the one a launcher handed us); RunLocked if another process has it."""
        if inherited_fd is None:
            self.lock.acquire()
        else:
            self.lock.adopt(inherited_fd)

    def release_lock(self) -> None:
        self.lock.release()
