"""The batch-norm lab's second tab: the lesson's whole table, every row's pair trained in one batched run."""

from __future__ import annotations

import streamlit as st

from dcgan.bnlab.experiment import (
    MAX_ITERATIONS,
    NetworkResult,
    TableRow,
    distinct_configs,
    lesson_table,
    run_table,
    table_configs,
)
from dcgan.errors import ConfigError
from ui import lab_views  # lab_data through the module: tests swap in a smaller set
from ui.jobs import live_fragment, start_job

JOB = "bn-table-job"
NETWORKS = "bn-table-networks"  # how many networks the running table trains (rows that coincide train once)


def table_tab() -> None:
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
    if st.button(f"Run all {len(rows)} rows at once", type="primary", key="bn-table-run"):
        try:
            configs = table_configs(rows, iterations)  # bad settings are an error here, not in the job's thread
            st.session_state[NETWORKS] = 2 * len(distinct_configs(configs))
            start_job(JOB, lambda **kw: run_table(rows, lab_views.lab_data(), iterations, **kw))
        except ConfigError as err:
            st.error(str(err))
    # Only the progress bar is polled while the table trains: redrawing the table with it every poll took a
    # third of this 2-core CPU from the training (25 s against 16 s). The page is rerun once when it ends.
    live_fragment(JOB, _table_progress)
    job = st.session_state.get(JOB)
    results = job.result if job and job.result else None
    st.dataframe(table_rows(rows, results), hide_index=True, key="bn-table")
    if results:
        ahead = sum(b.test_accuracy > a.test_accuracy for a, b in results)
        st.caption(
            f"Batch norm ahead in {ahead} of {len(rows)} rows, on {lab_views.lab_data().name}; "
            f"trained on {lab_views.lab_device()}."
        )
        lab_views.data_caption()


def _table_progress() -> None:
    if job := st.session_state.get(JOB):
        networks = st.session_state.get(NETWORKS)
        lab_views.job_progress(job, f"All {networks} networks, batched, on {lab_views.lab_device()}")
        if job.running and st.button(
            "Stop", key="bn-table-stop", help="ends every row where it is; the table shows how far each got"
        ):
            job.stop()


def table_rows(rows: list[TableRow], results: list[tuple[NetworkResult, NetworkResult]] | None) -> list[dict]:
    """The table as shown: each published row, and beside it ours once the table has trained."""
    table = []
    for i, row in enumerate(rows):
        entry: dict = {
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
    return table
