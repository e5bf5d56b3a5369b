"""TensorBoard event files in the run folder, beside metrics.jsonl: `tensorboard --logdir runs` shows every run.

runs/<name>/events.out.tfevents.<time>.<host>.<pid>.<n>   one file per training process (a resume adds one)

What a file holds (tags), all in the run's own folder, so TensorBoard shows one run per run folder:
  loss/d_loss, loss/g_loss, d_output/d_real, d_output/d_fake, speed/images_per_s
      scalars at each metrics.jsonl line, at its step (the same numbers)
  quality/frechet, quality/precision, quality/recall, quality/density, quality/coverage, quality/confidence,
  quality/inception_like
      scalars at each quality.jsonl line (each scored epoch), at its step
  samples   each saved grid (samples/stepNNNNNNN.png, the same PNG bytes), at its step
  reals     the training images' grid (reals.png), at step 0
  _hparams_/...   the run's settings (model.*, data.*, train.*, device_used) for the HParams page, written
      as torch.utils.tensorboard.summary.hparams' three summaries into this file: SummaryWriter.add_hparams
      would put them in a sub-folder, which TensorBoard lists as a second run
  custom_scalars__config__   a Custom Scalars layout: D and G loss on one chart, D(x) and D(G(z)) on another

Optional: without the `tensorboard` package (pip install 'dcgan-studio[tensorboard]') nothing is written and
training is unchanged; it is imported only when a trainer starts, so the CLI and a GPU box do not need it.

Only the trainer writes, the process holding the run's lock. Each file starts with a SessionLog START at
the first step it will log, the checkpoint's + 1 (what SummaryWriter's purge_step writes, but in every
file: TensorBoard's Python loader takes a run's first START for its beginning): at a resume TensorBoard then
hides what the killed process logged after the checkpoint, as discard_after drops those metrics lines, so
the curves do not zig-zag. (Its Rust data server, the default where installed, ignores STARTs, but a step
logged again replaces the old point: the same curves once the resumed run has passed the killed one's last
step.) A run started again from step 0 deletes the old files.

Written synchronously under a lock (the scalars from the training loop, the grids from the trainer's writer
thread), flushed at checkpoints, every FLUSH_SECONDS and on close: a few hundred bytes per metrics line.
SummaryWriter is not used because its writer thread prints a traceback when a write fails and raises it
later from whichever call comes next. Here a failed write (a full disk...) turns the writer off for the
rest of the process with one line on stderr and in `problem`: training goes on, and the run's own files
(metrics, status, checkpoint) decide how the run ends, as they would without TensorBoard.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import sys
import threading
import time
from itertools import count
from pathlib import Path
from typing import BinaryIO

import numpy as np

EVENT_FILE_PATTERN = "events.out.tfevents.*"
FLUSH_SECONDS = 10.0  # TensorBoard reloads every 5 s: a live run's curves are at most this late
METRIC_TAGS = {
    "d_loss": "loss/d_loss",
    "g_loss": "loss/g_loss",
    "d_real": "d_output/d_real",
    "d_fake": "d_output/d_fake",
    "images_per_s": "speed/images_per_s",
}
QUALITY_TAGS = {
    name: f"quality/{name}"
    for name in ("frechet", "precision", "recall", "density", "coverage", "confidence", "inception_like")
}
SAMPLES_TAG, REALS_TAG = "samples", "reals"
# The HParams page's metric columns (scalar tags of the same run); each run's latest value is shown.
HPARAM_METRICS = (
    "quality/frechet",
    "quality/precision",
    "quality/recall",
    "loss/d_loss",
    "loss/g_loss",
    "d_output/d_real",
    "d_output/d_fake",
)
LAYOUT = {
    "GAN": {
        "D and G loss": ["Multiline", ["loss/d_loss", "loss/g_loss"]],
        "D(x) and D(G(z))": ["Multiline", ["d_output/d_real", "d_output/d_fake"]],
    }
}
PNG_COLOURS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> channels (grey, RGB, grey+alpha, RGBA)
_file_numbers = count()


# -- the file format: TFRecord framing, with a CRC-32C fast enough for images -----------------------------------
class _Crc32c:
    """CRC-32C (Castagnoli), as TensorFlow's record format checks it. tensorboard's own is a byte-at-a-time
    Python loop: 30-50 ms for a 180 KB sample grid on a 2-core CPU, holding the GIL against the training loop.
    Here a long input is cut into BLOCK-byte blocks whose CRC registers numpy advances together, then joined in
    order (the CRC is linear: a block moves the register as BLOCK zero bytes would, XOR the block's own CRC
    from 0): 3 ms."""

    BLOCK = 512
    POLY = 0x82F63B78  # reflected

    def __init__(self) -> None:
        table = np.arange(256, dtype=np.uint32)
        for _ in range(8):
            table = np.where(table & 1, (table >> 1) ^ np.uint32(self.POLY), table >> 1).astype(np.uint32)
        self.table, self.table_list = table, table.tolist()
        # The register after BLOCK zero bytes, for each byte of the register before (4 x 256 entries).
        registers = (np.arange(256, dtype=np.uint32)[None, :] << (8 * np.arange(4, dtype=np.uint32)[:, None])).ravel()
        for _ in range(self.BLOCK):
            registers = table[registers & 0xFF] ^ (registers >> 8)
        self.skip = registers.reshape(4, 256).tolist()

    def __call__(self, data: bytes) -> int:
        t, head = self.table_list, len(data) % self.BLOCK
        crc = 0xFFFFFFFF
        for byte in data[:head]:
            crc = t[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        if len(data) > head:
            blocks = np.frombuffer(data, np.uint8, offset=head).reshape(-1, self.BLOCK).T.astype(np.uint32)
            registers = np.zeros(blocks.shape[1], dtype=np.uint32)
            for column in blocks:  # byte j of every block at once
                registers = self.table[(registers ^ column) & 0xFF] ^ (registers >> 8)
            s0, s1, s2, s3 = self.skip
            for register in registers.tolist():
                crc = s0[crc & 0xFF] ^ s1[(crc >> 8) & 0xFF] ^ s2[(crc >> 16) & 0xFF] ^ s3[crc >> 24] ^ register
        return crc ^ 0xFFFFFFFF

    def masked(self, data: bytes) -> int:
        crc = self(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


_crc32c: _Crc32c | None = None


def record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC-32C, the data, its masked CRC-32C (little-endian)."""
    global _crc32c
    crc = _crc32c = _crc32c or _Crc32c()
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", crc.masked(header)) + data + struct.pack("<I", crc.masked(data))


def event_files(folder: str | Path) -> list[Path]:
    """The run's event files, oldest first (their names start with the time they were made)."""
    return sorted(Path(folder).glob(EVENT_FILE_PATTERN))


def run_hparams(config: dict, device_used: str | None = None) -> dict:
    """config.json's settings, flattened for the HParams page: {"model.g_width": 32, "train.lr": 0.0002, ...}.
    Booleans become "true"/"false" (TensorBoard would show 1/0), anything else but numbers and text is JSON.
    Unset ones (empty text, None) and where the data lives (data.data_dir, a path on this machine) are left out."""
    flat: dict = {}
    for section in ("model", "data", "train"):
        for key, value in (config.get(section) or {}).items():
            if value is None or value == "" or (section, key) == ("data", "data_dir"):
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif not isinstance(value, (int, float, str)):
                value = json.dumps(value)
            flat[f"{section}.{key}"] = value
    if device_used:
        flat["device_used"] = device_used
    return flat


def _tensorboard_missing() -> str | None:
    """None when tensorboard can be imported, else why not."""
    try:
        import tensorboard  # noqa: F401
    except ImportError as err:
        return f"tensorboard is not installed ({err})"
    return None


class TensorBoardLog:
    """The run's event file. Every method is a no-op once off (not installed, closed, or after a failed write),
    and none raises: TensorBoard never changes how training goes."""

    def __init__(self, problem: str | None = None):
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._flushed = time.monotonic()
        self.path: Path | None = None
        self.problem = problem  # why nothing is (or no longer is) written; None while writing

    @property
    def writing(self) -> bool:
        return self._file is not None

    def describe(self) -> str:
        """status.json's `tensorboard` field."""
        if self.writing and self.path is not None:
            return f"event file {self.path.name}"
        return self.problem or "closed"

    @classmethod
    def open(
        cls, folder: str | Path, step: int, hparams: dict | None = None, reals: str | Path | None = None
    ) -> TensorBoardLog:
        """A new event file in `folder` for training that continues after `step` (0: a new run or a restart,
        whose old event files are deleted). Off, with the reason in `problem`, when tensorboard cannot be
        imported or the file cannot be made."""
        missing = _tensorboard_missing()
        if missing:
            return cls(missing)
        log = cls()
        folder = Path(folder)
        try:
            if step == 0:  # a restart from step 0 discards what training wrote; these went with it
                for old in event_files(folder):
                    old.unlink(missing_ok=True)
            log._start(folder, step)
            if hparams is not None:
                log._hparams(hparams)
            if step == 0 and reals is not None and Path(reals).exists():
                log.image(REALS_TAG, 0, reals)
            log.flush()
        except Exception as err:  # a full disk, a read-only folder...: training goes on without it
            log._fail(err)
        return log

    def _start(self, folder: Path, step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog, SourceMetadata

        # The name TensorBoard's own writers give: the time first, so files sort oldest first.
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_file_numbers)}"
        self.path = folder / name
        self._file = open(self.path, "xb")  # held open until close()
        source = SourceMetadata(writer="dcgan.runs.tensorboard_log")
        self._write(Event(wall_time=time.time(), file_version="brain.Event:2", source_metadata=source))
        # At a resume TensorBoard drops every earlier event of this run at this step or later: what a killed
        # process logged after the checkpoint this one continues from (SummaryWriter(purge_step=...) writes the
        # same). Written by every process, the first's included: TensorBoard's server (its Python loader) takes
        # a run's first START for the session's beginning and purges only at the later ones.
        self._write(Event(wall_time=time.time(), step=step + 1, session_log=SessionLog(status=SessionLog.START)))

    def _hparams(self, hparams: dict) -> None:
        from torch.utils.tensorboard.summary import custom_scalars
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        for summary in hparams_summaries(hparams, dict.fromkeys(HPARAM_METRICS, 0.0)):
            self._summary(summary, 0)
        self._summary(custom_scalars(LAYOUT), 0)

    # -- what the trainer writes ------------------------------------------------------------------------
    def metrics(self, record: dict) -> None:
        """A metrics.jsonl line's losses, D outputs and images/s, at its step."""
        self._scalars(record, METRIC_TAGS)

    def quality(self, record: dict) -> None:
        """A quality.jsonl line's scores, at its step."""
        self._scalars(record, QUALITY_TAGS)

    def image(self, tag: str, step: int, png: str | Path) -> None:
        """A PNG file (a saved grid) as an image, its bytes as they are (no second encoding)."""
        if not self.writing:
            return
        try:
            from tensorboard.compat.proto.summary_pb2 import Summary

            data = Path(png).read_bytes()
            width, height = struct.unpack(">II", data[16:24])  # the PNG's IHDR chunk
            image = Summary.Image(
                height=height, width=width, colorspace=PNG_COLOURS.get(data[25], 3), encoded_image_string=data
            )
            self._summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
        except Exception as err:
            self._fail(err)

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                    self._flushed = time.monotonic()
                except Exception as err:
                    self._fail_locked(err)

    def close(self) -> None:
        with self._lock:
            file, self._file = self._file, None
            if file is not None:
                try:
                    file.close()  # flushes
                except Exception as err:
                    self._file = file
                    self._fail_locked(err)
                else:
                    self.problem = self.problem or "closed"

    # -- writing ------------------------------------------------------------------------------------
    def _scalars(self, record: dict, tags: dict) -> None:
        if not self.writing:
            return
        try:
            from tensorboard.compat.proto.summary_pb2 import Summary

            values = [
                Summary.Value(tag=tag, simple_value=float(record[key]))
                for key, tag in tags.items()
                if isinstance(record.get(key), (int, float)) and not isinstance(record.get(key), bool)
            ]
            if values:
                self._summary(Summary(value=values), int(record["step"]))
        except Exception as err:
            self._fail(err)

    def _summary(self, summary, step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event

        self._write(Event(wall_time=time.time(), step=step, summary=summary))

    def _write(self, event) -> None:
        data = record(event.SerializeToString())  # outside the lock: the loop's scalars need not wait for a grid's CRC
        with self._lock:
            if self._file is None:
                return
            try:
                self._file.write(data)
                if time.monotonic() - self._flushed > FLUSH_SECONDS:
                    self._file.flush()
                    self._flushed = time.monotonic()
            except Exception as err:
                self._fail_locked(err)

    def _fail(self, err: Exception) -> None:
        with self._lock:
            self._fail_locked(err)

    def _fail_locked(self, err: Exception) -> None:
        """Off for the rest of this process, said once; the file keeps what reached the disk."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except Exception:
                pass  # its buffer cannot be written either (a full disk): what is on disk stays readable
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            reason = "disk full"
        else:
            reason = f"{type(err).__name__}: {err}"
        self.problem = f"stopped writing event files ({reason}); training goes on without them"
        print(f"tensorboard: {self.problem}", file=sys.stderr)
