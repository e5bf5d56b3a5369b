"""Work that runs in a thread of the server while the page polls it, so the page never waits on it."""
from __future__ import annotations

import threading
import time
import traceback

import streamlit as st

# How often a page showing a running job looks at it. Each look costs the browser too, on the same cores
# as the job when the app runs locally: chromium took 25% of a core at 0.5 s, 16% at 1 s, and the lab's
# two-thread matmuls slow down far more than that share (the table: 25-34 s in the app at 0.5 s).
POLL_S = 1.0


class BackgroundJob:
    """Runs fn(progress=..., should_stop=...) in a daemon thread; the page reads .progress / .result."""

    def __init__(self, fn, *args, **kwargs):
        self.progress: tuple[int, int, object] | None = None  # (done, total, snapshot) from the last report
        self.result, self.error = None, None
        self.started, self.finished = time.monotonic(), None
        self._first_report: tuple[float, int] | None = None  # ETA counts from here, not from data loading
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True, name="lab-job")
        self._thread.start()

    def _run(self, fn, args, kwargs) -> None:
        try:
            self.result = fn(*args, progress=self._report, should_stop=self._stop.is_set, **kwargs)
        except Exception as err:  # shown on the page in words; the full trace goes to the server log
            self.error = f"{type(err).__name__}: {err}"
            traceback.print_exc()
        finally:
            self.finished = time.monotonic()

    def _report(self, done: int, total: int, snapshot=None) -> None:
        if self._first_report is None:
            self._first_report = (time.monotonic(), done)
        self.progress = (done, total, snapshot)

    @property
    def running(self) -> bool:
        return self.finished is None

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        """Asked to stop (a finished job that was stopped ended early)."""
        return self._stop.is_set()

    def eta_s(self) -> float | None:
        if not self.progress or self._first_report is None or self.progress[0] <= self._first_report[1]:
            return None
        done, total, _ = self.progress
        since, first_done = self._first_report
        return (time.monotonic() - since) / (done - first_done) * (total - done)


def live_fragment(key: str, view) -> None:
    """Draw `view()` as a fragment that re-runs every POLL_S seconds while the job in session_state[key]
    runs; when it ends, the page is re-run once so the finished view stops polling."""
    job = st.session_state.get(key)
    st.session_state[f"{key}:polling"] = running = bool(job and job.running)

    def poll() -> None:
        if st.session_state.get(f"{key}:polling") and not job.running:
            st.session_state[f"{key}:polling"] = False
            st.rerun(scope="app")
        view()

    st.fragment(poll, run_every=POLL_S if running else None, key=f"live:{key}")()
