"""A one-line progress bar with rate and ETA for the terminal (a line every few seconds when piped)."""

from __future__ import annotations

import sys
import time


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class ProgressBar:
    WIDTH = 28
    PIPED_INTERVAL_S = 5.0  # when not a terminal, print a whole line this often instead of redrawing

    def __init__(self, total: int, label: str = "", stream=None):
        self.total, self.label = max(total, 1), label
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.last_print = 0.0

    def update(self, done: int, detail: str = "", eta_s: float | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not (self.tty or force or now - self.last_print >= self.PIPED_INTERVAL_S):
            return
        self.last_print = now
        fraction = min(done / self.total, 1.0)
        filled = int(fraction * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        eta = "estimating…" if eta_s is None else format_duration(eta_s)  # None: not yet timed (status.json's eta_s)
        line = f"{self.label} [{bar}] {fraction:4.0%} {done}/{self.total} {detail} ETA {eta}"
        self.stream.write(("\r" + line + "\033[K") if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
