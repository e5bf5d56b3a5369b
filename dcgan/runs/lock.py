"""One trainer per run: an exclusive `flock` on the run's lock.json, held for the trainer's whole life.

The kernel gives the lock to exactly one open file at a time and drops it the moment its process dies
(kill -9 included), so there is no stale lock to detect and no reused pid to be fooled by. The file's
content, the owner's pid, is only for messages; the lock itself is the truth. The file is never
deleted: a process still waiting on a deleted file's lock could win it beside a new file's holder.

The background launcher takes the lock, hands its open file to the child (`pass_fds`; the lock belongs
to the open file, which both then share) and closes its own copy: the run is never unlocked between the
Start button and the trainer's first step.

Anyone may ask who holds a lock (`owner_of`): that takes a *shared* lock for an instant. A trainer whose
exclusive attempt meets only such askers retries for a moment instead of giving up.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import time
from pathlib import Path

from dcgan.errors import RunLocked

LOCK_FD_ENV = "DCGAN_LOCK_FD"  # the inherited lock's file descriptor, in a launched trainer's environment
RETRY_WHILE_ASKED_S = 1.0  # how long a trainer retries while only askers (shared locks) are in its way
OWNER_READ_TRIES = 20  # the winner writes its pid just after winning: a loser reads a few times
UNKNOWN_OWNER = 0  # a held lock whose pid could not be read (yet)


class RunLock:
    """The lock of one run folder, as held (or not) by this process."""

    def __init__(self, path: Path, run_name: str):
        self.path, self.run_name = Path(path), run_name
        self.fd: int | None = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def held_fd(self) -> int:
        """The open file that holds the lock (to hand to a child); only while this process holds it."""
        if self.fd is None:
            raise RuntimeError(f"run {self.run_name}'s lock is not held by this process")
        return self.fd

    def acquire(self) -> None:
        """Hold the lock; RunLocked (saying by which process) if another process holds it."""
        if self.fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            _lock_exclusive(fd, self.path, self.run_name)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self._write_owner(os.getpid())

    def adopt(self, fd: int) -> None:
        """Take over the lock a launcher holds for us (fd inherited): check that it is this run's lock."""
        try:
            same_file = os.path.samestat(os.fstat(fd), os.stat(self.path))
        except OSError:
            same_file = False
        if not same_file:
            raise RunLocked(f"the lock handed to this process is not run {self.run_name}'s; start it again")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a no-op when, as expected, our open file holds it
        except BlockingIOError:
            raise RunLocked(_held_message(self.run_name, read_owner(self.path))) from None
        os.set_inheritable(fd, False)  # nothing this trainer starts may carry the lock further
        self.fd = fd
        self._write_owner(os.getpid())

    def hand_over(self, child_pid: int) -> None:
        """After starting the child that inherited the lock: name it the owner and close our copy.

        Only closed, never unlocked: LOCK_UN would drop the lock for the child too (it is one open file)."""
        self._write_owner(child_pid)
        os.close(self.held_fd())
        self.fd = None

    def release(self) -> None:
        if self.fd is None:
            return
        fcntl.flock(self.fd, fcntl.LOCK_UN)  # for every process sharing the open file (forked data workers)
        os.close(self.fd)
        self.fd = None

    def _write_owner(self, pid: int) -> None:
        """Written in place (the lock belongs to this file, so it cannot be replaced by a new one)."""
        data = json.dumps({"pid": pid, "since": time.time()}).encode()
        fd = self.held_fd()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)


def _lock_exclusive(fd: int, path: Path, run_name: str) -> None:
    deadline = time.monotonic() + RETRY_WHILE_ASKED_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if _exclusively_held(fd) or time.monotonic() > deadline:
            raise RunLocked(_held_message(run_name, read_owner(path)))
        time.sleep(random.uniform(0.001, 0.005))  # jitter: two contenders cannot keep meeting each other


def _exclusively_held(fd: int) -> bool:
    """True when a trainer holds the lock; False when only askers (shared locks) are in the way."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def owner_of(path: Path) -> int | None:
    """The pid of the process holding the lock at `path` (UNKNOWN_OWNER if unreadable), or None if free."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_owner(path)
    finally:
        os.close(fd)  # closing drops our shared lock, if we got it
    return None


def read_owner(path: Path) -> int:
    """The pid written in a held lock; the winner writes it just after winning, so try a few times."""
    for _ in range(OWNER_READ_TRIES):
        try:
            pid = json.loads(Path(path).read_bytes() or b"null")
            pid = pid.get("pid") if isinstance(pid, dict) else None
        except (OSError, ValueError):
            pid = None
        if isinstance(pid, int) and pid > 0:
            return pid
        time.sleep(0.01)
    return UNKNOWN_OWNER


def _held_message(run_name: str, pid: int) -> str:
    who = f"process {pid}" if pid != UNKNOWN_OWNER else "another process"
    return f"run {run_name} is already being trained by {who}: stop it first, or wait for it to end"
