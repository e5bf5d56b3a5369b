"""What the batch-norm lab's tabs share: its data and device, a job's progress bar, a pair's test accuracies.

The tabs: lab_pair.py (a pair), lab_table.py (the lesson's table), lab_inference.py, lab_dcgan.py; their
figures are in lab_charts.py. Their last results are kept on disk by dcgan/bnlab/store.py: a job of this server
is shown live (job_progress), a saved one as it was left (saved_progress).
"""

from __future__ import annotations

import functools
import time

import streamlit as st

from dcgan.bnlab.experiment import NetworkResult, load_lab_data
from dcgan.bnlab.store import Saved
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


def data_caption(saved: Saved | None = None) -> None:
    """Which digits the lab trained on; when the built-in ones stood in for MNIST, where MNIST's files go.
    For saved results, what they say (loading the data only to name it would take ~20 s after a restart)."""
    if saved is not None:
        st.caption(
            f"Trained on {saved.data or 'digits'} on {saved.device or 'this machine'}, "
            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(saved.started))}; kept until you start another."
        )
        return
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
        eta = job.eta_s()
        st.progress(
            done / total,
            text=f"{what}: iteration {done:,} of {total:,} · ETA "
            + ("estimating…" if eta is None else format_duration(eta)),
        )
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


def saved_progress(saved: Saved, what: str) -> None:
    """An experiment no job of this server is training, as its file left it."""
    done, total = saved.iteration, max(saved.total, 1)
    if saved.state == "running":
        st.progress(
            min(done / total, 1.0),
            text=f"{what}: interrupted at iteration {done:,} of {total:,}: the server stopped while it trained. "
            f"Start it again to see it finish.",
        )
    elif saved.state == "failed":
        st.error(f"The experiment failed: {saved.error}")
    elif saved.state == "stopped":
        why = " because no page showed it (was its tab closed?)" if saved.stopped_unseen else ""
        st.progress(
            min(done / total, 1.0),
            text=f"{what}: stopped{why} at iteration {done:,} of {total:,}, after {format_duration(saved.elapsed_s)}",
        )
    else:
        st.progress(1.0, text=f"{what}: done in {format_duration(saved.elapsed_s)}")


def _in_words(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def test_accuracies(pairs: list[tuple[NetworkResult, NetworkResult]]) -> None:
    """Each network's test accuracy; with several seeds their mean, and their lowest and highest below."""
    from dcgan.bnlab.seeds import test_spread

    for side, col in enumerate(st.columns(2)):
        results = [pair[side] for pair in pairs]
        spread = test_spread(results)
        accuracy = "—" if spread is None else f"{spread.mean:.4f}"
        diverged = [r.diverged_at for r in results if r.diverged_at]
        seeds = f", mean of {len(results)} seeds" if len(results) > 1 else ""
        note = f" (diverged at iteration {diverged[0]:,})" if diverged and len(results) == 1 else ""
        col.metric(f"Test accuracy {results[0].label}", accuracy, help=f"on the test split{seeds}{note}")
        if spread is not None and len(results) > 1:
            col.caption(f"{len(results)} seeds: lowest {spread.low:.4f}, highest {spread.high:.4f}")
        if diverged:
            which = f"{len(diverged)} of {len(results)} seeds" if len(results) > 1 else f"at iteration {diverged[0]:,}"
            col.caption(f"💥 diverged ({which}): its loss became NaN or infinite")
