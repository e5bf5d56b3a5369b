"""The batch-norm lab's first tab: one network without and one with batch norm, trained live side by side.

The last pair is kept on disk (dcgan/bnlab/store.py): a reload, a page switch or a restarted server shows it
again, and a pair still training in this server is shown live, until the person trains another.
"""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from dcgan.bnlab import store
from dcgan.bnlab.experiment import ACTIVATIONS, MAX_ITERATIONS, LabConfig, train_pair
from dcgan.errors import ConfigError
from ui import lab_views  # lab_data through the module: tests swap in a smaller set
from ui.jobs import BackgroundJob, adopt, live_fragment, start_job
from ui.lab_charts import pair_accuracy_figure

JOB = "bn-pair-job"  # session_state key of the job (the inference tab reuses its networks); job.info: its LabConfig
WEIGHTS = ["reasonable", "bad", "custom"]


def pair_tab() -> None:
    config = _settings_form()
    if config is not None:
        try:
            config.validate()
            start_pair(config)
        except ConfigError as err:
            st.error(str(err))
    adopt(JOB, str(store.path_of(store.PAIR)))  # the pair this server trains or trained, after a reload too
    live_fragment(JOB, _pair_view)


def start_pair(config: LabConfig) -> BackgroundJob:
    """Train `config`'s pair in a job of the server, its progress and results saved as they come."""
    recorder = store.Recorder(
        store.Saved(store.PAIR, asdict(config), total=config.iterations, device=lab_views.lab_device())
    )
    started: list[BackgroundJob] = []

    def work(progress, should_stop):
        try:
            data = lab_views.lab_data()
            recorder.saved.data = data.name
            pair, nets = train_pair(
                config, data, progress=recorder.progress(progress, lambda r: [(r[0], r[1])]), should_stop=should_stop
            )
        except Exception as err:
            recorder.fail(f"{type(err).__name__}: {err}")
            raise
        job = started[0] if started else None  # set as soon as the job starts, long before training ends
        recorder.finish([pair], stopped=bool(job and job.stopped), unseen=bool(job and job.abandoned))
        return pair, nets

    job = start_job(JOB, work, shared=str(store.path_of(store.PAIR)))
    job.info = config
    started.append(job)
    return job


def _settings_form() -> LabConfig | None:
    """The settings; the config they ask for when *Train the pair* was pressed, else None. Not a form: *Custom
    std* is enabled only while the weights are "custom", which a form would learn only when submitted."""
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns(4)
        activation = c1.selectbox("Activation", list(ACTIVATIONS), key="bn-act")
        lr = c2.number_input("Learning rate", value=0.01, step=0.01, format="%.4f", key="bn-lr")
        weights = c3.selectbox(
            "Starting weights",
            WEIGHTS,
            key="bn-weights",
            help="reasonable: normal, std 0.05; bad: std 5.0; custom: the std on the right",
        )
        std = c4.number_input(
            "Custom std",
            value=0.5,
            step=0.05,
            format="%.3f",
            key="bn-std",
            disabled=weights != "custom",
            help="the starting weights' std; used when the starting weights are custom",
        )
        c1, c2, c3, _ = st.columns(4)
        # No min or max here: an out-of-range count gets the engine's message, which says why.
        iterations = c1.number_input(
            "Iterations",
            value=2000,
            step=500,
            key="bn-iterations",
            help=f"1 to {MAX_ITERATIONS:,} (the lesson: 2,000 and 50,000)",
        )
        eval_every = c2.number_input("Validate every N batches", value=50, step=10, key="bn-eval")
        seed = c3.number_input("Seed", value=0, step=1, key="bn-seed")
        if not st.button("Train the pair", type="primary", key="bn-pair-train"):
            return None
    return LabConfig(activation, float(lr), weights, float(std), int(iterations), int(eval_every), int(seed))


def _what(config: LabConfig) -> str:
    weights = f"weights std {config.weight_std:g}" if config.weights == "custom" else f"{config.weights} weights"
    return f"{config.activation}, lr {config.lr:g}, {weights}"


def _pair_view() -> None:
    job: BackgroundJob | None = st.session_state.get(JOB)
    if job is not None and isinstance(job.info, LabConfig):
        config = job.info
        lab_views.job_progress(job, _what(config))
        if job.running and st.button("Stop", key="bn-pair-stop"):
            job.stop()
        if job.result:
            pair = job.result[0]
        elif job.progress and job.progress[2]:
            pair = tuple(job.progress[2][:2])  # the live results: without, then with batch norm
        else:
            return
        st.plotly_chart(pair_accuracy_figure(pair, config.iterations), key="bn-pair-chart")
        if job.result:
            lab_views.test_accuracies(pair)
            lab_views.data_caption()
        return
    saved, note = store.load(store.PAIR)
    if note:
        st.warning(note)
    if saved is None:
        st.info(
            "Choose the settings and press *Train the pair*. The lesson's first comparison is the default: "
            "ReLU, learning rate 0.01, reasonable weights, 2,000 iterations."
        )
        return
    lab_views.saved_progress(saved, _what(saved.config))
    if saved.results:
        st.plotly_chart(pair_accuracy_figure(saved.results[0], saved.config.iterations), key="bn-pair-chart")
        if saved.state in ("finished", "stopped"):
            lab_views.test_accuracies(saved.results[0])
        lab_views.data_caption(saved)
