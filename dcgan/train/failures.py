"""A run that failed says why in words a person can act on: in status.json, error.txt, the app and the CLI."""

from __future__ import annotations

import errno
import traceback
from pathlib import Path

from dcgan.runs.directory import RunDirectory


def record_failure(run: RunDirectory, err: Exception, reason: str | None = None) -> None:
    """Mark the run failed with a reason a person can act on, even when the disk is full (then the status is
    written in the space its file already has, and the traceback is left out if it does not fit)."""
    reason = reason or describe_error(err)
    try:
        (run.path / "error.txt").write_text(traceback.format_exc())
    except OSError:
        pass  # the reason still reaches status.json, the app and the command line
    run.write_status_even_if_full(state="failed", error=reason, message=reason, pid=None, eta_s=None)


def describe_error(err: Exception) -> str:
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" while writing {Path(err.filename).name}" if err.filename else ""
        return (
            f"disk full{where}: no space left on the device holding the run folder. The last good checkpoint "
            "is kept: free some space, then resume"
        )
    return f"{type(err).__name__}: {err}"
