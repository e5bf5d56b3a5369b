"""Work that runs in a thread of the server while the page polls it, so the page never waits on it."""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

import streamlit as st

# How often a page showing a running job looks at it. Each look costs the browser too, on the same cores
# as the job when the app runs locally: chromium took 25% of a core at 0.5 s, 16% at 1 s, and the lab's
# two-thread matmuls slow down far more than that share (the table: 25-34 s in the app at 0.5 s).
POLL_S = 1.0
# A job that no page has looked at for this long ends itself: its browser tab was closed (the session and
# its session_state go, but the thread holds the job and would train on). Well above POLL_S because a tab
# in the background polls late: Streamlit's run_every is a setInterval, which Chrome runs once a minute in
# a tab hidden for 5 minutes; and a busy 2-core server delays reruns by seconds. A closed tab's job so
# costs at most two more minutes of CPU, and a job in a background tab normally lives on.
UNSEEN_LIMIT_S = 120.0


class BackgroundJob:
    """Runs fn(progress=..., should_stop=...) in a daemon thread; the page reads .progress / .result and
    calls .seen() whenever it shows the job. `clock` and `unseen_limit_s` are there for tests."""

    def __init__(self, fn, *args, unseen_limit_s: float | None = None, clock=time.monotonic, **kwargs):
        self._clock = clock
        self.unseen_limit_s = UNSEEN_LIMIT_S if unseen_limit_s is None else unseen_limit_s
        self.progress: tuple[int, int, Any] | None = None  # (done, total, snapshot) from the last report
        self.result: Any = None
        self.error: str | None = None
        self.info: object = None  # what the page started it with (its settings), for any session that shows it
        self.started, self.finished = clock(), None
        self.last_seen = self.started  # when a page last showed the job
        self.abandoned = False  # ended because no page showed it for unseen_limit_s
        # (time, iterations done) at the first report and at the newest one that moved: the ETA is measured
        # between them, not from the data loading before the first, nor from a stall after the newest.
        self._first_report: tuple[float, int] | None = None
        self._last_move: tuple[float, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True, name="lab-job")
        self._thread.start()

    def _run(self, fn, args, kwargs) -> None:
        try:
            self.result = fn(*args, progress=self._report, should_stop=self.should_stop, **kwargs)
        except Exception as err:  # shown on the page in words; the full trace goes to the server log
            self.error = f"{type(err).__name__}: {err}"
            traceback.print_exc()
        finally:
            self.finished = self._clock()

    def seen(self) -> None:
        """A page showed the job just now."""
        self.last_seen = self._clock()

    def should_stop(self) -> bool:
        """Stop was pressed, or no page has shown the job for unseen_limit_s (its tab is gone)."""
        if not self._stop.is_set() and self._clock() - self.last_seen > self.unseen_limit_s:
            self.abandoned = True  # before the stop, so whoever sees it stopped also sees why
            self._stop.set()
        return self._stop.is_set()

    def _report(self, done: int, total: int, snapshot=None) -> None:
        now = self._clock()
        if self._first_report is None:
            self._first_report = (now, done)
        elif done > (self._last_move or self._first_report)[1]:
            self._last_move = (now, done)
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
        """Seconds left at the rate measured between the first report and the newest that moved on; None
        ("estimating…") until two have. It changes only when an iteration count arrives: while the count
        stalls (a validation, a busy CPU) it neither grows nor pretends to count down."""
        if self._first_report is None or self._last_move is None or not self.progress:
            return None
        (t0, done0), (t1, done1) = self._first_report, self._last_move
        total = self.progress[1]
        return (t1 - t0) / (done1 - done0) * max(total - done1, 0)


# The newest job per shared name (the lab's file it saves to) in this server process: a reload or another tab
# finds it here, since a new session starts with an empty session_state while the job's thread trains on.
_SHARED: dict[str, BackgroundJob] = {}


def start_job(key: str, fn, *args, shared: str | None = None) -> BackgroundJob:
    """Run fn in a new BackgroundJob kept in session_state[key], stopping the one it replaces if that still runs:
    no page would show that one again, and it would go on taking the CPU until UNSEEN_LIMIT_S ended it.
    With `shared`, the job is also the one every session's adopt(key, shared) finds (and the one it replaces
    there, from any tab, is stopped too)."""
    for old in (st.session_state.get(key), _SHARED.get(shared or "")):
        if old and old.running:
            old.stop()
    st.session_state[key] = job = BackgroundJob(fn, *args)
    if shared:
        _SHARED[shared] = job
    return job


def adopt(key: str, shared: str) -> BackgroundJob | None:
    """The newest job started under `shared` in this server (by this session, an earlier one of the same
    person, or another tab), kept in session_state[key]; None when this server has started none."""
    job = _SHARED.get(shared)
    if job is not None:
        st.session_state[key] = job
    return job


def live_fragment(key: str, view) -> None:
    """Draw `view()` as a fragment that re-runs every POLL_S seconds while the job in session_state[key]
    runs, marking the job seen each time; when it ends, the page is re-run once so the finished view stops
    polling."""
    job = st.session_state.get(key)
    st.session_state[f"{key}:polling"] = running = bool(job and job.running)

    def poll() -> None:
        if job:
            job.seen()
        if st.session_state.get(f"{key}:polling") and job is not None and not job.running:
            st.session_state[f"{key}:polling"] = False
            st.rerun(scope="app")
        view()

    st.fragment(poll, run_every=POLL_S if running else None, key=f"live:{key}")()
