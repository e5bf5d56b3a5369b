"""The run folder: the contract between the trainer, the CLI, the app's pages and the tests.

runs/<name>/
  config.json     every setting (RunConfig), the package version, the device used
  metrics.jsonl   one JSON object per logging interval, appended and flushed line by line
  samples/        step0000390.png ... grids from the run's fixed latent batch; thinned (runs/sample_grids.py)
  reals.png       a grid of the training images, for comparison
  checkpoint.pt   everything needed to resume (nets, optimizers, step, RNG states, fixed z)
  status.json     state, progress, speed, ETA, last error; rewritten atomically
  quality.jsonl   one JSON object per epoch: the samples' scores in a classifier's features (quality/score.py)
  generator.pt    the generator alone with its config, when finished or stopped (G's average when ema_half_life is on)
  best_generator.pt  the generator at the best quality score so far, its score, epoch and step inside (runs/best.py)
  snapshots/      epoch0003.pt ...: G and D at epoch ends, half precision, to roll back to; thinned (runs/snapshots.py)
  lock.json       flock-ed by the one process training this run, which writes its pid in it (lock.py)
  STOP            created to ask the trainer to stop at the next step
  train.log       output of a run started in the background
"""

from __future__ import annotations

import errno
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from dcgan.errors import RunDamaged
from dcgan.fileio import atomic_save_image, atomic_write_bytes, atomic_write_json, overwrite_in_place
from dcgan.runs.lock import RunLock, owner_of
from dcgan.runs.records import clean_status, parse_metrics_line, parse_quality_line

if TYPE_CHECKING:
    from dcgan.config import RunConfig

# status.json's state is one of starting, running, finished, stopped, failed, diverged; these two mean a trainer
# is (or should be) at work on the run.
ACTIVE_STATES = ("starting", "running")
SAMPLE_NAME = re.compile(r"step(\d+)\.png$")


class LinesRead(NamedTuple):
    records: list[dict]
    offset: int  # where the next read starts
    skipped: int  # damaged lines left out


def read_json_object(path: Path) -> dict:
    """A JSON object from `path`: FileNotFoundError if absent; RunDamaged saying why if it cannot be used."""
    path = Path(path)
    shown = f"{path.parent.name}/{path.name}"  # the run's name and the file
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as err:
        raise RunDamaged(f"{shown} cannot be read ({err.strerror or err})") from None
    try:
        obj = json.loads(data)
    except UnicodeDecodeError:
        raise RunDamaged(f"{shown} is not text (invalid UTF-8)") from None
    except ValueError:
        raise RunDamaged(f"{shown} is not valid JSON (damaged or cut short)") from None
    if not isinstance(obj, dict):
        raise RunDamaged(f"{shown} holds a JSON {type(obj).__name__}, not a JSON object")
    return obj


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
        """config.json as a dict; FileNotFoundError if absent, RunDamaged if unreadable (the reason said)."""
        return read_json_object(self.config_path)

    def read_run_config(self) -> RunConfig:
        """config.json as a validated RunConfig with its automatic settings resolved (RunConfig.resolved: what
        training uses); RunDamaged says which setting is wrong."""
        from dcgan.config import RunConfig
        from dcgan.errors import ConfigError

        try:
            return RunConfig.from_dict(self.read_config()).validate().resolved()
        except ConfigError as err:
            raise RunDamaged(f"config.json of run {self.name}: {err}") from None

    # metrics.jsonl and quality.jsonl ---------------------------------------------------------------
    def append_metrics(self, record: dict) -> None:
        _append_json_line(self.metrics_path, record)

    def read_metrics(self, offset: int = 0) -> LinesRead:
        """metrics.jsonl's complete lines after byte `offset`, the offset to pass next time (only new lines are
        read), and how many lines were damaged (skipped)."""
        return _read_json_lines(self.metrics_path, offset, parse_metrics_line)

    def append_quality(self, record: dict) -> None:
        _append_json_line(self.quality_path, record)

    def read_quality(self) -> list[dict]:
        """quality.jsonl's well-formed lines (one per scored epoch), oldest first."""
        return _read_json_lines(self.quality_path, 0, parse_quality_line).records

    def discard_after(self, last_step: int) -> None:
        """Forget what training after `last_step` (the checkpoint's) wrote: metrics and quality lines, and
        sample grids. A resumed run then neither repeats nor skips, and shows nothing it threw away.
        Damaged lines go too."""
        kept_metrics = [r for r in self.read_metrics().records if r["step"] <= last_step]
        _rewrite_json_lines(self.metrics_path, kept_metrics)
        if self.quality_path.exists():
            _rewrite_json_lines(self.quality_path, [r for r in self.read_quality() if r["step"] <= last_step])
        for step, grid in self.samples():
            if step > last_step:
                grid.unlink(missing_ok=True)

    def file_problems(self) -> list[str]:
        """Files of the contract that are there but are not plain files (a folder named metrics.jsonl...)."""
        files = (
            self.config_path,
            self.metrics_path,
            self.quality_path,
            self.checkpoint_path,
            self.status_path,
            self.generator_path,
            self.lock_path,
        )
        return [f"{path.name} is not a file" for path in files if path.exists() and not path.is_file()]

    def discard_training(self) -> None:
        """Everything training wrote, for a deliberate restart from step 0; config.json and the log stay."""
        best = self.path / "best_generator.pt"
        for path in (self.checkpoint_path, self.generator_path, best, self.reals_path, self.path / "error.txt"):
            path.unlink(missing_ok=True)
        snapshots = self.path / "snapshots"  # runs/snapshots.py
        for path in snapshots.glob("epoch*.pt") if snapshots.is_dir() else ():
            path.unlink(missing_ok=True)
        self.discard_after(0)
        self.write_status(
            state="starting",
            message="restarting from step 0",
            step=0,
            epoch=0.0,
            last=None,
            error=None,
            eta_s=None,
            elapsed_s=None,
        )

    def remove_leftover_temp_files(self) -> int:
        """Delete the temporary files of writes a killed process never finished (fileio's `.NAME.*.tmp`).
        Call only while holding the lock: then no write of this run is under way."""
        leftovers = [
            p
            for folder in (self.path, self.samples_dir)
            if folder.is_dir()
            for p in folder.glob(".*.tmp")
            if p.is_file()
        ]
        for p in leftovers:
            p.unlink(missing_ok=True)
        return len(leftovers)

    # status.json ---------------------------------------------------------------------------------
    def write_status(self, **fields) -> dict:
        status = {**(self.read_status() or {}), **fields, "updated": time.time()}
        atomic_write_json(self.status_path, status)
        return status

    def write_status_even_if_full(self, **fields) -> dict:
        """write_status, or on a full disk (no room for the temporary file of an atomic write) the new
        status written over the old file's bytes, in the space it already has: a run that failed for lack
        of space must still say so. Compact, and cut to state and error if even that does not fit."""
        try:
            return self.write_status(**fields)
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
        status = {**(self.read_status() or {}), **fields, "updated": time.time()}
        for attempt in (status, {k: status.get(k) for k in ("state", "error", "message", "step", "updated")}):
            try:
                overwrite_in_place(self.status_path, json.dumps(attempt, separators=(",", ":")).encode())
                return attempt
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
        return status

    def read_status(self) -> dict | None:
        """status.json's well-formed fields (see records.py), or None when it is absent or unreadable."""
        return self.read_status_checked()[0]

    def read_status_checked(self) -> tuple[dict | None, str | None]:
        """(status or None, what is damaged in it or None)."""
        try:
            raw = read_json_object(self.status_path)
        except FileNotFoundError:
            return None, None
        except RunDamaged as err:
            return None, str(err)
        return clean_status(raw)

    # samples/ ------------------------------------------------------------------------------------
    def sample_path(self, step: int) -> Path:
        return self.samples_dir / f"step{step:07d}.png"

    def save_sample(self, step: int, image) -> Path:
        path = self.sample_path(step)
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

    # lock.json (lock.py) ------------------------------------------------------------------------
    def lock_owner(self) -> int | None:
        """The pid of the process training this run (lock.UNKNOWN_OWNER if unreadable), or None."""
        return owner_of(self.lock_path)

    def acquire_lock(self, inherited_fd: int | None = None) -> None:
        """Hold this run's lock (or adopt the one a launcher handed us); RunLocked if another process has it."""
        if inherited_fd is None:
            self.lock.acquire()
        else:
            self.lock.adopt(inherited_fd)

    def release_lock(self) -> None:
        self.lock.release()


# -- JSON lines (metrics.jsonl, quality.jsonl) ---------------------------------------------------------------
def _append_json_line(path: Path, record: dict) -> None:
    # One write of a whole line: a crash can at worst leave a partial last line, which readers skip.
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def _read_json_lines(path: Path, offset: int, parse: Callable[[bytes], dict | None]) -> LinesRead:
    """The complete lines after byte `offset` that `parse` accepts, the offset of the next read, and how many
    lines it refused (damaged)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except FileNotFoundError:
        return LinesRead([], 0, 0)
    except OSError:  # not a file (file_problems says so) or unreadable: nothing can be read from it
        return LinesRead([], 0, 0)
    end = chunk.rfind(b"\n") + 1  # a line still being written is left for the next read
    records, skipped = [], 0
    for line in chunk[:end].splitlines():
        record = parse(line)
        if record is None:
            skipped += line.strip() != b""  # a torn line left by a killed process, or a damaged one
        else:
            records.append(record)
    return LinesRead(records, offset + end, skipped)


def _rewrite_json_lines(path: Path, records: list[dict]) -> None:
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in records).encode())
