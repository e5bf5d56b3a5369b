"""Batch-norm lab: the lesson's networks with and without batch norm, its whole table, inference mode, DCGAN."""

import streamlit as st

from ui.shell import require_shell

require_shell()

from dcgan.bnlab.experiment import (  # noqa: E402
    ACTIVATIONS,
    MAX_ITERATIONS,
    LabConfig,
    lesson_table,
    run_table,
    table_configs,
    train_pair,
)
from dcgan.errors import ConfigError  # noqa: E402
from ui.jobs import BackgroundJob, live_fragment  # noqa: E402
from ui.lab_dcgan import dcgan_comparison_tab  # noqa: E402
from ui.lab_inference import inference_tab  # noqa: E402
from ui.lab_views import accuracy_figure, data_caption, job_progress, lab_data, lab_device, test_accuracies  # noqa: E402

st.title("Batch-norm lab")
st.caption(
    "The batch-normalization lesson: two networks with identical starting weights, fed identical batches; "
    "the only difference is batch norm. Fully connected 784 → 100 → 100 → 100 → 10, plain SGD, batches of 60."
)

pair_tab, table_tab, inference, dcgan_tab = st.tabs(
    ["A pair", "The lesson's table", "Inference mode", "DCGAN with and without batch norm"]
)


def _start(key: str, fn, *args) -> None:
    old = st.session_state.get(key)
    if old and old.running:
        old.stop()
    st.session_state[key] = BackgroundJob(fn, *args)


with pair_tab:
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
        run = st.form_submit_button("Train the pair", type="primary")
    if run:
        config = LabConfig(activation, float(lr), weights, float(std), int(iterations), int(eval_every), int(seed))
        try:
            config.validate()
            _start("bn-pair-job", lambda **kw: train_pair(config, lab_data(), **kw))
            st.session_state["bn-pair-config"] = config
        except ConfigError as err:
            st.error(str(err))

    def _pair_view() -> None:
        job, config = st.session_state.get("bn-pair-job"), st.session_state.get("bn-pair-config")
        if job is None:
            st.info(
                "Choose the settings and press *Train the pair*. The lesson's first comparison is the default: "
                "ReLU, learning rate 0.01, reasonable weights, 2,000 iterations."
            )
            return
        job_progress(job, f"{config.activation}, lr {config.lr:g}, {config.weights} weights")
        if job.running and st.button("Stop", key="bn-pair-stop"):
            job.stop()
        if job.result:
            pair = job.result[0]
        elif job.progress and job.progress[2]:
            pair = tuple(job.progress[2][:2])  # the live results: without, then with batch norm
        else:
            return
        st.plotly_chart(accuracy_figure(pair, config.iterations), key="bn-pair-chart")
        if job.result:
            test_accuracies(pair)
            data_caption()

    live_fragment("bn-pair-job", _pair_view)

with table_tab:
    rows = lesson_table()
    c1, c2 = st.columns([2, 1])
    published = c1.radio(
        "Iterations",
        ["the same for every row", "each row's published count (50,000 for most)"],
        key="bn-table-its",
        horizontal=True,
    )
    # No min/max on the widget: Streamlit would keep the old value and hide its reason in a tooltip, so an
    # out-of-range count goes to the engine's check, whose message the page shows.
    same = c2.number_input(
        "Iterations for every row",
        value=2000,
        step=500,
        key="bn-table-n",
        disabled=not published.startswith("the same"),
        help=f"at most {MAX_ITERATIONS:,}: twice the lesson's longest runs",
    )
    iterations = int(same) if published.startswith("the same") else None
    if st.button("Run all 15 rows at once", type="primary", key="bn-table-run"):
        try:
            table_configs(rows, iterations)  # bad settings are an error here, not in the job's thread
            _start("bn-table-job", lambda **kw: run_table(rows, lab_data(), iterations, **kw))
        except ConfigError as err:
            st.error(str(err))

    def _table_progress() -> None:
        if job := st.session_state.get("bn-table-job"):
            job_progress(job, f"All 30 networks, batched, on {lab_device()}")
            if job.running and st.button(
                "Stop", key="bn-table-stop", help="ends every row where it is; the table shows how far each got"
            ):
                job.stop()

    # Only the progress bar is polled while the table trains: redrawing the table with it every poll took a
    # third of this 2-core CPU from the training (25 s against 16 s). The page is rerun once when it ends.
    live_fragment("bn-table-job", _table_progress)
    job = st.session_state.get("bn-table-job")
    results = job.result if job and job.result else None
    table = []
    for i, row in enumerate(rows):
        entry = {
            "weights": row.weights,
            "lr": row.lr,
            "activation": row.activation,
            "published iterations": row.iterations,
            "published without BN": row.without_bn,
            "published with BN": row.with_bn,
            "note": row.note,
        }
        if results:
            without, with_bn = results[i]
            diverged = [
                f"{name} at {r.diverged_at:,}"
                for name, r in (("without BN", without), ("with BN", with_bn))
                if r.diverged_at
            ]
            entry.update(
                {
                    "our iterations": without.trained,
                    "ours without BN": without.test_accuracy,
                    "ours with BN": with_bn.test_accuracy,
                    "diverged": ", ".join(diverged),
                }
            )
        table.append(entry)
    st.dataframe(table, hide_index=True, key="bn-table")
    if results:
        ahead = sum(b.test_accuracy > a.test_accuracy for a, b in results)
        st.caption(f"Batch norm ahead in {ahead} of {len(rows)} rows, on {lab_data().name}; trained on {lab_device()}.")
        data_caption()

with inference:
    inference_tab(st.session_state.get("bn-pair-job"))

with dcgan_tab:
    dcgan_comparison_tab()
