"""The run view's quality section: the scoring classifier's training while a run waits on it, then the per-epoch
sample-quality score (quality.jsonl), the newest class histogram, whether the score can be trusted, and its cost."""

from __future__ import annotations

import streamlit as st

from dcgan.progress import format_duration
from dcgan.runs.directory import RunDirectory
from ui.charts import histogram_figure, quality_figure

QUALITY_SAMPLES_NOTE = "the same generated images each epoch"
QUALITY_WAIT_NOTE = (
    "once it costs no more than its share of the training time so far: on short epochs every few "
    "epochs, ending at the last"
)


def quality_section(run: RunDirectory, status: dict, active: bool) -> None:
    """The scoring classifier's training while the run waits on it; then the per-epoch sample-quality score
    (quality.jsonl), the newest epoch's class histogram, whether the score can be trusted, and its cost."""
    from dcgan.quality.score import describe_classifier, reliability_note

    if active:
        _quality_preparing(status)
    records = run.read_quality()
    plan = status.get("score_plan")
    if not records:
        if isinstance(plan, dict) and active:
            st.info(f"The quality score comes {QUALITY_WAIT_NOTE}. {_quality_plan_words(plan)}")
        return
    left, right = st.columns([3, 2])
    left.plotly_chart(quality_figure(records), key=f"quality:{run.path}", config={"displaylogo": False})
    right.plotly_chart(histogram_figure(records[-1]), key=f"histogram:{run.path}", config={"displaylogo": False})
    newest = records[-1]
    note = reliability_note(newest)
    if note:
        st.warning(f"**Quality score {note}.**")
    collapsing = (
        " **One class makes most samples: the generator may be collapsing onto it.**"
        if newest.get("collapsed") is True
        else ""
    )
    st.caption(
        f"Scored on {QUALITY_SAMPLES_NOTE} in the features of the {describe_classifier(newest)}: the Fréchet "
        f"distance should fall over the first epochs.{collapsing} {_quality_cost(status, plan)}"
    )


def _quality_preparing(status: dict) -> None:
    """The scoring classifier's own progress bar while a run trains it (once per dataset) before its first step."""
    preparing = status.get("preparing")
    if status.get("state") != "starting" or not isinstance(preparing, dict):
        return
    done = preparing.get("done")
    eta = preparing.get("eta_s")
    left = f" · at most {format_duration(eta)} left" if isinstance(eta, (int, float)) else ""
    message = str(status.get("message") or "preparing the quality score")
    st.progress(
        min(max(done, 0.0), 1.0) if isinstance(done, (int, float)) else 0.0,
        text=f"{message[:1].upper()}{message[1:]}: {preparing.get('detail') or ''}{left}",
    )


def _quality_plan_words(plan: dict) -> str:
    from dcgan.quality.tracker import describe_plan

    try:
        return f"Plan: {describe_plan(plan)}."
    except (KeyError, TypeError, ValueError):  # a damaged status.json: the plan is not worth an error
        return ""


def _quality_cost(status: dict, plan) -> str:
    """'Scoring: 4.2 s in all, 2.1% of training ...' from status.json, or '' when it does not say."""
    spent, trained = status.get("scoring_s"), status.get("elapsed_s")
    if not (isinstance(spent, (int, float)) and isinstance(trained, (int, float)) and trained > 0):
        return ""
    return (
        f"Scoring has taken {spent:.1f} s, {spent / trained:.1%} of the {format_duration(trained)} of training "
        f"(images/s counts training alone)." + (f" {_quality_plan_words(plan)}" if isinstance(plan, dict) else "")
    )
