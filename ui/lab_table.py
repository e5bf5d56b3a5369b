"""The batch-norm lab's second tab: the lesson's whole table, every row's pair trained in one batched run, and
the table as a chart. The last run is kept on disk (dcgan/bnlab/store.py) until the person starts another."""

from __future__ import annotations

import streamlit as st

from dcgan.bnlab import store
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
from ui.jobs import BackgroundJob, adopt, live_fragment, start_job
from ui.lab_charts import table_figure

JOB = "bn-table-job"  # job.info: how many networks it trains (rows that coincide train once)


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
            start_table(rows, iterations)
        except ConfigError as err:
            st.error(str(err))
    adopt(JOB, str(store.path_of(store.TABLE)))  # the table this server trains or trained, after a reload too
    # Only the progress bar is polled while the table trains: redrawing the table with it every poll took a
    # third of this 2-core CPU from the training (25 s against 16 s). The page is rerun once when it ends.
    live_fragment(JOB, _table_progress)
    job: BackgroundJob | None = st.session_state.get(JOB)
    saved: store.Saved | None = None
    if job is not None:
        results = job.result or None
    else:
        saved, note = store.load(store.TABLE)
        if note:
            st.warning(note)
        results = saved.results if saved and len(saved.results) == len(rows) else None
    st.dataframe(
        table_rows(rows, results),
        hide_index=True,
        key="bn-table",
        height="content",  # every row: "auto" shows ten
        width="stretch",
        column_config=_COLUMNS,
    )
    if results:
        ahead = sum(_ahead(a, b) for a, b in results)
        where = (
            f"on {lab_views.lab_data().name}; trained on {lab_views.lab_device()}"
            if job
            else f"on {saved.data if saved else 'digits'}; saved"
        )
        st.caption(f"Batch norm ahead in {ahead} of {len(rows)} rows ({where}).")
    st.plotly_chart(table_figure(rows, results), key="bn-table-chart")
    if results:
        lab_views.data_caption(saved)


def _ahead(without: NetworkResult, with_bn: NetworkResult) -> bool:
    a, b = without.test_accuracy, with_bn.test_accuracy
    return a is not None and b is not None and b > a


def start_table(rows: list[TableRow], iterations: int | None) -> BackgroundJob:
    """Train every row in a job of the server; bad settings are a ConfigError here, not in the job's thread."""
    networks = 2 * len(distinct_configs(table_configs(rows, iterations)))
    recorder = store.Recorder(
        store.Saved(
            store.TABLE,
            {"iterations": iterations, "networks": networks},
            total=iterations or max(r.iterations for r in rows),
            device=lab_views.lab_device(),
        )
    )
    started: list[BackgroundJob] = []

    def work(progress, should_stop):
        try:
            data = lab_views.lab_data()
            recorder.saved.data = data.name
            results = run_table(rows, data, iterations, progress=recorder.progress(progress), should_stop=should_stop)
        except Exception as err:
            recorder.fail(f"{type(err).__name__}: {err}")
            raise
        job = started[0] if started else None  # set as soon as the job starts, long before training ends
        recorder.finish(results, stopped=bool(job and job.stopped), unseen=bool(job and job.abandoned))
        return results

    job = start_job(JOB, work, shared=str(store.path_of(store.TABLE)))
    job.info = networks
    started.append(job)
    return job


def _table_progress() -> None:
    job: BackgroundJob | None = st.session_state.get(JOB)
    if job is not None:
        lab_views.job_progress(job, f"All {job.info} networks, batched, on {lab_views.lab_device()}")
        if job.running and st.button(
            "Stop", key="bn-table-stop", help="ends every row where it is; the table shows how far each got"
        ):
            job.stop()
        return
    saved, _ = store.load(store.TABLE)  # a note, if any, is shown once beside the table
    if saved is not None:
        lab_views.saved_progress(
            saved, f"All {saved.settings.get('networks', '')} networks, batched, on {saved.device or 'this machine'}"
        )


# Short headers, so every key column fits beside the others without cutting (the full words are in the help).
_COLUMNS = {
    "row": st.column_config.NumberColumn("#", width=36, help="the row's number in the chart below"),
    "weights": st.column_config.TextColumn("weights", width=90),
    "lr": st.column_config.NumberColumn("lr", width=50, format="%g"),
    "activation": st.column_config.TextColumn("activation", width=80),
    "published iterations": st.column_config.NumberColumn(
        "pub. its", width=70, format="%d", help="the iterations behind the published accuracies"
    ),
    "published without BN": st.column_config.NumberColumn(
        "pub. without BN", width=120, format="%.4f", help="the lesson's test accuracy without batch norm"
    ),
    "published with BN": st.column_config.NumberColumn(
        "pub. with BN", width=100, format="%.4f", help="the lesson's test accuracy with batch norm"
    ),
    "our iterations": st.column_config.NumberColumn("our its", width=70, format="%d"),
    "ours without BN": st.column_config.NumberColumn(
        "ours without BN", width=120, format="%.4f", help="our test accuracy without batch norm"
    ),
    "ours with BN": st.column_config.NumberColumn(
        "ours with BN", width=100, format="%.4f", help="our test accuracy with batch norm"
    ),
    "diverged": st.column_config.TextColumn("diverged", help="the iteration where a network's loss became NaN/inf"),
    "note": st.column_config.TextColumn("note"),
}


def table_rows(rows: list[TableRow], results: list[tuple[NetworkResult, NetworkResult]] | None) -> list[dict]:
    """The table as shown: each published row, and beside it ours once the table has trained. The key columns
    come first (the settings, then published and our accuracies); the diverged points and notes last."""
    table = []
    for i, row in enumerate(rows):
        entry: dict = {
            "row": i + 1,
            "weights": row.weights,
            "lr": row.lr,
            "activation": row.activation,
            "published iterations": row.iterations,
            "published without BN": row.without_bn,
            "published with BN": row.with_bn,
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
        entry["note"] = row.note
        table.append(entry)
    return table
