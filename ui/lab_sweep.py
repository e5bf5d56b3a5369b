"""The batch-norm lab's sweep tab: activation x learning rate x starting weights, every cell's pair trained at
once (dcgan/bnlab/sweep.py), shown as heatmaps of batch norm's gain. The last sweep is kept on disk, and every
ended one among the kept results."""

from __future__ import annotations

from dataclasses import asdict

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dcgan.bnlab import store
from dcgan.bnlab.experiment import MAX_SEEDS
from dcgan.bnlab.sweep import SweepConfig, gains, run_sweep
from dcgan.errors import ConfigError
from ui import lab_views
from ui.jobs import BackgroundJob, adopt, live_fragment, start_job
from ui.lab_kept import kept_picker

JOB = "bn-sweep-job"  # job.info: its SweepConfig


def sweep_tab() -> None:
    st.caption(
        "Does batch norm help everywhere? Every cell trains a pair (without, with batch norm) from the same "
        "starting weights on the same batches; the heatmaps show the test accuracy with batch norm minus without."
    )
    c1, c2, c3 = st.columns([2, 1, 1])
    lrs = c1.text_input("Learning rates", value="0.01, 0.1, 1, 2", key="bn-sweep-lrs", help="comma-separated")
    iterations = c2.number_input(
        "Iterations", value=1000, step=250, key="bn-sweep-its", help="for every cell (the default grid: ~30 s)"
    )
    seeds = c3.number_input("Seeds per cell", value=1, step=1, key="bn-sweep-seeds", help=f"1 to {MAX_SEEDS}")
    if st.button("Run the sweep", type="primary", key="bn-sweep-run"):
        try:
            sweep = SweepConfig(lrs=_numbers(lrs), iterations=int(iterations), seeds=int(seeds))
            start_sweep(sweep)
        except ConfigError as err:
            st.error(str(err))
    adopt(JOB, str(store.path_of(store.SWEEP)))
    reopened = kept_picker(store.SWEEP, "bn-sweep-kept", _label)
    if reopened is not None:
        _show_saved(reopened)
        return
    live_fragment(JOB, _sweep_progress)
    job: BackgroundJob | None = st.session_state.get(JOB)
    if job is not None and isinstance(job.info, SweepConfig):
        if job.result:
            st.plotly_chart(gain_figure(job.info, job.result), key="bn-sweep-chart")
        return
    saved, note = store.load(store.SWEEP)
    if note:
        st.warning(note)
    if saved is not None:
        _show_saved(saved, progress=False)


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.replace(";", ",").split(",") if t.strip())
    except ValueError:
        raise ConfigError(
            f"The learning rates are numbers separated by commas, like 0.01, 0.1, 1, 2; not {text!r}"
        ) from None


def _label(saved: store.Saved) -> str:
    s = saved.settings
    lrs = ", ".join(f"{lr:g}" for lr in s.get("lrs", []))
    return f"lr {lrs}, {s.get('iterations', 0):,} its, {s.get('seeds', 1)} seed(s)"


def _config_of(saved: store.Saved) -> SweepConfig:
    s = dict(saved.settings)
    return SweepConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in s.items()})


def _show_saved(saved: store.Saved, progress: bool = True) -> None:
    try:
        sweep = _config_of(saved)
        sweep.cells()
    except (TypeError, ConfigError) as err:
        st.warning(f"This sweep's settings could not be read: {err}")
        return
    if progress:
        lab_views.saved_progress(saved, _label(saved))
    if saved.results and len(saved.results) == len(sweep.cells()) * sweep.seeds:
        st.plotly_chart(gain_figure(sweep, saved.results), key="bn-sweep-chart")
        lab_views.data_caption(saved)


def start_sweep(sweep: SweepConfig) -> BackgroundJob:
    cells = sweep.cells()  # a ConfigError here, not in the job's thread
    recorder = store.Recorder(
        store.Saved(store.SWEEP, asdict(sweep), total=sweep.iterations, device=lab_views.lab_device())
    )
    started: list[BackgroundJob] = []

    def work(progress, should_stop):
        try:
            data = lab_views.lab_data()
            recorder.saved.data = data.name
            results = run_sweep(sweep, data, progress=recorder.progress(progress), should_stop=should_stop)
        except Exception as err:
            recorder.fail(f"{type(err).__name__}: {err}")
            raise
        job = started[0] if started else None
        recorder.finish(results, stopped=bool(job and job.stopped), unseen=bool(job and job.abandoned))
        return results

    job = start_job(JOB, work, shared=str(store.path_of(store.SWEEP)))
    job.info = sweep
    started.append(job)
    st.session_state["bn-sweep-cells"] = len(cells)
    return job


def _sweep_progress() -> None:
    job: BackgroundJob | None = st.session_state.get(JOB)
    if job is None or not isinstance(job.info, SweepConfig):
        saved, _ = store.load(store.SWEEP)
        if saved is not None:
            lab_views.saved_progress(saved, _label(saved))
        return
    sweep = job.info
    pairs = len(sweep.cells()) * sweep.seeds
    lab_views.job_progress(job, f"{pairs} pairs ({2 * pairs} networks), batched, on {lab_views.lab_device()}")
    if job.running and st.button("Stop", key="bn-sweep-stop", help="ends every cell where it is"):
        job.stop()


def gain_figure(sweep: SweepConfig, results) -> go.Figure:
    """One heatmap per starting weights: rows activations, columns learning rates, colour and number the gain in
    test accuracy from batch norm (blue: it helps, red: it hurts; with seeds, their mean)."""
    cells = gains(sweep, results)
    fig = make_subplots(
        rows=1,
        cols=len(sweep.weights),
        subplot_titles=[f"{w} starting weights" for w in sweep.weights],
        shared_yaxes=True,
        horizontal_spacing=0.06,
    )
    for col, weights in enumerate(sweep.weights, start=1):
        z, text = [], []
        for activation in sweep.activations:
            row = [c for c in cells if c["weights"] == weights and c["activation"] == activation]
            z.append([c["gain"].mean if c["gain"] else None for c in row])
            text.append([_cell_text(c) for c in row])
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=[f"lr {lr:g}" for lr in sweep.lrs],
                y=list(sweep.activations),
                text=text,
                texttemplate="%{text}",
                colorscale="RdBu",
                zmid=0,
                zmin=-1,
                zmax=1,
                showscale=col == len(sweep.weights),
                colorbar={"title": "gain"},
                hovertemplate="%{y}, %{x}: %{text}<extra></extra>",
            ),
            1,
            col,
        )
    fig.update_yaxes(autorange="reversed")
    seeds = f", mean of {sweep.seeds} seeds" if sweep.seeds > 1 else ""
    fig.update_layout(
        height=120 + 60 * len(sweep.activations),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        title={
            "text": f"test accuracy with batch norm − without, after {sweep.iterations:,} iterations{seeds}",
            "font": {"size": 13},
        },
    )
    return fig


def _cell_text(cell: dict) -> str:
    gain = cell["gain"]
    if gain is None:
        return "—"
    text = f"{gain.mean:+.2f}<br>{cell['without']:.2f} → {cell['with']:.2f}"
    return text + (f"<br>💥{cell['diverged']}" if cell["diverged"] else "")
