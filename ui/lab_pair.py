"""The batch-norm lab's first tab: one network without and one with batch norm, trained live side by side.

The last pair is kept on disk (dcgan/bnlab/store.py): a reload, a page switch or a restarted server shows it
again, and a pair still training in this server is shown live, until the person trains another.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import streamlit as st

from dcgan.bnlab import store
from dcgan.bnlab.experiment import (
    ACTIVATIONS,
    MAX_INSIDE_RECORDS,
    MAX_ITERATIONS,
    MAX_SEEDS,
    LabConfig,
    train_seeds,
)
from dcgan.bnlab.inside import DEFAULT_EVERY
from dcgan.errors import ConfigError
from ui import lab_views  # lab_data through the module: tests swap in a smaller set
from ui.jobs import BackgroundJob, adopt, live_fragment, start_job
from ui.lab_charts import pair_curves_figure
from ui.lab_inside import inside_view
from ui.lab_kept import kept_picker

JOB = "bn-pair-job"  # session_state key of the job (the inference tab reuses its networks); job.info: its LabConfig
WEIGHTS = ["reasonable", "bad", "custom"]


def pair_tab() -> None:
    _restore_settings()
    config = _settings_form()
    if config is not None:
        try:
            config.validate()
            start_pair(config)
        except ConfigError as err:
            st.error(str(err))
    adopt(JOB, str(store.path_of(store.PAIR)))  # the pair this server trains or trained, after a reload too
    reopened = kept_picker(store.PAIR, "bn-pair-kept", lambda saved: _what(saved.config))
    if reopened is None:
        live_fragment(JOB, _pair_view)
        return
    job: BackgroundJob | None = st.session_state.get(JOB)
    if job is not None and job.running:
        job.seen()  # not shown now, but the person is on the page: it trains on
        st.caption("A pair is training: choose *the last one* above to watch it.")
    lab_views.saved_progress(reopened, _what(reopened.config))
    _pair_results(reopened.results, reopened.config, finished=reopened.state in ("finished", "stopped"))
    lab_views.data_caption(reopened)


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
            pairs, nets = train_seeds(
                config, data, progress=recorder.progress(progress, _pairs_of), should_stop=should_stop
            )
        except Exception as err:
            recorder.fail(f"{type(err).__name__}: {err}")
            raise
        job = started[0] if started else None  # set as soon as the job starts, long before training ends
        recorder.finish(pairs, stopped=bool(job and job.stopped), unseen=bool(job and job.abandoned))
        return pairs, nets

    job = start_job(JOB, work, shared=str(store.path_of(store.PAIR)))
    job.info = config
    started.append(job)
    return job


def _pairs_of(results: list) -> list:
    """The engine's flat networks (k without batch norm, then their k twins) as k (without, with) pairs."""
    k = len(results) // 2
    return [(results[j], results[j + k]) for j in range(k)]


# The settings' widget keys and the LabConfig field each shows; a reload starts a new session, whose boxes take
# the kept pair's settings (else they would fall back to the defaults while the page shows another pair).
_FIELDS = {
    "bn-act": "activation",
    "bn-lr": "lr",
    "bn-weights": "weights",
    "bn-std": "weight_std",
    "bn-iterations": "iterations",
    "bn-eval": "eval_every",
    "bn-seed": "seed",
    "bn-seeds": "seeds",
}
_DEFAULTS = {**{key: getattr(LabConfig(), name) for key, name in _FIELDS.items()}, "bn-std": 0.5}


def _restore_settings() -> None:
    if "bn-act" in st.session_state:
        return
    values = dict(_DEFAULTS)
    values["bn-inside"], values["bn-inside-every"] = True, DEFAULT_EVERY
    saved, _ = store.load(store.PAIR)
    if saved is not None:
        config = saved.config
        values.update({key: getattr(config, name) for key, name in _FIELDS.items()})
        values["bn-inside"] = config.inside_every > 0
        values["bn-inside-every"] = config.inside_every or DEFAULT_EVERY
    values["bn-lr"], values["bn-std"] = float(values["bn-lr"]), float(values["bn-std"])
    st.session_state.update(values)


def _settings_form() -> LabConfig | None:
    """The settings; the config they ask for when *Train the pair* was pressed, else None. Not a form: *Custom
    std* is enabled only while the weights are "custom", which a form would learn only when submitted."""
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns(4)
        activation = c1.selectbox("Activation", list(ACTIVATIONS), key="bn-act")
        lr = c2.number_input("Learning rate", step=0.01, format="%.4f", key="bn-lr")
        weights = c3.selectbox(
            "Starting weights",
            WEIGHTS,
            key="bn-weights",
            help="reasonable: normal, std 0.05; bad: std 5.0; custom: the std on the right",
        )
        std = c4.number_input(
            "Custom std",
            step=0.05,
            format="%.3f",
            key="bn-std",
            disabled=weights != "custom",
            help="the starting weights' std; used when the starting weights are custom",
        )
        c1, c2, c3, c4 = st.columns(4)
        # No min or max here: an out-of-range count gets the engine's message, which says why.
        iterations = c1.number_input(
            "Iterations", step=500, key="bn-iterations", help=f"1 to {MAX_ITERATIONS:,} (the lesson: 2,000 and 50,000)"
        )
        eval_every = c2.number_input("Validate every N batches", step=10, key="bn-eval")
        seed = c3.number_input("Seed", step=1, key="bn-seed")
        seeds = c4.number_input(
            "Seeds per network",
            step=1,
            key="bn-seeds",
            help=f"1 to {MAX_SEEDS}: each network is trained from the starting weights of seed, seed + 1, … at once "
            "(the same batches); the charts show their mean and their spread as a band",
        )
        c1, c2, _ = st.columns([2, 1, 1])
        inside = c1.checkbox(
            "Record the inside view",
            key="bn-inside",
            help="per layer: pre-activations, saturation, gradients and update ratios of both networks, every "
            "N iterations (about 5% more training time at every 50: benchmarks/bn_inside_cost.py)",
        )
        every = c2.number_input("…every N iterations", step=5, key="bn-inside-every", disabled=not inside)
        if not st.button("Train the pair", type="primary", key="bn-pair-train"):
            return None
    config = LabConfig(activation, float(lr), weights, float(std), int(iterations), int(eval_every), int(seed))
    config.seeds, config.inside_every = int(seeds), int(every) if inside else 0
    fewest = math.ceil(config.iterations / MAX_INSIDE_RECORDS)
    if 0 < config.inside_every < fewest and config.iterations <= MAX_ITERATIONS:
        # A long run with the default interval: fewer records rather than an error the person did not cause.
        config.inside_every = fewest
        st.info(
            f"The inside view records every {fewest:,} iterations for {config.iterations:,} iterations: "
            f"at most {MAX_INSIDE_RECORDS} records a network."
        )
    return config


def _what(config: LabConfig) -> str:
    weights = f"weights std {config.weight_std:g}" if config.weights == "custom" else f"{config.weights} weights"
    seeds = f", {config.seeds} seeds" if config.seeds > 1 else ""
    return f"{config.activation}, lr {config.lr:g}, {weights}{seeds}"


def _pair_view() -> None:
    job: BackgroundJob | None = st.session_state.get(JOB)
    if job is not None and isinstance(job.info, LabConfig):
        config = job.info
        lab_views.job_progress(job, _what(config))
        if job.running and st.button("Stop", key="bn-pair-stop"):
            job.stop()
        if job.result:
            pairs = job.result[0]
        elif job.progress and job.progress[2]:
            pairs = _pairs_of(job.progress[2])  # the live results
        else:
            return
        _pair_results(pairs, config, finished=bool(job.result))
        if job.result:
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
        _pair_results(saved.results, saved.config, finished=saved.state in ("finished", "stopped"))
        lab_views.data_caption(saved)


def _pair_results(pairs: list, config: LabConfig, finished: bool) -> None:
    """Accuracy and loss curves (bands over the seeds), the test accuracies, and the inside view."""
    left, right = st.columns(2)
    left.plotly_chart(pair_curves_figure(pairs, config.iterations), key="bn-pair-chart")
    right.plotly_chart(pair_curves_figure(pairs, config.iterations, "loss"), key="bn-pair-loss")
    if finished:
        lab_views.test_accuracies(pairs)
    with st.expander("Inside the networks, layer by layer", expanded=True):
        inside_view(pairs, config.activation, "bn-inside-view")
