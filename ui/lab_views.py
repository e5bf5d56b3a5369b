"""What the batch-norm lab's tabs share: its data and device, a job's progress bar, a pair's test accuracies.

The tabs: lab_pair.py (a pair), lab_table.py (the lesson's table), lab_inference.py, lab_dcgan.py; their
figures are in charts.py.
"""

from __future__ import annotations

import functools

import streamlit as st

from dcgan.bnlab.experiment import NetworkResult, load_lab_data
from dcgan.devices import device_label, resolve_device
from dcgan.progress import format_duration
from ui.jobs import BackgroundJob


@functools.lru_cache(maxsize=1)
def lab_device() -> str:
    """Where the lab's experiments run (the engine's default, auto: CUDA, then MPS, then CPU), in words."""
    return device_label(resolve_device("auto"))


@functools.lru_cache(maxsize=1)
def lab_data():
    """Loaded once per server process (the first time draws 60,000 street-digits at 28 px, ~20 s)."""
    return load_lab_data()


def data_caption() -> None:
    """Which digits the lab trained on; when the built-in ones stood in for MNIST, where MNIST's files go."""
    data = lab_data()
    st.caption(
        f"Trained on {data.name}: {len(data.train_x):,} training, {len(data.val_x):,} validation and "
        f"{len(data.test_x):,} test images." + (f" {data.note}" if data.note else "")
    )


def job_progress(job: BackgroundJob, what: str) -> None:
    done, total = (job.progress or (0, 1, None))[:2]
    if job.running and job.progress is None:
        st.progress(0.0, text=f"{what}: loading the data (the first time draws 60,000 street-digits, about 20 s)…")
    elif job.running:
        st.progress(done / total, text=f"{what}: iteration {done:,} of {total:,} · ETA {format_duration(job.eta_s())}")
    elif job.abandoned:
        st.progress(
            done / total,
            text=f"{what}: stopped at iteration {done:,} of {total:,}: no page has shown it "
            f"for {_in_words(job.unseen_limit_s)} (was its tab closed?). Start it again "
            f"and keep this page open to see it finish.",
        )
    elif job.stopped:
        st.progress(
            done / total,
            text=f"{what}: stopped at iteration {done:,} of {total:,}, after "
            f"{format_duration(job.finished - job.started)}",
        )
    else:
        st.progress(1.0, text=f"{what}: done in {format_duration(job.finished - job.started)}")
    if job.error:
        st.error(f"The experiment failed: {job.error}")


def _in_words(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def test_accuracies(pair: tuple[NetworkResult, NetworkResult]) -> None:
    for col, result in zip(st.columns(2), pair):
        note = f" (diverged at iteration {result.diverged_at:,})" if result.diverged_at else ""
        col.metric(f"Test accuracy {result.label}", f"{result.test_accuracy:.4f}", help=f"on the test split{note}")
        if note:
            col.caption(f"💥 diverged at iteration {result.diverged_at:,}: its loss became NaN or infinite")
