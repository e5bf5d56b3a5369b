"""SIGTERM and Ctrl-C end a run cleanly: at the next step, with a checkpoint (see train/trainer.py)."""

from __future__ import annotations

import signal
import threading


class StopSignal:
    """Turns SIGTERM / SIGINT into a flag the loop checks, so the stop is clean (main thread only)."""

    def __init__(self):
        self.raised = False
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.raised = True

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
