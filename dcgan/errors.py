"""The errors a person sees: each message says what went wrong and what to do, in words the CLI prints as one
line and the app shows as one box. Everything else that goes wrong is a bug and keeps its traceback.

Torch-free, so the app's pages can catch these before torch has loaded.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting a user gave cannot work; the message says which one and what to do."""


class DatasetUnavailable(RuntimeError):
    """The data cannot be had (missing files, no network, empty folder); the message says what to do."""


class FolderNotAllowed(DatasetUnavailable):
    """The folder lies outside every allowed root; the message names the roots and how to add one."""


class UnreadableImage(ValueError):
    """A file that cannot be used as a picture: not an image, damaged, too small or too large. The message names
    it and says what to do; `reason` is the short form a list of skipped files shows ("too small: 1x1")."""

    def __init__(self, message: str, reason: str = "cannot be used"):  # a default, so a pickled copy rebuilds
        super().__init__(message)
        self.reason = reason


class CheckpointError(ValueError):
    """The file is not one of ours, or is damaged; the message says which file and what is wrong."""


class RunDamaged(ValueError):
    """A file of a run folder cannot be read; the message says which file and why."""


class RunLocked(RuntimeError):
    """Another live process is training this run."""


class ResumeRefused(ValueError):
    """Resuming would lose work or mix two configs; the message says why and what to do instead."""
