"""The table of all runs; choose runs to overlay their loss curves, open one, or delete them."""

from __future__ import annotations

import time

import streamlit as st

from dcgan.errors import RunLocked
from dcgan.paths import runs_root
from dcgan.runs.directory import ACTIVE_STATES, RunDirectory
from dcgan.runs.manage import delete_run, effective_state
from dcgan.runs.records import METRIC_LABELS, Metric
from ui.charts import COMPARISON_AXES, comparison_figure, quality_comparison_figure, run_colors
from ui.compare_samples import compare_samples
from ui.compare_table import comparison_table
from ui.run_view import followed_metrics

NUMBER_FORMATS = {Metric.D_LOSS: "%.3f", Metric.G_LOSS: "%.3f", Metric.IMAGES_PER_S: "%.0f"}  # the columns of numbers
AXIS_WORDS = {  # the comparison's x axis choices, as the radio shows them (the charts' axis titles say more)
    Metric.IMAGES_SEEN: "images seen",
    Metric.STEP: "step",
    Metric.TIME: "training time",
    Metric.EPOCH: "epoch",
}


def and_list(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def runs_table(runs: list[dict]) -> str | None:
    """Draw the table and the actions on the chosen rows; returns the name of a run to open, if asked."""
    note = st.session_state.pop("delete-note", None)  # what the last deletion did, said once
    if note:
        st.info(note)
    if not runs:
        st.info("No runs yet: start one above.")
        return None
    rows = [
        {
            "name": r["name"],
            "dataset": r["dataset"],
            "state": r["state"],
            "epochs": f"{r['epoch'] or 0:.2f}" + (f" / {r['epochs']}" if r["epochs"] else ""),
            **{METRIC_LABELS[key]: r[key] for key in NUMBER_FORMATS},
            "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"])) if r["created"] else "",
            "note": r["problem"] or "",
        }  # what is damaged in a run folder: such a run can be opened and deleted
        for r in runs
    ]
    st.dataframe(
        rows,
        key="runs-table",
        hide_index=True,
        column_config={
            METRIC_LABELS[key]: st.column_config.NumberColumn(format=shown) for key, shown in NUMBER_FORMATS.items()
        },
    )
    names = [r["name"] for r in runs]
    chosen = st.multiselect(
        "Runs to compare, open or delete",
        names,
        key="chosen-runs",
        placeholder="Choose one or more runs: their loss curves are overlaid below",
    )
    if not chosen:
        return None
    open_col, delete_col, _ = st.columns([1, 1, 4])
    opened = chosen[0] if open_col.button(f"Open {chosen[0]}", key="open-run-button") else None
    if delete_col.button(f"Delete {len(chosen)} run{'s' if len(chosen) > 1 else ''}…", key="delete-runs"):
        st.session_state["confirm-delete"] = chosen
    if st.session_state.get("confirm-delete") == chosen:
        _confirm_delete(chosen)
    _comparison(chosen)
    return opened


def _confirm_delete(names: list[str]) -> None:
    """Ask before deleting. A run still training is never deleted (delete_run refuses while its trainer holds the
    lock): the question names it and says it is kept; only the others are deleted."""
    training = [n for n in names if effective_state(RunDirectory(runs_root() / n)) in ACTIVE_STATES]
    stopped = [n for n in names if n not in training]
    kept = ""
    if training:
        one = len(training) == 1
        kept = (
            f"{and_list(training)} {'is' if one else 'are'} still training, so {'it is' if one else 'they are'} "
            f"kept: stop {'it' if one else 'them'} first (Open, then Stop) to delete {'it' if one else 'them'}."
        )
    if not stopped:
        st.warning(f"Nothing to delete: {kept}")
    else:
        whose = "Its" if len(stopped) == 1 else "Their"
        st.warning(
            f"Delete {and_list(stopped)}? {whose} checkpoints, samples and metrics are removed for good."
            + (f" {kept}" if kept else "")
        )
    yes, no, _ = st.columns([1, 1, 4])
    label = "Yes, delete it" if len(stopped) == 1 else f"Yes, delete {len(stopped)} runs"
    if stopped and yes.button(label, key="confirm-delete-yes", type="primary"):
        failed = []
        for name in stopped:
            try:
                delete_run(RunDirectory(runs_root() / name))
            except (RunLocked, OSError) as err:  # started training since the question was drawn, or a disk error
                failed.append(f"could not delete {name}: {err}")
        deleted = [n for n in stopped if not (runs_root() / n).exists()]
        said = [f"Deleted {and_list(deleted)}." if deleted else "", kept, *failed]
        st.session_state["delete-note"] = " ".join(part for part in said if part)
        st.session_state.pop("confirm-delete", None)
        st.session_state.pop("chosen-runs", None)
        st.rerun()
    if no.button("Cancel", key="confirm-delete-no"):
        st.session_state.pop("confirm-delete", None)
        st.rerun()


def _comparison(names: list[str]) -> None:
    x = st.radio(
        "Compare against",
        list(COMPARISON_AXES),
        format_func=lambda key: AXIS_WORDS[key],
        horizontal=True,
        key="compare-x",
        help="Epochs mislead across dataset sizes and steps across batch sizes: images seen lines runs up by how "
        "much data they trained on, training time by what they cost (quality scoring left out).",
    )
    colors = run_colors(names)  # one colour per chosen run in both charts
    curves = {}
    for name in names:
        records = followed_metrics(RunDirectory(runs_root() / name))  # refreshed every few seconds: new lines only
        if records:
            curves[name] = records
    if curves:
        st.plotly_chart(comparison_figure(curves, x, colors), key="comparison-chart", config={"displaylogo": False})
    scores = {name: RunDirectory(runs_root() / name).read_quality() for name in names}
    if any(scores.values()):
        st.plotly_chart(
            quality_comparison_figure({k: v for k, v in scores.items() if v}, x, colors, curves),
            key="quality-comparison",
            config={"displaylogo": False},
        )
    comparison_table(names)  # the settings that differ, and the final and best scores
    compare_samples(names)  # the grids side by side under one slider and one ▶ Play, by images seen
