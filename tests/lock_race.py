"""A contender for a run's lock, run in its own process by tests/test_runs.py's race test (imports no torch)."""

import os


def contend(path: str, trials: int, start, tried, results) -> None:
    from dcgan.errors import RunLocked
    from dcgan.runs.lock import RunLock

    for trial in range(trials):
        lock = RunLock(path, "race")
        start.wait()  # every contender tries at the same instant
        try:
            lock.acquire()
            won = True
        except RunLocked:
            won = False
        results.put((trial, os.getpid(), won))
        tried.wait()  # the winner holds the lock until every contender has tried
        lock.release()
