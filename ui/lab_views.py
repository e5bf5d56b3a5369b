"""The batch-norm lab's views: a pair's live accuracy curves, the table, the inference-mode demo."""

from __future__ import annotations

import functools
import math

import plotly.graph_objects as go
import streamlit as st

from dcgan.bnlab.experiment import NetworkResult, load_lab_data
from dcgan.devices import device_label, resolve_device
from dcgan.progress import format_duration
from ui.jobs import BackgroundJob

NAMES = ("without batch norm", "with batch norm")
COLORS = ("#d62728", "#1f77b4")


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


def accuracy_figure(pair: tuple[NetworkResult, NetworkResult], total: int) -> go.Figure:
    fig = go.Figure()
    for result, name, color in zip(pair, NAMES, COLORS):
        points = [(i, a) for i, a in result.validation if not math.isnan(a)]
        fig.add_trace(
            go.Scatter(
                x=[i for i, _ in points],
                y=[a for _, a in points],
                name=name,
                mode="lines",
                line={"color": color, "width": 2},
            )
        )
        if result.diverged_at is not None:
            fig.add_trace(
                go.Scatter(
                    x=[result.diverged_at],
                    y=[points[-1][1] if points else 0.1],
                    mode="markers+text",
                    marker={"symbol": "x", "size": 14, "color": color},
                    text=["diverged"],
                    textposition="top center",
                    name=f"{name}: diverged at {result.diverged_at:,}",
                )
            )
    fig.update_layout(
        xaxis_title="iteration (batches of 60)",
        yaxis_title="validation accuracy",
        height=380,
        xaxis_range=[0, total],
        yaxis_range=[0, 1],
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        legend={"orientation": "h", "y": -0.25},
        uirevision="keep",
    )
    return fig


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
    for col, result, name in zip(st.columns(2), pair, NAMES):
        note = f" (diverged at iteration {result.diverged_at:,})" if result.diverged_at else ""
        col.metric(f"Test accuracy {name}", f"{result.test_accuracy:.4f}", help=f"on the test split{note}")
        if note:
            col.caption(f"💥 diverged at iteration {result.diverged_at:,}: its loss became NaN or infinite")
