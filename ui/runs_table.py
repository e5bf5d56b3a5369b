"""The table of all runs; choose runs to overlay their loss curves, open one, or delete them."""

from __future__ import annotations

import time

import streamlit as st

from dcgan.errors import RunLocked
from dcgan.paths import runs_root
from dcgan.runs.directory import ACTIVE_STATES, RunDirectory
from dcgan.runs.manage import delete_run, effective_state
from dcgan.runs.records import METRIC_LABELS, Metric
from ui.charts import comparison_figure, quality_comparison_figure
from ui.run_view import followed_metrics

NUMBER_FORMATS = {Metric.D_LOSS: "%.3f", Metric.G_LOSS: "%.3f", Metric.IMAGES_PER_S: "%.0f"}  # the columns of numbers


def runs_table(runs: list[dict]) -> str | None:
    """Draw the table and the actions on the chosen rows; returns the name of a run to open, if asked."""
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
    training = [n for n in names if effective_state(RunDirectory(runs_root() / n)) in ACTIVE_STATES]
    whose = "Its" if len(names) == 1 else "Their"
    st.warning(
        f"Delete {', '.join(names)}? {whose} checkpoints, samples and metrics are removed for good."
        + (
            f" {', '.join(training)} {'is' if len(training) == 1 else 'are'} still training: stop "
            f"{'it' if len(training) == 1 else 'them'} first."
            if training
            else ""
        )
    )
    yes, no, _ = st.columns([1, 1, 4])
    if yes.button("Yes, delete", key="confirm-delete-yes", type="primary"):
        for name in names:
            try:
                delete_run(RunDirectory(runs_root() / name))
            except (RunLocked, OSError) as err:
                st.error(f"Could not delete {name}: {err}")
                return
        st.session_state.pop("confirm-delete", None)
        st.session_state.pop("chosen-runs", None)
        st.rerun()
    if no.button("Cancel", key="confirm-delete-no"):
        st.session_state.pop("confirm-delete", None)
        st.rerun()


def _comparison(names: list[str]) -> None:
    curves = {}
    for name in names:
        records = followed_metrics(RunDirectory(runs_root() / name))  # refreshed every few seconds: new lines only
        if records:
            curves[name] = records
    if curves:
        st.plotly_chart(comparison_figure(curves), key="comparison-chart", config={"displaylogo": False})
    scores = {name: RunDirectory(runs_root() / name).read_quality() for name in names}
    if any(scores.values()):
        st.plotly_chart(
            quality_comparison_figure({k: v for k, v in scores.items() if v}),
            key="quality-comparison",
            config={"displaylogo": False},
        )
