"""The lab's background jobs: a job whose page is gone ends itself; one that a page shows goes on."""

import gc
import threading
import time
import weakref

from ui.jobs import BackgroundJob

LIMIT_S = 30.0  # the job's unseen limit in these tests, on a clock the test moves by hand
WAIT_S = 10.0  # how long a test waits for the job's thread to notice (it loops every few ms)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def train_until_stopped(ended: threading.Event):
    """A stand-in for the lab's training loop: checks should_stop every few milliseconds, as it does every
    iteration."""

    def work(progress, should_stop):
        iteration = 0
        while not should_stop():
            iteration += 1
            progress(iteration, 10**9)
            time.sleep(0.002)
        ended.set()
        return iteration

    return work


def wait_until(condition) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def test_a_job_that_a_page_keeps_showing_goes_on_and_one_no_page_shows_ends_itself():
    clock, ended = FakeClock(), threading.Event()
    job = BackgroundJob(train_until_stopped(ended), unseen_limit_s=LIMIT_S, clock=clock)
    assert wait_until(lambda: job.progress is not None)
    clock.now += LIMIT_S - 1
    job.seen()  # a poll just before the limit ...
    clock.now += LIMIT_S - 1  # ... so twice the limit since the start is still fine
    assert not job.should_stop() and job.running and not job.abandoned
    clock.now += 2  # now the limit has passed since the last look
    assert wait_until(lambda: not job.running), "the job did not end itself"
    assert ended.is_set() and job.abandoned and job.stopped and job.result >= 1 and job.error is None


def test_stop_pressed_is_not_mistaken_for_a_closed_tab():
    clock, ended = FakeClock(), threading.Event()
    job = BackgroundJob(train_until_stopped(ended), unseen_limit_s=LIMIT_S, clock=clock)
    job.stop()
    assert wait_until(lambda: not job.running)
    clock.now += 10 * LIMIT_S
    assert job.should_stop() and job.stopped and not job.abandoned


def test_a_job_whose_session_is_gone_still_ends_itself_and_is_then_freed():
    """When a tab closes, Streamlit drops its session_state, the only reference the page had to the job;
    the thread still holds it. Nothing calls seen() any more, so the limit ends it."""
    clock, ended = FakeClock(), threading.Event()
    job = BackgroundJob(train_until_stopped(ended), unseen_limit_s=LIMIT_S, clock=clock)
    freed = weakref.ref(job)
    del job  # the session is gone
    assert freed() is not None  # ... but the thread keeps the job alive and training
    clock.now += LIMIT_S + 1
    assert ended.wait(WAIT_S), "the job of a closed tab kept training"
    assert wait_until(lambda: gc.collect() is not None and freed() is None), "the ended job was not freed"
