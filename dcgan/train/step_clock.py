"""Training time between metrics lines, and the ETA estimated from it.

The first window after a (re)start holds the one-off start-up (building, compiling, maybe drawing the data),
so it counts as training time but not toward the seconds-per-step average: until a window after it was
timed, the ETA is None and the app and the CLI say "estimating…". Time spent scoring is left out, so
images/s is of training alone.
"""

from __future__ import annotations

import time

ETA_SMOOTHING = 0.3  # weight of the newest window in the seconds-per-step average


class StepClock:
    def __init__(self, step: int):
        self.window_start, self.window_step = time.perf_counter(), step
        self.seconds_per_step: float | None = None  # smoothed, for the ETA
        self.warming_up = True

    def leave_out(self, seconds: float) -> None:
        """Time spent on something other than training (a quality score) in this window."""
        self.window_start += seconds

    def lap(self, step: int) -> tuple[int, float]:
        """(steps, seconds) since the last lap, and the average updated from them."""
        now = time.perf_counter()
        steps, seconds = step - self.window_step, now - self.window_start
        self.window_start, self.window_step = now, step
        per_step = seconds / max(steps, 1)
        if not self.warming_up:
            self.seconds_per_step = (
                per_step
                if self.seconds_per_step is None
                else ETA_SMOOTHING * per_step + (1 - ETA_SMOOTHING) * self.seconds_per_step
            )
        self.warming_up = False
        return steps, seconds

    def eta_s(self, steps_left: int) -> float | None:
        return None if self.seconds_per_step is None else round(steps_left * self.seconds_per_step, 1)
