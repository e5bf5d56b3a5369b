"""The batch-norm lab's second tab: the lesson's whole table, every row's pair trained in one batched run, and
the table as a chart. The last run is kept on disk (dcgan/bnlab/store.py) until the person starts another."""

from __future__ import annotations

import streamlit as st

from dcgan.bnlab import store
from dcgan.bnlab.experiment import MAX_ITERATIONS, MAX_SEEDS, NetworkResult
from dcgan.bnlab.seeds import by_row, test_spread
from dcgan.bnlab.table import TableRow, distinct_configs, lesson_table, run_table, table_configs
from dcgan.errors import ConfigError
from ui import lab_views  # lab_data through the module: tests swap in a smaller set
from ui.jobs import BackgroundJob, adopt, live_fragment, start_job
from ui.lab_charts import table_figure
from ui.lab_kept import kept_picker

JOB = "bn-table-job"  # job.info: (how many networks it trains (rows that coincide train once), seeds per row)
PUBLISHED = "each row's published count (50,000 for most)"


def table_tab() -> None:
    rows = lesson_table()
    _restore_settings()
    c1, c2, c3 = st.columns([2, 1, 1])
    published = c1.radio(
        "Iterations",
        ["the same for every row", PUBLISHED],
        key="bn-table-its",
        horizontal=True,
    )
    # No min/max on the widget: Streamlit would keep the old value and hide its reason in a tooltip, so an
    # out-of-range count goes to the engine's check, whose message the page shows.
    same = c2.number_input(
        "Iterations for every row",
        step=500,
        key="bn-table-n",
        disabled=not published.startswith("the same"),
        help=f"at most {MAX_ITERATIONS:,}: twice the lesson's longest runs",
    )
    seeds = c3.number_input(
        "Seeds per row",
        step=1,
        key="bn-table-seeds",
        help=f"1 to {MAX_SEEDS}: every row's two networks from so many starting weights, all trained at once; "
        "the chart shows their mean and a bar from the lowest to the highest",
    )
    iterations = int(same) if published.startswith("the same") else None
    if st.button(f"Run all {len(rows)} rows at once", type="primary", key="bn-table-run"):
        try:
            start_table(rows, iterations, int(seeds))
        except ConfigError as err:
            st.error(str(err))
    adopt(JOB, str(store.path_of(store.TABLE)))  # the table this server trains or trained, after a reload too
    # Only the progress bar is polled while the table trains: redrawing the table with it every poll took a
    # third of this 2-core CPU from the training (25 s against 16 s). The page is rerun once when it ends.
    live_fragment(JOB, _table_progress)
    job: BackgroundJob | None = st.session_state.get(JOB)
    saved: store.Saved | None = None
    reopened = kept_picker(store.TABLE, "bn-table-kept", _kept_label)
    seeds = 1
    if reopened is not None:
        saved, job = reopened, None
        seeds = int(saved.settings.get("seeds", 1))
        results = saved.results if len(saved.results) == len(rows) * seeds else None
    elif job is not None:
        results = job.result or None
        seeds = int(job.info[1]) if isinstance(job.info, tuple) else 1
    else:
        saved, note = store.load(store.TABLE)
        if note:
            st.warning(note)
        seeds = int(saved.settings.get("seeds", 1)) if saved else 1
        results = saved.results if saved and len(saved.results) == len(rows) * seeds else None
    st.dataframe(
        table_rows(rows, results, seeds),
        hide_index=True,
        key="bn-table",
        height="content",  # every row: "auto" shows ten
        width="stretch",
        column_config=_COLUMNS,
    )
    notes = [f"row {i + 1}: {row.note}" for i, row in enumerate(rows) if row.note]
    if notes:  # below the table, not a column: at 1400 px the columns fill the page's width already
        st.caption("The lesson's notes: " + "; ".join(notes) + ".")
    if results:
        ahead = sum(_ahead(pairs) for pairs in by_row(results, seeds))
        where = (
            f"on {lab_views.lab_data().name}; trained on {lab_views.lab_device()}"
            if job
            else f"on {saved.data if saved else 'digits'}; saved"
        )
        over = f", by its mean over {seeds} seeds" if seeds > 1 else ""
        st.caption(f"Batch norm ahead in {ahead} of {len(rows)} rows{over} ({where}).")
    st.plotly_chart(table_figure(rows, results, seeds), key="bn-table-chart")
    if results:
        lab_views.data_caption(saved)


def _ahead(pairs: list[tuple[NetworkResult, NetworkResult]]) -> bool:
    a, b = test_spread([p[0] for p in pairs]), test_spread([p[1] for p in pairs])
    return a is not None and b is not None and b.mean > a.mean


def _kept_label(saved: store.Saved) -> str:
    its = saved.settings.get("iterations")
    seeds = int(saved.settings.get("seeds", 1))
    return f"{'published counts' if its is None else f'{its:,} its'}" + (f", {seeds} seeds" if seeds > 1 else "")


_DEFAULTS = {"bn-table-n": 2000, "bn-table-seeds": 1}


def _restore_settings() -> None:
    """A reload's new session: the boxes show the kept table's settings, not the defaults."""
    if "bn-table-n" in st.session_state:
        return
    values: dict = dict(_DEFAULTS)
    saved, _ = store.load(store.TABLE)
    if saved is not None:
        its = saved.settings.get("iterations")
        if its is None:
            values["bn-table-its"] = PUBLISHED
        else:
            values["bn-table-n"] = int(its)
        values["bn-table-seeds"] = int(saved.settings.get("seeds", 1))
    st.session_state.update(values)


def start_table(rows: list[TableRow], iterations: int | None, seeds: int = 1) -> BackgroundJob:
    """Train every row in a job of the server; bad settings are a ConfigError here, not in the job's thread."""
    networks = 2 * len(distinct_configs(table_configs(rows, iterations, seeds=seeds))) * seeds
    recorder = store.Recorder(
        store.Saved(
            store.TABLE,
            {"iterations": iterations, "networks": networks, "seeds": seeds},
            total=iterations or max(r.iterations for r in rows),
            device=lab_views.lab_device(),
        )
    )
    started: list[BackgroundJob] = []

    def work(progress, should_stop):
        try:
            data = lab_views.lab_data()
            recorder.saved.data = data.name
            results = run_table(
                rows, data, iterations, progress=recorder.progress(progress), should_stop=should_stop, seeds=seeds
            )
        except Exception as err:
            recorder.fail(f"{type(err).__name__}: {err}")
            raise
        job = started[0] if started else None  # set as soon as the job starts, long before training ends
        recorder.finish(results, stopped=bool(job and job.stopped), unseen=bool(job and job.abandoned))
        return results

    job = start_job(JOB, work, shared=str(store.path_of(store.TABLE)))
    job.info = (networks, seeds)
    started.append(job)
    return job


def _table_progress() -> None:
    job: BackgroundJob | None = st.session_state.get(JOB)
    if job is not None:
        networks = job.info[0] if isinstance(job.info, tuple) else job.info
        lab_views.job_progress(job, f"All {networks} networks, batched, on {lab_views.lab_device()}")
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
# Short headers and widths that add up to less than the page's width at 1400 px (about 940 px of table), so
# every column shows whole; the full words are in each header's help, the lesson's notes below the table.
_COLUMNS = {
    "row": st.column_config.NumberColumn("#", width=32, help="the row's number in the chart below"),
    "weights": st.column_config.TextColumn("weights", width=78),
    "lr": st.column_config.NumberColumn("lr", width=40, format="%g"),
    "activation": st.column_config.TextColumn("activation", width=72),
    "published iterations": st.column_config.NumberColumn(
        "pub. its", width=58, format="%d", help="the iterations behind the published accuracies"
    ),
    "published without BN": st.column_config.NumberColumn(
        "pub. w/o BN", width=84, format="%.4f", help="the lesson's test accuracy without batch norm"
    ),
    "published with BN": st.column_config.NumberColumn(
        "pub. BN", width=64, format="%.4f", help="the lesson's test accuracy with batch norm"
    ),
    "our iterations": st.column_config.NumberColumn("our its", width=56, format="%d"),
    "ours without BN": st.column_config.NumberColumn(
        "ours w/o BN", width=84, format="%.4f", help="our test accuracy without batch norm (with seeds: their mean)"
    ),
    "ours with BN": st.column_config.NumberColumn(
        "ours BN", width=64, format="%.4f", help="our test accuracy with batch norm (with seeds: their mean)"
    ),
    "seeds' range": st.column_config.TextColumn(
        "seeds' range", width=150, help="without / with batch norm: the lowest and highest test accuracy of the seeds"
    ),
    "diverged": st.column_config.TextColumn(
        "diverged", width=112, help="where a network's loss became NaN/inf (with seeds: how many of them)"
    ),
}


def table_rows(
    rows: list[TableRow], results: list[tuple[NetworkResult, NetworkResult]] | None, seeds: int = 1
) -> list[dict]:
    """The table as shown: each published row, and beside it ours once the table has trained (with several seeds
    per row, their mean, and their range in its own column). The key columns come first (the settings, then
    published and our accuracies); the diverged points last."""
    table = []
    grouped = by_row(results, seeds) if results else None
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
        if grouped:
            pairs = grouped[i]
            without, with_bn = test_spread([a for a, _ in pairs]), test_spread([b for _, b in pairs])
            diverged = []
            for name, side in (("w/o BN", 0), ("BN", 1)):
                at = [pair[side].diverged_at for pair in pairs if pair[side].diverged_at]
                if at and seeds == 1:
                    diverged.append(f"{name} at {at[0]:,}")
                elif at:
                    diverged.append(f"{name} {len(at)} of {seeds}")
            entry.update(
                {
                    "our iterations": pairs[0][0].trained,
                    "ours without BN": without.mean if without else None,
                    "ours with BN": with_bn.mean if with_bn else None,
                }
            )
            if seeds > 1:
                span = lambda s: f"{s.low:.2f}-{s.high:.2f}" if s else "—"
                entry["seeds' range"] = f"{span(without)} / {span(with_bn)}"
            entry["diverged"] = ", ".join(diverged)
        table.append(entry)
    return table
