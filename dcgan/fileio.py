"""Atomic file writes: a reader (the app, a resumed run) never sees half a file.

Each writer fills a temporary file in the same folder, flushes it to disk, then `os.replace`s it
over the target, which POSIX makes atomic. A crash leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: mkstemp makes 0600 files, but run folders are for every local tool to read


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # say which file could not be written, not the name of our temporary one
        raise type(err)(err.errno, err.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def overwrite_in_place(path: str | Path, data: bytes) -> None:
    """Write `data` over an existing file's first bytes and cut the rest: not atomic (a reader may see a mix
    for an instant), but it needs no new disk space when `data` fits in the blocks the file already has.
    For the one write that must happen on a full disk: the status saying so."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def atomic_save_torch(path: str | Path, obj) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    # Typed Any: numpy's stub lets a keyword named allow_pickle (a flag of recent numpy) meet these arrays; ours
    # are named by the callers (images, labels, ...), never that.
    named: dict[str, Any] = dict(arrays)
    np.savez(buffer, **named)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_save_image(path: str | Path, image) -> None:
    """Save a PIL image; the format follows the suffix (.png, .gif, .jpg...), PNG when it names none."""
    from PIL import Image

    buffer = io.BytesIO()
    image.save(buffer, format=Image.registered_extensions().get(Path(path).suffix.lower(), "PNG"))
    atomic_write_bytes(path, buffer.getvalue())
