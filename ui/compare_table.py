"""The run comparison's table: the settings in which the chosen runs differ (config.json, flattened), then each
run's final and best quality score, saying which direction is better and which scores cannot be trusted.
Engine: dcgan/runs/compare.py."""

from __future__ import annotations

import streamlit as st

from dcgan.paths import runs_root
from dcgan.runs.compare import (
    ScoreSummary,
    incomparable_spaces,
    read_flat_config,
    settings_that_differ,
    shown_value,
    summarize_scores,
)
from dcgan.runs.directory import RunDirectory

SETTING_COLUMN = "setting"
FINAL_ROW = "Fréchet distance, final (lower is better)"
BEST_ROW = "Fréchet distance, best (lower is better)"
COVERAGE_ROW = "coverage, final (higher is better; near 0 = collapse)"
UNRELIABLE = "unreliable"


def _score(record: dict) -> str:
    """'2,888.5 at epoch 5' and, when its classifier cannot be trusted (as the charts judge it: the line's
    `reliable` is not true), '(unreliable)'."""
    doubtful = record.get("reliable") is not True
    return f"{record['frechet']:,.1f} at epoch {record['epoch']:g}" + (f" ({UNRELIABLE})" if doubtful else "")


def comparison_rows(names: list[str]) -> tuple[list[dict], list[str]]:
    """The table's rows (one per differing setting, then the scores; a column per run) and notes to show under it
    (unreadable configs, unreliable or incomparable scores)."""
    notes: list[str] = []
    configs = {}
    for name in names:
        flat, problem = read_flat_config(RunDirectory(runs_root() / name))
        configs[name] = flat
        if problem:
            notes.append(f"{problem}: its settings are left out")
    rows = [
        {SETTING_COLUMN: setting, **{run: shown_value(value) for run, value in values.items()}}
        for setting, values in settings_that_differ({n: c for n, c in configs.items() if c})
    ]
    summaries: dict[str, ScoreSummary | None] = {
        name: summarize_scores(RunDirectory(runs_root() / name).read_quality()) for name in names
    }
    if any(summaries.values()):
        final, best, coverage = {SETTING_COLUMN: FINAL_ROW}, {SETTING_COLUMN: BEST_ROW}, {SETTING_COLUMN: COVERAGE_ROW}
        for name, summary in summaries.items():
            if summary is None:
                final[name] = best[name] = coverage[name] = "not scored"
                continue
            final[name] = _score(summary.final)
            best[name] = _score(summary.best)
            value = summary.final.get("coverage")
            coverage[name] = f"{value:.2f}" if isinstance(value, (int, float)) else "—"
            if summary.unreliable:
                notes.append(f"{name}: quality score {summary.unreliable}")
        rows += [final, best, coverage]
        spaces = incomparable_spaces(summaries)
        if spaces:
            notes.append(
                f"The runs were scored in different classifiers' features ({', '.join(spaces)}): their Fréchet "
                "distances cannot be compared with each other, only each run's with itself over epochs"
            )
    return rows, notes


def comparison_table(names: list[str]) -> None:
    rows, notes = comparison_rows(names)
    st.markdown("**What differs**: the settings that are not the same in all the chosen runs, and their scores")
    if len(names) > 1 and not any(r[SETTING_COLUMN] not in (FINAL_ROW, BEST_ROW, COVERAGE_ROW) for r in rows):
        st.caption("The chosen runs have the same settings (besides their names).")
    if rows:
        st.dataframe(rows, key="compare-table", hide_index=True)
    for note in notes:
        st.warning(f"{note}.")  # notes start with a run's name, kept as it is spelt
    if rows and any(r[SETTING_COLUMN] == FINAL_ROW for r in rows):
        st.caption(
            "Scores from quality.jsonl: the Fréchet distance of the samples' features to real images' in a "
            "classifier of the dataset (lower is better); best = the lowest any epoch reached."
        )
