"""The batch-norm lab's first tab: one network without and one with batch norm, trained live side by side."""

from __future__ import annotations

import streamlit as st

from dcgan.bnlab.experiment import ACTIVATIONS, MAX_ITERATIONS, LabConfig, train_pair
from dcgan.errors import ConfigError
from ui import lab_views  # lab_data through the module: tests swap in a smaller set
from ui.charts import pair_accuracy_figure
from ui.jobs import live_fragment, start_job

JOB = "bn-pair-job"  # session_state keys: the job (the inference tab reuses its networks), its settings
CONFIG = "bn-pair-config"


def pair_tab() -> None:
    config = _settings_form()
    if config is not None:
        try:
            config.validate()
            start_job(JOB, lambda **kw: train_pair(config, lab_views.lab_data(), **kw))
            st.session_state[CONFIG] = config
        except ConfigError as err:
            st.error(str(err))
    live_fragment(JOB, _pair_view)


def _settings_form() -> LabConfig | None:
    """The form; the config it asks for when *Train the pair* was pressed, else None."""
    with st.form("bn-pair"):
        c1, c2, c3, c4 = st.columns(4)
        activation = c1.selectbox("Activation", list(ACTIVATIONS), key="bn-act")
        lr = c2.number_input("Learning rate", value=0.01, step=0.01, format="%.4f", key="bn-lr")
        weights = c3.selectbox(
            "Starting weights",
            ["reasonable", "bad", "custom"],
            key="bn-weights",
            help="reasonable: normal, std 0.05; bad: std 5.0; custom: the std on the right",
        )
        std = c4.number_input("Custom std", value=0.5, step=0.05, format="%.3f", key="bn-std")
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
        if not st.form_submit_button("Train the pair", type="primary"):
            return None
    return LabConfig(activation, float(lr), weights, float(std), int(iterations), int(eval_every), int(seed))


def _pair_view() -> None:
    job, config = st.session_state.get(JOB), st.session_state.get(CONFIG)
    if job is None:
        st.info(
            "Choose the settings and press *Train the pair*. The lesson's first comparison is the default: "
            "ReLU, learning rate 0.01, reasonable weights, 2,000 iterations."
        )
        return
    lab_views.job_progress(job, f"{config.activation}, lr {config.lr:g}, {config.weights} weights")
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
